"""Command line: ``fastrec evaluate [PATH]``, ``fastrec recommend PATH --model NAME``,
``fastrec eda PATH --out DIR``, ``fastrec download NAME`` and ``fastrec synth SHAPE OUT.csv``.

PATH is a ratings file (or a directory holding one), a MovieLens release name (ml-100k,
ml-latest-small, ml-1m, ml-10m, ml-20m, ml-25m: downloaded from GroupLens once, then read
from the cache; an existing file or directory of that name wins), or ``synthetic:SHAPE``.
Long steps show a progress bar on stderr when it is a terminal (``--no-progress`` hides it).
Errors print one line on stderr and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from .memory import InsufficientMemoryError

if TYPE_CHECKING:
    import numpy as np

DEFAULT_SHAPE = "ml-latest-small"
#: MovieLens releases ``fastrec`` can download (fastrec.movielens.RELEASES; kept here so that
#: ``--help`` does not import pandas).
RELEASE_NAMES = ("ml-100k", "ml-latest-small", "ml-1m", "ml-10m", "ml-20m", "ml-25m")
_PATH_HELP = (
    "ratings.csv, u.data, ratings.dat or .parquet (or a directory holding one), a MovieLens "
    f"release name ({', '.join(RELEASE_NAMES)}; downloaded once into the cache), or "
    "synthetic:SHAPE"
)


def _model_name(text: str) -> str:
    """argparse type of ``recommend --model``: a name ``fastrec evaluate --models`` takes."""
    from .evaluate import resolve_models

    try:
        resolve_models([text])
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def _positive_int(text: str) -> int:
    """argparse type of ``recommend --n``."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1 (items per user), got {text!r}")
    return value


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
    ev.add_argument(
        "--models",
        nargs="+",
        metavar="NAME",
        help="model names, each optionally with parameters: 'ItemKNN(k=40, exact=False)' "
        "(default: all)",
    )
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

    rec = sub.add_parser(
        "recommend",
        help="fit a model on every rating of PATH (or --load one), write each user's top N",
        description=(
            "Fit --model on ALL the ratings of PATH (no train/test split: this produces "
            "recommendations, it does not score the model; use 'fastrec evaluate' for that), "
            "or read a fitted model with --load, then write the top N items of every user "
            "(or of --users) as CSV with the columns userId, rank, movieId, score: to stdout, "
            "or to --out (.parquet or .pq: parquet). score is the model's predicted rating. "
            "Items the user rated are left out unless --include-seen. A user without "
            "ratings in the model's data gets the model's fallback ranking (for most models "
            "the Bias baseline's mu + b_i), the same for every such user. A one-line "
            "summary goes to stderr."
        ),
    )
    rec.add_argument("path", nargs="?", metavar="PATH", help=_PATH_HELP + "; not with --load")
    rec.add_argument(
        "--model",
        type=_model_name,
        metavar="NAME",
        help="the model to fit (required without --load), as 'fastrec evaluate --models' "
        "takes it: a class name, case-insensitive (Bias, SVD, BiasedMF, ALS, ItemKNN, ...; "
        "an unknown name lists them all) or the blog post's label, optionally with "
        "parameters: 'ItemKNN(k=40, exact=False)'",
    )
    rec.add_argument(
        "-n",
        "--n",
        dest="n",
        type=_positive_int,
        default=10,
        metavar="N",
        help="items per user (default: 10)",
    )
    who = rec.add_mutually_exclusive_group()
    who.add_argument(
        "--users",
        nargs="+",
        metavar="ID",
        help="only these users, in this order (default: every user with ratings; "
        "repeats are dropped)",
    )
    who.add_argument(
        "--users-file",
        metavar="FILE",
        help="only the users listed in FILE: one id per line, or the first column of a CSV "
        "(a header line and lines starting with # are skipped)",
    )
    rec.add_argument(
        "--include-seen",
        action="store_true",
        help="keep the items the user has rated (default: leave them out)",
    )
    rec.add_argument(
        "--out",
        metavar="FILE",
        help="write here instead of stdout: CSV, or parquet when FILE ends in .parquet or "
        ".pq (CSV is compressed when FILE ends in .gz, .bz2, .zip, .xz or .zst)",
    )
    rec.add_argument(
        "--load", metavar="MODEL_FILE", help="a model written by --save or model.save()"
    )
    rec.add_argument(
        "--save", metavar="MODEL_FILE", help="also save the model here (.fastrec by convention)"
    )
    bar = rec.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress",
        action="store_true",
        help="show a progress bar even when stderr is not a terminal",
    )
    bar.add_argument("--no-progress", action="store_true", help="no progress bar")
    rec.set_defaults(parser=rec)

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
    """``False`` for --no-progress, ``True`` for --progress, else ``None``: a bar when stderr
    is a terminal."""
    if getattr(args, "no_progress", False):
        return False
    return True if getattr(args, "progress", False) else None


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


