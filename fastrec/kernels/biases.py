"""Kernels for user and item biases."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, parallel=True)
def _row_damped_means(indptr, indices, data, other_bias, offset, reg, out):
    """out[r] = sum_{c in row r} (data - offset - other_bias[c]) / (reg + n_r); rows own out[r]."""
    for r in prange(indptr.shape[0] - 1):
        start, end = indptr[r], indptr[r + 1]
        if start == end:  # no ratings: no deviation (and no 0 / 0 when reg == 0)
            out[r] = 0.0
            continue
        acc = 0.0
        for p in range(start, end):
            acc += data[p] - offset - other_bias[indices[p]]
        out[r] = acc / (reg + (end - start))


@njit(cache=True)
def fit_biases_als(
    user_indptr,
    user_items,
    user_ratings,
    item_indptr,
    item_users,
    item_ratings,
    global_mean,
    reg_user,
    reg_item,
    n_iter,
):
    """Damped user and item biases by alternating least squares.

    Minimises ``sum (r_ui - mu - b_u - b_i)^2 + reg_user * sum b_u^2 + reg_item * sum b_i^2``
    by exact coordinate sweeps, items first (as Surprise's BaselineOnly)::

        b_i = sum_{u in R(i)} (r_ui - mu - b_u) / (reg_item + |R(i)|)
        b_u = sum_{i in R(u)} (r_ui - mu - b_i) / (reg_user + |R(u)|)

    Parameters
    ----------
    user_indptr, user_items, user_ratings : CSR (users x items) arrays of the ratings
    item_indptr, item_users, item_ratings : CSC arrays of the same ratings
    global_mean : float, ``mu``
    reg_user, reg_item : float >= 0
    n_iter : int, number of (items, users) sweeps

    Returns
    -------
    user_bias : float64[n_users], item_bias : float64[n_items]  (0 for rows without ratings)
    """
    n_users = user_indptr.shape[0] - 1
    n_items = item_indptr.shape[0] - 1
    user_bias = np.zeros(n_users)
    item_bias = np.zeros(n_items)
    for _ in range(n_iter):
        _row_damped_means(
            item_indptr, item_users, item_ratings, user_bias, global_mean, reg_item, item_bias
        )
        _row_damped_means(
            user_indptr, user_items, user_ratings, item_bias, global_mean, reg_user, user_bias
        )
    return user_bias, item_bias
