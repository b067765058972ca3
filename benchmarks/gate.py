"""The regression gate: rerun the benchmark suite and compare it with the committed baseline.

    FASTREC_DATA=../shared/data python benchmarks/gate.py            # run the suite, then gate
    python benchmarks/gate.py --compare run.json                     # gate a saved run
    FASTREC_DATA=../shared/data python benchmarks/gate.py --update   # refresh the baseline

The gate runs ``python -m pytest benchmarks/ --benchmark-json=...`` (arguments after ``--``
go to pytest) and fails (exit status 1) when, for any benchmark of the baseline,

- its median time grew by more than ``--time-tolerance`` (25%);
- its median divided by the time of a fixed reference computation (numpy + Numba, see
  benchmarks/test_bench_models.py) grew by more than ``--time-tolerance``: the reference is
  timed just before and just after each benchmark (``extra_info["reference_s"]``; where a
  benchmark lacks it, the median of ``test_reference_workload`` of the same run), so this
  ratio cancels most of the difference between two machines, or one machine busy and quiet;
- its RMSE (``extra_info["rmse"]``) grew by more than ``--rmse-tolerance`` (0.002);
- it is missing from the run: it failed, was skipped or no longer exists
  (``--allow-missing`` for a partial run, e.g. ``-- -k ml-small``).

A time regression must be confirmed: the benchmarks that fail on time are run again
(``--confirm``, default 2 reruns; with the reference workload) and fail only if they fail
every time, so that another process that took a core for a while does not fail the gate.
Several ``--compare`` files are attempts of the same kind: a regression must show in every
file that holds the benchmark. A benchmark whose median is under ``--min-seconds`` in both
runs is not gated on time. Benchmarks not in the baseline are listed and not gated.
``--basis relative`` gates on the ratio only, for a machine other than the baseline's
(``absolute``: the median only). Exit status 2: the suite did not run, or an input file is
unreadable.

Refreshing the baseline is deliberate: after a change that makes something slower or less
accurate on purpose (a better model, a fairer benchmark), after adding a benchmark or a
model, or on a new reference machine, run ``python benchmarks/gate.py --update`` on a quiet
machine (nothing else running; here: ``flock .heavy-run.lock ...``), read the
comparison it prints against the old baseline, and commit ``benchmarks/baseline.json`` with a
message that says why. ``--update --runs 3`` runs the suite three times and keeps, for
each benchmark, the run with the median time (of two runs, the faster); ``--update
--compare a.json b.json`` makes the baseline from saved runs instead. The baseline is
pytest-benchmark's JSON trimmed to what the gate reads (each benchmark's median, IQR and
rounds, its ``extra_info``, the machine and the commit). The suite runs with
``--benchmark-disable-gc`` (no garbage collection inside a timed round).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BASELINE = HERE / "baseline.json"
REFERENCE = "test_reference_workload"
TIME_TOLERANCE = 0.25
RMSE_TOLERANCE = 0.002
MIN_SECONDS = 0.0
BASES = ("both", "absolute", "relative")
TIME_KINDS = ("median", "ratio")


# ----------------------------------------------------------------- reading
def load(path: str | os.PathLike) -> dict:
    """A pytest-benchmark JSON file (whole or trimmed by :func:`trim`)."""
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise ValueError(f"{path}: not a pytest-benchmark JSON file (no 'benchmarks' list)")
    return data


def _key(bench: dict) -> str:
    return bench.get("fullname") or bench["name"]


def _label(key: str) -> str:
    return key.rsplit("::", 1)[-1]


def _median(bench: dict) -> float:
    return float(bench["stats"]["median"])


def _rmse(bench: dict) -> float | None:
    value = (bench.get("extra_info") or {}).get("rmse")
    return None if value is None else float(value)


def _reference(run: dict) -> float | None:
    for bench in run["benchmarks"]:
        if bench["name"] == REFERENCE:
            return _median(bench)
    return None


def _local_reference(bench: dict) -> float | None:
    value = (bench.get("extra_info") or {}).get("reference_s")
    return None if value is None else float(value)


def trim(run: dict) -> dict:
    """The part of a pytest-benchmark JSON run the gate needs, as a baseline."""
    machine = run.get("machine_info") or {}
    cpu = machine.get("cpu") or {}
    commit = run.get("commit_info") or {}
    benchmarks = []
    for bench in run["benchmarks"]:
        stats = bench["stats"]
        benchmarks.append(
            {
                "name": bench["name"],
                "fullname": _key(bench),
                "group": bench.get("group"),
                "stats": {k: stats[k] for k in ("median", "iqr", "rounds", "runs") if k in stats},
                "extra_info": bench.get("extra_info") or {},
            }
        )
    benchmarks.sort(key=_key)
    return {
        "about": "fastrec benchmark baseline: pytest-benchmark JSON trimmed by benchmarks/gate.py",
        "datetime": run.get("datetime"),
        "version": run.get("version"),
        "machine_info": {
            "node": machine.get("node"),
            "machine": machine.get("machine"),
            "python_version": machine.get("python_version"),
            "cpu": {k: cpu.get(k) for k in ("brand_raw", "count") if k in cpu},
        },
        "commit_info": {k: commit.get(k) for k in ("id", "branch", "dirty", "time")},
        "benchmarks": benchmarks,
    }


def combine(runs: list[dict]) -> dict:
    """One run from several: for each benchmark, the run whose median is the median of its
    medians (the lower of the middle two for an even count: the faster of two runs), taken
    whole, so that its median and the reference timed beside it stay together."""
    found: dict[str, list[dict]] = {}
    for run in runs:
        for bench in run["benchmarks"]:
            found.setdefault(_key(bench), []).append(bench)
    out = dict(runs[0], benchmarks=[])
    for benches in found.values():
        chosen = statistics.median_low(_median(b) for b in benches)
        bench = next(b for b in benches if _median(b) == chosen)
        out["benchmarks"].append(dict(bench, stats=dict(bench["stats"], runs=len(benches))))
    return out


# --------------------------------------------------------------- comparing
@dataclass
class Row:
    """One benchmark of the baseline beside the run (the fastest attempt that ran it)."""

    name: str
    base_s: float
    run_s: float | None = None
    base_ratio: float | None = None
    run_ratio: float | None = None
    base_rmse: float | None = None
    run_rmse: float | None = None
    attempts: int = 0
    #: kind ("median", "ratio", "rmse", "missing") -> message; only what every attempt showed
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def time_change(self) -> float | None:
        return None if self.run_s is None else self.run_s / self.base_s - 1.0

    @property
    def ratio_change(self) -> float | None:
        if self.run_ratio is None or self.base_ratio is None:
            return None
        return self.run_ratio / self.base_ratio - 1.0


@dataclass
class Report:
    """The result of :func:`compare`: ``ok`` is False when any benchmark regressed."""

    rows: list[Row]
    new: list[str]
    notes: list[str]
    reference_s: tuple[float | None, list[float | None]]
    keys: dict[str, str] = field(default_factory=dict)  # row name -> fullname

    @property
    def failures(self) -> list[str]:
        return [f"{r.name}: {p}" for r in self.rows for p in r.problems.values()]

    @property
    def ok(self) -> bool:
        return not self.failures

    def slow(self) -> list[str]:
        """Full names of the benchmarks that fail on time (what a confirmation reruns)."""
        return [self.keys[r.name] for r in self.rows if set(r.problems) & set(TIME_KINDS)]

    def markdown(self) -> str:
        base_ref, run_refs = self.reference_s
        runs = ", ".join(_s(x) for x in run_refs)
        lines = [
            f"reference workload: baseline {_s(base_ref)}, this run {runs}",
            "",
            "| benchmark | baseline s | run s | change | change / reference | baseline RMSE "
            "| run RMSE | verdict |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            verdict = "; ".join(r.problems.values()) if r.problems else "ok"
            if r.attempts > 1:
                verdict += f" ({r.attempts} attempts)"
            lines.append(
                f"| {r.name} | {_s(r.base_s)} | {_s(r.run_s)} | {_pct(r.time_change)} | "
                f"{_pct(r.ratio_change)} | {_f(r.base_rmse)} | {_f(r.run_rmse)} | {verdict} |"
            )
        lines += [f"- not in the baseline (not gated): {name}" for name in self.new]
        lines += [f"- {note}" for note in self.notes]
        verdict = "PASS" if self.ok else f"FAIL: {len(self.failures)} regression(s)"
        lines += ["", verdict]
        return "\n".join(lines)


def _judge(base, other, base_ref, run_ref, time_tolerance, rmse_tolerance, min_seconds, basis):
    """One attempt at one benchmark: (the row, its problems by kind)."""
    row = Row(_label(_key(base)), _median(base), base_rmse=_rmse(base))
    row.run_s, row.run_rmse, row.attempts = _median(other), _rmse(other), 1
    base_local, run_local = _local_reference(base), _local_reference(other)
    if base_local and run_local:  # timed beside the benchmark: follows the machine's load
        base_ref, run_ref = base_local, run_local
    if base_ref and run_ref:
        row.base_ratio, row.run_ratio = row.base_s / base_ref, row.run_s / run_ref
    problems = {}
    timed = max(row.base_s, row.run_s) >= min_seconds
    if timed and basis in ("both", "absolute") and row.time_change > time_tolerance:
        problems["median"] = f"median {_pct(row.time_change)} (> {time_tolerance:.0%})"
    change = row.ratio_change
    if timed and basis in ("both", "relative") and change is not None and change > time_tolerance:
        problems["ratio"] = f"median / reference {_pct(change)} (> {time_tolerance:.0%})"
    if row.base_rmse is not None:
        if row.run_rmse is None or not math.isfinite(row.run_rmse):
            problems["rmse"] = f"no RMSE in this run ({row.run_rmse})"
        elif row.run_rmse - row.base_rmse > rmse_tolerance:
            problems["rmse"] = f"RMSE +{row.run_rmse - row.base_rmse:.6f} (> {rmse_tolerance})"
    return row, problems


def compare(
    baseline: dict,
    run: dict | list[dict],
    *,
    time_tolerance: float = TIME_TOLERANCE,
    rmse_tolerance: float = RMSE_TOLERANCE,
    min_seconds: float = MIN_SECONDS,
    basis: str = "both",
    allow_missing: bool = False,
) -> Report:
    """Compare ``run`` with ``baseline`` (pytest-benchmark JSON dicts); see the module
    docstring for the rules. ``run`` may be a list of attempts (the first complete, later
    ones e.g. reruns of what failed): a problem counts only if every attempt that ran the
    benchmark shows it."""
    if basis not in BASES:
        raise ValueError(f"basis must be one of {BASES}, got {basis!r}")
    attempts = run if isinstance(run, list) else [run]
    base_ref = _reference(baseline)
    run_refs = [_reference(a) for a in attempts]
    notes = []
    if basis != "absolute" and (base_ref is None or run_refs[0] is None):
        which = "baseline" if base_ref is None else "run"
        notes.append(f"no {REFERENCE} in the {which}: the ratio to the reference is not gated")
    base_threads = {(b.get("extra_info") or {}).get("threads") for b in baseline["benchmarks"]}
    run_threads = {(b.get("extra_info") or {}).get("threads") for b in attempts[0]["benchmarks"]}
    base_threads, run_threads = base_threads - {None}, run_threads - {None}
    if base_threads and run_threads and base_threads != run_threads:
        notes.append(
            f"thread counts differ: baseline {sorted(base_threads)}, run {sorted(run_threads)}; "
            "times are not comparable (refresh the baseline on this machine, or run with the "
            "baseline's NUMBA_NUM_THREADS)"
        )
    by_key = [{_key(b): b for b in a["benchmarks"]} for a in attempts]
    rows, keys = [], {}
    for base in sorted(baseline["benchmarks"], key=_key):
        key = _key(base)
        judged = [
            _judge(base, found[key], base_ref, ref, time_tolerance, rmse_tolerance,
                   min_seconds, basis)
            for found, ref in zip(by_key, run_refs, strict=True)
            if key in found
        ]  # fmt: skip
        if not judged:
            row = Row(_label(key), _median(base), base_rmse=_rmse(base))
            if base_ref:
                row.base_ratio = row.base_s / base_ref
            if not allow_missing:
                row.problems["missing"] = "missing from this run (failed, skipped or removed)"
        else:
            persistent = set.intersection(*(set(p) for _, p in judged))
            row, problems = min(judged, key=lambda rp: rp[0].run_s)
            row.problems = {kind: problems[kind] for kind in problems if kind in persistent}
            row.attempts = len(judged)
        rows.append(row)
        keys[row.name] = key
    known = {_key(b) for b in baseline["benchmarks"]}
    new = sorted(_label(k) for k in by_key[0] if k not in known)
    return Report(rows, new, notes, (base_ref, run_refs), keys)


def _s(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.4f}" if x >= 0.01 else f"{x * 1e3:.3f} ms"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:+.1%}"


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.6f}"


# ----------------------------------------------------------------- running
def run_suite(json_path: Path, pytest_args: list[str], targets: list[str] | None = None) -> int:
    """Run the benchmark suite (or the ``targets`` node ids), writing pytest-benchmark's JSON
    to ``json_path``; returns pytest's exit status."""
    cmd = [sys.executable, "-m", "pytest", *(targets or [str(HERE)]), "-p", "no:cacheprovider",
           f"--benchmark-json={json_path}", "--benchmark-columns=median,iqr,rounds",
        "--benchmark-disable-gc",
           *pytest_args]  # fmt: skip
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT).returncode


