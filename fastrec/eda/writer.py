"""The exploratory analysis written to a directory: :func:`report` saves the five figures,
``summary.json`` and ``report.md``, a short markdown report that embeds the figures."""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import Ratings
from ..io import load_ratings
from .analysis import Analysis, analyze
from .figures import FIGURES, GENRE_FIGURES, draw_figure, require_matplotlib

log = logging.getLogger(__name__)

__all__ = ["report"]

_DPI = 110


def report(
    ratings: Ratings | str | os.PathLike,
    movies: pd.DataFrame | str | os.PathLike | None = None,
    out_dir: str | os.PathLike = "eda",
    *,
    show_progress: bool | None = None,
) -> Path:
    """Write the post's five figures, ``summary.json`` and ``report.md`` into ``out_dir``.

    ``ratings`` and ``movies`` as in :func:`analyze`; without a movies table the two genre
    figures are left out (the report says so). ``show_progress``: a tqdm bar over the steps;
    ``None`` shows it when stderr is a terminal. Returns the path of ``report.md``, a short
    markdown report that embeds the PNG files by relative path (open it beside them).

    Raises ImportError, before any work, when matplotlib is missing
    (``pip install "fastrec[plots]"``).
    """
    from tqdm.auto import tqdm

    require_matplotlib()  # fail before any work when matplotlib is missing
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    show = sys.stderr.isatty() if show_progress is None else bool(show_progress)
    figures = [f for f in FIGURES if movies is not None or f not in GENRE_FIGURES]
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
            fig = draw_figure(name, analysis)
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
