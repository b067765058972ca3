"""``fastrec.spark.ALS()`` beside Spark MLlib's ALS and the single-machine ``fastrec.ALS()`` on
real MovieLens sets: fit seconds, RMSE, and the largest prediction difference from one machine.

    flock .heavy-run.lock python benchmarks/spark_als.py
    python benchmarks/spark_als.py --data post --repeat 1 --blocks 1 2 7

Data (under ``$FASTREC_DATA``): ``post`` is ml-latest-small as of 2016, ``ml-1m`` ml-1m's
``ratings.csv``, read by Spark from a parquet copy in a temporary folder; each split 80/20
by :func:`fastrec.spark.train_test_split` (seed 7, keyed by user, item and seed). The
single-machine model gets the same training rows (``Ratings.from_frame(train.toPandas())``),
so the answers should agree to rounding.

- **fastrec.spark.ALS()** (defaults, ``n_blocks`` = ``spark.sql.shuffle.partitions`` = cores
  unless ``--blocks``): fitted once on a tiny set first (the Python workers load their
  kernels), then ``--repeat`` timed fits; the median is reported, with the median of its
  iterations' seconds (``history_``), the block-building and the shared set-up measured as
  the fit of ``fastrec.spark.Bias()`` (ids, codes, counts, the Bias fallback: the part every
  fastrec.spark model fits first).
- **MLlibALS(n_factors=50, reg=0.1 and 0.05)**: Spark's ALS, 10 iterations, with the same
  set-up (its unknown pairs get the Bias fallback; MLlib alone gives NaN).
- **one machine**: ``fastrec.ALS()`` fitted ``--repeat`` times from fresh ``Ratings`` (the
  CSR built inside the timed fit), Numba compiled first.

RMSE of every model on the same test rows. Run it alone on the machine: the seconds are what
it is for.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import fastrec

DATA = {"post": "ml-latest-small-2016/ratings.csv", "ml-1m": "ml-1m/ratings.csv"}


def _timed_fits(make, fit, repeat: int):
    """``(last model, median seconds, all seconds)`` of ``repeat`` fits."""
    seconds, model = [], None
    for _ in range(repeat):
        model = make()
        t0 = time.perf_counter()
        fit(model)
        seconds.append(time.perf_counter() - t0)
    return model, statistics.median(seconds), seconds


def _spark_rmse(model, test) -> float:
    from pyspark.sql import functions as F

    err = F.col("rating") - F.col("prediction")
    return float(model.predict(test).agg(F.sqrt(F.avg(err * err))).first()[0])


def run(name: str, spark, repeat: int, blocks: list) -> list[dict]:
    from fastrec import spark as fs

    frame = pd.read_csv(Path(os.environ["FASTREC_DATA"]) / DATA[name])
    # from parquet, as ratings usually come: a DataFrame made from pandas holds its rows in
    # the query plan, which Spark then compares on every plan it builds (about 1 s each at
    # 1M rows), a cost no table read has
    path = Path(tempfile.mkdtemp(prefix="spark-als-")) / f"{name}.parquet"
    frame[["userId", "movieId", "rating"]].to_parquet(path, index=False)
    df = spark.read.parquet(str(path))
    train, test = fs.train_test_split(df, test_size=0.2, seed=7)
    train, test = train.persist(), test.persist()
    train_pdf, test_pdf = train.toPandas(), test.toPandas()
    print(f"{name}: {len(train_pdf):,} train and {len(test_pdf):,} test ratings", flush=True)
    rows = []

    def add(model_name, seconds, rmse, **extra):
        rows.append({"data": name, "model": model_name, "fit_s": seconds, "rmse": rmse, **extra})
        shown = ", ".join(f"{k} {v}" for k, v in extra.items())
        print(f"  {model_name}: fit {seconds:.2f} s, RMSE {rmse:.4f} {shown}", flush=True)

    # one machine
    def fresh():
        return fastrec.Ratings.from_frame(train_pdf[["userId", "movieId", "rating"]])

    fastrec.ALS(n_iter=1).fit(fresh())  # compile
    local, seconds, _ = _timed_fits(fastrec.ALS, lambda m: m.fit(fresh()), repeat)
    local_pred = local.predict(test_pdf[["userId", "movieId"]])
    add("fastrec.ALS() one machine", seconds, fastrec.rmse(local_pred, test_pdf.rating))

    # the shared set-up of every fastrec.spark fit
    _, seconds, _ = _timed_fits(fs.Bias, lambda m: m.fit(train), repeat)
    add("fastrec.spark.Bias() (set-up)", seconds, float("nan"))

    for n_blocks in blocks:
        model, seconds, _ = _timed_fits(
            lambda b=n_blocks: fs.ALS(n_blocks=b), lambda m: m.fit(train), repeat
        )
        scored = model.predict(test).toPandas()
        want = local.predict(scored[["userId", "movieId"]])
        history = model.files_.meta()["state_json"]["history_"]
        add(
            f"fastrec.spark.ALS(n_blocks={model.n_blocks})" if n_blocks else "fastrec.spark.ALS()",
            seconds,
            fastrec.rmse(scored.prediction, scored.rating),
            max_diff=f"{np.abs(scored.prediction.to_numpy() - want).max():.1e}",
            iteration_s=f"{statistics.median(history['seconds']):.3f}",
        )

    for reg in (0.1, 0.05):
        model, seconds, _ = _timed_fits(
            lambda r=reg: fs.MLlibALS(n_factors=50, reg=r), lambda m: m.fit(train), repeat
        )
        add(f"MLlibALS(n_factors=50, reg={reg})", seconds, _spark_rmse(model, test))
    train.unpersist()
    test.unpersist()
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=list(DATA), choices=list(DATA))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument(
        "--blocks", nargs="+", type=int, default=[0], help="n_blocks values (0: the default)"
    )
    args = parser.parse_args(argv)
    from fastrec import spark as fs

    spark = fs.local_session(args.cores)
    tiny = spark.createDataFrame(
        pd.DataFrame({"userId": [1, 1, 2, 3], "movieId": [1, 2, 2, 3], "rating": [4.0, 3, 5, 2]})
    )
    fs.ALS(n_iter=1).fit(tiny)  # the workers load their kernels
    rows = []
    for name in args.data:
        rows += run(name, spark, args.repeat, [b or None for b in args.blocks])
    spark.stop()
    table = pd.DataFrame(rows)
    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; local[{args.cores}]")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
