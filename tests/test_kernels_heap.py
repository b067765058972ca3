"""The bounded heap (fastrec.kernels.heap) and the counting-sort offsets (fastrec.kernels.sparse)
against plain-Python references."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from fastrec.kernels.heap import admits, new_heap, push, sort_heap
from fastrec.kernels.sparse import group_by_code, group_offsets


@njit(cache=True)
def _best_of_stream(keys_in, capacity):
    """Offer every ``(keys_in[j], j)`` in order; the heap sorted best first and its size."""
    keys, ids = new_heap(capacity)
    size = 0
    for j in range(keys_in.shape[0]):
        if admits(keys, size, keys_in[j]):
            size = push(keys, ids, size, keys_in[j], j)
    sort_heap(keys, ids, size)
    return keys[:size], ids[:size]


def reference_best(keys_in, capacity):
    """The ``capacity`` best: larger key first, equal keys by smaller id."""
    order = sorted(range(len(keys_in)), key=lambda j: (-keys_in[j], j))[:capacity]
    return keys_in[order], np.array(order, dtype=np.int64)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("capacity", [1, 2, 5, 17])
def test_heap_keeps_the_best_ties_to_the_smaller_id(seed, capacity):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 60))
    keys_in = rng.integers(-4, 5, n) / 2.0  # many ties
    keys, ids = _best_of_stream(keys_in, capacity)
    ref_keys, ref_ids = reference_best(keys_in, capacity)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_array_equal(keys, ref_keys)


def test_empty_and_single_entry_streams():
    keys, ids = _best_of_stream(np.empty(0), 3)
    assert len(keys) == len(ids) == 0
    keys, ids = _best_of_stream(np.array([2.5]), 3)
    assert keys.tolist() == [2.5] and ids.tolist() == [0]


def test_a_full_heap_admits_only_a_strictly_larger_key():
    keys, ids = new_heap(2)
    size = 0
    for j, key in enumerate([1.0, 3.0]):
        size = push(keys, ids, size, key, j)
    assert keys[0] == 1.0  # the worst on top
    assert not admits(keys, size, 1.0)  # a tie with the worst: the earlier entry stays
    assert not admits(keys, size, np.nan)
    assert not admits(keys, size, 0.5)
    assert admits(keys, size, 1.5)
    assert admits(keys, 1, np.nan)  # room left: callers that must not keep NaN skip it


@pytest.mark.parametrize("seed", range(5))
def test_group_offsets_is_the_cumulative_count(seed):
    rng = np.random.default_rng(seed)
    n_groups = int(rng.integers(1, 12))
    codes = rng.integers(0, n_groups, int(rng.integers(0, 50))).astype(np.int32)
    indptr = group_offsets(codes, n_groups)
    assert indptr.dtype == np.int64
    expected = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=n_groups))])
    np.testing.assert_array_equal(indptr, expected)
    indptr2, order = group_by_code(codes, n_groups)
    np.testing.assert_array_equal(indptr2, expected)
    np.testing.assert_array_equal(order, np.argsort(codes, kind="stable"))
