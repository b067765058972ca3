"""fastrec beside its counterparts in Surprise, on the same split.

    python benchmarks/peers.py --path ../shared/data/ml-latest-small-2016/ratings.csv
    python benchmarks/peers.py --ml100k-folds ../shared/data/ml-100k

Prints, per pair, both RMSEs and fit + predict seconds (median of --repeats runs) and the
time ratio. Surprise is not a dependency of fastrec: install it yourself with
``pip install scikit-surprise``; this script installs nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

import fastrec


def _surprise_pairs():
    from surprise import BaselineOnly

    # (name, fastrec model factory, Surprise algorithm factory)
    return [
        ("Bias vs BaselineOnly", fastrec.Bias, lambda: BaselineOnly(verbose=False)),
    ]


def _time_fastrec(factory, train, test, repeats):
    factory().fit(train).predict(test)  # compile the Numba kernels before timing
    seconds, pred = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        pred = factory().fit(train).predict(test)
        seconds.append(time.perf_counter() - t0)
    return fastrec.rmse(pred, test.ratings), statistics.median(seconds)


def _time_surprise(factory, train, test, repeats):
    from surprise import Dataset, Reader

    lo, hi = float(train.ratings.min()), float(train.ratings.max())
    frame = train.to_frame().iloc[:, :3]
    trainset = Dataset.load_from_df(frame, Reader(rating_scale=(lo, hi))).build_full_trainset()
    pairs = list(zip(test.user_ids.tolist(), test.item_ids.tolist(), strict=True))
    seconds, pred = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        algo = factory()
        algo.fit(trainset)
        pred = np.array([algo.predict(u, i).est for u, i in pairs])
        seconds.append(time.perf_counter() - t0)
    return fastrec.rmse(pred, test.ratings), statistics.median(seconds)


def compare(splits, repeats):
    rows = []
    for name, ours, theirs in _surprise_pairs():
        scores = [
            (_time_fastrec(ours, tr, te, repeats), _time_surprise(theirs, tr, te, repeats))
            for tr, te in splits
        ]
        f_rmse = np.mean([s[0][0] for s in scores])
        s_rmse = np.mean([s[1][0] for s in scores])
        f_sec = np.mean([s[0][1] for s in scores])
        s_sec = np.mean([s[1][1] for s in scores])
        rows.append((name, f_rmse, s_rmse, f_sec, s_sec))
    print("| pair | fastrec RMSE | Surprise RMSE | fastrec s | Surprise s | speed-up |")
    print("|---|---|---|---|---|---|")
    for name, f_rmse, s_rmse, f_sec, s_sec in rows:
        print(
            f"| {name} | {f_rmse:.6f} | {s_rmse:.6f} | {f_sec:.4f} | {s_sec:.4f} | "
            f"{s_sec / f_sec:.1f}x |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--path", help="ratings file; the post's 80/20 split (seed 7)")
    group.add_argument("--ml100k-folds", metavar="DIR", help="ml-100k folder: mean of u1..u5")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    try:
        import surprise  # noqa: F401
    except ImportError:
        sys.exit("peers.py needs Surprise: pip install scikit-surprise")
    if args.path:
        splits = [fastrec.train_test_split(fastrec.load_ratings(args.path))]
        print(f"{args.path}, 80/20 split, seed 7; seconds: fit + predict, median of {args.repeats}")
    else:
        splits = fastrec.ml100k_folds(args.ml100k_folds)
        print(
            f"{args.ml100k_folds}: mean over the five folds u1..u5; seconds: fit + predict, "
            f"median of {args.repeats}"
        )
    compare(splits, args.repeats)


if __name__ == "__main__":
    main()
