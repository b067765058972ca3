"""A local Spark session set up for fastrec (tests, benchmarks, trying it on one machine)."""

from __future__ import annotations

import os
import sys

__all__ = ["local_session"]


def local_session(
    cores: int = 2, *, shuffle_partitions: int | None = None, app_name: str = "fastrec"
):
    """``SparkSession`` on ``local[cores]`` for fastrec.

    - ``PYSPARK_PYTHON`` (if unset) = this interpreter, so the Python workers import the same
      fastrec, Numba and pyarrow as the driver.
    - ``spark.sql.shuffle.partitions`` = ``shuffle_partitions`` (default: ``cores``; Spark's 200
      would make 200 tiny tasks per shuffle on one machine).
    - ``spark.sql.execution.arrow.maxRecordsPerBatch`` stays Spark's (10,000 rows).
    - The web UI off; Spark's own log at WARN.

    On a cluster, build the session as usual (``spark-submit``, Databricks) and give it the
    settings in the "Beyond one machine" guide instead.
    """
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    parts = int(shuffle_partitions or cores)
    spark = (
        SparkSession.builder.master(f"local[{int(cores)}]")
        .appName(app_name)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(parts))
        .config("spark.default.parallelism", str(parts))
        .config("spark.driver.memory", os.environ.get("FASTREC_SPARK_DRIVER_MEMORY", "4g"))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    return spark
