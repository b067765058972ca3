"""Choose a model's defaults on several data sets at once, on validation slices of their
training ratings, never on a test set.

    python benchmarks/choose_defaults.py --model ALS --grid reg=0.02,0.05,0.1 n_factors=50,100
    python benchmarks/choose_defaults.py --model BiasedMF --grid reg=0.04,0.08 --sets post ml1m
    python benchmarks/choose_defaults.py --model ALS --grid reg=0.05,0.1 --out als-defaults

The procedure, the same for every model:

1. Each data set is split as it is evaluated (``post``: ml-latest-small 2016, the post's 80/20
   split, seed 7; ``latest``: ml-latest-small 2018, the same split; ``ml100k``: the five
   published training files ``u1.base`` ... ``u5.base``; ``ml1m``: ml-1m, 80/20, seed 7). Only
   the training part is used from here on.
2. The training part is split again, 80/20 with seed 11: the candidate is fitted on the first
   part and scored (RMSE) on the second, the *validation slice*. The test part is never read.
3. Each candidate's score on a data set is its validation RMSE over ``Bias``'s validation RMSE
   on the same slice (a ratio, so that data sets of different scales and difficulty weigh the
   same; below 1 beats the baseline). The candidates are ranked by the mean of those ratios
   over the data sets (ml-100k counts once: the mean over its five folds).
4. ``--test`` then scores the first candidate (and only it, beside ``Bias``) on each data
   set's test part, fitted on the whole training part: the figure to report, not one to
   choose by.

One run is one grid (the product of the ``--grid`` values; a parameter given one value is
held fixed); a coordinate search is several runs, each varying a few parameters around the
best so far. Candidates whose mean ratios differ by less than the seed-to-seed spread of one
candidate (``seed=0,1,2,3`` in the grid measures it) are ties, not a ranking.

Printed (and with ``--out PREFIX``, written to ``PREFIX.md`` and ``PREFIX.json``): a Markdown
table of each candidate's ratio per data set and mean ratio, best first, under a row with
``Bias``'s validation RMSE; with ``--test``, a second table of test RMSE. Progress (each
validation RMSE and the median fit time) goes to stderr. Tables name data sets, not their
location; ``--data`` defaults to ``$FASTREC_DATA``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import fastrec
from fastrec.evaluate import model_from_spec

#: data set name -> what it is, for the table
SETS = {
    "post": "ml-latest-small 2016, the post's split",
    "latest": "ml-latest-small 2018, 80/20 seed 7",
    "ml100k": "ml-100k, u1..u5.base",
    "ml1m": "ml-1m, 80/20 seed 7",
}
VALIDATION_SEED = 11


def training_parts(name: str, data: Path) -> list[tuple[fastrec.Ratings, fastrec.Ratings]]:
    """The (train, test) pairs of one data set, as it is evaluated."""
    if name == "ml100k":
        return fastrec.ml100k_folds(data / "ml-100k")
    file = {
        "post": "ml-latest-small-2016/ratings.csv",
        "latest": "ml-latest-small/ratings.csv",
        "ml1m": "ml-1m/ratings.csv",
    }[name]
    return [fastrec.train_test_split(fastrec.load_ratings(data / file), 0.2, seed=7)]


def rmse(model: fastrec.Recommender, test: fastrec.Ratings) -> float:
    err = model.predict(test) - test.ratings
    return float(np.sqrt(np.mean(err * err)))


def candidates(model: str, grid: list[str]) -> list[str]:
    """``NAME(p=v, ...)`` specs, one per point of the grid (``p=v1,v2`` per parameter)."""
    axes = []
    for entry in grid:
        name, _, values = entry.partition("=")
        if not name or not values:
            raise SystemExit(f"--grid: expected NAME=V1,V2,..., got {entry!r}")
        axes.append([f"{name}={v}" for v in values.split(",")])
    return [f"{model}({', '.join(point)})" for point in itertools.product(*axes)]


def score(specs: list[str], sets: list[str], data: Path) -> tuple[list[dict], dict]:
    """Validation RMSE of every spec on every data set, and Bias's (the second value)."""
    rows = {spec: {"spec": spec, "validation": {}, "ratio": {}, "fit_s": {}} for spec in specs}
    bias = {}
    for name in sets:
        pairs = training_parts(name, data)
        slices = [fastrec.train_test_split(train, 0.2, seed=VALIDATION_SEED) for train, _ in pairs]
        base = bias[name] = statistics.fmean(rmse(fastrec.Bias().fit(f), v) for f, v in slices)
        for spec in specs:
            errors, seconds = [], []
            for fit, val in slices:
                t0 = time.perf_counter()
                model = model_from_spec(spec).fit(fit)
                seconds.append(time.perf_counter() - t0)
                errors.append(rmse(model, val))
            row = rows[spec]
            row["validation"][name] = statistics.fmean(errors)
            row["ratio"][name] = row["validation"][name] / base
            row["fit_s"][name] = statistics.median(seconds)
            print(
                f"{name:7s} {spec}: validation RMSE {row['validation'][name]:.4f} "
                f"(Bias {base:.4f}), fit {row['fit_s'][name]:.2f}s",
                file=sys.stderr,
                flush=True,
            )
    for row in rows.values():
        row["mean_ratio"] = statistics.fmean(row["ratio"].values())
    return sorted(rows.values(), key=lambda r: r["mean_ratio"]), bias


