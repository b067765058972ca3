"""The blog post's exploratory analysis of a ratings file, vectorized, as PNG figures and a report.

>>> from fastrec import eda  # doctest: +SKIP
>>> eda.report("ml/ratings.csv", "ml/movies.csv", "eda/")  # doctest: +SKIP
PosixPath('eda/report.md')

or, step by step, :func:`analyze` (numbers only; no matplotlib needed) and the ``plot_*``
functions (one ``matplotlib.figure.Figure`` each)::

    a = eda.analyze(ratings, movies)
    a.summary()            # users, movies, ratings, sparsity, describe() of the ratings
    a.genres               # per genre: movies, ratings, mean rating
    eda.plot_genre_means(a).savefig("genres.png")

The five figures are the post's: mean rating by genre, the rating histogram, the rating
histogram by genre, and the distributions of ratings per movie and per user. Figures are drawn
on matplotlib's Agg canvas (``matplotlib.figure.Figure``), without pyplot, so the backend of
an interactive session is left alone; matplotlib is the optional extra ``plots``
(``pip install "fastrec[plots]"``) and is imported only when a figure is drawn.

Every number is computed from whole arrays: the post unpacks genres by building one DataFrame
per movie (hours at ml-25m); here ``genres.str.split("|").explode()`` gives the (movie, genre)
pairs once, a sparse genre x movie indicator matrix turns per-movie rating histograms
(one ``np.bincount``) into per-genre ones with one product, and no figure ever sees more
points than it has bars.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .data import Ratings
from .io import load_ratings

log = logging.getLogger(__name__)

__all__ = [
    "Analysis",
    "analyze",
    "report",
    "plot_genre_means",
    "plot_rating_histogram",
    "plot_rating_histogram_by_genre",
    "plot_reviews_per_movie",
    "plot_reviews_per_user",
    "FIGURES",
    "require_matplotlib",
]

#: The figures :func:`report` writes: file name -> (function name, caption).
FIGURES = {
    "mean_rating_by_genre.png": ("plot_genre_means", "Mean rating by genre"),
    "rating_histogram.png": ("plot_rating_histogram", "Rating histogram"),
    "rating_histogram_by_genre.png": ("plot_rating_histogram_by_genre", "Ratings by genre"),
    "reviews_per_movie.png": ("plot_reviews_per_movie", "Ratings per movie"),
    "reviews_per_user.png": ("plot_reviews_per_user", "Ratings per user"),
}
_GENRE_FIGURES = ("mean_rating_by_genre.png", "rating_histogram_by_genre.png")

#: Above this many distinct rating values the histograms bin the ratings (20 equal bins).
_MAX_LEVELS = 30
_DPI = 110


@dataclass
class Analysis:
    """The numbers behind the report, computed by :func:`analyze`.

    Attributes
    ----------
    source : str
        Where the ratings came from (for titles).
    n_users, n_movies, n_ratings : int
        Users and movies with at least one rating; ratings.
    sparsity : float
        ``1 - n_ratings / (n_users * n_movies)``: share of the user x movie matrix empty.
    describe : pandas.Series
        ``describe()`` of the ratings (count, mean, std, min, quartiles, max).
    rating_counts : pandas.Series
        Number of ratings at each rating value (index: the value, ascending; the bin
        centre where the ratings take more than 30 values).
    ratings_per_movie, ratings_per_user : np.ndarray[int64]
        Number of ratings of each rated movie / by each user who rated.
    genres : pandas.DataFrame or None
        One row per genre, highest mean rating first: ``movies`` (in the movies table),
        ``rated_movies``, ``ratings`` (a rating counts once for each genre of its movie),
        ``share`` (of all ratings), ``mean_rating``. ``None`` without a movies table.
    genre_rating_counts : pandas.DataFrame or None
        genres x rating values: number of ratings (rows in the order of ``genres``).
    notes : list of str
        What the reader should know (ratings of movies missing from the movies table, ...).
    """

    source: str
    n_users: int
    n_movies: int
    n_ratings: int
    sparsity: float
    describe: pd.Series
    rating_counts: pd.Series
    ratings_per_movie: np.ndarray
    ratings_per_user: np.ndarray
    genres: pd.DataFrame | None = None
    genre_rating_counts: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """The summary as plain Python numbers (JSON-ready)."""
        return {
            "source": self.source,
            "users": self.n_users,
            "movies": self.n_movies,
            "ratings": self.n_ratings,
            "sparsity": self.sparsity,
            "ratings_describe": {k: float(v) for k, v in self.describe.items()},
            "ratings_per_movie": _count_summary(self.ratings_per_movie),
            "ratings_per_user": _count_summary(self.ratings_per_user),
            "genres": None
            if self.genres is None
            else {
                row.Index: {
                    "movies": int(row.movies),
                    "rated_movies": int(row.rated_movies),
                    "ratings": int(row.ratings),
                    "share": float(row.share),
                    "mean_rating": float(row.mean_rating),
                }
                for row in self.genres.itertuples()
            },
            "notes": list(self.notes),
        }


def analyze(
    ratings: Ratings | str | os.PathLike, movies: pd.DataFrame | str | os.PathLike | None = None
) -> Analysis:
    """Every number of the report, from whole arrays (no Python loop over ratings or movies).

    Parameters
    ----------
    ratings : Ratings, or the path of a ratings file (:func:`fastrec.load_ratings`)
    movies : DataFrame with columns ``movieId`` and ``genres`` (``|``-separated, as in
        MovieLens ``movies.csv``), or the path of a movies file
        (:func:`fastrec.movielens.load_movies`: movies.csv, movies.dat, u.item), or None
        (no genre numbers). Its ``movieId`` are matched to the ratings' raw item ids.

    Cost: O(ratings) numpy passes (a ``bincount`` of ratings per movie and rating value,
    ``describe()``) and O(movies x genres) for the genres; at ml-25m a few seconds and a few
    hundred MB beside the ratings.
    """
    t0 = time.perf_counter()
    if not isinstance(ratings, Ratings):
        ratings = load_ratings(ratings)
    if movies is not None and not isinstance(movies, pd.DataFrame):
        from .movielens import load_movies

        movies = load_movies(movies)
    if len(ratings) == 0:
        raise ValueError(f"{ratings.source or 'ratings'}: no ratings to analyze")
    source = ratings.source or "ratings"
    user_counts = ratings.user_counts()
    item_counts = ratings.item_counts()
    n_users = int(np.count_nonzero(user_counts))
    n_movies = int(np.count_nonzero(item_counts))
    n = len(ratings)
    levels, values, binned = _rating_levels(ratings.ratings)
    n_levels = len(values)
    # ratings per (movie, rating value): n_items x n_levels, one bincount
    key = ratings.item_codes.astype(np.int64)
    key *= n_levels
    key += levels
    item_hist = np.bincount(key, minlength=ratings.n_items * n_levels).reshape(-1, n_levels)
    del key
    label = "rating (bin centre)" if binned else "rating"
    rating_counts = pd.Series(
        item_hist.sum(axis=0), index=pd.Index(values, name=label), name="ratings"
    )
    describe = pd.Series(ratings.ratings, copy=False).describe()
    notes = []
    if binned:
        notes.append(f"the ratings take more than {_MAX_LEVELS} values; histograms use 20 bins")
    out = Analysis(
        source=source,
        n_users=n_users,
        n_movies=n_movies,
        n_ratings=n,
        sparsity=1.0 - n / (n_users * n_movies),
        describe=describe,
        rating_counts=rating_counts,
        ratings_per_movie=item_counts[item_counts > 0],
        ratings_per_user=user_counts[user_counts > 0],
        notes=notes,
    )
    if movies is not None:
        item_sum = np.bincount(
            ratings.item_codes, weights=ratings.ratings, minlength=ratings.n_items
        )
        _add_genres(out, ratings, movies, item_hist, item_sum, rating_counts.index)
    log.info("analyzed %s in %.2fs", source, time.perf_counter() - t0)
    return out


def _rating_levels(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(level per rating (intp), value of each level, binned?)``: hashing, not sorting."""
    codes, uniques = pd.factorize(values, sort=True)
    if len(uniques) <= _MAX_LEVELS:
        return codes, np.asarray(uniques, dtype=np.float64), False
    lo, hi = float(values.min()), float(values.max())
    edges = np.linspace(lo, hi, 21)
    levels = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, 19)
    return levels, (edges[:-1] + edges[1:]) / 2, True


