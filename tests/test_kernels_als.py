"""The ALS block solver (fastrec.kernels.als.solve_biased_rows) against numpy, and its tiles.

The reference solves each row's normal equations with numpy.linalg.solve. The shapes cover
the kernel's edges: empty rows, rows with fewer ratings than unknowns (the dual system),
rows longer than one gathered chunk (64), factor counts around the 8- and 16-wide tiles.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from numba import njit

from fastrec.kernels._simd import add_outer_8x8, add_outer_8x16, dot_4x4, sub_outer_4x16
from fastrec.kernels.als import solve_biased_rows


def _ratings(rng, n_rows, n_cols, lengths, index_dtype=np.int32):
    """CSR ratings whose row ``r`` has ``lengths[r]`` entries (0 for an empty row)."""
    rows, cols = [], []
    for r, n in enumerate(lengths):
        rows += [r] * n
        cols += sorted(rng.choice(n_cols, size=n, replace=False).tolist())
    values = rng.integers(1, 11, size=len(rows)) / 2.0
    m = sp.csr_array((values, (rows, cols)), shape=(n_rows, n_cols))
    m.sort_indices()
    return m.indptr.astype(index_dtype), m.indices.astype(index_dtype), m.data


def _reference(indptr, indices, data, other, other_bias, offset, reg, reg_bias, weighted):
    """numpy.linalg.solve of ``(Z^T Z + s D) w = Z^T t`` per row (zeros for empty rows)."""
    k = other.shape[1]
    out = np.zeros((len(indptr) - 1, k + 1))
    for r in range(len(indptr) - 1):
        cols = indices[indptr[r] : indptr[r + 1]]
        if len(cols) == 0:
            continue
        z = np.hstack([other[cols], np.ones((len(cols), 1))])
        t = data[indptr[r] : indptr[r + 1]] - offset - other_bias[cols]
        scale = len(cols) if weighted else 1.0
        penalty = scale * np.diag([reg] * k + [reg_bias])
        out[r] = np.linalg.solve(z.T @ z + penalty, z.T @ t)
    return out[:, :k], out[:, k]


def _solve(indptr, indices, data, other, other_bias, offset, reg, reg_bias, weighted):
    n_rows, k = len(indptr) - 1, other.shape[1]
    out_f, out_b = np.full((n_rows, k), 7.0), np.full(n_rows, 7.0)  # every row is written
    failed = solve_biased_rows(
        indptr, indices, data, other, other_bias, offset, reg, reg_bias, weighted, out_f, out_b
    )
    return failed, out_f, out_b


def _lengths(rng, n_rows, k, n_cols):
    """Empty rows, single ratings, rows just below and above k + 1, and multi-chunk rows."""
    fixed = [0, 1, max(1, k - 1), k, k + 1, k + 2, 64, 65, 150]
    lengths = [min(n, n_cols) for n in fixed]
    lengths += rng.integers(0, min(n_cols, 2 * k + 10), size=n_rows - len(lengths)).tolist()
    return lengths


@pytest.mark.parametrize("k", [1, 5, 6, 7, 14, 22, 30, 64, 100])
@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("reg_bias", [0.0, 0.2])  # 0: primal only; > 0: the dual for short rows
def test_equals_numpy_solve_per_row(k, weighted, reg_bias):
    rng = np.random.default_rng(1000 * k + 10 * weighted + int(10 * reg_bias))
    n_rows, n_cols = 30, 200
    indptr, indices, data = _ratings(rng, n_rows, n_cols, _lengths(rng, n_rows, k, n_cols))
    other = rng.normal(size=(n_cols, k))
    other_bias = rng.normal(size=n_cols)
    args = (indptr, indices, data, other, other_bias, 3.3, 0.12, reg_bias, weighted)
    failed, out_f, out_b = _solve(*args)
    ref_f, ref_b = _reference(*args)
    assert failed == 0
    np.testing.assert_allclose(out_f, ref_f, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out_b, ref_b, rtol=1e-9, atol=1e-12)
    empty = np.diff(indptr) == 0
    assert np.all(out_f[empty] == 0.0) and np.all(out_b[empty] == 0.0)


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_index_types_and_a_fortran_ordered_other_side(index_dtype):
    rng = np.random.default_rng(3)
    indptr, indices, data = _ratings(rng, 12, 80, _lengths(rng, 12, 9, 80), index_dtype)
    other = np.asfortranarray(rng.normal(size=(80, 9)))  # another layout: still exact
    args = (indptr, indices, data, other, rng.normal(size=80), 0.5, 0.1, 0.1, True)
    failed, out_f, out_b = _solve(*args)
    ref_f, ref_b = _reference(*args)
    assert failed == 0
    np.testing.assert_allclose(out_f, ref_f, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out_b, ref_b, rtol=1e-9, atol=1e-12)


def test_no_rows_and_a_single_row():
    other, bias = np.ones((3, 4)), np.zeros(3)
    empty = (np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0))
    assert _solve(*empty, other, bias, 0.0, 0.1, 0.1, True)[0] == 0
    one = (np.array([0, 2]), np.array([0, 2], np.int32), np.array([4.0, 2.0]))
    failed, out_f, out_b = _solve(*one, other * np.arange(3)[:, None], bias, 3.0, 0.1, 0.1, True)
    ref_f, ref_b = _reference(*one, other * np.arange(3)[:, None], bias, 3.0, 0.1, 0.1, True)
    assert failed == 0
    np.testing.assert_allclose(out_f, ref_f, rtol=1e-9)
    np.testing.assert_allclose(out_b, ref_b, rtol=1e-9)


def test_the_same_bits_whatever_the_threads_and_the_blocks():
    """Each row's result depends on its own entries only: one call or a call per block of
    rows (as Spark tasks make them), one thread or all, give identical bits."""
    rng = np.random.default_rng(5)
    k, n_rows, n_cols = 20, 700, 300
    lengths = rng.zipf(1.6, size=n_rows).clip(0, n_cols).tolist()  # power-law rows
    indptr, indices, data = _ratings(rng, n_rows, n_cols, lengths)
    other, other_bias = rng.normal(size=(n_cols, k)), rng.normal(size=n_cols)
    args = (other, other_bias, 3.5, 0.09, 0.1, True)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        _, one_f, one_b = _solve(indptr, indices, data, *args)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        _, all_f, all_b = _solve(indptr, indices, data, *args)
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(one_f, all_f) and np.array_equal(one_b, all_b)
    for lo, hi in [(0, 1), (1, 333), (333, 700), (17, 18)]:
        block_ptr = indptr[lo : hi + 1] - indptr[lo]
        block = slice(indptr[lo], indptr[hi])
        _, f, b = _solve(block_ptr, indices[block], data[block], *args)
        assert np.array_equal(f, all_f[lo:hi]) and np.array_equal(b, all_b[lo:hi])


@pytest.mark.parametrize("k", [3, 40])
def test_non_finite_inputs_fail_their_rows_and_leave_zeros(k):
    rng = np.random.default_rng(k)
    indptr, indices, data = _ratings(rng, 10, 60, _lengths(rng, 10, k, 60))
    other = rng.normal(size=(60, k))
    poisoned = indices[indptr[4]]  # row 4's first item; other rows may rate it too
    other[poisoned, 0] = np.nan
    failed, out_f, out_b = _solve(indptr, indices, data, other, np.zeros(60), 3.0, 0.1, 0.1, True)
    hit = np.array([poisoned in indices[indptr[r] : indptr[r + 1]] for r in range(10)])
    assert failed == hit.sum() >= 1
    assert np.all(out_f[hit] == 0.0) and np.all(out_b[hit] == 0.0)
    assert np.all(np.isfinite(out_f)) and np.all(np.isfinite(out_b))


# --------------------------------------------------------------------------- the tiles
@njit
def _outer_tiles(buf, m, gram):
    add_outer_8x16(buf, m, 0, 0, gram)
    add_outer_8x8(buf, m, 8, 16, gram)
    sub_outer_4x16(buf, m, 2, 8, gram)


@njit
def _dot_tile(buf, n, out):
    dot_4x4(buf, n, 1, 3, out)


def test_tiles_equal_numpy():
    rng = np.random.default_rng(7)
    buf = rng.normal(size=(37, 24))
    gram = rng.normal(size=(16, 24))
    expected = gram.copy()
    for m in (0, 1, 37):
        g = gram.copy()
        _outer_tiles(buf, m, g)
        z = buf[:m]
        e = expected.copy()
        e[0:8, 0:16] += z[:, 0:8].T @ z[:, 0:16]
        e[8:16, 16:24] += z[:, 8:16].T @ z[:, 16:24]
        e[2:6, 8:24] -= z[:, 2:6].T @ z[:, 8:24]
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)
    out = np.zeros((8, 8))
    _dot_tile(buf, 16, out)
    np.testing.assert_allclose(out[1:5, 3:7], buf[1:5, :16] @ buf[3:7, :16].T, rtol=1e-12)
    assert np.all(out[0] == 0.0) and np.all(out[:, :3] == 0.0)  # nothing outside the tile


# Draws a set of rows (empty ones, short ones for the dual, long ones over
# several chunks), solves them, and saves inputs and outputs for the parent to check.
_NARROW_SCRIPT = """
import numpy as np
from fastrec.kernels import _simd
from fastrec.kernels.als import solve_biased_rows
assert not _simd.WIDE_VECTORS
rng = np.random.default_rng(11)
n_rows, n_cols, k = 40, 120, 22
lengths = rng.integers(0, 90, size=n_rows)
indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
indices = np.concatenate([np.sort(rng.choice(n_cols, n, replace=False)) for n in lengths])
indices = indices.astype(np.int32)
data = rng.integers(1, 11, size=len(indices)) / 2.0
other, other_bias = rng.normal(size=(n_cols, k)), rng.normal(size=n_cols)
out_f, out_b = np.zeros((n_rows, k)), np.zeros(n_rows)
args = (other, other_bias, 3.0, 0.1, 0.2, True, out_f, out_b)
failed = solve_biased_rows(indptr, indices, data, *args)
np.savez(OUT, indptr=indptr, indices=indices, data=data, other=other,
         other_bias=other_bias, out_f=out_f, out_b=out_b, failed=failed)
