"""UserKNN / ItemKNN at MovieLens-25M shape: seconds and peak memory per phase.

    flock /tmp/fastrec-heavy.lock python benchmarks/knn_scale.py --shape ml-25m
    python benchmarks/knn_scale.py --shape ml-1m --models UserKNN --k 40 --keep 100 400 None

Each model runs in a child process of its own (so that its peak memory is its own): it
builds the synthetic ratings (:func:`fastrec.datasets.synthetic`, seed 0), splits them
80/20 (the post's split, seed 7), builds the CSR/CSC, fits and predicts, and reports the
seconds of each phase (the fit broken into baseline, similarity and deviations), RMSE,
coverage, the neighbours stored, and the peak resident memory of the process after each
phase (``ru_maxrss``: the high-water mark so far), and how many predictions were
recomputed from a full similarity row (``n_recomputed``: where the stored top-``keep``
neighbours held fewer than ``k`` raters of the target). Numba kernels are compiled on a tiny set
first (``compile_s``), so the phases measure run time. Targets (issue 3, two cores):
ItemKNN(k=40) fit + predict < 5 min and < 8 GB, UserKNN(k=40) < 15 min and < 8 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def child(shape: str, model_name: str, k, keep, exact: bool) -> dict:
    import numpy as np

    import fastrec
    from fastrec.models.knn import ItemKNN, UserKNN

    cls = {"UserKNN": UserKNN, "ItemKNN": ItemKNN}[model_name]
    params = {"k": k} if keep == "auto" else {"k": k, "keep": keep}
    if not exact:
        params["exact"] = False
    out = {"shape": shape, "model": cls(**params).name}
    t0 = time.perf_counter()
    tiny = fastrec.train_test_split(fastrec.datasets.synthetic("ml-100k", seed=1))
    cls(**params).fit(tiny[0]).predict(tiny[1])
    out["compile_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    ratings = fastrec.datasets.synthetic(shape, seed=0)
    out["data_s"], out["data_peak_gib"] = time.perf_counter() - t0, _peak_gib()
    t0 = time.perf_counter()
    train, test = fastrec.train_test_split(ratings, test_size=0.2, seed=7)
    del ratings
    train.csr, train.csc  # noqa: B018  built once, shared by every model
    out["split_csr_s"], out["split_peak_gib"] = time.perf_counter() - t0, _peak_gib()
    out["n_train"], out["n_test"] = len(train), len(test)

    model = cls(**params)
    t0 = time.perf_counter()
    model.fit(train)
    out["fit_s"], out["fit_peak_gib"] = time.perf_counter() - t0, _peak_gib()
    out["fit_phases_s"] = model.fit_seconds_
    out["keep"] = model.keep_
    stored = model._similarity  # None where fit deferred the lists (keep with exact=True)
    out["stored_neighbors"] = "deferred" if stored is None else int(stored.nnz)
    t0 = time.perf_counter()
    pred = model.predict(test)
    out["predict_s"], out["predict_peak_gib"] = time.perf_counter() - t0, _peak_gib()
    out["fit_predict_s"] = out["fit_s"] + out["predict_s"]
    out["rmse"] = fastrec.rmse(pred, test.ratings)
    out["coverage"] = model.coverage_
    out["n_recomputed"] = getattr(model, "n_recomputed_", 0)
    out["bias_rmse"] = fastrec.rmse(fastrec.Bias().fit(train).predict(test), test.ratings)
    assert np.isfinite(pred).all()
    return out


def _parse_keep(text: str):
    return None if text == "None" else ("auto" if text == "auto" else int(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="ml-25m")
    parser.add_argument("--models", nargs="+", default=["ItemKNN", "UserKNN"])
    parser.add_argument("--k", type=int, default=40)
    parser.add_argument("--keep", nargs="+", default=["auto"], help="'auto', 'None' or ints")
    parser.add_argument("--exact", nargs="+", choices=["True", "False"], default=["True"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        exact = args.exact[0] == "True"
        result = child(args.shape, args.models[0], args.k, _parse_keep(args.keep[0]), exact)
        print("RESULT " + json.dumps(result), flush=True)
        return
    rows = []
    runs = [(n, kp, ex) for n in args.models for kp in args.keep for ex in args.exact]
    for name, keep, exact in runs:
        cmd = [sys.executable, __file__, "--child", "--shape", args.shape,
               "--models", name, "--k", str(args.k), "--keep", keep,
               "--exact", exact]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            print(f"{name} keep={keep} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
            continue
        row = json.loads(lines[-1][len("RESULT ") :])
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    print(
        "| shape | model | keep | n_train / n_test | data s | fit s (baseline / similarity / "
        "deviations) | predict s | fit + predict s | peak GiB (fit / predict) | RMSE | "
        "coverage | recomputed | Bias RMSE |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        ph = r["fit_phases_s"]
        print(
            f"| {r['shape']} | {r['model']} | {r['keep']} | {r['n_train']:,} / {r['n_test']:,} | "
            f"{r['data_s']:.1f} | {r['fit_s']:.1f} ({ph['baseline']:.1f} / "
            f"{ph['similarity']:.1f} / {ph['deviations']:.1f}) | {r['predict_s']:.1f} | "
            f"{r['fit_predict_s']:.1f} | {r['fit_peak_gib']:.2f} / {r['predict_peak_gib']:.2f} | "
            f"{r['rmse']:.6f} | {r['coverage']:.4f} | {r['n_recomputed']:,} | "
            f"{r['bias_rmse']:.6f} |"
        )


if __name__ == "__main__":
    main()