def _add_genres(
    out: Analysis,
    ratings: Ratings,
    movies: pd.DataFrame,
    item_hist: np.ndarray,
    item_sum: np.ndarray,
    levels: pd.Index,
) -> None:
    """Genre numbers: str.split + explode into (movie, genre) pairs, then a sparse product."""
    for col in ("movieId", "genres"):
        if col not in movies.columns:
            raise ValueError(
                f"movies table: missing column {col!r}; columns are {list(movies.columns)} "
                "(expected movieId and |-separated genres, as in MovieLens movies.csv)"
            )
    movies = movies[["movieId", "genres"]]
    dup = movies["movieId"].duplicated()
    if dup.any():
        out.notes.append(
            f"the movies table lists {int(dup.sum()):,} movie id(s) twice; the first row counts"
        )
        movies = movies[~dup.to_numpy()]
    ids = movies["movieId"].to_numpy()
    try:
        codes = ratings.item_index.get_indexer(ids)
    except (TypeError, ValueError):
        codes = ratings.item_index.get_indexer(pd.Index(ids, dtype=object))
    movies = movies.reset_index(drop=True)
    pairs = movies["genres"].fillna("").astype(str).str.split("|").explode()
    pair_movie = pairs.index.to_numpy()  # the movie's row, once per genre
    pair_genre = pairs.str.strip().replace("", "(no genres listed)").to_numpy(dtype=object)
    genre_codes, genre_names = pd.factorize(pair_genre)
    n_genres = len(genre_names)
    # movies of each genre in the table (rated or not)
    indicator_all = sp.csr_array(
        (np.ones(len(pair_movie)), (genre_codes, pair_movie)), shape=(n_genres, len(movies))
    )
    indicator_all.data[:] = 1.0  # a genre listed twice for one movie counts once
    n_movies_of = np.asarray(indicator_all.sum(axis=1)).ravel()
    # genre x item indicator over the rated items
    pair_item = codes[pair_movie]
    keep = pair_item >= 0
    indicator = sp.csr_array(
        (np.ones(int(keep.sum())), (genre_codes[keep], pair_item[keep])),
        shape=(n_genres, ratings.n_items),
    )
    indicator.sum_duplicates()
    indicator.data[:] = 1.0
    genre_hist = np.asarray(indicator @ item_hist.astype(np.float64))
    genre_sum = indicator @ item_sum
    rated = (item_hist.sum(axis=1) > 0).astype(np.float64)
    genre_rated_movies = indicator @ rated
    genre_n = genre_hist.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(genre_n > 0, genre_sum / np.maximum(genre_n, 1), np.nan)
    table = pd.DataFrame(
        {
            "movies": n_movies_of.astype(np.int64),
            "rated_movies": np.rint(genre_rated_movies).astype(np.int64),
            "ratings": np.rint(genre_n).astype(np.int64),
            "share": genre_n / out.n_ratings,
            "mean_rating": mean,
        },
        index=pd.Index(np.asarray(genre_names, dtype=object), name="genre"),
    )
    order = np.lexsort((-table["ratings"].to_numpy(), -np.nan_to_num(mean, nan=-np.inf)))
    out.genres = table.iloc[order]
    out.genre_rating_counts = pd.DataFrame(
        np.rint(genre_hist[order]).astype(np.int64), index=out.genres.index, columns=levels
    )
    listed = np.zeros(ratings.n_items, dtype=bool)
    listed[codes[codes >= 0]] = True
    missing = int(item_hist[~listed].sum())
    if missing:
        n_items_missing = int(np.count_nonzero(item_hist[~listed].sum(axis=1)))
        out.notes.append(
            f"{missing:,} ratings ({missing / out.n_ratings:.1%}) are of {n_items_missing:,} "
            "movie(s) missing from the movies table; they count in no genre"
        )