_PARQUET_SUFFIXES = (".parquet", ".pq")
_HEADER_WORDS = ("userid", "user_id", "user", "users", "id")


def _recommend(args) -> None:
    import numpy as np

    parser = args.parser
    if args.load is None:
        if args.path is None:
            parser.error("give PATH (ratings to fit --model on) or --load MODEL_FILE")
        if args.model is None:
            parser.error("--model is required to fit on PATH (or --load a saved model)")
    else:
        if args.path is not None:
            parser.error(
                f"PATH ({args.path}) is not used with --load: the saved model is already "
                "fitted; give one of them"
            )
        if args.model is not None:
            parser.error("--model is not used with --load: the file says which model it is")
    # Everything that can be checked is checked before the (possibly long) fit.
    if args.out is not None:
        _check_writable(args.out, "--out")
        if args.path is not None and _same_file(args.out, args.path):
            raise ValueError(f"--out {args.out} is the ratings file itself; choose another file")
        if _is_parquet(args.out) and not _has_parquet_engine():
            raise ImportError(
                f"--out {args.out}: writing parquet needs pyarrow (pip install pyarrow)"
            )
    if args.save is not None:
        _check_writable(args.save, "--save")
    if args.load is not None and not Path(args.load).is_file():
        raise FileNotFoundError(f"--load {args.load}: no such file")
    tokens, where = None, None
    if args.users is not None:
        tokens, where = args.users, "--users"
    elif args.users_file is not None:
        tokens, where = _read_users_file(args.users_file), f"--users-file {args.users_file}"
    progress = _progress(args)

    if args.load is not None:
        from .persistence import load_model

        t0 = time.perf_counter()
        model = load_model(args.load)
        fit_s = time.perf_counter() - t0
        how = f"loaded from {args.load}"
        users = None if tokens is None else _user_ids(tokens, model.user_index_, where)
    else:
        from .evaluate import resolve_models

        (model,), _ = resolve_models([args.model])
        missing = type(model).missing_dependency()
        if missing:
            raise ImportError(f"--model {args.model}: {missing}")
        ratings = _load(args.path, progress)
        users = None if tokens is None else _user_ids(tokens, ratings.user_index, where)
        t0 = time.perf_counter()
        with _warnings_as_notes():
            model.fit(ratings)  # silent: the models have no progress bar of their own
        fit_s = time.perf_counter() - t0
        how = f"fitted on all {len(ratings):,} ratings of {ratings.source or args.path}"
    saved = ""
    if args.save is not None:
        model.save(args.save)
        saved = f"; model saved to {args.save}"

    t0 = time.perf_counter()
    with _warnings_as_notes():
        frame = model.recommend_all(
            n=args.n, exclude_seen=not args.include_seen, users=users, show_progress=_show(progress)
        )
    rec_s = time.perf_counter() - t0
    target = _write_frame(frame, args.out)
    if users is None:
        n_users, unknown = int(np.count_nonzero(model.user_n_train_ > 0)), ""
    else:
        codes = model.user_index_.get_indexer(users)
        known = codes >= 0
        known[known] = model.user_n_train_[codes[known]] > 0
        n_users, n_unknown = len(users), len(users) - int(np.count_nonzero(known))
        unknown = (
            f" ({n_unknown:,} unknown: the fallback ranking)" if n_unknown else " (none unknown)"
        )
    print(
        f"fastrec: {type(model).__name__} {how} in {fit_s:.2f} s{saved}; top {args.n} for "
        f"{n_users:,} user{'s' if n_users != 1 else ''}{unknown} in {rec_s:.2f} s; "
        f"{len(frame):,} rows written to {target}",
        file=sys.stderr,
    )


