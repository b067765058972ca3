"""Memory-based collaborative filtering: the blog post's cosine models and k-NN forms.

``UserKNN()`` and ``ItemKNN()`` (``k=None``, the defaults) are the post's "User-based" and
"Movie-based Cosine Similarity". For the user-based model (item-based: swap users and items)::

    pred(u, i) = mean_u + sum_v sim(u, v) * (r_vi - mean_v) / sum_v |sim(u, v)|

with ``sim`` the cosine of the raw (uncentred) training rating rows, both sums over ALL
users (``u`` itself included, similarity 1), ``r_vi - mean_v`` taken as 0 where ``v`` did
not rate ``i``. The post fed this formula the test ratings; here it only ever sees the
training ratings (see the README for the post's leaky figures and the honest ones).

``UserKNN(k=40)`` / ``ItemKNN(k=40)`` are the standard neighbourhood models (Surprise's
KNNWithMeans / KNNBaseline, LensKit's ItemItem)::

    pred(u, i) = b(u, i) + sum_{v in N} sim(u, v) (r_vi - b(v, i)) / sum_{v in N} |sim(u, v)|

where ``b`` is a baseline and ``N`` the ``k`` users most similar to ``u`` among those who
rated ``i`` (item-based: the ``k`` items most similar to ``i`` among those ``u`` rated).
The defaults of the k form were chosen on three splits (the post's, ml-latest-small 2018,
the five ml-100k folds; figures in the class docstrings): the similarity is the cosine of
the rating rows centred by the user means (item-based: adjusted cosine) or by the
:class:`~fastrec.Bias` baseline (user-based), and ``b`` is the Bias baseline.

The kernels live in :mod:`fastrec.kernels.similarity` and :mod:`fastrec.kernels.neighbors`.
"""

from __future__ import annotations

import logging
import numbers
import time
import warnings
import weakref

import numba
import numpy as np
import scipy.sparse as sp

from ..data import Ratings
from ..kernels.neighbor_scores import score_items_item_based, score_items_user_based
from ..kernels.neighbors import (
    predict_all_neighbors,
    predict_k_neighbors,
    predict_k_neighbors_exact,
)
from ..kernels.similarity import (
    count_cosine_neighbors,
    fill_cosine_neighbors,
    select_cosine_neighbors,
)
from ..memory import require
from .base import Recommender
from .baselines import Bias

log = logging.getLogger(__name__)

CENTERS = ("auto", "none", "user", "item", "bias")
BASELINES = ("auto", "mean", "bias")

#: ``keep="auto"`` stores every neighbour when ``n_rows**2`` is at most this many entries
#: (12 bytes each: about 1.1 GiB), else the ``AUTO_KEEP_ENTRIES // n_rows`` best per row.
AUTO_KEEP_ENTRIES = 100_000_000

_BYTES_PER_NEIGHBOR = 12  # int32 index + float64 similarity

#: recommend_all's transposed similarity rows, per fitted item-based model (kept out of the
#: model's ``__dict__``, so that ``save`` does not store them).
_REVERSE_ROWS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _n_chunks() -> int:
    return 4 * numba.get_num_threads()


