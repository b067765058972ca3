"""Keyed random numbers (fastrec.kernels.keyed) and id keys (fastrec.keys) against pure-Python
references; rows that depend only on (seed, key); the moments of the draws."""

import math

import numba
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import scipy.stats

from fastrec.kernels.keyed import (
    hash_bytes_ids,
    hash_int_ids,
    keyed_normals,
    keyed_uniform,
    pair_keys,
)
from fastrec.keys import id_keys

MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
STRINGS = ["", "a", "1", "Toy Story (1995)", "bé", "日本語", "x" * 300, "emoji \U0001f600"]


def mix(z: int) -> int:
    """splitmix64's finaliser, in Python integers."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def fnv1a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return h


def reference_row(seed: int, key: int, k: int) -> list[float]:
    """keyed_normals' row for one key: splitmix64 words, 53-bit uniforms, Box-Muller."""
    state = mix((seed + GAMMA) & MASK) ^ key
    words = [mix((state + (c + 1) * GAMMA) & MASK) for c in range(k + (k & 1))]
    u = [(w >> 11) * 2.0**-53 for w in words]
    row = []
    for p in range(0, k, 2):
        radius, angle = math.sqrt(-2.0 * math.log(1.0 - u[p])), 2 * math.pi * u[p + 1]
        row += [radius * math.cos(angle), radius * math.sin(angle)]
    return row[:k]


@pytest.fixture(scope="module")
def keys():
    return hash_int_ids(np.arange(-50, 1950, dtype=np.int64))


# ------------------------------------------------------------------ hashes against references
def test_int_keys_are_the_finaliser_of_the_twos_complement():
    ids = np.array([0, 1, 7, -1, -(2**63), 2**63 - 1, 123456789], dtype=np.int64)
    assert hash_int_ids(ids).tolist() == [mix(int(x) & MASK) for x in ids]
    assert len(set(hash_int_ids(np.arange(100_000)).tolist())) == 100_000  # a bijection


def test_string_keys_match_a_python_fnv1a_over_utf8():
    expected = [mix(fnv1a(s.encode("utf-8"))) for s in STRINGS]
    assert id_keys(np.array(STRINGS, dtype=object)).tolist() == expected
    # the kernel on hand-made buffers, int32 and int64 offsets
    encoded = [s.encode("utf-8") for s in STRINGS]
    offsets = np.cumsum([0] + [len(b) for b in encoded])
    data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
    for dtype in (np.int32, np.int64):
        assert hash_bytes_ids(offsets.astype(dtype), data).tolist() == expected


def test_pair_keys_reference_and_order():
    a = hash_int_ids(np.arange(20))
    b = hash_int_ids(np.arange(100, 120))
    assert pair_keys(a, b).tolist() == [
        mix(mix((int(x) + GAMMA) & MASK) ^ int(y)) for x, y in zip(a, b, strict=True)
    ]
    assert np.all(pair_keys(a, b) != pair_keys(b, a))


# ---------------------------------------------------------------- rows depend only on the key
def test_normals_match_the_python_reference(keys):
    out = keyed_normals(11, keys[:20], 7)
    expected = [reference_row(11, int(key), 7) for key in keys[:20]]
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-14)


def test_uniform_is_the_first_word_of_the_stream(keys):
    expected = [(mix((mix(5 + GAMMA) ^ int(key)) + GAMMA & MASK) >> 11) * 2.0**-53 for key in keys]
    assert keyed_uniform(5, keys).tolist() == expected


def test_deterministic_whatever_the_threads(keys):
    a, ua = keyed_normals(3, keys, 10), keyed_uniform(3, keys)
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        b, ub = keyed_normals(3, keys, 10), keyed_uniform(3, keys)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ua, ub)
    np.testing.assert_array_equal(a, keyed_normals(3, keys, 10))


def test_a_row_depends_only_on_seed_and_key(keys):
    full, u = keyed_normals(4, keys, 9), keyed_uniform(4, keys)
    perm = np.random.default_rng(0).permutation(len(keys))
    np.testing.assert_array_equal(keyed_normals(4, keys[perm], 9), full[perm])
    np.testing.assert_array_equal(keyed_uniform(4, keys[perm]), u[perm])
    for rows in (np.arange(1), np.arange(17, 18), np.arange(100, 333), np.arange(0, 2000, 7)):
        np.testing.assert_array_equal(keyed_normals(4, keys[rows], 9), full[rows])  # any n
    repeated = np.repeat(keys[:3], 4)  # the same key gives the same row
    np.testing.assert_array_equal(keyed_normals(4, repeated, 9), np.repeat(full[:3], 4, axis=0))
    # more columns extend the rows: the first k of k + m are the k
    np.testing.assert_array_equal(keyed_normals(4, keys, 12)[:, :9], full)
    assert keyed_normals(4, keys, 0).shape == (len(keys), 0)


