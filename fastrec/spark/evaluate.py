"""``fastrec.spark.evaluate_all``: every Spark model fitted and scored on one split, one table."""

from __future__ import annotations

import time

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from .frame import train_test_split

__all__ = ["evaluate_all", "default_models"]


def default_models() -> list:
    """One of each :mod:`fastrec.spark` model with its defaults (MLlib's ALS at rank 50,
    regParam 0.1, the comparison the benchmarks make)."""
    from .als import ALS
    from .bias import Bias
    from .knn import ItemKNN
    from .mf import BiasedMF
    from .mllib import MLlibALS

    return [Bias(), ALS(), BiasedMF(), ItemKNN(), MLlibALS(n_factors=50, reg=0.1)]


def evaluate_all(
    df: DataFrame,
    models=None,
    *,
    test_size: float = 0.2,
    seed: int = 7,
    user_col: str = "userId",
    item_col: str = "movieId",
    rating_col: str = "rating",
    show_progress: bool = True,
) -> pd.DataFrame:
    """Split ``df`` (:func:`fastrec.spark.train_test_split`), fit every model on the train part,
    score the test part; the same table as :func:`fastrec.evaluate_all`, best first.

    Columns: ``model``, ``rmse``, ``mae``, ``coverage`` (share of test pairs the model
    answered itself, not its fallback), ``fit_s`` (seconds of ``fit``), ``predict_s`` (seconds
    to predict the test set and aggregate the errors in one Spark job). RMSE and MAE are
    computed by Spark (``sqrt(avg((r - p)^2))``, ``avg(|r - p|)``), nothing is collected but
    the three numbers.

    ``models``: fastrec.spark model instances (default: :func:`default_models`).
    """
    models = default_models() if models is None else list(models)
    train, test = train_test_split(df, test_size, seed, user_col=user_col, item_col=item_col)
    train, test = train.persist(), test.persist()
    rows = []
    try:
        for number, model in enumerate(models, 1):
            if show_progress:
                print(f"[{number}/{len(models)}] {model.name}: fit", flush=True)
            t0 = time.perf_counter()
            model.fit(train, user_col=user_col, item_col=item_col, rating_col=rating_col)
            fit_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            scored = model.predict(test, fallback_col="_fell_back")
            err = F.col(rating_col).cast("double") - F.col("prediction")
            agg = scored.agg(
                F.sqrt(F.avg(err * err)).alias("rmse"),
                F.avg(F.abs(err)).alias("mae"),
                F.avg((~F.col("_fell_back")).cast("double")).alias("coverage"),
            ).first()
            predict_s = time.perf_counter() - t0
            rows.append(
                {
                    "model": model.name,
                    "rmse": float(agg["rmse"]),
                    "mae": float(agg["mae"]),
                    "coverage": float(agg["coverage"]),
                    "fit_s": fit_s,
                    "predict_s": predict_s,
                }
            )
    finally:
        train.unpersist()
        test.unpersist()
    table = pd.DataFrame(rows, columns=["model", "rmse", "mae", "coverage", "fit_s", "predict_s"])
    return table.sort_values("rmse", kind="stable").reset_index(drop=True)
