"""Raw ids to codes in the workers, and the coded ratings packed one row per partition.

Codes are positions in a fitted model's sorted id maps (``user_ids.npy``, ``item_ids.npy`` in
its directory), as :class:`fastrec.Ratings` numbers them; ``-1`` marks an id the model has
not seen. Each worker process keeps the id maps as :class:`pandas.Index` objects (hash
tables) for later tasks.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ._worker import ModelFiles, prepare_worker
from .frame import Columns

__all__ = [
    "count_ratings",
    "encode_packed",
    "encode_pairs",
    "encode_ratings",
    "pack_partitions",
    "unpack",
    "unpack_partitions",
]


_PACKED = T.StructType(
    [
        T.StructField("u", T.BinaryType(), False),
        T.StructField("i", T.BinaryType(), False),
        T.StructField("r", T.BinaryType(), False),
    ]
)


def pack_partitions(coded: DataFrame) -> DataFrame:
    """The coded ratings with each partition packed into one row of three binary columns
    (the raw bytes of its int32 ``u``, int32 ``i`` and float64 ``r`` arrays). No shuffle.

    A job that scans all the ratings many times (the bias sweeps) then reads a handful of rows
    and turns each into numpy arrays without a copy (:func:`unpack`), instead of converting
    every cached row to Arrow again. 16 bytes per rating; a partition must hold fewer than
    2**31 / 8 ratings (Spark's binary values are under 2 GiB).
    """

    return coded.mapInArrow(_pack, _PACKED)


def _pack(batches):
    """A partition's coded batches as one row of three binary columns (nothing if empty)."""
    us, its, rs = [], [], []
    for batch in batches:
        us.append(batch.column("u").to_numpy().astype(np.int32))
        its.append(batch.column("i").to_numpy().astype(np.int32))
        rs.append(batch.column("r").to_numpy().astype(np.float64))
    if us:
        yield pa.RecordBatch.from_arrays(
            [pa.array([np.concatenate(a).tobytes()], pa.binary()) for a in (us, its, rs)],
            names=["u", "i", "r"],
        )


def unpack(batch: pa.RecordBatch, row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row ``row`` of a :func:`pack_partitions` batch as (int32 u, int32 i, float64 r)."""
    u = np.frombuffer(batch.column("u")[row].as_buffer(), dtype=np.int32)
    i = np.frombuffer(batch.column("i")[row].as_buffer(), dtype=np.int32)
    r = np.frombuffer(batch.column("r")[row].as_buffer(), dtype=np.float64)
    return u, i, r


def unpack_partitions(packed: DataFrame, batch_rows: int = 1 << 16) -> DataFrame:
    """The rows of a :func:`pack_partitions` frame again: ``u`` int32, ``i`` int32, ``r``
    float64, in the same partitions and order, ``batch_rows`` rows per Arrow batch (views of
    the packed buffers, no copy in the worker). Lazy, as any DataFrame."""
    fields = [
        T.StructField("u", T.IntegerType(), False),
        T.StructField("i", T.IntegerType(), False),
        T.StructField("r", T.DoubleType(), False),
    ]

    def rows(batches):
        for batch in batches:
            for row in range(batch.num_rows):
                arrays = unpack(batch, row)
                for start in range(0, len(arrays[0]), batch_rows):
                    yield pa.RecordBatch.from_arrays(
                        [pa.array(a[start : start + batch_rows]) for a in arrays],
                        names=["u", "i", "r"],
                    )

    return packed.mapInArrow(rows, T.StructType(fields))


def count_ratings(packed: DataFrame, n_users: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Training ratings per user code and per item code (int64), one Spark job."""
    schema = T.StructType(
        [
            T.StructField("side", T.IntegerType(), False),
            T.StructField("counts", T.BinaryType(), False),
        ]
    )

    def count(batches):
        for batch in batches:
            for row in range(batch.num_rows):
                u, i, _ = unpack(batch, row)
                parts = [np.bincount(u, minlength=n_users), np.bincount(i, minlength=n_items)]
                yield pa.RecordBatch.from_arrays(
                    [
                        pa.array([0, 1], pa.int32()),
                        pa.array([p.astype(np.int64).tobytes() for p in parts], pa.binary()),
                    ],
                    names=["side", "counts"],
                )

    table = packed.mapInArrow(count, schema).toArrow()
    users, items = np.zeros(n_users, dtype=np.int64), np.zeros(n_items, dtype=np.int64)
    for side, blob in zip(
        table.column("side").to_pylist(), table.column("counts").to_pylist(), strict=True
    ):
        (users if side == 0 else items)[:] += np.frombuffer(blob, dtype=np.int64)
    return users, items


def codes_of(index, values: pa.Array, n_train=None) -> np.ndarray:
    """int32 codes of raw ids in a fitted id map; -1 for an id not in it (or, with
    ``n_train``, without training ratings). String ids never match an integer id map; integer
    ids are looked up as their decimal strings in a string id map."""
    numeric_index = index.dtype.kind in "iu"
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        if numeric_index:
            return np.full(len(values), -1, dtype=np.int32)
        raw = values.to_numpy(zero_copy_only=False)
    else:
        raw = values.to_numpy(zero_copy_only=False)
        if not numeric_index:
            raw = raw.astype(str)
    codes = index.get_indexer(raw).astype(np.int32)
    if n_train is not None:
        inside = codes >= 0
        codes[inside] = np.where(n_train[codes[inside]] > 0, codes[inside], -1)
    return codes


def encode_packed(df: DataFrame, files: ModelFiles, columns: Columns) -> DataFrame:
    """``pack_partitions(encode_ratings(df, files, columns))`` in one pass of the Python
    workers: each partition's ratings coded and packed into one row (``u``, ``i``, ``r``
    binary), without the coded rows going back to Spark in between."""
    return _encode(df, files, columns, with_rating=True, packed=True)


def encode_ratings(df: DataFrame, files: ModelFiles, columns: Columns) -> DataFrame:
    """``df`` as codes: ``u`` int32, ``i`` int32, ``r`` float64 (every id is in the maps)."""
    return _encode(df, files, columns, with_rating=True)


def encode_pairs(df: DataFrame, files: ModelFiles, columns: Columns) -> DataFrame:
    """``df``'s (user, item) pairs as codes ``u``, ``i`` (int32, -1 for an unknown id)."""
    return _encode(df, files, columns, with_rating=False)


def _encode(
    df: DataFrame, files: ModelFiles, columns: Columns, with_rating: bool, packed: bool = False
) -> DataFrame:
    """The user and item columns as int32 codes of the model's id maps, computed in the workers
    (``mapInArrow``); with ``with_rating``, the rating column too, as float64 ``r``; with
    ``packed``, each partition's rows as one :func:`pack_partitions` row."""
    root = str(files.root)
    user_col, item_col, rating_col = columns.user, columns.item, columns.rating
    fields = [
        T.StructField("u", T.IntegerType(), False),
        T.StructField("i", T.IntegerType(), False),
    ]
    selected = [F.col(user_col), F.col(item_col)]
    if with_rating:
        fields.append(T.StructField("r", T.DoubleType(), False))
        selected.append(F.col(rating_col).cast("double").alias(rating_col))

    def code(batches):
        prepare_worker()
        f = ModelFiles(root)
        users = index_of(f, "user_ids", user_col)
        items = index_of(f, "item_ids", item_col)
        for batch in batches:
            arrays = [
                pa.array(codes_of(users, batch.column(user_col))),
                pa.array(codes_of(items, batch.column(item_col))),
            ]
            if with_rating:
                arrays.append(batch.column(rating_col))
            yield pa.RecordBatch.from_arrays(arrays, names=["u", "i", "r"][: len(arrays)])

    selected_df = df.select(*selected)
    if packed:
        return selected_df.mapInArrow(lambda batches: _pack(code(batches)), _PACKED)
    return selected_df.mapInArrow(code, T.StructType(fields))


_INDEXES: dict = {}


def index_of(files: ModelFiles, name: str, column: str):
    """The id map ``name`` of ``files`` as a pandas Index, cached per process."""
    import pandas as pd

    path = files.root / f"{name}.npy"
    key = (str(path), path.stat().st_mtime_ns)
    index = _INDEXES.get(key)
    if index is None:
        values = files.array(name)
        index = pd.Index(
            values.astype(object) if values.dtype.kind == "U" else np.asarray(values), name=column
        )
        if len(_INDEXES) > 8:
            _INDEXES.clear()
        _INDEXES[key] = index
    return index


def raw_ids(index, codes: np.ndarray) -> pa.Array:
    values = index.to_numpy()[codes]
    if values.dtype == object:
        return pa.array(values.astype(str), pa.string())
    return pa.array(values.astype(np.int64))
