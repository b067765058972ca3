"""The scale run: every model on a MovieLens-25M-sized set, each in its own process.

    python benchmarks/scale.py --shape ml-25m                 # synthetic, seed 0 (no download)
    python benchmarks/scale.py --path ml-25m/ratings.csv      # a real file (a MovieLens file)
    python benchmarks/scale.py --shape ml-1m --models Bias SVD --plot scale.png

One process loads (``--path``) or generates (``--shape``: ``fastrec.datasets.synthetic(shape,
seed=0)``) the ratings, splits them 80/20 (the post's split, seed 7) and saves the split as
.npy files in a temporary folder. Then each model runs in a fresh process of its own, so that
its peak resident memory (``ru_maxrss``) is its own: it reads the split, compiles its Numba
kernels on a tiny set (``_common.warm_up``), fits, predicts the test ratings, and reports
RMSE, MAE, coverage, the fit and predict seconds and the peak memory of the process (the
split's arrays included).

A model whose ``fit`` raises :class:`fastrec.memory.InsufficientMemoryError` (the post's
``UserKNN()`` and ``ItemKNN()`` at ml-25m: a similarity over every pair of users or items)
is replaced by its ``memory_fallback()`` (their ``k=40`` form) through
:func:`fastrec.evaluate.fit_with_memory_fallback`, as ``evaluate_all`` does; the table's
``ran`` column and note say so. The default models are every model of
``fastrec.models.MODELS`` except the Keras ones (``--keras`` adds them, trained on the fast
schedule; ``benchmarks/keras_scale.py`` shows their epochs at this scale).

Prints one line per model as it finishes, then a markdown table, and writes the table as
``PREFIX.md`` and ``PREFIX.json`` (``--out PREFIX``, default ``scale-<shape or file name>``);
``--plot FILE.png`` draws RMSE against fit + predict seconds (log scale; needs matplotlib).
Targets (issue 6, two cores, synthetic ml-25m): every non-Keras model completes, the whole run
under 30 minutes, no model above 8 GB. Run it alone on the machine::

    flock .heavy-run.lock python benchmarks/scale.py --shape ml-25m --plot scale.png

Per-phase detail: ``benchmarks/knn_scale.py`` (the KNN models), ``latent_scale.py`` (SVD,
BiasedMF epochs), ``keras_scale.py`` (Keras epochs), ``load_scale.py`` (reading a 25M-row csv).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from _common import emit, peak_gib, run_child, warm_up

GB = 1e9
TARGET_TOTAL_S = 30 * 60
TARGET_PEAK_BYTES = 8 * GB
KERAS = ("DotProduct", "DotProductBias", "NeuralNet")


# ------------------------------------------------------------------ children
def prepare(source: dict, folder: Path) -> dict:
    """Load or generate the ratings, split them, save the split as .npy; returns what it did."""
    import numpy as np

    import fastrec

    t0 = time.perf_counter()
    if source.get("path"):
        ratings = fastrec.load_ratings(source["path"])
    else:
        ratings = fastrec.datasets.synthetic(source["shape"], seed=0)
    t1 = time.perf_counter()
    train, test = fastrec.train_test_split(ratings, test_size=0.2, seed=7)
    t2 = time.perf_counter()
    np.save(folder / "user_index.npy", ratings.user_index.to_numpy())
    np.save(folder / "item_index.npy", ratings.item_index.to_numpy())
    for part, r in (("train", train), ("test", test)):
        np.save(folder / f"{part}_users.npy", r.user_codes)
        np.save(folder / f"{part}_items.npy", r.item_codes)
        np.save(folder / f"{part}_ratings.npy", r.ratings)
    return {
        "n_ratings": len(ratings),
        "n_users": ratings.n_users,
        "n_items": ratings.n_items,
        "n_train": len(train),
        "n_test": len(test),
        "data_s": t1 - t0,
        "split_s": t2 - t1,
        "peak_gib": peak_gib(),
    }


def _read_split(folder: Path):
    import numpy as np
    import pandas as pd

    import fastrec

    users = pd.Index(np.load(folder / "user_index.npy"), name="userId")
    items = pd.Index(np.load(folder / "item_index.npy"), name="movieId")
    parts = []
    for part in ("train", "test"):
        arrays = [np.load(folder / f"{part}_{a}.npy") for a in ("users", "items", "ratings")]
        parts.append(fastrec.Ratings(users, items, *arrays, source=f"{folder} ({part})"))
    return parts


def run_model(name: str, folder: Path, keras_max_epochs: int | None) -> dict:
    """Fit and predict one model (by its name in fastrec.models.MODELS) on the saved split."""
    import numba

    import fastrec
    from fastrec.evaluate import fit_with_memory_fallback
    from fastrec.models import MODELS

    model = MODELS[name]()
    if name in KERAS and keras_max_epochs is not None:
        model.set_params(max_epochs=keras_max_epochs)
    out = {"model": model.name, "ran": model.name, "note": "", "threads": numba.get_num_threads()}
    out["compile_s"] = warm_up(model)
    t0 = time.perf_counter()
    train, test = _read_split(folder)
    out["read_s"], out["data_peak_gib"] = time.perf_counter() - t0, peak_gib()

    def before_fallback(lighter, err) -> None:  # the refused fit and the warm-up are not timed
        nonlocal t0
        out["refused_after_s"] = time.perf_counter() - t0
        out["needed_gib"] = err.needed_bytes / 2**30
        out["available_gib"] = err.available_bytes / 2**30
        out["compile_s"] += warm_up(lighter)
        t0 = time.perf_counter()

    notes: list[str] = []
    t0 = time.perf_counter()
    fitted = fit_with_memory_fallback(model, train, notes, before_fallback=before_fallback)
    t1 = time.perf_counter()
    out["fit_s"], out["fit_peak_gib"] = t1 - t0, peak_gib()
    out["note"], out["ran"] = "; ".join(notes), fitted.name
    model = fitted
    pred, fell_back = model.predict_with_fallback(test)
    out["predict_s"] = time.perf_counter() - t1
    out["rmse"] = fastrec.rmse(pred, test.ratings)
    out["mae"] = fastrec.mae(pred, test.ratings)
    out["coverage"] = 1.0 - float(fell_back.mean())
    out["peak_gib"] = peak_gib()
    return out


# -------------------------------------------------------------------- parent
def markdown(result: dict) -> str:
    d = result["data"]
    lines = [
        f"{result['source']}: {d['n_ratings']:,} ratings, {d['n_users']:,} users, "
        f"{d['n_items']:,} items; 80/20 split (seed 7): {d['n_train']:,} train, "
        f"{d['n_test']:,} test",
        "",
        "| model | ran | RMSE | MAE | fit s | predict s | peak GiB | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        if r.get("error"):
            lines.append(f"| {r['model']} | - | - | - | - | - | - | FAILED: {r['error']} |")
            continue
        note = r["note"]
        if r["ran"] != r["model"]:
            note = (
                f"`{r['model']}` refused before allocating (InsufficientMemoryError: needs "
                f"about {r['needed_gib']:,.0f} GiB, {r['available_gib']:.0f} GiB available); "
                f"ran its `memory_fallback()`"
            )
        lines.append(
            f"| {r['model']} | {r['ran']} | {r['rmse']:.4f} | {r['mae']:.4f} | {r['fit_s']:.1f} | "
            f"{r['predict_s']:.2f} | {r['peak_gib']:.2f} | {note} |"
        )
    m = result["machine"]
    lines += [
        "",
        f"Data: {'read' if result['source'].startswith('file') else 'generated'} in "
        f"{d['data_s']:.1f} s, split in {d['split_s']:.1f} s (peak {d['peak_gib']:.2f} GiB). "
        "Each model in its own process; seconds exclude Numba compilation; peak GiB is the "
        "process's maximum resident set, the split's arrays included. Whole run "
        f"{result['total_s'] / 60:.1f} min on {m['machine']}, {m['cpus']} cores "
        f"({m['threads']} Numba threads), Python {m['python']}, {result['date']}; "
        "`python benchmarks/scale.py " + " ".join(result["argv"]) + "`.",
    ]
    return "\n".join(lines)


def targets(result: dict) -> list[str]:
    rows = result["rows"]
    failed = [r["model"] for r in rows if r.get("error")]
    over = [f"{r['ran']} {r['peak_gib']:.2f} GiB" for r in rows if not r.get("error") and
            r["peak_gib"] * 2**30 > TARGET_PEAK_BYTES]  # fmt: skip
    return [
        "every model completed" if not failed else f"FAILED: {', '.join(failed)}",
        f"whole run {result['total_s'] / 60:.1f} min "
        + ("(under 30)" if result["total_s"] < TARGET_TOTAL_S else "(OVER 30)"),
        "no model above 8 GB" if not over else f"above 8 GB: {', '.join(over)}",
    ]


def plot(rows: list[dict], title: str, path: str | os.PathLike) -> None:
    """RMSE against fit + predict seconds (log scale), one labelled point per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from plotting import place_labels, style_rmse_seconds

    done = [r for r in rows if not r.get("error")]
    seconds = [r["fit_s"] + r["predict_s"] for r in done]
    rmses = [r["rmse"] for r in done]
    fig, ax = plt.subplots(figsize=(10, 6), dpi=120)
    ax.scatter(seconds, rmses, s=40, color="tab:blue", zorder=3)
    style_rmse_seconds(ax, title, seconds, label_room=12)
    labels = [f"{r['ran']} ({r['peak_gib']:.1f} GiB)" for r in done]
    place_labels(ax, seconds, rmses, labels)
    fig.savefig(path)
    plt.close(fig)