def test_scores(spec: str, sets: list[str], data: Path) -> dict:
    """The chosen spec, and Bias, fitted on each whole training part and scored on its test
    part: ``{"chosen": {set: RMSE}, "Bias": {set: RMSE}}`` (ml-100k: the mean of its folds)."""
    out = {"chosen": {}, "Bias": {}}
    for name in sets:
        pairs = training_parts(name, data)
        for key, make in (("chosen", lambda: model_from_spec(spec)), ("Bias", fastrec.Bias)):
            out[key][name] = statistics.fmean(rmse(make().fit(tr), te) for tr, te in pairs)
    return out


def markdown(rows: list[dict], bias: dict, sets: list[str], tests: dict | None) -> str:
    """Validation RMSE over Bias's, per data set and on average, best first; the test RMSE of
    the first (and of Bias) below when scored."""
    lines = [
        "| candidate | " + " | ".join(sets) + " | mean ratio |",
        "|" + "---|" * (len(sets) + 2),
        "| `Bias` validation RMSE | " + " | ".join(f"{bias[s]:.4f}" for s in sets) + " | |",
    ]
    for row in rows:
        cells = " | ".join(f"{row['ratio'][s]:.4f}" for s in sets)
        lines.append(f"| `{row['spec']}` | {cells} | {row['mean_ratio']:.4f} |")
    if tests:
        lines += ["", "| test RMSE | " + " | ".join(sets) + " |", "|" + "---|" * (len(sets) + 1)]
        for key, label in (("chosen", f"`{rows[0]['spec']}`"), ("Bias", "`Bias`")):
            lines.append(f"| {label} | " + " | ".join(f"{tests[key][s]:.4f}" for s in sets) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="model class name, e.g. ALS")
    parser.add_argument("--grid", nargs="*", default=[], help="NAME=V1,V2 per parameter")
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--data", default=os.environ.get("FASTREC_DATA"), help="data folder")
    parser.add_argument("--test", action="store_true", help="score the chosen one on test")
    parser.add_argument("--out", metavar="PREFIX", help="write PREFIX.md and PREFIX.json")
    args = parser.parse_args(argv)
    if not args.data:
        parser.error("give --data or set FASTREC_DATA to the folder holding the MovieLens sets")
    data = Path(args.data)
    specs = candidates(args.model, args.grid)
    for spec in specs:
        model_from_spec(spec)  # a bad name or parameter fails before any fit
    rows, bias = score(specs, args.sets, data)
    tests = test_scores(rows[0]["spec"], args.sets, data) if args.test else None
    text = markdown(rows, bias, args.sets, tests)
    print(text)
    if args.out:
        sets = {s: SETS[s] for s in args.sets}
        result = {"sets": sets, "bias_validation": bias, "rows": rows, "test": tests}
        Path(f"{args.out}.json").write_text(json.dumps(result, indent=1) + "\n")
        Path(f"{args.out}.md").write_text(text + "\n")
    return 0 if all(math.isfinite(r["mean_ratio"]) for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
