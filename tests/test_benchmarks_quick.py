"""The benchmark suite in its quick form: every benchmark runs once, on small data.

``python -m pytest benchmarks/ --quick`` in a subprocess (the suite is not part of the test
run; its own conftest adds ``--quick``). A broken benchmark fails here at once, and a
benchmark of the committed baseline that no longer exists (renamed, removed) fails here
rather than in the next gate run. Timings are not looked at.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastrec.models import MODELS

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_benchmark_suite_runs_quick(tmp_path, data_dir):  # data_dir: skips without FASTREC_DATA
    out = tmp_path / "quick.json"
    env = dict(os.environ, FASTREC_DATA=str(data_dir))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks", "--quick", "-q", "-p", "no:cacheprovider",
         "--benchmark-json", str(out), "--benchmark-columns=median"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    run = json.loads(out.read_text())
    ran = {b["name"]: b for b in run["benchmarks"]}
    for bench in ran.values():
        assert bench["extra_info"]["quick"] is True
        if bench["name"].startswith("test_model["):
            info = bench["extra_info"]
            assert 0 < info["rmse"] < 5 and info["n_train"] > 0 and info["n_test"] > 0
            assert info["threads"] >= 1 and info["fastrec_version"]
    baseline = json.loads((ROOT / "benchmarks" / "baseline.json").read_text())
    missing = sorted({b["name"] for b in baseline["benchmarks"]} - set(ran))
    # Models whose optional dependency is not installed here (e.g. TensorFlow) are skipped.
    absent = [name for name, cls in MODELS.items() if cls.missing_dependency() is not None]
    missing = [m for m in missing if not any(f"-{name}-" in m for name in absent)]
    assert not missing, f"in benchmarks/baseline.json but not in the suite: {missing}"
