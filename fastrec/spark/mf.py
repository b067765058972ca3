"""Biased matrix factorization on Spark: :class:`fastrec.BiasedMF`'s stratified SGD schedule,
one Spark stage per stratum, the numbers one machine gives."""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from .. import models
from ..models._common import TrainingLog
from ..models.mf import (
    auto_blocks,
    initial_factors,
    keyed_groups,
    keys_of,
    strata_orders,
    stream_seed,
)
from ._worker import ModelFiles, prepare_worker
from .base import FitContext, SparkRecommender, _default_blocks

__all__ = ["BiasedMF"]

log = logging.getLogger(__name__)

#: One row per block of ratings: the partition key of its user group, its user group ``g``,
#: item group ``h`` and stratum ``s = (h - g) mod n_blocks``, and its ratings in the
#: schedule's order as the raw bytes of three arrays (int32 rows of the users within group
#: ``g`` and of the items within group ``h``, float32 standardised ratings).
_BLOCK = T.StructType(
    [
        T.StructField("key", T.IntegerType(), False),
        T.StructField("g", T.IntegerType(), False),
        T.StructField("h", T.IntegerType(), False),
        T.StructField("s", T.IntegerType(), False),
        T.StructField("lu", T.BinaryType(), False),
        T.StructField("li", T.BinaryType(), False),
        T.StructField("z", T.BinaryType(), False),
    ]
)
#: One row per group of users (``kind`` 0) or items (1): the partition key of the user group
#: whose block it is needed by at its next step, the group, its biases (float32[n]) and
#: factors (float32[n, k], row-major), its members in increasing code order; a user group's
#: row also carries ``sse``, float64[n_epochs * n_blocks], the sum of squared errors of its
#: block at each step of the schedule (empty bytes on an item row).
_STATE = T.StructType(
    [
        T.StructField("key", T.IntegerType(), False),
        T.StructField("kind", T.IntegerType(), False),
        T.StructField("grp", T.IntegerType(), False),
        T.StructField("b", T.BinaryType(), False),
        T.StructField("f", T.BinaryType(), False),
        T.StructField("sse", T.BinaryType(), False),
    ]
)


