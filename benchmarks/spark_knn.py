"""``fastrec.spark.ItemKNN(k=40)`` beside the single-machine ``fastrec.ItemKNN(k=40)`` on real
MovieLens sets: fit seconds, RMSE and the largest prediction difference.

    flock .heavy-run.lock python benchmarks/spark_knn.py
    python benchmarks/spark_knn.py --data ml-1m --repeat 1

Data (under ``$FASTREC_DATA``): ``post`` is ml-latest-small as of 2016 split as the blog post
splits it (:func:`fastrec.train_test_split`, 80/20, seed 7); ``ml-1m`` is ml-1m's
``ratings.csv`` split the same way. Both sides get the same train and test rows; Spark reads
them from parquet files in a temporary folder.

- **Spark**: ``fastrec.spark.ItemKNN(k=40)`` on ``local[cores]`` (``spark.sql.shuffle.partitions``
  = cores, so ``n_blocks`` = cores), fitted once first (the Python workers load their kernels),
  then ``--repeat`` timed fits (the median reported); RMSE of ``predict`` on the test rows.
- **fastrec.spark.Bias**: the part every fastrec.spark fit shares (ids, codes, counts, the
  Bias fallback), timed the same way, for scale.
- **one machine**: ``fastrec.ItemKNN(k=40)`` (its default ``exact=True``: ``fit`` defers the
  neighbour lists, ``predict`` recomputes each item's row) and ``ItemKNN(k=40, exact=False)``
  (``fit`` builds the stored lists, as the Spark fit does), each fitted ``--repeat`` times
  from fresh ratings (the CSR built inside the timed fit), Numba compiled first.

Run it alone on the machine: the seconds are what it is for.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import fastrec

DATA = {"post": "ml-latest-small-2016/ratings.csv", "ml-1m": "ml-1m/ratings.csv"}


def _median_fit(make, data, repeat: int):
    """``(model of the last fit, median seconds)`` of ``repeat`` fits of ``make()``."""
    seconds, model = [], None
    for _ in range(repeat):
        fresh = data() if callable(data) else data
        model = make()
        t0 = time.perf_counter()
        model.fit(fresh)
        seconds.append(time.perf_counter() - t0)
    return model, statistics.median(seconds)


def run(name: str, spark, cores: int, repeat: int) -> list[dict]:
    from fastrec import spark as fs

    ratings = fastrec.load_ratings(Path(os.environ["FASTREC_DATA"]) / DATA[name])
    train, test = fastrec.train_test_split(ratings, test_size=0.2, seed=7)
    test_frame = test.to_frame()[["userId", "movieId", "rating"]]
    rows = []
    # one machine: Numba compiled on a tiny fit first, then fresh ratings for each timed fit
    fastrec.ItemKNN(k=40).fit(train.subset(np.arange(2000))).predict(test_frame[:10])
    for params in ({"k": 40}, {"k": 40, "exact": False}):
        model, fit_s = _median_fit(
            lambda params=params: fastrec.ItemKNN(**params),
            lambda: train.subset(np.arange(len(train))),
            repeat,
        )
        t0 = time.perf_counter()
        pred = model.predict(test_frame)
        predict_s = time.perf_counter() - t0
        if "exact" not in params:
            test_frame = test_frame.assign(reference=pred)  # the default form's predictions
        rows.append(_row(name, f"{model.name}, one machine", fit_s, predict_s, pred, test.ratings))

    with tempfile.TemporaryDirectory(prefix="fastrec-spark-knn-") as tmp:
        paths = {}
        for part, frame in (("train", train.to_frame()), ("test", test_frame)):
            paths[part] = str(Path(tmp) / f"{part}.parquet")
            frame[["userId", "movieId", "rating"]].to_parquet(paths[part], index=False)
        train_df = spark.read.parquet(paths["train"])
        test_df = spark.read.parquet(paths["test"])
        fs.ItemKNN(k=40).fit(train_df)  # the workers import fastrec and load their kernels
        # what every fastrec.spark fit does before the model's own part (ids, codes, counts,
        # the Bias fallback): fastrec.spark.Bias's fit
        bias, bias_s = _median_fit(fs.Bias, train_df, repeat)
        scored = bias.predict(test_df).toPandas()
        rows.append(_row(name, f"fastrec.spark.Bias, local[{cores}]", bias_s, float("nan"),
                         scored.prediction, scored.rating))  # fmt: skip
        model, fit_s = _median_fit(lambda: fs.ItemKNN(k=40), train_df, repeat)
        t0 = time.perf_counter()
        scored = model.predict(test_df).toPandas()
        predict_s = time.perf_counter() - t0
        both = test_frame.merge(scored.drop(columns="rating"), on=["userId", "movieId"])
        assert len(both) == len(test_frame), "every test row scored once"
        row = _row(
            name,
            f"fastrec.spark.{model.name}, local[{cores}]",
            fit_s,
            predict_s,
            both.prediction,
            both.rating,
        )
        row["max_diff"] = float(np.abs(both.prediction - both.reference).max())
        rows.append(row)
    return rows


def _row(data, model, fit_s, predict_s, pred, truth) -> dict:
    rmse = fastrec.rmse(np.asarray(pred), np.asarray(truth))
    return {"data": data, "model": model, "fit_s": fit_s, "predict_s": predict_s, "rmse": rmse}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", choices=sorted(DATA), default=["post", "ml-1m"])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if not os.environ.get("FASTREC_DATA"):
        sys.exit("set FASTREC_DATA to the MovieLens data directory")
    from fastrec import spark as fs

    spark = fs.local_session(args.cores)
    spark.sparkContext.setLogLevel("ERROR")
    print(
        f"# {time.strftime('%Y-%m-%d')}, {platform.node()}, {os.cpu_count()} cores, "
        f"fastrec {fastrec.__version__}, Spark {spark.version}, median of {args.repeat} fits, "
        f"load average at start {os.getloadavg()[0]:.1f}"
    )
    print("| data | model | fit s | predict s | RMSE | max abs diff vs one machine |")
    print("|---|---|---:|---:|---:|---:|")
    for name in args.data:
        for row in run(name, spark, args.cores, args.repeat):
            diff = f"{row['max_diff']:.1e}" if "max_diff" in row else ""
            print(
                f"| {row['data']} | {row['model']} | {row['fit_s']:.2f} | {row['predict_s']:.2f} "
                f"| {row['rmse']:.4f} | {diff} |",
                flush=True,
            )
    spark.stop()


if __name__ == "__main__":
    main()
