"""fastrec beside its counterparts in Surprise, on the same split.

    python benchmarks/peers.py --path ../shared/data/ml-latest-small-2016/ratings.csv
    python benchmarks/peers.py --ml100k-folds ../shared/data/ml-100k --plot peers.png
    python benchmarks/peers.py --path ratings.csv --pairs Bias SVDpp    # some fastrec models

The pairs (fastrec model with its defaults, unless written otherwise; Surprise with its
defaults but the ones named):

- ``Bias`` vs ``BaselineOnly``;
- ``UserKNN(k=40)`` and ``ItemKNN(k=40)`` vs ``KNNWithMeans`` and ``KNNBaseline`` (k=40,
  ``user_based`` as the side, similarities ``cosine`` and ``pearson_baseline``: four Surprise
  configurations per side, the best of which issue 3 asks fastrec to match);
- ``BiasedMF`` and ``ALS`` vs ``SVD`` (the same biased matrix factorization, by SGD in both
  BiasedMF and Surprise, by alternating least squares in ALS);
- ``SVDpp`` vs ``SVDpp``.

``--path`` splits the file 80/20 (the post's split, seed 7); ``--ml100k-folds`` uses
ml-100k's five published folds u1..u5 and prints the mean over the folds. Seconds are fit +
predict of the whole test set, the data already in memory: for fastrec the median of
``--repeats`` runs after a warm-up run that compiles its Numba kernels, for Surprise the
median of ``--surprise-repeats`` (default 1: its SVDpp takes minutes), predicting one pair per
Python call as its users do (``algo.predict``). Surprise's random models get
``random_state=--seed``. The last column is Surprise's seconds over fastrec's.

Surprise is not a dependency of fastrec: ``pip install scikit-surprise`` to run this script
(it installs nothing). ``--out PREFIX`` writes the table as ``PREFIX.md`` and ``PREFIX.json``;
``--plot FILE.png`` draws RMSE against seconds (log scale) for each fastrec model and its most
accurate Surprise counterpart (needs matplotlib); ``--from-json PREFIX.json`` prints and plots
a saved run again without rerunning it. Run it alone on the machine (``flock
.heavy-run.lock ...``): the times are what it is for.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import fastrec

K = 40
KNN_SIMS = ("cosine", "pearson_baseline")


def _surprise_algorithms(seed: int) -> dict:
    """Surprise's configurations, by the label the table prints: label -> factory."""
    import surprise

    algos = {
        "BaselineOnly": lambda: surprise.BaselineOnly(verbose=False),
        "SVD": lambda: surprise.SVD(random_state=seed),
        "SVDpp": lambda: surprise.SVDpp(random_state=seed),
    }
    for side, user_based in (("user", True), ("item", False)):
        for cls in (surprise.KNNWithMeans, surprise.KNNBaseline):
            for sim in KNN_SIMS:
                label = f"{cls.__name__}(k={K}, {sim}, {side}-based)"
                options = {"name": sim, "user_based": user_based}
                algos[label] = lambda cls=cls, options=options: cls(
                    k=K, sim_options=options, verbose=False
                )
    return algos


def _knn_peers(side: str) -> list[str]:
    return [
        f"{cls}(k={K}, {sim}, {side}-based)"
        for cls in ("KNNWithMeans", "KNNBaseline")
        for sim in KNN_SIMS
    ]


#: fastrec model label -> (its factory, the Surprise labels it is compared with)
PAIRS: dict[str, tuple] = {
    "Bias": (lambda: fastrec.Bias(), ["BaselineOnly"]),
    f"UserKNN(k={K})": (lambda: fastrec.UserKNN(k=K), _knn_peers("user")),
    f"ItemKNN(k={K})": (lambda: fastrec.ItemKNN(k=K), _knn_peers("item")),
    "BiasedMF": (lambda: fastrec.BiasedMF(), ["SVD"]),
    "ALS": (lambda: fastrec.ALS(), ["SVD"]),
    "SVDpp": (lambda: fastrec.SVDpp(), ["SVDpp"]),
}


