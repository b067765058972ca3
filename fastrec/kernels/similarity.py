"""Cosine similarity between the rows of a sparse matrix, full rows or the top ``keep`` per row.

The rows are the users (user-based) or the items (item-based) of the rating matrix, each
already centred the way the model wants and scaled to unit L2 norm by the caller, so that the
similarity of rows ``a`` and ``b`` is the plain dot product ``x_a . x_b`` (the cosine).
The product is computed the sparse way, row by row: for row ``a``, every feature ``f`` it
rates, every other row ``b`` that rates ``f``: ``dot[b] += x_af * x_bf``. That costs
``sum_f n_f**2`` multiply-adds in all (``n_f`` = ratings of feature ``f``), never a dense
rows x features matrix, and each row writes only its own output, so rows run in parallel
(``prange`` over chunks of rows, each chunk with its own dense accumulator of length
``n_rows``). (Accumulating blocks of 8 rows together, sharing each read of a feature's
list, was tried and is 2-3 times slower: the interleaved accumulator is 8 times larger.)

Every kernel returns the neighbours of a row by increasing row index. A row is never its
own neighbour. With ``signed=False`` only positive similarities are neighbours; with
``signed=True`` every non-zero one. Where only the best ``keep`` are kept, best means the
largest similarity (``signed=False``) or ``|similarity|`` (``signed=True``), ties going to
the smaller row index.

Optional adjustments, applied to the cosine before ranking:

- ``min_support``: pairs of rows with fewer than ``min_support`` features in common get 0;
- ``shrinkage``: ``sim *= n_common / (n_common + shrinkage)``.

Every kernel takes its input as two tuples (Numba accepts tuples of arrays and scalars as
arguments; each kernel unpacks them on its first lines):

- ``rows = (indptr, indices, data, t_indptr, t_indices, t_data)``: the unit-norm (or
  all-zero) rows as CSR (n_rows x n_features: ``int32``/``int64`` index arrays, ``float64``
  data, sorted or not) and the same matrix transposed, as CSR (n_features x n_rows);
- ``cosine = (shrinkage, min_support, signed)``: ``float >= 0``, ``int >= 1``, ``bool``
  (count negative similarities too), the adjustments and the sign rule above.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# A row whose accumulation touches fewer than n_rows / _SPARSE_ROW_FACTOR entries keeps a
# list of the entries it touched; a denser row scans its whole accumulator instead.
_SPARSE_ROW_FACTOR = 8


@njit(cache=True)
def _row_work(r, indptr, indices, t_indptr):
    """Number of multiply-adds of row ``r``: ``sum_{f in row r} n_f``."""
    work = 0
    for p in range(indptr[r], indptr[r + 1]):
        f = indices[p]
        work += t_indptr[f + 1] - t_indptr[f]
    return work


@njit(cache=True)
def new_workspace(n_rows):
    """Work arrays of one parallel chunk for :func:`collect_row` (``48 * n_rows`` bytes):
    ``(dot, cnt, mark, touched, out_idx, out_val)``."""
    dot = np.zeros(n_rows)
    cnt = np.zeros(n_rows, dtype=np.int32)
    mark = np.zeros(n_rows, dtype=np.int64)
    touched = np.empty(n_rows, dtype=np.int64)
    out_idx = np.empty(n_rows, dtype=np.int64)
    out_val = np.empty(n_rows)
    return dot, cnt, mark, touched, out_idx, out_val


@njit(cache=True)
def collect_row(r, rows, cosine, ws):
    """Similarities of row ``r`` to every other row, into the work arrays ``ws`` of
    :func:`new_workspace` (reused row after row by one chunk); ``rows`` and ``cosine`` as in
    the module docstring.

    Returns ``(m, abs_sum)``: the candidates are ``ws[4][:m]`` (increasing) with
    similarities ``ws[5][:m]`` (positive, or non-zero when ``signed``), ``abs_sum`` the sum
    of their ``|similarity|``. Between calls ``dot`` and ``cnt`` are all zero and ``mark``
    holds no value ``r + 1``.
    """
    indptr, indices, data, t_indptr, t_indices, t_data = rows
    shrinkage, min_support, signed = cosine
    dot, cnt, mark, touched, out_idx, out_val = ws
    n_rows = dot.shape[0]
    need_cnt = min_support > 1 or shrinkage > 0.0
    sparse_row = _row_work(r, indptr, indices, t_indptr) * _SPARSE_ROW_FACTOR < n_rows
    n_touched = 0
    for p in range(indptr[r], indptr[r + 1]):
        f = indices[p]
        x = data[p]
        for q in range(t_indptr[f], t_indptr[f + 1]):
            b = t_indices[q]
            if sparse_row and mark[b] != r + 1:
                mark[b] = r + 1
                touched[n_touched] = b
                n_touched += 1
            dot[b] += x * t_data[q]
            if need_cnt:
                cnt[b] += 1
    if sparse_row:
        touched[:n_touched].sort()
        n_scan = n_touched
    else:
        n_scan = n_rows
    m = 0
    abs_sum = 0.0
    for s in range(n_scan):
        b = touched[s] if sparse_row else s
        v = dot[b]
        if v == 0.0:
            continue
        dot[b] = 0.0
        if need_cnt:
            c = cnt[b]
            cnt[b] = 0
            if c < min_support:
                continue
            if shrinkage > 0.0:
                v *= c / (c + shrinkage)
        if b == r or (v <= 0.0 and not signed):
            continue
        out_idx[m] = b
        out_val[m] = v
        abs_sum += abs(v)
        m += 1
    if need_cnt and not sparse_row:
        cnt[:] = 0  # pairs with a zero dot product were skipped above with their count
    elif need_cnt:
        for s in range(n_touched):
            cnt[touched[s]] = 0
    return m, abs_sum


@njit(cache=True)
def _top_positions(val, m, keep, signed):
    """Positions (increasing) of the ``keep`` best of ``val[:m]``, ``m > keep``.

    Best: largest ``val`` (``|val|`` when ``signed``), ties by position (the candidates come
    in increasing row index, so ties go to the smaller row index).
    """
    key = np.empty(m)
    for s in range(m):
        key[s] = -abs(val[s]) if signed else -val[s]
    # The keep-th smallest key; every key below it is kept, then equal keys by position.
    thr = np.partition(key.copy(), keep - 1)[keep - 1]
    n_below = 0
    for s in range(m):
        if key[s] < thr:
            n_below += 1
    n_equal = keep - n_below
    chosen = np.empty(keep, dtype=np.int64)
    c = 0
    for s in range(m):
        if key[s] < thr or (key[s] == thr and n_equal > 0):
            if key[s] == thr:
                n_equal -= 1
            chosen[c] = s
            c += 1
    return chosen


@njit(cache=True, parallel=True)
def count_cosine_neighbors(rows, cosine, n_chunks):
    """Number of neighbours of each row (see the module docstring for who is a neighbour).

    Parameters
    ----------
    rows : ``(indptr, indices, data, t_indptr, t_indices, t_data)``, the unit-norm rows
        and their transpose (module docstring)
    cosine : ``(shrinkage, min_support, signed)`` (module docstring)
    n_chunks : int >= 1, rows are dealt to this many parallel chunks (row ``r`` to chunk
        ``r % n_chunks``), each with ``48 * n_rows`` bytes of work memory

    Returns
    -------
    counts : int64[n_rows]
    """
    n_rows = rows[0].shape[0] - 1
    counts = np.zeros(n_rows, dtype=np.int64)
    for c in prange(n_chunks):
        ws = new_workspace(n_rows)
        for r in range(c, n_rows, n_chunks):
            m, _ = collect_row(r, rows, cosine, ws)
            counts[r] = m
    return counts


@njit(cache=True, parallel=True)
def fill_cosine_neighbors(rows, cosine, out_indptr, n_chunks):
    """Every neighbour of every row, as CSR rows with increasing indices.

    Parameters as :func:`count_cosine_neighbors` (the tuples ``rows`` and ``cosine``, then
    ``n_chunks``), plus ``out_indptr`` (int64[n_rows + 1]), the cumulative sum of its counts.

    Returns
    -------
    nbr_indices : int32[out_indptr[-1]]   neighbours of row ``r`` at
        ``out_indptr[r]:out_indptr[r+1]``
    nbr_sims : float64[out_indptr[-1]]   their similarities
    abs_sums : float64[n_rows]   sum of ``|similarity|`` over the neighbours of each row
    """
    n_rows = rows[0].shape[0] - 1
    nnz = out_indptr[n_rows]
    nbr_indices = np.empty(nnz, dtype=np.int32)
    nbr_sims = np.empty(nnz)
    abs_sums = np.zeros(n_rows)
    for c in prange(n_chunks):
        ws = new_workspace(n_rows)
        out_idx, out_val = ws[4], ws[5]
        for r in range(c, n_rows, n_chunks):
            m, abs_sums[r] = collect_row(r, rows, cosine, ws)
            start = out_indptr[r]
            for s in range(min(m, out_indptr[r + 1] - start)):
                nbr_indices[start + s] = out_idx[s]
                nbr_sims[start + s] = out_val[s]
    return nbr_indices, nbr_sims, abs_sums


@njit(cache=True, parallel=True)
def select_cosine_neighbors(rows, cosine, keep, n_chunks):
    """The ``keep`` best neighbours of every row (by increasing index), in one pass.

    Parameters as :func:`count_cosine_neighbors` (the tuples ``rows`` and ``cosine``, then
    ``n_chunks``), plus ``keep`` (int >= 1).

    Returns
    -------
    nbr_indices : int32[n_rows, keep]   increasing; ``-1`` after the last neighbour
    nbr_sims : float64[n_rows, keep]    their similarities; 0 after the last neighbour
    counts : int64[n_rows]              neighbours kept per row (``<= keep``)
    abs_sums : float64[n_rows]   sum of ``|similarity|`` over all neighbours, kept or not
    """
    signed = cosine[2]
    n_rows = rows[0].shape[0] - 1
    nbr_indices = np.full((n_rows, keep), -1, dtype=np.int32)
    nbr_sims = np.zeros((n_rows, keep))
    counts = np.zeros(n_rows, dtype=np.int64)
    abs_sums = np.zeros(n_rows)
    for c in prange(n_chunks):
        ws = new_workspace(n_rows)
        out_idx, out_val = ws[4], ws[5]
        for r in range(c, n_rows, n_chunks):
            m, abs_sums[r] = collect_row(r, rows, cosine, ws)
            if m <= keep:
                counts[r] = m
                for s in range(m):
                    nbr_indices[r, s] = out_idx[s]
                    nbr_sims[r, s] = out_val[s]
            else:
                chosen = _top_positions(out_val, m, keep, signed)
                counts[r] = keep
                for s in range(keep):
                    nbr_indices[r, s] = out_idx[chosen[s]]
                    nbr_sims[r, s] = out_val[chosen[s]]
    return nbr_indices, nbr_sims, counts, abs_sums
