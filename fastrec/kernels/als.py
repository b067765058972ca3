"""Kernels for explicit biased matrix factorization by alternating least squares (ALS).

The model is ``r_ui ~ mu + b_u + b_i + x_u . y_i``. With the item side fixed, each user's
``(k + 1)``-vector ``w_u = [x_u, b_u]`` is the exact minimiser of a ridge regression::

    min_w  sum_{i in R(u)} (r_ui - mu - b_i - [y_i, 1] . w)^2 + s_u (lam |x_u|^2 + lam_b b_u^2)

    (Z^T Z + s_u diag(lam, ..., lam, lam_b)) w = Z^T t,   Z = [Y[R(u)], 1],  t = r_u - mu - b_i

with ``s_u = |R(u)|`` (ALS-WR, "weighted lambda", as Spark MLlib scales its ``regParam``) or
``s_u = 1``. The same kernel solves the items with the roles swapped (CSC instead of CSR).
Each row reads only the other side and writes only its own output, so the rows run in
parallel (``prange``) and the result does not depend on the number of threads.

Where the time goes, and how it is spent well (one ALS iteration on the synthetic ml-25m
shape, 20M training ratings; ``benchmarks/als_iteration.py`` measures it):

- Gram matrices, ``n (k + 2)^2 / 2`` multiply-adds per row of ``n`` ratings (about 110 GFLOP
  an iteration at 50 factors, 420 at 100): the rows of ``[Z, t]`` are copied 64 at a time
  into a row-major buffer and the upper triangle of ``[Z, t]^T [Z, t]`` is summed in 8 x 16
  register tiles (:mod:`fastrec.kernels._simd`; 4 x 8 without AVX-512), near the core's peak.
- Reading the other side's factors, ``8 k`` bytes a rating from anywhere in memory: the next
  64 rows are prefetched while the current 64 are summed.
- The Cholesky factorization works on the Gram matrix augmented with ``Z^T t`` (so the
  forward substitution comes out of it), four rows at a time, the update from the rows above
  done by the same register tiles.
- Rows with fewer ratings than unknowns (on the ml-25m shape 45% of the users at 50 factors,
  70% at 100) solve the smaller dual system (see ``_solve_dual``), its Gram matrix in 4 x 4
  dot-product tiles.
- Rows are split into tasks of equal estimated cost (power-law row lengths would leave one
  thread with the heavy users), each task with its own buffers, allocated once.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._simd import (
    WIDE_VECTORS,
    add_outer_4x8,
    add_outer_8x8,
    add_outer_8x16,
    dot_2x2,
    dot_4x4,
    prefetch_row,
    sub_outer_4x8,
    sub_outer_4x16,
)

# Ratings are gathered this many at a time into a row-major (_CHUNK, width) buffer, which
# stays in the L1/L2 cache while the Gram matrix is summed from it.
_CHUNK = 64
# The rows are cut into this many contiguous tasks of about equal cost, one prange iteration
# each: more tasks than threads, so that no thread waits long for the last. A constant, not
# a multiple of the thread count: numba.get_num_threads() inside a kernel would stop it from
# being cached.
_TASKS = 256
# Reassociation (for vectorized sums) without the no-NaN/no-Inf assumptions of fastmath=True,
# so that a non-finite input still fails the positive-definiteness check.
_FAST = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True)
def _round8(n):
    return (n + 7) // 8 * 8


@njit(cache=True, fastmath=_FAST)
def _gather(start, m, indices, data, other_factors, other_bias, offset, buf):
    """``buf[p] = [other_factors[c], 1, t]`` for the ``m`` entries from ``start``
    (``c = indices[start + p]``, ``t = data[start + p] - offset - other_bias[c]``)."""
    k = other_factors.shape[1]
    for p in range(m):
        c = indices[start + p]
        row = buf[p]
        y = other_factors[c]
        for a in range(k):
            row[a] = y[a]
        row[k] = 1.0
        row[k + 1] = data[start + p] - offset - other_bias[c]


@njit(cache=True, fastmath=_FAST)
def _prefetch(lo, hi, indices, other_factors):
    """Start loading the other side's rows of the entries ``lo .. hi - 1``."""
    for q in range(lo, hi):
        prefetch_row(other_factors, indices[q])