# ===================================================================== report


def report(
    ratings: Ratings | str | os.PathLike,
    movies: pd.DataFrame | str | os.PathLike | None = None,
    out_dir: str | os.PathLike = "eda",
    *,
    progress: bool | None = None,
) -> Path:
    """Write the post's five figures, ``summary.json`` and ``report.md`` into ``out_dir``.

    ``ratings`` and ``movies`` as in :func:`analyze`; without a movies table the two genre
    figures are left out (the report says so). ``progress``: a tqdm bar over the steps;
    ``None`` shows it when stderr is a terminal. Returns the path of ``report.md``, a short
    markdown report that embeds the PNG files by relative path (open it beside them).

    Raises ImportError, before any work, when matplotlib is missing
    (``pip install "fastrec[plots]"``).
    """
    from tqdm.auto import tqdm

    require_matplotlib()  # fail before any work when matplotlib is missing
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    show = sys.stderr.isatty() if progress is None else bool(progress)
    figures = [f for f in FIGURES if movies is not None or f not in _GENRE_FIGURES]
    steps = 1 + len(figures) + 1 + (not isinstance(ratings, Ratings))
    with tqdm(total=steps, desc="eda", unit="step", disable=not show, leave=False) as bar:
        if not isinstance(ratings, Ratings):
            bar.set_postfix_str("load")
            ratings = load_ratings(ratings)
            bar.update()
        bar.set_postfix_str("analyze")
        analysis = analyze(ratings, movies)
        bar.update()
        for name in figures:
            bar.set_postfix_str(name)
            t0 = time.perf_counter()
            fig = globals()[FIGURES[name][0]](analysis)
            fig.savefig(out / name, dpi=_DPI)
            log.info("wrote %s in %.2fs", out / name, time.perf_counter() - t0)
            bar.update()
        bar.set_postfix_str("report.md")
        (out / "summary.json").write_text(
            json.dumps(analysis.summary(), indent=2) + "\n", encoding="utf-8"
        )
        path = out / "report.md"
        path.write_text(_markdown(analysis, figures), encoding="utf-8")
        bar.update()
    return path


