"""Neighbourhood predictions at requested (anchor, target) pairs.

Vocabulary, for the user-based model (the item-based one swaps users and items):

- the *anchor* is the user ``u`` whose rating is predicted; its neighbours are other users;
- the *target* is the item ``i``; ``list(i)`` are the users who rated ``i``, each with a
  deviation ``dev[v, i]`` (the rating minus a baseline; the caller picks the baseline);
- the similarity rows hold, for each anchor, its stored neighbours by increasing index
  (see :mod:`fastrec.kernels.similarity`), as CSR arrays ``sim_indptr, sim_indices, sim_data``.

Each sparse matrix is passed as one tuple of its CSR arrays (Numba accepts tuples of arrays
as arguments; each kernel unpacks them on its first lines):

- ``sim = (sim_indptr, sim_indices, sim_data)``: the similarity rows, CSR
  (n_anchors x n_anchors);
- ``lists = (list_indptr, list_indices, list_dev)``: the deviations, CSR
  (n_targets x n_anchors): row ``t`` is ``list(t)``;
- ``row_lists = (row_indptr, row_indices, row_dev)``: the same deviations as CSR
  (n_anchors x n_targets);
- :func:`predict_k_neighbors_exact` takes, instead of ``sim``, the tuples ``rows`` (the
  unit-norm anchor rows and their transpose) and ``cosine`` (``shrinkage, min_support,
  signed``) of :mod:`fastrec.kernels.similarity`.

The kernels return the neighbourhood term only; the caller adds the baseline. Pairs are
grouped by anchor (a counting sort), so each anchor's similarity row is scattered (or, in
:func:`predict_k_neighbors_exact`, computed) once into a dense work vector; anchors are dealt
to ``n_chunks`` parallel chunks, each with its own ``O(n_anchors)`` work vectors, and every
pair writes only its own output. The ``k`` best of a list are kept in a bounded heap
(:mod:`fastrec.kernels.heap`), one pass over the list.

(This module uses its sibling kernel modules :mod:`~fastrec.kernels.heap`,
:mod:`~fastrec.kernels.similarity` and :mod:`~fastrec.kernels.sparse`; it imports nothing
else from fastrec.)
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .heap import admits, new_heap, push
from .similarity import collect_row, new_workspace
from .sparse import group_by_code

# Each probe of the ranked-row scan is a binary search: count it as this many list steps.
_PROBE_COST = 8


@njit(cache=True)
def _group_by_anchor(anchors, n_anchors):
    """Counting sort: pairs of anchor ``a`` are ``order[ptr[a]:ptr[a+1]]``; ``active`` lists
    the anchors with at least one pair."""
    ptr, order = group_by_code(anchors, n_anchors)
    active = np.flatnonzero(ptr[1:] > ptr[:-1])
    return ptr, order, active


@njit(cache=True, inline="always")
def _scatter(w, idx, val, start, end):
    """``w[idx[e]] = val[e]`` for ``e`` in ``start:end``: a sparse row into a dense one."""
    for e in range(start, end):
        w[idx[e]] = val[e]


@njit(cache=True, inline="always")
def _clear(w, idx, start, end):
    """``w[idx[e]] = 0`` for ``e`` in ``start:end``: undo :func:`_scatter`."""
    for e in range(start, end):
        w[idx[e]] = 0.0


@njit(cache=True, inline="always")
def _store(term, n_used, p, num, den, used):
    """The k-NN term of pair ``p`` from its sums (left 0 when no neighbour counted)."""
    if used > 0 and den > 0.0:
        term[p] = num / den
        n_used[p] = used


@njit(cache=True, parallel=True)
def predict_all_neighbors(sim, abs_sums, lists, anchors, targets, n_chunks):
    """The blog post's formula: a weighted mean of the deviations over ALL anchors.

    ``term[p] = sum_b sim[a, b] * dev[b, t] / (1 + sum_b |sim[a, b]|)`` for the pair
    ``p = (a, t)``, where the numerator runs over ``b in list(t)`` (deviations are 0 where
    ``b`` did not rate ``t``), ``sim[a, a] = 1`` (the anchor itself counts, with similarity 1,
    as in the post's cosine matrix whose diagonal is 1), and the denominator runs over every
    anchor: ``abs_sums[a]`` (the sum over the stored neighbours of ``a``, which must be all of
    them) plus 1 for ``a`` itself.

    Parameters
    ----------
    sim : ``(sim_indptr, sim_indices, sim_data)``, CSR (n_anchors x n_anchors) similarity
        rows, any order
    abs_sums : float64[n_anchors]
    lists : ``(list_indptr, list_indices, list_dev)``, CSR (n_targets x n_anchors)
        deviations, any order
    anchors, targets : int[n_pairs], every code valid (``0 <= a < n_anchors``,
        ``0 <= t < n_targets``); callers handle unknown codes themselves
    n_chunks : int >= 1

    Returns
    -------
    term : float64[n_pairs]
    """
    sim_indptr, sim_indices, sim_data = sim
    list_indptr, list_indices, list_dev = lists
    n_anchors = sim_indptr.shape[0] - 1
    ptr, order, active = _group_by_anchor(anchors, n_anchors)
    term = np.zeros(anchors.shape[0])
    for c in prange(n_chunks):
        w = np.zeros(n_anchors)
        for g in range(c, active.shape[0], n_chunks):
            a = active[g]
            _scatter(w, sim_indices, sim_data, sim_indptr[a], sim_indptr[a + 1])
            w[a] = 1.0
            den = abs_sums[a] + 1.0
            for q in range(ptr[a], ptr[a + 1]):
                p = order[q]
                t = targets[p]
                num = 0.0
                for e in range(list_indptr[t], list_indptr[t + 1]):
                    num += w[list_indices[e]] * list_dev[e]
                term[p] = num / den
            _clear(w, sim_indices, sim_indptr[a], sim_indptr[a + 1])
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
def _scan_list(w, list_indices, list_dev, start, end, signed, keys, ids):
    """Sums over the ``k`` best of ``list(t) = list_indices[start:end]`` by their similarity
    ``w[b]`` (0: not a neighbour): largest ``sim`` (``|sim|`` when ``signed``), ties going to
    the earlier entry (= the smaller index).

    Keeps the ``k`` best so far in a bounded heap (:mod:`fastrec.kernels.heap`; ``keys``,
    ``ids``: work buffers of length ``k``), keyed by ``sim`` (``|sim|``) with the list
    position as id, so that a later entry replaces the worst only with a strictly larger key.
    Returns ``(sum sim * dev, sum |sim|, number used)``.
    """
    size = 0
    for e in range(start, end):
        s = w[list_indices[e]]
        if s == 0.0:
            continue
        key = abs(s) if signed else s
        if admits(keys, size, key):
            size = push(keys, ids, size, key, e)
    num = 0.0
    den = 0.0
    for j in range(size):
        e = ids[j]
        s = w[list_indices[e]]
        num += s * list_dev[e]
        den += abs(s)
    return num, den, size


@njit(cache=True, parallel=True)
def predict_k_neighbors(sim, lists, row_lists, k, signed, anchors, targets, n_chunks):
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
    sim : ``(sim_indptr, sim_indices, sim_data)``, CSR (n_anchors x n_anchors) similarity
        rows, indices increasing within each row (as :mod:`fastrec.kernels.similarity`
        returns them)
    lists : ``(list_indptr, list_indices, list_dev)``, CSR (n_targets x n_anchors)
        deviations, indices increasing within each row
    row_lists : ``(row_indptr, row_indices, row_dev)``, the same deviations as CSR
        (n_anchors x n_targets), indices increasing within each row
    k : int >= 1
    signed : bool, as the similarity rows were built
    anchors, targets : int[n_pairs], every code valid
    n_chunks : int >= 1

    Returns
    -------
    term : float64[n_pairs]
    n_used : int32[n_pairs]   size of ``N``
    """
    sim_indptr, sim_indices, sim_data = sim
    list_indptr, list_indices, list_dev = lists
    row_indptr, row_indices, row_dev = row_lists
    n_anchors = sim_indptr.shape[0] - 1
    ptr, order, active = _group_by_anchor(anchors, n_anchors)
    term = np.zeros(anchors.shape[0])
    n_used = np.zeros(anchors.shape[0], dtype=np.int32)
    for c in prange(n_chunks):
        w = np.zeros(n_anchors)
        keys, ids = new_heap(k)
        for g in range(c, active.shape[0], n_chunks):
            a = active[g]
            row_start, row_end = sim_indptr[a], sim_indptr[a + 1]
            _scatter(w, sim_indices, sim_data, row_start, row_end)
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
                        w, list_indices, list_dev, list_start, list_end, signed, keys, ids
                    )
                _store(term, n_used, p, num, den, used)
            _clear(w, sim_indices, row_start, row_end)
    return term, n_used


