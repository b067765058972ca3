"""UserKNN / ItemKNN (k=40) beside Surprise's KNNWithMeans and KNNBaseline, on the same split.

    python benchmarks/knn_peers.py --path ../shared/data/ml-latest-small-2016/ratings.csv
    python benchmarks/knn_peers.py --ml100k-folds ../shared/data/ml-100k --repeats 1

For each side (user-based, item-based) it prints fastrec's k=40 model and Surprise's
KNNWithMeans / KNNBaseline (k=40, similarities cosine and pearson_baseline, every other
option at Surprise's default) with RMSE, fit + predict seconds (median of ``--repeats``
runs, after one warm-up run of fastrec's Numba kernels) and how many times slower each is
than fastrec. Surprise is not a dependency of fastrec: ``pip install scikit-surprise``
(this script installs nothing). Run it alone on the machine (see the README: timings).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

import fastrec
from fastrec.models.knn import ItemKNN, UserKNN

SURPRISE_SIMS = ("cosine", "pearson_baseline")


def _time_fastrec(factory, splits, repeats):
    rmses, seconds = [], []
    for train, test in splits:
        factory().fit(train).predict(test)  # compile the Numba kernels before timing
        runs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            pred = factory().fit(train).predict(test)
            runs.append(time.perf_counter() - t0)
        rmses.append(fastrec.rmse(pred, test.ratings))
        seconds.append(statistics.median(runs))
    return float(np.mean(rmses)), float(np.mean(seconds))


def _time_surprise(factory, splits, repeats):
    from surprise import Dataset, Reader

    rmses, seconds = [], []
    for train, test in splits:
        lo, hi = float(train.ratings.min()), float(train.ratings.max())
        frame = train.to_frame().iloc[:, :3]
        trainset = Dataset.load_from_df(frame, Reader(rating_scale=(lo, hi))).build_full_trainset()
        pairs = list(zip(test.user_ids.tolist(), test.item_ids.tolist(), strict=True))
        runs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            algo = factory()
            algo.fit(trainset)
            pred = np.array([algo.predict(u, i).est for u, i in pairs])
            runs.append(time.perf_counter() - t0)
        rmses.append(fastrec.rmse(pred, test.ratings))
        seconds.append(statistics.median(runs))
    return float(np.mean(rmses)), float(np.mean(seconds))


def compare(splits, repeats, k=40):
    from surprise import KNNBaseline, KNNWithMeans

    print("| side | model | RMSE | fit + predict s | x fastrec time |")
    print("|---|---|---|---|---|")
    for user_based, ours in ((True, UserKNN), (False, ItemKNN)):
        side = "user-based" if user_based else "item-based"
        f_rmse, f_sec = _time_fastrec(lambda ours=ours: ours(k=k), splits, repeats)
        print(f"| {side} | fastrec {ours(k=k).name} | {f_rmse:.6f} | {f_sec:.3f} | 1.0 |")
        best = None
        for algo in (KNNWithMeans, KNNBaseline):
            for sim in SURPRISE_SIMS:

                def factory(algo=algo, sim=sim, user_based=user_based):
                    options = {"name": sim, "user_based": user_based}
                    return algo(k=k, sim_options=options, verbose=False)

                s_rmse, s_sec = _time_surprise(factory, splits, repeats)
                name = f"Surprise {algo.__name__}({sim})"
                print(f"| {side} | {name} | {s_rmse:.6f} | {s_sec:.3f} | {s_sec / f_sec:.1f} |")
                if best is None or s_rmse < best[1]:
                    best = (name, s_rmse, s_sec)
        verdict = "no worse" if f_rmse <= best[1] else "WORSE"
        print(
            f"| {side} | best Surprise: {best[0]} | {best[1]:.6f} | {best[2]:.3f} | "
            f"{best[2] / f_sec:.1f} (fastrec RMSE {verdict}) |"
        )
        sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--path", help="ratings file; the post's 80/20 split (seed 7)")
    group.add_argument("--ml100k-folds", metavar="DIR", help="ml-100k folder: mean of u1..u5")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--k", type=int, default=40)
    args = parser.parse_args()
    try:
        import surprise  # noqa: F401
    except ImportError:
        sys.exit("knn_peers.py needs Surprise, which fastrec does not depend on: "
                 "pip install scikit-surprise")  # fmt: skip
    if args.path:
        splits = [fastrec.train_test_split(fastrec.load_ratings(args.path))]
        print(f"{args.path}, 80/20 split, seed 7; seconds: median of {args.repeats} runs")
    else:
        splits = fastrec.ml100k_folds(args.ml100k_folds)
        print(f"{args.ml100k_folds}: mean over u1..u5; seconds: median of {args.repeats} runs")
    compare(splits, args.repeats, args.k)


if __name__ == "__main__":
    main()
