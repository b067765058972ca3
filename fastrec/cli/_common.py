"""What several subcommands share: the PATH argument (a file, a MovieLens release name or
``synthetic:SHAPE``) and how it is read, and the progress-bar flags.

Nothing here imports numpy or pandas at module level, so that ``fastrec --help`` stays quick.
"""

from __future__ import annotations

import sys
from pathlib import Path

DEFAULT_SHAPE = "ml-latest-small"
#: MovieLens releases ``fastrec`` can download (fastrec.movielens.RELEASES; kept here so that
#: ``--help`` does not import pandas).
RELEASE_NAMES = ("ml-100k", "ml-latest-small", "ml-1m", "ml-10m", "ml-20m", "ml-25m")
PATH_HELP = (
    "ratings.csv, u.data, ratings.dat or .parquet (or a directory holding one), a MovieLens "
    f"release name ({', '.join(RELEASE_NAMES)}; downloaded once into the cache), or "
    "synthetic:SHAPE"
)


def add_no_progress(parser) -> None:
    """The ``--no-progress`` flag, on a subcommand's parser or on a group of it."""
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


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


def load(path: str | None, show_progress: bool | None = None):
    """The ratings PATH names (None: a built-in synthetic set, with a note on stderr)."""
    from ..io import load_ratings

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
    return load_ratings(path)
