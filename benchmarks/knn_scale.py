"""UserKNN / ItemKNN at MovieLens-25M shape: seconds and peak memory per phase.

    flock .heavy-run.lock python benchmarks/knn_scale.py --shape ml-25m
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
import sys
import time

from _common import emit, peak_gib, run_child, warm_up


def child(shape: str, model_name: str, k, keep, exact: bool) -> dict:
    import numpy as np

    import fastrec
    from fastrec.models.knn import ItemKNN, UserKNN

    cls = {"UserKNN": UserKNN, "ItemKNN": ItemKNN}[model_name]
    params = {"k": k} if keep == "auto" else {"k": k, "keep": keep}
    if not exact:
        params["exact"] = False
    out = {"shape": shape, "model": cls(**params).name}
    out["compile_s"] = warm_up(cls(**params))

    t0 = time.perf_counter()
    ratings = fastrec.datasets.synthetic(shape, seed=0)
    out["data_s"], out["data_peak_gib"] = time.perf_counter() - t0, peak_gib()
    t0 = time.perf_counter()
    train, test = fastrec.train_test_split(ratings, test_size=0.2, seed=7)
    del ratings
    train.csr, train.csc  # noqa: B018  built once, shared by every model
    out["split_csr_s"], out["split_peak_gib"] = time.perf_counter() - t0, peak_gib()
    out["n_train"], out["n_test"] = len(train), len(test)

    model = cls(**params)
    t0 = time.perf_counter()
    model.fit(train)
    out["fit_s"], out["fit_peak_gib"] = time.perf_counter() - t0, peak_gib()
    out["fit_phases_s"] = model.fit_seconds_
    out["keep"] = model.keep_
    stored = model.stored_similarity_  # None where fit deferred the lists (exact=True)
    out["stored_neighbors"] = "deferred" if stored is None else int(stored.nnz)
    t0 = time.perf_counter()
    pred, fell_back = model.predict_with_fallback(test)
    out["predict_s"], out["predict_peak_gib"] = time.perf_counter() - t0, peak_gib()
    out["fit_predict_s"] = out["fit_s"] + out["predict_s"]
    out["rmse"] = fastrec.rmse(pred, test.ratings)
    out["coverage"] = 1.0 - float(fell_back.mean())
    out["n_recomputed"] = model.recomputed_count(test)  # reruns predict's kernels, untimed
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
        emit(result)
        return
    rows = []
    runs = [(n, kp, ex) for n in args.models for kp in args.keep for ex in args.exact]
    for name, keep, exact in runs:
        child_args = ["--child", "--shape", args.shape, "--models", name, "--k", str(args.k),
                      "--keep", keep, "--exact", exact]  # fmt: skip
        row, error, _ = run_child(__file__, child_args)
        if row is None:
            print(f"{name} keep={keep} failed: {error}", file=sys.stderr)
            continue
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
