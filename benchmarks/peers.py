"""fastrec beside its counterparts in Surprise, LensKit and myFM, on the same split.

    python benchmarks/peers.py --path ../shared/data/ml-latest-small-2016/ratings.csv
    python benchmarks/peers.py --ml100k-folds ../shared/data/ml-100k --plot peers.png
    python benchmarks/peers.py --path ../shared/data/ml-1m/ratings.csv --skip "Surprise KNN"
    python benchmarks/peers.py --path ratings.csv --pairs Bias SVDpp --peers lenskit myfm

The pairs (fastrec model with its defaults, unless written otherwise; each peer with its
defaults but the ones named):

- ``Bias`` vs Surprise ``BaselineOnly``, LensKit ``BiasScorer`` (damping 0, its default,
  and 5);
- ``UserKNN(k=40)`` and ``ItemKNN(k=40)`` vs Surprise ``KNNWithMeans`` and ``KNNBaseline``
  (k=40, ``user_based`` as the side, similarities ``cosine`` and ``pearson_baseline``: four
  configurations per side) and LensKit ``UserKNNScorer(k=40)`` / ``ItemKNNScorer(k=40)``;
- ``BiasedMF`` vs Surprise ``SVD`` and LensKit ``FunkSVDScorer`` (biased MF by SGD in all
  three) and myFM with one-hot features (biased MF as a Bayesian factorization machine);
- ``ALS`` vs Surprise ``SVD`` and LensKit ``BiasedMFScorer`` (biased MF by alternating least
  squares; its defaults, rank 64, and rank 50);
- ``SVDpp`` vs Surprise ``SVDpp`` and myFM with implicit features;
- where fastrec has them: ``BayesianMF`` vs myFM one-hot, ``BayesianMF(implicit=True)`` and
  ``Blend`` vs myFM implicit.

myFM runs ``MyFMRegressor(rank=10)``, 200 Gibbs sweeps, in four configurations: one-hot user
and item features, or these plus train-only implicit features (each user's row also carries
the items it rated, each item's row the users who rated it, scaled to unit norm: Rendle's
"flipped" SVD++ features, given as myFM ``RelationBlock``s); each with one hyperprior group
for all features (myFM's default) or one group per feature block ("grouped"). See
``_peers_libs.py`` for what each library is given.

``--path`` splits the file 80/20 (the post's split, seed 7); ``--ml100k-folds`` uses
ml-100k's five published folds u1..u5 and prints the mean over the folds. A ``ratings.csv``
without a timestamp column (the ml-1m conversion in ``../shared/data``) is read too. Seconds
are fit + predict of the whole test set, the data already in memory: for fastrec the median of
``--repeats`` runs after a warm-up run that compiles its Numba kernels, for the
peers the median of ``--peer-repeats`` (default 1: Surprise's SVDpp takes minutes). Random
models get ``--seed``. The last column is the peer's seconds over fastrec's. ``--skip``
leaves out the peer configurations whose "Library label" contains one of its strings (e.g.
``"Surprise KNN"``: Surprise's eight k-NN configurations take 11 minutes on ml-1m here).

No peer is a dependency of fastrec, and the script installs nothing: ``--peers`` (default:
all three) names the ones to run, and each one that does not import is skipped with a note.
LensKit 2026 needs Python >= 3.12.5; a virtual environment with all three::

    python3.13 -m venv peer-venv
    peer-venv/bin/pip install lenskit==2026.4.0 myfm scikit-surprise matplotlib
    peer-venv/bin/pip install -e .        # fastrec, without the keras extra
    peer-venv/bin/python benchmarks/peers.py --path ...

``--out PREFIX`` writes the table as ``PREFIX.md`` and ``PREFIX.json``; ``--plot FILE.png``
draws RMSE against seconds (log scale) for each fastrec model and its most accurate
counterpart (needs matplotlib); ``--from-json PREFIX.json`` prints and plots a saved run
again without rerunning it. Run it alone on the machine (``flock .heavy-run.lock ...``):
the times are what it is for.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from _peers_libs import LIBRARIES, MYFM_ITER, MYFM_RANK, K, importable, knn_labels, result

import fastrec

_MYFM = f"MyFMRegressor(rank={MYFM_RANK}, n_iter={MYFM_ITER}"
MYFM_ONE_HOT = [("myfm", f"{_MYFM}, one-hot)"), ("myfm", f"{_MYFM}, one-hot, grouped)")]
MYFM_IMPLICIT = [("myfm", f"{_MYFM}, implicit)"), ("myfm", f"{_MYFM}, implicit, grouped)")]


def _pairs() -> dict[str, tuple]:
    """fastrec model label -> (its factory, the (library, peer label)s it is compared with)."""
    pairs = {
        "Bias": (
            lambda: fastrec.Bias(),
            [
                ("surprise", "BaselineOnly"),
                ("lenskit", "BiasScorer()"),
                ("lenskit", "BiasScorer(damping=5)"),
            ],
        ),
        f"UserKNN(k={K})": (
            lambda: fastrec.UserKNN(k=K),
            [*(("surprise", p) for p in knn_labels("user")), ("lenskit", f"UserKNNScorer(k={K})")],
        ),
        f"ItemKNN(k={K})": (
            lambda: fastrec.ItemKNN(k=K),
            [*(("surprise", p) for p in knn_labels("item")), ("lenskit", f"ItemKNNScorer(k={K})")],
        ),
        "BiasedMF": (
            lambda: fastrec.BiasedMF(),
            [("surprise", "SVD"), ("lenskit", "FunkSVDScorer()"), *MYFM_ONE_HOT],
        ),
        "ALS": (
            lambda: fastrec.ALS(),
            [
                ("surprise", "SVD"),
                ("lenskit", "BiasedMFScorer()"),
                ("lenskit", "BiasedMFScorer(embedding_size=50)"),
            ],
        ),
        "SVDpp": (lambda: fastrec.SVDpp(), [("surprise", "SVDpp"), *MYFM_IMPLICIT]),
    }
    # Models newer than this script's first version: compared where this fastrec has them.
    if hasattr(fastrec, "BayesianMF"):
        pairs["BayesianMF"] = (lambda: fastrec.BayesianMF(), MYFM_ONE_HOT)
        pairs["BayesianMF(implicit=True)"] = (
            lambda: fastrec.BayesianMF(implicit=True),
            MYFM_IMPLICIT,
        )
    if hasattr(fastrec, "Blend"):
        pairs["Blend"] = (lambda: fastrec.Blend(), MYFM_IMPLICIT)
    return pairs


PAIRS = _pairs()


def time_fastrec(factory, train, test, repeats: int) -> dict:
    """RMSE and fit / predict seconds (medians of ``repeats`` runs, after a warm-up run).

    The warm-up fits and predicts this very split: it compiles the Numba kernels for these
    arrays' dtypes, which a warm-up on another set may not."""
    factory().fit(train).predict(test)
    fits, predicts, pred = [], [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        model = factory().fit(train)
        t1 = time.perf_counter()
        pred = model.predict(test)
        fits.append(t1 - t0)
        predicts.append(time.perf_counter() - t1)
    return result(pred, test, fits, predicts)


def _mean(results: list[dict]) -> dict:
    return {key: float(np.mean([r[key] for r in results])) for key in results[0]}


def compare(splits, models, libs, skip, repeats: int, peer_repeats: int, seed: int) -> list:
    """One row per (fastrec model, peer configuration); RMSE and seconds are means over
    ``splits``. Each model and each peer configuration runs once per split; the peers are
    those of the libraries ``libs`` whose "Library label" holds none of ``skip``."""
    configs = {name: LIBRARIES[name].configs(seed) for name in libs}
    ours, theirs, rows = {}, {}, []
    for name in models:
        factory, peers = PAIRS[name]
        ours[name] = _mean([time_fastrec(factory, tr, te, repeats) for tr, te in splits])
        for lib, peer in peers:
            library = LIBRARIES[lib].name
            if lib not in configs or any(s in f"{library} {peer}" for s in skip):
                continue
            if (lib, peer) not in theirs:
                timer = LIBRARIES[lib].timer
                theirs[lib, peer] = _mean(
                    [timer(configs[lib][peer], tr, te, peer_repeats, seed) for tr, te in splits]
                )
            row = {"fastrec": name, "library": library, "peer": peer, "ours": ours[name],
                   "theirs": theirs[lib, peer]}  # fmt: skip
            rows.append(row)
            print(_line(row), file=sys.stderr, flush=True)  # progress; the table goes to stdout
        if not any(r["fastrec"] == name for r in rows):  # every peer skipped: fastrec alone
            rows.append({"fastrec": name, "library": "", "peer": "", "ours": ours[name],
                         "theirs": None})  # fmt: skip
            print(_line(rows[-1]), file=sys.stderr, flush=True)
    return rows


HEADER = [
    "| fastrec | peer | fastrec RMSE | peer RMSE | fastrec s | peer s | peer s / fastrec s |",
    "|---|---|---|---|---|---|---|",
]


def _line(row: dict) -> str:
    o, t = row["ours"], row["theirs"]
    start = f"| `{row['fastrec']}` |"
    if t is None:
        return f"{start} (none) | {o['rmse']:.6f} | | {o['seconds']:.3f} | | |"
    return (
        f"{start} {row['library']} `{row['peer']}` | {o['rmse']:.6f} | {t['rmse']:.6f} | "
        f"{o['seconds']:.3f} | {t['seconds']:.3f} | {t['seconds'] / o['seconds']:.1f} |"
    )


def best_line(rows: list[dict]) -> str:
    """The most accurate fastrec model, and the most accurate configuration of each peer."""
    ours = min(rows, key=lambda r: r["ours"]["rmse"])
    best = [
        f"fastrec `{ours['fastrec']}` {ours['ours']['rmse']:.6f} ({ours['ours']['seconds']:.3f} s)"
    ]
    for library in dict.fromkeys(r["library"] for r in rows if r["theirs"] is not None):
        top = min((r for r in rows if r["library"] == library), key=lambda r: r["theirs"]["rmse"])
        t = top["theirs"]
        best.append(f"{library} `{top['peer']}` {t['rmse']:.6f} ({t['seconds']:.3f} s)")
    return "Most accurate: " + "; ".join(best) + "."


def markdown(result: dict) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in result["versions"].items()) or "no peer"
    lines = [result["where"], "", *HEADER, *(_line(r) for r in result["rows"]), ""]
    lines += [best_line(result["rows"]), ""]
    lines.append(
        f"Seconds: fit + predict, median of {result['repeats']} runs for fastrec "
        f"{result['fastrec_version']} (after a warm-up that compiles its kernels) and "
        f"{result['peer_repeats']} for the peers ({versions}; seed {result['seed']}); "
        f"{result['machine']}, {result['date']}; "
        f"`python benchmarks/peers.py {shlex.join(_shown(result['argv']))}`."
    )
    return "\n".join(lines)


