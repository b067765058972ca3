"""Kernels for latent-factor models: sparse products for truncated SVD, predictions at
requested (user, item) pairs, and stochastic-gradient epochs of biased matrix factorization.

Every function takes raw CSR arrays (``indptr``, ``indices``, ``data``) and plain numpy arrays.
A user or item code of ``-1`` in a pair list means "no training rating"; the prediction kernels
give such a pair no factor term (0) and leave the fallback to the caller.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .keyed import _GAMMA, _mix, _seed_state

# --------------------------------------------------------------------------- SVD


@njit(cache=True, parallel=True)
def center_rows(indptr, data):
    """Mean of each row's stored entries, and the stored entries minus their row's mean.

    Parameters
    ----------
    indptr : int32/int64[n_rows + 1], data : float64[nnz]  (a CSR matrix's arrays)

    Returns
    -------
    means : float64[n_rows]  (0 for a row without entries)
    centred : float64[nnz]   (``data[p] - means[row of p]``; entries not stored stay 0,
              i.e. only the ratings are centred, as the post's dense matrix with 0 for "no rating")
    """
    n_rows = indptr.shape[0] - 1
    means = np.zeros(n_rows)
    centred = np.empty_like(data)
    for r in prange(n_rows):
        start, end = indptr[r], indptr[r + 1]
        if start == end:
            continue
        acc = 0.0
        for p in range(start, end):
            acc += data[p]
        m = acc / (end - start)
        means[r] = m
        for p in range(start, end):
            centred[p] = data[p] - m
    return means, centred


@njit(cache=True, parallel=True)
def multiply_csr_dense(indptr, indices, data, x, out):
    """``out = A @ x`` for a CSR matrix ``A`` (n_rows x n_cols) and a dense ``x``.

    ``x``: float64[n_cols, m] (C-contiguous), ``out``: float64[n_rows, m], overwritten; each
    row of ``out`` is written by one thread. ``A.T @ x`` is this kernel on the CSC arrays
    (the CSR arrays of ``A.T``). Replaces scipy's single-threaded sparse product.
    """
    n_rows = indptr.shape[0] - 1
    m = x.shape[1]
    if m == 1:  # a matrix-vector product (ARPACK's): accumulate in a register
        for r in prange(n_rows):
            acc = 0.0
            for p in range(indptr[r], indptr[r + 1]):
                acc += data[p] * x[indices[p], 0]
            out[r, 0] = acc
        return
    for r in prange(n_rows):
        for j in range(m):
            out[r, j] = 0.0
        for p in range(indptr[r], indptr[r + 1]):
            c = indices[p]
            v = data[p]
            for j in range(m):
                out[r, j] += v * x[c, j]


@njit(cache=True, parallel=True)
def reconstruct_at(users, items, user_vectors, singular_values, item_vectors, out):
    """``out[j] = sum_f U[u, f] * s[f] * Vt[f, i]`` at the pairs ``(u, i) = (users[j], items[j])``.

    The entries of ``U @ diag(s) @ Vt`` at the requested pairs only; the dense product is
    never formed.

    Parameters
    ----------
    users, items : int32[n_pairs]  codes; ``-1`` (no training rating) gives ``out[j] = 0``
    user_vectors : float64[n_users, k]  ``U``
    singular_values : float64[k]  ``s``
    item_vectors : float64[n_items, k]  ``Vt.T`` (one contiguous row per item)
    out : float64[n_pairs], overwritten
    """
    k = singular_values.shape[0]
    for j in prange(users.shape[0]):
        u, i = users[j], items[j]
        if u < 0 or i < 0:
            out[j] = 0.0
            continue
        acc = 0.0
        for f in range(k):
            acc += user_vectors[u, f] * singular_values[f] * item_vectors[i, f]
        out[j] = acc


# ------------------------------------------------------------------ biased MF


@njit(cache=True, parallel=True)
def predict_biased_at(
    users, items, global_mean, user_bias, item_bias, user_factors, item_factors, out
):
    """``out[j] = mu + b_u + b_i + p_u . q_i`` at the pairs ``(users[j], items[j])``.

    Parameters
    ----------
    users, items : int32[n_pairs]  codes; ``-1`` drops that side's bias and factors
    global_mean : float ``mu``
    user_bias : float32[n_users], item_bias : float32[n_items]
    user_factors : float32[n_users, k], item_factors : float32[n_items, k]
    out : float64[n_pairs], overwritten (sums in float64)
    """
    k = user_factors.shape[1]
    for j in prange(users.shape[0]):
        u, i = users[j], items[j]
        acc = global_mean
        if u >= 0:
            acc += user_bias[u]
        if i >= 0:
            acc += item_bias[i]
        if u >= 0 and i >= 0:
            dot = 0.0
            for f in range(k):
                dot += np.float64(user_factors[u, f]) * item_factors[i, f]
            acc += dot
        out[j] = acc


@njit(cache=True, parallel=True)
def rating_order_keys(seed, user_keys, item_keys, users, items):
    """The 64-bit sort key of each rating in the stratified SGD schedule, a function of
    ``(seed, user id, item id)`` only.

    ``out[p] = mix((mix(seed + G) ^ pair) + G)`` with ``pair = mix(mix(user_keys[users[p]] + G)
    ^ item_keys[items[p]])``: the first word of the keyed stream of the pair's key
    (:func:`fastrec.kernels.keyed.pair_keys`), whose top 53 bits are
    :func:`~fastrec.kernels.keyed.keyed_uniform` ``(seed, pair_keys(uk, ik))``. A bijection of
    the pair key, so distinct (user, item) pairs collide only if their 64-bit pair keys do.

    Parameters
    ----------
    seed : int
    user_keys : uint64[n_users], item_keys : uint64[n_items]  (:func:`fastrec.keys.id_keys`)
    users, items : int32[n]  codes into the key arrays

    Returns
    -------
    uint64[n]
    """
    base = _seed_state(seed)
    n = users.shape[0]
    out = np.empty(n, dtype=np.uint64)
    for p in prange(n):
        pair = _mix(_mix(user_keys[users[p]] + _GAMMA) ^ item_keys[items[p]])
        out[p] = _mix((base ^ pair) + _GAMMA)
    return out


@njit(cache=True, parallel=True)
def arrange_blocks(users, items, ratings, sort_keys, user_group, item_group, n_blocks):
    """Ratings regrouped into the ``n_blocks x n_blocks`` blocks of a stratified SGD epoch,
    each block in increasing order of ``sort_keys``.

    Rating ``p`` lies in block ``(user_group[users[p]], item_group[items[p]])``. Within a
    block the ratings are sorted by ``sort_keys`` (:func:`rating_order_keys`), equal keys by
    ``(user, item, rating)``: the result depends on the set of ratings, never on the order in
    which they come, so a worker that holds one block's rows in any order arranges them as one
    machine does. Blocks are sorted on parallel threads.

    Parameters
    ----------
    users, items : int32[n], ratings : float64[n]
    sort_keys : uint64[n]
    user_group : int32[n_users], item_group : int32[n_items]  values in ``[0, n_blocks)``
    n_blocks : int

    Returns
    -------
    block_ptr : int64[n_blocks * n_blocks + 1]  block ``(g, h)`` holds positions
        ``block_ptr[g * n_blocks + h] : block_ptr[g * n_blocks + h + 1]``
    block_users, block_items : int32[n], block_ratings : float32[n]
    """
    n = users.shape[0]
    n_cells = n_blocks * n_blocks
    block_ptr = np.zeros(n_cells + 1, dtype=np.int64)
    for p in range(n):
        block_ptr[user_group[users[p]] * n_blocks + item_group[items[p]] + 1] += 1
    for b in range(n_cells):
        block_ptr[b + 1] += block_ptr[b]
    fill = block_ptr[:-1].copy()
    block_users = np.empty(n, dtype=np.int32)
    block_items = np.empty(n, dtype=np.int32)
    block_ratings = np.empty(n, dtype=np.float32)
    block_keys = np.empty(n, dtype=np.uint64)
    for p in range(n):
        b = user_group[users[p]] * n_blocks + item_group[items[p]]
        dest = fill[b]
        fill[b] += 1
        block_users[dest] = users[p]
        block_items[dest] = items[p]
        block_ratings[dest] = ratings[p]
        block_keys[dest] = sort_keys[p]
    for b in prange(n_cells):
        _sort_block(
            block_ptr[b], block_ptr[b + 1], block_keys, block_users, block_items, block_ratings
        )
    return block_ptr, block_users, block_items, block_ratings


@njit(cache=True)
def _sort_block(start, end, keys, users, items, ratings):
    """Sort positions ``start:end`` of the four arrays by ``(keys, users, items, ratings)``.

    The keys are 64-bit hashes, close to uniform: a counting sort on their top
    ``ceil(log2(m))`` bits deals the ``m`` ratings into about ``m`` buckets, and an insertion
    sort puts each bucket (about one rating) in order; linear time in practice, and exact
    for any keys (equal keys only cost time).
    """
    m = end - start
    if m < 2:
        return
    bits = 1
    while (1 << bits) < m:
        bits += 1
    shift = np.uint64(64 - bits)
    ptr = np.zeros((1 << bits) + 1, dtype=np.int64)
    for p in range(start, end):
        ptr[np.int64(keys[p] >> shift) + 1] += 1
    for b in range(1 << bits):
        ptr[b + 1] += ptr[b]
    k, u = keys[start:end].copy(), users[start:end].copy()
    i, r = items[start:end].copy(), ratings[start:end].copy()
    fill = ptr[:-1].copy()
    for q in range(m):
        b = np.int64(k[q] >> shift)
        d = start + fill[b]
        fill[b] += 1
        keys[d], users[d], items[d], ratings[d] = k[q], u[q], i[q], r[q]
    for b in range(1 << bits):
        lo, hi = start + ptr[b], start + ptr[b + 1]
        for a in range(lo + 1, hi):
            ka, ua, ia, ra = keys[a], users[a], items[a], ratings[a]
            c = a - 1
            while c >= lo and _after(keys[c], users[c], items[c], ratings[c], ka, ua, ia, ra):
                keys[c + 1], users[c + 1], items[c + 1] = keys[c], users[c], items[c]
                ratings[c + 1] = ratings[c]
                c -= 1
            keys[c + 1], users[c + 1], items[c + 1], ratings[c + 1] = ka, ua, ia, ra


@njit(cache=True, inline="always")
def _after(k1, u1, i1, r1, k2, u2, i2, r2):
    """Whether ``(k1, u1, i1, r1)`` comes after ``(k2, u2, i2, r2)`` (lexicographic)."""
    if k1 != k2:
        return k1 > k2
    if u1 != u2:
        return u1 > u2
    if i1 != i2:
        return i1 > i2
    return r1 > r2


@njit(cache=True, fastmath=True)
def sgd_block(
    start,
    end,
    users,
    items,
    ratings,
    global_mean,
    user_bias,
    item_bias,
    user_factors,
    item_factors,
    lr,
    reg,
    reg_bias,
):
    """One SGD pass over the ratings at positions ``start:end``, in order; returns the sum of
    the squared errors seen before each update.

    For each rating ``r`` of user ``u`` and item ``i`` (Funk; Koren 2008; Surprise's SVD)::

        e   = r - (mu + b_u + b_i + p_u . q_i)
        b_u += lr * (e - reg_bias * b_u)
        b_i += lr * (e - reg_bias * b_i)
        p_u += lr * (e * q_i - reg * p_u)      (both with the values from before this rating)
        q_i += lr * (e * p_u - reg * q_i)

    All arrays float32 (``users``/``items`` int32); ``global_mean``, ``lr``, ``reg``,
    ``reg_bias`` float32 scalars so that the arithmetic stays in float32.
    """
    k = user_factors.shape[1]
    sse = 0.0
    for p in range(start, end):
        u = users[p]
        i = items[p]
        dot = np.float32(0.0)
        for f in range(k):
            dot += user_factors[u, f] * item_factors[i, f]
        err = ratings[p] - (global_mean + user_bias[u] + item_bias[i] + dot)
        sse += err * err
        user_bias[u] += lr * (err - reg_bias * user_bias[u])
        item_bias[i] += lr * (err - reg_bias * item_bias[i])
        for f in range(k):
            pf = user_factors[u, f]
            qf = item_factors[i, f]
            user_factors[u, f] = pf + lr * (err * qf - reg * pf)
            item_factors[i, f] = qf + lr * (err * pf - reg * qf)
    return sse


@njit(cache=True, parallel=True)
def sgd_epoch(block_ptr, strata, n_blocks, *sgd_args):
    """One stratified SGD epoch (DSGD, Gemulla et al. 2011) over ratings arranged by
    :func:`arrange_blocks`; updates biases and factors in place, returns the sum of squared
    errors seen.

    The epoch runs ``n_blocks`` strata, in the order ``strata`` (a permutation of
    ``range(n_blocks)``). Stratum ``s`` is the blocks ``(g, (g + s) % n_blocks)`` for every
    user group ``g``: no two of them share a user or an item, so they run on parallel threads
    without locks or races, and the result is the same as running them one after another
    (:func:`sgd_block` in order): deterministic on any number of threads.

    ``strata``: int64[n_blocks]; ``sgd_args``: the arguments of :func:`sgd_block` after
    ``start, end`` (``users, items, ratings, global_mean, user_bias, item_bias, user_factors,
    item_factors, lr, reg, reg_bias``), passed positionally.
    """
    sse_per_block = np.zeros(n_blocks)
    total = 0.0
    for t in range(strata.shape[0]):
        s = strata[t]
        for g in prange(n_blocks):
            b = g * n_blocks + (g + s) % n_blocks
            sse_per_block[g] = sgd_block(block_ptr[b], block_ptr[b + 1], *sgd_args)
        for g in range(n_blocks):  # summed in a fixed order: the same on any thread count
            total += sse_per_block[g]
    return total
