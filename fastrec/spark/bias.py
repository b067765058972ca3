"""The damped bias baseline on Spark: :class:`fastrec.Bias` fitted by distributed sums."""

from __future__ import annotations

from pyspark.sql import DataFrame

from .. import models
from .base import FitContext, SparkRecommender
from .bias_sums import fit_bias_arrays

__all__ = ["Bias", "fit_bias_arrays"]


class Bias(SparkRecommender):
    """:class:`fastrec.Bias` (``mu + b_u + b_i``, damped) fitted on Spark by distributed sums.

    Parameters
    ----------
    reg_user, reg_item : float, default 5 and 3
    n_iter : int, default 10
    n_blocks : int or None
        Blocks of users for ``recommend_all`` (default: ``spark.sql.shuffle.partitions``).
    """

    _local_class = models.Bias

    def __init__(
        self, reg_user: float = 5.0, reg_item: float = 3.0, n_iter: int = 10, *, n_blocks=None
    ):
        super().__init__(n_blocks=n_blocks, reg_user=reg_user, reg_item=reg_item, n_iter=n_iter)

    def _fit_coded(self, coded: DataFrame, context: FitContext) -> dict:
        return fit_bias_arrays(context, **self.params)