def run(names: list[str], shape: str, label: str, args, argv: list[str]) -> dict | None:
    """Prepare the data, then run each model in a process of its own; None if the data failed."""
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fastrec-scale-") as tmp:
        source_args = ["--path", args.path] if args.path else ["--shape", shape]
        data, error, _ = run_child(__file__, ["--prepare", tmp, *source_args], args.timeout)
        if data is None:
            print(f"preparing the data failed: {error}", file=sys.stderr)
            return None
        print(
            f"{label}: {data['n_ratings']:,} ratings ({data['n_train']:,} train, "
            f"{data['n_test']:,} test); data {data['data_s']:.1f} s, split {data['split_s']:.1f} "
            f"s, peak {data['peak_gib']:.2f} GiB",
            flush=True,
        )
        rows = []
        for name in names:
            extra = []
            if args.keras_max_epochs is not None:
                extra = ["--keras-max-epochs", str(args.keras_max_epochs)]
            row, error, wall = run_child(
                __file__, ["--run-model", name, "--data", tmp, *extra], args.timeout
            )
            if row is None:
                row = {"model": name, "error": error}
                print(f"{name}: FAILED ({error}) after {wall:.0f} s", flush=True)
            else:
                print(
                    f"{name}: ran {row['ran']}, RMSE {row['rmse']:.4f}, fit {row['fit_s']:.1f} s, "
                    f"predict {row['predict_s']:.2f} s, peak {row['peak_gib']:.2f} GiB "
                    f"(process {wall:.0f} s)" + (f"; {row['note']}" if row["note"] else ""),
                    flush=True,
                )
            row["process_s"] = wall
            rows.append(row)
    threads = {r.get("threads") for r in rows} - {None}
    return {
        "source": label,
        "argv": argv,
        "date": datetime.date.today().isoformat(),
        "machine": {
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "threads": ", ".join(str(t) for t in sorted(threads)) or "-",
            "python": platform.python_version(),
        },
        "data": data,
        "rows": rows,
        "total_s": time.perf_counter() - t_start,
    }


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--shape", help="synthetic shape (ml-100k ... ml-25m); default ml-25m")
    source.add_argument("--path", help="a ratings file (MovieLens csv, u.data, .dat, .parquet)")
    source.add_argument("--from-json", metavar="JSON", help="print and plot a saved run again")
    parser.add_argument("--models", nargs="+", help="names in fastrec.models.MODELS")
    parser.add_argument("--keras", action="store_true", help="add the three Keras models")
    parser.add_argument("--keras-max-epochs", type=int, help="cap the Keras models' epochs")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per model")
    parser.add_argument("--out", help="PREFIX of the .json and .md written")
    parser.add_argument("--plot", metavar="FILE.png", help="draw RMSE against seconds")
    parser.add_argument("--prepare", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--run-model", metavar="NAME", help=argparse.SUPPRESS)
    parser.add_argument("--data", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.prepare:  # child: the data
        out = prepare({"path": args.path, "shape": args.shape or "ml-25m"}, Path(args.prepare))
        emit(out)
        return 0
    if args.run_model:  # child: one model
        out = run_model(args.run_model, Path(args.data), args.keras_max_epochs)
        emit(out)
        return 0

    from fastrec.models import MODELS

    names = args.models or [n for n in MODELS if n not in KERAS or args.keras]
    if args.keras and args.models:
        names += [n for n in KERAS if n not in names]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {list(MODELS)}")
    shape = args.shape or "ml-25m"
    label = f"file {args.path}" if args.path else f"synthetic {shape} (seed 0)"
    if args.from_json:
        result = json.loads(Path(args.from_json).read_text())
        prefix = args.out
    else:
        result = run(names, shape, label, args, argv)
        if result is None:
            return 2
        if args.out:
            prefix = args.out
        elif args.path:
            prefix = f"scale-{Path(args.path).resolve().parent.name or 'file'}"
        else:
            prefix = f"scale-{shape}"
    result["targets"] = targets(result)
    text = markdown(result)
    print()
    print(text)
    print()
    print("targets: " + "; ".join(result["targets"]))
    if prefix:
        Path(f"{prefix}.json").write_text(json.dumps(result, indent=1) + "\n")
        Path(f"{prefix}.md").write_text(text + "\n")
        print(f"wrote {prefix}.json and {prefix}.md")
    if args.plot:
        d, m = result["data"], result["machine"]
        title = (
            f"fastrec on {result['source']}: {d['n_train']:,} train / {d['n_test']:,} test "
            f"ratings\n{m['machine']}, {m['cpus']} cores, {result['date']}; label: model "
            "(peak memory of its process)"
        )
        plot(result["rows"], title, args.plot)
        print(f"wrote {args.plot}")
    return 0 if all(not r.get("error") for r in result["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