def _markdown(a: Analysis, figures: list[str]) -> str:
    d = a.describe
    lines = [
        f"# Exploratory analysis of {a.source}",
        "",
        "| | |",
        "|---|---:|",
        f"| users | {a.n_users:,} |",
        f"| movies (rated) | {a.n_movies:,} |",
        f"| ratings | {a.n_ratings:,} |",
        f"| sparsity | {a.sparsity:.4%} |",
        f"| ratings per user (median, mean) | {_med_mean(a.ratings_per_user)} |",
        f"| ratings per movie (median, mean) | {_med_mean(a.ratings_per_movie)} |",
        "",
        "## Ratings",
        "",
        "`describe()` of the ratings:",
        "",
        "| " + " | ".join(str(k) for k in d.index) + " |",
        "|" + "---:|" * len(d),
        "| " + " | ".join(_num(v) for v in d.to_numpy()) + " |",
        "",
        "![Rating histogram](rating_histogram.png)",
        "",
    ]
    if a.genres is not None:
        lines += [
            "## Genres",
            "",
            "A rating counts once for each genre of its movie. Highest mean rating first.",
            "",
            "| genre | movies | rated movies | ratings | share of ratings | mean rating |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in a.genres.itertuples():
            lines.append(
                f"| {r.Index} | {r.movies:,} | {r.rated_movies:,} | {r.ratings:,} | "
                f"{r.share:.1%} | {_num(r.mean_rating)} |"
            )
        lines += [
            "",
            "![Mean rating by genre](mean_rating_by_genre.png)",
            "",
            "![Rating histogram by genre](rating_histogram_by_genre.png)",
            "",
        ]
    else:
        lines += [
            "## Genres",
            "",
            "No movies table was given, so there are no genre figures (pass the release's "
            "movies.csv).",
            "",
        ]
    lines += [
        "## Activity",
        "",
        "![Ratings per movie](reviews_per_movie.png)",
        "",
        "![Ratings per user](reviews_per_user.png)",
        "",
    ]
    if a.notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in a.notes] + [""]
    missing = [f for f in FIGURES if f not in figures]
    text = "\n".join(lines)
    for name in missing:  # never link an image that was not written
        text = text.replace(f"![{FIGURES[name][1]}]({name})\n\n", "")
    return text


