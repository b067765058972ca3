"""``fastrec eda PATH --out DIR``: the blog post's exploratory analysis, as a markdown report
with its figures."""

from __future__ import annotations

import sys
from pathlib import Path

from ._common import (
    PATH_HELP,
    add_no_progress,
    add_read_options,
    is_release,
    load,
    progress_of,
    read_options,
)

_MOVIES_FILES = ("movies.csv", "movies.dat", "u.item")


def add_parser(sub):
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
    ed.add_argument("path", help=PATH_HELP)
    ed.add_argument(
        "--movies", metavar="FILE", help="movies.csv (movieId,title,genres), movies.dat or u.item"
    )
    ed.add_argument("--out", metavar="DIR", required=True, help="directory for the report")
    add_read_options(ed)
    add_no_progress(ed)
    return ed


def run(args) -> None:
    from .. import eda

    eda.require_matplotlib()  # no matplotlib: fail before the data are read
    show_progress = progress_of(args)
    ratings = load(args.path, show_progress, read_options(args))
    movies = _movies_for(args.path, args.movies)
    report = eda.report(ratings, movies, args.out, show_progress=show_progress)
    print(f"fastrec: wrote {report} and its figures", file=sys.stderr)
    sys.stdout.write(f"{report}\n")


def _movies_for(path: str, movies: str | None):
    """The movies table for ``fastrec eda PATH``: --movies, the release's, the synthetic
    shape's, or a movies file beside the ratings file; None (with a note) when there is none."""
    from ..movielens import movielens_movies
    from ..movies import load_movies

    if movies is not None:
        return load_movies(movies)
    if path.startswith("synthetic:"):
        from ..datasets import synthetic_movies

        return synthetic_movies(path.split(":", 1)[1], seed=0)
    if is_release(path):
        return movielens_movies(path)  # downloaded by load() a moment ago
    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    for name in _MOVIES_FILES:
        if (folder / name).is_file():
            print(
                f"fastrec: genres from {folder / name} (pass --movies for another file)",
                file=sys.stderr,
            )
            return load_movies(folder / name)
    print(
        f"fastrec: note: no movies file beside {path} and no --movies: the report has no "
        "genre figures",
        file=sys.stderr,
    )
    return None
