"""Command line: ``fastrec evaluate [PATH]``, ``fastrec eda PATH --out DIR``,
``fastrec download NAME`` and ``fastrec synth SHAPE OUT.csv``.

PATH is a ratings file (or a directory holding one), a MovieLens release name (ml-100k,
ml-latest-small, ml-1m, ml-10m, ml-20m, ml-25m: downloaded from GroupLens once, then read
from the cache; an existing file or directory of that name wins), or ``synthetic:SHAPE``.
Long steps show a progress bar on stderr when it is a terminal (``--no-progress`` hides it).
Errors print one line on stderr and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path

DEFAULT_SHAPE = "ml-latest-small"
#: MovieLens releases ``fastrec`` can download (fastrec.movielens.RELEASES; kept here so that
#: ``--help`` does not import pandas).
RELEASE_NAMES = ("ml-100k", "ml-latest-small", "ml-1m", "ml-10m", "ml-20m", "ml-25m")
_PATH_HELP = (
    "ratings.csv, u.data, ratings.dat or .parquet (or a directory holding one), a MovieLens "
    f"release name ({', '.join(RELEASE_NAMES)}; downloaded once into the cache), or "
    "synthetic:SHAPE"
)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastrec", description="Fast, honest explicit-rating recommenders."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log timings to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    ev = sub.add_parser(
        "evaluate",
        help="fit and score every model on an 80/20 split, print one table",
        description=(
            "Fit and score models on the blog post's 80/20 split of PATH and print the table "
            "(RMSE, MAE, coverage, seconds). Without PATH: a built-in synthetic set shaped "
            f"like {DEFAULT_SHAPE}. PATH may also be a MovieLens release name (e.g. "
            "ml-latest-small, downloaded from GroupLens once) or 'synthetic:SHAPE' (e.g. "
            "synthetic:ml-1m)."
        ),
    )
    ev.add_argument("path", nargs="?", help=_PATH_HELP)
    ev.add_argument("--models", nargs="+", metavar="NAME", help="model names (default: all)")
    ev.add_argument(
        "--metrics",
        nargs="+",
        metavar="METRIC",
        help="score columns, in order: rmse, mae, precision@K, recall@K, ndcg@K "
        "(default: rmse mae); the table is sorted by the first (give PATH before this option)",
    )
    ev.add_argument(
        "--relevance-threshold",
        type=float,
        default=4.0,
        metavar="RATING",
        help="a test rating >= RATING is relevant to precision/recall/ndcg@K (default: 4.0)",
    )
    ev.add_argument("--test-size", type=float, default=0.2)
    ev.add_argument("--seed", type=int, default=7)
    ev.add_argument("--format", choices=("table", "csv", "json"), default="table")
    ev.add_argument("--output", metavar="FILE", help="write the table here instead of stdout")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar")

    ed = sub.add_parser(
        "eda",
        help="the blog post's exploratory analysis: summary, five figures, a markdown report",
        description=(
            "Write the blog post's exploratory analysis of PATH into DIR: report.md (users, "
            "movies, ratings, sparsity, describe() of the ratings, a table of genres), "
            "summary.json and five PNG figures (mean rating by genre, rating histogram, "
            "rating histogram by genre, ratings per movie, ratings per user). The genre "
            "figures need a movies table: --movies, else the movies file beside the ratings "
            "file (movies.csv, movies.dat or u.item) or of the MovieLens release. Needs "
            'matplotlib: pip install "fastrec[plots]".'
        ),
    )
    ed.add_argument("path", help=_PATH_HELP)
    ed.add_argument(
        "--movies", metavar="FILE", help="movies.csv (movieId,title,genres), movies.dat or u.item"
    )
    ed.add_argument("--out", metavar="DIR", required=True, help="directory for the report")
    ed.add_argument("--no-progress", action="store_true", help="no progress bar")

    dl = sub.add_parser(
        "download",
        help="download a MovieLens release into the cache and print its directory",
        description=(
            "Download a MovieLens release from GroupLens (checked against its pinned "
            "checksum), unpack it into the cache ($FASTREC_CACHE, default ~/.cache/fastrec) "
            "and print the directory. Does nothing but print it when it is already there. "
            "$FASTREC_MOVIELENS_URL names a mirror."
        ),
    )
    dl.add_argument("name", choices=RELEASE_NAMES, metavar="NAME", help=", ".join(RELEASE_NAMES))
    dl.add_argument("--cache-dir", metavar="DIR", help="cache directory (default: see above)")
    dl.add_argument("--no-progress", action="store_true", help="no progress bar")

    sy = sub.add_parser(
        "synth",
        help="write a synthetic MovieLens-shaped ratings.csv",
        description="Write synthetic ratings shaped like a MovieLens release as ratings.csv.",
    )
    sy.add_argument("shape", help="ml-100k, ml-latest-small, ml-1m, ml-10m, ml-20m or ml-25m")
    sy.add_argument("out", help="output .csv path")
    sy.add_argument("--seed", type=int, default=0)
    sy.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _is_release(path: str) -> bool:
    """A MovieLens release name that is not also an existing file or directory."""
    return path.strip().lower() in RELEASE_NAMES and not Path(path).exists()


def _load(path: str | None, progress: bool | None = None):
    from .data import load_ratings

    if path is None or path.startswith("synthetic:"):
        from . import datasets
    if path is None:
        print(
            f"fastrec: no PATH given; running on a built-in synthetic {DEFAULT_SHAPE}-shaped "
            "set (fastrec.datasets.synthetic). Pass a ratings file for real results.",
            file=sys.stderr,
        )
        return datasets.synthetic(DEFAULT_SHAPE, seed=0, show_progress=_show(progress))
    if path.startswith("synthetic:"):
        return datasets.synthetic(path.split(":", 1)[1], seed=0, show_progress=_show(progress))
    if _is_release(path):
        from .movielens import movielens

        return movielens(path, progress=progress)
    return load_ratings(path)


def _progress(args) -> bool | None:
    """``False`` for --no-progress, else ``None``: a bar when stderr is a terminal."""
    return False if getattr(args, "no_progress", False) else None


def _show(progress: bool | None) -> bool:
    return sys.stderr.isatty() if progress is None else progress


def _evaluate(args) -> None:
    from .evaluate import evaluate_all, parse_metrics, resolve_models

    resolve_models(args.models)  # an unknown model name fails before any data is read
    parse_metrics(args.metrics)  # so does an unknown metric
    ratings = _load(args.path, _progress(args))
    with warnings.catch_warnings():  # skipped models are printed as notes below instead
        warnings.simplefilter("ignore")
        table = evaluate_all(
            ratings,
            models=args.models,
            metrics=args.metrics,
            relevance_threshold=args.relevance_threshold,
            test_size=args.test_size,
            seed=args.seed,
            progress=False if args.no_progress else None,
        )
    for note in table.attrs.get("notes", []):
        print(f"fastrec: note: {note}", file=sys.stderr)
    if args.format == "csv":
        text = table.to_csv(index=False)
    elif args.format == "json":
        text = table.to_json(orient="records", indent=2) + "\n"
    else:
        header = (
            f"{ratings.source or 'ratings'}: {table.attrs['n_train']:,} train / "
            f"{table.attrs['n_test']:,} test ratings (seed {args.seed})\n"
        )
        text = header + table.to_string(index=False, float_format=lambda v: f"{v:.6f}") + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


_MOVIES_FILES = ("movies.csv", "movies.dat", "u.item")


def _movies_for(path: str, movies: str | None):
    """The movies table for ``fastrec eda PATH``: --movies, the release's, the synthetic
    shape's, or a movies file beside the ratings file; None (with a note) when there is none."""
    from . import movielens as ml

    if movies is not None:
        return ml.load_movies(movies)
    if path.startswith("synthetic:"):
        from .datasets import synthetic_movies

        return synthetic_movies(path.split(":", 1)[1], seed=0)
    if _is_release(path):
        return ml.movielens_movies(path)  # downloaded by _load a moment ago
    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    for name in _MOVIES_FILES:
        if (folder / name).is_file():
            print(
                f"fastrec: genres from {folder / name} (pass --movies for another file)",
                file=sys.stderr,
            )
            return ml.load_movies(folder / name)
    print(
        f"fastrec: note: no movies file beside {path} and no --movies: the report has no "
        "genre figures",
        file=sys.stderr,
    )
    return None


def _eda(args) -> None:
    from . import eda

    eda.require_matplotlib()  # no matplotlib: fail before the data are read
    progress = _progress(args)
    ratings = _load(args.path, progress)
    movies = _movies_for(args.path, args.movies)
    report = eda.report(ratings, movies, args.out, progress=progress)
    print(f"fastrec: wrote {report} and its figures", file=sys.stderr)
    sys.stdout.write(f"{report}\n")


def _download(args) -> None:
    from .movielens import download_movielens

    folder = download_movielens(args.name, cache_dir=args.cache_dir, progress=_progress(args))
    sys.stdout.write(f"{folder}\n")


def _synth(args) -> None:
    from . import datasets

    ratings = datasets.synthetic(args.shape, seed=args.seed, show_progress=_show(_progress(args)))
    datasets.write_csv(ratings, args.out)
    print(f"fastrec: wrote {len(ratings):,} ratings to {args.out}", file=sys.stderr)


_COMMANDS = {"evaluate": _evaluate, "eda": _eda, "download": _download, "synth": _synth}


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
    )
    try:
        _COMMANDS[args.command](args)
    except (ValueError, FileNotFoundError, KeyError, ImportError, OSError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"fastrec: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
