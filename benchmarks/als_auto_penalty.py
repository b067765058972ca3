"""``ALS()`` against ``ALS(reg="auto")``: test RMSE, the penalty chosen, and the fit's cost.

    FASTREC_DATA=path/to/the/movielens/sets \\
        flock .heavy-run.lock python benchmarks/als_auto_penalty.py
    flock .heavy-run.lock python benchmarks/als_auto_penalty.py --sets ml-1m ml-10m

Data sets: the four real ones of ``benchmarks/choose_defaults.py``, split as they are
evaluated (``post``: ml-latest-small 2016, the post's split; ``latest``: ml-latest-small
2018, 80/20 seed 7; ``ml100k``: u1..u5, the mean over the folds; ``ml1m``: ml-1m, 80/20 seed
7), read from ``--data`` (default ``$FASTREC_DATA``); and the synthetic shapes
(``fastrec.datasets.synthetic(shape, seed=0)``, 80/20 seed 7) named by a ``SHAPES`` key
(``ml-1m``, ``ml-10m``, ...). ``reg="auto"`` chooses its penalty inside ``fit`` on a slice of
the training ratings; the test part is only scored, so these test RMSE figures are reports,
not choices.

Each data set: ``ALS()`` and ``ALS(reg="auto")`` fitted on the training part one after the
other, ``--repeats`` times (alternating), scored on the test part. Printed: a Markdown row per
data set with both test RMSE (the mean over the folds for ml-100k), their difference, the
penalties chosen (one per fold), and the median seconds of one fit, wall clock and CPU
(``time.process_time``: all threads of this process, so less sensitive than the wall clock
to other jobs on a shared machine), with the ratio auto / default. Numba kernels are
compiled on a tiny set first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from choose_defaults import SETS, training_parts  # this folder

import fastrec

#: the default penalty and the chosen one
REGS = (0.09, "auto")


def pairs_of(name: str, data: str | None):
    """The (train, test) pairs of a real set or a synthetic shape."""
    if name in SETS:
        if not data:
            raise SystemExit("give --data or set FASTREC_DATA for the real data sets")
        return training_parts(name, Path(data))
    ratings = fastrec.datasets.synthetic(name, seed=0)
    return [fastrec.train_test_split(ratings, 0.2, seed=7)]


def fit_timed(reg, train: fastrec.Ratings):
    """``ALS(reg=reg)`` fitted on ``train``, with its wall and CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    model = fastrec.ALS(reg=reg).fit(train)
    return model, time.perf_counter() - wall, time.process_time() - cpu


def measure(pairs, repeats: int) -> dict:
    """Per model (``0.09``, ``"auto"``): mean test RMSE, penalties chosen, median seconds."""
    out = {reg: {"rmse": [], "reg": [], "wall": [], "cpu": []} for reg in REGS}
    for train, test in pairs:
        for _ in range(repeats):
            fitted = {}
            for reg in REGS:  # alternating, so that both see the same load
                fitted[reg], wall, cpu = fit_timed(reg, train)
                out[reg]["wall"].append(wall)
                out[reg]["cpu"].append(cpu)
        for reg in REGS:  # the fits are deterministic: the last one stands for all
            out[reg]["rmse"].append(fastrec.rmse(fitted[reg].predict(test), test.ratings))
            out[reg]["reg"].append(f"{fitted[reg].reg_:.3f}")
    return {
        reg: {
            "rmse": statistics.fmean(v["rmse"]),
            "reg": ", ".join(v["reg"]),
            "wall": statistics.median(v["wall"]),
            "cpu": statistics.median(v["cpu"]),
        }
        for reg, v in out.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sets", nargs="+", default=["post", "latest", "ml100k", "ml1m", "ml-1m", "ml-10m"]
    )
    parser.add_argument("--repeats", type=int, default=1, help="fits per model and data set")
    parser.add_argument("--data", default=os.environ.get("FASTREC_DATA"), help="data folder")
    args = parser.parse_args(argv)
    unknown = [s for s in args.sets if s not in SETS and s not in fastrec.datasets.SHAPES]
    if unknown:
        parser.error(f"unknown data sets {unknown}: expected {list(SETS)} or a synthetic shape")
    tiny = fastrec.train_test_split(fastrec.datasets.synthetic("ml-100k", seed=1))[0]
    fastrec.ALS(n_iter=2, reg="auto").fit(tiny)  # compile the kernels first
    print(
        '| data set | `ALS()` RMSE | `ALS(reg="auto")` RMSE | difference | `reg_` chosen '
        "| fit s: default, auto (ratio) | CPU s: default, auto (ratio) |"
    )
    print("|---|---:|---:|---:|---|---|---|")
    for name in args.sets:
        r = measure(pairs_of(name, args.data), args.repeats)
        d, a = r[0.09], r["auto"]
        label = name if name in SETS else f"synthetic {name}"
        print(
            f"| {label} | {d['rmse']:.4f} | {a['rmse']:.4f} | {a['rmse'] - d['rmse']:+.4f} "
            f"| {a['reg']} | {d['wall']:.1f}, {a['wall']:.1f} ({a['wall'] / d['wall']:.2f}x) "
            f"| {d['cpu']:.1f}, {a['cpu']:.1f} ({a['cpu'] / d['cpu']:.2f}x) |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
