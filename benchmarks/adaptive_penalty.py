"""Would a penalty chosen inside ``fit`` beat one default? Measured with the protocol of
``benchmarks/choose_defaults.py``, never on a test set.

    python benchmarks/adaptive_penalty.py --model ALS --regs 0.05,0.07,0.1,0.14,0.2
    python benchmarks/adaptive_penalty.py --model BiasedMF --regs 0.04,0.05,0.07,0.1 \\
        --params "n_epochs=40, lr=0.01, init_std=0.01"

For each data set's fit part and validation slice (choose_defaults.py's steps 1 and 2), the
fit part is split once more, 90/10 with seed ``INNER_SEED``; the model is fitted on the 90%
with each ``reg`` of ``--regs`` and scored on the 10%; the best ``reg`` is then refitted on the
whole fit part and scored on the validation slice. That is what a ``reg="auto"`` option of the
model would do inside ``fit``, so its ratio to ``Bias`` is directly comparable with the fixed
candidates' ratios in choose_defaults.py's tables. Printed per data set: the ``reg`` picked
(per fold for ml-100k), the validation RMSE, its ratio to ``Bias``, and the median wall time
of the whole choice (all the inner fits plus the refit).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from choose_defaults import SETS, VALIDATION_SEED, rmse, training_parts  # this folder

import fastrec
from fastrec.evaluate import model_from_spec

INNER_SEED = 3


def auto_fit(model: str, regs: list[float], params: str, fit: fastrec.Ratings):
    """The model refitted on ``fit`` with the ``reg`` that scored best on an inner 10%."""
    inner_fit, inner_val = fastrec.train_test_split(fit, 0.1, seed=INNER_SEED)
    extra = f", {params}" if params else ""
    scores = [
        rmse(model_from_spec(f"{model}(reg={r}{extra})").fit(inner_fit), inner_val) for r in regs
    ]
    best = regs[int(np.argmin(scores))]
    return model_from_spec(f"{model}(reg={best}{extra})").fit(fit), best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="model class name, e.g. ALS")
    parser.add_argument("--regs", required=True, help="the penalties tried, e.g. 0.05,0.1")
    parser.add_argument("--params", default="", help='other parameters, e.g. "n_factors=100"')
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--data", default=os.environ.get("FASTREC_DATA"), help="data folder")
    args = parser.parse_args(argv)
    if not args.data:
        parser.error("give --data or set FASTREC_DATA to the folder holding the MovieLens sets")
    regs = [float(r) for r in args.regs.split(",")]
    print("| data set | reg picked | validation RMSE | ratio to Bias | choice + refit (s) |")
    print("|---|---|---|---|---|")
    for name in args.sets:
        slices = [
            fastrec.train_test_split(train, 0.2, seed=VALIDATION_SEED)
            for train, _ in training_parts(name, Path(args.data))
        ]
        errors, base, picks, seconds = [], [], [], []
        for fit, val in slices:
            t0 = time.perf_counter()
            model, best = auto_fit(args.model, regs, args.params, fit)
            seconds.append(time.perf_counter() - t0)
            errors.append(rmse(model, val))
            base.append(rmse(fastrec.Bias().fit(fit), val))
            picks.append(f"{best:g}")
        error = statistics.fmean(errors)
        print(
            f"| {name} | {', '.join(picks)} | {error:.4f} | {error / statistics.fmean(base):.4f} "
            f"| {statistics.median(seconds):.1f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
