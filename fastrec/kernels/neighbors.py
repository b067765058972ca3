"""Neighbourhood predictions at requested (anchor, target) pairs.

Vocabulary, for the user-based model (the item-based one swaps users and items):

- the *anchor* is the user ``u`` whose rating is predicted; its neighbours are other users;
- the *target* is the item ``i``; ``list(i)`` are the users who rated ``i``, each with a
  deviation ``dev[v, i]`` (the rating minus a baseline; the caller picks the baseline);
- the similarity rows hold, for each anchor, its stored neighbours by increasing index
  (see :mod:`fastrec.kernels.similarity`), as CSR arrays ``sim_indptr, sim_indices, sim_data``.

The kernels return the neighbourhood term only; the caller adds the baseline. Pairs are
grouped by anchor (a counting sort), so each anchor's similarity row is scattered (or, in
:func:`predict_k_neighbors_exact`, computed) once into a dense work vector; anchors are dealt
to ``n_chunks`` parallel chunks, each with its own ``O(n_anchors)`` work vectors, and every
pair writes only its own output. The ``k`` best of a list are kept in a bounded heap, one
pass over the list.

(This module uses :func:`fastrec.kernels.similarity.collect_row`, a sibling kernel; it
imports nothing else from fastrec.)
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .similarity import collect_row, new_workspace

# Each probe of the ranked-row scan is a binary search: count it as this many list steps.
_PROBE_COST = 8


@njit(cache=True)
def _group_by_anchor(anchors, n_anchors):
    """Counting sort: pairs of anchor ``a`` are ``order[ptr[a]:ptr[a+1]]``; ``active`` lists
    the anchors with at least one pair."""
    ptr = np.zeros(n_anchors + 1, dtype=np.int64)
    for p in range(anchors.shape[0]):
        ptr[anchors[p] + 1] += 1
    n_active = 0
    for a in range(n_anchors):
        if ptr[a + 1] > 0:
            n_active += 1
        ptr[a + 1] += ptr[a]
    fill = ptr[:-1].copy()
    order = np.empty(anchors.shape[0], dtype=np.int64)
    for p in range(anchors.shape[0]):
        a = anchors[p]
        order[fill[a]] = p
        fill[a] += 1
    active = np.empty(n_active, dtype=np.int64)
    n_active = 0
    for a in range(n_anchors):
        if ptr[a + 1] > ptr[a]:
            active[n_active] = a
            n_active += 1
    return ptr, order, active


@njit(cache=True, parallel=True)
def predict_all_neighbors(
    sim_indptr,
    sim_indices,
    sim_data,
    abs_sums,
    list_indptr,
    list_indices,
    list_dev,
    anchors,
    targets,
    n_chunks,
):
    """The blog post's formula: a weighted mean of the deviations over ALL anchors.

    ``term[p] = sum_b sim[a, b] * dev[b, t] / (1 + sum_b |sim[a, b]|)`` for the pair
    ``p = (a, t)``, where the numerator runs over ``b in list(t)`` (deviations are 0 where
    ``b`` did not rate ``t``), ``sim[a, a] = 1`` (the anchor itself counts, with similarity 1,
    as in the post's cosine matrix whose diagonal is 1), and the denominator runs over every
    anchor: ``abs_sums[a]`` (the sum over the stored neighbours of ``a``, which must be all of
    them) plus 1 for ``a`` itself.

    Parameters
    ----------
    sim_indptr, sim_indices, sim_data : CSR (n_anchors x n_anchors) similarity rows, any order
    abs_sums : float64[n_anchors]
    list_indptr, list_indices, list_dev : CSR (n_targets x n_anchors) deviations, any order
    anchors, targets : int[n_pairs], every code valid (``0 <= a < n_anchors``,
        ``0 <= t < n_targets``); callers handle unknown codes themselves
    n_chunks : int >= 1

    Returns
    -------
    term : float64[n_pairs]
    """
    n_anchors = sim_indptr.shape[0] - 1
    ptr, order, active = _group_by_anchor(anchors, n_anchors)
    term = np.zeros(anchors.shape[0])
    for c in prange(n_chunks):
        w = np.zeros(n_anchors)
        for g in range(c, active.shape[0], n_chunks):
            a = active[g]
            for e in range(sim_indptr[a], sim_indptr[a + 1]):
                w[sim_indices[e]] = sim_data[e]
            w[a] = 1.0
            den = abs_sums[a] + 1.0
            for q in range(ptr[a], ptr[a + 1]):
                p = order[q]
                t = targets[p]
                num = 0.0
                for e in range(list_indptr[t], list_indptr[t + 1]):
                    num += w[list_indices[e]] * list_dev[e]
                term[p] = num / den
            for e in range(sim_indptr[a], sim_indptr[a + 1]):
                w[sim_indices[e]] = 0.0
            w[a] = 0.0
    return term


@njit(cache=True)
def _find(sorted_values, start, end, value):
    """Position of ``value`` in ``sorted_values[start:end]`` (increasing), or -1."""
    lo, hi = start, end
    while lo < hi:
        mid = (lo + hi) >> 1
        if sorted_values[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    if lo < end and sorted_values[lo] == value:
        return lo
    return -1


@njit(cache=True)
def _rank_row(sim_data, start, end, signed):
    """Positions ``start..end`` of a similarity row, best first: decreasing ``sim`` (or
    ``|sim|`` when ``signed``), ties by increasing position (= increasing index)."""
    m = end - start
    key = np.empty(m)
    for s in range(m):
        v = sim_data[start + s]
        key[s] = -abs(v) if signed else -v
    order = np.argsort(key)  # quicksort; runs of equal keys are put back in position order
    s = 0
    while s < m:
        e = s + 1
        while e < m and key[order[e]] == key[order[s]]:
            e += 1
        if e - s > 1:
            order[s:e] = np.sort(order[s:e])
        s = e
    return order + start


@njit(cache=True)
def _worse(hkey, hpos, i, j):
    """Entry ``i`` ranks below entry ``j``: larger key, or equal key and later position."""
    return hkey[i] > hkey[j] or (hkey[i] == hkey[j] and hpos[i] > hpos[j])


@njit(cache=True)
def _swap(hkey, hpos, hsim, hdev, i, j):
    hkey[i], hkey[j] = hkey[j], hkey[i]
    hpos[i], hpos[j] = hpos[j], hpos[i]
    hsim[i], hsim[j] = hsim[j], hsim[i]
    hdev[i], hdev[j] = hdev[j], hdev[i]


@njit(cache=True)
def _scan_list(w, list_indices, list_dev, start, end, k, signed, hkey, hpos, hsim, hdev):
    """Sums over the ``k`` best of ``list(t) = list_indices[start:end]`` by their similarity
    ``w[b]`` (0: not a neighbour): largest ``sim`` (``|sim|`` when ``signed``), ties going to
    the earlier entry (= the smaller index).

    Keeps a max-heap of the ``k`` best so far with the worst on top (``hkey``, ``hpos``,
    ``hsim``, ``hdev``: work buffers of length ``>= k``); a later entry replaces the top only
    with a strictly smaller key. Returns ``(sum sim * dev, sum |sim|, number used)``.
    """
    size = 0
    for e in range(start, end):
        s = w[list_indices[e]]
        if s == 0.0:
            continue
        key = -abs(s) if signed else -s
        if size < k:
            i = size
            size += 1
            hkey[i], hpos[i], hsim[i], hdev[i] = key, e, s, list_dev[e]
            while i > 0:  # sift up: the new entry is the latest, so it passes equal keys
                parent = (i - 1) >> 1
                if not _worse(hkey, hpos, i, parent):
                    break
                _swap(hkey, hpos, hsim, hdev, i, parent)
                i = parent
        elif key < hkey[0]:
            hkey[0], hpos[0], hsim[0], hdev[0] = key, e, s, list_dev[e]
            i = 0
            while True:  # sift down
                child = 2 * i + 1
                if child >= size:
                    break
                if child + 1 < size and _worse(hkey, hpos, child + 1, child):
                    child += 1
                if not _worse(hkey, hpos, child, i):
                    break
                _swap(hkey, hpos, hsim, hdev, i, child)
                i = child
    num = 0.0
    den = 0.0
    for j in range(size):
        num += hsim[j] * hdev[j]
        den += abs(hsim[j])
    return num, den, size


@njit(cache=True, parallel=True)
def predict_k_neighbors(
    sim_indptr,
    sim_indices,
    sim_data,
    list_indptr,
    list_indices,
    list_dev,
    row_indptr,
    row_indices,
    row_dev,
    k,
    signed,
    anchors,
    targets,
    n_chunks,
):
    """k-nearest-neighbour term: the ``k`` most similar stored neighbours that rated the target.

    For the pair ``(a, t)``, ``N`` = the ``k`` best neighbours of ``a`` (rank order of the
    similarity rows: decreasing similarity, or ``|similarity|`` when ``signed``; ties by
    increasing index) among those in ``list(t)``;
    ``term = sum_{b in N} sim[a, b] * dev[b, t] / sum_{b in N} |sim[a, b]|``, 0 when ``N``
    is empty (Surprise's KNNWithMeans / KNNBaseline with ``min_k=1``). Only stored
    neighbours count: rows truncated to their best ``keep`` give the exact answer whenever
    at least ``k`` of those rated ``t``.

    Each pair takes the cheaper of two equivalent scans: the list of ``t`` (looking each
    entry up in the scattered row of ``a``), or the row of ``a`` in rank order (sorted once
    per anchor, when first needed), binary-searching ``t`` in each neighbour's sorted row and
    stopping after ``k`` hits.

    Parameters
    ----------
    sim_indptr, sim_indices, sim_data : CSR (n_anchors x n_anchors) similarity rows,
        indices increasing within each row (as :mod:`fastrec.kernels.similarity` returns them)
    list_indptr, list_indices, list_dev : CSR (n_targets x n_anchors) deviations, indices
        increasing within each row
    row_indptr, row_indices, row_dev : the same deviations as CSR (n_anchors x n_targets),
        indices increasing within each row
    k : int >= 1
    signed : bool, as the similarity rows were built
    anchors, targets : int[n_pairs], every code valid
    n_chunks : int >= 1

    Returns
    -------
    term : float64[n_pairs]
    n_used : int32[n_pairs]   size of ``N``
    """
    n_anchors = sim_indptr.shape[0] - 1
    ptr, order, active = _group_by_anchor(anchors, n_anchors)
    term = np.zeros(anchors.shape[0])
    n_used = np.zeros(anchors.shape[0], dtype=np.int32)
    for c in prange(n_chunks):
        w = np.zeros(n_anchors)
        hkey = np.empty(k)
        hpos = np.empty(k, dtype=np.int64)
        hsim = np.empty(k)
        hdev = np.empty(k)
        for g in range(c, active.shape[0], n_chunks):
            a = active[g]
            row_start, row_end = sim_indptr[a], sim_indptr[a + 1]
            for e in range(row_start, row_end):
                w[sim_indices[e]] = sim_data[e]
            ranked = np.empty(0, dtype=np.int64)
            is_ranked = False
            for q in range(ptr[a], ptr[a + 1]):
                p = order[q]
                t = targets[p]
                list_start, list_end = list_indptr[t], list_indptr[t + 1]
                n_list = list_end - list_start
                expected_probes = min(row_end - row_start, (k * n_anchors) // max(n_list, 1))
                num = 0.0
                den = 0.0
                used = 0
                if expected_probes * _PROBE_COST < n_list:
                    if not is_ranked:
                        ranked = _rank_row(sim_data, row_start, row_end, signed)
                        is_ranked = True
                    for e in ranked:
                        b = sim_indices[e]
                        pos = _find(row_indices, row_indptr[b], row_indptr[b + 1], t)
                        if pos >= 0:
                            s = sim_data[e]
                            num += s * row_dev[pos]
                            den += abs(s)
                            used += 1
                            if used == k:
                                break
                else:
                    num, den, used = _scan_list(
                        w, list_indices, list_dev, list_start, list_end, k, signed,
                        hkey, hpos, hsim, hdev,
                    )  # fmt: skip
                if used > 0 and den > 0.0:
                    term[p] = num / den
                    n_used[p] = used
            for e in range(row_start, row_end):
                w[sim_indices[e]] = 0.0
    return term, n_used


@njit(cache=True, parallel=True)
def predict_k_neighbors_exact(
    indptr,
    indices,
    data,
    t_indptr,
    t_indices,
    t_data,
    shrinkage,
    min_support,
    signed,
    list_indptr,
    list_indices,
    list_dev,
    k,
    anchors,
    targets,
    n_chunks,
):
    """:func:`predict_k_neighbors` over the FULL similarity row of each anchor, recomputed.

    For models that store only the best ``keep`` neighbours per row: the pairs where fewer
    than ``k`` stored neighbours rated the target are answered here exactly. Each anchor's
    similarity row is computed again from the unit-norm rows, as
    :func:`fastrec.kernels.similarity.fill_cosine_neighbors` computes it (same
    ``shrinkage``, ``min_support``, ``signed``), then the ``k`` best among ``list(t)`` are
    taken as in :func:`predict_k_neighbors` (ties by increasing index).

    Parameters
    ----------
    indptr, indices, data, t_indptr, t_indices, t_data, shrinkage, min_support, signed :
        as :func:`fastrec.kernels.similarity.count_cosine_neighbors`
    list_indptr, list_indices, list_dev : CSR (n_targets x n_anchors) deviations
    k, anchors, targets, n_chunks : as :func:`predict_k_neighbors`

    Returns
    -------
    term : float64[n_pairs], n_used : int32[n_pairs]
    """
    n_anchors = indptr.shape[0] - 1
    ptr, order, active = _group_by_anchor(anchors, n_anchors)
    term = np.zeros(anchors.shape[0])
    n_used = np.zeros(anchors.shape[0], dtype=np.int32)
    for c in prange(n_chunks):
        ws = new_workspace(n_anchors)
        out_idx, out_val = ws[4], ws[5]
        w = np.zeros(n_anchors)
        hkey = np.empty(k)
        hpos = np.empty(k, dtype=np.int64)
        hsim = np.empty(k)
        hdev = np.empty(k)
        for g in range(c, active.shape[0], n_chunks):
            a = active[g]
            m, _ = collect_row(
                a, indptr, indices, data, t_indptr, t_indices, t_data, shrinkage,
                min_support, signed, ws,
            )  # fmt: skip
            for s in range(m):
                w[out_idx[s]] = out_val[s]
            for q in range(ptr[a], ptr[a + 1]):
                p = order[q]
                t = targets[p]
                num, den, used = _scan_list(
                    w, list_indices, list_dev, list_indptr[t], list_indptr[t + 1], k, signed,
                    hkey, hpos, hsim, hdev,
                )  # fmt: skip
                if used > 0 and den > 0.0:
                    term[p] = num / den
                    n_used[p] = used
            for s in range(m):
                w[out_idx[s]] = 0.0
    return term, n_used
