"""Kernels for explicit biased matrix factorization by alternating least squares (ALS).

The model is ``r_ui ~ mu + b_u + b_i + x_u . y_i``. With the item side fixed, each user's
``(k + 1)``-vector ``w_u = [x_u, b_u]`` is the exact minimiser of a ridge regression::

    min_w  sum_{i in R(u)} (r_ui - mu - b_i - [y_i, 1] . w)^2 + s_u (lam |x_u|^2 + lam_b b_u^2)

    (Z^T Z + s_u diag(lam, ..., lam, lam_b)) w = Z^T t,   Z = [Y[R(u)], 1],  t = r_u - mu - b_i

with ``s_u = |R(u)|`` (ALS-WR, "weighted lambda", as Spark MLlib scales its ``regParam``) or
``s_u = 1``. The same kernel solves the items with the roles swapped (CSC instead of CSR).
Each row reads only the other side and writes only its own output, so the rows run in
parallel (``prange``) and the result does not depend on the number of threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# A row's ratings are gathered this many at a time into a (k + 2) x _CHUNK buffer that stays in
# L1 cache while the Gram matrix is accumulated from it.
_CHUNK = 64
# Reassociation (for vectorized sums) without the no-NaN/no-Inf assumptions of fastmath=True,
# so that a non-finite input still fails the positive-definiteness check.
_FAST = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True, fastmath=_FAST)
def _cholesky_solve(a, b, k):
    """Solve ``a x = b`` in place for a symmetric positive definite ``a`` (lower triangle read).

    ``a`` float64[>= k, >= k] is overwritten by its Cholesky factor L (lower triangle),
    ``b`` float64[>= k] by the solution. Returns False (``b`` then holds garbage) if ``a`` is
    not positive definite to working precision or holds NaN.
    """
    for j in range(k):
        d = a[j, j]
        for p in range(j):
            d -= a[j, p] * a[j, p]
        if not d > 0.0:  # also catches NaN
            return False
        d = np.sqrt(d)
        a[j, j] = d
        for i in range(j + 1, k):
            s = a[i, j]
            for p in range(j):
                s -= a[i, p] * a[j, p]
            a[i, j] = s / d
    for i in range(k):  # L z = b
        s = b[i]
        for p in range(i):
            s -= a[i, p] * b[p]
        b[i] = s / a[i, i]
    for i in range(k - 1, -1, -1):  # L^T x = z
        s = b[i]
        for p in range(i + 1, k):
            s -= a[p, i] * b[p]
        b[i] = s / a[i, i]
    return True


@njit(cache=True, fastmath=_FAST)
def _solve_primal(start, end, indices, data, other_factors, other_bias, offset, lam, lam_b, w):
    """``w = (Z^T Z + diag(lam, .., lam, lam_b))^-1 Z^T t`` for one row; False if singular.

    The Gram matrix of ``[Z, t]`` (``Z^T Z`` and ``Z^T t`` in one pass) is accumulated chunk by
    chunk from a transposed gather buffer, two rows by two columns at a time (a 2 x 2 register
    block: half the loads of a plain dot product per multiply-add).
    """
    k = other_factors.shape[1]
    kk = k + 1  # unknowns: factors and bias
    kt = k + 2  # plus the target row
    kp = kt + (kt & 1)  # padded to an even number of rows for the 2 x 2 blocks
    gram = np.zeros((kp, kp))
    buf = np.zeros((kp, _CHUNK))
    for c0 in range(start, end, _CHUNK):
        m = min(_CHUNK, end - c0)
        for p in range(m):
            c = indices[c0 + p]
            for a in range(k):
                buf[a, p] = other_factors[c, a]
            buf[k, p] = 1.0
            buf[kk, p] = data[c0 + p] - offset - other_bias[c]
        for a in range(0, kp, 2):
            for b in range(0, a + 1, 2):
                s00 = 0.0
                s01 = 0.0
                s10 = 0.0
                s11 = 0.0
                for p in range(m):
                    x0 = buf[a, p]
                    x1 = buf[a + 1, p]
                    y0 = buf[b, p]
                    y1 = buf[b + 1, p]
                    s00 += x0 * y0
                    s01 += x0 * y1
                    s10 += x1 * y0
                    s11 += x1 * y1
                gram[a, b] += s00
                gram[a, b + 1] += s01
                gram[a + 1, b] += s10
                gram[a + 1, b + 1] += s11
    for a in range(k):
        gram[a, a] += lam
    gram[k, k] += lam_b
    for a in range(kk):
        w[a] = gram[kk, a]  # Z^T t, the target row of the Gram matrix
    return _cholesky_solve(gram, w, kk)


@njit(cache=True, fastmath=_FAST)
def _solve_dual(start, end, indices, data, other_factors, other_bias, offset, lam, lam_b, w):
    """The same solution for a row with fewer ratings ``n`` than unknowns, in ``n`` dimensions.

    ``(Z^T Z + L) w = Z^T t`` with ``L`` diagonal and invertible gives
    ``w = L^-1 Z^T alpha`` with ``(Z L^-1 Z^T + I) alpha = t`` (multiply out to check): an
    ``n x n`` system instead of ``(k + 1) x (k + 1)``. Needs ``lam > 0`` and ``lam_b > 0``.
    """
    k = other_factors.shape[1]
    n = end - start
    g = np.empty((n, n))
    alpha = np.empty(n)
    inv_lam, inv_lam_b = 1.0 / lam, 1.0 / lam_b
    for p in range(n):
        cp = indices[start + p]
        alpha[p] = data[start + p] - offset - other_bias[cp]
        for q in range(p + 1):
            cq = indices[start + q]
            s = 0.0
            for a in range(k):
                s += other_factors[cp, a] * other_factors[cq, a]
            g[p, q] = s * inv_lam + inv_lam_b
        g[p, p] += 1.0
    if not _cholesky_solve(g, alpha, n):
        return False
    w[:] = 0.0
    for p in range(n):
        c = indices[start + p]
        for a in range(k):
            w[a] += other_factors[c, a] * alpha[p]
        w[k] += alpha[p]
    for a in range(k):
        w[a] *= inv_lam
    w[k] *= inv_lam_b
    return True


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
    indptr : int32/int64[n_rows + 1], indices : int32[nnz], data : float64[nnz]
        CSR (or CSC, for the item half) arrays; the column indices index ``other_*``.
    other_factors : float64[n_other, k], C-contiguous
    other_bias : float64[n_other]
    offset : float, the global mean ``mu``
    reg : float > 0, reg_bias : float >= 0
        With ``reg > 0`` the system is positive definite for every non-empty row.
    weighted : bool, ALS-WR scaling of the penalty by ``n_r``
    out_factors : float64[n_rows, k], out_bias : float64[n_rows]
        Written row by row (each row its own output: deterministic whatever the number of
        threads); a row with no entries gets zeros.

    Returns
    -------
    int, the number of rows whose system was not positive definite (left at zeros); 0 with
    ``reg > 0`` unless the inputs hold non-finite values.
    """
    n_rows = indptr.shape[0] - 1
    k = other_factors.shape[1]
    failed = np.zeros(n_rows, dtype=np.uint8)
    for r in prange(n_rows):
        start, end = indptr[r], indptr[r + 1]
        n = end - start
        w = np.empty(k + 1)
        ok = n > 0
        if n > 0:
            scale = float(n) if weighted else 1.0
            lam, lam_b = scale * reg, scale * reg_bias
            if n < k + 1 and lam_b > 0.0:
                ok = _solve_dual(
                    start, end, indices, data, other_factors, other_bias, offset, lam, lam_b, w
                )
            else:
                ok = _solve_primal(
                    start, end, indices, data, other_factors, other_bias, offset, lam, lam_b, w
                )
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