def test_the_seed_changes_every_row(keys):
    assert np.all(keyed_normals(0, keys, 4) != keyed_normals(1, keys, 4))
    assert np.all(keyed_uniform(0, keys) != keyed_uniform(1, keys))


# ----------------------------------------------------------------------------- distributions
N = 1_000_000
Z = 5.0  # tolerances below are Z standard errors of the statistic for N draws


def test_normal_moments():
    # 1e6 draws: 250,000 keys x 4 columns (both the cosine and the sine of each pair)
    x = keyed_normals(2, hash_int_ids(np.arange(N // 4)), 4)
    flat = x.ravel()
    assert abs(flat.mean()) < Z / math.sqrt(N)  # se of the mean: 1 / sqrt(N)
    assert abs(flat.var() - 1.0) < Z * math.sqrt(2.0 / N)  # se of the variance: sqrt(2 / N)
    assert abs(scipy.stats.skew(flat)) < Z * math.sqrt(6.0 / N)
    assert abs(scipy.stats.kurtosis(flat)) < Z * math.sqrt(24.0 / N)
    for a, b in ((0, 1), (0, 2), (1, 3)):  # within a pair and across pairs: uncorrelated
        assert abs(np.corrcoef(x[:, a], x[:, b])[0, 1]) < Z / math.sqrt(len(x))
    assert scipy.stats.kstest(flat, "norm").pvalue > 1e-6


def test_uniform_range_and_moments():
    u = keyed_uniform(9, hash_int_ids(np.arange(N)))
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < Z * math.sqrt(1.0 / 12.0 / N)
    assert scipy.stats.kstest(u, "uniform").pvalue > 1e-6


# ------------------------------------------------------------------------------------ id_keys
def test_id_keys_same_for_every_container_of_integers():
    ids = [3, 1, 2, 1_000_000, 0]
    expected = hash_int_ids(np.array(ids, dtype=np.int64))
    for container in (
        np.array(ids, dtype=np.int32),
        np.array(ids, dtype=np.uint64),
        np.array(ids, dtype=float),  # whole numbers, as pandas makes of ints with gaps
        np.array(ids, dtype=object),
        pd.Index(ids),
        pd.Series(ids, dtype="Int64"),
        pa.array(ids, pa.int32()),
        pa.chunked_array([ids[:2], ids[2:]]),
    ):
        np.testing.assert_array_equal(id_keys(container), expected)


def test_id_keys_same_for_every_container_of_strings():
    expected = [mix(fnv1a(s.encode("utf-8"))) for s in STRINGS]
    arrow = pa.array(["skip"] + STRINGS)[1:]  # a slice: offsets start inside the buffer
    for container in (
        np.array(STRINGS),
        np.array(STRINGS, dtype=object),
        pd.Index(STRINGS),
        pd.Series(STRINGS, dtype="string[pyarrow]"),
        arrow,
        arrow.dictionary_encode(),
        pa.array(STRINGS, pa.large_string()),
        pa.chunked_array([STRINGS[:3], STRINGS[3:]]),
    ):
        assert id_keys(container).tolist() == expected
    assert id_keys(np.array([], dtype=object)).shape == (0,)


def test_integer_and_string_ids_differ():
    ints = id_keys(np.arange(1000))
    strings = id_keys(np.array([str(i) for i in range(1000)], dtype=object))
    assert not set(ints.tolist()) & set(strings.tolist())


@pytest.mark.parametrize(
    "bad, found",
    [
        (np.array([1.0, 1.5]), "not whole numbers"),
        (np.array([1.0, np.nan]), "missing or infinite"),
        (np.array([True, False]), "dtype bool"),
        (np.array(["2020-01-01"], dtype="datetime64[D]"), "datetime64"),
        (np.array(["a", 1], dtype=object), "mixed"),
        (pd.Index(["a", None]), "missing"),
        (pa.array([1, None]), "missing"),
        (pa.array([b"a"], pa.binary()), "binary"),
    ],
)
def test_id_keys_refuses_other_ids(bad, found):
    with pytest.raises(TypeError, match="integer ids or string ids") as caught:
        id_keys(bad)
    assert found in str(caught.value)


def test_id_keys_refuses_other_containers():
    with pytest.raises(TypeError, match="numpy array, pandas Index"):
        id_keys([1, 2, 3])
    with pytest.raises(TypeError, match="one-dimensional"):
        id_keys(np.zeros((2, 2), dtype=np.int64))
