"""Item-based k-NN on Spark: :class:`fastrec.ItemKNN`'s stored-neighbours form, its item-item
similarity computed block pair by block pair.

Layout (every step a DataFrame job; no RDD, no broadcast):

1. One job over the packed ratings: each user's and item's sum of ratings (the means).
2. The ratings grouped by item block (item code ``i`` in block ``i % B``): one row per block,
   cached, holding its items' rows (CSR, items x users, users increasing, as
   :class:`fastrec.Ratings` sorts them) of the centred ratings ``x0 = r - c(u, i)`` and of the
   deviations ``r - b(u, i)``, and the block's sum of ``x0**2`` (for the presence term).
3. Each block row is sent to the ``B`` block pairs it belongs to (``explode`` of the partner
   blocks); a task per pair ``(A, B')`` gets the rows of both blocks, finishes the unit rows
   (presence term, unit norm: each item's whole row is in the task) and runs the
   single-machine similarity kernels (:mod:`fastrec.kernels.similarity`) on a matrix holding
   only ``A``'s rows against a transpose holding only ``B'``'s, then the other way round
   (``A = B'``: the block against itself). Each similarity is summed over the common users
   in the same order as on one machine, so the numbers are the single-machine kernel's.
   Each item keeps its best ``keep_`` candidates of the partner block.
4. With ``keep_`` an int, a merge per item block (``groupBy`` of the candidates by the
   item's block) keeps each item's global best ``keep_``: largest similarity (``|sim|``
   when ``signed``), ties to the smaller item code, as
   :func:`~fastrec.kernels.similarity.select_cosine_neighbors`. With every neighbour stored
   (``keep_`` None) there is nothing to choose: the candidates go to the driver as they are.

The driver collects the neighbours and the deviations (the fitted state is the
single-machine model's: ``stored_similarity_``, ``list_dev_``, ...), puts each item's
neighbours in code order, and the base writes them as memory-mapped files that every
worker's single-machine model reads.
"""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from .. import models
from ..memory import require
from ..models.knn.neighbor_lists import BYTES_PER_NEIGHBOR
from ._worker import ModelFiles, prepare_worker
from .base import FitContext, SparkRecommender
from .coding import unpack

__all__ = ["ItemKNN"]

#: One item block: its items (int32, increasing), their rows (CSR: int64 indptr, int32 users
#: increasing in each row) of the centred ratings ``x0 = r - c`` and of the deviations
#: ``dev = r - b`` (float64), and the block's sum of ``x0**2``.
_BLOCK = "blk int, items binary, indptr binary, users binary, x0 binary, dev binary, sumsq double"
#: Neighbour candidates (a pair task's) or merged neighbours (a block's) of some items:
#: items (int32), neighbours per item (int64), the neighbours by increasing code (int32),
#: their similarities and each item's sum of ``|sim|`` over its candidates (float64).
_NEIGHBORS = "blk int, items binary, counts binary, nbrs binary, sims binary, abs binary"
_ARROW_NEIGHBORS = pa.schema(
    [pa.field("blk", pa.int32(), False)]
    + [pa.field(name, pa.binary(), False) for name in ("items", "counts", "nbrs", "sims", "abs")]
)
_KINDS = (np.int32, np.int64, np.int32, np.float64, np.float64)  # their dtypes


