"""Ratings as Spark DataFrames: the columns, their checks, a partition-free split, id coding.

Every function here uses the DataFrame API only (aggregations, ``mapInArrow``), no RDD and
no ``sparkContext``, so it also runs under Spark Connect.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

__all__ = ["Columns", "check_ratings", "check_pairs", "distinct_ids", "train_test_split"]

#: Column that :func:`train_test_split` adds for a moment (never left in its output).
_DRAW = "_fastrec_draw"


@dataclass(frozen=True)
class Columns:
    """Names of the user, item and rating columns (MovieLens's by default)."""

    user: str = "userId"
    item: str = "movieId"
    rating: str = "rating"

    def ids(self) -> tuple[str, str]:
        return self.user, self.item


def _require_columns(df: DataFrame, names, what: str) -> None:
    if not isinstance(df, DataFrame):
        raise TypeError(f"{what}: expected a Spark DataFrame, got {type(df).__name__}")
    missing = [c for c in names if c not in df.columns]
    if missing:
        raise KeyError(
            f"{what}: no column {', '.join(map(repr, missing))} in the DataFrame "
            f"(it has {', '.join(map(repr, df.columns))}); name the columns with "
            "user_col=, item_col=, rating_col="
        )
    kinds = dict(df.dtypes)
    for name in names[:2]:
        if kinds[name] not in ("string", "int", "bigint", "smallint", "tinyint"):
            raise TypeError(
                f"{what}: id column {name!r} has type {kinds[name]}; expected an integer or "
                "string column"
            )


def check_ratings(df: DataFrame, columns: Columns, what: str = "ratings") -> dict:
    """Check a ratings DataFrame in one pass and return its statistics.

    Raises ``KeyError`` for a missing column, ``TypeError`` for an id column that is neither
    integer nor string or a rating column that is not numeric, and ``ValueError`` for an
    empty DataFrame, null ids, or null, NaN or infinite ratings, each naming the column and
    the count, before any model runs: nothing is dropped silently.

    Returns
    -------
    dict with ``n`` (rows), ``mean``, ``std`` (population standard deviation), ``min``,
    ``max`` of the ratings.
    """
    _require_columns(df, [columns.user, columns.item, columns.rating], what)
    rating_type = dict(df.dtypes)[columns.rating]
    if rating_type not in ("double", "float", "int", "bigint", "smallint", "tinyint") and not (
        rating_type.startswith("decimal")
    ):
        raise TypeError(
            f"{what}: rating column {columns.rating!r} has type {rating_type}; expected a "
            "numeric column"
        )
    r = F.col(columns.rating).cast("double")
    finite = r.isNotNull() & ~F.isnan(r) & (F.abs(r) != F.lit(float("inf")))
    row = df.agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(F.col(columns.user).isNull().cast("long")).alias("null_user"),
        F.sum(F.col(columns.item).isNull().cast("long")).alias("null_item"),
        F.sum(r.isNull().cast("long")).alias("null_rating"),
        F.sum(F.isnan(r).cast("long")).alias("nan_rating"),
        F.sum((F.abs(r) == F.lit(float("inf"))).cast("long")).alias("inf_rating"),
        F.avg(F.when(finite, r)).alias("mean"),
        F.stddev_pop(F.when(finite, r)).alias("std"),
        F.min(F.when(finite, r)).alias("min"),
        F.max(F.when(finite, r)).alias("max"),
    ).first()
    n = int(row["n"])
    if n == 0:
        raise ValueError(f"{what}: the DataFrame has no rows")
    for side, name in (("user", columns.user), ("item", columns.item)):
        nulls = int(row[f"null_{side}"] or 0)
        if nulls:
            raise ValueError(
                f"{what}: column {name!r} has {nulls:,} null ids of {n:,} rows; drop or fill "
                "them first (fastrec drops nothing silently)"
            )
    bad = {k: int(row[f"{k}_rating"] or 0) for k in ("null", "nan", "inf")}
    if any(bad.values()):
        raise ValueError(
            f"{what}: column {columns.rating!r} has {bad['null']:,} null, {bad['nan']:,} NaN "
            f"and {bad['inf']:,} infinite values of {n:,} rows; ratings must be finite "
            "numbers (fastrec drops nothing silently)"
        )
    return {
        "n": n,
        "mean": float(row["mean"]),
        "std": float(row["std"] or 0.0),
        "min": float(row["min"]),
        "max": float(row["max"]),
    }


