"""Kernels for ranking metrics: group rated pairs by user, rank each user's items by score.

The metric formulas live in :mod:`fastrec.metrics`; these kernels only count, per user and
cut-off ``k``, what the formulas need (items, relevant items, hits in the top k, DCG and
ideal DCG), in one pass over the users.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .sparse import group_by_code


@njit(cache=True)
def group_rows_by_user(codes, n_users):
    """Stable counting sort of rows by user code (:func:`fastrec.kernels.sparse.group_by_code`).

    Parameters
    ----------
    codes : int32/int64[n], user code of each row, ``0 <= codes[r] < n_users``
    n_users : int

    Returns
    -------
    indptr : int64[n_users + 1], rows : int64[n]
        ``rows[indptr[u]:indptr[u + 1]]`` are the rows of user ``u`` in increasing order
        (input order is kept within a user: the sort is stable).
    """
    return group_by_code(codes, n_users)


@njit(cache=True, parallel=True)
def count_user_rankings(indptr, rows, truth, pred, ks, threshold, rating_gain):
    """Per user: rank the user's rows by ``pred`` (descending, ties in row order), count hits.

    Parameters
    ----------
    indptr : int64[n_users + 1], rows : int64[n]
        rows grouped by user, in increasing row order within a user
        (:func:`group_rows_by_user`); a user may have no rows.
    truth, pred : float64[n], finite; the true and the predicted rating of each row
    ks : int64[n_k], cut-offs, each >= 1
    threshold : float, a row is relevant when ``truth >= threshold``
    rating_gain : bool, DCG gain of a row is its true rating (True) or its relevance 0/1

    Returns
    -------
    n_items : int64[n_users], rows of the user
    n_rel : int64[n_users], relevant rows of the user
    hits : int64[n_users, n_k], relevant rows among the user's top ``ks[j]``
    dcg : float64[n_users, n_k], ``sum_{rank r <= k} gain_r / log2(r + 1)``, ``r`` 1-based
    idcg : float64[n_users, n_k], the same for the rows in decreasing order of ``truth``

    Ranks are a stable sort of ``-pred``: of two rows with equal predictions, the one that
    comes first in the input ranks higher. Users write only their own output rows.
    """
    n_users = indptr.shape[0] - 1
    n_k = ks.shape[0]
    longest = 0  # no rank goes past the longest list, whatever k is
    for u in range(n_users):
        longest = max(longest, indptr[u + 1] - indptr[u])
    discount = 1.0 / np.log2(np.arange(2, longest + 2).astype(np.float64))
    n_items = np.zeros(n_users, dtype=np.int64)
    n_rel = np.zeros(n_users, dtype=np.int64)
    hits = np.zeros((n_users, n_k), dtype=np.int64)
    dcg = np.zeros((n_users, n_k))
    idcg = np.zeros((n_users, n_k))
    for u in prange(n_users):
        start, end = indptr[u], indptr[u + 1]
        m = end - start
        n_items[u] = m
        if m == 0:
            continue
        seg = rows[start:end]
        neg = np.empty(m)
        gain = np.empty(m)
        n_relevant = 0
        for p in range(m):
            neg[p] = -pred[seg[p]]
            t = truth[seg[p]]
            rel = t >= threshold
            n_relevant += rel
            gain[p] = t if rating_gain else (1.0 if rel else 0.0)
        n_rel[u] = n_relevant
        order = np.argsort(neg, kind="mergesort")  # stable: ties keep row order
        ascending = np.sort(gain) if rating_gain else gain  # ideal order: from the end
        for j in range(n_k):
            top = min(ks[j], m)
            h = 0
            d = 0.0
            for r in range(top):
                p = order[r]
                h += truth[seg[p]] >= threshold
                d += gain[p] * discount[r]
            hits[u, j] = h
            dcg[u, j] = d
            i = 0.0
            if rating_gain:
                for r in range(top):
                    i += ascending[m - 1 - r] * discount[r]
            else:
                for r in range(min(top, n_relevant)):
                    i += discount[r]
            idcg[u, j] = i
    return n_items, n_rel, hits, dcg, idcg