class BiasedMF(SparkRecommender):
    """:class:`fastrec.BiasedMF` fitted on Spark by its own stratified SGD schedule.

    Users and items are dealt into ``n_blocks`` groups each by a hash of ``(seed, id)``, and
    the ratings arranged once into the ``n_blocks x n_blocks`` blocks of (user group, item
    group): one cached row per block, its ratings in the order of a hash of ``(seed, user
    id, item id)``, partitioned by user group. The biases and factors of each user group and
    each item group are one row. An epoch runs the ``n_blocks`` strata in the order the seed
    gives; stratum ``s`` is the blocks ``(g, (g + s) mod n_blocks)``, which share no user and
    no item. Each stratum is one Spark stage: the group rows, each keyed by the stratum that
    made it for the user group that needs it next, are shuffled to that group's partition
    (the blocks stay where they are cached) and cogrouped with the stratum's blocks; a
    Python worker runs the single-machine float32 SGD kernel
    (:func:`fastrec.kernels.factors.sgd_block`) over each block and emits its two updated
    group rows, keyed for the next stratum. The strata of an epoch are chained in one plan
    and run as one Spark job of ``n_blocks`` stages (at most 16); a ``localCheckpoint`` at
    the end of the job keeps the rows on the executors and cuts the plan (each epoch's plan
    would otherwise hold every earlier one); earlier epochs' rows go when the driver's
    garbage collector drops them.

    Same answers: every random choice is keyed by ids (:mod:`fastrec.kernels.keyed`), so the
    updates are those of :class:`fastrec.BiasedMF` fitted on the same rows with the same
    parameters, on the same float32 numbers in the same order; measured, the factors are
    equal bit for bit, whatever the partitioning and the number of executors. The ratings
    are standardised as on one machine, ``z = (r - mu) / s`` (``mu``, ``s`` their mean and
    population standard deviation), and the fitted state is the single-machine model's, in
    rating units (``user_factors_``, ``item_factors_``, ``user_bias_``, ``item_bias_``,
    ``history_``, ``n_blocks_``).

    Parameters
    ----------
    n_factors, n_epochs, lr, reg, reg_bias, init_std, seed, show_progress
        As :class:`fastrec.BiasedMF` (defaults 100, 40, 0.01, 0.05, None, 0.01, 0, False).
        ``show_progress`` also collects each epoch's training error as it ends (one small
        Spark job per epoch); otherwise all are collected at the end.
    n_blocks : int or None, default None
        Groups of users and of items, as :class:`fastrec.BiasedMF`'s ``n_blocks`` (``None``:
        the same rule, about 4 MiB of factors per block, 4 to 64 groups), so that the
        default gives the default single-machine model. Part of the result (it sets the
        order of the updates); the number of executors is not. Also the number of blocks of
        users of :meth:`recommend_all`.

    Notes
    -----
    Spark's cost is per stratum more than per rating: a fit runs ``n_epochs * n_blocks``
    shuffle stages (160 with the defaults on MovieLens-1M; 320 at the synthetic ml-10m
    shape) of ``min(spark.sql.shuffle.partitions, n_blocks)`` tasks each, in ``n_epochs``
    Spark jobs (more when ``n_blocks`` > 16). Measured on ``local[2]`` (2 cores shared with
    other work, Spark 4.3, median of 3 fits): about 0.15 s per stratum (0.18 s with one
    job per stratum), near the cost of an empty cogroup job there (0.12 to 0.17 s), so
    26 s for MovieLens-1M (29 s with one job per stratum; 0.5 to 1.4 s on one machine),
    with the same factors to the bit. The ml-10m shape took 119 s with one job per
    stratum (9.5 s on one machine).
    A group's factors travel as one binary value, which Spark caps at 2 GiB:
    ``n_users / n_blocks * n_factors * 4`` bytes must stay below it.
    """

    _local_class = models.BiasedMF

    def __init__(
        self,
        n_factors: int = 100,
        n_epochs: int = 40,
        lr: float = 0.01,
        reg: float = 0.05,
        reg_bias: float | None = None,
        init_std: float = 0.01,
        seed: int = 0,
        show_progress: bool = False,
        *,
        n_blocks: int | None = None,
    ):
        super().__init__(
            n_blocks=n_blocks,
            n_factors=n_factors,
            n_epochs=n_epochs,
            lr=lr,
            reg=reg,
            reg_bias=reg_bias,
            init_std=init_std,
            seed=seed,
            show_progress=show_progress,
        )

    def _local_template(self):
        return self._local_class(**self.params, n_blocks=self.n_blocks)

    # ------------------------------------------------------------ fitting
    def _fit_coded(self, coded: DataFrame, context: FitContext) -> dict:
        p = self.params
        k, seed, n_epochs = int(p["n_factors"]), int(p["seed"]), int(p["n_epochs"])
        n_blocks = (
            int(self.n_blocks)
            if self.n_blocks is not None
            else auto_blocks(context.n_users, context.n_items, k)
        )
        spread = float(context.std)  # models._common.rating_spread's rule
        spread = spread if spread > 0 and math.isfinite(spread) else 1.0
        t0 = time.perf_counter()
        scratch = ModelFiles(context.work_dir)
        groups = {}
        for side, ids in (("user", context.user_ids), ("item", context.item_ids)):
            keys = keys_of(ids)
            groups[side] = keyed_groups(seed, keys, n_blocks, side)
            scratch.write_array(f"mf.{side}_keys", keys)
            scratch.write_array(f"mf.{side}_group", groups[side])
            scratch.write_array(f"mf.{side}_row", _rows_in_group(groups[side], n_blocks))
        spark = context.spark
        slots = _partition_keys(spark, n_blocks, _n_parts(spark, n_blocks))
        blocks = _arrange(coded, scratch, slots, seed, context.mean, spread).persist()
        schedule = strata_orders(seed, n_epochs, n_blocks)
        order = schedule.ravel()
        state = _initial_state(spark, scratch, slots, k, seed, p["init_std"], order)
        hyper = (np.float32(p["lr"]), np.float32(p["reg"]))
        hyper += (np.float32(p["reg"] if p["reg_bias"] is None else p["reg_bias"]),)
        training = TrainingLog("BiasedMF", n_epochs, "epoch", bool(p["show_progress"]), log)
        n = int(context.user_counts.sum())
        per_job = _strata_per_job(n_blocks)

        def train_rmse(sse: np.ndarray, epoch: int) -> float:
            total = 0.0
            for t in range(epoch * n_blocks, (epoch + 1) * n_blocks):  # the kernel's order
                for g in range(n_blocks):
                    total += sse[g, t]
            return spread * math.sqrt(total / n)

        seconds = []
        try:
            # a stratum's blocks, grouped once: each stratum's plan reuses them
            this = {s: blocks.filter(F.col("s") == s).groupBy("key") for s in range(n_blocks)}
            for epoch, strata in enumerate(schedule):
                t1 = time.perf_counter()
                for position, s in enumerate(strata):
                    step = epoch * n_blocks + position
                    state = _stratum(this[int(s)], state, slots, order, step, k, hyper)
                    if (position + 1) % per_job == 0 or position + 1 == n_blocks:
                        # computed now (one Spark job, one stage per stratum since the last),
                        # kept on the executors, and the plan cut: the next strata's plans
                        # would otherwise hold every earlier one
                        state = state.localCheckpoint(eager=True)
                seconds.append(time.perf_counter() - t1)
                if training.show:
                    training.record(seconds[-1], train_rmse=train_rmse(_sse(state), epoch))
            table = state.toArrow()
        finally:
            blocks.unpersist()
        if not training.show:
            sse = _sse_of(table)
            for epoch, secs in enumerate(seconds):
                training.record(secs, train_rmse=train_rmse(sse, epoch))
        history = training.close()
        if not np.isfinite(history["train_rmse"][-1]):
            raise ValueError(
                f"BiasedMF diverged (training RMSE {history['train_rmse'][-1]}); use a "
                f"smaller lr than {p['lr']!r}"
            )
        user_bias, user_factors = _gather(table, 0, groups["user"], k)
        item_bias, item_factors = _gather(table, 1, groups["item"], k)
        # back to rating units, as the single-machine model does
        user_bias *= np.float32(spread)
        item_bias *= np.float32(spread)
        user_factors *= np.float32(math.sqrt(spread))
        item_factors *= np.float32(math.sqrt(spread))
        log.debug("BiasedMF on Spark: %d strata fitted in %.2fs", n_epochs * n_blocks, _since(t0))
        return {
            "user_factors_": user_factors,
            "item_factors_": item_factors,
            "user_bias_": user_bias,
            "item_bias_": item_bias,
            "history_": history,
            "n_blocks_": n_blocks,
        }