def _is_parquet(path: str) -> bool:
    return Path(path).suffix.lower() in _PARQUET_SUFFIXES


def _has_parquet_engine() -> bool:
    from importlib.util import find_spec

    return any(find_spec(name) is not None for name in ("pyarrow", "fastparquet"))


def _check_writable(path: str, option: str) -> None:
    folder = Path(path).parent
    if not folder.is_dir():
        raise FileNotFoundError(f"{option} {path}: no directory {folder}")
    if Path(path).is_dir():
        raise IsADirectoryError(f"{option} {path} is a directory; give a file name")


def _same_file(a: str, b: str) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve() and Path(b).is_file()
    except OSError:
        return False


def _read_users_file(path: str) -> list[str]:
    """The first field of each line of ``path``, blank lines and ``#`` comments skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"--users-file {path}: no such file") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"--users-file {path}: not a UTF-8 text file ({err.reason})") from None
    tokens = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            tokens.append(re.split(r"[,;\t ]", line, maxsplit=1)[0].strip().strip('"'))
    if not tokens:
        raise ValueError(f"--users-file {path}: no user ids in it")
    return tokens


def _user_ids(tokens: list[str], index, where: str) -> np.ndarray:
    """``tokens`` as raw user ids of ``index``'s type, repeats dropped, order kept.

    A first token that is a header (``userId``, the index's name, or not a number where the
    ids are numbers) is skipped when the ids come from a file.
    """
    import numpy as np
    import pandas as pd

    kind = index.dtype.kind
    convert = {"i": int, "u": int, "f": float}.get(kind, str)
    words = {*_HEADER_WORDS, str(index.name).lower()}
    if where != "--users" and tokens and tokens[0].lower() in words:
        tokens = tokens[1:]
    ids = []
    for i, token in enumerate(tokens):
        try:
            ids.append(convert(token))
        except ValueError:
            if i == 0 and where != "--users" and convert is not str:
                continue  # a header line of another name
            raise ValueError(
                f"{where}: {token!r} is not a user id: the user ids here are "
                f"{'integers' if convert is int else 'numbers'}"
            ) from None
    if not ids:
        raise ValueError(f"{where}: no user ids")
    try:
        raw = np.asarray(ids, dtype=index.dtype if convert is not str else object)
    except OverflowError:
        raise ValueError(f"{where}: a user id is out of range for {index.dtype}") from None
    return pd.unique(raw)


class _warnings_as_notes(warnings.catch_warnings):
    """Print the warnings raised inside as one ``fastrec: warning:`` line each."""

    def __init__(self):
        super().__init__(record=True)

    def __enter__(self):
        self._log = super().__enter__()
        warnings.simplefilter("always")
        return self._log

    def __exit__(self, *exc):
        result = super().__exit__(*exc)
        seen = set()
        for w in self._log:
            message = str(w.message).splitlines()[0] if str(w.message) else w.category.__name__
            if message not in seen:
                seen.add(message)
                print(f"fastrec: warning: {message}", file=sys.stderr)
        return result


def _write_frame(frame, out: str | None) -> str:
    """Write ``frame`` to ``out`` (parquet by suffix, else CSV) or to stdout as CSV."""
    if out is None:
        try:
            frame.to_csv(sys.stdout, index=False)
            sys.stdout.flush()
        except BrokenPipeError:  # e.g. | head: not an error; silence the flush at exit
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return "stdout"
    if _is_parquet(out):
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False)
    return out


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


_COMMANDS = {
    "evaluate": _evaluate,
    "recommend": _recommend,
    "eda": _eda,
    "download": _download,
    "synth": _synth,
}


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
    )
    try:
        _COMMANDS[args.command](args)
    except (
        ValueError,
        FileNotFoundError,
        KeyError,
        ImportError,
        OSError,
        InsufficientMemoryError,
    ) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"fastrec: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
