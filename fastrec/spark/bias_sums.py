"""The damped bias sweeps on Spark, by distributed sums (what :class:`fastrec.spark.Bias` fits,
and every model's ``Bias`` fallback). Imports nothing from :mod:`fastrec.spark.base`, which
calls it."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from ._worker import prepare_worker
from .coding import unpack

__all__ = ["fit_bias_arrays"]


_SUMS = T.StructType(
    [
        T.StructField("code", T.IntegerType(), False),
        T.StructField("total", T.DoubleType(), False),
    ]
)


def _side_sums(packed: DataFrame, side: str, other_bias: np.ndarray, offset: float, size: int):
    """``sum over the side's ratings of (r - offset - other_bias[other code])`` per code of
    ``side`` ("u" or "i"): each packed partition sums its rows (``np.bincount``), the driver
    adds the partial sums. One Spark job, no shuffle; the other side's biases travel in the
    task closure (8 bytes per code)."""
    other_bias = np.ascontiguousarray(other_bias, dtype=np.float64)

    def partial_sums(batches):
        prepare_worker()
        for batch in batches:
            for row in range(batch.num_rows):
                u, i, r = unpack(batch, row)
                mine, theirs = (u, i) if side == "u" else (i, u)
                part = np.bincount(mine, weights=r - offset - other_bias[theirs], minlength=size)
                nz = np.flatnonzero(part != 0.0)
                yield pa.RecordBatch.from_arrays(
                    [pa.array(nz.astype(np.int32)), pa.array(part[nz])], names=["code", "total"]
                )

    table = packed.mapInArrow(partial_sums, _SUMS).toArrow()
    out = np.zeros(size)
    np.add.at(out, table.column("code").to_numpy(), table.column("total").to_numpy())
    return out


def fit_bias_arrays(
    coded: DataFrame,
    context,
    *,
    reg_user: float = 5.0,
    reg_item: float = 3.0,
    n_iter: int = 10,
) -> dict:
    """:func:`fastrec.kernels.biases.fit_biases_als` on Spark: the same sweeps, items first::

        b_i = sum_{u in R(i)} (r_ui - mu - b_u) / (reg_item + |R(i)|)
        b_u = sum_{i in R(u)} (r_ui - mu - b_i) / (reg_user + |R(u)|)

    each sum computed by :func:`_side_sums` (two Spark jobs per sweep). Returns
    ``{"user_bias_": float64[n_users], "item_bias_": float64[n_items]}`` (0 for codes without
    ratings), equal to the single-machine kernel's up to the order of the additions.
    """
    mu = float(context.mean)
    user_bias, item_bias = np.zeros(context.n_users), np.zeros(context.n_items)
    user_den = context.user_counts + float(reg_user)
    item_den = context.item_counts + float(reg_item)
    for _ in range(int(n_iter)):
        sums = _side_sums(context.packed, "i", user_bias, mu, context.n_items)
        item_bias = np.divide(
            sums, item_den, out=np.zeros_like(sums), where=context.item_counts > 0
        )
        sums = _side_sums(context.packed, "u", item_bias, mu, context.n_users)
        user_bias = np.divide(
            sums, user_den, out=np.zeros_like(sums), where=context.user_counts > 0
        )
    return {"user_bias_": user_bias, "item_bias_": item_bias}
