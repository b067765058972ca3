"""fastrec.spark under Spark Connect: the same calls through ``SparkSession.builder.remote``.

Spark Connect has no RDD and no ``sparkContext``; a run that completes here proves fastrec.spark
uses neither. It runs in a child process, which starts its own local Connect server
(``remote("local[2]")``), so the test run's one classic session is left alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.spark

_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    import pandas as pd
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (
        SparkSession.builder.remote("local[2]")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    import fastrec
    from fastrec import spark as fs

    assert "connect" in type(spark).__module__, type(spark)
    rng = np.random.default_rng(0)
    pdf = pd.DataFrame({"userId": rng.integers(0, 60, 1500), "movieId": rng.integers(0, 40, 1500)})
    pdf = pdf.drop_duplicates().reset_index(drop=True)
    pdf["rating"] = rng.integers(1, 6, len(pdf)).astype(float)
    df = spark.createDataFrame(pdf)
    train, test = fs.train_test_split(df, 0.2, seed=7)
    train_pdf = train.toPandas()
    out = {"n_train": len(train_pdf), "n_test": test.count()}
    for label, (name, params) in %(models)r.items():
        model = getattr(fs, name)(**params)
        scored = model.fit(train).predict(test).toPandas()
        local = model.to_local()
        want = local.predict(scored[["userId", "movieId"]])
        out[label] = float(np.abs(scored.prediction.to_numpy() - want).max())
        out[label + "_top"] = model.recommend_all(3).count()
    print("RESULT " + json.dumps(out))
    spark.stop()
    """
)


def test_models_run_under_spark_connect(spark_runtime):
    # defaults, except BiasedMF with 2 epochs (its default 40 are 160 Spark stages, minutes
    # here) and ALS choosing its penalty (a validation walk of extra jobs) on a smaller rank
    models = {name: (name, {}) for name in ("Bias", "ALS", "ItemKNN")}
    models["BiasedMF"] = ("BiasedMF", {"n_epochs": 2})
    models["ALS-auto"] = ("ALS", {"n_factors": 8, "reg": "auto"})
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable)
    run = subprocess.run(
        [sys.executable, "-c", _SCRIPT % {"models": models}],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert run.returncode == 0 and lines, run.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT ") :])
    assert result["n_train"] + result["n_test"] > 1000
    for name in models:
        assert result[name] < 1e-9, (name, result)
        assert result[name + "_top"] > 0