class _NeighborhoodModel(Recommender):
    """Shared implementation of :class:`UserKNN` and :class:`ItemKNN`.

    Fitted state: ``similarity_`` (``scipy.sparse.csr_array``, anchors x anchors, sorted
    indices; row ``a`` holds the stored neighbours of anchor ``a``, never ``a`` itself;
    for the k form with ``exact=True`` built on first use, see ``exact``),
    ``neighbor_abs_sum_`` (``float64[n_anchors]``, the sum of ``|sim|`` over all neighbours
    of each row, stored or not), ``keep_`` (neighbours stored per row, ``None`` for all),
    the resolved ``center_``, ``baseline_``, ``signed_``, ``bias_`` (the fitted
    :class:`~fastrec.Bias`, when the centre or baseline uses it), ``user_mean_`` and
    ``item_mean_``, the deviations ``list_dev_`` (targets x anchors CSR) and, for the k
    form, ``row_dev_`` (anchors x targets), and ``fit_seconds_`` (seconds per phase:
    baseline, similarity, deviations). After ``predict`` (k form): ``n_recomputed_``, the
    predictions answered from a recomputed full row (see ``exact``).

    Memory: the similarity is estimated before it is allocated (12 bytes per stored pair,
    an upper bound before the counting pass, the exact count after it) and
    :func:`fastrec.memory.require` refuses what does not fit, naming the estimate and the
    way out (``k``, ``keep``). Anchors here are users (user-based) or items (item-based).
    """

    _user_based: bool = True
    #: Defaults of the k form, chosen on three splits (see the class docstrings).
    _k_center: str = "bias"
    _k_signed: bool = True

    def __init__(
        self,
        k: int | None = None,
        *,
        center: str = "auto",
        baseline: str = "auto",
        signed: bool | None = None,
        shrinkage: float = 0.0,
        min_support: int = 1,
        keep: int | str | None = "auto",
        exact: bool = True,
    ):
        self.k = k
        self.center = center
        self.baseline = baseline
        self.signed = signed
        self.shrinkage = shrinkage
        self.min_support = min_support
        self.keep = keep
        self.exact = exact

    # ------------------------------------------------------------ helpers
    def memory_fallback(self) -> Recommender | None:
        """For the post's form (``k=None``), whose similarity holds every pair of neighbours:
        the same model with ``k=40``, which stores a bounded number per row. ``None`` for the
        k form (its ``keep="auto"`` already bounds the memory)."""
        if self.k is None:
            return self.clone().set_params(k=40)
        return None

    def _validate(self) -> None:
        name = type(self).__name__
        k = self.k
        if k is not None and (isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1):
            raise ValueError(
                f"{name}: k must be None (the post's form) or an integer >= 1, got {k!r}"
            )
        if self.center not in CENTERS:
            raise ValueError(f"{name}: center must be one of {CENTERS}, got {self.center!r}")
        if self.baseline not in BASELINES:
            raise ValueError(f"{name}: baseline must be one of {BASELINES}, got {self.baseline!r}")
        if self.signed not in (None, True, False):
            raise ValueError(f"{name}: signed must be None, True or False, got {self.signed!r}")
        s = self.shrinkage
        if isinstance(s, bool) or not isinstance(s, numbers.Real) or not np.isfinite(s) or s < 0:
            raise ValueError(f"{name}: shrinkage must be a finite number >= 0, got {s!r}")
        ms = self.min_support
        if isinstance(ms, bool) or not isinstance(ms, numbers.Integral) or ms < 1:
            raise ValueError(f"{name}: min_support must be an integer >= 1, got {ms!r}")
        keep = self.keep
        if not (
            keep is None
            or keep == "auto"
            or (isinstance(keep, numbers.Integral) and not isinstance(keep, bool) and keep >= 1)
        ):
            raise ValueError(f"{name}: keep must be 'auto', None or an integer >= 1, got {keep!r}")
        if not isinstance(self.exact, (bool, np.bool_)):
            raise ValueError(f"{name}: exact must be True or False, got {self.exact!r}")
        if k is None and keep not in ("auto", None):
            raise ValueError(
                f"{name}: keep={keep!r} needs k: the post's form (k=None) sums over every "
                "neighbour, so it stores them all"
            )
        if k is not None and isinstance(keep, numbers.Integral) and keep < k:
            raise ValueError(f"{name}: keep={keep} is smaller than k={k}")

    def _resolve(self) -> None:
        post = self.k is None
        self.center_ = (
            self.center if self.center != "auto" else ("none" if post else self._k_center)
        )
        self.baseline_ = self.baseline if self.baseline != "auto" else ("mean" if post else "bias")
        self.signed_ = (
            self.signed if self.signed is not None else (True if post else self._k_signed)
        )

    def _orient(self, users, items):
        """(anchors, targets): users and items for the user-based model, swapped otherwise."""
        return (users, items) if self._user_based else (items, users)

    # ------------------------------------------------------------ fitting
    def _fit(self, train: Ratings) -> None:
        self._validate()
        self._resolve()
        t0 = time.perf_counter()
        n_users, n_items = train.n_users, train.n_items
        uc, ic, r = train.user_codes, train.item_codes, train.ratings
        with np.errstate(invalid="ignore", divide="ignore"):
            self.user_mean_ = np.bincount(uc, r, n_users) / self.user_n_train_
            self.item_mean_ = np.bincount(ic, r, n_items) / self.item_n_train_
        if "bias" in (self.center_, self.baseline_):
            self.bias_ = Bias().fit(train)
        else:
            self.bias_ = None
        self.fit_seconds_ = {"baseline": time.perf_counter() - t0}
        # Anchor rows (anchors x targets) and target lists (targets x anchors), as CSR.
        rows = train.csr if self._user_based else train.csc.T
        lists = train.csc.T if self._user_based else train.csr
        n_anchors = rows.shape[0]
        row_codes = np.repeat(np.arange(n_anchors, dtype=np.int32), np.diff(rows.indptr))
        list_codes = np.repeat(np.arange(lists.shape[0], dtype=np.int32), np.diff(lists.indptr))
        row_users, row_items = self._orient(row_codes, rows.indices)
        list_users, list_items = self._orient(lists.indices, list_codes)

        # Similarity: cosine of the centred anchor rows.
        x_rows = rows.data - self._offsets(self.center_, row_users, row_items)
        norms = np.sqrt(np.bincount(row_codes, x_rows * x_rows, n_anchors))
        inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        x_rows *= inv[row_codes]
        x_lists = lists.data - self._offsets(self.center_, list_users, list_items)
        x_lists *= inv[lists.indices]
        t1 = time.perf_counter()
        self._fit_similarity(rows, x_rows, lists, x_lists, n_anchors)
        del x_rows, x_lists
        t2 = time.perf_counter()
        self.fit_seconds_["similarity"] = t2 - t1

        # Deviations from the baseline, in both orientations.
        base = "anchor_mean" if self.baseline_ == "mean" else "bias"
        self.list_dev_ = sp.csr_array(
            (lists.data - self._offsets(base, list_users, list_items), lists.indices, lists.indptr),
            shape=lists.shape,
        )
        if self.k is not None:
            self.row_dev_ = sp.csr_array(
                (rows.data - self._offsets(base, row_users, row_items), rows.indices, rows.indptr),
                shape=rows.shape,
            )
        self.fit_seconds_["deviations"] = time.perf_counter() - t2
        log.info(
            "%s fitted in %.2fs: %d anchors, %s neighbours stored",
            self.name,
            time.perf_counter() - t0,
            n_anchors,
            "deferred" if self._similarity is None else f"{self._similarity.nnz:,}",
        )

    def _offsets(self, kind: str, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Per-rating centring values: 0, the user mean, the item mean, the anchor's mean, or
        the Bias baseline ``mu + b_u + b_i``."""
        if kind == "none":
            return np.zeros(len(users))
        if kind == "anchor_mean":
            kind = "user" if self._user_based else "item"
        if kind == "user":
            return self.user_mean_[users]
        if kind == "item":
            return self.item_mean_[items]
        return self.bias_.biases_at(users, items)

    def _resolve_keep(self, n_anchors: int) -> int | None:
        if self.k is None or self.keep is None:
            return None
        if self.keep == "auto":
            if n_anchors * n_anchors <= AUTO_KEEP_ENTRIES:
                return None
            return max(int(self.k), AUTO_KEEP_ENTRIES // n_anchors)
        return int(self.keep)

    def _fit_similarity(self, rows, x_rows, lists, x_lists, n_anchors: int) -> None:
        self.keep_ = self._resolve_keep(n_anchors)
        self._similarity_input = (
            rows.indptr, rows.indices, x_rows, lists.indptr, lists.indices, x_lists
        )  # fmt: skip
        self._similarity = self._neighbor_abs_sum = None
        if self.k is not None and self.exact:
            # Exact k-NN predictions come from each anchor's full row, recomputed at predict
            # time (one pass, never stored whole); the stored lists wait for first use.
            log.debug("similarity: deferred to first use (keep=%s)", self.keep_)
            return
        self._build_similarity()
        self._similarity_input = None  # never recomputed: free the unit-norm rows

    def _build_similarity(self) -> None:
        """Compute the stored neighbours: every one (``keep_`` None) or the best ``keep_``."""
        args = self._similarity_input
        n_anchors = len(args[0]) - 1
        keep = self.keep_
        shrinkage, min_support = float(self.shrinkage), int(self.min_support)
        entity = "user" if self._user_based else "item"
        workspace = _n_chunks() * n_anchors * 48
        t0 = time.perf_counter()
        if keep is None:
            # Upper bound before the count pass: each pair of anchors that share a target.
            counts_per_target = np.diff(args[3]).astype(np.float64)
            pairs = min(
                float(n_anchors) * (n_anchors - 1),
                float(np.sum(counts_per_target * (counts_per_target - 1))),
            )
            way_out = (
                f"set k (e.g. {type(self).__name__}(k=40)) for the k-nearest-neighbour form, "
                "which stores a bounded number of neighbours per row"
                if self.k is None
                else "set keep to store only the most similar neighbours of each row"
            )
            what = (
                f"the full {entity}-{entity} similarity "
                f"({n_anchors:,} {entity}s, up to {pairs:,.0f} pairs)"
            )
            require(pairs * _BYTES_PER_NEIGHBOR + workspace, what, way_out)
            counts = count_cosine_neighbors(
                *args, shrinkage, min_support, self.signed_, _n_chunks()
            )
            indptr = np.zeros(n_anchors + 1, dtype=np.int64)
            np.cumsum(counts, out=indptr[1:])
            require(
                indptr[-1] * _BYTES_PER_NEIGHBOR + workspace,
                f"the full {entity}-{entity} similarity ({indptr[-1]:,} pairs)",
                way_out,
            )
            indices, data, abs_sums = fill_cosine_neighbors(
                *args, shrinkage, min_support, self.signed_, indptr, _n_chunks()
            )
        else:
            keep = min(keep, max(n_anchors - 1, 1))
            require(
                2 * n_anchors * keep * _BYTES_PER_NEIGHBOR + workspace,
                f"the {keep} most similar neighbours of each of {n_anchors:,} {entity}s",
                "set keep to a smaller number of neighbours per row",
            )
            nbr, sims, counts, abs_sums = select_cosine_neighbors(
                *args, shrinkage, min_support, self.signed_, keep, _n_chunks()
            )
            indptr = np.zeros(n_anchors + 1, dtype=np.int64)
            np.cumsum(counts, out=indptr[1:])
            valid = nbr >= 0
            indices, data = nbr[valid], sims[valid]
            del nbr, sims, valid
        if indptr[-1] < np.iinfo(np.int32).max:
            indptr = indptr.astype(np.int32)  # scipy would otherwise copy indices to int64
        sim = sp.csr_array((data, indices, indptr), shape=(n_anchors, n_anchors))
        sim.has_sorted_indices = True
        self._similarity, self._neighbor_abs_sum = sim, abs_sums
        log.debug("similarity: %d pairs in %.2fs", len(data), time.perf_counter() - t0)

    @property
    def similarity_(self) -> sp.csr_array:
        """The stored neighbours (see the class docstring); built on first use where ``fit``
        deferred it (truncated rows with ``exact=True``)."""
        if getattr(self, "_similarity", None) is None:
            if getattr(self, "_similarity_input", None) is None:
                raise AttributeError(f"{type(self).__name__} is not fitted: no similarity_")
            self._build_similarity()
        return self._similarity

    @property
    def neighbor_abs_sum_(self) -> np.ndarray:
        """Sum of ``|sim|`` over all neighbours of each row, stored or not."""
        self.similarity_  # noqa: B018  builds it where deferred
        return self._neighbor_abs_sum

    # --------------------------------------------------------- predicting
    def _predict(self, users, items):
        anchors, targets = self._orient(users, items)
        valid = (anchors >= 0) & (targets >= 0)
        if self.baseline_ == "bias":
            pred = self.bias_.biases_at(users, items)
        else:
            mean = self.user_mean_ if self._user_based else self.item_mean_
            pred = np.where(anchors >= 0, mean[np.maximum(anchors, 0)], self.global_mean_)
        a, t = anchors[valid], targets[valid]
        dev = self.list_dev_
        if self.k is None:
            sim = self.similarity_
            term = predict_all_neighbors(
                sim.indptr, sim.indices, sim.data, self.neighbor_abs_sum_,
                dev.indptr, dev.indices, dev.data, a, t, _n_chunks(),
            )  # fmt: skip
            fell_back = ~valid
        else:
            shrinkage, min_support = float(self.shrinkage), int(self.min_support)
            if self._similarity is None:
                # Deferred (exact): every anchor's full row, recomputed.
                term, n_used = predict_k_neighbors_exact(
                    *self._similarity_input, shrinkage, min_support, self.signed_,
                    dev.indptr, dev.indices, dev.data, int(self.k), a, t, _n_chunks(),
                )  # fmt: skip
                self.n_recomputed_ = len(a)
            else:
                sim, rdev = self._similarity, self.row_dev_
                term, n_used = predict_k_neighbors(
                    sim.indptr, sim.indices, sim.data, dev.indptr, dev.indices, dev.data,
                    rdev.indptr, rdev.indices, rdev.data, int(self.k), self.signed_, a, t,
                    _n_chunks(),
                )  # fmt: skip
                self.n_recomputed_ = 0
                if self.keep_ is not None and self.exact:
                    # Lists built after fit (similarity_ was read): a full stored row
                    # (keep_ entries) may miss better neighbours that rated t; where fewer
                    # than k stored ones did, recompute the whole row.
                    redo = (n_used < self.k) & (np.diff(sim.indptr)[a] >= self.keep_)
                    if redo.any():
                        term[redo], n_used[redo] = predict_k_neighbors_exact(
                            *self._similarity_input, shrinkage, min_support, self.signed_,
                            dev.indptr, dev.indices, dev.data, int(self.k), a[redo],
                            t[redo], _n_chunks(),
                        )  # fmt: skip
                        self.n_recomputed_ = int(redo.sum())
            fell_back = ~valid
            fell_back[valid] = n_used == 0
        pred[valid] += term
        if self.k is not None:
            self._clip(pred)
        return pred, fell_back

    # ------------------------------------------------------- recommending
    _score_bytes = 8

    def _buffer_bytes(self, n_items: int) -> int:
        """Work space of :func:`score_items_item_based`: per thread, a buffer of ``2k``
        16-byte records per item plus seven ``n_items`` vectors."""
        return numba.get_num_threads() * n_items * (32 * int(self.k) + 56)

    def _reverse_rows(self, sim: sp.csr_array) -> sp.csr_array:
        """The stored rows transposed (row ``j``: the items whose stored row holds ``j``),
        sorted, built once per similarity and kept beside the model (not in its saved
        state)."""
        cached = _REVERSE_ROWS.get(self)
        if cached is not None and cached[0] is sim:
            return cached[1]
        require(
            sim.nnz * _BYTES_PER_NEIGHBOR,
            f"recommend_all: the {sim.nnz:,} stored neighbours transposed",
            "fit with a smaller keep",
        )
        rows = sp.csr_array(sim.T)
        rows.sort_indices()
        _REVERSE_ROWS[self] = (sim, rows)
        return rows

    def _approximate_rows(self) -> bool:
        """Whether the stored rows' k-NN term may differ from ``predict``'s: the k form with
        ``exact=True`` whose rows hold only the best ``keep_`` of the other anchors."""
        n_anchors = len(self.user_n_train_ if self._user_based else self.item_n_train_)
        return (
            self.k is not None
            and bool(self.exact)
            and self.keep_ is not None
            and self.keep_ < n_anchors - 1
        )

    def _block_scorer(self):
        """recommend_all for the k form: every item's unclipped prediction for a block of
        users, in one pass over each user's neighbourhood
        (:mod:`fastrec.kernels.neighbor_scores`) instead of one prediction per (user, item)
        pair; the per-user part of the baseline is left out.

        The pass reads the stored similarity rows (``similarity_``, built here where ``fit``
        deferred them, and kept: later predictions use them, and ``save`` stores them), so
        its scores are the model's predictions wherever those rows hold
        every neighbour (``keep_`` None: up to ``sqrt(AUTO_KEEP_ENTRIES)`` = 10,000 anchors
        by default) or the model predicts from them alone (``exact=False``). Two cases take
        the base class's per-pair scorer instead:

        - the post's form (``k=None``), whose per-pair kernel is as fast (measured at
          ml-1m shape: 5.7 s per-pair against 6.8 s for a whole-row pass, UserKNN);
        - the k form with ``exact=True`` and truncated rows (the defaults at MovieLens-25M
          scale): exact predictions look past the stored rows, and the items they rank
          first are mostly ones those rows say nothing about, so no pass over them can rank
          as ``predict`` does. It predicts every (user, item) pair exactly, which takes
          hours at that scale, and warns, naming the fast form (``exact=False``).
        """
        if self.k is None:
            return super()._block_scorer()
        if self._approximate_rows():
            entity = "user" if self._user_based else "item"
            warnings.warn(
                f"{self.name}: the similarity rows keep only the {self.keep_} most similar "
                f"{entity}s and exact=True predictions look past them, so recommend_all "
                f"predicts every (user, item) pair ({len(self.user_n_train_):,} x "
                f"{len(self.item_n_train_):,}); at MovieLens-25M scale that takes hours. "
                f"For top-N at scale fit {type(self).__name__}(k={self.k}, exact=False), "
                "which predicts from the stored neighbours (LensKit's way) and ranks every "
                "user's items in one pass",
                stacklevel=5,
            )
            return super()._block_scorer()
        sim = self.similarity_
        n_items = len(self.item_n_train_)
        if self.baseline_ == "bias":
            item_base = self.bias_.biases_at(
                np.full(n_items, -1, dtype=np.int32), np.arange(n_items, dtype=np.int32)
            )
        elif self._user_based:
            item_base = np.zeros(n_items)  # the user's mean: constant over the user's row
        else:
            item_base = np.nan_to_num(self.item_mean_)
        if self._user_based:
            kernel, rows, dev = score_items_user_based, sim, self.row_dev_
            n_chunks = _n_chunks()
        else:
            rows, dev = self._reverse_rows(sim), self.list_dev_
            kernel, n_chunks = score_items_item_based, numba.get_num_threads()
            require(
                self._buffer_bytes(n_items),
                f"recommend_all: buffers of 2k={2 * self.k} neighbours per item for each of "
                f"{n_chunks} threads",
                "use a smaller k or fewer Numba threads (numba.set_num_threads)",
            )
        cache = {"users": None, "scores": None}

        def score(users: np.ndarray, lo: int, hi: int) -> np.ndarray:
            # One pass gives every item: compute the block's rows once, slice the tiles.
            if cache["users"] is None or not np.array_equal(cache["users"], users):
                out = cache["scores"]
                if out is None or out.shape[0] < len(users):
                    require(
                        len(users) * n_items * 8,
                        f"recommend_all: every item's score for {len(users):,} users",
                        "pass a smaller block_size",
                    )
                    out = cache["scores"] = np.empty((len(users), n_items))
                kernel(
                    rows.indptr, rows.indices, rows.data, dev.indptr, dev.indices, dev.data,
                    int(self.k), bool(self.signed_), users, item_base, out[: len(users)],
                    n_chunks,
                )  # fmt: skip
                cache["users"] = users.copy()
            return cache["scores"][: len(users), lo:hi]

        return score


class UserKNN(_NeighborhoodModel):
    """User-based collaborative filtering: the post's cosine model, or its k-NN form.

    ``k=None`` (default), the post's "User-based Cosine Similarity"::

        pred(u, i) = mean_u + sum_v sim(u, v) * (r_vi - mean_v) / sum_v |sim(u, v)|

    ``sim``: cosine of the raw training rating rows of the two users (missing ratings are 0,
    norms over all of a user's ratings); both sums over ALL users, ``u`` itself included
    with ``sim(u, u) = 1``; ``r_vi - mean_v`` is 0 where ``v`` did not rate ``i``. Not
    clipped (the post's formula exactly). Fallbacks: an item without training ratings gets
    ``mean_u`` (every deviation is 0: what the formula gives); a user without training
    ratings gets the training global mean. On the post's split this scores RMSE 0.948916
    (the post's 0.920526 fed the formula the test ratings).

    ``k=40`` (the k-NN form; Surprise's KNNBaseline)::

        pred(u, i) = clip(b_ui + sum_{v in N} sim(u, v) (r_vi - b_vi) / sum_{v in N} |sim(u, v)|)

    ``b_ui = mu + b_u + b_i`` (:class:`~fastrec.Bias`), ``N`` the ``k`` users with the
    largest ``|sim(u, v)|`` among those who rated ``i``, ``sim`` the cosine of the users'
    rows of Bias residuals ``r - b`` (defaults chosen on three splits: RMSE 0.8981 on the
    post's split, 0.8698 on ml-latest-small 2018, 0.9230 on the ml-100k folds, against
    Surprise's best KNNWithMeans / KNNBaseline with cosine or pearson_baseline: 0.9054 and
    0.9245). Fallback: the Bias baseline where ``u`` or ``i`` is unknown or ``N`` is empty.

    Parameters
    ----------
    k : int or None, default None
        Neighbours per prediction; ``None``: the post's sum over all users.
    center : {"auto", "none", "user", "item", "bias"}, default "auto"
        What is subtracted from the ratings before the cosine: nothing, the user's mean,
        the item's mean, or the Bias baseline. ``"auto"``: ``"none"`` for ``k=None``,
        ``"bias"`` otherwise.
    baseline : {"auto", "mean", "bias"}, default "auto"
        ``b`` in the formula: the user's mean ("mean", KNNWithMeans) or the Bias baseline
        (KNNBaseline). ``"auto"``: ``"mean"`` for ``k=None``, ``"bias"`` otherwise.
    signed : bool or None, default None
        Whether negative similarities count (ranked by ``|sim|``, weighted by ``sim``);
        ``False`` keeps only positive ones (Surprise). ``None``: ``True``.
    shrinkage : float, default 0
        ``sim *= n_common / (n_common + shrinkage)``, ``n_common`` = items rated by both.
    min_support : int, default 1
        Pairs with fewer common items have similarity 0.
    keep : "auto", None or int, default "auto"
        Neighbours stored per user (the most similar). ``None``: all; ``"auto"``: all when
        ``n_users**2 <= AUTO_KEEP_ENTRIES`` (1e8), else ``AUTO_KEEP_ENTRIES // n_users``.
        Only for the k form.
    exact : bool, default True
        k form only. ``True``: every prediction is the exact k-NN one: ``predict`` computes
        each requested user's full similarity row (one pass over the data per call, never
        the whole matrix in memory), and ``fit`` defers the stored lists to their first use
        (reading ``similarity_``); once they exist, ``predict`` uses them and recomputes
        only the rows whose ``keep`` stored neighbours hold fewer than ``k`` raters of the
        item. ``False``: ``fit`` stores the lists and ``predict`` uses them alone (LensKit's
        way): exact whenever ``k`` of the stored neighbours rated the item, else an
        approximation (on ml-1m shape, ``keep=615``: RMSE 0.8727 against 0.8645 exact).
        ``recommend_all`` ranks every user's items in one pass over the stored rows where
        they are the prediction (``exact=False``, or rows holding every neighbour); with
        ``exact=True`` and truncated rows it predicts every pair, and warns (at
        MovieLens-25M shape: about 11 hours, against 72 s with ``exact=False``; see
        :meth:`_block_scorer`).
    """

    post_label = "User-based Cosine Similarity"
    _user_based = True
    _k_center = "bias"
    _k_signed = True


class ItemKNN(_NeighborhoodModel):
    """Item-based collaborative filtering: the post's cosine model, or its k-NN form.

    ``k=None`` (default), the post's "Movie-based Cosine Similarity"::

        pred(u, i) = mean_i + sum_j sim(i, j) * (r_uj - mean_j) / sum_j |sim(i, j)|

    ``sim``: cosine of the raw training rating columns of the two items; both sums over ALL
    items, ``i`` itself included with ``sim(i, i) = 1``; ``r_uj - mean_j`` is 0 where ``u``
    did not rate ``j``. Not clipped (the post's formula exactly). Fallbacks: an item without
    training ratings gets the training global mean (the formula has no ``mean_i``); a user
    without training ratings gets ``mean_i``. On the post's split this scores RMSE 0.987392
    (the post's 0.815992 fed the formula the test ratings).

    ``k=40`` (the k-NN form; Surprise's KNNBaseline, LensKit's ItemItem)::

        pred(u, i) = clip(b_ui + sum_{j in N} sim(i, j) (r_uj - b_uj) / sum_{j in N} sim(i, j))

    ``b_ui = mu + b_u + b_i`` (:class:`~fastrec.Bias`), ``N`` the ``k`` items with the
    largest positive ``sim(i, j)`` among those ``u`` rated, ``sim`` the adjusted cosine (the
    cosine of the item columns of ratings centred by the user means). Defaults chosen on
    three splits: RMSE 0.8674 on the post's split, 0.8387 on ml-latest-small 2018, 0.9119 on
    the ml-100k folds, against Surprise's best KNNWithMeans / KNNBaseline with cosine or
    pearson_baseline: 0.8767 and 0.9204. Fallback: the Bias baseline where ``u`` or ``i`` is
    unknown or ``N`` is empty.

    Parameters
    ----------
    k, center, baseline, signed, shrinkage, min_support, keep, exact
        As :class:`UserKNN`, with users and items swapped. The k form's defaults here:
        ``center="user"`` (adjusted cosine), ``baseline="bias"``, ``signed=False``.
    """

    post_label = "Movie-based Cosine Similarity"
    _user_based = False
    _k_center = "user"
    _k_signed = False