def _run_once(folder: Path, n: int, pytest_args, targets=None) -> dict | None:
    path = folder / f"run{n}.json"
    rc = run_suite(path, pytest_args, targets)
    if rc not in (0, 1) or not path.exists():
        print(f"the benchmark suite did not run (pytest exit status {rc})")
        return None
    if rc == 1:
        print("some benchmarks failed; they count as missing below")
    return load(path)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    pytest_args = []
    if "--" in argv:
        cut = argv.index("--")
        argv, pytest_args = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", type=Path, default=BASELINE, help="default: %(default)s")
    parser.add_argument(
        "--compare", metavar="RUN_JSON", type=Path, nargs="+", help="saved run(s): no rerun"
    )
    parser.add_argument("--save", metavar="RUN_JSON", type=Path, help="keep the run's JSON here")
    parser.add_argument(
        "--update", action="store_true", help="write the (trimmed) run as the new baseline"
    )
    parser.add_argument("--runs", type=int, default=1, help="full runs of the suite (default 1)")
    parser.add_argument(
        "--confirm", type=int, default=2, help="reruns of what fails on time (default 2)"
    )
    parser.add_argument("--time-tolerance", type=float, default=TIME_TOLERANCE)
    parser.add_argument("--rmse-tolerance", type=float, default=RMSE_TOLERANCE)
    parser.add_argument("--min-seconds", type=float, default=MIN_SECONDS)
    parser.add_argument("--basis", choices=BASES, default="both", help="which times to gate")
    parser.add_argument("--allow-missing", action="store_true")
    args = parser.parse_args(argv)

    baseline = None
    if args.baseline.exists():
        try:
            baseline = load(args.baseline)
        except (OSError, ValueError) as err:
            print(f"cannot read the baseline: {err}")
            return 2
    elif not args.update:
        print(f"no baseline at {args.baseline}; make one with --update")
        return 2
    options = {
        "time_tolerance": args.time_tolerance,
        "rmse_tolerance": args.rmse_tolerance,
        "min_seconds": args.min_seconds,
        "basis": args.basis,
        "allow_missing": args.allow_missing,
    }
    with tempfile.TemporaryDirectory() as tmp:
        if args.compare:
            try:
                attempts = [load(path) for path in args.compare]
            except (OSError, ValueError) as err:
                print(f"cannot read the run: {err}")
                return 2
        else:
            attempts = []
            for n in range(args.runs):
                run = _run_once(Path(tmp), n, pytest_args)
                if run is None:
                    return 2
                attempts.append(run)
            if args.save:
                args.save.write_text(json.dumps(combine(attempts), indent=1) + "\n")
        if args.update:
            new = combine(attempts)
            if baseline is not None:
                print(f"this run against the old baseline {args.baseline}:")
                print(compare(baseline, new, **dict(options, allow_missing=True)).markdown())
            trimmed = trim(new)
            trimmed["refreshed"] = datetime.datetime.now().isoformat(timespec="seconds")
            args.baseline.write_text(json.dumps(trimmed, indent=1) + "\n")
            print(f"wrote {len(trimmed['benchmarks'])} benchmarks to {args.baseline}")
            return 0
        report = compare(baseline, attempts, **options)
        for n in range(0 if args.compare else args.confirm):
            slow = report.slow()
            if not slow:
                break
            print(f"confirming {len(slow)} time regression(s): rerun {n + 1}", flush=True)
            targets = [str(HERE / f"test_bench_models.py::{REFERENCE}")]
            targets += [str(ROOT / key) for key in slow]
            run = _run_once(Path(tmp), args.runs + n, pytest_args, targets)
            if run is None:
                return 2
            attempts.append(run)
            report = compare(baseline, attempts, **options)
    print(report.markdown())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
