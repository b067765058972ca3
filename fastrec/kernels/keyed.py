"""Counter-based random numbers keyed by ids: the same id draws the same numbers in any array.

A model that draws its random numbers by row position gives different results when the rows
come in another order or are split among workers (Spark partitions, blocks). These kernels
draw them from a key per row instead, a 64-bit hash of the row's id, so row ``j`` of the
output depends only on ``(seed, keys[j])``: not on the other rows, their order, their number
or the number of threads.

All arithmetic is on ``uint64``, modulo ``2**64``. The building block is the finaliser of
splitmix64 (Steele, Lea and Flood 2014; the output function of ``java.util.SplittableRandom``),
a bijection of ``uint64`` that mixes every input bit into every output bit::

    mix(z) = z3,  z1 = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
                  z2 = (z1 ^ (z1 >> 27)) * 0x94D049BB133111EB
                  z3 = z2 ^ (z2 >> 31)

- integer id ``x`` (int64, read as its two's-complement ``uint64``): ``key = mix(x)``
  (a bijection: distinct integer ids never share a key);
- string id: ``key = mix(fnv1a64(utf8 bytes))``, FNV-1a with offset basis
  ``0xCBF29CE484222325`` and prime ``0x100000001B3``;
- the stream of row ``j``: ``s_j = mix(seed + G) ^ keys[j]`` and its ``c``-th word
  ``w_c = mix(s_j + (c + 1) * G)``, ``c = 0, 1, ...``, with ``G = 0x9E3779B97F4A7C15``
  (splitmix64's increment, so the words of one row are splitmix64's sequence from ``s_j``);
- a uniform in ``[0, 1)`` from a word: ``(w >> 11) * 2**-53`` (53 random bits).

Integer and string ids of the same value (``5`` and ``"5"``) get different keys; callers
must use one type for one id column on every side. The kernels import nothing from fastrec.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TWO_M53 = 2.0**-53
_TWO_PI = 2.0 * math.pi


@njit(cache=True, inline="always")
def _mix(z):
    """splitmix64's finaliser of a ``uint64`` (see the module docstring)."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True, inline="always")
def _uniform(word):
    """``[0, 1)`` from the top 53 bits of a ``uint64``."""
    return np.float64(word >> _S11) * _TWO_M53


@njit(cache=True)
def _seed_state(seed):
    """``mix(seed + G)`` for an integer seed (negative seeds as their two's complement)."""
    return _mix(np.uint64(np.int64(seed)) + _GAMMA)


@njit(cache=True, parallel=True)
def hash_int_ids(ids):
    """Keys of integer ids: ``mix(uint64(ids[j]))``.

    Parameters
    ----------
    ids : int64[n]

    Returns
    -------
    uint64[n]
        A bijection of the ids: distinct ids have distinct keys.
    """
    n = ids.shape[0]
    out = np.empty(n, dtype=np.uint64)
    for j in prange(n):
        out[j] = _mix(np.uint64(ids[j]))
    return out


@njit(cache=True, parallel=True)
def hash_bytes_ids(offsets, data):
    """Keys of byte-string ids: ``mix(fnv1a64(data[offsets[j]:offsets[j + 1]]))``.

    ``fnv1a64(b) = h_m`` with ``h_0 = 0xCBF29CE484222325`` and
    ``h_{t+1} = (h_t ^ b_t) * 0x100000001B3``; the strings are the UTF-8 bytes of an Arrow
    string array (its offsets and data buffers).

    Parameters
    ----------
    offsets : int32 or int64[n + 1]
        String ``j`` is ``data[offsets[j]:offsets[j + 1]]``.
    data : uint8[m]

    Returns
    -------
    uint64[n]
    """
    n = offsets.shape[0] - 1
    out = np.empty(n, dtype=np.uint64)
    for j in prange(n):
        h = _FNV_OFFSET
        for p in range(offsets[j], offsets[j + 1]):
            h = (h ^ np.uint64(data[p])) * _FNV_PRIME
        out[j] = _mix(h)
    return out


@njit(cache=True, parallel=True)
def pair_keys(a, b):
    """Keys of ordered pairs: ``mix(mix(a[j] + G) ^ b[j])``.

    Order-sensitive (``(a, b)`` and ``(b, a)`` differ unless ``a == b``), e.g. for a split
    keyed by (user, item).

    Parameters
    ----------
    a, b : uint64[n]

    Returns
    -------
    uint64[n]
    """
    n = a.shape[0]
    out = np.empty(n, dtype=np.uint64)
    for j in prange(n):
        out[j] = _mix(_mix(a[j] + _GAMMA) ^ b[j])
    return out


@njit(cache=True, parallel=True)
def keyed_uniform(seed, keys):
    """One uniform in ``[0, 1)`` per key: the first word of each row's stream.

    ``u_j = (mix(s_j + G) >> 11) * 2**-53`` with ``s_j = mix(seed + G) ^ keys[j]``; the same
    number as the first uniform :func:`keyed_normals` builds for that key and seed.

    Parameters
    ----------
    seed : int
    keys : uint64[n]

    Returns
    -------
    float64[n]
    """
    base = _seed_state(seed)
    n = keys.shape[0]
    out = np.empty(n)
    for j in prange(n):
        out[j] = _uniform(_mix((base ^ keys[j]) + _GAMMA))
    return out


@njit(cache=True, parallel=True)
def keyed_normals(seed, keys, k):
    """``k`` standard normals per key, row ``j`` a function of ``(seed, keys[j])`` only.

    Row ``j`` reads the stream ``w_c = mix(s_j + (c + 1) G)``, ``s_j = mix(seed + G) ^
    keys[j]``, as uniforms ``u_c = (w_c >> 11) 2**-53`` and turns each pair by Box-Muller::

        out[j, 2p]     = sqrt(-2 ln(1 - u_2p)) cos(2 pi u_2p+1)
        out[j, 2p + 1] = sqrt(-2 ln(1 - u_2p)) sin(2 pi u_2p+1)

    (``1 - u`` is in ``(0, 1]``, so the logarithm is finite); for odd ``k`` the last sine is
    dropped. Rows run in parallel, each writing only its own output.

    Parameters
    ----------
    seed : int
    keys : uint64[n]
    k : int >= 0

    Returns
    -------
    float64[n, k]
    """
    base = _seed_state(seed)
    n = keys.shape[0]
    out = np.empty((n, k))
    for j in prange(n):
        state = base ^ keys[j]
        counter = np.uint64(0)
        for p in range(0, k, 2):
            counter += _GAMMA
            u1 = _uniform(_mix(state + counter))
            counter += _GAMMA
            u2 = _uniform(_mix(state + counter))
            radius = math.sqrt(-2.0 * math.log(1.0 - u1))
            angle = _TWO_PI * u2
            out[j, p] = radius * math.cos(angle)
            if p + 1 < k:
                out[j, p + 1] = radius * math.sin(angle)
    return out