# ------------------------------------------------------------------ set-up
def _rows_in_group(group: np.ndarray, n_blocks: int) -> np.ndarray:
    """int32 row of each code within its group (a group lists its codes in increasing order)."""
    order = np.argsort(group, kind="stable")
    starts = np.concatenate([[0], np.cumsum(np.bincount(group, minlength=n_blocks))[:-1]])
    rows = np.empty(len(group), dtype=np.int32)
    rows[order] = np.arange(len(group)) - starts[group[order]]
    return rows


def _partition_keys(spark, n_blocks: int, n_parts: int) -> list[int]:
    """An int partition key per user group such that Spark's hash partitioning into
    ``n_parts`` puts group ``g`` in partition ``g mod n_parts``: the groups spread evenly
    over the tasks of a stratum (hashing the group numbers themselves can put three of four
    groups in one partition). Spark's partition of an int key is
    ``pmod(hash(key), n_parts)`` (Murmur3, seed 42), asked of Spark once."""
    found: dict[int, int] = {}
    size = 8 * n_blocks + 64
    while True:
        table = (
            spark.range(size)
            .select(F.col("id").cast("int").alias("key"))
            .select("key", F.pmod(F.hash("key"), F.lit(n_parts)).alias("part"))
            .toArrow()
        )
        free = {}
        for key, part in zip(
            table.column("key").to_pylist(), table.column("part").to_pylist(), strict=True
        ):
            free.setdefault(part, []).append(key)
        for g in range(n_blocks):
            pool = free.get(g % n_parts, [])
            taken = set(found.values())
            choice = next((key for key in pool if key not in taken), None)
            if g not in found and choice is not None:
                found[g] = choice
        if len(found) == n_blocks:
            return [found[g] for g in range(n_blocks)]
        size *= 4


