"""Where a fastrec.spark fit spends its time before and around the model's own work.

    python benchmarks/spark_overhead.py --shape ml-1m
    python benchmarks/spark_overhead.py --shape ml-10m --models Bias fixed --repeat 3

For a synthetic shape (``fastrec.datasets.synthetic``, seed 0, split 80/20 as the post splits,
seed 7; the train rows read by Spark from a parquet file in a temporary folder, as
``spark_scale.py`` does), each model is fitted ``--repeat`` times (after a fit on a tiny set,
which compiles the kernels in the Python workers) with the stages of
:meth:`fastrec.spark.SparkRecommender.fit` timed by wrapping the functions it calls:

- ``check``: :func:`~fastrec.spark.frame.check_ratings` (one aggregation);
- ``distinct ids``: the sorted distinct user and item ids, collected (two jobs);
- ``code + pack + count``: the coding of the rows, their packing one row per partition and the
  counts per user and item (one job: the coding and packing are lazy until the count);
- ``fallback Bias``: the ``Bias`` fallback's sweeps (:func:`fit_bias_arrays`);
- ``model``: the model's own ``_fit_coded`` (for ``Bias``: the same sweeps);
- ``files``: the ``.npy`` and ``meta.json`` writes;
- ``other``: the rest of ``fit``.

ALS is timed with ``n_iter=1`` (``model`` is then its block building and one iteration);
``--models fixed`` times ``ALS`` with a ``_fit_coded`` that does nothing (the fixed part
alone: checks, ids, coding, counts and the ``Bias`` fallback). Prints one table per model:
the median seconds per stage over the repeats, and the number of Spark jobs the fit ran (from
the classic session's status tracker).
Run it alone on the machine (``flock .heavy-run.lock``): the seconds are what it is for.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from _common import synthetic_split, write_parquet

STAGES = (
    "check",
    "distinct ids",
    "code + pack + count",
    "fallback Bias",
    "model",
    "files",
    "other",
)


class StageClock:
    """Seconds per stage of one fit, filled by :meth:`wrap`-ped functions."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self._depth = 0

    def wrap(self, stage: str, func):
        @functools.wraps(func)
        def timed(*args, **kwargs):
            if self._depth:  # a stage inside another stage counts for the outer one
                return func(*args, **kwargs)
            self._depth += 1
            t0 = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - t0
                self._depth -= 1

        return timed


def instrument(clock: StageClock, model_class) -> list:
    """Wrap the functions ``fit`` calls; returns the undo list ``(owner, name, original)``."""
    from fastrec.spark import _worker, base, bias, bias_sums

    def fallback_only(func):
        # the fallback's call comes from base.fit; Bias's own call goes through _fit_coded
        return clock.wrap("fallback Bias", func)

    patches = [
        (base, "check_ratings", clock.wrap("check", base.check_ratings)),
        (base, "distinct_ids", clock.wrap("distinct ids", base.distinct_ids)),
        (base, "count_ratings", clock.wrap("code + pack + count", base.count_ratings)),
        (bias_sums, "fit_bias_arrays", fallback_only(bias_sums.fit_bias_arrays)),
        (model_class, "_fit_coded", clock.wrap("model", model_class._fit_coded)),
        (_worker.ModelFiles, "write_array", clock.wrap("files", _worker.ModelFiles.write_array)),
        (_worker.ModelFiles, "write_meta", clock.wrap("files", _worker.ModelFiles.write_meta)),
    ]
    undo = []
    for owner, name, new in patches:
        undo.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, new)
    del bias  # Bias._fit_coded calls bias.fit_bias_arrays: counted as "model"
    return undo


def _fixed_part(model_class):
    """``model_class`` whose own fit does nothing: what every fit pays around the model."""
    return type("FixedPart", (model_class,), {"_fit_coded": lambda self, coded, context: {}})


def profile(spark, train_df, tiny_df, name: str, params: dict, repeat: int) -> dict:
    """Median seconds per stage (and of the whole fit) over ``repeat`` fits."""
    from fastrec import spark as fs

    cls = _fixed_part(fs.ALS) if name == "fixed" else getattr(fs, name)
    cls(**params).fit(tiny_df)  # kernels compiled (or loaded) in the workers
    tracker = spark.sparkContext.statusTracker() if hasattr(spark, "sparkContext") else None
    runs = []
    for _ in range(repeat):
        clock = StageClock()
        undo = instrument(clock, cls)
        jobs_before = len(tracker.getJobIdsForGroup(None)) if tracker else 0
        try:
            t0 = time.perf_counter()
            cls(**params).fit(train_df)
            total = time.perf_counter() - t0
        finally:
            for owner, attr, original in reversed(undo):
                setattr(owner, attr, original)
        jobs = (len(tracker.getJobIdsForGroup(None)) - jobs_before) if tracker else -1
        seconds = dict(clock.seconds)
        seconds["other"] = total - sum(seconds.values())
        seconds["fit"] = total
        seconds["jobs"] = jobs
        runs.append(seconds)
    return {key: float(np.median([r.get(key, 0.0) for r in runs])) for key in runs[0]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="ml-1m")
    parser.add_argument("--models", nargs="+", default=["Bias", "fixed", "ALS"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args(argv)
    os.environ.setdefault("FASTREC_SPARK_DRIVER_MEMORY", "8g")
    from fastrec import spark as fs

    spark = fs.local_session(args.cores)
    train, _ = synthetic_split(args.shape)
    tiny_df = spark.createDataFrame(
        [(u, i, float(1 + (u * 7 + i) % 5)) for u in range(30) for i in range(20) if (u + i) % 3],
        "userId long, movieId long, rating double",
    )
    with tempfile.TemporaryDirectory(prefix="fastrec-spark-overhead-") as tmp:
        write_parquet(train, Path(tmp) / "train.parquet")
        train_df = spark.read.parquet(str(Path(tmp) / "train.parquet")).persist()
        n_train = train_df.count()
        print(
            f"{args.shape}: {n_train:,} train ratings in {train_df.rdd.getNumPartitions()} "
            f"partitions; local[{args.cores}], median of {args.repeat}",
            flush=True,
        )
        for name in args.models:
            params = {"n_iter": 1} if name == "ALS" else {}
            result = profile(spark, train_df, tiny_df, name, params, args.repeat)
            shown = ", ".join(f"{k}={v}" for k, v in params.items())
            label = "fixed part" if name == "fixed" else f"{name}({shown})"
            print(f"\n{label}: fit {result['fit']:.2f} s, {result['jobs']:.0f} Spark jobs")
            print("| stage | seconds |\n|---|---|")
            for stage in STAGES:
                print(f"| {stage} | {result.get(stage, 0.0):.3f} |")
        train_df.unpersist()
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