def _num(v) -> str:
    v = float(v)
    if math.isnan(v):
        return "n/a"
    return f"{v:,.0f}" if v == round(v) and abs(v) >= 100 else f"{v:.3f}"


def _med_mean(counts: np.ndarray) -> str:
    return f"{np.median(counts):,.0f}, {counts.mean():,.1f}"


def _count_summary(counts: np.ndarray) -> dict:
    return {
        "min": int(counts.min()),
        "median": float(np.median(counts)),
        "mean": float(counts.mean()),
        "max": int(counts.max()),
        "share_with_one": float(np.mean(counts == 1)),
    }


# ==================================================================== figures


def require_matplotlib():
    """``(Figure, FigureCanvasAgg, ticker)``; an ImportError saying how to install matplotlib."""
    try:
        from matplotlib import ticker
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            'the EDA figures need matplotlib, an optional dependency: pip install "fastrec[plots]"'
        ) from None
    return Figure, FigureCanvasAgg, ticker


def _figure(width: float, height: float, layout: str | None = "constrained"):
    Figure, FigureCanvasAgg, _ = require_matplotlib()
    fig = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(fig)  # the Agg canvas, whatever pyplot's backend is
    return fig


def _short_source(a: Analysis) -> str:
    src = a.source
    parts = Path(src).parts if not src.startswith("synthetic:") else (src,)
    return "/".join(parts[-2:]) if len(parts) > 1 else src


def _count_formatter():
    _, _, ticker = require_matplotlib()

    def fmt(v, _pos):
        if v >= 1e6:
            return f"{v / 1e6:g}M"
        if v >= 1e3:
            return f"{v / 1e3:g}k"
        return f"{v:g}"

    return ticker.FuncFormatter(fmt)


def _need_genres(a: Analysis) -> None:
    if a.genres is None:
        raise ValueError("no genre numbers: analyze() was given no movies table")


