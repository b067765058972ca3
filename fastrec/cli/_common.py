"""What several subcommands share: the PATH argument (a file, a MovieLens release name or
``synthetic:SHAPE``), the options that say how to read a ratings file, how PATH is read,
the progress-bar flags, the table formats, and keeping TensorFlow's start-up lines off
stderr.

Nothing here imports numpy or pandas at module level, so that ``fastrec --help`` stays quick.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager
from pathlib import Path

DEFAULT_SHAPE = "ml-latest-small"
#: MovieLens releases ``fastrec`` can download (fastrec.movielens.RELEASES; kept here so that
#: ``--help`` does not import pandas).
RELEASE_NAMES = ("ml-100k", "ml-latest-small", "ml-1m", "ml-10m", "ml-20m", "ml-25m")
PATH_HELP = (
    "a ratings file (any delimited text: ratings.csv, .tsv, u.data, ratings.dat, ...; or "
    ".parquet; compressed as .gz, .bz2, .xz, .zst or a .zip of one file) or a directory "
    f"holding one, a MovieLens release name ({', '.join(RELEASE_NAMES)}; downloaded once "
    "into the cache), or synthetic:SHAPE"
)
#: ``--format`` choices of the commands that print a table.
TABLE_FORMATS = ("table", "csv", "json", "markdown")

#: load_ratings' keyword for each reading option's ``dest``.
_READ_OPTIONS = {
    "user_col": "user",
    "item_col": "item",
    "rating_col": "rating",
    "timestamp_col": "timestamp",
    "sep": "sep",
    "header": "header",
    "rating_scale": "rating_scale",
}


def add_no_progress(parser) -> None:
    """The ``--no-progress`` flag, on a subcommand's parser or on a group of it."""
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_read_options(parser) -> None:
    """The options saying how to read PATH (fastrec.load_ratings' keywords)."""
    group = parser.add_argument_group(
        "reading PATH",
        "Found from the file where not given: the separator from its first lines, the header "
        "from line 1, the columns from common names (userId, user_id, user, ...; movieId, "
        "item_id, item, ...; rating, score, stars; timestamp, time, date) or, without a "
        "header, the order user, item, rating[, timestamp].",
    )
    for role in ("user", "item", "rating", "timestamp"):
        group.add_argument(
            f"--{role}-col",
            metavar="NAME",
            help=f"the {role} column: a header name or a 0-based position",
        )
    group.add_argument(
        "--sep",
        metavar="SEP",
        help="the field separator: one character (',', ';', '|'), 'tab' or '\\t', or '::'",
    )
    group.add_argument(
        "--header",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="line 1 names the columns (--no-header: it is data)",
    )
    group.add_argument(
        "--rating-scale",
        nargs=2,
        type=float,
        metavar=("LO", "HI"),
        help="the scale of the ratings, e.g. 1 10 or -10 10: a rating outside it is an error "
        "naming its line, and predictions are clipped to it (default: the data's range)",
    )


def read_options(args) -> dict:
    """load_ratings' keywords from the reading options given on the command line."""
    return {
        keyword: getattr(args, dest)
        for dest, keyword in _READ_OPTIONS.items()
        if getattr(args, dest, None) is not None
    }


def progress_of(args) -> bool | None:
    """``False`` for --no-progress, ``True`` for --progress, else ``None``: a bar when stderr
    is a terminal."""
    if getattr(args, "no_progress", False):
        return False
    return True if getattr(args, "progress", False) else None


def show_bar(show_progress: bool | None) -> bool:
    """Whether to draw a bar: as asked, else when stderr is a terminal."""
    return sys.stderr.isatty() if show_progress is None else show_progress


def is_release(path: str) -> bool:
    """A MovieLens release name that is not also an existing file or directory."""
    return path.strip().lower() in RELEASE_NAMES and not Path(path).exists()


