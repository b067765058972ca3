"""Top-n selection for recommendations: the ``n`` best items of each user's row of scores,
skipping the items the user rated in training.

Vocabulary: a *block* is ``scores[b, m]``, the scores of ``b`` users for ``m`` consecutive item
codes starting at ``col_lo`` (a tile of the users x items score matrix; the caller computes it,
e.g. by one matrix product, and never holds the whole matrix). Each user's ``n`` best so far
are kept in a bounded heap (:mod:`fastrec.kernels.heap`; ``heap_scores[r, :heap_size[r]]``,
``heap_items[r, ...]``, the worst at position 0), fed tile after tile in increasing item
order, then sorted best first.

Order ("better"): a higher score, then, for equal scores, a lower item code. Tiles must be
pushed in increasing ``col_lo`` so that an item seen later never beats an earlier one with the
same score. NaN scores are skipped (never recommended).

The items a user rated in training are the row of a CSR pattern, ``seen_indptr`` /
``seen_indices`` (sorted indices; built by :func:`group_items_by_user`); a user code of ``-1``
has none.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .heap import admits, push, sort_heap
from .sparse import group_offsets


@njit(cache=True, parallel=True)
def group_items_by_user(user_codes, item_codes, n_users):
    """The CSR pattern of the ratings: the items of each user, sorted.

    Parameters
    ----------
    user_codes : int32[nnz] in ``[0, n_users)``, item_codes : int32[nnz]
    n_users : int

    Returns
    -------
    indptr : int64[n_users + 1], indices : int32[nnz]  (row ``u``: the item codes of ``u``'s
    ratings, ascending; a counting sort by user, then each row sorted)
    """
    # The counting sort of fastrec.kernels.sparse.group_by_code (its group_offsets, then a
    # fill) writing the item codes directly: going through its order array and a gather took
    # 0.89 s against 0.57 s for 20M ratings (this runs in every model's fit).
    nnz = user_codes.shape[0]
    indptr = group_offsets(user_codes, n_users)
    fill = indptr[:-1].copy()
    indices = np.empty(nnz, dtype=np.int32)
    for p in range(nnz):
        u = user_codes[p]
        indices[fill[u]] = item_codes[p]
        fill[u] += 1
    for u in prange(n_users):
        indices[indptr[u] : indptr[u + 1]].sort()
    return indptr, indices


@njit(cache=True, parallel=True)
def push_top_n(
    scores,
    col_lo,
    users,
    seen_indptr,
    seen_indices,
    exclude_seen,
    candidate,
    heap_scores,
    heap_items,
    heap_size,
):
    """Feed one tile of scores into each user's bounded heap of the ``n`` best items.

    Parameters
    ----------
    scores : float32/float64[b, m], C-contiguous
        Scores of the ``b`` users for items ``col_lo .. col_lo + m - 1``; higher is better.
    col_lo : int, the item code of column 0
    users : int32[b], the user code of each row (``-1``: a user without training ratings)
    seen_indptr : int64[n_users + 1], seen_indices : int32[nnz]
        The items each user rated in training, sorted within rows.
    exclude_seen : bool, skip those items
    candidate : bool[n_items], items that may be recommended at all
    heap_scores : float64[b, n], heap_items : int32[b, n], heap_size : int32[b]
        The state of each row's heap (start with ``heap_size`` 0); updated in place. Each row
        is written by one thread.

    Cost: one comparison per score for a full heap (scores below the heap's worst are
    dropped before any other test), ``O(log n)`` per item that enters.
    """
    b, m = scores.shape
    for r in prange(b):
        size = heap_size[r]
        hs, hi = heap_scores[r], heap_items[r]
        u = users[r]
        p, p_end = 0, 0
        if exclude_seen and u >= 0:
            p, p_end = seen_indptr[u], seen_indptr[u + 1]
            # the first seen item of this tile
            p += np.searchsorted(seen_indices[p:p_end], col_lo)
        for j in range(m):
            s = scores[r, j]
            # An item of this tile has a higher code than any in the heap: it must score
            # strictly more than the heap's worst to enter. (NaN fails every comparison.)
            if not admits(hs, size, s):
                continue
            if s != s:
                continue
            i = col_lo + j
            if not candidate[i]:
                continue
            while p < p_end and seen_indices[p] < i:
                p += 1
            if p < p_end and seen_indices[p] == i:
                continue
            size = push(hs, hi, size, s, i)
        heap_size[r] = size


@njit(cache=True, parallel=True)
def sort_top_n(heap_scores, heap_items, heap_size):
    """Sort each row's heap best first, in place (heapsort: pop the worst to the back).

    ``heap_scores`` float64[b, n], ``heap_items`` int32[b, n], ``heap_size`` int32[b] as left
    by :func:`push_top_n`; afterwards row ``r``'s first ``heap_size[r]`` entries are its items,
    best first (higher score, then lower code).
    """
    for r in prange(heap_scores.shape[0]):
        sort_heap(heap_scores[r], heap_items[r], heap_size[r])


@njit(cache=True, parallel=True)
def take_top_n_ranked(order, users, seen_indptr, seen_indices, exclude_seen, n, out_items):
    """The ``n`` first items of one ranking shared by every user, skipping each user's seen
    items (the models whose ranking does not depend on the user, such as ``mu + b_u + b_i``).

    Parameters
    ----------
    order : int32[m], item codes best first (only the items that may be recommended)
    users : int32[b], user codes (``-1``: no seen items)
    seen_indptr, seen_indices, exclude_seen : as in :func:`push_top_n`
    n : int >= 1
    out_items : int32[b, n], written row by row

    Returns
    -------
    int32[b], the number of items written in each row (below ``n`` when the ranking runs out).
    Cost per user: ``O((n + |seen|) log |seen|)`` (a binary search per probe).
    """
    b = users.shape[0]
    m = order.shape[0]
    count = np.zeros(b, dtype=np.int32)
    for r in prange(b):
        u = users[r]
        lo, hi = 0, 0
        if exclude_seen and u >= 0:
            lo, hi = seen_indptr[u], seen_indptr[u + 1]
        row = seen_indices[lo:hi]
        k = 0
        for j in range(m):
            if k == n:
                break
            i = order[j]
            if hi > lo:
                at = np.searchsorted(row, i)
                if at < row.shape[0] and row[at] == i:
                    continue
            out_items[r, k] = i
            k += 1
        count[r] = k
    return count


@njit(cache=True, parallel=True)
def score_relu_block(user_hidden, item_hidden, weights, offset, out):
    """A block of a one-hidden-layer network's outputs for every (user, item) pair.

    ``out[r, j] = offset + sum_h weights[h] * max(user_hidden[r, h] + item_hidden[j, h], 0)``
    (the post's NeuralNet at prediction time, with the first layer split into a user and an
    item half, each computed once).

    Parameters
    ----------
    user_hidden : float32[b, h], item_hidden : float32[m, h] (C-contiguous; the item half
    includes the layer's bias), weights : float32[h], offset : float
    out : float32[b, m], written row by row (one thread per row)
    """
    b, m = out.shape
    n_hidden = weights.shape[0]
    for r in prange(b):
        for j in range(m):
            acc = np.float32(0.0)
            for h in range(n_hidden):
                x = user_hidden[r, h] + item_hidden[j, h]
                acc += weights[h] * max(x, np.float32(0.0))
            out[r, j] = acc + offset
