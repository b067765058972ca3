"""One ALS iteration at MovieLens-25M shape: the block solver's seconds, GFLOP/s and RMSE.

    python benchmarks/als_iteration.py                          # ml-25m, 50 and 100 factors
    python benchmarks/als_iteration.py --shape ml-1m --factors 50 --repeats 5
    python benchmarks/als_iteration.py --no-fit                 # the half-sweeps only

Synthetic ``ml-25m`` (seed 0), the post's 80/20 split (seed 7; 20M training ratings). For each
number of factors ``k``:

- the two half-sweeps of :func:`fastrec.kernels.als.solve_biased_rows` (every user, then
  every item) on the standardised ratings, at ALS's default penalties, timed ``--repeats``
  times in a row (each repeat one alternation, continuing from the last, from item factors
  drawn as ALS draws them): the median seconds of each half and of the iteration, and the
  floating-point work of the normal equations (Gram matrices and factorizations, counted
  as in the kernel: the dual system for rows with fewer ratings than unknowns) per second;
- then ``ALS(n_factors=k)`` fitted with its defaults (10 iterations): the median seconds of
  an iteration as the model records them (``history_["seconds"]``: both half-sweeps and the
  objective), the whole fit, and the test RMSE, so that the RMSE stands beside the time.

Numba kernels are compiled on a tiny set first. Run it alone on the machine
(``flock .heavy-run.lock python benchmarks/als_iteration.py``); it prints the thread count
and the load average it ran under.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numba
import numpy as np
from _common import peak_gib, synthetic_split, warm_up

import fastrec
from fastrec.kernels.als import solve_biased_rows
from fastrec.models.als import ALS

#: ALS's default penalties (standardised units), as the model passes them to the kernel
REG, REG_BIAS, WEIGHTED = 0.09, 0.1, True


def normal_equation_flop(indptr: np.ndarray, k: int, use_dual: bool) -> float:
    """The floating-point operations of one half-sweep's normal equations, as the kernel
    solves them: per row of ``n`` ratings, ``n (k+2)(k+3)`` for the upper triangle of the
    augmented Gram matrix and ``(k+1)^3 / 3`` for its Cholesky factorization; or, for
    ``n < k + 1`` (the dual), ``n (n+1) (k+1)`` and ``n^3 / 3``."""
    n = np.diff(indptr).astype(np.float64)
    n = n[n > 0]
    dual = use_dual & (n < k + 1)
    primal = n[~dual] * (k + 2) * (k + 3) + (k + 1) ** 3 / 3
    small = n[dual] * (n[dual] + 1) * (k + 1) + n[dual] ** 3 / 3
    return float(primal.sum() + small.sum())


def time_half_sweeps(train, k: int, repeats: int) -> dict:
    """Median seconds of the user and item half-sweeps over ``repeats`` alternations."""
    csr, csc = train.csr, train.csc
    mu = float(np.mean(train.ratings))
    spread = float(np.std(train.ratings)) or 1.0
    z_csr, z_csc = (csr.data - mu) / spread, (csc.data - mu) / spread
    rng = np.random.default_rng(0)
    items = rng.normal(0.0, 0.1, size=(train.n_items, k))
    users = np.zeros((train.n_users, k))
    user_bias, item_bias = np.zeros(train.n_users), np.zeros(train.n_items)
    args = (REG, REG_BIAS, WEIGHTED)
    user_s, item_s = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        solve_biased_rows(
            csr.indptr, csr.indices, z_csr, items, item_bias, 0.0, *args, users, user_bias
        )
        t1 = time.perf_counter()
        solve_biased_rows(
            csc.indptr, csc.indices, z_csc, users, user_bias, 0.0, *args, items, item_bias
        )
        t2 = time.perf_counter()
        user_s.append(t1 - t0)
        item_s.append(t2 - t1)
    flop = normal_equation_flop(csr.indptr, k, REG_BIAS > 0) + normal_equation_flop(
        csc.indptr, k, REG_BIAS > 0
    )
    iteration = np.add(user_s, item_s)
    return {
        "users_s": float(np.median(user_s)),
        "items_s": float(np.median(item_s)),
        "iteration_s": float(np.median(iteration)),
        "iteration_s_all": [round(float(s), 3) for s in iteration],
        "gflop": flop / 1e9,
        "gflop_per_s": flop / 1e9 / float(np.median(iteration)),
    }


def fit_and_score(train, test, k: int) -> dict:
    model = ALS(n_factors=k)
    t0 = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - t0
    seconds = model.history_["seconds"]
    return {
        "fit_s": fit_s,
        "model_iteration_s": float(np.median(seconds)),
        "n_iter": len(seconds),
        "rmse": fastrec.rmse(model.predict(test), test.ratings),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", default="ml-25m", help="a fastrec.datasets.SHAPES name")
    parser.add_argument("--factors", type=int, nargs="+", default=[50, 100])
    parser.add_argument("--repeats", type=int, default=3, help="timed alternations per k")
    parser.add_argument("--no-fit", action="store_true", help="skip the full ALS fit")
    args = parser.parse_args()

    warm_up(ALS(n_factors=8, n_iter=1))
    t0 = time.perf_counter()
    train, test = synthetic_split(args.shape)
    train.csr, train.csc  # noqa: B018  (built once per Ratings; not part of a fit)
    print(
        f"synthetic {args.shape}: {len(train):,} training ratings, {train.n_users:,} users x "
        f"{train.n_items:,} items ({time.perf_counter() - t0:.1f} s to build)"
    )
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{numba.get_num_threads()} Numba threads ({numba.threading_layer()}), "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    columns = ["   k", " users s", " items s", " iter s", " GFLOP", " GFLOP/s"]
    if not args.no_fit:
        columns += [" ALS iter s", " fit s", "     RMSE"]
    print(" ".join(columns))
    for k in args.factors:
        row = time_half_sweeps(train, k, args.repeats)
        line = (
            f"{k:>4} {row['users_s']:>8.2f} {row['items_s']:>8.2f} {row['iteration_s']:>7.2f} "
            f"{row['gflop']:>6.0f} {row['gflop_per_s']:>8.1f}"
        )
        if not args.no_fit:
            fit = fit_and_score(train, test, k)
            line += f" {fit['model_iteration_s']:>10.2f} {fit['fit_s']:>6.1f} {fit['rmse']:>9.6f}"
        print(line + f"   (iterations: {row['iteration_s_all']})", flush=True)
    print(f"peak memory {peak_gib():.1f} GiB; load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
