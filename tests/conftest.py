"""Shared fixtures: the MovieLens files under $FASTREC_DATA (skipped, with the reason, if unset)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import fastrec


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The directory named by $FASTREC_DATA; the test is skipped where it is unset."""
    value = os.environ.get("FASTREC_DATA")
    if not value:
        pytest.skip(
            "FASTREC_DATA is not set: point it at the MovieLens data directory "
            "(e.g. FASTREC_DATA=../shared/data) to run the real-data tests"
        )
    path = Path(value)
    if not path.is_dir():
        pytest.fail(f"FASTREC_DATA={value!r} is not a directory")
    return path


def _data_file(data_dir: Path, relative: str) -> Path:
    path = data_dir / relative
    if not path.exists():
        pytest.fail(f"{path} is missing under FASTREC_DATA={data_dir}")
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