def load(path: str | None, show_progress: bool | None = None, options: dict | None = None):
    """The ratings PATH names (None: a built-in synthetic set, with a note on stderr).

    ``options`` are load_ratings' keywords (:func:`read_options`), for a ratings file only.
    """
    from ..io import load_ratings

    options = options or {}
    if options and (path is None or path.startswith("synthetic:") or is_release(path)):
        flags = ", ".join(f"--{_flag(k)}" for k in options)
        raise ValueError(
            f"{flags}: for reading a ratings file, not {path or 'the built-in synthetic set'} "
            "(whose layout fastrec knows)"
        )
    if path is None or path.startswith("synthetic:"):
        from .. import datasets
    if path is None:
        print(
            f"fastrec: no PATH given; running on a built-in synthetic {DEFAULT_SHAPE}-shaped "
            "set (fastrec.datasets.synthetic). Pass a ratings file for real results.",
            file=sys.stderr,
        )
        return datasets.synthetic(DEFAULT_SHAPE, seed=0, show_progress=show_bar(show_progress))
    if path.startswith("synthetic:"):
        return datasets.synthetic(
            path.split(":", 1)[1], seed=0, show_progress=show_bar(show_progress)
        )
    if is_release(path):
        from ..movielens import movielens

        return movielens(path, show_progress=show_progress)
    return load_ratings(path, **options)


def _flag(keyword: str) -> str:
    dest = next(d for d, k in _READ_OPTIONS.items() if k == keyword)
    return dest.replace("_", "-")


# ------------------------------------------------------------------------------ tables


def format_table(table, form: str, title: str | None = None) -> str:
    """``table`` (a DataFrame) as ``--format`` asks: ``csv``; ``json`` (records);
    ``markdown`` (a pipe table, ``title`` above it); ``table`` (``title`` over aligned
    columns). Floats get 6 decimals in the table and markdown forms."""
    if form == "csv":
        return table.to_csv(index=False)
    if form == "json":
        return table.to_json(orient="records", indent=2) + "\n"
    if form == "markdown":
        return (f"{title}\n\n" if title else "") + _markdown(table)
    if form != "table":
        raise ValueError(f"--format must be one of {', '.join(TABLE_FORMATS)}, got {form!r}")
    text = table.to_string(index=False, float_format=lambda v: f"{v:.6f}") + "\n"
    return (f"{title}\n" if title else "") + text


def _markdown(table) -> str:
    """A GitHub-flavoured markdown table; numbers right-aligned, missing values empty."""
    import pandas as pd

    def cell(value) -> str:
        if value is None or (isinstance(value, float) and value != value):
            return ""
        if isinstance(value, float):
            return f"{value:.6f}"
        return str(value).replace("|", "\\|").replace("\n", " ")

    numeric = [pd.api.types.is_numeric_dtype(dt) for dt in table.dtypes]
    lines = [
        "| " + " | ".join(str(c) for c in table.columns) + " |",
        "|" + "|".join("---:" if num else "---" for num in numeric) + "|",
    ]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- start-up noise


@contextmanager
def native_stderr_silenced(verbose: bool = False):
    """Send what is written to file descriptor 2 inside to /dev/null (unless ``verbose``).

    TensorFlow's C++ libraries write their start-up lines (absl's "All log messages before
    absl::InitializeLog() ...", oneDNN's notice) to the descriptor itself while they are
    imported, whatever ``TF_CPP_MIN_LOG_LEVEL`` says; Python's ``sys.stderr`` cannot catch
    them. Errors still come through as exceptions, printed after this block.
    """
    if verbose:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no descriptor 2 (an embedding host): nothing to hide
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_keras_quietly(models, verbose: bool = False) -> None:
    """Import Keras (and TensorFlow) now, without their start-up lines, when one of
    ``models`` (instances) is a Keras model; ``-v`` (``verbose``) shows the lines."""
    if verbose or "keras" in sys.modules:
        return
    if not any(type(m).__module__.startswith("fastrec.models.keras") for m in models):
        return
    from ..models.keras.backend import import_keras, missing_dependency

    if missing_dependency() is not None:
        return  # the model says what to install where it is used
    with native_stderr_silenced():
        import_keras()