def time_fastrec(factory, train, test, repeats: int) -> dict:
    """RMSE and fit / predict seconds (medians of ``repeats`` runs, after a warm-up run)."""
    factory().fit(train).predict(test)  # compile the Numba kernels before timing
    fits, predicts, pred = [], [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        model = factory().fit(train)
        t1 = time.perf_counter()
        pred = model.predict(test)
        fits.append(t1 - t0)
        predicts.append(time.perf_counter() - t1)
    return _result(pred, test, fits, predicts)


def time_surprise(factory, train, test, repeats: int) -> dict:
    """The same for a Surprise algorithm: fit on the same training ratings, then one
    ``algo.predict(raw user, raw item)`` per test pair."""
    from surprise import Dataset, Reader

    lo, hi = float(train.ratings.min()), float(train.ratings.max())
    frame = train.to_frame().iloc[:, :3]
    trainset = Dataset.load_from_df(frame, Reader(rating_scale=(lo, hi))).build_full_trainset()
    pairs = list(zip(test.user_ids.tolist(), test.item_ids.tolist(), strict=True))
    fits, predicts, pred = [], [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        algo = factory()
        algo.fit(trainset)
        t1 = time.perf_counter()
        pred = np.array([algo.predict(u, i).est for u, i in pairs])
        fits.append(t1 - t0)
        predicts.append(time.perf_counter() - t1)
    return _result(pred, test, fits, predicts)


def _result(pred, test, fits, predicts) -> dict:
    fit_s, predict_s = statistics.median(fits), statistics.median(predicts)
    return {
        "rmse": fastrec.rmse(pred, test.ratings),
        "fit_s": fit_s,
        "predict_s": predict_s,
        "seconds": statistics.median(f + p for f, p in zip(fits, predicts, strict=True)),
    }


def _mean(results: list[dict]) -> dict:
    return {key: float(np.mean([r[key] for r in results])) for key in results[0]}


def compare(splits, models, repeats: int, surprise_repeats: int, seed: int) -> list[dict]:
    """One row per (fastrec model, Surprise configuration); RMSE and seconds are means over
    ``splits``. Each model and each Surprise configuration runs once per split."""
    algos = _surprise_algorithms(seed)
    ours, theirs, rows = {}, {}, []
    for name in models:
        factory, peers = PAIRS[name]
        ours[name] = _mean([time_fastrec(factory, tr, te, repeats) for tr, te in splits])
        for peer in peers:
            if peer not in theirs:
                theirs[peer] = _mean(
                    [time_surprise(algos[peer], tr, te, surprise_repeats) for tr, te in splits]
                )
            row = {"fastrec": name, "surprise": peer, "ours": ours[name], "theirs": theirs[peer]}
            rows.append(row)
            print(_line(row), file=sys.stderr, flush=True)  # progress; the table goes to stdout
    return rows


HEADER = [
    "| fastrec | Surprise | fastrec RMSE | Surprise RMSE | fastrec s | Surprise s | "
    "Surprise s / fastrec s |",
    "|---|---|---|---|---|---|---|",
]


def _line(row: dict) -> str:
    o, t = row["ours"], row["theirs"]
    return (
        f"| `{row['fastrec']}` | `{row['surprise']}` | {o['rmse']:.6f} | {t['rmse']:.6f} | "
        f"{o['seconds']:.3f} | {t['seconds']:.3f} | {t['seconds'] / o['seconds']:.1f} |"
    )


def markdown(result: dict) -> str:
    lines = [result["where"], "", *HEADER, *(_line(r) for r in result["rows"]), ""]
    lines.append(
        f"Seconds: fit + predict, median of {result['repeats']} runs for fastrec (after a "
        f"warm-up that compiles its kernels) and {result['surprise_repeats']} for Surprise "
        f"{result['surprise_version']} (random_state={result['seed']}); {result['machine']}, "
        f"{result['date']}; `python benchmarks/peers.py {' '.join(result['argv'])}`."
    )
    return "\n".join(lines)


def plot(rows: list[dict], title: str, path: str | os.PathLike) -> None:
    """RMSE against seconds (log scale): each fastrec model and its best Surprise peer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = {}
    for r in rows:
        if r["fastrec"] not in best or r["theirs"]["rmse"] < best[r["fastrec"]]["theirs"]["rmse"]:
            best[r["fastrec"]] = r
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from plotting import place_labels, style_rmse_seconds

    fig, ax = plt.subplots(figsize=(10.5, 6.5), dpi=120)
    colors = plt.get_cmap("tab10").colors
    xs, ys, texts, text_colors = [], [], [], []
    for n, r in enumerate(best.values()):
        c = colors[n % len(colors)]
        o, t = r["ours"], r["theirs"]
        ax.plot([o["seconds"], t["seconds"]], [o["rmse"], t["rmse"]], color=c, alpha=0.5, lw=1.2)
        ax.scatter(o["seconds"], o["rmse"], color=c, marker="o", s=60, zorder=3)
        points = [(o["seconds"], o["rmse"], f"fastrec {r['fastrec']}", c)]
        if f"Surprise {r['surprise']}" not in texts:  # one peer may face several models
            ax.scatter(t["seconds"], t["rmse"], marker="s", s=60, zorder=3, facecolor="none",
                       edgecolor="black")  # fmt: skip
            points.append((t["seconds"], t["rmse"], f"Surprise {r['surprise']}", "black"))
        for x, y, text, color in points:
            xs.append(x)
            ys.append(y)
            texts.append(text)
            text_colors.append(color)
    ax.scatter([], [], color="grey", marker="o", label="fastrec")
    ax.scatter([], [], marker="s", facecolor="none", edgecolor="black",
               label="Surprise: the most accurate counterpart of each fastrec model")  # fmt: skip
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False, fontsize=9)
    style_rmse_seconds(ax, title, xs, label_room=40)
    place_labels(ax, xs, ys, texts, colors=text_colors, fontsize=8.5)
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--path", help="ratings file; the post's 80/20 split (seed 7)")
    group.add_argument("--ml100k-folds", metavar="DIR", help="ml-100k folder: mean of u1..u5")
    group.add_argument("--from-json", metavar="JSON", help="print and plot a saved --out run")
    parser.add_argument("--pairs", nargs="+", choices=list(PAIRS), help="fastrec models to run")
    parser.add_argument("--repeats", type=int, default=5, help="fastrec runs (median)")
    parser.add_argument("--surprise-repeats", type=int, default=1, help="Surprise runs (median)")
    parser.add_argument("--seed", type=int, default=0, help="Surprise's random_state")
    parser.add_argument("--out", metavar="PREFIX", help="write PREFIX.md and PREFIX.json")
    parser.add_argument("--plot", metavar="FILE.png", help="draw RMSE against seconds")
    args = parser.parse_args(argv)
    if args.from_json:
        result = json.loads(Path(args.from_json).read_text())
    else:
        result = run(args, argv)
        if result is None:
            return 2
    text = markdown(result)
    print(text)
    if args.out:
        Path(f"{args.out}.json").write_text(json.dumps(result, indent=1) + "\n")
        Path(f"{args.out}.md").write_text(text + "\n")
        print(f"wrote {args.out}.json and {args.out}.md", file=sys.stderr)
    if args.plot:
        title = (
            f"fastrec and Surprise on {result['short']}: test RMSE against fit + predict "
            f"seconds\n{result['machine']}, {result['date']}"
        )
        plot(result["rows"], title, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def run(args: argparse.Namespace, argv: list[str]) -> dict | None:
    """Run the comparison the arguments ask for; None when Surprise is missing."""
    try:
        import surprise
    except ImportError:
        print(
            "peers.py compares fastrec with Surprise, which fastrec does not depend on; "
            "install it first: pip install scikit-surprise",
            file=sys.stderr,
        )
        return None
    if args.path:
        splits = [fastrec.train_test_split(fastrec.load_ratings(args.path), 0.2, seed=7)]
        where = f"`{args.path}`, 80/20 split (seed 7): {len(splits[0][0]):,} train, " + (
            f"{len(splits[0][1]):,} test ratings"
        )
        short = Path(args.path).resolve().parent.name
    else:
        splits = fastrec.ml100k_folds(args.ml100k_folds)
        where = f"`{args.ml100k_folds}`: mean over the five published folds u1..u5"
        short = "ml-100k, folds u1..u5"
    print(where, file=sys.stderr, flush=True)
    models = args.pairs or list(PAIRS)
    rows = compare(splits, models, args.repeats, args.surprise_repeats, args.seed)
    return {
        "where": where,
        "short": short,
        "rows": rows,
        "repeats": args.repeats,
        "surprise_repeats": args.surprise_repeats,
        "seed": args.seed,
        "surprise_version": surprise.__version__,
        "fastrec_version": fastrec.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "date": datetime.date.today().isoformat(),
        "argv": argv,
    }


if __name__ == "__main__":
    sys.exit(main())
