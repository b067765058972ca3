"""A bounded heap: the ``n`` best ``(key, id)`` entries of a stream, one pass.

Used by :mod:`fastrec.kernels.recommend` (the ``n`` best items of a user: key = score, id =
item code) and :mod:`fastrec.kernels.neighbors` (the ``k`` best neighbours of a list: key =
similarity, id = position in the list).

Order ("better"): a larger key, then, for equal keys, a smaller id. The heap is a pair of
arrays ``keys[:size]``, ``ids[:size]`` (capacity ``keys.shape[0]``, the same for ``ids``)
holding a binary min-heap on that order: the WORST entry at position 0, so that a new entry
is compared with the worst alone. Callers offer entries in increasing id (an item code or a
list position), so a newcomer never beats an entry with the same key: a full heap admits it
only with a strictly larger key (:func:`admits`). A NaN key is never admitted into a full
heap; callers that must never keep one skip it themselves.

Anything else the caller needs about an entry (a similarity, a deviation) is looked up from
its id afterwards, so the sifts move two arrays only.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _worse(k1, i1, k2, i2):
    """Whether entry ``(k1, i1)`` ranks below ``(k2, i2)``."""
    return k1 < k2 or (k1 == k2 and i1 > i2)


@njit(cache=True)
def sift_down(keys, ids, pos, size):
    """Restore the heap ``keys[:size]`` below position ``pos`` (whose entry may be better
    than it should be there)."""
    k, i = keys[pos], ids[pos]
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        right = child + 1
        if right < size and _worse(keys[right], ids[right], keys[child], ids[child]):
            child = right
        if not _worse(keys[child], ids[child], k, i):
            break
        keys[pos], ids[pos] = keys[child], ids[child]
        pos = child
    keys[pos], ids[pos] = k, i


@njit(cache=True)
def sift_up(keys, ids, pos):
    """Restore the heap above position ``pos`` (whose entry may be worse than its parent)."""
    k, i = keys[pos], ids[pos]
    while pos > 0:
        parent = (pos - 1) // 2
        if not _worse(k, i, keys[parent], ids[parent]):
            break
        keys[pos], ids[pos] = keys[parent], ids[parent]
        pos = parent
    keys[pos], ids[pos] = k, i


@njit(cache=True, inline="always")
def admits(keys, size, key):
    """Whether an entry with ``key`` (and an id larger than any in the heap) enters the heap
    of ``size`` entries. One comparison; False for a NaN key once the heap is full."""
    return size < keys.shape[0] or key > keys[0]


@njit(cache=True, inline="always")
def push(keys, ids, size, key, id_):
    """Insert ``(key, id_)``, which :func:`admits` accepted, into the heap of ``size``
    entries: appended while there is room, else in place of the worst. Returns the new
    size."""
    if size < keys.shape[0]:
        keys[size], ids[size] = key, id_
        sift_up(keys, ids, size)
        return size + 1
    keys[0], ids[0] = key, id_
    sift_down(keys, ids, 0, size)
    return size


@njit(cache=True)
def sort_heap(keys, ids, size):
    """Sort the heap ``keys[:size]``, ``ids[:size]`` best first, in place (heapsort: pop the
    worst to the back)."""
    for end in range(size - 1, 0, -1):
        keys[0], keys[end] = keys[end], keys[0]
        ids[0], ids[end] = ids[end], ids[0]
        sift_down(keys, ids, 0, end)


@njit(cache=True)
def new_heap(capacity):
    """Work arrays for a heap of ``capacity`` entries: ``keys`` float64, ``ids`` int64."""
    return np.empty(capacity), np.empty(capacity, dtype=np.int64)
