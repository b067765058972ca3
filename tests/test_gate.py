"""The regression gate (benchmarks/gate.py) on fabricated pytest-benchmark results."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path

import pytest

GATE_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "gate.py"
BASELINE_PATH = GATE_PATH.parent / "baseline.json"


def _import_gate():
    spec = importlib.util.spec_from_file_location("fastrec_bench_gate", GATE_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


gate = _import_gate()
FILE = "benchmarks/test_bench_models.py::"


def _bench(name: str, median: float, rmse: float | None = None, threads: int = 2) -> dict:
    extra = {"threads": threads}
    if rmse is not None:
        extra["rmse"] = rmse
    return {
        "name": name,
        "fullname": FILE + name,
        "group": None,
        "stats": {"median": median, "iqr": 0.0, "rounds": 3, "min": median, "mean": median},
        "extra_info": extra,
        "options": {},
    }


@pytest.fixture
def baseline() -> dict:
    return {
        "machine_info": {"node": "here", "cpu": {"count": 2, "brand_raw": "cpu"}},
        "commit_info": {"id": "abc", "dirty": False},
        "datetime": "2026-11-27T00:00:00",
        "version": "5.3.1",
        "benchmarks": [
            _bench("test_reference_workload", 0.10),
            _bench("test_model[ml-small-Bias-fit]", 0.010, rmse=0.891053),
            _bench("test_model[ml-1m-SVDpp-fit]", 6.0, rmse=0.8367),
            _bench("test_load_csv_ml10m", 3.0),
        ],
    }


def _with(run: dict, name: str, *, median=None, rmse=None) -> dict:
    run = copy.deepcopy(run)
    for bench in run["benchmarks"]:
        if bench["name"] == name:
            if median is not None:
                bench["stats"]["median"] = median
            if rmse is not None:
                bench["extra_info"]["rmse"] = rmse
    return run


def _failed_names(report) -> list[str]:
    return sorted({f.split(":")[0] for f in report.failures})


def test_identical_run_passes(baseline):
    report = gate.compare(baseline, copy.deepcopy(baseline))
    assert report.ok, report.markdown()
    assert "PASS" in report.markdown()


def test_faster_and_more_accurate_passes(baseline):
    run = _with(baseline, "test_model[ml-1m-SVDpp-fit]", median=3.0, rmse=0.80)
    assert gate.compare(baseline, run).ok


def test_within_tolerance_passes(baseline):
    run = _with(baseline, "test_model[ml-1m-SVDpp-fit]", median=6.0 * 1.24, rmse=0.8367 + 0.0019)
    assert gate.compare(baseline, run).ok


def test_slower_median_fails(baseline):
    run = _with(baseline, "test_model[ml-1m-SVDpp-fit]", median=6.0 * 1.3)
    report = gate.compare(baseline, run)
    assert not report.ok
    assert _failed_names(report) == ["test_model[ml-1m-SVDpp-fit]"]
    problems = " ".join(report.failures)
    assert "median +30.0%" in problems and "median / reference +30.0%" in problems
    assert "FAIL" in report.markdown()


def test_less_accurate_fails(baseline):
    run = _with(baseline, "test_model[ml-small-Bias-fit]", rmse=0.891053 + 0.0025)
    report = gate.compare(baseline, run)
    assert _failed_names(report) == ["test_model[ml-small-Bias-fit]"]
    assert "RMSE +0.002500" in report.failures[0]


def test_missing_rmse_fails(baseline):
    run = copy.deepcopy(baseline)
    del run["benchmarks"][1]["extra_info"]["rmse"]
    assert not gate.compare(baseline, run).ok


def test_slower_relative_to_the_reference_fails(baseline):
    """Same absolute time, but the reference ran 40% faster: the model lost ground."""
    run = _with(baseline, "test_reference_workload", median=0.06)
    report = gate.compare(baseline, run)
    assert not report.ok
    assert all("median / reference" in f for f in report.failures)
    assert gate.compare(baseline, run, basis="absolute").ok  # the medians did not change


def test_slower_machine_passes_on_the_ratio_only(baseline):
    """Everything 2x slower, the reference too: the absolute gate fails, the ratio does not."""
    run = copy.deepcopy(baseline)
    for bench in run["benchmarks"]:
        bench["stats"]["median"] *= 2
    assert not gate.compare(baseline, run).ok
    assert gate.compare(baseline, run, basis="relative").ok
    assert not gate.compare(baseline, run, basis="absolute").ok


def test_the_reference_timed_beside_a_benchmark_is_used_first(baseline):
    """A benchmark that ran while the machine was busy (its own reference 2x slower) passes
    the ratio; one that lost ground to its own reference fails it."""
    name = "test_model[ml-1m-SVDpp-fit]"
    for bench in baseline["benchmarks"]:
        if bench["name"] == name:
            bench["extra_info"]["reference_s"] = 0.1
    busy = _with(baseline, name, median=12.0)
    next(b for b in busy["benchmarks"] if b["name"] == name)["extra_info"]["reference_s"] = 0.2
    assert gate.compare(baseline, busy, basis="relative").ok
    assert not gate.compare(baseline, busy, basis="absolute").ok
    lost = copy.deepcopy(baseline)
    next(b for b in lost["benchmarks"] if b["name"] == name)["extra_info"]["reference_s"] = 0.05
    report = gate.compare(baseline, lost)
    assert [f.split(":")[0] for f in report.failures] == [name]
    assert "median / reference +100.0%" in report.failures[0]


def test_missing_benchmark_fails_unless_allowed(baseline):
    run = copy.deepcopy(baseline)
    run["benchmarks"] = run["benchmarks"][:-1]
    report = gate.compare(baseline, run)
    assert _failed_names(report) == ["test_load_csv_ml10m"]
    assert gate.compare(baseline, run, allow_missing=True).ok


def test_new_benchmark_is_listed_not_gated(baseline):
    run = copy.deepcopy(baseline)
    run["benchmarks"].append(_bench("test_model[ml-small-New-fit]", 99.0, rmse=9.0))
    report = gate.compare(baseline, run)
    assert report.ok
    assert report.new == ["test_model[ml-small-New-fit]"]


def test_min_seconds_ignores_timer_noise(baseline):
    run = _with(baseline, "test_model[ml-small-Bias-fit]", median=0.02)  # +100%, 10 ms
    assert not gate.compare(baseline, run).ok
    assert gate.compare(baseline, run, min_seconds=0.05).ok


def test_a_regression_must_show_in_every_attempt(baseline):
    """A time regression that a rerun does not reproduce (a busy machine) passes; one that
    it reproduces fails; an RMSE regression is judged the same way."""
    slow = _with(baseline, "test_model[ml-1m-SVDpp-fit]", median=9.0)
    rerun = (gate.REFERENCE, "test_model[ml-1m-SVDpp-fit]")
    rerun_fast = {"benchmarks": [b for b in baseline["benchmarks"] if b["name"] in rerun]}
    rerun_fast = copy.deepcopy(rerun_fast)
    rerun_slow = _with(rerun_fast, "test_model[ml-1m-SVDpp-fit]", median=8.0)
    first = gate.compare(baseline, [slow])
    assert first.slow() == [FILE + "test_model[ml-1m-SVDpp-fit]"]
    report = gate.compare(baseline, [slow, rerun_fast])
    assert report.ok, report.markdown()
    assert "(2 attempts)" in report.markdown()
    report = gate.compare(baseline, [slow, rerun_slow])
    assert _failed_names(report) == ["test_model[ml-1m-SVDpp-fit]"]
    row = next(r for r in report.rows if r.name == "test_model[ml-1m-SVDpp-fit]")
    assert row.run_s == 8.0 and row.attempts == 2  # the faster attempt is shown
    worse = _with(baseline, "test_model[ml-small-Bias-fit]", rmse=0.9)
    assert not gate.compare(baseline, [worse, _with(worse, gate.REFERENCE)]).ok


def test_combine_takes_the_run_with_the_median_time(baseline):
    runs = [_with(baseline, "test_load_csv_ml10m", median=m) for m in (3.0, 9.0, 4.0)]
    for run, ref in zip(runs, (0.1, 0.3, 0.2), strict=True):
        run["benchmarks"][-1]["extra_info"]["reference_s"] = ref
    combined = gate.combine(runs)
    bench = next(b for b in combined["benchmarks"] if b["name"] == "test_load_csv_ml10m")
    assert bench["stats"]["median"] == 4.0 and bench["stats"]["runs"] == 3
    assert bench["extra_info"]["reference_s"] == 0.2  # the same run's reference
    assert gate.compare(gate.trim(combined), runs[2]).ok
    two = gate.combine(runs[:2])
    assert next(b for b in two["benchmarks"] if b["name"] == "test_load_csv_ml10m")[
        "stats"
    ]["median"] == 3.0  # fmt: skip


def test_trimmed_baseline_gates_like_the_full_run(baseline):
    trimmed = gate.trim(baseline)
    assert set(trimmed["benchmarks"][0]["stats"]) == {"median", "iqr", "rounds"}
    assert json.loads(json.dumps(trimmed)) == trimmed
    assert gate.compare(trimmed, baseline).ok
    slower = _with(baseline, "test_load_csv_ml10m", median=4.0)
    assert not gate.compare(trimmed, slower).ok


def test_command_line_exit_status(baseline, tmp_path, capsys):
    base = tmp_path / "baseline.json"
    assert gate.main(["--compare", str(_write(tmp_path, "b", baseline)), "--baseline",
                      str(base), "--update"]) == 0  # fmt: skip
    assert json.loads(base.read_text())["benchmarks"]
    same = _write(tmp_path, "same", baseline)
    assert gate.main(["--compare", str(same), "--baseline", str(base)]) == 0
    slow = _write(tmp_path, "slow", _with(baseline, "test_model[ml-1m-SVDpp-fit]", median=9.0))
    assert gate.main(["--compare", str(slow), "--baseline", str(base)]) == 1
    worse = _write(tmp_path, "worse", _with(baseline, "test_model[ml-1m-SVDpp-fit]", rmse=0.9))
    assert gate.main(["--compare", str(worse), "--baseline", str(base)]) == 1
    assert gate.main(["--compare", str(slow), str(same), "--baseline", str(base)]) == 0
    assert gate.main(["--compare", str(tmp_path / "nope.json"), "--baseline", str(base)]) == 2
    out = capsys.readouterr().out
    assert "FAIL" in out and "PASS" in out


def _write(folder: Path, name: str, data: dict) -> Path:
    path = folder / f"{name}.json"
    path.write_text(json.dumps(data))
    return path


def test_committed_baseline_is_complete():
    """The committed baseline has the reference, a median for every benchmark, an RMSE for
    every model benchmark, and every model of fastrec.models.MODELS on both data sets."""
    from fastrec.models import MODELS

    baseline = gate.load(BASELINE_PATH)
    names = {b["name"] for b in baseline["benchmarks"]}
    assert gate.REFERENCE in names
    for bench in baseline["benchmarks"]:
        assert bench["stats"]["median"] > 0
        if bench["name"].startswith("test_model["):
            assert bench["extra_info"]["rmse"] > 0
            assert bench["extra_info"]["quick"] is False
    for model in MODELS:
        for data in ("ml-small", "ml-1m"):
            for phase in ("fit", "predict"):
                assert f"test_model[{data}-{model}-{phase}]" in names