def plot_genre_means(a: Analysis):
    """Horizontal bars: mean rating of each genre (highest on top); the number of ratings
    beside each genre's name, the mean of all ratings as a dashed line."""
    _need_genres(a)
    g = a.genres[a.genres["ratings"] > 0].iloc[::-1]  # barh draws bottom-up
    fig = _figure(8.5, 1.4 + 0.32 * len(g))
    ax = fig.add_subplot()
    y = np.arange(len(g))
    ax.barh(y, g["mean_rating"], color="#4C72B0", height=0.7)
    # the values in a column right of the rating scale, where no bar or line can reach them
    top = max(float(a.rating_counts.index.max()), float(g["mean_rating"].max()))
    for yi, mean in enumerate(g["mean_rating"]):
        ax.text(top + 0.12, yi, f"{mean:.2f}", va="center", fontsize=8)
    ax.text(top + 0.12, len(g) - 0.2, "mean", va="bottom", fontsize=8, fontweight="bold")
    overall = float(a.describe["mean"])
    ax.axvline(overall, color="#C44E52", linestyle="--", linewidth=1.2)
    ax.text(overall, len(g) - 0.2, f" all ratings: {overall:.2f}", color="#C44E52",
            fontsize=8, va="bottom", ha="center")  # fmt: skip
    ax.set_yticks(y, [f"{name}  ({n:,})" for name, n in zip(g.index, g["ratings"], strict=True)])
    ax.set_ylim(-0.6, len(g) + 0.5)
    ax.set_xlim(0, top + 0.55)
    ax.set_xticks(np.arange(0, np.floor(top) + 1))
    ax.spines[["right", "top"]].set_visible(False)
    ax.set_xlabel("Mean rating (stars); in brackets: number of ratings of the genre")
    ax.set_title(f"Mean rating by genre — {_short_source(a)}")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return fig


