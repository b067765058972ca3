"""fastrec on Spark beside Spark MLlib's ALS and beside single-machine fastrec, on one local Spark.

    python benchmarks/spark_scale.py --shape ml-1m
    python benchmarks/spark_scale.py --shape ml-1m ml-10m --out spark-scale
    python benchmarks/spark_scale.py --shape ml-1m --models Bias ALS --no-mllib
    python benchmarks/spark_scale.py --shape ml-1m --models ALS ALS-auto

For each synthetic shape (``fastrec.datasets.synthetic``, seed 0, split 80/20 as the post splits,
seed 7; the same train and test rows for every contestant, read by Spark from parquet files in
a temporary folder):

- **fit**: each ``fastrec.spark`` model with its defaults (``ALS-auto``: ``ALS(reg="auto")``,
  the penalty chosen in the fit on both sides; fitted once on a tiny set first, so
  that the Python workers have their kernels), its single-machine counterpart on the same rows
  (the ratings in memory, the CSR/CSC built inside the timed fit, as Spark has to; its Numba
  kernels compiled on a tiny set first),
  and ``MLlibALS`` at rank 50 with ``regParam`` 0.05 and 0.1 (the better one is the
  comparison). Seconds of ``fit``, RMSE on the test rows (``predict`` + one Spark
  aggregation), and the ratios: Spark fit over single-machine fit (the overhead), MLlib's fit
  over fastrec.spark's (the speed-up) and fastrec.spark's RMSE less MLlib's.
- **top-10 for every user**: ``recommend_all(n=10)`` (seen items excluded) against MLlib's
  ``recommendForAllUsers(10)`` followed by the anti-join that removes the seen items (which
  MLlib cannot do itself: it then returns fewer than 10 items for most users; the benchmark
  says how many). Both written to a ``noop`` sink so the whole result is computed.
- **worker memory**: the peak resident memory of each Spark Python worker process during the
  run, sampled every 0.2 s from /proc (Linux), reported as the maximum over the workers.

Run it alone on the machine (``flock .heavy-run.lock python benchmarks/spark_scale.py``): the
seconds are what it is for. The session is ``local[cores]`` (``--cores``, default 2) with
``spark.sql.shuffle.partitions`` = cores and ``--driver-memory`` (default 8g).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from _common import synthetic_split, warm_up, write_parquet

import fastrec

SPARK_MODELS = ("Bias", "ALS", "BiasedMF", "ItemKNN")
#: Parameters other than the defaults, the same on both sides (ItemKNN on Spark is the k form).
MODEL_PARAMS = {"ItemKNN": {"k": 40}, "ALS-auto": {"reg": "auto"}}
#: Contestants that are a class with other parameters (``--models`` name: class name).
MODEL_CLASSES = {"ALS-auto": "ALS"}


class WorkerMemory:
    """Peak RSS of Spark's Python worker processes (``pyspark.daemon`` / ``pyspark.worker``),
    sampled from /proc every ``interval`` seconds on a background thread."""

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.peak: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.is_set():
            for pid_dir in Path("/proc").iterdir():
                if not pid_dir.name.isdigit():
                    continue
                try:
                    cmd = (pid_dir / "cmdline").read_bytes()
                    if b"pyspark" not in cmd or b"daemon" not in cmd and b"worker" not in cmd:
                        continue
                    rss = int((pid_dir / "statm").read_text().split()[1]) * page
                except (OSError, ValueError, IndexError):
                    continue
                pid = int(pid_dir.name)
                self.peak[pid] = max(self.peak.get(pid, 0), rss)
            self._stop.wait(self.interval)

    def max_gib(self) -> float:
        return max(self.peak.values(), default=0) / 2**30


def _score(model, test_df) -> tuple[float, float]:
    """(RMSE, seconds) of the model on the test rows: predict + one aggregation."""
    from pyspark.sql import functions as F

    t0 = time.perf_counter()
    err = F.col("rating") - F.col("prediction")
    row = model.predict(test_df).agg(F.sqrt(F.avg(err * err)).alias("rmse")).first()
    return float(row["rmse"]), time.perf_counter() - t0


def _recommend_seconds(model, spark) -> float:
    t0 = time.perf_counter()
    model.recommend_all(10).write.format("noop").mode("overwrite").save()
    return time.perf_counter() - t0


def _mllib_recommend(mllib_model, coded_train, spark) -> tuple[float, float]:
    """MLlib's recommendForAllUsers(10) then the anti-join of seen items: seconds, and the mean
    number of items left per user."""
    from pyspark.sql import functions as F

    t0 = time.perf_counter()
    recs = mllib_model.recommendForAllUsers(10)
    flat = recs.select("u", F.posexplode("recommendations").alias("pos", "rec")).select(
        "u", "pos", F.col("rec.i").alias("i"), F.col("rec.rating").alias("score")
    )
    kept = flat.join(coded_train.select("u", "i"), on=["u", "i"], how="left_anti").persist()
    kept.write.format("noop").mode("overwrite").save()
    seconds = time.perf_counter() - t0
    per_user = kept.groupBy("u").count().agg(F.avg("count")).first()[0]
    kept.unpersist()
    return seconds, float(per_user or 0.0)


def run_shape(spark, shape: str, models: list[str], mllib: bool, recommend: bool) -> list[dict]:
    from fastrec import spark as fs
    from fastrec.spark.base import encode_ratings

    train, test = synthetic_split(shape)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="fastrec-spark-bench-") as tmp:
        write_parquet(train, Path(tmp) / "train.parquet")
        write_parquet(test, Path(tmp) / "test.parquet")
        train_df = spark.read.parquet(str(Path(tmp) / "train.parquet")).persist()
        test_df = spark.read.parquet(str(Path(tmp) / "test.parquet")).persist()
        n_train, n_test = train_df.count(), test_df.count()
        print(f"{shape}: {n_train:,} train, {n_test:,} test ratings", flush=True)
        tiny_df = spark.createDataFrame(
            [
                (u, i, float(1 + (u * 7 + i) % 5))
                for u in range(30)
                for i in range(20)
                if (u + i) % 3
            ],
            "userId long, movieId long, rating double",
        )
        for name in models:
            cls = MODEL_CLASSES.get(name, name)
            if not hasattr(fs, cls):
                print(f"  fastrec.spark has no {name}; skipped", flush=True)
                continue
            params = MODEL_PARAMS.get(name, {})
            local_model = getattr(fastrec, cls)(**params)
            warm_up(local_model)
            # A Ratings without its cached CSR/CSC: building them is part of a fit from data in
            # memory, as it is of the Spark fit.
            fresh = fastrec.Ratings(
                train.user_index, train.item_index, train.user_codes, train.item_codes,
                train.ratings,
            )  # fmt: skip
            t0 = time.perf_counter()
            local_model.fit(fresh)
            local_s = time.perf_counter() - t0
            local_rmse = fastrec.rmse(local_model.predict(test), test.ratings)
            model = getattr(fs, cls)(**params)
            model.fit(tiny_df)  # compiles (or loads) the kernels in the Python workers
            with WorkerMemory() as memory:
                t0 = time.perf_counter()
                model.fit(train_df)
                fit_s = time.perf_counter() - t0
                rmse, predict_s = _score(model, test_df)
                rec_s = _recommend_seconds(model, spark) if recommend else float("nan")
            rows.append(
                {
                    "shape": shape,
                    "model": f"fastrec.spark.{model.name}",
                    "fit_s": fit_s,
                    "rmse": rmse,
                    "predict_s": predict_s,
                    "recommend_s": rec_s,
                    "single_fit_s": local_s,
                    "single_rmse": local_rmse,
                    "overhead": fit_s / local_s,
                    "worker_peak_gib": memory.max_gib(),
                }
            )
            if params.get("reg") == "auto":  # the penalties chosen on each side
                rows[-1]["reg_"] = model.files_.meta()["state_json"]["reg_"]
                rows[-1]["single_reg_"] = local_model.reg_
            print(f"  {json.dumps(rows[-1])}", flush=True)
        if mllib:
            coded = None
            for reg in (0.05, 0.1):
                model = fs.MLlibALS(n_factors=50, reg=reg)
                with WorkerMemory() as memory:
                    t0 = time.perf_counter()
                    model.fit(train_df)
                    fit_s = time.perf_counter() - t0
                    rmse, predict_s = _score(model, test_df)
                row = {
                    "shape": shape,
                    "model": f"MLlibALS(rank 50, regParam {reg})",
                    "fit_s": fit_s,
                    "rmse": rmse,
                    "predict_s": predict_s,
                    "worker_peak_gib": memory.max_gib(),
                }
                if recommend:
                    if coded is None:
                        coded = encode_ratings(train_df, model.files_, model.columns_).persist()
                    row["recommend_s"], row["items_left_per_user"] = _mllib_recommend(
                        model.mllib_model_, coded, spark
                    )
                rows.append(row)
                print(f"  {json.dumps(row)}", flush=True)
            if coded is not None:
                coded.unpersist()
        train_df.unpersist()
        test_df.unpersist()
    return rows


def summarize(rows: list[dict]) -> str:
    """The markdown table, plus the MLlib comparison per shape."""
    lines = [
        "| data | model | fit s | RMSE | predict s | top-10 s | single-machine fit s "
        "| single-machine RMSE | Spark / single fit | worker peak GiB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def f(v, spec=".2f"):
        return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, spec)

    for r in rows:
        lines.append(
            f"| {r['shape']} | {r['model']} | {f(r['fit_s'])} | {f(r['rmse'], '.4f')} "
            f"| {f(r['predict_s'])} | {f(r.get('recommend_s'))} | {f(r.get('single_fit_s'))} "
            f"| {f(r.get('single_rmse'), '.4f')} | {f(r.get('overhead'))} "
            f"| {f(r['worker_peak_gib'])} |"
        )
    for shape in dict.fromkeys(r["shape"] for r in rows):
        ours = [
            r
            for r in rows
            if r["shape"] == shape
            and (r["model"] == "fastrec.spark.ALS" or r["model"].startswith("fastrec.spark.ALS("))
        ]
        theirs = [r for r in rows if r["shape"] == shape and r["model"].startswith("MLlib")]
        for a in ours if theirs else []:
            best = min(theirs, key=lambda r: r["rmse"])
            who = a["model"]
            lines.append("")
            lines.append(
                f"{shape}: MLlib's better setting is {best['model']}; its fit over "
                f"{who}'s {best['fit_s'] / a['fit_s']:.2f}x, "
                f"RMSE {a['rmse'] - best['rmse']:+.4f} ({who} less MLlib)"
            )
            if "reg_" in a:
                lines.append(
                    f"{shape}: {who} chose reg_ {a['reg_']:.6g} "
                    f"(single machine: {a['single_reg_']:.6g})"
                )
            if "recommend_s" in best and not np.isnan(a["recommend_s"]):
                lines.append(
                    f"{shape}: top-10 for every user, MLlib recommendForAllUsers(10) + anti-join "
                    f"{best['recommend_s']:.2f} s ({best['items_left_per_user']:.2f} items left "
                    f"per user) vs recommend_all(10) {a['recommend_s']:.2f} s: "
                    f"{best['recommend_s'] / a['recommend_s']:.2f}x"
                )
    return "\n".join(lines)


def _shown_args(argv) -> list[str]:
    """The command-line arguments without ``--out``'s path (no machine path in a table)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--out" in args:
        at = args.index("--out")
        del args[at : at + 2]
    return args


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", nargs="+", default=["ml-1m"])
    parser.add_argument(
        "--models",
        nargs="+",
        default=list(SPARK_MODELS),
        help=f"fastrec.spark models (default: {' '.join(SPARK_MODELS)}; also ALS-auto: "
        "ALS(reg='auto'))",
    )
    parser.add_argument("--no-mllib", action="store_true")
    parser.add_argument("--no-recommend", action="store_true")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--out", help="write PREFIX.md and PREFIX.json")
    args = parser.parse_args(argv)
    os.environ["FASTREC_SPARK_DRIVER_MEMORY"] = args.driver_memory
    from fastrec import spark as fs

    spark = fs.local_session(args.cores)
    started = time.strftime("%Y-%m-%d")
    rows = []
    for shape in args.shape:
        rows += run_shape(spark, shape, args.models, not args.no_mllib, not args.no_recommend)
    spark.stop()
    table = summarize(rows)
    header = (
        f"fastrec.spark benchmark, {started}, local[{args.cores}], "
        f"{os.cpu_count()} CPUs; python {sys.version.split()[0]}; "
        f"command: python benchmarks/spark_scale.py {' '.join(_shown_args(argv))}"
    )
    print("\n" + header + "\n\n" + table)
    if args.out:
        Path(args.out + ".md").write_text(header + "\n\n" + table + "\n")
        Path(args.out + ".json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