@njit(cache=True)
def _add_gram(buf, m, kt, gram):
    """``gram[b, a] += sum_{p < m} buf[p, b] buf[p, a]`` for ``b < kt`` and ``a >= b`` (also
    computed: a few ``a < b`` inside the 8 x 8 diagonal blocks, and padding up to a multiple of
    8; never read as results)."""
    width = _round8(kt)
    if WIDE_VECTORS:  # a compile-time constant: one branch is compiled
        for b in range(0, kt, 8):
            a = b
            while a + 16 <= width:
                add_outer_8x16(buf, m, b, a, gram)
                a += 16
            if a < width:
                add_outer_8x8(buf, m, b, a, gram)
    else:
        for b in range(0, kt, 4):
            for a in range(b - (b & 7), width, 8):
                add_outer_4x8(buf, m, b, a, gram)


@njit(cache=True, fastmath=_FAST)
def _cholesky_augmented(g, n):
    """Factor ``g[:n, :n] = U^T U`` in place, the right-hand side ``g[:n, n]`` with it.

    ``g`` float64[>= n + 3, >= round8(n + 1)], its upper triangle read (the rest is scratch).
    On return rows ``0 .. n-1`` hold ``[U, z]`` with ``U`` upper triangular and
    ``U^T z = g[:n, n]`` (the forward substitution of ``g x = rhs`` done). Up-looking, four
    rows at a time: ``row_j -= sum_{p < j} U[p, j] U[p, :]`` for the rows above the panel by
    register tiles, then within the panel. Returns False if ``g`` is not positive definite to
    working precision or holds NaN.
    """
    width = _round8(n + 1)
    for j0 in range(0, n, 4):
        if j0 > 0:
            a = j0 - (j0 & 7)
            while WIDE_VECTORS and a + 16 <= width:
                sub_outer_4x16(g, j0, j0, a, g)
                a += 16
            while a < width:
                sub_outer_4x8(g, j0, j0, a, g)
                a += 8
        for j in range(j0, min(j0 + 4, n)):
            rj = g[j, j : n + 1]
            for p in range(j0, j):
                f = g[p, j]
                up = g[p, j : n + 1]
                for a in range(n + 1 - j):
                    rj[a] -= f * up[a]
            d = rj[0]
            if not d > 0.0:  # also catches NaN
                return False
            d = np.sqrt(d)
            inv = 1.0 / d
            for a in range(1, n + 1 - j):
                rj[a] *= inv
            rj[0] = d
    return True


@njit(cache=True, fastmath=_FAST)
def _back_substitute(g, n, x):
    """``x[:n]`` solving ``U x = z`` after :func:`_cholesky_augmented` (``U`` the upper
    triangle of ``g[:n, :n]``, ``z = g[:n, n]``)."""
    for i in range(n - 1, -1, -1):
        ui = g[i]
        s = ui[n]
        for p in range(i + 1, n):
            s -= ui[p] * x[p]
        x[i] = s / ui[i]


@njit(cache=True, fastmath=_FAST)
def _solve_primal(
    start, end, stop, indices, data, other_factors, other_bias, offset, lam, lam_b, w, gram, buf
):
    """``w = (Z^T Z + diag(lam, .., lam, lam_b))^-1 Z^T t`` for one row; False if singular.

    The Gram matrix of ``[Z, t]`` (``Z^T Z`` and ``Z^T t`` in one pass) is summed chunk by
    chunk; while a chunk is summed, the other side's rows of the next entries (up to
    ``stop``, the end of the task) are prefetched.
    """
    k = other_factors.shape[1]
    kk = k + 1  # unknowns: factors and bias
    kt = k + 2  # plus the target
    width = _round8(kt)
    for b in range(width):
        for a in range(width):
            gram[b, a] = 0.0
    for c0 in range(start, end, _CHUNK):
        m = min(_CHUNK, end - c0)
        _gather(c0, m, indices, data, other_factors, other_bias, offset, buf)
        _prefetch(c0 + m, min(c0 + m + _CHUNK, stop), indices, other_factors)
        _add_gram(buf, m, kt, gram)
    for a in range(k):
        gram[a, a] += lam
    gram[k, k] += lam_b
    if not _cholesky_augmented(gram, kk):  # Z^T t is column kk of the upper triangle
        return False
    _back_substitute(gram, kk, w)
    return True


