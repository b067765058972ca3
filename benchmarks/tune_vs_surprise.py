"""fastrec.tune beside Surprise's GridSearchCV: the same 12-setting grid, 3 folds, one run.

    python benchmarks/tune_vs_surprise.py --path ratings.csv
    python benchmarks/tune_vs_surprise.py --path ratings.csv --surprise-jobs 1 2

The grid, for ``BiasedMF(init_std=0.1)`` and Surprise's ``SVD`` (the same biased matrix
factorization by SGD, the same update rules, both 20 epochs, factors drawn with standard
deviation 0.1):

    n_factors: 50, 100    learning rate: 0.005, 0.01    regularization: 0.02, 0.05, 0.1

(``lr``/``reg`` in fastrec, ``lr_all``/``reg_all`` in Surprise): 12 settings x 3 folds =
36 fits and scorings, then the best setting refitted on all the ratings (``refit=True`` in
both). Seconds are the wall time of the whole call, data already in memory: for fastrec
``fastrec.tune`` (its kernels compiled on a tiny set inside the call, from Numba's cache
when warm), for Surprise ``GridSearchCV.fit`` with ``n_jobs`` from ``--surprise-jobs``
(default 1, its default). The folds are each library's own random 3-fold split of the same
ratings (seeded), so the RMSEs are comparable but not identical. The last column is the
seconds over fastrec's.

Surprise is not a dependency of fastrec: ``pip install scikit-surprise`` to run this
script; where it does not import, the script says so and exits 0. Run it alone on the
machine (``flock .heavy-run.lock ...``): the times are what it is for.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

FACTORS = [50, 100]
LRS = [0.005, 0.01]
REGS = [0.02, 0.05, 0.1]
FOLDS = 3


def run_fastrec(ratings, n_jobs: int | None, seed: int) -> dict:
    import fastrec

    grid = {"n_factors": FACTORS, "lr": LRS, "reg": REGS}
    t0 = time.perf_counter()
    result = fastrec.tune(
        fastrec.BiasedMF(init_std=0.1), grid, ratings, cv=FOLDS, seed=seed, n_jobs=n_jobs,
        show_progress=False,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    return {
        "library": "fastrec",
        "call": f"tune(BiasedMF(init_std=0.1), n_jobs={result.table.attrs['n_jobs']})",
        "seconds": seconds,
        "rmse": result.best_score,
        "best": result.best_params,
    }


def run_surprise(ratings, n_jobs: int, seed: int) -> dict:
    from surprise import SVD, Dataset, Reader
    from surprise.model_selection import GridSearchCV, KFold

    frame = ratings.to_frame()
    lo, hi = float(ratings.ratings.min()), float(ratings.ratings.max())
    data = Dataset.load_from_df(frame.iloc[:, :3], Reader(rating_scale=(lo, hi)))
    grid = {"n_factors": FACTORS, "lr_all": LRS, "reg_all": REGS, "random_state": [seed]}
    search = GridSearchCV(
        SVD, grid, measures=["rmse"], cv=KFold(FOLDS, random_state=seed), refit=True,
        n_jobs=n_jobs,
    )  # fmt: skip
    t0 = time.perf_counter()
    search.fit(data)
    seconds = time.perf_counter() - t0
    best = {k: v for k, v in search.best_params["rmse"].items() if k != "random_state"}
    return {
        "library": "Surprise",
        "call": f"GridSearchCV(SVD, n_jobs={n_jobs})",
        "seconds": seconds,
        "rmse": float(search.best_score["rmse"]),
        "best": best,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--path", required=True, help="ratings file (e.g. ml-latest-small)")
    parser.add_argument("--seed", type=int, default=0, help="folds and Surprise's random_state")
    parser.add_argument("--jobs", type=int, default=None, help="fastrec's n_jobs (default auto)")
    parser.add_argument("--surprise-jobs", type=int, nargs="+", default=[1],
                        help="Surprise's n_jobs, one run each (default 1)")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        import surprise  # noqa: F401
    except ImportError:
        print("skipped: surprise is not importable here (pip install scikit-surprise to run)")
        return 0
    import fastrec

    ratings = fastrec.load_ratings(args.path)
    name = Path(args.path).parent.name or Path(args.path).name
    rows = [run_fastrec(ratings, args.jobs, args.seed)]
    rows += [run_surprise(ratings, jobs, args.seed) for jobs in args.surprise_jobs]
    base = rows[0]["seconds"]
    print(
        f"{name}: {len(ratings):,} ratings; {len(FACTORS) * len(LRS) * len(REGS)} settings x "
        f"{FOLDS} folds; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}\n"
    )
    print("| library | call | seconds | best RMSE (mean of folds) | best setting | x fastrec |")
    print("|---|---|---:|---:|---|---:|")
    for row in rows:
        print(
            f"| {row['library']} | {row['call']} | {row['seconds']:.2f} | {row['rmse']:.4f} | "
            f"{row['best']} | {row['seconds'] / base:.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