class ItemKNN(SparkRecommender):
    """:class:`fastrec.ItemKNN`'s k-NN form with stored neighbours, fitted on Spark (see the
    module docstring).

    The model and its formula are the single-machine ones::

        pred(u, i) = clip(b_ui + sum_{j in N} sim(i, j) (r_uj - b_uj) / sum_{j in N} sim(i, j))

    with ``N`` the ``k`` most similar items ``u`` rated among the stored neighbours of ``i``
    (the best ``keep_`` per item). The fitted state is that of
    ``fastrec.ItemKNN(k, ..., exact=False)``, which :meth:`to_local` returns and which
    ``predict`` and ``recommend_all`` run in the workers.

    Parameters
    ----------
    k : int, default 40
        Neighbours per prediction.
    center, baseline, signed, shrinkage, min_support, presence : as :class:`fastrec.ItemKNN`
        (its k-form defaults: the Bias baseline, positive similarities, shrinkage 10,
        presence 0.4).
    keep : "auto", None or int, default "auto"
        Neighbours stored per item, resolved as on one machine: ``"auto"`` stores all of
        them up to 10,000 items (``n_items**2 <= 1e8``), else the ``1e8 // n_items`` best.
    exact : False
        Only ``False``: the single-machine ``exact=True`` form recomputes similarity rows at
        predict time from the unit rows, which is single-machine only.
    n_blocks : int or None
        Item blocks ``B`` of the similarity (``B (B + 1) / 2`` pair tasks) and user blocks
        of ``recommend_all``; default ``spark.sql.shuffle.partitions``. The fit does not
        depend on it.

    Notes
    -----
    Same predictions as ``fastrec.ItemKNN(k)`` (whose default ``exact=True`` defers the
    stored lists and recomputes full rows) wherever ``keep_`` holds every neighbour (up to
    10,000 items with ``keep="auto"``): both then choose ``N`` among all the item's
    neighbours. Past that, it predicts from the stored best ``keep_`` alone, as
    ``fastrec.ItemKNN(k, exact=False)`` (LensKit's way), exact wherever ``k`` of them were
    rated by the user. ``k=None`` (the post's all-neighbour form) is single-machine only.

    Cost: each rating's block row travels to ``B`` pair tasks (``20 B`` bytes per rating);
    the pair tasks do the single-machine number of multiply-adds, ``sum_u n_u**2``; each
    item's candidates (at most ``B keep_``) travel to its block's merge, and the stored
    neighbours (12 bytes each) and the deviations (12 bytes per rating) to the driver.
    """

    _local_class = models.ItemKNN

    def __init__(
        self,
        k: int | None = 40,
        *,
        center: str = "auto",
        baseline: str = "auto",
        signed: bool | None = None,
        shrinkage: float | None = None,
        min_support: int = 1,
        presence: float | None = None,
        keep: int | str | None = "auto",
        exact: bool = False,
        n_blocks: int | None = None,
    ):
        if k is None:
            raise ValueError(
                "fastrec.spark.ItemKNN: k=None (the post's form, every neighbour summed) is "
                "single-machine only (fastrec.ItemKNN()); give k, e.g. k=40"
            )
        if exact is not False:
            raise ValueError(
                f"fastrec.spark.ItemKNN: exact={exact!r} (similarity rows recomputed at "
                "predict time) is single-machine only; fastrec.spark stores the neighbours "
                "(exact=False)"
            )
        super().__init__(
            n_blocks=n_blocks,
            k=k,
            center=center,
            baseline=baseline,
            signed=signed,
            shrinkage=shrinkage,
            min_support=min_support,
            presence=presence,
            keep=keep,
            exact=exact,
        )

    @property
    def name(self) -> str:
        """``ItemKNN(k=40, ...)``: ``k`` always shown (the single-machine model's name for
        the same predictions), then the parameters that differ from the defaults."""
        defaults = type(self)().params
        shown = [f"k={self.params['k']!r}"] + [
            f"{key}={value!r}"
            for key, value in self.params.items()
            if key != "k" and defaults.get(key) != value
        ]
        return f"{type(self).__name__}({', '.join(shown)})"

    def _fit_coded(self, coded: DataFrame, context: FitContext) -> dict:
        from ..models.knn.k_neighbors import resolve_keep

        template = self._local_template()
        center, baseline, signed, shrinkage, presence = template._resolved()
        keep = resolve_keep(template, context.n_items)
        n_blocks = int(context.n_blocks)
        t0 = time.perf_counter()
        # The means (fitted state, and the centre or baseline where asked for).
        user_sums, item_sums = _rating_sums(context.packed, context.n_users, context.n_items)
        with np.errstate(invalid="ignore", divide="ignore"):
            user_mean = user_sums / context.user_counts
            item_mean = item_sums / context.item_counts
        scratch = ModelFiles(context.work_dir)
        scratch.write_array("user_mean", user_mean)
        scratch.write_array("item_mean", item_mean)
        if "bias" in (center, baseline):
            user_bias, item_bias = _fallback_biases(context)
            scratch.write_array("user_bias", user_bias)
            scratch.write_array("item_bias", item_bias)
        seconds = {"baseline": time.perf_counter() - t0}

        t1 = time.perf_counter()
        mu = float(context.mean)
        blocks = _item_blocks(coded, str(context.work_dir), n_blocks, mu, center, baseline)
        blocks = blocks.persist()
        try:
            n_ratings = int(context.item_counts.sum())
            require(
                n_ratings * 40,  # the collected rows, then their sorted copy
                f"ItemKNN on Spark: the deviations of {n_ratings:,} ratings (list_dev_)",
                "give the driver more memory (spark.driver.memory)",
            )
            table = blocks.select("items", "indptr", "users", "dev", "sumsq").toArrow()
            c = 0.0
            if presence > 0 and n_ratings:
                # presence in units of the centred ratings' root mean square, as on one machine
                c = presence * float(np.sqrt(np.sum(table.column("sumsq").to_numpy()) / n_ratings))
            cosine = (float(shrinkage), int(template.min_support), bool(signed))
            _require_neighbors(context, keep)
            merged = _similarity(blocks, n_blocks, c, cosine, keep, context.n_items).toArrow()
            _require_neighbors(context, keep, found=merged.column("nbrs").nbytes // 4)
        finally:
            blocks.unpersist()
        similarity, abs_sums = _assemble_neighbors(merged, context.n_items, bool(signed))
        seconds["similarity"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        list_dev = _assemble_deviations(table, context.n_users, context.n_items)
        seconds["deviations"] = time.perf_counter() - t2
        return {
            "center_": center,
            "baseline_": baseline,
            "signed_": bool(signed),
            "shrinkage_": float(shrinkage),
            "presence_": float(presence),
            "keep_": keep,
            "user_mean_": user_mean,
            "item_mean_": item_mean,
            "list_dev_": list_dev,
            "stored_similarity_": similarity,
            "stored_abs_sum_": abs_sums,
            "unit_rows_": None,
            "fit_seconds_": seconds,
        }


# ------------------------------------------------------------------ driver
def _rating_sums(packed: DataFrame, n_users: int, n_items: int):
    """Sum of the ratings per user code and per item code (float64), one Spark job; each
    partition sends only the codes it holds."""

    def partial(batches):
        for batch in batches:
            for row in range(batch.num_rows):
                u, i, r = unpack(batch, row)
                for side, codes, size in ((0, u, n_users), (1, i, n_items)):
                    held = np.flatnonzero(np.bincount(codes, minlength=size)).astype(np.int32)
                    sums = np.bincount(codes, r, size)[held]
                    yield pa.RecordBatch.from_arrays(
                        [pa.array([side], pa.int32())]
                        + [pa.array([a.tobytes()], pa.binary()) for a in (held, sums)],
                        names=["side", "codes", "sums"],
                    )

    table = packed.mapInArrow(partial, "side int, codes binary, sums binary").toArrow()
    out = (np.zeros(n_users), np.zeros(n_items))
    for row in range(table.num_rows):
        side = int(table.column("side")[row].as_py())
        np.add.at(out[side], _buf(table, "codes", row, np.int32), _buf(table, "sums", row, float))
    return out


def _fallback_biases(context: FitContext):
    """``(user_bias_, item_bias_)`` of the :class:`fastrec.Bias` fallback: the arrays the base
    wrote to the model's directory before ``_fit_coded``, else fitted here (the same
    sweeps, :func:`fastrec.spark.bias_sums.fit_bias_arrays`)."""
    files = ModelFiles(context.work_dir.parent)
    try:
        return files.array("fallback.user_bias_"), files.array("fallback.item_bias_")
    except FileNotFoundError:
        from .bias_sums import fit_bias_arrays

        state = fit_bias_arrays(context)
        return state["user_bias_"], state["item_bias_"]


def _require_neighbors(context: FitContext, keep: int | None, found: int | None = None):
    """The driver's memory for the stored neighbours (12 bytes each): before any similarity
    is computed, ``n_items * keep``, or for every neighbour the single-machine bound (each
    pair of items with a common user); once ``found`` candidates are collected, their merge
    (about 48 bytes each: the copies, the sort key and order, the result)."""
    n = context.n_items
    if found is not None:
        pairs, factor = float(found), 4
    elif keep is not None:
        pairs, factor = float(n) * min(keep, max(n - 1, 1)), 1
    else:
        per_user = context.user_counts.astype(np.float64)
        pairs, factor = min(float(n) * (n - 1), float(np.sum(per_user * (per_user - 1)))), 1
    require(
        pairs * BYTES_PER_NEIGHBOR * factor,
        f"ItemKNN on Spark: the stored neighbours of {n:,} items (up to {pairs:,.0f})",
        "set keep to store only the most similar neighbours of each item",
    )


def _assemble_neighbors(table: pa.Table, n_items: int, signed: bool):
    """The neighbour rows of ``table`` (the candidates, or the merged rows of every block) as
    one CSR (items x items, sorted indices) and the sums of ``|sim|``, as
    :func:`fastrec.models.knn.neighbor_lists.build_neighbor_lists` returns them."""
    items, cnt, nbrs, sims, absum = _merge(
        [_row(table, r) for r in range(table.num_rows)], signed, None
    )
    counts = np.zeros(n_items, dtype=np.int64)
    abs_sums = np.zeros(n_items)
    counts[items], abs_sums[items] = cnt, absum
    indptr = np.zeros(n_items + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    if indptr[-1] < np.iinfo(np.int32).max:
        indptr = indptr.astype(np.int32)  # as on one machine (scipy keeps int32 indices)
    sim = sp.csr_array((sims, nbrs, indptr), shape=(n_items, n_items))
    sim.has_sorted_indices = True
    return sim, abs_sums


def _assemble_deviations(table: pa.Table, n_users: int, n_items: int) -> sp.csr_array:
    """``list_dev_``: the deviations of every block as one CSR (users x items, sorted)."""
    users, items, devs = [], [], []
    for r in range(table.num_rows):
        block_items = _buf(table, "items", r, np.int32)
        indptr = _buf(table, "indptr", r, np.int64)
        items.append(np.repeat(block_items, np.diff(indptr)))
        users.append(_buf(table, "users", r, np.int32))
        devs.append(_buf(table, "dev", r, np.float64))
    u, i, d = (np.concatenate(a) if a else np.zeros(0) for a in (users, items, devs))
    order = np.lexsort((i, u))
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(u.astype(np.int64), minlength=n_users), out=indptr[1:])
    if indptr[-1] < np.iinfo(np.int32).max:
        indptr = indptr.astype(np.int32)
    out = sp.csr_array((d[order], i[order].astype(np.int32), indptr), shape=(n_users, n_items))
    out.has_sorted_indices = True
    return out


# ------------------------------------------------------------------ Spark jobs
def _item_blocks(
    coded: DataFrame, scratch: str, n_blocks: int, mu: float, center: str, baseline: str
) -> DataFrame:
    """The ratings grouped by item block, one row per block (:data:`_BLOCK`)."""

    def build(table: pa.Table) -> pa.Table:
        prepare_worker()
        u = table.column("u").to_numpy().astype(np.int32)
        i = table.column("i").to_numpy().astype(np.int32)
        r = table.column("r").to_numpy().astype(np.float64)
        order = np.lexsort((u, i))  # items, then users: the single-machine row order
        u, i, r = u[order], i[order], r[order]
        items, counts = np.unique(i, return_counts=True)
        indptr = np.zeros(len(items) + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        files = ModelFiles(scratch)
        x0 = r - _offsets(files, center, mu, u, i)
        dev = r - _offsets(files, "item" if baseline == "mean" else baseline, mu, u, i)
        arrays = [items.astype(np.int32), indptr, u, x0, dev]
        return pa.Table.from_arrays(
            [pa.array([int(table.column("blk")[0].as_py())], pa.int32())]
            + [pa.array([a.tobytes()], pa.binary()) for a in arrays]
            + [pa.array([float(np.sum(x0 * x0))], pa.float64())],
            names=["blk", "items", "indptr", "users", "x0", "dev", "sumsq"],
        )

    keyed = coded.withColumn("blk", (F.col("i") % F.lit(n_blocks)).cast("int"))
    return keyed.groupBy("blk").applyInArrow(build, _BLOCK)


def _offsets(files: ModelFiles, kind: str, mu: float, u: np.ndarray, i: np.ndarray):
    """Per-rating centring values, as ``NeighborhoodModel._offsets`` computes them: 0, the
    user's or the item's mean, or the Bias baseline ``(mu + b_u) + b_i``."""
    if kind == "none":
        return np.zeros(len(u))
    if kind == "user":
        return np.asarray(files.array("user_mean"))[u]
    if kind == "item":
        return np.asarray(files.array("item_mean"))[i]
    out = np.full(len(u), mu)
    out += np.asarray(files.array("user_bias"))[u]
    out += np.asarray(files.array("item_bias"))[i]
    return out


def _similarity(blocks: DataFrame, n_blocks, c, cosine, keep, n_items) -> DataFrame:
    """The block pairs' candidates (:data:`_NEIGHBORS`), and for ``keep`` an int their merge
    per item block (one row per block: each item's best ``keep``)."""
    keep_all = None if keep is None else min(int(keep), max(n_items - 1, 1))

    def pair(table: pa.Table) -> pa.Table:
        prepare_worker()
        lo, hi = int(table.column("lo")[0].as_py()), int(table.column("hi")[0].as_py())
        if table.num_rows < (1 if lo == hi else 2):
            return _ARROW_NEIGHBORS.empty_table()  # the partner block holds no item
        rows = [_unit_rows(table, r, c) for r in range(table.num_rows)]
        return pa.Table.from_batches(_pair_candidates(rows, cosine, keep_all), _ARROW_NEIGHBORS)

    def merge(table: pa.Table) -> pa.Table:
        prepare_worker()
        parts = [_row(table, r) for r in range(table.num_rows)]
        blk = int(table.column("blk")[0].as_py())
        merged = _neighbors_batch(blk, *_merge(parts, cosine[2], keep_all))
        return pa.Table.from_batches([merged], _ARROW_NEIGHBORS)

    partner = F.explode(F.sequence(F.lit(0), F.lit(n_blocks - 1)))
    sent = (
        blocks.select("blk", "items", "indptr", "users", "x0")
        .withColumn("partner", partner)
        .withColumn("lo", F.least("blk", "partner"))
        .withColumn("hi", F.greatest("blk", "partner"))
        .drop("partner")
    )
    candidates = sent.groupBy("lo", "hi").applyInArrow(pair, _NEIGHBORS)
    if keep is None:
        return candidates  # nothing to choose: the driver merges them as it assembles them
    return candidates.groupBy("blk").applyInArrow(merge, _NEIGHBORS)


# ------------------------------------------------------------------ worker side
def _buf(table: pa.Table, column: str, row: int, dtype) -> np.ndarray:
    return np.frombuffer(table.column(column)[row].as_buffer(), dtype=dtype)


def _row(table: pa.Table, r: int):
    """``(items, counts, nbrs, sims, abs)`` of row ``r`` of a :data:`_NEIGHBORS` table."""
    names = _ARROW_NEIGHBORS.names[1:]
    return tuple(_buf(table, c, r, t) for c, t in zip(names, _KINDS, strict=True))


def _unit_rows(table: pa.Table, r: int, c: float):
    """Block row ``r`` as ``(blk, items, indptr, users, x)``, ``x`` the unit rows:
    ``x0 + c`` (the presence term, where ``c > 0``) scaled to unit norm per item, with the
    single-machine arithmetic in the same order (each item's whole row is here)."""
    items = _buf(table, "items", r, np.int32)
    indptr = _buf(table, "indptr", r, np.int64)
    users = _buf(table, "users", r, np.int32)
    x = _buf(table, "x0", r, np.float64).copy()
    if c > 0:
        x += c
    codes = np.repeat(np.arange(len(items)), np.diff(indptr))
    norms = np.sqrt(np.bincount(codes, x * x, len(items)))
    x *= np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)[codes]
    return int(table.column("blk")[r].as_py()), items, indptr, users, x


def _pair_candidates(rows, cosine, keep):
    """Record batches of candidates of the block pair ``rows`` (one or two unit-row blocks):
    for each block, its items' similarities to the partner block's items."""
    from ..kernels.similarity import (
        count_cosine_neighbors,
        fill_cosine_neighbors,
        select_cosine_neighbors,
    )
    from ..models.knn.neighbor_lists import n_chunks, transpose

    all_items = np.concatenate([b[1] for b in rows])
    order = np.argsort(all_items, kind="stable")
    items = all_items[order]  # local index = position among both blocks' items
    where = np.empty(len(items), dtype=np.int64)
    where[order] = np.arange(len(items))
    users = np.unique(np.concatenate([b[3] for b in rows]))
    m = len(items)
    mats, start = [], 0
    for _, block_items, indptr, block_users, x in rows:
        pos = where[start : start + len(block_items)]  # increasing: both lists are sorted
        start += len(block_items)
        counts = np.zeros(m, dtype=np.int64)
        counts[pos] = np.diff(indptr)
        full_indptr = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(counts, out=full_indptr[1:])
        local_users = np.searchsorted(users, block_users).astype(np.int32)
        mats.append(sp.csr_array((x, local_users, full_indptr), shape=(m, len(users))))
    chunks = n_chunks()
    batches = []
    for side, (blk, *_rest) in enumerate(rows):
        mine, theirs = mats[side], mats[-1 - side]  # one block: itself against itself
        t = transpose(theirs)
        arrays = (mine.indptr, mine.indices, mine.data, t.indptr, t.indices, t.data)
        if keep is None:
            counts = count_cosine_neighbors(arrays, cosine, chunks)
            out_indptr = np.zeros(m + 1, dtype=np.int64)
            np.cumsum(counts, out=out_indptr[1:])
            nbrs, sims, abs_sums = fill_cosine_neighbors(arrays, cosine, out_indptr, chunks)
        else:
            nbr2, sim2, counts, abs_sums = select_cosine_neighbors(
                arrays, cosine, min(keep, max(m - 1, 1)), chunks
            )
            valid = nbr2 >= 0
            nbrs, sims = nbr2[valid], sim2[valid]
        has = counts > 0  # only this side's rows can have candidates
        batches.append(
            _neighbors_batch(blk, items[has], counts[has], items[nbrs], sims, abs_sums[has])
        )
    return batches


def _neighbors_batch(blk, *values) -> pa.RecordBatch:
    """A :data:`_NEIGHBORS` row from ``(items, counts, nbrs, sims, abs)``."""
    arrays = [np.asarray(v, dtype=t) for v, t in zip(values, _KINDS, strict=True)]
    return pa.RecordBatch.from_arrays(
        [pa.array([int(blk)], pa.int32())] + [pa.array([a.tobytes()], pa.binary()) for a in arrays],
        schema=_ARROW_NEIGHBORS,
    )


def _merge(parts, signed: bool, keep: int | None):
    """Candidates ``parts`` (``(items, counts, nbrs, sims, abs)``, an item possibly in several)
    -> ``(items, counts, nbrs, sims, abs)`` with each item once, increasing, its neighbours by
    increasing code: all of them (``keep`` None) or the best ``keep`` (largest ``sim``,
    ``|sim|`` when ``signed``; ties to the smaller code); ``abs`` summed over all candidates."""
    if not parts:  # no item has a neighbour
        return tuple(np.zeros(0, dtype=t) for t in (np.int32, np.int64, np.int32, float, float))
    item = np.concatenate([np.repeat(p[0], p[1]) for p in parts])
    nbr = np.concatenate([p[2] for p in parts])
    sim = np.concatenate([p[3] for p in parts])
    # (item, neighbour) as one int64; each part is sorted by it, so the stable sort (timsort)
    # merges the parts' runs
    pair_key = (item.astype(np.int64) << 32) | nbr
    if keep is None:
        order = np.argsort(pair_key, kind="stable")
    else:
        key = -np.abs(sim) if signed else -sim
        order = np.lexsort((nbr, key, item))  # each item's candidates, best first
        rank = np.arange(len(order)) - np.searchsorted(item[order], item[order], side="left")
        order = order[rank < keep]
        order = order[np.argsort(pair_key[order], kind="stable")]
    # every item listed by a pair has a candidate, so keeps at least one neighbour
    items, where = np.unique(np.concatenate([p[0] for p in parts]), return_inverse=True)
    abs_sums = np.bincount(where, np.concatenate([p[4] for p in parts]), len(items))
    counts = np.bincount(np.searchsorted(items, item[order]), minlength=len(items))
    return items, counts, nbr[order], sim[order], abs_sums
