"""SVD and BiasedMF at MovieLens-25M shape (synthetic; 20M training ratings).

    python benchmarks/latent_scale.py                      # every model, one process each
    python benchmarks/latent_scale.py --model mf --epochs-only

For each model, in a fresh process (so that peak memory is the model's own): synthetic
``ml-25m`` (seed 0), the post's 80/20 split (seed 7), fit, predict the 5M test pairs; prints
RMSE, fit and predict seconds, and the peak resident memory (the data alone, then the whole
run). ``--epochs-only`` times single BiasedMF epochs (ratings per second). Numba kernels are
compiled on a tiny set first, so that timings hold no compilation. Run it alone on the machine
(``flock .heavy-run.lock python benchmarks/latent_scale.py``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import emit, peak_gib, run_child, synthetic_split, warm_up

import fastrec
from fastrec.models.mf import BiasedMF
from fastrec.models.svd import SVD

MODELS = {
    "svd-arpack": lambda: SVD(solver="arpack"),
    "svd-randomized": lambda: SVD(solver="randomized"),
    "mf": lambda: BiasedMF(),
}


def run_one(name: str, shape: str, epochs_only: bool, repeats: int) -> dict:
    factory = MODELS[name]
    warm_up(factory())
    train, test = synthetic_split(shape)
    train.csr, train.csc  # noqa: B018  (built once per Ratings; not part of a model's fit)
    result = {"model": name, "shape": shape, "n_train": len(train), "n_test": len(test)}
    result["data_peak_gib"] = peak_gib()
    if epochs_only:
        model = BiasedMF(n_epochs=1)
        times = []
        for _ in range(repeats):
            model.fit(train)
            times.append(model.history_["seconds"][0])
        result["epoch_s"] = float(np.median(times))
        result["epoch_s_all"] = times
        result["ratings_per_s"] = len(train) / result["epoch_s"]
    else:
        model = factory()
        t0 = time.perf_counter()
        model.fit(train)
        result["fit_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        pred, fell_back = model.predict_with_fallback(test)
        result["predict_s"] = time.perf_counter() - t0
        result["rmse"] = fastrec.rmse(pred, test.ratings)
        result["n_fallback"] = int(fell_back.sum())
        seconds = getattr(model, "history_", {}).get("seconds")
        if seconds:
            result["epoch_s_median"] = float(np.median(seconds))
    result["peak_gib"] = peak_gib()
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
        emit(run_one(names[0], args.shape, args.epochs_only, args.repeats))
        return
    print(f"{args.shape} (synthetic, seed 0), 80/20 split seed 7")
    for name in names:
        child_args = ["--child", "--model", name, "--shape", args.shape]
        child_args += ["--repeats", str(args.repeats)]
        child_args += ["--epochs-only"] if args.epochs_only else []
        res, error, _ = run_child(__file__, child_args)
        if res is None:
            print(f"{name}: failed: {error}")
            continue
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
