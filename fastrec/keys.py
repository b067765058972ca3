"""64-bit keys of raw ids, for random numbers that follow the id rather than the row position.

:func:`id_keys` turns a column of ids (user or item) into ``uint64`` keys, the input of the
keyed kernels in :mod:`fastrec.kernels.keyed` (``keyed_normals``, ``keyed_uniform``,
``pair_keys``). A model that draws its initial factors as ``keyed_normals(seed,
id_keys(ids), k)`` starts from the same numbers for the same id on one machine and on Spark,
whatever the order of the ids, the partitioning or the number of blocks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from .kernels.keyed import hash_bytes_ids, hash_int_ids

__all__ = ["id_keys"]


def id_keys(ids) -> np.ndarray:
    """The ``uint64`` key of each id.

    - integer ids (any integer dtype, or floats that all hold whole numbers, as pandas makes
      of an integer column with missing values): ``hash_int_ids(ids.astype(int64))``, the
      splitmix64 finaliser of the id's two's-complement bits, ``mix(uint64(x))``; a bijection,
      so distinct integer ids never share a key;
    - string ids (``str`` objects, pandas string dtypes, Arrow string types, dictionary-encoded
      or not): ``hash_bytes_ids`` of their UTF-8 bytes, ``mix(fnv1a64(utf8(x)))``.

    The formulas are in :mod:`fastrec.kernels.keyed`. The integer ``5`` and the string ``"5"``
    get different keys: give one id column the same type everywhere it is keyed.

    Parameters
    ----------
    ids : numpy.ndarray, pandas.Index, pandas.Series, pyarrow.Array or pyarrow.ChunkedArray
        One-dimensional, no missing values.

    Returns
    -------
    numpy.ndarray
        uint64[n], in the order of ``ids``.

    Raises
    ------
    TypeError
        For ids that are neither integers nor strings (floats with a fractional part, booleans,
        dates, bytes, a mix of types) or hold missing values; the message says what was found.
    """
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    if isinstance(ids, pa.Array):
        return _arrow_keys(ids)
    if isinstance(ids, pd.Index | pd.Series):
        if isinstance(ids.dtype, pd.StringDtype | pd.ArrowDtype):
            return _arrow_keys(pa.array(ids))
        values = ids.to_numpy()
    elif isinstance(ids, np.ndarray):
        values = ids
    else:
        raise TypeError(
            "id_keys expects a numpy array, pandas Index or Series, or pyarrow array of ids, "
            f"got {type(ids).__name__}"
        )
    if values.ndim != 1:
        raise TypeError(f"id_keys expects a one-dimensional array of ids, got shape {values.shape}")
    return _numpy_keys(values)


def _numpy_keys(values: np.ndarray) -> np.ndarray:
    kind = values.dtype.kind
    if kind in "iu":
        return hash_int_ids(values.astype(np.int64, copy=False))
    if kind == "f":
        return hash_int_ids(_whole_numbers(values))
    if kind in "UT":
        return _string_keys(values)
    if kind == "O":
        inferred = pd.api.types.infer_dtype(values, skipna=False)
        if inferred == "integer":
            return hash_int_ids(values.astype(np.int64))
        if inferred in ("string", "empty"):
            return _string_keys(values)
        _refuse(f"an object array of {inferred} values")
    _refuse(f"dtype {values.dtype}")


def _arrow_keys(array: pa.Array) -> np.ndarray:
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if array.null_count:
        _refuse(f"{array.null_count} missing value(s)")
    t = array.type
    if pa.types.is_integer(t):
        return hash_int_ids(array.to_numpy(zero_copy_only=False).astype(np.int64, copy=False))
    if pa.types.is_floating(t):
        return hash_int_ids(_whole_numbers(array.to_numpy(zero_copy_only=False)))
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return _large_string_keys(array.cast(pa.large_string()))
    _refuse(f"Arrow type {t}")


def _string_keys(values: np.ndarray) -> np.ndarray:
    """Keys of a numpy array of ``str``: its UTF-8 bytes through an Arrow large_string."""
    if values.dtype.kind == "T":  # numpy's variable-width StringDType
        values = values.astype(object)
    return _large_string_keys(pa.array(values, type=pa.large_string()))


def _large_string_keys(array: pa.Array) -> np.ndarray:
    """``hash_bytes_ids`` over the offsets and data buffers of an Arrow large_string array."""
    _, offsets_buf, data_buf = array.buffers()
    n, start = len(array), array.offset  # a slice shares its parent's buffers
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[start : start + n + 1]
    if n == 0:
        return np.empty(0, dtype=np.uint64)
    data = np.empty(0, np.uint8) if data_buf is None else np.frombuffer(data_buf, np.uint8)
    return hash_bytes_ids(offsets, data)


def _whole_numbers(values: np.ndarray) -> np.ndarray:
    """Float ids as int64, when every one is a whole number within int64's range."""
    finite = np.isfinite(values)
    if not finite.all():
        _refuse(f"{int((~finite).sum())} missing or infinite value(s) (NaN or inf)")
    inside = (values >= -(2.0**63)) & (values < 2.0**63)
    whole = inside & (values == np.floor(values))
    if not whole.all():
        bad = float(values[~whole][0])
        _refuse(f"floats that are not whole numbers (e.g. {bad!r})")
    return values.astype(np.int64)


def _refuse(found: str):
    raise TypeError(
        "id_keys expects integer ids or string ids (str, a pandas or Arrow string type), "
        f"without missing values; got {found}"
    )
