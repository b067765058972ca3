"""``fastrec recommend PATH --model NAME`` (or ``--load MODEL_FILE``): every user's top N.

The steps, in order: check the arguments and every file named (all before the possibly long
fit), read the users asked for, fit the model on all of PATH or load it, save it if asked,
rank, write the rows, and say on stderr what was done.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ._common import (
    PATH_HELP,
    add_no_progress,
    add_read_options,
    import_keras_quietly,
    load,
    native_stderr_silenced,
    progress_of,
    read_options,
    show_bar,
)

if TYPE_CHECKING:
    import numpy as np

    from ..models import Recommender

_PARQUET_SUFFIXES = (".parquet", ".pq")
_HEADER_WORDS = ("userid", "user_id", "user", "users", "id")


def add_parser(sub):
    rec = sub.add_parser(
        "recommend",
        help="fit a model on every rating of PATH (or --load one), write each user's top N",
        description=(
            "Fit --model on ALL the ratings of PATH (no train/test split: this produces "
            "recommendations, it does not score the model; use 'fastrec evaluate' for that), "
            "or read a fitted model with --load, then write the top N items of every user "
            "(or of --users) as CSV with the columns userId, rank, movieId, score (the ids "
            "named as in PATH's header): to stdout, or to --out (.parquet or .pq: parquet). "
            "score is the model's predicted rating. "
            "Items the user rated are left out unless --include-seen. A user without "
            "ratings in the model's data gets the model's fallback ranking (for most models "
            "the Bias baseline's mu + b_i), the same for every such user. A one-line "
            "summary goes to stderr."
        ),
    )
    rec.add_argument("path", nargs="?", metavar="PATH", help=PATH_HELP + "; not with --load")
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
    add_no_progress(bar)
    add_read_options(rec)
    rec.set_defaults(parser=rec)
    return rec


def _model_name(text: str) -> str:
    """argparse type of ``--model``: a name ``fastrec evaluate --models`` takes."""
    from ..evaluate import resolve_models

    try:
        resolve_models([text])
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def _positive_int(text: str) -> int:
    """argparse type of ``--n``."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1 (items per user), got {text!r}")
    return value


# ------------------------------------------------------------------------ the command


class _Ready(NamedTuple):
    """A model ready to rank, and how it got so."""

    model: Recommender
    users: np.ndarray | None  # raw ids of the users asked for; None: every user
    how: str  # "fitted on ..." or "loaded from ..."
    seconds: float


def run(args) -> None:
    _check_sources(args)
    _check_files(args)
    tokens, where = _requested_users(args)
    show_progress = progress_of(args)
    verbose = getattr(args, "verbose", False)
    if args.load is not None:
        with native_stderr_silenced(verbose):  # a Keras model's file imports TensorFlow
            ready = _loaded(args.load, tokens, where)
    else:
        ready = _fitted(args, tokens, where, show_progress)
    saved = _saved(ready.model, args.save)
    t0 = time.perf_counter()
    with _warnings_as_notes():
        frame = ready.model.recommend_all(
            n=args.n,
            exclude_seen=not args.include_seen,
            users=ready.users,
            show_progress=show_bar(show_progress),
        )
    rec_s = time.perf_counter() - t0
    target = _write_frame(frame, args.out)
    n_users, unknown = _users_served(ready.model, ready.users)
    print(
        f"fastrec: {type(ready.model).__name__} {ready.how} in {ready.seconds:.2f} s{saved}; "
        f"top {args.n} for {n_users:,} user{'s' if n_users != 1 else ''}{unknown} in "
        f"{rec_s:.2f} s; {len(frame):,} rows written to {target}",
        file=sys.stderr,
    )


def _check_sources(args) -> None:
    """PATH and --model, or --load alone; anything else is a usage error (exit 2)."""
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
        if read_options(args):
            parser.error("the options for reading PATH are not used with --load (no PATH)")


def _check_files(args) -> None:
    """Every file named can be written (or read), checked before the (possibly long) fit."""
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


def _requested_users(args) -> tuple[list[str] | None, str | None]:
    """The user ids asked for, as text (None: every user), and the option that gave them."""
    if args.users is not None:
        return args.users, "--users"
    if args.users_file is not None:
        return _read_users_file(args.users_file), f"--users-file {args.users_file}"
    return None, None


def _loaded(model_file: str, tokens: list[str] | None, where: str | None) -> _Ready:
    from ..persistence import load_model

    t0 = time.perf_counter()
    model = load_model(model_file)
    seconds = time.perf_counter() - t0
    users = None if tokens is None else _user_ids(tokens, model.user_index_, where)
    return _Ready(model, users, f"loaded from {model_file}", seconds)


def _fitted(args, tokens: list[str] | None, where: str | None, show_progress) -> _Ready:
    from ..evaluate import resolve_models

    spec, path = args.model, args.path
    (model,), _ = resolve_models([spec])
    missing = type(model).missing_dependency()
    if missing:
        raise ImportError(f"--model {spec}: {missing}")
    ratings = load(path, show_progress, read_options(args))
    import_keras_quietly([model], getattr(args, "verbose", False))
    users = None if tokens is None else _user_ids(tokens, ratings.user_index, where)
    t0 = time.perf_counter()
    with _warnings_as_notes():
        model.fit(ratings)  # silent: the models have no progress bar of their own
    seconds = time.perf_counter() - t0
    how = f"fitted on all {len(ratings):,} ratings of {ratings.source or path}"
    return _Ready(model, users, how, seconds)


def _saved(model, path: str | None) -> str:
    """Save ``model`` to ``path`` (if given); the summary's words for it."""
    if path is None:
        return ""
    model.save(path)
    return f"; model saved to {path}"


def _users_served(model, users: np.ndarray | None) -> tuple[int, str]:
    """How many users got a top N, and the summary's words on those the model does not know."""
    import numpy as np

    if users is None:
        return int(np.count_nonzero(model.user_n_train_ > 0)), ""
    codes = model.user_index_.get_indexer(users)
    known = codes >= 0
    known[known] = model.user_n_train_[codes[known]] > 0
    n_unknown = len(users) - int(np.count_nonzero(known))
    unknown = f" ({n_unknown:,} unknown: the fallback ranking)" if n_unknown else " (none unknown)"
    return len(users), unknown


# ------------------------------------------------------------------------------ files


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


# ------------------------------------------------------------------------------ users


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
