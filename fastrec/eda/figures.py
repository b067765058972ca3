"""The post's five figures of an :class:`~fastrec.eda.analysis.Analysis`, one
``matplotlib.figure.Figure`` each: mean rating by genre, the rating histogram, the rating
histogram by genre, and the distributions of ratings per movie and per user.

Figures are drawn on matplotlib's Agg canvas (``matplotlib.figure.Figure``), without pyplot,
so the backend of an interactive session is left alone; matplotlib is the optional extra
``plots`` (``pip install "fastrec[plots]"``) and is imported only when a figure is drawn. No
figure ever sees more points than it has bars.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .analysis import Analysis

__all__ = [
    "FIGURES",
    "GENRE_FIGURES",
    "require_matplotlib",
    "draw_figure",
    "plot_genre_means",
    "plot_rating_histogram",
    "plot_rating_histogram_by_genre",
    "plot_reviews_per_movie",
    "plot_reviews_per_user",
]

#: The figures :func:`fastrec.eda.report` writes: file name -> (function name, caption).
FIGURES = {
    "mean_rating_by_genre.png": ("plot_genre_means", "Mean rating by genre"),
    "rating_histogram.png": ("plot_rating_histogram", "Rating histogram"),
    "rating_histogram_by_genre.png": ("plot_rating_histogram_by_genre", "Ratings by genre"),
    "reviews_per_movie.png": ("plot_reviews_per_movie", "Ratings per movie"),
    "reviews_per_user.png": ("plot_reviews_per_user", "Ratings per user"),
}
#: The figures of :data:`FIGURES` that need genre numbers (a movies table).
GENRE_FIGURES = ("mean_rating_by_genre.png", "rating_histogram_by_genre.png")


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


def draw_figure(name: str, a: Analysis):
    """The figure :data:`FIGURES` lists under the file name ``name``, drawn from ``a``."""
    return globals()[FIGURES[name][0]](a)
