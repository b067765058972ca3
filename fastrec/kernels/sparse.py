"""Kernels over (row code, column code) pairs: grouping and duplicate detection."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def group_by_code(codes, n_groups):
    """Counting sort of ``codes`` into groups.

    Parameters
    ----------
    codes : int32[n]   group of each element, in ``[0, n_groups)``
    n_groups : int

    Returns
    -------
    indptr : int64[n_groups + 1]   elements of group g are ``order[indptr[g]:indptr[g+1]]``
    order : int64[n]               element positions, stable (file order kept inside a group)
    """
    n = codes.shape[0]
    indptr = np.zeros(n_groups + 1, dtype=np.int64)
    for k in range(n):
        indptr[codes[k] + 1] += 1
    for g in range(n_groups):
        indptr[g + 1] += indptr[g]
    fill = indptr[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    for k in range(n):
        g = codes[k]
        order[fill[g]] = k
        fill[g] += 1
    return indptr, order


@njit(cache=True)
def find_duplicate_pairs(user_codes, item_codes, n_users, n_items):
    """Mark every (user, item) pair that already occurred earlier in the arrays.

    O(n): ratings are grouped by user with a counting sort, then a marker array over
    items remembers which user touched each item last.

    Returns
    -------
    first_seen : int64[n]   for a repeated pair, the position of its first occurrence;
                            -1 for a pair seen for the first time.
    """
    n = user_codes.shape[0]
    indptr, order = group_by_code(user_codes, n_users)
    last_user = np.full(n_items, -1, dtype=np.int64)
    last_pos = np.empty(n_items, dtype=np.int64)
    first_seen = np.full(n, -1, dtype=np.int64)
    for u in range(n_users):
        for p in range(indptr[u], indptr[u + 1]):
            k = order[p]
            i = item_codes[k]
            if last_user[i] == u:
                first_seen[k] = last_pos[i]
            else:
                last_user[i] = u
                last_pos[i] = k
    return first_seen
