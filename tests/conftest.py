"""Shared fixtures: the MovieLens files under $FASTREC_DATA.

A test that needs real data (one that uses a fixture below, or is marked ``data``) is
skipped, with the reason, where ``FASTREC_DATA`` is unset, is not a directory, or lacks the
release the test reads: the README's test command passes on a fresh clone. CI has the data
and must run those tests, so there ``FASTREC_REQUIRE_DATA=1`` (set by ``.ci/run``) turns each
such skip into a failure with the same reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import fastrec

#: The fixtures that read $FASTREC_DATA; a test using any of them is marked ``data``.
DATA_FIXTURES = frozenset(
    {"data_dir", "ml_small_2016_path", "ml_small_2016", "ml_small_path", "ml100k_dir"}
)


def _require_data() -> bool:
    value = os.environ.get("FASTREC_REQUIRE_DATA", "").strip().lower()
    return value not in ("", "0", "false", "no")


def _no_data(reason: str):
    """Skip with ``reason``, or fail with it where FASTREC_REQUIRE_DATA is set."""
    if _require_data():
        pytest.fail(f"{reason} (and FASTREC_REQUIRE_DATA is set: the real-data tests must run)")
    pytest.skip(reason)


def _data_dir_problem() -> str | None:
    """Why $FASTREC_DATA cannot be used, or None when it names a directory."""
    value = os.environ.get("FASTREC_DATA")
    if not value:
        return (
            "FASTREC_DATA is not set: point it at the MovieLens data directory "
            "(e.g. FASTREC_DATA=../shared/data) to run the real-data tests"
        )
    if not Path(value).is_dir():
        return f"FASTREC_DATA={value!r} is not a directory (the real-data tests read it)"
    return None


def pytest_collection_modifyitems(config, items):
    """Mark every test that uses a real-data fixture ``data`` (so ``-m "not data"`` works)."""
    for item in items:
        if DATA_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.data)


def pytest_runtest_setup(item):
    """A test marked ``data`` skips (or, under FASTREC_REQUIRE_DATA, fails) without the data."""
    if item.get_closest_marker("data") is not None:
        problem = _data_dir_problem()
        if problem:
            _no_data(problem)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The directory named by $FASTREC_DATA; the test is skipped where it is unusable."""
    problem = _data_dir_problem()
    if problem:
        _no_data(problem)
    return Path(os.environ["FASTREC_DATA"])


def _data_file(data_dir: Path, relative: str) -> Path:
    path = data_dir / relative
    if not path.exists():
        _no_data(f"{relative} is missing under FASTREC_DATA={str(data_dir)!r}")
    return path


@pytest.fixture(scope="session")
def ml_small_2016_path(data_dir: Path) -> Path:
    """ml-latest-small as of 2016: 100,004 ratings, 671 users, 9,066 movies."""
    return _data_file(data_dir, "ml-latest-small-2016/ratings.csv")


@pytest.fixture(scope="session")
def ml_small_2016(ml_small_2016_path: Path) -> fastrec.Ratings:
    """The loaded 2016 ml-latest-small ratings (shared: do not modify)."""
    return fastrec.load_ratings(ml_small_2016_path)


@pytest.fixture(scope="session")
def ml_small_path(data_dir: Path) -> Path:
    """ml-latest-small, the 2018 release."""
    return _data_file(data_dir, "ml-latest-small/ratings.csv")


@pytest.fixture(scope="session")
def ml100k_dir(data_dir: Path) -> Path:
    """ml-100k: u.data and the five published folds u1.base/u1.test ... u5.base/u5.test."""
    return _data_file(data_dir, "ml-100k")


# ------------------------------------------------------------------ Spark
def _spark_problem() -> str | None:
    """Why a local Spark session cannot start here, or None."""
    import importlib.util
    import shutil

    if importlib.util.find_spec("pyspark") is None:
        return 'pyspark is not installed (pip install -e ".[spark]")'
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        return "no Java runtime (Spark needs Java 17 or later)"
    return None


@pytest.fixture(scope="session")
def spark_runtime() -> None:
    """pyspark and Java are here. Skipped, with the reason, where either is missing;
    ``FASTREC_REQUIRE_SPARK=1`` (set by ``.ci/run``) turns the skip into a failure."""
    problem = _spark_problem()
    if problem:
        value = os.environ.get("FASTREC_REQUIRE_SPARK", "").strip().lower()
        if value not in ("", "0", "false", "no"):
            pytest.fail(f"{problem} (and FASTREC_REQUIRE_SPARK is set: the Spark tests must run)")
        pytest.skip(problem)


@pytest.fixture(scope="session")
def spark(spark_runtime):
    """One local[2] Spark session for the whole test run (started on first use); see
    ``spark_runtime`` for when it is skipped."""
    from fastrec.spark import local_session

    session = local_session(2)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def sp(spark):
    """The fastrec.spark module, imported only once the session has started."""
    import fastrec.spark as module

    return module