@njit(cache=True, fastmath=_FAST)
def _solve_dual(
    start, end, stop, indices, data, other_factors, other_bias, offset, lam, lam_b, w, gram, buf
):
    """The same solution for a row with fewer ratings ``n`` than unknowns, in ``n`` dimensions.

    ``(Z^T Z + L) w = Z^T t`` with ``L`` diagonal and invertible gives
    ``w = L^-1 Z^T alpha`` with ``(Z L^-1 Z^T + I) alpha = t`` (multiply out to check): an
    ``n x n`` system instead of ``(k + 1) x (k + 1)``. Needs ``lam > 0`` and ``lam_b > 0``.
    ``Z L^-1 Z^T = (Y Y^T + lam / lam_b) / lam`` (``lam / lam_b`` added to every entry) is
    summed as the dot products of the rows ``[y_c, sqrt(lam / lam_b), 0...]`` (zero-padded
    to a multiple of 8), by 4 x 4 tiles.
    """
    k = other_factors.shape[1]
    n = end - start
    inv_lam, inv_lam_b = 1.0 / lam, 1.0 / lam_b
    length = _round8(k + 1)
    ones = np.sqrt(lam * inv_lam_b)
    for p in range(n):
        row = buf[p]
        y = other_factors[indices[start + p]]
        for a in range(k):
            row[a] = y[a]
        row[k] = ones
        for a in range(k + 1, length):
            row[a] = 0.0
    _prefetch(end, min(end + _CHUNK, stop), indices, other_factors)
    for p in range(0, n, 4):  # rows and columns n .. n + 2 are scratch
        for q in range(p, n, 4):
            if WIDE_VECTORS:
                dot_4x4(buf, length, p, q, gram)
            else:
                for i in range(0, 4, 2):
                    for j in range(0, 4, 2):
                        dot_2x2(buf, length, p + i, q + j, gram)
    for p in range(n):
        gp = gram[p, p:n]
        for q in range(n - p):
            gp[q] *= inv_lam
        gram[p, p] += 1.0
        c = indices[start + p]
        gram[p, n] = data[start + p] - offset - other_bias[c]  # the right-hand side t
    if not _cholesky_augmented(gram, n):
        return False
    alpha = gram[n + 4]  # a spare row: the tiles and the factorization stop at row n + 2
    _back_substitute(gram, n, alpha)
    for a in range(k):
        w[a] = 0.0
    wk = w[:k]
    s = 0.0
    for p in range(n):
        ap = alpha[p]
        zp = buf[p, :k]
        for a in range(k):
            wk[a] += ap * zp[a]
        s += ap
    for a in range(k):
        w[a] *= inv_lam
    w[k] = s * inv_lam_b
    return True


@njit(cache=True)
def _task_bounds(indptr, k, use_dual, n_tasks):
    """Cut the rows into ``n_tasks`` contiguous ranges of about equal estimated cost (the
    multiply-adds of the Gram matrix and the factorization, plus a constant per row):
    int64[n_tasks + 1] row boundaries."""
    n_rows = indptr.shape[0] - 1
    kt = k + 2.0
    cost = np.empty(n_rows + 1)
    cost[0] = 0.0
    for r in range(n_rows):
        n = float(indptr[r + 1] - indptr[r])
        if n == 0.0:
            c = 1.0
        elif use_dual and n < k + 1:
            c = n * n * (k + 1) / 2.0 + n**3 / 6.0 + 4.0 * k
        else:
            c = n * kt * kt / 2.0 + (k + 1.0) ** 3 / 6.0 + 4.0 * k
        cost[r + 1] = cost[r] + c
    bounds = np.searchsorted(cost, cost[n_rows] * np.arange(n_tasks + 1) / n_tasks)
    bounds[0] = 0
    bounds[n_tasks] = n_rows
    return bounds.astype(np.int64)


