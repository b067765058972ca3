"""The top-N engine behind :meth:`Recommender.recommend_all`: block sizing, the bounded
heaps fed by a model's block scorer, progress and memory checks, and the shared scorer of
the factor models.

It works on any fitted model through three of its methods (duck-typed, so this module
imports no model): ``_predict_codes(users, items) -> (pred, fell_back)``, ``_item_scores()``
and ``_block_scorer()`` (see :class:`~fastrec.models.base.Recommender`).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from ..kernels.recommend import push_top_n, sort_top_n, take_top_n_ranked
from ..memory import require
from ._common import progress_bar

log = logging.getLogger(__name__)

#: The bytes of one block of scores (users x items x ``_score_bytes``), the users per block,
#: and the fewest items per tile. Measured at ml-25m shape (BiasedMF, 59k items): whole rows
#: of 512 users (240 MiB) took 30 s, tiles of 1024 x 1024 items (8 MiB, cache-sized) 82 s:
#: the switches between BLAS and Numba threads cost more than the cache saves.
BLOCK_BYTES = 256 << 20
MIN_BLOCK_USERS = 16
MAX_BLOCK_USERS = 1024
MIN_TILE = 128


def recommend_codes(model, codes, n, exclude_seen, block_size, show_progress):
    """Top-``n`` items of each user code (``-1``: no training ratings) of a fitted ``model``.

    Returns ``rows`` (int64: the position in ``codes`` of each result), ``items`` (int32
    codes), ``scores`` (float64, the model's predictions), all flat and grouped by row, best
    first, and ``counts`` (int64[len(codes)], results per row).
    """
    t0 = time.perf_counter()
    n_rows = len(codes)
    candidate = model.item_n_train_ > 0
    cand_codes = np.flatnonzero(candidate).astype(np.int32)
    if exclude_seen:
        seen_indptr, seen_items = model.seen_indptr_, model.seen_items_
    else:
        seen_indptr, seen_items = np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32)
    require(
        n_rows * n * (4 + 8 + 8 + 16),
        f"recommend_all(n={n}) for {n_rows:,} users",
        "ask for fewer users (users=...) or a smaller n",
    )
    out_items = np.zeros((n_rows, n), dtype=np.int32)
    counts = np.zeros(n_rows, dtype=np.int32)
    known = np.flatnonzero(codes >= 0)
    unknown = np.flatnonzero(codes < 0)
    if len(unknown):
        # One list for every user without training ratings: the fallback's ranking.
        minus_one = np.full(len(cand_codes), -1, np.int32)
        fallback, _ = model._predict_codes(minus_one, cand_codes.copy())
        top = cand_codes[np.lexsort((cand_codes, -fallback))][:n]
        out_items[unknown, : len(top)] = top
        counts[unknown] = len(top)
    if len(known):
        item_scores = model._item_scores()
        if item_scores is not None:
            order = cand_codes[np.lexsort((cand_codes, -item_scores[cand_codes]))]
            sub = np.zeros((len(known), n), dtype=np.int32)
            counts[known] = take_top_n_ranked(
                order, codes[known], seen_indptr, seen_items, exclude_seen, n, sub
            )
            out_items[known] = sub
        else:
            _top_n_blocks(
                model, codes, known, n, exclude_seen, seen_indptr, seen_items, candidate,
                block_size, show_progress, out_items, counts,
            )  # fmt: skip
    # The scores: the model's predictions at the chosen pairs (the very numbers predict
    # gives), each user's items re-sorted by them (stable: ties keep the scorer's order).
    valid = np.arange(n) < counts[:, None]
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), counts)
    items = out_items[valid]
    scores = np.empty(0)
    if len(items):
        scores, _ = model._predict_codes(codes[rows], items.copy())
    rank = np.arange(len(items)) - np.repeat(np.cumsum(counts) - counts, counts)
    order = np.lexsort((rank, -scores, rows))
    log.debug("%s: top-%d of %d users in %.2fs", model.name, n, n_rows, time.perf_counter() - t0)
    return rows, items[order], scores[order], counts.astype(np.int64)


def _top_n_blocks(
    model, codes, known, n, exclude_seen, seen_indptr, seen_items, candidate,
    block_size, show_progress, out_items, counts,
):  # fmt: skip
    """Fill ``out_items`` / ``counts`` at rows ``known`` by the model's block scorer: blocks
    of ``block_size`` users x every item (about ``BLOCK_BYTES`` of scores), or x tiles of
    items where even ``MIN_BLOCK_USERS`` users' rows would not fit in that."""
    n_items = len(candidate)
    per_score = max(1, int(model._score_bytes))
    if block_size is None:
        block_size = BLOCK_BYTES // (n_items * per_score)
        block_size = min(MAX_BLOCK_USERS, max(MIN_BLOCK_USERS, block_size))
    block_size = min(block_size, len(known))
    tile = int(min(n_items, max(MIN_TILE, BLOCK_BYTES // (block_size * per_score))))
    require(
        block_size * tile * per_score + block_size * n * 12,
        f"{type(model).__name__}.recommend_all: a block of {block_size:,} users x {tile:,} items",
        "pass a smaller block_size",
    )
    scorer = model._block_scorer()
    heap_scores = np.empty((block_size, n))
    heap_items = np.empty((block_size, n), dtype=np.int32)
    heap_size = np.empty(block_size, dtype=np.int32)
    bar = progress_bar(show_progress, len(known), f"{type(model).__name__} top-{n}", "user")
    for lo in range(0, len(known), block_size):
        rows = known[lo : lo + block_size]
        users = codes[rows]
        b = len(rows)
        heap_size[:b] = 0
        for col in range(0, n_items, tile):
            scores = np.ascontiguousarray(scorer(users, col, min(col + tile, n_items)))
            if scores.dtype not in (np.float32, np.float64):
                scores = scores.astype(np.float64)
            push_top_n(
                scores, col, users, seen_indptr, seen_items, exclude_seen, candidate,
                heap_scores[:b], heap_items[:b], heap_size[:b],
            )  # fmt: skip
        sort_top_n(heap_scores[:b], heap_items[:b], heap_size[:b])
        out_items[rows] = heap_items[:b]
        counts[rows] = heap_size[:b]
        if bar is not None:
            bar.update(b)
    if bar is not None:
        bar.close()


def predict_every_pair_scorer(model):
    """The default block scorer: the model's prediction at every (user, item) pair of the
    block, ``-inf`` for items without training ratings (so every model ranks, at the cost
    of predicting ``len(users) x (hi - lo)`` ratings)."""
    candidate = model.item_n_train_ > 0

    def score(users: np.ndarray, lo: int, hi: int) -> np.ndarray:
        cols = np.flatnonzero(candidate[lo:hi]).astype(np.int32)
        out = np.full((len(users), hi - lo), -np.inf)
        if len(cols) and len(users):
            pred, _ = model._predict_codes(
                np.repeat(users, len(cols)).astype(np.int32), np.tile(cols + lo, len(users))
            )
            out[:, cols] = pred.reshape(len(users), len(cols))
        return out

    return score


def factor_block_scorer(user_factors, item_factors, item_bias=None, user_bias=None, dtype=None):
    """A block scorer for the factor models (see ``Recommender._block_scorer``):
    ``score(users, lo, hi) = P[users] @ Q[lo:hi].T (+ b_i) (+ b_u)``, ``[len(users), hi - lo]``,
    one BLAS matrix product (the biases ride along as extra columns of ones and biases).

    ``P``: float[n_users, k], ``Q``: float[n_items, k], biases float[n]. ``dtype`` (default
    float64): float64 agrees with the models' float64 prediction kernels to rounding (about
    1e-15), so items rank as ``predict`` ranks them; float32 is about twice as fast and
    rounds to about 1e-7. The result is the scorer's own buffer, reused by the next call.
    """
    dtype = np.dtype(np.float64 if dtype is None else dtype)
    n_items = item_factors.shape[0]
    item_cols = [item_factors]
    if item_bias is not None:
        item_cols.append(np.asarray(item_bias)[:, None])
    if user_bias is not None:
        item_cols.append(np.ones((n_items, 1)))
    items = np.ascontiguousarray(np.hstack(item_cols), dtype=dtype)
    buffer = {}

    def score(users, lo, hi):
        last = buffer.get("users")
        if last is None or not np.array_equal(last, users):  # a new block (tiles share it)
            cols = [user_factors[users]]
            if item_bias is not None:
                cols.append(np.ones((len(users), 1)))
            if user_bias is not None:
                cols.append(np.asarray(user_bias)[users][:, None])
            block = np.hstack(cols, dtype=dtype) if len(cols) > 1 else cols[0].astype(dtype)
            buffer["users"], buffer["block"] = users.copy(), block
        size = len(users) * (hi - lo)
        if buffer.get("out") is None or buffer["out"].size < size:
            buffer["out"] = np.empty(size, dtype=dtype)
        out = buffer["out"][:size].reshape(len(users), hi - lo)
        return np.matmul(buffer["block"], items[lo:hi].T, out=out)

    return score