def plot_rating_histogram(a: Analysis):
    """Bars: number of ratings at each rating value, with its share of all ratings."""
    counts = a.rating_counts
    values = counts.index.to_numpy(dtype=float)
    step = float(np.min(np.diff(values))) if len(values) > 1 else 1.0
    fig = _figure(8, 4.8)
    ax = fig.add_subplot()
    ax.bar(values, counts.to_numpy(), width=0.8 * step, color="#4C72B0")
    for v, c in zip(values, counts.to_numpy(), strict=True):
        ax.text(v, c, f"{c / a.n_ratings:.1%}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(values, [f"{v:g}" for v in values])
    ax.yaxis.set_major_formatter(_count_formatter())
    ax.set_ylim(0, counts.max() * 1.12)
    ax.set_xlabel("Rating (stars)")
    ax.set_ylabel("Number of ratings")
    ax.set_title(
        f"Rating histogram — {_short_source(a)} ({a.n_ratings:,} ratings, "
        f"mean {a.describe['mean']:.2f})"
    )
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return fig


def plot_rating_histogram_by_genre(a: Analysis, ncols: int = 5):
    """Small multiples: share of each genre's ratings at each value (most rated genre first),
    against the distribution of all ratings (black outline)."""
    _need_genres(a)
    counts = a.genre_rating_counts
    counts = counts[counts.sum(axis=1) > 0]
    counts = counts.loc[a.genres.loc[counts.index, "ratings"].sort_values(ascending=False).index]
    values = counts.columns.to_numpy(dtype=float)
    step = float(np.min(np.diff(values))) if len(values) > 1 else 1.0
    overall = a.rating_counts.to_numpy() / a.n_ratings * 100
    n = len(counts)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    # A fixed layout in inches: constrained layout takes seconds on 20 panels.
    left, right, top, bottom, gap_x, gap_y, panel_w, panel_h = (
        0.8,
        0.2,
        1.0,
        0.7,
        0.2,
        0.6,
        2.4,
        1.6,
    )
    width = left + right + ncols * panel_w + (ncols - 1) * gap_x
    height = top + bottom + nrows * panel_h + (nrows - 1) * gap_y
    fig = _figure(width, height, layout=None)
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        top=1 - top / height,
        bottom=bottom / height,
        wspace=gap_x / panel_w,
        hspace=gap_y / panel_h,
    )
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False)
    whole = values[np.isclose(values, np.round(values))]
    ticks = whole if len(whole) >= 3 else values
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.set_visible(False)
            continue
        genre = counts.index[k]
        row = counts.iloc[k].to_numpy()
        share = row / row.sum() * 100
        ax.bar(values, share, width=0.8 * step, color="#4C72B0", label="this genre")
        ax.stairs(overall, np.append(values - step / 2, values[-1] + step / 2), color="black",
                  linewidth=0.9, label="all ratings")  # fmt: skip
        mean = a.genres.loc[genre, "mean_rating"]
        ax.set_title(f"{genre}\n{int(row.sum()):,} ratings, mean {mean:.2f}", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    axes.flat[0].set_xticks(ticks, [f"{v:g}" for v in ticks])  # shared by every panel
    handles, labels = axes.flat[0].get_legend_handles_labels()
    corner = (1 - right / width, 1 - 0.1 / height)
    fig.legend(handles, labels, loc="upper right", bbox_to_anchor=corner, fontsize=9, ncols=2,
               frameon=False)  # fmt: skip
    fig.supxlabel("Rating (stars)", y=0.15 / height, va="bottom")
    fig.supylabel("Share of the genre's ratings (%)", x=0.15 / width, ha="left")
    fig.suptitle(f"Rating histogram by genre — {_short_source(a)}", y=1 - 0.12 / height, va="top")
    return fig


def _plot_counts(a: Analysis, counts: np.ndarray, what: str, per: str):
    fig = _figure(8, 4.8)
    ax = fig.add_subplot()
    low, top = int(counts.min()), int(counts.max())
    edges = np.unique(np.round(np.geomspace(low, top + 1, 40)))
    if len(edges) < 2:
        edges = np.array([low, top + 1.0])
    hist, _ = np.histogram(counts, bins=edges)
    ax.stairs(hist, edges, fill=True, color="#4C72B0", alpha=0.85)
    ax.set_xscale("log")
    ax.set_yscale("log")
    _, _, ticker = require_matplotlib()
    plain = ticker.FuncFormatter(lambda v, _pos: f"{v:,.0f}" if v >= 1 else f"{v:g}")
    for axis, subs in ((ax.xaxis, (1.0, 2.0, 5.0)), (ax.yaxis, (1.0,))):
        axis.set_major_locator(ticker.LogLocator(base=10, subs=subs))
        axis.set_major_formatter(plain)  # 20, 50, 100, 1,000: no 2x10^1
        axis.set_minor_formatter(ticker.NullFormatter())
    median, mean = float(np.median(counts)), float(counts.mean())
    ax.axvline(median, color="#C44E52", linestyle="--", linewidth=1.2, label=f"median {median:g}")
    ax.axvline(mean, color="#DD8452", linestyle=":", linewidth=1.5, label=f"mean {mean:,.1f}")
    ax.set_xlabel(f"Number of ratings of a {per} (log scale)")
    ax.set_ylabel(f"Number of {what} (log scale)")
    ax.set_title(f"Ratings per {per} — {_short_source(a)} ({len(counts):,} {what})", pad=20)
    # the figures in a subtitle, the legend in headroom above the bars: nothing covers a bar
    note = (
        f"min {low:,}, max {top:,};  {np.mean(counts == 1):.1%} of {what} have 1 rating;  "
        f"the top 10% of {what} have {_top_share(counts):.0%} of the ratings"
    )
    ax.text(0.5, 1.015, note, transform=ax.transAxes, ha="center", va="bottom", fontsize=8.5)
    ax.set_ylim(0.7, hist.max() * 6)
    ax.legend(loc="upper right", fontsize=8, ncols=2)
    ax.grid(alpha=0.3, which="major")
    ax.set_axisbelow(True)
    return fig


def _top_share(counts: np.ndarray) -> float:
    k = max(1, len(counts) // 10)
    return float(np.partition(counts, len(counts) - k)[-k:].sum() / counts.sum())


def plot_reviews_per_movie(a: Analysis):
    """Distribution of the number of ratings per movie (log-spaced bins, log-log axes)."""
    return _plot_counts(a, a.ratings_per_movie, "movies", "movie")


def plot_reviews_per_user(a: Analysis):
    """Distribution of the number of ratings per user (log-spaced bins, log-log axes)."""
    return _plot_counts(a, a.ratings_per_user, "users", "user")
