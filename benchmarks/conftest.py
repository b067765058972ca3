"""Shared fixtures and options of the benchmark suite (see benchmarks/test_bench_models.py).

FASTREC_DATA=../shared/data python -m pytest benchmarks/            # the full suite
FASTREC_DATA=../shared/data python -m pytest benchmarks/ --quick    # every benchmark once,
                                                                    # on small data (CI)
python benchmarks/gate.py                                           # the regression gate
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fastrec benchmarks")
    group.addoption(
        "--quick",
        action="store_true",
        default=False,
        help="run every benchmark once on small data (synthetic ml-100k shape in place of the "
        "ml-1m and ml-10m shapes, one epoch for the Keras models): a smoke test of the suite, "
        "its timings mean nothing",
    )


@pytest.fixture(scope="session")
def quick(request: pytest.FixtureRequest) -> bool:
    """True under ``--quick``."""
    return bool(request.config.getoption("--quick"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    root = os.environ.get("FASTREC_DATA")
    if not root:
        pytest.skip("FASTREC_DATA is not set; point it at the folder holding ml-latest-small-2016")
    return Path(root)