@njit(cache=True, parallel=True)
def predict_k_neighbors_exact(rows, cosine, lists, k, anchors, targets, n_chunks):
    """:func:`predict_k_neighbors` over the FULL similarity row of each anchor, recomputed.

    For models that store only the best ``keep`` neighbours per row: the pairs where fewer
    than ``k`` stored neighbours rated the target are answered here exactly. Each anchor's
    similarity row is computed again from the unit-norm rows, as
    :func:`fastrec.kernels.similarity.fill_cosine_neighbors` computes it (same
    ``shrinkage``, ``min_support``, ``signed``), then the ``k`` best among ``list(t)`` are
    taken as in :func:`predict_k_neighbors` (ties by increasing index).

    Parameters
    ----------
    rows : ``(indptr, indices, data, t_indptr, t_indices, t_data)``, the unit-norm anchor
        rows and their transpose, as :func:`fastrec.kernels.similarity.count_cosine_neighbors`
    cosine : ``(shrinkage, min_support, signed)``, as there
    lists : ``(list_indptr, list_indices, list_dev)``, CSR (n_targets x n_anchors) deviations
    k, anchors, targets, n_chunks : as :func:`predict_k_neighbors`

    Returns
    -------
    term : float64[n_pairs], n_used : int32[n_pairs]
    """
    signed = cosine[2]
    list_indptr, list_indices, list_dev = lists
    n_anchors = rows[0].shape[0] - 1
    ptr, order, active = _group_by_anchor(anchors, n_anchors)
    term = np.zeros(anchors.shape[0])
    n_used = np.zeros(anchors.shape[0], dtype=np.int32)
    for c in prange(n_chunks):
        ws = new_workspace(n_anchors)
        out_idx, out_val = ws[4], ws[5]
        w = np.zeros(n_anchors)
        keys, ids = new_heap(k)
        for g in range(c, active.shape[0], n_chunks):
            a = active[g]
            m, _ = collect_row(a, rows, cosine, ws)
            _scatter(w, out_idx, out_val, 0, m)
            for q in range(ptr[a], ptr[a + 1]):
                p = order[q]
                t = targets[p]
                start, end = list_indptr[t], list_indptr[t + 1]
                num, den, used = _scan_list(
                    w, list_indices, list_dev, start, end, signed, keys, ids
                )
                _store(term, n_used, p, num, den, used)
            _clear(w, out_idx, 0, m)
    return term, n_used
