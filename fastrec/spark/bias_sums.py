"""The damped bias sweeps on Spark (what :class:`fastrec.spark.Bias` fits, and every model's
``Bias`` fallback). Imports nothing from :mod:`fastrec.spark.base`, which calls it.

Two ways to run the same sweeps, chosen by the number of ratings:

- **one task** (up to :data:`ONE_TASK_MAX_RATINGS` ratings): the packed partitions are read by
  a single task (``coalesce(1)``, no shuffle), which builds the CSR and CSC arrays as
  :class:`fastrec.Ratings` does and runs the single-machine kernel
  (:func:`fastrec.kernels.biases.fit_biases_als`): one Spark job for every sweep, and the
  single machine's numbers, addition for addition.
- **distributed sums** (more ratings): each sweep's two sides are sums over the packed
  partitions, one Spark job per side and sweep (``2 * n_iter`` jobs of about 0.15 s each on
  ``local[2]``), the partial sums added on the driver.

Why not one barrier stage (``mapInArrow(barrier=True)``, ``BarrierTaskContext.allGather`` per
sweep)? In Spark 4.x a task waiting in ``allGather`` or ``barrier()`` polls for the answer
once a second (``BarrierTaskContext.runBarrier``): measured on ``local[2]``, each exchange
costs about 1 s, 20 s for the 20 exchanges, against 2-4.5 s for the 20 jobs (ml-1m shape).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from ._worker import prepare_worker
from .coding import unpack

__all__ = ["ONE_TASK_MAX_RATINGS", "fit_bias_arrays"]

#: The most ratings fitted in one task. Its Python worker holds about 64 bytes per rating at
#: its peak (the packed arrays as Arrow gives them and their concatenation, 16 bytes each; the
#: CSR and CSC arrays, 12 bytes each; scipy's sort), so 2**24 ratings (16.8M, the synthetic
#: ml-25m shape's training set is 20M) stay near 1 GiB, under the 2 GiB fastrec.spark allows
#: a Python worker at its peak. Read at each fit: tests set it to 0 to run the distributed sums.
ONE_TASK_MAX_RATINGS = 1 << 24

_SUMS = T.StructType(
    [
        T.StructField("code", T.IntegerType(), False),
        T.StructField("total", T.DoubleType(), False),
    ]
)

_BIASES = T.StructType(
    [
        T.StructField("side", T.IntegerType(), False),
        T.StructField("values", T.BinaryType(), False),
    ]
)


def fit_bias_arrays(
    context,
    *,
    reg_user: float = 5.0,
    reg_item: float = 3.0,
    n_iter: int = 10,
) -> dict:
    """:func:`fastrec.kernels.biases.fit_biases_als` on Spark: the same sweeps, items first::

        b_i = sum_{u in R(i)} (r_ui - mu - b_u) / (reg_item + |R(i)|)
        b_u = sum_{i in R(u)} (r_ui - mu - b_i) / (reg_user + |R(u)|)

    Parameters
    ----------
    context : FitContext
        ``packed``, ``mean`` (``mu``), ``n_users``, ``n_items``, ``user_counts``,
        ``item_counts`` (int64, ``|R(u)|`` and ``|R(i)|``).
    reg_user, reg_item : float
        The damping terms.
    n_iter : int
        Number of (items, users) sweeps.

    Returns
    -------
    dict
        ``{"user_bias_": float64[n_users], "item_bias_": float64[n_items]}`` (0 for codes
        without ratings).

    Notes
    -----
    Up to :data:`ONE_TASK_MAX_RATINGS` ratings, one Spark task runs the single-machine kernel
    on the CSR/CSC arrays (:func:`_fit_in_one_task`): the single machine's result, bit for bit
    when ``mu`` is the same. Above it, each sum is a Spark job over the packed partitions
    (:func:`_side_sums`), equal to the kernel's up to the order of the additions.
    """
    n_ratings = int(np.sum(context.user_counts))
    params = (float(context.mean), float(reg_user), float(reg_item), int(n_iter))
    if n_ratings <= ONE_TASK_MAX_RATINGS:
        return _fit_in_one_task(context.packed, context.n_users, context.n_items, *params)
    return _fit_by_sweeps(context, *params)


def _fit_in_one_task(
    packed: DataFrame,
    n_users: int,
    n_items: int,
    mu: float,
    reg_user: float,
    reg_item: float,
    n_iter: int,
) -> dict:
    """The whole fit in one Spark task: ``packed.coalesce(1)`` (a narrow dependency: each
    packed partition is read where it is cached and sent to the one task, no shuffle), the
    ratings assembled into CSR and CSC arrays exactly as :attr:`fastrec.Ratings.csr` and
    :attr:`~fastrec.Ratings.csc` build them, then :func:`fastrec.kernels.biases.fit_biases_als`.
    Returns the two bias arrays (float64)."""

    def fit(batches):
        import scipy.sparse as sp

        from ..kernels.biases import fit_biases_als

        prepare_worker()
        parts = [unpack(batch, row) for batch in batches for row in range(batch.num_rows)]
        dtypes = (np.int32, np.int32, np.float64)
        u, i, r = (
            np.concatenate([p[k] for p in parts] or [np.zeros(0, d)]) for k, d in enumerate(dtypes)
        )
        del parts  # the Arrow buffers can go: the concatenations are copies
        csr = sp.csr_array((r, (u, i)), shape=(n_users, n_items))
        del u, i, r
        csr.sort_indices()
        csc = csr.tocsc()
        csc.sort_indices()
        biases = fit_biases_als(
            csr.indptr, csr.indices, csr.data, csc.indptr, csc.indices, csc.data,
            mu, reg_user, reg_item, n_iter,
        )  # fmt: skip
        blobs = [np.ascontiguousarray(b, dtype=np.float64).tobytes() for b in biases]
        yield pa.RecordBatch.from_arrays(
            [pa.array([0, 1], pa.int32()), pa.array(blobs, pa.binary())], names=["side", "values"]
        )

    table = packed.coalesce(1).mapInArrow(fit, _BIASES).toArrow()
    if table.num_rows != 2:  # pragma: no cover - the task always answers
        raise RuntimeError(f"the bias task returned {table.num_rows} rows, expected 2")
    out = {}
    for side, blob in zip(
        table.column("side").to_pylist(), table.column("values").to_pylist(), strict=True
    ):
        out["user_bias_" if side == 0 else "item_bias_"] = np.frombuffer(blob, dtype=np.float64)
    if len(out["user_bias_"]) != n_users or len(out["item_bias_"]) != n_items:
        raise RuntimeError("the bias task returned arrays of the wrong length")
    return {k: v.copy() for k, v in out.items()}


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


def _fit_by_sweeps(context, mu: float, reg_user: float, reg_item: float, n_iter: int) -> dict:
    """The sweeps as distributed sums, two Spark jobs per sweep (:func:`_side_sums`)."""
    user_bias, item_bias = np.zeros(context.n_users), np.zeros(context.n_items)
    user_den = context.user_counts + reg_user
    item_den = context.item_counts + reg_item
    for _ in range(n_iter):
        sums = _side_sums(context.packed, "i", user_bias, mu, context.n_items)
        item_bias = np.divide(
            sums, item_den, out=np.zeros_like(sums), where=context.item_counts > 0
        )
        sums = _side_sums(context.packed, "u", item_bias, mu, context.n_users)
        user_bias = np.divide(
            sums, user_den, out=np.zeros_like(sums), where=context.user_counts > 0
        )
    return {"user_bias_": user_bias, "item_bias_": item_bias}
