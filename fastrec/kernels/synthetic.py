# ruff: noqa: NPY002  (Numba has no np.random.Generator: its legacy-style np.random is the
# only random source inside @njit, with its own per-thread state seeded by each kernel)
"""Kernels for synthetic MovieLens-shaped ratings (see :func:`fastrec.datasets.synthetic`).

Every kernel that draws random numbers takes a ``seed`` and calls ``np.random.seed(seed)``
first: Numba keeps its own random state (one per thread), separate from NumPy's, and these
loops are serial, so the same seed always gives the same output.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def sample_user_items(indptr, user_start, user_stop, cdf, weights, switch_mass, marker, out, seed):
    """Draw each user's items by popularity, without replacement (successive sampling).

    For user ``u`` the ``indptr[u+1] - indptr[u]`` items are the first distinct items of
    an endless sequence of independent draws with ``P(item i) = weights[i] / sum(weights)``.
    Draws come from the cumulative weights by binary search; a repeat is rejected with the
    ``marker`` array (``marker[i] == u`` once user ``u`` holds item ``i``). Once the items
    taken hold ``switch_mass`` of the total weight, rejection gets slow (a new item needs
    ``1 / (1 - mass)`` draws on average), and the rest are chosen by Efraimidis-Spirakis
    keys ``E_i / weights[i]`` (``E_i`` standard exponential; smallest keys win) over the items
    not taken yet, which continues the same distribution in O(n_items).

    Parameters
    ----------
    indptr : int64[n_users + 1]    user ``u`` fills ``out[indptr[u]:indptr[u+1]]``
    user_start, user_stop : int    users handled by this call, ``[user_start, user_stop)``
    cdf : float64[n_items]         ``np.cumsum(weights)``
    weights : float64[n_items]     popularity weights, all > 0
    switch_mass : float in [0, 1]  share of the total weight at which to switch to keys
    marker : int64[n_items]        scratch, initialised to -1 once for all calls; user
                                   codes must grow from call to call
    out : int32[n_ratings]         item codes, written in draw order
    seed : int                     seed of Numba's random state for this call

    Each user needs ``indptr[u+1] - indptr[u] <= n_items``.
    """
    np.random.seed(seed)
    n_items = cdf.shape[0]
    total = cdf[n_items - 1]
    keys = np.empty(n_items, dtype=np.float64)
    free = np.empty(n_items, dtype=np.int32)
    for u in range(user_start, user_stop):
        start = indptr[u]
        need = indptr[u + 1] - start
        taken = 0
        mass = 0.0
        limit = switch_mass * total
        while taken < need and mass < limit:
            x = np.random.random() * total
            i = np.searchsorted(cdf, x, side="right")
            if i >= n_items:  # x rounded up to total
                i = n_items - 1
            if marker[i] != u:
                marker[i] = u
                out[start + taken] = i
                taken += 1
                mass += weights[i]
        if taken < need:
            m = 0
            for i in range(n_items):
                if marker[i] != u:
                    keys[m] = np.random.exponential() / weights[i]
                    free[m] = i
                    m += 1
            rest = need - taken
            # np.argpartition is not supported by Numba: find the rest-th smallest key with
            # np.partition, then take the keys below it and as many equal to it as needed.
            kth = np.partition(keys[:m], rest - 1)[rest - 1]
            for j in range(m):
                if keys[j] < kth:
                    marker[free[j]] = u
                    out[start + taken] = free[j]
                    taken += 1
            for j in range(m):
                if taken == need:
                    break
                if keys[j] == kth:
                    marker[free[j]] = u
                    out[start + taken] = free[j]
                    taken += 1


@njit(cache=True)
def fill_unrated_items(items, item_counts, seed):
    """Give every item without a rating one, taken from an item that has two or more.

    For each item ``j`` with ``item_counts[j] == 0``, ratings are drawn uniformly until one
    of an item ``i`` with ``item_counts[i] >= 2`` turns up; it is moved to ``j``. Each user
    keeps its number of ratings, no item loses its last rating and no (user, item) pair
    repeats (``j`` was rated by nobody). Needs ``len(items) >= n_items``.

    Parameters
    ----------
    items : int32[n_ratings]        item code of each rating, changed in place
    item_counts : int64[n_items]    ratings per item, changed in place (all >= 1 after)
    seed : int

    Returns
    -------
    int : number of ratings moved
    """
    np.random.seed(seed)
    n = items.shape[0]
    moved = 0
    for j in range(item_counts.shape[0]):
        if item_counts[j] > 0:
            continue
        while True:
            k = np.random.randint(0, n)
            i = items[k]
            if item_counts[i] >= 2:
                items[k] = j
                item_counts[i] -= 1
                item_counts[j] = 1
                moved += 1
                break
    return moved


@njit(cache=True)
def sort_user_items(indptr, items):
    """Sort each user's item codes in place (``items[indptr[u]:indptr[u+1]]``).

    Parameters
    ----------
    indptr : int64[n_users + 1]
    items : int32[n_ratings]
    """
    for u in range(indptr.shape[0] - 1):
        items[indptr[u] : indptr[u + 1]] = np.sort(items[indptr[u] : indptr[u + 1]])


@njit(cache=True)
def score_user_items(indptr, items, user_bias, item_bias, user_factors, item_factors, noise, seed):
    """Latent score of every rating: ``b_u + b_i + p_u . q_i + noise * N(0, 1)``.

    Parameters
    ----------
    indptr : int64[n_users + 1]           ratings of user ``u`` at ``indptr[u]:indptr[u+1]``
    items : int32[n_ratings]              item code of each rating
    user_bias : float64[n_users]
    item_bias : float64[n_items]
    user_factors : float64[n_users, k]
    item_factors : float64[n_items, k]
    noise : float                         standard deviation of the Gaussian noise
    seed : int

    Returns
    -------
    float64[n_ratings]
    """
    np.random.seed(seed)
    out = np.empty(items.shape[0], dtype=np.float64)
    rank = user_factors.shape[1]
    for u in range(indptr.shape[0] - 1):
        bu = user_bias[u]
        for p in range(indptr[u], indptr[u + 1]):
            i = items[p]
            dot = 0.0
            for f in range(rank):
                dot += user_factors[u, f] * item_factors[i, f]
            out[p] = bu + item_bias[i] + dot + noise * np.random.standard_normal()
    return out


@njit(cache=True)
def draw_user_timestamps(indptr, first, span, seed):
    """Timestamps, uniform in each user's active window ``[first[u], first[u] + span[u]]``.

    Parameters
    ----------
    indptr : int64[n_users + 1]
    first : int64[n_users]     seconds since the epoch of the user's first rating window
    span : int64[n_users]      length of the window in seconds, >= 0
    seed : int

    Returns
    -------
    int64[n_ratings]
    """
    np.random.seed(seed)
    out = np.empty(indptr[indptr.shape[0] - 1], dtype=np.int64)
    for u in range(indptr.shape[0] - 1):
        for p in range(indptr[u], indptr[u + 1]):
            out[p] = first[u] + np.int64(np.random.random() * (span[u] + 1))
    return out