def _shown(argv: list[str]) -> list[str]:
    """The arguments that decide the numbers: ``argv`` less ``--out`` and ``--plot`` (where
    the outputs went is no part of the result, and often a machine's own path)."""
    shown, drop = [], False
    for arg in argv:
        if drop:
            drop = False
        elif arg in ("--out", "--plot"):
            drop = True
        elif not arg.startswith(("--out=", "--plot=")):
            shown.append(arg)
    return shown


def upgrade(result: dict) -> dict:
    """A run saved by the Surprise-only version of this script, in today's layout."""
    for row in result["rows"]:
        if "surprise" in row:
            row["library"], row["peer"] = "Surprise", row.pop("surprise")
    if "versions" not in result:
        result["versions"] = {"Surprise": result.pop("surprise_version")}
        result["peer_repeats"] = result.pop("surprise_repeats")
    return result


def plot(rows: list[dict], title: str, path: str | os.PathLike) -> None:
    """RMSE against seconds (log scale): each fastrec model and its most accurate peer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from plotting import place_labels, style_rmse_seconds

    best = {}
    for r in rows:
        if r["theirs"] is None:
            continue
        if r["fastrec"] not in best or r["theirs"]["rmse"] < best[r["fastrec"]]["theirs"]["rmse"]:
            best[r["fastrec"]] = r
    fig, ax = plt.subplots(figsize=(10.5, 6.5), dpi=120)
    colors = plt.get_cmap("tab10").colors
    xs, ys, texts, text_colors = [], [], [], []
    for n, r in enumerate(best.values()):
        c = colors[n % len(colors)]
        o, t = r["ours"], r["theirs"]
        ax.plot([o["seconds"], t["seconds"]], [o["rmse"], t["rmse"]], color=c, alpha=0.5, lw=1.2)
        ax.scatter(o["seconds"], o["rmse"], color=c, marker="o", s=60, zorder=3)
        points = [(o["seconds"], o["rmse"], f"fastrec {r['fastrec']}", c)]
        peer = f"{r['library']} {r['peer']}"
        if peer not in texts:  # one peer may face several models
            ax.scatter(t["seconds"], t["rmse"], marker="s", s=60, zorder=3, facecolor="none",
                       edgecolor="black")  # fmt: skip
            points.append((t["seconds"], t["rmse"], peer, "black"))
        for x, y, text, color in points:
            xs.append(x)
            ys.append(y)
            texts.append(text)
            text_colors.append(color)
    ax.scatter([], [], color="grey", marker="o", label="fastrec")
    ax.scatter([], [], marker="s", facecolor="none", edgecolor="black",
               label="the most accurate counterpart of each fastrec model")  # fmt: skip
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
    parser.add_argument(
        "--peers", nargs="+", choices=list(LIBRARIES), default=list(LIBRARIES),
        help="peer libraries to run (default: all; one that does not import is skipped)",
    )  # fmt: skip
    parser.add_argument("--skip", nargs="+", default=[], metavar="TEXT",
                        help='leave out peers whose "Library label" contains TEXT')  # fmt: skip
    parser.add_argument("--repeats", type=int, default=5, help="fastrec runs (median)")
    parser.add_argument("--peer-repeats", "--surprise-repeats", type=int, default=1,
                        dest="peer_repeats", help="runs of each peer (median)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="the peers' random seed")
    parser.add_argument("--out", metavar="PREFIX", help="write PREFIX.md and PREFIX.json")
    parser.add_argument("--plot", metavar="FILE.png", help="draw RMSE against seconds")
    args = parser.parse_args(argv)
    if args.from_json:
        result = upgrade(json.loads(Path(args.from_json).read_text()))
    else:
        result = run(args, argv)
    text = markdown(result)
    print(text)
    if args.out:
        Path(f"{args.out}.json").write_text(json.dumps(result, indent=1) + "\n")
        Path(f"{args.out}.md").write_text(text + "\n")
        print(f"wrote {args.out}.json and {args.out}.md", file=sys.stderr)
    if args.plot:
        title = (
            f"fastrec and its peers on {result['short']}: test RMSE against fit + predict "
            f"seconds\n{result['machine']}, {result['date']}"
        )
        plot(result["rows"], title, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def load(path: str) -> fastrec.Ratings:
    """``fastrec.load_ratings(path)``; a ``.csv`` without its timestamp column (the ml-1m
    conversion) is read by pandas instead, the split being random and not by time."""
    try:
        return fastrec.load_ratings(path)
    except ValueError as err:
        if not (path.endswith(".csv") and "missing column(s) ['timestamp']" in str(err)):
            raise
    import pandas as pd

    frame = pd.read_csv(path, dtype={"userId": np.int64, "movieId": np.int64, "rating": float})
    return fastrec.Ratings.from_frame(frame, timestamp=None, source=path)


def _memory_gb() -> float:
    """The machine's physical memory in GB (2^30 bytes)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    """Run the comparison the arguments ask for."""
    libs = importable(args.peers)
    if args.path:
        splits = [fastrec.train_test_split(load(args.path), 0.2, seed=7)]
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
    rows = compare(splits, models, libs, args.skip, args.repeats, args.peer_repeats, args.seed)
    return {
        "where": where,
        "short": short,
        "rows": rows,
        "repeats": args.repeats,
        "peer_repeats": args.peer_repeats,
        "seed": args.seed,
        "versions": {LIBRARIES[name].name: LIBRARIES[name].version() for name in libs},
        "fastrec_version": fastrec.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {_memory_gb():.0f} GB, "
        f"Python {platform.python_version()}",
        "date": datetime.date.today().isoformat(),
        "argv": argv,
    }


if __name__ == "__main__":
    sys.exit(main())
