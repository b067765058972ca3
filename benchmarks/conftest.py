"""Shared fixtures of the benchmark suite (run: pytest benchmarks/, see the README)."""

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def data_dir() -> Path:
    root = os.environ.get("FASTREC_DATA")
    if not root:
        pytest.skip("FASTREC_DATA is not set; point it at the folder holding ml-latest-small-2016")
    return Path(root)
