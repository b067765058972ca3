"""fastrec.spark.BiasedMF() against fastrec.BiasedMF() fed the same train rows (defaults on both
sides), local[2]: fit seconds (median of 3), RMSE, max |prediction difference|, seconds per
stratum. Run from the repository root:

    FASTREC_DATA=<data dir> python benchmarks/spark_mf.py post ml-1m

(``synthetic-ml-10m``: the synthetic shape; ``REPS=1`` for one fit of each.)
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import fastrec
from fastrec import spark as fs

FILES = {
    "post": "ml-latest-small-2016/ratings.csv",
    "ml-small-2018": "ml-latest-small/ratings.csv",
    "ml-1m": "ml-1m/ratings.csv",
}
data = Path(os.environ["FASTREC_DATA"])
spark = fs.local_session(2)
spark.sparkContext.setLogLevel("ERROR")
scratch = Path(tempfile.mkdtemp(prefix="mf-bench-"))
reps = int(os.environ.get("REPS", "3"))

# warm-up: the workers load the Numba kernels once
tr, te = fastrec.train_test_split(fastrec.load_ratings(data / FILES["post"]), 0.2, seed=7)
tr.to_frame().iloc[:5000, :3].to_parquet(scratch / "warm.parquet")
fs.BiasedMF(n_epochs=1).fit(spark.read.parquet(str(scratch / "warm.parquet")))

for name in sys.argv[1:]:
    ratings = (
        fastrec.datasets.synthetic(name.removeprefix("synthetic-"), seed=0)
        if name.startswith("synthetic-")
        else fastrec.load_ratings(data / FILES[name])
    )
    train, test = fastrec.train_test_split(ratings, 0.2, seed=7)
    train.to_frame().iloc[:, :3].to_parquet(scratch / f"{name}-train.parquet")
    test.to_frame().iloc[:, :3].to_parquet(scratch / f"{name}-test.parquet")
    sdf_train = spark.read.parquet(str(scratch / f"{name}-train.parquet")).persist()
    sdf_test = spark.read.parquet(str(scratch / f"{name}-test.parquet")).persist()
    sdf_train.count(), sdf_test.count()
    local_s, spark_s = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        local = fastrec.BiasedMF().fit(train)
        local_s.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        model = fs.BiasedMF().fit(sdf_train)
        spark_s.append(time.perf_counter() - t0)
    scored = model.predict(sdf_test).toPandas()
    want = local.predict(scored[["userId", "movieId"]])
    state = model.to_local()
    n_blocks = state.n_blocks_
    per_epoch = np.asarray(state.history_["seconds"])
    print(
        "RESULT "
        + json.dumps(
            {
                "data": name,
                "n_train": len(train),
                "n_blocks": n_blocks,
                "strata": n_blocks * len(per_epoch),
                "local_fit_s": local_s,
                "spark_fit_s": spark_s,
                "local_fit_median": float(np.median(local_s)),
                "spark_fit_median": float(np.median(spark_s)),
                "spark_epochs_s": float(per_epoch.sum()),
                "s_per_stratum": float(per_epoch.sum() / (n_blocks * len(per_epoch))),
                "rmse_local": fastrec.rmse(want, scored.rating),
                "rmse_spark": fastrec.rmse(scored.prediction, scored.rating),
                "max_abs_diff": float(np.abs(scored.prediction.to_numpy() - want).max()),
                "factors_equal": bool(
                    np.array_equal(
                        state.user_factors_,
                        local.user_factors_[local.user_index_.get_indexer(state.user_index_)],
                    )
                    and np.array_equal(
                        state.item_factors_,
                        local.item_factors_[local.item_index_.get_indexer(state.item_index_)],
                    )
                ),
            }
        ),
        flush=True,
    )
    sdf_train.unpersist(), sdf_test.unpersist()