@njit(cache=True, parallel=True)
def solve_biased_rows(
    indptr,
    indices,
    data,
    other_factors,
    other_bias,
    offset,
    reg,
    reg_bias,
    weighted,
    out_factors,
    out_bias,
):
    """One ALS half-sweep: every row's factors and bias, the other side held fixed.

    For each row ``r`` of the sparse matrix (``indptr``, ``indices``, ``data``) solves the
    ``(k + 1) x (k + 1)`` normal equations by a Cholesky factorization::

        (Z^T Z + s_r D) [x_r, b_r] = Z^T t,   Z = [other_factors[c], 1] for c in row r,
        t = data - offset - other_bias[c],   D = diag(reg, ..., reg, reg_bias),
        s_r = n_r (the row's number of entries) if weighted else 1

    or, for a row with fewer entries than unknowns (``n_r < k + 1``) and ``reg_bias > 0``,
    the equivalent ``n_r x n_r`` dual system (see ``_solve_dual``): the same solution to
    rounding, much cheaper for the many rows with a handful of ratings.

    Parameters
    ----------
    indptr : int32/int64[n_rows + 1], indices : int32/int64[nnz], data : float64[nnz]
        CSR (or CSC, for the item half) arrays; the column indices index ``other_*``.
    other_factors : float64[n_other, k], C-contiguous
    other_bias : float64[n_other]
    offset : float, the global mean ``mu``
    reg : float > 0, reg_bias : float >= 0
        With ``reg > 0`` the system is positive definite for every non-empty row.
    weighted : bool, ALS-WR scaling of the penalty by ``n_r``
    out_factors : float64[n_rows, k], out_bias : float64[n_rows]
        Written row by row; a row with no entries gets zeros.

    Returns
    -------
    int, the number of rows whose system was not positive definite (left at zeros); 0 with
    ``reg > 0`` unless the inputs hold non-finite values.

    Notes
    -----
    Deterministic whatever the number of threads: each row is solved by one thread, with
    buffers whose leftover contents never reach its result, in a fixed order of summation
    (so a row's result depends only on its own entries and the other side, and is the same
    when the row is solved in a block of rows of any size, as Spark tasks do).
    """
    n_rows = indptr.shape[0] - 1
    k = other_factors.shape[1]
    width = _round8(k + 2)
    use_dual = reg_bias > 0.0  # lam_b = scale * reg_bias > 0 exactly when reg_bias > 0
    n_tasks = max(1, min(n_rows, _TASKS))
    bounds = _task_bounds(indptr, k, use_dual, n_tasks)
    failed = np.zeros(n_rows, dtype=np.uint8)
    for task in prange(n_tasks):
        # gram: the Gram matrix and its factor (the tiles write rows below width; the dual's
        # spare row is n + 4 <= k + 4); buf: the gathered rows (the dual's tiles read up to
        # row n + 2 <= k + 2)
        gram = np.zeros((width + 8, width))
        buf = np.zeros((max(_CHUNK, k + 4), width))
        w = np.zeros(k + 1)
        stop = indptr[bounds[task + 1]]
        for r in range(bounds[task], bounds[task + 1]):
            start, end = indptr[r], indptr[r + 1]
            n = end - start
            ok = n > 0
            if n > 0:
                scale = float(n) if weighted else 1.0
                lam, lam_b = scale * reg, scale * reg_bias
                if use_dual and n < k + 1:
                    ok = _solve_dual(
                        start, end, stop, indices, data, other_factors, other_bias, offset,
                        lam, lam_b, w, gram, buf,
                    )  # fmt: skip
                else:
                    ok = _solve_primal(
                        start, end, stop, indices, data, other_factors, other_bias, offset,
                        lam, lam_b, w, gram, buf,
                    )  # fmt: skip
                if not ok:
                    failed[r] = 1
            # (explicit loops: a slice assignment here trips Numba's parfor lowering)
            for a in range(k):
                out_factors[r, a] = w[a] if ok else 0.0
            out_bias[r] = w[k] if ok else 0.0
    return int(failed.sum())


@njit(cache=True, parallel=True)
def row_squared_errors(indptr, indices, data, row_factors, col_factors, row_bias, col_bias, offset):
    """Per-row sum of squared errors of ``offset + row_bias + col_bias + row . col``.

    Parameters: CSR arrays of the ratings, ``row_factors`` float64[n_rows, k],
    ``col_factors`` float64[n_cols, k], ``row_bias`` float64[n_rows], ``col_bias``
    float64[n_cols], ``offset`` float. Returns float64[n_rows] (0 for empty rows); sum it in
    a fixed order for a deterministic total.
    """
    n_rows = indptr.shape[0] - 1
    k = row_factors.shape[1]
    out = np.zeros(n_rows)
    for r in prange(n_rows):
        acc = 0.0
        for p in range(indptr[r], indptr[r + 1]):
            c = indices[p]
            e = data[p] - offset - row_bias[r] - col_bias[c]
            for f in range(k):
                e -= row_factors[r, f] * col_factors[c, f]
            acc += e * e
        out[r] = acc
    return out


@njit(cache=True, parallel=True)
def predict_biased_pairs(
    users, items, user_factors, item_factors, user_bias, item_bias, offset, out
):
    """``out[n] = offset + user_bias[u] + item_bias[i] + user_factors[u] . item_factors[i]``.

    ``users``, ``items`` int32[n_pairs] codes; pairs with a code ``< 0`` are skipped (``out``
    keeps what the caller put there, e.g. a fallback). ``out`` float64[n_pairs].
    """
    k = user_factors.shape[1]
    for n in prange(users.shape[0]):
        u, i = users[n], items[n]
        if u < 0 or i < 0:
            continue
        s = offset + user_bias[u] + item_bias[i]
        for f in range(k):
            s += user_factors[u, f] * item_factors[i, f]
        out[n] = s