def check_pairs(df: DataFrame, columns: Columns, what: str = "predict") -> int:
    """Check the user and item columns of pairs to score: present, integer or string, no
    null id (``ValueError`` naming the column and count). Returns the number of rows."""
    _require_columns(df, [columns.user, columns.item], what)
    row = df.agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(F.col(columns.user).isNull().cast("long")).alias("null_user"),
        F.sum(F.col(columns.item).isNull().cast("long")).alias("null_item"),
    ).first()
    for side, name in (("user", columns.user), ("item", columns.item)):
        nulls = int(row[f"null_{side}"] or 0)
        if nulls:
            raise ValueError(f"{what}: column {name!r} has {nulls:,} null ids of {row['n']:,}")
    return int(row["n"])


def distinct_ids(df: DataFrame, column: str) -> pd.Index:
    """The distinct ids of ``column``, sorted, as the single-machine id map
    (:class:`fastrec.Ratings` codes are positions in it). Collected to the driver: 8 bytes
    per integer id (800 MB at 100M users)."""
    table = df.select(column).distinct().toArrow()
    values = table.column(0).to_numpy(zero_copy_only=False)
    if values.dtype.kind in "iu":
        values = np.sort(values.astype(np.int64))
    else:
        values = np.sort(values.astype(object))
    return pd.Index(values, name=column)


def _check_split_args(test_size, seed) -> None:
    if (
        isinstance(test_size, bool)
        or not isinstance(test_size, numbers.Real)
        or not 0.0 < test_size < 1.0
    ):
        raise ValueError(
            f"test_size must be a fraction strictly between 0 and 1, got {test_size!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")


def _draws(user: pa.Array, item: pa.Array, seed: int) -> np.ndarray:
    """The split's uniform draw of each (user, item) pair: float64 in [0, 1)."""
    from ..kernels.keyed import keyed_uniform, pair_keys
    from ..keys import id_keys

    return keyed_uniform(seed, pair_keys(id_keys(user), id_keys(item)))


def train_test_split(
    df: DataFrame,
    test_size: float = 0.2,
    seed: int = 7,
    *,
    user_col: str = "userId",
    item_col: str = "movieId",
) -> tuple[DataFrame, DataFrame]:
    """Split ratings into (train, test) by a draw keyed by (user, item, seed).

    A rating goes to the test set when ``u(seed, user, item) < test_size``, with ``u`` a
    uniform number in [0, 1) computed from the ids alone
    (:func:`fastrec.kernels.keyed.keyed_uniform` of :func:`~fastrec.kernels.keyed.pair_keys`
    of the two ids' :func:`fastrec.keys.id_keys`): the split is the same whatever the
    partitioning, the number of executors or the order of the rows, and the same ids give the
    same split in a later run. About ``test_size`` of the rows land in the test set (not
    exactly: each row is drawn on its own). Both outputs keep every input column; they are
    lazy (the draw is recomputed, identically, by each).

    This is not :func:`fastrec.train_test_split`'s split (the blog post's, by row position,
    which depends on the row order); to compare with a single-machine model, feed both the
    same train and test rows (``train.toPandas()``).
    """
    _check_split_args(test_size, seed)
    _require_columns(df, [user_col, item_col], "train_test_split")
    schema = T.StructType([*df.schema.fields, T.StructField(_DRAW, T.DoubleType(), False)])
    seed = int(seed)

    def add_draw(batches):
        from ._worker import prepare_worker

        prepare_worker()
        for batch in batches:
            draw = _draws(batch.column(user_col), batch.column(item_col), seed)
            yield pa.RecordBatch.from_arrays(
                [*batch.columns, pa.array(draw)],
                schema=batch.schema.append(pa.field(_DRAW, pa.float64(), False)),
            )

    marked = df.mapInArrow(add_draw, schema)
    test = marked.filter(F.col(_DRAW) < F.lit(float(test_size))).drop(_DRAW)
    train = marked.filter(F.col(_DRAW) >= F.lit(float(test_size))).drop(_DRAW)
    return train, test
