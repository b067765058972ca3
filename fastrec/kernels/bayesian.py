"""Kernels for Bayesian biased matrix factorization fitted by Gibbs sampling.

Model, in standardised units ``z = (r - mu) / sd``::

    z_ui ~ N(b_u + b_i + p_u . q_i, 1 / alpha)

with independent Gaussian priors on each row's ``w = [p, b]`` (``k + 1`` numbers, a diagonal
prior precision and a prior mean). Given the other side, a row's ``w`` is a ``(k + 1)``-variate
normal (a Bayesian ridge regression)::

    A = alpha Z^T Z + diag(lam),    b = alpha Z^T t + lam * (m + o),    w ~ N(A^-1 b, A^-1)

with ``Z = [q_i, 1]`` and ``t = z_ui - b_i`` over the row's ratings, ``m`` the prior mean and
``o`` an optional per-row shift of the prior mean (the implicit-feedback sum of
``BayesianMF(implicit=True)``: the row then samples ``w + o``). With ``A = L L^T``
(Cholesky), ``w = L^-T (L^-1 b + eps)`` for ``eps ~ N(0, I)``: ``L^-T eps`` has covariance
``A^-1``. The standard normals ``eps`` come from the caller, so a kernel only transforms them:
every row reads the other side and writes its own output, the rows run in parallel
(``prange``) and the draw does not depend on the number of threads.

:func:`sample_implicit` is the exact Gibbs step of the implicit-feedback vectors ``y_j`` (each
shared by every user who rated ``j``; ``k + 1`` numbers, an implicit factor and bias), item
after item, with the relation-block bookkeeping of Rendle (2013) that makes a sweep cost
``O(nnz k^2)`` instead of ``O(sum_u |N(u)|^2 k)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# A row's ratings are gathered this many at a time into a (k + 2) x _CHUNK buffer that stays in
# L1 cache while the Gram matrix is accumulated from it.
_CHUNK = 64
# Rows per parallel task of sample_rows (the scratch arrays are allocated once per task).
_ROWS = 32
# Reassociation (for vectorized sums) without the no-NaN/no-Inf assumptions of fastmath=True,
# so that a non-finite input still fails the positive-definiteness check.
_FAST = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True, fastmath=_FAST)
def _cholesky(a, n):
    """``a[:n, :n] = L`` (lower triangle) with ``L L^T = a``, in place; False if ``a`` is not
    positive definite to working precision or holds NaN (``a`` is then garbage)."""
    for j in range(n):
        d = a[j, j]
        for p in range(j):
            d -= a[j, p] * a[j, p]
        if not d > 0.0:  # also catches NaN
            return False
        d = np.sqrt(d)
        a[j, j] = d
        for i in range(j + 1, n):
            s = a[i, j]
            for p in range(j):
                s -= a[i, p] * a[j, p]
            a[i, j] = s / d
    return True


@njit(cache=True, fastmath=_FAST)
def _draw(chol, b, eps, n):
    """``b = L^-T (L^-1 b + eps)`` in place (``L`` the lower triangle of ``chol[:n, :n]``): a
    draw from ``N(A^-1 b, A^-1)`` for ``A = L L^T`` (the mean alone for ``eps = 0``)."""
    for i in range(n):  # L y = b
        s = b[i]
        for p in range(i):
            s -= chol[i, p] * b[p]
        b[i] = s / chol[i, i]
    for i in range(n):
        b[i] += eps[i]
    for i in range(n - 1, -1, -1):  # L^T w = y + eps
        s = b[i]
        for p in range(i + 1, n):
            s -= chol[p, i] * b[p]
        b[i] = s / chol[i, i]


@njit(cache=True, fastmath=_FAST)
def _row_gram(start, end, indices, data, other, gram, buf):
    """The Gram matrix of ``[Z, t]`` for one row, ``Z = [other[c, :k], 1]``,
    ``t = data - other[c, k]``: lower triangle of ``gram[:k + 2, :k + 2]`` (``Z^T Z`` in
    ``[:k + 1, :k + 1]``, ``Z^T t`` in row ``k + 1``), accumulated chunk by chunk from a
    transposed gather buffer, two rows by four columns at a time (a 2 x 4 register block;
    1.3x the speed of 2 x 2 at k = 10 and 32, and as fast as 4 x 4). ``gram``
    float64[kp, kp] and ``buf`` float64[kp, _CHUNK] with ``kp`` the multiple of 4 from
    ``k + 2`` up; the padding rows of ``buf`` (``k + 2`` on) must hold zeros."""
    k = other.shape[1] - 1
    kp = gram.shape[0]
    gram[:, :] = 0.0
    for c0 in range(start, end, _CHUNK):
        m = min(_CHUNK, end - c0)
        for p in range(m):
            c = indices[c0 + p]
            for a in range(k):
                buf[a, p] = other[c, a]
            buf[k, p] = 1.0
            buf[k + 1, p] = data[c0 + p] - other[c, k]
        for a in range(0, kp, 2):
            for b in range(0, a + 2, 4):
                s00 = 0.0
                s01 = 0.0
                s02 = 0.0
                s03 = 0.0
                s10 = 0.0
                s11 = 0.0
                s12 = 0.0
                s13 = 0.0
                for p in range(m):
                    x0 = buf[a, p]
                    x1 = buf[a + 1, p]
                    y0 = buf[b, p]
                    y1 = buf[b + 1, p]
                    y2 = buf[b + 2, p]
                    y3 = buf[b + 3, p]
                    s00 += x0 * y0
                    s01 += x0 * y1
                    s02 += x0 * y2
                    s03 += x0 * y3
                    s10 += x1 * y0
                    s11 += x1 * y1
                    s12 += x1 * y2
                    s13 += x1 * y3
                gram[a, b] += s00
                gram[a, b + 1] += s01
                gram[a, b + 2] += s02
                gram[a, b + 3] += s03
                gram[a + 1, b] += s10
                gram[a + 1, b + 1] += s11
                gram[a + 1, b + 2] += s12
                gram[a + 1, b + 3] += s13


@njit(cache=True, parallel=True, fastmath=_FAST)
def sample_rows(
    indptr,
    indices,
    data,
    other,
    alpha,
    prior_mean,
    prior_prec,
    shift,
    normals,
    out,
    out_sse,
    out_gram,
    out_grad,
):
    """One half-sweep of block Gibbs: every row's ``w_r = [p_r, b_r]`` given the other side.

    For each row ``r`` with ratings, with ``Z = [other[c, :k], 1]``, ``t = data - other[c, k]``
    over its entries ``c``::

        A = alpha Z^T Z + diag(prior_prec)
        b = alpha Z^T t + prior_prec * (prior_mean + shift[r])
        v = L^-T (L^-1 b + normals[r]),   A = L L^T

    so ``v ~ N(A^-1 b, A^-1)``: the conditional of ``v = w_r + shift[r]``, the vector the
    predictions use, when ``w_r ~ N(prior_mean, diag(1 / prior_prec))``. Then
    ``out[r] = v - shift[r]``.

    Parameters
    ----------
    indptr : int32/int64[n_rows + 1], indices : int32[nnz], data : float64[nnz]
        CSR (or CSC, for the item side) arrays of the standardised ratings; ``indices`` index
        ``other``.
    other : float64[n_other, k + 1], C-contiguous
        The other side's factors and biases as the predictions use them.
    alpha : float > 0, the noise precision
    prior_mean, prior_prec : float64[k + 1], factors then bias; ``prior_prec > 0``
    shift : float64[n_rows, k + 1] or float64[0, k + 1] (no shift)
    normals : float64[n_rows, k + 1], standard normal draws (row ``r`` used by row ``r``)
    out : float64[n_rows, k + 1]
        Written for every row with ratings; rows without ratings are left as they are.
    out_sse : float64[n_rows]
        Each row's sum of squared residuals ``(t - Z v)^2`` after its draw (0 for a row
        without ratings).
    out_gram : float64[n_rows, k + 1, k + 1] or float64[0, k + 1, k + 1]
        Where given, each row's ``Z^T Z`` (full symmetric).
    out_grad : float64[n_rows, k + 1] or float64[0, k + 1]
        Where given, each row's ``Z^T e`` with the residuals ``e = t - Z v`` after the draw
        (0 for a row without ratings).

    Returns
    -------
    int, the number of rows whose precision matrix was not positive definite (left as they
    were); 0 unless the inputs hold non-finite values.
    """
    n_rows = indptr.shape[0] - 1
    kk = other.shape[1]  # unknowns: factors and bias
    k = kk - 1
    kt = k + 2  # plus the target row
    kp = (kt + 3) // 4 * 4  # padded to a multiple of 4 rows for the 2 x 4 blocks
    shifted = shift.shape[0] > 0
    want_gram = out_gram.shape[0] > 0
    want_grad = out_grad.shape[0] > 0
    failed = np.zeros(n_rows, dtype=np.uint8)
    n_blocks = (n_rows + _ROWS - 1) // _ROWS
    # rows in blocks: the scratch arrays are allocated once per block, not per row (most rows
    # of a long-tailed side have a handful of ratings); each row's result is its own
    for blk in prange(n_blocks):
        gram = np.empty((kp, kp))
        buf = np.zeros((kp, _CHUNK))  # its padding rows stay 0
        w = np.empty(kk)
        for r in range(blk * _ROWS, min(n_rows, (blk + 1) * _ROWS)):
            start, end = indptr[r], indptr[r + 1]
            out_sse[r] = 0.0
            if want_grad:
                for a in range(kk):
                    out_grad[r, a] = 0.0
            if end == start:
                continue
            _row_gram(start, end, indices, data, other, gram, buf)
            if want_gram:
                for a in range(kk):
                    for b in range(a + 1):
                        out_gram[r, a, b] = gram[a, b]
                        out_gram[r, b, a] = gram[a, b]
            for a in range(kk):
                w[a] = alpha * gram[kt - 1, a] + prior_prec[a] * prior_mean[a]
                if shifted:
                    w[a] += prior_prec[a] * shift[r, a]
                for b in range(a + 1):
                    gram[a, b] *= alpha
                gram[a, a] += prior_prec[a]
            if not _cholesky(gram, kk):
                failed[r] = 1
                continue
            _draw(gram, w, normals[r], kk)
            # residuals after the draw: the row's SSE (for alpha), gradient (implicit step)
            sse = 0.0
            for p in range(start, end):
                c = indices[p]
                e = data[p] - other[c, k] - w[k]
                for a in range(k):
                    e -= other[c, a] * w[a]
                sse += e * e
                if want_grad:
                    for a in range(k):
                        out_grad[r, a] += other[c, a] * e
                    out_grad[r, k] += e
            out_sse[r] = sse
            for a in range(kk):
                out[r, a] = w[a] - shift[r, a] if shifted else w[a]
    return int(failed.sum())


@njit(cache=True, fastmath=_FAST)
def sample_implicit(
    indptr, indices, scale, gram, grad, alpha, prior_mean, prior_prec, normals, y, y_sum
):
    """One exact Gibbs pass over the implicit-feedback vectors ``y_j``, item after item.

    Model: user ``u`` predicts with ``w_u + y_sum[u]`` (``w_u = [p_u, b_u]``, ``d = k + 1``
    numbers, against ``Z_i = [q_i, 1]``), ``y_sum[u] = scale[u] sum_{j in N(u)} y_j``,
    ``scale[u] = |N(u)|^-1/2``. Given everything else, ``y_j`` enters the residual of every
    rating of every user ``u`` in ``M(j)`` (the users who rated ``j``) linearly, through
    ``scale[u] y_j . Z_i``, so its conditional is normal with precision and linear term::

        A_j = diag(prior_prec) + alpha sum_{u in M(j)} scale[u]^2 gram[u]
        b_j = prior_prec * prior_mean + alpha sum_{u in M(j)} scale[u] grad[u]
              + (A_j - diag(prior_prec)) y_j

    where ``gram[u] = sum_{i in N(u)} Z_i Z_i^T`` and ``grad[u] = sum_{i in N(u)} Z_i e_ui``
    holds the user's current residuals (those of ``y_j``'s current value). After drawing
    ``y_j`` (``delta`` its change) every user of ``M(j)`` is brought up to date,
    ``grad[u] -= scale[u] gram[u] delta`` and ``y_sum[u] += scale[u] delta``: ``O(d^2)`` per
    rating, exact, no residual revisited (Rendle's relation blocks); ``A_j`` is summed in the
    same pass over ``M(j)``, while those ``gram[u]`` are in cache. The items are visited in
    code order, one after another (the conditional of ``y_j`` depends on the ``y`` drawn
    before it), on one thread.

    Parameters
    ----------
    indptr : int32/int64[n_items + 1], indices : int32[nnz]
        CSC pattern of the training ratings (the users of each item).
    scale : float64[n_users]
    gram : float64[n_users, d, d] (symmetric)
    grad : float64[n_users, d], updated in place
    alpha : float, prior_mean, prior_prec : float64[d] (``prior_prec > 0``)
    normals : float64[n_items, d], standard normal draws
    y : float64[n_items, d], y_sum : float64[n_users, d]
        Updated in place; an item without ratings keeps its ``y_j``.

    Returns
    -------
    int, the number of items whose ``A_j`` was not positive definite (``y_j`` left as it
    was); 0 unless the inputs hold non-finite values.
    """
    n_items = indptr.shape[0] - 1
    d = y.shape[1]
    a = np.empty((d, d))
    lin = np.empty(d)
    delta = np.empty(d)
    failed = 0
    for j in range(n_items):
        start, end = indptr[j], indptr[j + 1]
        if end == start:
            continue
        for x in range(d):
            lin[x] = 0.0
            for z in range(x + 1):
                a[x, z] = 0.0
        for p in range(start, end):
            u = indices[p]
            s = alpha * scale[u]
            s2 = s * scale[u]
            g = gram[u]
            for x in range(d):
                lin[x] += s * grad[u, x]
                for z in range(x + 1):
                    a[x, z] += s2 * g[x, z]
        # + (A_j - diag(prior_prec)) y_j, the part of the residuals due to y_j itself
        for x in range(d):
            acc = 0.0
            for z in range(x + 1):
                acc += a[x, z] * y[j, z]
            for z in range(x + 1, d):
                acc += a[z, x] * y[j, z]
            lin[x] += acc + prior_prec[x] * prior_mean[x]
            a[x, x] += prior_prec[x]
        if not _cholesky(a, d):
            failed += 1
            continue
        _draw(a, lin, normals[j], d)
        for x in range(d):
            delta[x] = lin[x] - y[j, x]
            y[j, x] = lin[x]
        for p in range(start, end):
            u = indices[p]
            s = scale[u]
            g = gram[u]
            for x in range(d):
                acc = 0.0
                for z in range(d):
                    acc += g[x, z] * delta[z]
                grad[u, x] -= s * acc
                y_sum[u, x] += s * delta[x]
    return failed


@njit(cache=True, parallel=True)
def implicit_sums(indptr, indices, scale, y, out):
    """``out[r] = scale[r] sum_{c in row r} y[c]`` for every row of a CSR pattern (parallel);
    float64[n_rows, k]; 0 for an empty row."""
    n_rows = indptr.shape[0] - 1
    k = y.shape[1]
    for r in prange(n_rows):
        for a in range(k):
            out[r, a] = 0.0
        for p in range(indptr[r], indptr[r + 1]):
            c = indices[p]
            for a in range(k):
                out[r, a] += y[c, a]
        for a in range(k):
            out[r, a] *= scale[r]


@njit(cache=True, parallel=True)
def predict_sampled_pairs(users, items, user_samples, item_samples, user_bias, item_bias, mu, out):
    """``out[n] = mu + user_bias[u] + item_bias[i] + user_samples[u] . item_samples[i]``.

    ``users``, ``items`` int32[n_pairs] codes; a pair with a code ``< 0`` is skipped (``out``
    keeps what the caller put there). ``user_samples`` float32[n_users, d],
    ``item_samples`` float32[n_items, d] (the stored samples side by side, the average's
    ``1 / S`` folded into the items); biases float64; sums in float64; ``out`` float64.
    """
    d = user_samples.shape[1]
    for n in prange(users.shape[0]):
        u, i = users[n], items[n]
        if u < 0 or i < 0:
            continue
        s = 0.0
        for f in range(d):
            s += np.float64(user_samples[u, f]) * np.float64(item_samples[i, f])
        out[n] = mu + user_bias[u] + item_bias[i] + s


@njit(cache=True)
def column_moments(x, rows):
    """Per column of ``x[rows]`` (float64[n, d], ``rows`` int64[m]): the count ``m``, the mean
    and the sum of squared deviations from it, float64[d] each, summed row after row (the
    same bits whatever the memory layout of ``x``)."""
    d = x.shape[1]
    m = rows.shape[0]
    mean = np.zeros(d)
    spread = np.zeros(d)
    for r in rows:
        for a in range(d):
            mean[a] += x[r, a]
    if m > 0:
        for a in range(d):
            mean[a] /= m
    for r in rows:
        for a in range(d):
            e = x[r, a] - mean[a]
            spread[a] += e * e
    return m, mean, spread
