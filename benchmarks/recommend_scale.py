"""Top-n recommendations for every user: ``recommend_all(n=10)`` time and memory at scale.

    python benchmarks/recommend_scale.py                          # ml-1m shape, every model
    python benchmarks/recommend_scale.py --shape ml-25m --model Bias BiasedMF ALS SVD
    python benchmarks/recommend_scale.py --shape ml-25m --model "ItemKNN(k=40, exact=False)"

For each model, in a fresh process (so that peak memory is the model's own): synthetic data of
the shape (seed 0), the post's 80/20 split (seed 7), fit (default parameters), RMSE on the
test set, then ``recommend_all(n)`` for every user with training ratings (the median of
``--repeats`` runs). Prints one JSON line per model: fit and recommend seconds, users per
second, the peak resident memory of the process before and after recommend_all and the most
that recommend_all added above its starting point (sampled every 5 ms), and a check that the
scores of a sample of the recommendations are the model's ``predict``. Numba kernels are
compiled on a tiny set first, so that timings hold no compilation. Heavy: run it alone on the
machine (``flock .heavy-run.lock python benchmarks/recommend_scale.py ...``).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time

import numpy as np
from _common import emit, peak_gib, run_child, synthetic_split, warm_up

import fastrec
from fastrec.evaluate import model_from_spec
from fastrec.kernels.recommend import group_items_by_user
from fastrec.models import MODELS

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SCALE_MODELS = ["Bias", "BiasedMF", "ALS", "SVD"]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _RssSampler:
    """The largest resident set seen while the block runs, sampled every 5 ms."""

    def __enter__(self):
        self.start = self.peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss_bytes())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())


def run_one(name: str, shape: str, n: int, repeats: int) -> dict:
    warm_up(model_from_spec(name), recommend=True)
    train, test = synthetic_split(shape)
    result = {"model": name, "shape": shape, "n": n, "n_train": len(train), "n_test": len(test)}
    t0 = time.perf_counter()
    group_items_by_user(train.user_codes, train.item_codes, train.n_users)
    result["seen_pattern_s"] = time.perf_counter() - t0  # what fit spends on the seen items
    t0 = time.perf_counter()
    model = model_from_spec(name).fit(train)
    result["fit_s"] = time.perf_counter() - t0
    result["rmse"] = fastrec.rmse(model.predict(test), test.ratings)
    result["n_users"] = int((model.user_n_train_ > 0).sum())
    result["n_items"] = int((model.item_n_train_ > 0).sum())
    result["peak_before_gib"] = peak_gib()
    times, added = [], []
    for _ in range(repeats):
        with _RssSampler() as rss:
            t0 = time.perf_counter()
            top = model.recommend_all(n=n)
            times.append(time.perf_counter() - t0)
        added.append((rss.peak - rss.start) / 2**30)
        if len(times) < repeats:
            del top
    result["recommend_s"] = float(np.median(times))
    result["recommend_s_all"] = [round(t, 2) for t in times]
    result["users_per_s"] = result["n_users"] / result["recommend_s"]
    result["recommend_added_gib"] = float(max(added))
    result["peak_gib"] = peak_gib()
    result["rows"] = len(top)
    sample = top.sample(min(2000, len(top)), random_state=0)
    user_col, item_col = top.columns[0], top.columns[2]
    same = model.predict(sample[user_col], sample[item_col]) == sample.score.to_numpy()
    result["scores_equal_predict"] = bool(same.all())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="ml-1m", help="synthetic shape (default ml-1m)")
    parser.add_argument(
        "--model",
        nargs="*",
        help="model names, each optionally with parameters, 'ItemKNN(k=40, exact=False)' "
        f"(default: every model for ml-1m, {SCALE_MODELS} otherwise)",
    )
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        emit(run_one(args.model[0], args.shape, args.n, args.repeats))
        return
    names = args.model or (
        [c for c, cls in MODELS.items() if cls.missing_dependency() is None]
        if args.shape == "ml-1m"
        else SCALE_MODELS
    )
    for name in names:
        child_args = ["--one", "--shape", args.shape, "--model", name]
        child_args += ["--n", str(args.n), "--repeats", str(args.repeats)]
        result, error, _ = run_child(__file__, child_args)
        if result is None:
            result = {"model": name, "shape": args.shape, "error": error}
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
