"""Neighbourhood scores of EVERY item for a block of users (top-n recommendations).

:mod:`fastrec.kernels.neighbors` predicts at requested (user, item) pairs; ``recommend_all``
needs every item's score for each user, and asking those kernels for ``n_users x n_items``
pairs repeats the same work once per item. These kernels turn the loop around and score a
user's whole row in one pass over that user's neighbourhood, for the stored similarity rows
(CSR ``sim_indptr, sim_indices, sim_data``; row ``a`` holds the stored neighbours of anchor
``a`` by increasing index, never ``a`` itself; see :mod:`fastrec.kernels.similarity`).

The neighbourhood term is the k-NN one of :func:`fastrec.kernels.neighbors.predict_k_neighbors`::

    term(a, t) = sum_{b in N} sim[a, b] dev[b, t] / sum_{b in N} |sim[a, b]|

``N`` the ``k`` best stored neighbours of ``a`` (decreasing ``sim``, or ``|sim|`` when
``signed``; ties to the smaller index) among those with a deviation at ``t``; 0 when ``N`` is
empty. (The blog post's form, a sum over every neighbour, gains nothing from this: its
per-pair kernel scans each item's raters against a dense row, as fast as a whole-row pass.)

Each user's row is ``out[r, i] = item_base[i] + term``; the caller picks ``item_base`` (the
part of the baseline that depends on the item; a per-user constant does not change the
user's ranking and is left out). Users are dealt to ``n_chunks`` parallel chunks, each with
its own ``O(n_items)`` work vectors (item-based: and ``O(n_items * k)`` record buffers);
each user writes only its own row of ``out``.

(Imports ``_rank_row`` from its sibling :mod:`fastrec.kernels.neighbors`, nothing else
from fastrec.)
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .neighbors import _rank_row


@njit(cache=True, parallel=True)
def score_items_user_based(
    sim_indptr,
    sim_indices,
    sim_data,
    row_indptr,
    row_indices,
    row_dev,
    k,
    signed,
    users,
    item_base,
    out,
    n_chunks,
):
    """User-based k-NN scores of every item, for a block of users.

    Anchors are users and targets items. For user ``u``, the walk visits ``u``'s stored
    neighbours ``v`` in rank order and adds ``sim[u, v] * dev[v, i]`` to every item ``i``
    that ``v`` rated, until ``i`` holds ``k`` neighbours: the first ``k`` raters of ``i`` met
    in rank order are its ``N``. Cost per user: the ratings of its stored neighbours,
    ``sum_{v in row(u)} |row_dev(v)|``, whatever the number of items.

    Parameters
    ----------
    sim_indptr, sim_indices, sim_data : CSR (n_users x n_users) similarity rows, indices
        increasing within each row
    row_indptr, row_indices, row_dev : CSR (n_users x n_items) deviations ``dev[v, i]``
    k : int >= 1
    signed : bool, as the similarity rows were built
    users : int32[b], user codes, each valid (``0 <= u < n_users``)
    item_base : float64[n_items], added to every user's row
    out : float64[b, n_items], written row by row
    n_chunks : int >= 1
    """
    n_items = item_base.shape[0]
    b = users.shape[0]
    for c in prange(n_chunks):
        num = np.zeros(n_items)
        den = np.zeros(n_items)
        cnt = np.zeros(n_items, dtype=np.int32)
        touched = np.empty(n_items, dtype=np.int32)
        for r in range(c, b, n_chunks):
            u = users[r]
            n_touched = 0
            for e in _rank_row(sim_data, sim_indptr[u], sim_indptr[u + 1], signed):
                s = sim_data[e]
                if s == 0.0:
                    continue
                v = sim_indices[e]
                a = abs(s)
                for p in range(row_indptr[v], row_indptr[v + 1]):
                    i = row_indices[p]
                    ci = cnt[i]
                    if ci < k:
                        if ci == 0:
                            touched[n_touched] = i
                            n_touched += 1
                        num[i] += s * row_dev[p]
                        den[i] += a
                        cnt[i] = ci + 1
            row = out[r]
            row[:] = item_base
            for q in range(n_touched):
                i = touched[q]
                if den[i] > 0.0:
                    row[i] += num[i] / den[i]
                num[i] = 0.0
                den[i] = 0.0
                cnt[i] = 0


@njit(cache=True, inline="always")
def _key(s, signed):
    """Rank key of a similarity: smaller is better."""
    return -abs(s) if signed else -s


@njit(cache=True, inline="always")
def _less(key_a, j_a, key_b, j_b):
    """Record ``a`` ranks before record ``b``: a smaller key, or an equal key and a smaller
    ``j``."""
    return key_a < key_b or (key_a == key_b and j_a < j_b)


@njit(cache=True)
def _select_best(buf, start, m, k, signed):
    """Move the ``k`` best of the ``m`` records ``(sim, j)`` at ``buf[2 * start:]`` to the
    front, the ``k``-th best at position ``k - 1`` (Hoare's selection, in place, ``O(m)``
    on average). Records are distinct: an item receives each ``j`` once."""
    lo, hi, kth = 0, m - 1, k - 1
    while lo < hi:
        x_key = _key(buf[2 * (start + kth)], signed)
        x_j = buf[2 * (start + kth) + 1]
        i, j = lo, hi
        while True:
            while _less(_key(buf[2 * (start + i)], signed), buf[2 * (start + i) + 1], x_key, x_j):
                i += 1
            while _less(x_key, x_j, _key(buf[2 * (start + j)], signed), buf[2 * (start + j) + 1]):
                j -= 1
            if i <= j:
                a, b = 2 * (start + i), 2 * (start + j)
                buf[a], buf[b] = buf[b], buf[a]
                buf[a + 1], buf[b + 1] = buf[b + 1], buf[a + 1]
                i += 1
                j -= 1
            if i > j:
                break
        if j < kth:
            lo = i
        if kth < i:
            hi = j


#: Items per tile of :func:`score_items_item_based`: the record buffers of one tile
#: (``tile * 2k * 16`` bytes, 256 KiB at k=40) stay in the core's cache while it is filled.
TILE_BYTES = 256 << 10


@njit(cache=True, parallel=True)
def score_items_item_based(
    rev_indptr,
    rev_indices,
    rev_data,
    user_indptr,
    user_indices,
    user_dev,
    k,
    signed,
    users,
    item_base,
    out,
    n_chunks,
):
    """Item-based k-NN scores of every item, for a block of users.

    Anchors are items and targets users. The similarity comes transposed ("reverse" rows):
    row ``j`` lists the items ``i`` whose stored row holds ``j``, with ``sim[i, j]``. For
    user ``u``, each item ``j`` that ``u`` rated (increasing ``j``) sends ``sim[i, j]`` to
    every ``i`` of row ``j``; item ``i`` keeps the ``k`` best it receives (all of them when
    ``u`` rated at most ``k`` items: plain sums); the deviations ``dev[u, j]`` are looked up
    at the end.

    The ``k`` best: each item appends the ``(sim, j)`` records it receives to a buffer of
    ``2k`` (16 bytes each, contiguous); a full buffer is cut to its ``k`` best by selection
    (:func:`_select_best`), whose ``k``-th key then turns away every later record that does
    not beat it (read from a compact array, so most arrivals cost one read); at the end, the
    ``k`` best of each buffer are selected and summed. Arrivals come in increasing ``j``, so
    a later record never wins a tie on the key: ties go to the smaller ``j``, as the pair
    kernels break them. The items are taken in tiles of ``TILE_BYTES`` of buffers, each
    reverse row read through a cursor that moves on tile by tile, so that the buffers being
    written stay in cache. Cost per user: ``sum_{j in u} |rev(j)|`` arrivals, each
    ``O(1)`` on average, plus one cursor step per rated item and tile.

    Parameters
    ----------
    rev_indptr, rev_indices, rev_data : CSR (n_items x n_items), the transpose of the
        similarity rows, indices increasing within each row
    user_indptr, user_indices, user_dev : CSR (n_users x n_items) deviations ``dev[u, j]``,
        indices increasing within each row
    k, signed, users, item_base, out, n_chunks : as :func:`score_items_user_based`
    """
    n_items = item_base.shape[0]
    b = users.shape[0]
    cap = 2 * k  # records per item buffer
    tile = max(1, TILE_BYTES // (16 * cap))
    for c in prange(n_chunks):
        num = np.zeros(n_items)
        den = np.zeros(n_items)
        cnt = np.zeros(n_items, dtype=np.int32)
        touched = np.empty(n_items, dtype=np.int32)
        dev_of = np.zeros(n_items)  # dev[u, j] of the current user, read at j in u only
        cursor = np.empty(n_items, dtype=np.int64)  # per rated item: next entry of rev(j)
        bar = np.full(n_items, np.inf)  # a record must have a smaller key to enter
        buf = np.empty(2 * n_items * cap)  # item i's records: i * cap .. i * cap + cap - 1
        for r in range(c, b, n_chunks):
            u = users[r]
            p_start, p_end = user_indptr[u], user_indptr[u + 1]
            row = out[r]
            row[:] = item_base
            if p_end - p_start <= k:
                # Every arrival is kept: plain sums.
                n_touched = 0
                for p in range(p_start, p_end):
                    j = user_indices[p]
                    d = user_dev[p]
                    for e in range(rev_indptr[j], rev_indptr[j + 1]):
                        s = rev_data[e]
                        if s == 0.0:
                            continue
                        i = rev_indices[e]
                        if den[i] == 0.0:
                            touched[n_touched] = i
                            n_touched += 1
                        num[i] += s * d
                        den[i] += abs(s)
                for q in range(n_touched):
                    i = touched[q]
                    row[i] += num[i] / den[i]
                    num[i] = 0.0
                    den[i] = 0.0
                continue
            for p in range(p_start, p_end):
                j = user_indices[p]
                dev_of[j] = user_dev[p]
                cursor[p - p_start] = rev_indptr[j]
            for lo in range(0, n_items, tile):
                hi = min(lo + tile, n_items)
                for p in range(p_start, p_end):
                    j = user_indices[p]
                    e, e_end = cursor[p - p_start], rev_indptr[j + 1]
                    while e < e_end:
                        i = rev_indices[e]
                        if i >= hi:
                            break
                        s = rev_data[e]
                        e += 1
                        if s == 0.0 or not _key(s, signed) < bar[i]:
                            continue  # not a neighbour, or never among the k best
                        ci = cnt[i]
                        h = i * cap + ci
                        buf[2 * h], buf[2 * h + 1] = s, j
                        ci += 1
                        if ci == cap:
                            _select_best(buf, i * cap, cap, k, signed)
                            ci = k
                            bar[i] = _key(buf[2 * (i * cap + k - 1)], signed)
                        cnt[i] = ci
                    cursor[p - p_start] = e
                for i in range(lo, hi):  # the tile's sums, while its buffers are in cache
                    m = cnt[i]
                    if m == 0:
                        continue
                    if m > k:
                        _select_best(buf, i * cap, m, k, signed)
                        m = k
                    total, weight = 0.0, 0.0
                    for h in range(i * cap, i * cap + m):
                        s = buf[2 * h]
                        total += s * dev_of[int(buf[2 * h + 1])]
                        weight += abs(s)
                    if weight > 0.0:
                        row[i] += total / weight
                    cnt[i] = 0
                    bar[i] = np.inf
