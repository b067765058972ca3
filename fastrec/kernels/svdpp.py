"""Kernels for SVD++ (Koren 2008) trained by stochastic gradient descent.

Model: ``r_ui ~ mu + b_u + b_i + q_i . (p_u + z_u)``, ``z_u = |N(u)|^-1/2 sum_{j in N(u)} y_j``
with ``N(u)`` the items ``u`` rated in the training set.

Per rating, plain SGD (Surprise's ``SVDpp``) recomputes ``z_u`` from all ``y_j`` and updates
every ``y_j`` of ``N(u)``: ``O(|N(u)| k)`` work per rating, ``O(sum_u |N(u)|^2 k)`` per epoch.
The ratings of one user are visited together here, and the same updates are applied lazily,
with no approximation, in ``O(|N(u)| k)`` per *user*:

- the SGD step of every ``y_j``, ``y_j <- d y_j + lr_y s e q_i`` (``s = |N(u)|^-1/2``,
  ``d = 1 - lr_y reg_y``), moves ``z_u = s sum_j y_j`` by ``z_u <- d z_u + lr_y e q_i``
  (since ``s^2 |N(u)| = 1``), so ``z_u`` is computed once per user and then updated in
  ``O(k)`` per rating;
- after the user's ``m`` ratings, ``y_j = d^m y_j + lr_y s sum_t d^(m-1-t) e_t q_(i_t)``: the
  sum is accumulated as ``acc <- d acc + e q_i`` and applied to each ``y_j`` once.

The result equals per-rating SVD++ SGD visiting the ratings in the same order, to rounding.

:func:`run_svdpp_epoch` takes the model's parameter arrays and its SGD rates as two tuples
(Numba accepts tuples of arrays and scalars as arguments; it unpacks them on its first lines):
``params = (user_bias, item_bias, user_factors, item_factors, implicit_factors)``
(``b_u``, ``b_i``, ``p_u``, ``q_i``, ``y_j``; updated in place) and
``rates = (lr_bias, lr, reg_bias, reg)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def run_svdpp_epoch(indptr, indices, data, user_order, shuffle_seed, global_mean, params, rates):
    """One SGD epoch of SVD++ over the ratings, user by user; updates the parameters in place.

    Users are visited in ``user_order``; each user's ratings in a random order drawn from
    ``shuffle_seed`` (Numba's generator, seeded here: deterministic) or, if
    ``shuffle_seed < 0``, in CSR order. For each rating ``(u, i, r)``, with
    ``e = r - (mu + b_u + b_i + q_i . (p_u + z_u))`` and the values before the step::

        b_u += lr_bias (e - reg_bias b_u)          b_i += lr_bias (e - reg_bias b_i)
        p_u += lr (e q_i - reg p_u)                q_i += lr (e (p_u + z_u) - reg q_i)
        y_j += lr (e s q_i - reg y_j)  for every j in N(u)   (applied lazily, see the module)

    Parameters
    ----------
    indptr : int32/int64[n_users + 1], indices : int32[nnz], data : float64[nnz]
        CSR arrays of the training ratings (users x items); ``N(u)`` is row ``u``.
    user_order : int64[n_users], a permutation of the user codes (or any subset of them)
    shuffle_seed : int, ``< 0`` for no shuffling within a user
    global_mean : float
    params : ``(user_bias, item_bias, user_factors, item_factors, implicit_factors)``:
        float64[n_users], float64[n_items], float64[n_users, k], and float64[n_items, k]
        twice; updated in place
    rates : ``(lr_bias, lr, reg_bias, reg)``, floats

    Returns
    -------
    float, the sum of the squared errors ``e^2`` met during the epoch (each before its step).
    """
    user_bias, item_bias, user_factors, item_factors, implicit_factors = params
    lr_bias, lr, reg_bias, reg = rates
    k = user_factors.shape[1]
    max_len = 0
    for u in range(indptr.shape[0] - 1):
        max_len = max(max_len, indptr[u + 1] - indptr[u])
    local = np.empty(max_len, dtype=np.int64)
    z = np.empty(k)
    acc = np.empty(k)
    d = 1.0 - lr * reg
    if shuffle_seed >= 0:
        np.random.seed(shuffle_seed)  # noqa: NPY002 (Numba: no Generator in @njit)
    sse = 0.0
    for uu in range(user_order.shape[0]):
        u = user_order[uu]
        start, end = indptr[u], indptr[u + 1]
        m = end - start
        if m == 0:
            continue
        s = 1.0 / np.sqrt(m)
        for f in range(k):
            z[f] = 0.0
            acc[f] = 0.0
        for p in range(start, end):
            j = indices[p]
            for f in range(k):
                z[f] += implicit_factors[j, f]
        for f in range(k):
            z[f] *= s
        for t in range(m):
            local[t] = start + t
        if shuffle_seed >= 0:  # Fisher-Yates
            for t in range(m - 1, 0, -1):
                x = np.random.randint(0, t + 1)  # noqa: NPY002
                local[t], local[x] = local[x], local[t]
        bu = user_bias[u]
        for t in range(m):
            p = local[t]
            i = indices[p]
            dot = 0.0
            for f in range(k):
                dot += item_factors[i, f] * (user_factors[u, f] + z[f])
            e = data[p] - (global_mean + bu + item_bias[i] + dot)
            sse += e * e
            bu += lr_bias * (e - reg_bias * bu)
            item_bias[i] += lr_bias * (e - reg_bias * item_bias[i])
            for f in range(k):
                puf = user_factors[u, f]
                qif = item_factors[i, f]
                user_factors[u, f] = puf + lr * (e * qif - reg * puf)
                item_factors[i, f] = qif + lr * (e * (puf + z[f]) - reg * qif)
                z[f] = d * z[f] + lr * e * qif
                acc[f] = d * acc[f] + e * qif
        user_bias[u] = bu
        decay = d**m
        for p in range(start, end):
            j = indices[p]
            for f in range(k):
                implicit_factors[j, f] = decay * implicit_factors[j, f] + lr * s * acc[f]
    return sse


@njit(cache=True, parallel=True)
def sum_implicit_factors(indptr, indices, implicit_factors):
    """``z[u] = |N(u)|^-1/2 sum_{j in N(u)} implicit_factors[j]`` for every user (0 if empty).

    ``indptr``, ``indices``: CSR arrays (users x items); ``implicit_factors`` float64[n_items, k].
    Returns float64[n_users, k]; rows are independent (``prange``).
    """
    n_users = indptr.shape[0] - 1
    k = implicit_factors.shape[1]
    z = np.zeros((n_users, k))
    for u in prange(n_users):
        start, end = indptr[u], indptr[u + 1]
        if end == start:
            continue
        for p in range(start, end):
            j = indices[p]
            for f in range(k):
                z[u, f] += implicit_factors[j, f]
        s = 1.0 / np.sqrt(end - start)
        for f in range(k):
            z[u, f] *= s
    return z