def _arrange(coded, scratch, slots, seed, mean, spread) -> DataFrame:
    """The ratings as one row per non-empty block (:data:`_BLOCK`), hash-partitioned by
    ``key`` into :func:`_n_parts` partitions, as the strata's cogroups expect."""
    from ..kernels.factors import arrange_blocks, rating_order_keys

    root, n_blocks = str(scratch.root), len(slots)
    order_seed = stream_seed(seed, "order")
    with_cell = T.StructType(
        [
            T.StructField("g", T.IntegerType(), False),
            T.StructField("h", T.IntegerType(), False),
            T.StructField("u", T.IntegerType(), False),
            T.StructField("i", T.IntegerType(), False),
            T.StructField("r", T.DoubleType(), False),
        ]
    )

    def add_cell(batches):
        prepare_worker()
        f = ModelFiles(root)
        user_group, item_group = f.array("mf.user_group"), f.array("mf.item_group")
        for batch in batches:
            u, i = batch.column("u").to_numpy(), batch.column("i").to_numpy()
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array(np.asarray(user_group[u])),
                    pa.array(np.asarray(item_group[i])),
                    *batch.columns,
                ],
                schema=_arrow_schema(with_cell),
            )

    def arrange(table: pa.Table) -> pa.Table:
        prepare_worker()
        f = ModelFiles(root)
        u = table.column("u").to_numpy().astype(np.int32)
        i = table.column("i").to_numpy().astype(np.int32)
        g, h = table.column("g")[0].as_py(), table.column("h")[0].as_py()
        sort_keys = rating_order_keys(
            order_seed, np.asarray(f.array("mf.user_keys")), np.asarray(f.array("mf.item_keys")),
            u, i,
        )  # fmt: skip
        lu = np.asarray(f.array("mf.user_row")[u])
        li = np.asarray(f.array("mf.item_row")[i])
        _, lu, li, z = arrange_blocks(  # one block: the kernel sorts it as one machine does
            lu,
            li,
            (table.column("r").to_numpy() - mean) / spread,
            sort_keys,
            np.zeros(int(lu.max()) + 1, np.int32),
            np.zeros(int(li.max()) + 1, np.int32),
            1,
        )
        values = [slots[g], g, h, (h - g) % n_blocks, lu.tobytes(), li.tobytes(), z.tobytes()]
        return pa.Table.from_arrays(
            [
                pa.array([v], field.type)
                for v, field in zip(values, _arrow_schema(_BLOCK), strict=True)
            ],
            schema=_arrow_schema(_BLOCK),
        )

    cells = coded.mapInArrow(add_cell, with_cell).groupBy("g", "h").applyInArrow(arrange, _BLOCK)
    return cells.repartition(_n_parts(coded.sparkSession, n_blocks), "key")


def _n_parts(spark, n_blocks: int) -> int:
    """Partitions of the blocks, tasks of a stratum: ``spark.sql.shuffle.partitions``, at
    most ``n_blocks`` (a stratum has ``n_blocks`` blocks)."""
    return min(_default_blocks(spark), n_blocks)


#: The most strata chained into one plan, one Spark job: Spark plans the whole chain and, with
#: adaptive execution, plans the rest of it again after each stage.
_MAX_CHAIN = 16


def _strata_per_job(n_blocks: int) -> int:
    """Strata chained into one Spark job (one shuffle stage each) before a
    ``localCheckpoint``: a whole epoch, at most :data:`_MAX_CHAIN`."""
    return max(1, min(int(n_blocks), _MAX_CHAIN))


def _next_key(slots, order, step: int, kind: int, group: int) -> int:
    """Partition key of the user group that uses a group's row at ``step`` of the schedule
    (``order``, the strata of every step): user group ``g`` itself, item group ``h`` goes to
    user group ``(h - s) mod n_blocks``; 0 after the last step."""
    if step >= len(order):
        return 0
    n_blocks = len(slots)
    return int(slots[group if kind == 0 else (group - int(order[step])) % n_blocks])


def _initial_state(spark, scratch, slots, k, seed, init_std, order) -> DataFrame:
    """The group rows (:data:`_STATE`) before the first epoch: biases 0, keyed factors,
    keyed for the first stratum."""
    root, n_blocks = str(scratch.root), len(slots)

    def build(batches):
        prepare_worker()
        f = ModelFiles(root)
        for batch in batches:
            for g in batch.column("id").to_pylist():
                for kind, side in enumerate(("user", "item")):
                    codes = np.flatnonzero(np.asarray(f.array(f"mf.{side}_group")) == g)
                    keys = np.asarray(f.array(f"mf.{side}_keys")[codes])
                    factors = initial_factors(seed, keys, k, init_std, side)
                    sse = np.zeros(len(order)) if kind == 0 else np.zeros(0)
                    key = _next_key(slots, order, 0, kind, g)
                    bias = np.zeros(len(codes), np.float32)
                    yield _state_batch(key, kind, g, bias, factors, sse)

    return spark.range(n_blocks).mapInArrow(build, _STATE)