"""


@pytest.mark.slow
@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 CPU names")
def test_the_tiles_without_avx512_give_the_same_bits(tmp_path):
    """The 4 x 8 and 2 x 2 tiles (CPUs without AVX-512), compiled for a Haswell CPU in a child
    process: right against numpy, and the same bits as this process's tiles (each lane sums
    in the same order whatever the tile)."""
    out = str(tmp_path / "narrow.npz")
    env = dict(
        os.environ,
        NUMBA_CPU_NAME="haswell",
        NUMBA_CPU_FEATURES="+avx2,+fma,+sse4.2,+popcnt,+bmi2",
        NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"),
    )
    run = subprocess.run(
        [sys.executable, "-c", f"OUT = {out!r}\n" + _NARROW_SCRIPT],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    saved = np.load(out)
    args = tuple(saved[name] for name in ("indptr", "indices", "data", "other", "other_bias"))
    args += (3.0, 0.1, 0.2, True)
    ref_f, ref_b = _reference(*args)
    assert int(saved["failed"]) == 0
    np.testing.assert_allclose(saved["out_f"], ref_f, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(saved["out_b"], ref_b, rtol=1e-9, atol=1e-12)
    failed, out_f, out_b = _solve(*args)
    assert failed == 0
    assert np.array_equal(saved["out_f"], out_f) and np.array_equal(saved["out_b"], out_b)
