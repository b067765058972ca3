"""Spark MLlib's own ALS behind the :mod:`fastrec.spark` interface: the baseline to compare with."""

from __future__ import annotations

import numpy as np
from pyspark.sql import DataFrame

from .. import models
from .base import FitContext, SparkRecommender

__all__ = ["MLlibALS"]


class MLlibALS(SparkRecommender):
    """:class:`pyspark.ml.recommendation.ALS` (explicit feedback) with fastrec's interface.

    MLlib fits ``pred(u, i) = x_u . y_i`` (no biases, no global mean) by block ALS with the
    penalty scaled by each row's rating count (``regParam``, as ALS-WR). Here it is fitted on
    the coded ratings with ``coldStartStrategy="nan"``; its factors are then collected and
    served like every fastrec.spark model, as a :class:`fastrec.ALS` whose biases cancel the
    global mean (``b_u = -mu``, ``b_i = 0``), so ``predict`` gives ``x_u . y_i`` clipped to the
    rating range (MLlib does not clip) and the :class:`fastrec.Bias` fallback where MLlib gives
    NaN (an unknown user or item). ``mllib_model_`` is the fitted MLlib model.

    Parameters
    ----------
    n_factors : int, default 10   (MLlib's ``rank``)
    reg : float, default 0.1      (``regParam``)
    n_iter : int, default 10      (``maxIter``)
    seed : int, default 0
    n_blocks : int or None
        ``numUserBlocks`` and ``numItemBlocks`` (default: ``spark.sql.shuffle.partitions``).
        MLlib's result depends on it.
    """

    _local_class = models.ALS

    def __init__(
        self,
        n_factors: int = 10,
        reg: float = 0.1,
        n_iter: int = 10,
        seed: int = 0,
        *,
        n_blocks=None,
    ):
        super().__init__(n_blocks=n_blocks, n_factors=n_factors, reg=reg, n_iter=n_iter, seed=seed)

    def _fit_coded(self, coded: DataFrame, context: FitContext) -> dict:
        from pyspark.ml.recommendation import ALS as SparkALS

        als = SparkALS(
            rank=int(self.params["n_factors"]),
            maxIter=int(self.params["n_iter"]),
            regParam=float(self.params["reg"]),
            userCol="u",
            itemCol="i",
            ratingCol="r",
            coldStartStrategy="nan",
            seed=int(self.params["seed"]),
            numUserBlocks=context.n_blocks,
            numItemBlocks=context.n_blocks,
        )
        self.mllib_model_ = als.fit(coded)
        k = int(self.params["n_factors"])
        users = _factor_matrix(self.mllib_model_.userFactors, context.n_users, k)
        items = _factor_matrix(self.mllib_model_.itemFactors, context.n_items, k)
        return {
            "user_factors_": users,
            "item_factors_": items,
            "user_bias_": np.full(context.n_users, -float(context.mean)),
            "item_bias_": np.zeros(context.n_items),
            "history_": {},
        }


def _factor_matrix(frame: DataFrame, size: int, k: int) -> np.ndarray:
    """MLlib's ``(id, features)`` factors as float64[size, k] (rows without factors: 0)."""
    table = frame.toArrow()
    out = np.zeros((size, k))
    ids = table.column("id").to_numpy()
    features = table.column("features").combine_chunks()
    out[ids] = features.flatten().to_numpy(zero_copy_only=False).reshape(-1, k)
    return out