# ------------------------------------------------------------------ strata
def _stratum(this, state, slots, order, step, k, hyper) -> DataFrame:
    """Step ``step`` of the schedule (stratum ``order[step]``) as one Spark stage: each group
    row, keyed by the user group that uses it now, is sent to that group's partition and
    cogrouped with the stratum's blocks ``this`` (grouped by ``key``, where they are
    cached); the updated rows leave keyed for the next step."""
    from ..kernels.factors import sgd_block

    s = int(order[step])
    lr, reg, reg_bias = hyper

    def run(block: pa.Table, rows: pa.Table) -> pa.Table:
        prepare_worker()
        kinds = rows.column("kind").to_pylist()
        if sorted(kinds) != [0, 1]:
            raise RuntimeError(f"BiasedMF stratum {s}: expected one user and one item group row")
        user, item = kinds.index(0), kinds.index(1)
        ub, uf = _bytes(rows, "b", user, np.float32), _bytes(rows, "f", user, np.float32)
        ib, itf = _bytes(rows, "b", item, np.float32), _bytes(rows, "f", item, np.float32)
        uf, itf = uf.reshape(len(ub), k), itf.reshape(len(ib), k)
        sse = _bytes(rows, "sse", user, np.float64)
        if block.num_rows:  # an empty block (no ratings) adds 0, as on one machine
            z = _bytes(block, "z", 0, np.float32)
            lu, li = _bytes(block, "lu", 0, np.int32), _bytes(block, "li", 0, np.int32)
            sse[step] = sgd_block(
                0, len(z), lu, li, z, np.float32(0.0), ub, ib, uf, itf, lr, reg, reg_bias
            )
        g, h = rows.column("grp")[user].as_py(), rows.column("grp")[item].as_py()
        batches = [
            _state_batch(_next_key(slots, order, step + 1, 0, g), 0, g, ub, uf, sse),
            _state_batch(_next_key(slots, order, step + 1, 1, h), 1, h, ib, itf, np.zeros(0)),
        ]
        return pa.Table.from_batches(batches)

    return this.cogroup(state.groupBy("key")).applyInArrow(run, _STATE)


def _sse(state: DataFrame) -> np.ndarray:
    """float64[n_blocks, n_epochs * n_blocks] of the user group rows (one small job)."""
    return _sse_of(state.filter(F.col("kind") == 0).select("kind", "grp", "sse").toArrow())


def _sse_of(table: pa.Table) -> np.ndarray:
    kinds, grps = table.column("kind").to_pylist(), table.column("grp").to_pylist()
    rows = {g: r for r, (kind, g) in enumerate(zip(kinds, grps, strict=True)) if kind == 0}
    return np.stack([_bytes(table, "sse", rows[g], np.float64) for g in sorted(rows)])


def _gather(table: pa.Table, kind: int, group: np.ndarray, k: int):
    """One side's group rows as float32 biases[n] and factors[n, k], indexed by code."""
    bias, factors = np.zeros(len(group), np.float32), np.zeros((len(group), k), np.float32)
    kinds, grps = table.column("kind").to_pylist(), table.column("grp").to_pylist()
    for row, (row_kind, g) in enumerate(zip(kinds, grps, strict=True)):
        if row_kind == kind:
            codes = np.flatnonzero(group == g)
            bias[codes] = _bytes(table, "b", row, np.float32)
            factors[codes] = _bytes(table, "f", row, np.float32).reshape(len(codes), k)
    return bias, factors


# ----------------------------------------------------------------- helpers
def _state_batch(key, kind, group, bias, factors, sse) -> pa.RecordBatch:
    values = [key, kind, group, bias.tobytes(), factors.tobytes(), sse.tobytes()]
    schema = _arrow_schema(_STATE)
    return pa.RecordBatch.from_arrays(
        [pa.array([v], field.type) for v, field in zip(values, schema, strict=True)],
        schema=schema,
    )


def _bytes(table, column: str, row: int, dtype) -> np.ndarray:
    """A writable numpy copy of one binary cell's bytes as ``dtype``."""
    return np.frombuffer(table.column(column)[row].as_py(), dtype=dtype).copy()


def _arrow_schema(schema: T.StructType) -> pa.Schema:
    kinds = {T.IntegerType: pa.int32(), T.DoubleType: pa.float64(), T.BinaryType: pa.binary()}
    return pa.schema([pa.field(x.name, kinds[type(x.dataType)], False) for x in schema.fields])


def _since(t0: float) -> float:
    return time.perf_counter() - t0
