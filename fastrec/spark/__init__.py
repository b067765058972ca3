"""fastrec on Apache Spark: the models fitted on Spark DataFrames, served by fastrec's kernels
in Spark's Python workers.

>>> from fastrec import spark as fs
>>> train, test = fs.train_test_split(df, test_size=0.2, seed=7)
>>> model = fs.ALS().fit(train)
>>> model.predict(test)                     # test's rows plus a "prediction" column
>>> model.recommend_all(n=10)               # userId, rank, movieId, score
>>> fs.evaluate_all(df)                     # the same table as fastrec.evaluate_all

Only the DataFrame and Arrow APIs are used (``mapInArrow``, grouped and cogrouped
``applyInArrow``), no RDD and no ``sparkContext``, so it also runs under Spark Connect.
Needs ``pip install "fastrec[spark]"`` (pyspark >= 4.1, Java 17).
"""

from __future__ import annotations

try:
    import pyspark  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'fastrec.spark needs pyspark: pip install "fastrec[spark]" (pyspark >= 4.1, Java 17)'
    ) from exc

from .als import ALS
from .base import SparkRecommender, load
from .bias import Bias
from .evaluate import default_models as spark_models
from .evaluate import evaluate_all
from .frame import Columns, check_ratings, train_test_split
from .knn import ItemKNN
from .mf import BiasedMF
from .mllib import MLlibALS
from .session import local_session

__all__ = [
    "ALS",
    "Bias",
    "BiasedMF",
    "Columns",
    "ItemKNN",
    "MLlibALS",
    "SparkRecommender",
    "check_ratings",
    "evaluate_all",
    "load",
    "local_session",
    "spark_models",
    "train_test_split",
]
