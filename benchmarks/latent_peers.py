"""fastrec's BiasedMF beside Surprise's SVD (both with their defaults) on the same splits.

    python benchmarks/latent_peers.py --data ../shared/data          # both comparisons
    python benchmarks/latent_peers.py --data ../shared/data --repeats 3 --only post

Two comparisons: the post's split of ml-latest-small 2016 (80/20, seed 7) and the mean over
ml-100k's five predefined folds (u1..u5). Run ``r`` of ``--repeats`` seeds both libraries with
``r`` (fastrec ``seed=r``, Surprise ``random_state=r``): the RMSE printed is the mean over the
runs, the seconds (fit + predict of the whole test set, the data already loaded) their median;
for the folds, the mean over the five folds of both. Surprise predicts with its usual
``algo.test`` (a Python call per rating); fastrec's kernels are compiled before timing.

Surprise is not a dependency of fastrec: ``pip install scikit-surprise`` to run this script;
it installs nothing. Run it alone on the machine (``flock /tmp/fastrec-heavy.lock ...``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import fastrec
from fastrec.models.mf import BiasedMF


def _surprise_data(train, test):
    from surprise import Dataset, Reader

    lo, hi = float(train.ratings.min()), float(train.ratings.max())
    frame = train.to_frame().iloc[:, :3]
    trainset = Dataset.load_from_df(frame, Reader(rating_scale=(lo, hi))).build_full_trainset()
    testset = list(
        zip(test.user_ids.tolist(), test.item_ids.tolist(), test.ratings.tolist(), strict=True)
    )
    return trainset, testset


def run_split(train, test, repeats: int, fastrec_params: dict) -> dict:
    """RMSE (mean over seeds) and fit + predict seconds (median) of both, on one split."""
    from surprise import SVD as SurpriseSVD

    trainset, testset = _surprise_data(train, test)
    BiasedMF(n_epochs=1, **fastrec_params).fit(train).predict(test)  # compile the kernels
    ours, theirs = ([], []), ([], [])
    for seed in range(repeats):
        t0 = time.perf_counter()
        pred = BiasedMF(seed=seed, **fastrec_params).fit(train).predict(test)
        ours[1].append(time.perf_counter() - t0)
        ours[0].append(fastrec.rmse(pred, test.ratings))

        t0 = time.perf_counter()
        algo = SurpriseSVD(random_state=seed)
        algo.fit(trainset)
        est = np.array([p.est for p in algo.test(testset)])
        theirs[1].append(time.perf_counter() - t0)
        theirs[0].append(fastrec.rmse(est, test.ratings))
    return {
        "fastrec_rmse": float(np.mean(ours[0])),
        "fastrec_s": statistics.median(ours[1]),
        "surprise_rmse": float(np.mean(theirs[0])),
        "surprise_s": statistics.median(theirs[1]),
    }


def _row(name: str, res: dict) -> str:
    ratio = res["surprise_s"] / res["fastrec_s"]
    return (
        f"| {name} | {res['fastrec_rmse']:.4f} | {res['surprise_rmse']:.4f} | "
        f"{res['fastrec_s']:.3f} | {res['surprise_s']:.3f} | {ratio:.1f}x |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder with ml-latest-small-2016, ml-100k")
    parser.add_argument("--repeats", type=int, default=5, help="seeds per split (default 5)")
    parser.add_argument("--only", choices=["post", "folds"], help="run one comparison only")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a BiasedMF parameter other than its default (e.g. n_factors=100); repeatable",
    )
    args = parser.parse_args()
    try:
        import surprise  # noqa: F401
    except ImportError:
        sys.exit("latent_peers.py needs Surprise: pip install scikit-surprise")
    params = {}
    for item in args.param:
        name, _, value = item.partition("=")
        params[name] = float(value) if "." in value or "e" in value else int(value)
    data = Path(args.data)
    label = f"BiasedMF({', '.join(f'{k}={v}' for k, v in params.items())})"
    print(
        f"{label} vs Surprise SVD(), both defaults; RMSE: mean of {args.repeats} seeds, "
        "seconds: fit + predict, median"
    )
    print("| split | fastrec RMSE | Surprise RMSE | fastrec s | Surprise s | speed-up |")
    print("|---|---|---|---|---|---|")
    if args.only in (None, "post"):
        ratings = fastrec.load_ratings(data / "ml-latest-small-2016" / "ratings.csv")
        train, test = fastrec.train_test_split(ratings, test_size=0.2, seed=7)
        print(
            _row("ml-latest-small 2016, post's split", run_split(train, test, args.repeats, params))
        )
    if args.only in (None, "folds"):
        folds = [
            run_split(tr, te, args.repeats, params)
            for tr, te in fastrec.ml100k_folds(data / "ml-100k")
        ]
        mean = {key: float(np.mean([f[key] for f in folds])) for key in folds[0]}
        print(_row("ml-100k u1..u5, mean of 5 folds", mean))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
