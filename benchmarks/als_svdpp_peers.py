"""fastrec's ALS and SVDpp beside Surprise's SVD and SVDpp, on the same splits.

    python benchmarks/als_svdpp_peers.py --path ../shared/data/ml-latest-small-2016/ratings.csv
    python benchmarks/als_svdpp_peers.py --ml100k-folds ../shared/data/ml-100k
    python benchmarks/als_svdpp_peers.py --synthetic ml-25m --models ALS   # fastrec alone, at scale

Prints, per pair, both RMSEs (the mean over the folds for ml-100k), the fit + predict seconds
(median of ``--repeats`` runs for fastrec, after a warm-up that compiles the Numba kernels;
median of ``--surprise-repeats`` runs for Surprise, 1 by default: its SVDpp takes minutes)
and the speed-up. Surprise predicts one pair per Python call, as its users do.

Surprise is not a dependency of fastrec: install it with ``pip install scikit-surprise``
(this script installs nothing). ``--synthetic`` needs no Surprise: it fits fastrec's models on
a MovieLens-shaped synthetic set (80/20 split, seed 7) and prints seconds, RMSE and the
process's peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time

import numpy as np

import fastrec
from fastrec.models.als import ALS
from fastrec.models.svdpp import SVDpp

# (label, fastrec factory, Surprise algorithm name, Surprise keyword arguments)
PAIRS = [
    ("ALS vs SVD", ALS, "SVD", {}),
    ("SVDpp vs SVDpp", SVDpp, "SVDpp", {}),
    (
        "SVDpp(reg=0.02, n_epochs=20) vs SVDpp",  # Surprise's configuration in fastrec
        lambda: SVDpp(reg=0.02, n_epochs=20),
        "SVDpp",
        {},
    ),
]


def _time_fastrec(factory, train, test, repeats):
    factory().fit(train).predict(test)  # compile the Numba kernels before timing
    seconds, pred = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        pred = factory().fit(train).predict(test)
        seconds.append(time.perf_counter() - t0)
    return fastrec.rmse(pred, test.ratings), statistics.median(seconds)


def _time_surprise(name, kwargs, train, test, repeats, seed):
    import surprise

    lo, hi = float(train.ratings.min()), float(train.ratings.max())
    frame = train.to_frame().iloc[:, :3]
    reader = surprise.Reader(rating_scale=(lo, hi))
    trainset = surprise.Dataset.load_from_df(frame, reader).build_full_trainset()
    pairs = list(zip(test.user_ids.tolist(), test.item_ids.tolist(), strict=True))
    seconds, pred = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        algo = getattr(surprise, name)(random_state=seed, **kwargs)
        algo.fit(trainset)
        pred = np.array([algo.predict(u, i).est for u, i in pairs])
        seconds.append(time.perf_counter() - t0)
    return fastrec.rmse(pred, test.ratings), statistics.median(seconds)


def compare(splits, repeats, surprise_repeats, seed, labels=None) -> list[tuple]:
    """One row per pair: (label, fastrec RMSE, Surprise RMSE, fastrec s, Surprise s), the
    RMSEs and seconds averaged over ``splits``."""
    rows = []
    cache = {}  # Surprise's run is the same for several fastrec configurations
    for label, ours, name, kwargs in PAIRS:
        if labels and label not in labels:
            continue
        f = [_time_fastrec(ours, tr, te, repeats) for tr, te in splits]
        if name not in cache:
            cache[name] = [
                _time_surprise(name, kwargs, tr, te, surprise_repeats, seed) for tr, te in splits
            ]
        s = cache[name]
        (f_rmse, f_sec), (s_rmse, s_sec) = np.mean(f, axis=0), np.mean(s, axis=0)
        row = (label, float(f_rmse), float(s_rmse), float(f_sec), float(s_sec))
        rows.append(row)
        print(
            f"| {label} | {row[1]:.6f} | {row[2]:.6f} | {row[3]:.3f} | {row[4]:.3f} | "
            f"{row[4] / row[3]:.1f}x |",
            flush=True,
        )
    return rows


def at_scale(shape: str, models: list[str], repeats: int) -> None:
    """fastrec's models alone on a synthetic MovieLens-shaped set: seconds, RMSE, peak RSS."""
    t0 = time.perf_counter()
    ratings = fastrec.datasets.synthetic(shape, seed=0)
    train, test = fastrec.train_test_split(ratings, test_size=0.2, seed=7)
    del ratings
    train.csr, train.csc  # noqa: B018  (built once, as every model's fit would)
    print(
        f"synthetic {shape}: {len(train):,} train, {len(test):,} test ratings "
        f"(generated and split in {time.perf_counter() - t0:.1f}s); "
        f"peak RSS so far {_peak_mib():.0f} MiB"
    )
    print("| model | fit s | predict s | RMSE | peak RSS MiB |")
    print("|---|---|---|---|---|")
    for name in models:
        cls = {"ALS": ALS, "SVDpp": SVDpp}[name]
        warm = train.subset(np.arange(min(len(train), 10_000)))
        cls().fit(warm).predict(warm)  # compile the kernels
        fits, predicts = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model = cls().fit(train)
            t1 = time.perf_counter()
            pred = model.predict(test)
            t2 = time.perf_counter()
            fits.append(t1 - t0)
            predicts.append(t2 - t1)
        print(
            f"| {name} | {statistics.median(fits):.1f} | {statistics.median(predicts):.2f} | "
            f"{fastrec.rmse(pred, test.ratings):.4f} | {_peak_mib():.0f} |",
            flush=True,
        )


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--path", help="ratings file; the post's 80/20 split (seed 7)")
    group.add_argument("--ml100k-folds", metavar="DIR", help="ml-100k folder: mean of u1..u5")
    group.add_argument("--synthetic", metavar="SHAPE", help="fastrec alone on e.g. ml-25m")
    parser.add_argument("--repeats", type=int, default=5, help="fastrec runs (median)")
    parser.add_argument("--surprise-repeats", type=int, default=1, help="Surprise runs (median)")
    parser.add_argument("--seed", type=int, default=0, help="Surprise's random_state")
    parser.add_argument(
        "--pairs", nargs="*", default=None, help="labels of the pairs to run (default: all)"
    )
    parser.add_argument("--models", nargs="*", default=["ALS", "SVDpp"], help="with --synthetic")
    args = parser.parse_args()
    if args.synthetic:
        at_scale(args.synthetic, args.models, args.repeats)
        return
    try:
        import surprise  # noqa: F401
    except ImportError:
        sys.exit("als_svdpp_peers.py needs Surprise: pip install scikit-surprise")
    if args.path:
        splits = [fastrec.train_test_split(fastrec.load_ratings(args.path), 0.2, seed=7)]
        where = f"{args.path}, 80/20 split, seed 7"
    else:
        splits = fastrec.ml100k_folds(args.ml100k_folds)
        where = f"{args.ml100k_folds}: mean over the five folds u1..u5"
    print(
        f"{where}; seconds: fit + predict, median of {args.repeats} (fastrec) and "
        f"{args.surprise_repeats} (Surprise, random_state={args.seed})"
    )
    print("| pair | fastrec RMSE | Surprise RMSE | fastrec s | Surprise s | speed-up |")
    print("|---|---|---|---|---|---|")
    compare(splits, args.repeats, args.surprise_repeats, args.seed, args.pairs)


if __name__ == "__main__":
    main()
