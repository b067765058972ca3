"""Kernels over (row code, column code) pairs: grouping and duplicate detection."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def group_offsets(codes, n_groups):
    """Where each group starts in a grouping of ``codes`` (int[n], values in ``[0, n_groups)``):
    ``indptr`` int64[n_groups + 1], group ``g`` at ``indptr[g]:indptr[g+1]`` (a count per
    group, then the cumulative sum: the first half of a counting sort)."""
    indptr = np.zeros(n_groups + 1, dtype=np.int64)
    for k in range(codes.shape[0]):
        indptr[codes[k] + 1] += 1
    for g in range(n_groups):
        indptr[g + 1] += indptr[g]
    return indptr


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
    order = np.empty(codes.shape[0], dtype=np.int64)
    indptr = group_by_code_into(codes, n_groups, order)
    return indptr, order


@njit(cache=True)
def group_by_code_into(codes, n_groups, order):
    """:func:`group_by_code` writing ``order`` into a given buffer.

    ``order`` is ``int32[n]`` (half the memory; needs ``n < 2**31``) or ``int64[n]``.
    Returns ``indptr``.
    """
    indptr = group_offsets(codes, n_groups)
    fill = indptr[:-1].copy()
    for k in range(codes.shape[0]):
        g = codes[k]
        order[fill[g]] = k
        fill[g] += 1
    return indptr


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


@njit(cache=True)
def count_duplicate_pairs(user_codes, item_codes, n_users, n_items, order):
    """Count repeated (user, item) pairs without an output of length n.

    Same test as :func:`find_duplicate_pairs`, for the loader at ml-25m scale.

    Parameters
    ----------
    user_codes, item_codes : int32[n]
    n_users, n_items : int
    order : int32[n] or int64[n]   scratch buffer (int32 halves the memory; needs n < 2**31)

    Returns
    -------
    n_repeated : int   ratings whose pair occurred earlier in the arrays
    k : int            smallest position of such a rating (-1 if none)
    j : int            position of the first occurrence of the pair at ``k`` (-1 if none)
    """
    indptr = group_by_code_into(user_codes, n_users, order)
    last_user = np.full(n_items, -1, dtype=np.int64)
    first_pos = np.empty(n_items, dtype=np.int64)
    n_repeated = 0
    best_k = -1
    best_j = -1
    for u in range(n_users):
        for p in range(indptr[u], indptr[u + 1]):
            k = order[p]
            i = item_codes[k]
            if last_user[i] == u:
                n_repeated += 1
                if best_k < 0 or k < best_k:
                    best_k = k
                    best_j = first_pos[i]
            else:
                last_user[i] = u
                first_pos[i] = k
    return n_repeated, best_k, best_j
