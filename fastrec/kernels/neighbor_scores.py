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
its own ``O(n_items)`` work vectors (and, item-based with ``k``, ``O(n_items * k)`` heaps);
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
def _below(heap, a, b, signed):
    """Heap record ``a`` ranks below record ``b`` (records are ``(sim, j)`` pairs at
    ``heap[2a], heap[2a + 1]``): a larger key, or an equal key and a larger ``j``."""
    ka, kb = _key(heap[2 * a], signed), _key(heap[2 * b], signed)
    return ka > kb or (ka == kb and heap[2 * a + 1] > heap[2 * b + 1])


@njit(cache=True, inline="always")
def _swap_records(heap, a, b):
    heap[2 * a], heap[2 * b] = heap[2 * b], heap[2 * a]
    heap[2 * a + 1], heap[2 * b + 1] = heap[2 * b + 1], heap[2 * a + 1]


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
    """Item-based neighbourhood scores of every item, for a block of users.

    Anchors are items and targets users. The similarity comes transposed ("reverse" rows):
    row ``j`` lists the items ``i`` whose stored row holds ``j``, with ``sim[i, j]``. For
    user ``u``, each item ``j`` that ``u`` rated (increasing ``j``) sends ``sim[i, j]`` to
    every ``i`` of row ``j``; item ``i`` keeps the ``k`` best it receives (all of them when
    ``u`` rated at most ``k`` items: plain sums); the deviations ``dev[u, j]`` are looked up
    at the end. The ``k`` best: a bounded heap per item of ``(sim, j)`` records, 16 bytes each and
    contiguous (one item's heap is a few cache lines), with the key of each full heap's
    worst record in a compact array so that most arrivals are turned away by one read; a
    later ``j`` replaces the worst only with a strictly better key, so ties go to the smaller
    ``j``, as the pair kernels break them. Cost per user: ``sum_{j in u} |rev(j)|``
    arrivals.

    Parameters
    ----------
    rev_indptr, rev_indices, rev_data : CSR (n_items x n_items), the transpose of the
        similarity rows
    user_indptr, user_indices, user_dev : CSR (n_users x n_items) deviations ``dev[u, j]``,
        indices increasing within each row
    k, signed, users, item_base, out, n_chunks : as :func:`score_items_user_based`
    """
    n_items = item_base.shape[0]
    b = users.shape[0]
    for c in prange(n_chunks):
        num = np.zeros(n_items)
        den = np.zeros(n_items)
        cnt = np.zeros(n_items, dtype=np.int32)
        touched = np.empty(n_items, dtype=np.int32)
        dev_of = np.zeros(n_items)  # dev[u, j] of the current user, read at j in u only
        worst = np.empty(n_items)  # the key on top of each full heap
        heap = np.empty(2 * n_items * k)  # item i's heap: records i * k .. i * k + k - 1
        for r in range(c, b, n_chunks):
            u = users[r]
            n_touched = 0
            p_start, p_end = user_indptr[u], user_indptr[u + 1]
            plain = p_end - p_start <= k  # every arrival is kept: plain sums
            for p in range(p_start, p_end):
                j = user_indices[p]
                d = user_dev[p]
                dev_of[j] = d
                for e in range(rev_indptr[j], rev_indptr[j + 1]):
                    s = rev_data[e]
                    if s == 0.0:
                        continue
                    i = rev_indices[e]
                    ci = cnt[i]
                    if ci == 0:
                        touched[n_touched] = i
                        n_touched += 1
                    if plain:
                        num[i] += s * d
                        den[i] += abs(s)
                        cnt[i] = ci + 1
                        continue
                    o = i * k  # record index of the heap's root
                    if ci < k:
                        h = o + ci
                        heap[2 * h], heap[2 * h + 1] = s, j
                        while h > o:  # sift up: the newest record passes equal keys
                            parent = o + ((h - o - 1) >> 1)
                            if not _below(heap, h, parent, signed):
                                break
                            _swap_records(heap, h, parent)
                            h = parent
                        cnt[i] = ci + 1
                        if ci + 1 == k:
                            worst[i] = _key(heap[2 * o], signed)
                    elif _key(s, signed) < worst[i]:
                        heap[2 * o], heap[2 * o + 1] = s, j
                        h = o
                        while True:  # sift down
                            child = o + 2 * (h - o) + 1
                            if child >= o + k:
                                break
                            if child + 1 < o + k and _below(heap, child + 1, child, signed):
                                child += 1
                            if not _below(heap, child, h, signed):
                                break
                            _swap_records(heap, h, child)
                            h = child
                        worst[i] = _key(heap[2 * o], signed)
            row = out[r]
            row[:] = item_base
            for q in range(n_touched):
                i = touched[q]
                if not plain:
                    o = i * k
                    for h in range(o, o + cnt[i]):
                        s = heap[2 * h]
                        num[i] += s * dev_of[int(heap[2 * h + 1])]
                        den[i] += abs(s)
                if den[i] > 0.0:
                    row[i] += num[i] / den[i]
                num[i] = 0.0
                den[i] = 0.0
                cnt[i] = 0
