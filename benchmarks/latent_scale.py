"""SVD and BiasedMF at MovieLens-25M shape (synthetic; 20M training ratings).

    python benchmarks/latent_scale.py                      # every model, one process each
    python benchmarks/latent_scale.py --model mf --epochs-only

For each model, in a fresh process (so that peak memory is the model's own): synthetic
``ml-25m`` (seed 0), the post's 80/20 split (seed 7), fit, predict the 5M test pairs; prints
RMSE, fit and predict seconds, and the peak resident memory (the data alone, then the whole
run). ``--epochs-only`` times single BiasedMF epochs (ratings per second). Numba kernels are
compiled on a tiny set first, so that timings hold no compilation. Run it alone on the machine
(``flock /tmp/fastrec-heavy.lock python benchmarks/latent_scale.py``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

import fastrec
from fastrec.models.mf import BiasedMF
from fastrec.models.svd import SVD

MODELS = {
    "svd-arpack": lambda: SVD(solver="arpack"),
    "svd-randomized": lambda: SVD(solver="randomized"),
    "mf": lambda: BiasedMF(),
}


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB


def _warm_up(factory) -> None:
    tiny_train, tiny_test = fastrec.train_test_split(fastrec.datasets.synthetic("ml-100k"))
    factory().fit(tiny_train).predict(tiny_test)


def run_one(name: str, shape: str, epochs_only: bool, repeats: int) -> dict:
    factory = MODELS[name]
    _warm_up(factory)
    ratings = fastrec.datasets.synthetic(shape, seed=0)
    train, test = fastrec.train_test_split(ratings, test_size=0.2, seed=7)
    del ratings
    train.csr, train.csc  # noqa: B018  (built once per Ratings; not part of a model's fit)
    result = {"model": name, "shape": shape, "n_train": len(train), "n_test": len(test)}
    result["data_peak_gib"] = _peak_gib()
    if epochs_only:
        model = BiasedMF(n_epochs=1)
        times = []
        for _ in range(repeats):
            model.fit(train)
            times.append(model.epoch_seconds_[0])
        result["epoch_s"] = float(np.median(times))
        result["epoch_s_all"] = times
        result["ratings_per_s"] = len(train) / result["epoch_s"]
    else:
        model = factory()
        t0 = time.perf_counter()
        model.fit(train)
        result["fit_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        pred = model.predict(test)
        result["predict_s"] = time.perf_counter() - t0
        result["rmse"] = fastrec.rmse(pred, test.ratings)
        result["n_fallback"] = model.n_fallback_
        if hasattr(model, "epoch_seconds_"):
            result["epoch_s_median"] = float(np.median(model.epoch_seconds_))
    result["peak_gib"] = _peak_gib()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), action="append")
    parser.add_argument("--shape", default="ml-25m")
    parser.add_argument("--epochs-only", action="store_true", help="time BiasedMF epochs")
    parser.add_argument("--repeats", type=int, default=3, help="epochs timed (--epochs-only)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = args.model or (["mf"] if args.epochs_only else list(MODELS))
    if args.child:
        print(json.dumps(run_one(names[0], args.shape, args.epochs_only, args.repeats)))
        return
    print(f"{args.shape} (synthetic, seed 0), 80/20 split seed 7")
    for name in names:
        cmd = [sys.executable, __file__, "--child", "--model", name, "--shape", args.shape]
        cmd += ["--repeats", str(args.repeats)] + (["--epochs-only"] if args.epochs_only else [])
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{name}: failed\n{out.stderr[-3000:]}")
            continue
        res = json.loads(out.stdout.strip().splitlines()[-1])
        if args.epochs_only:
            print(
                f"{name}: one epoch {res['epoch_s']:.2f}s (median of {args.repeats}: "
                f"{', '.join(f'{t:.2f}' for t in res['epoch_s_all'])}), "
                f"{res['ratings_per_s'] / 1e6:.1f}M ratings/s; peak {res['peak_gib']:.2f} GiB "
                f"(data alone {res['data_peak_gib']:.2f} GiB)"
            )
        else:
            extra = f", epoch {res['epoch_s_median']:.2f}s" if "epoch_s_median" in res else ""
            print(
                f"{name}: RMSE {res['rmse']:.4f}, fit {res['fit_s']:.1f}s{extra}, predict "
                f"{res['predict_s']:.2f}s, peak {res['peak_gib']:.2f} GiB (data alone "
                f"{res['data_peak_gib']:.2f} GiB), fallbacks {res['n_fallback']}"
            )


if __name__ == "__main__":
    main()
