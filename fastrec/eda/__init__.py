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

The package's modules: :mod:`~fastrec.eda.analysis` (the numbers), :mod:`~fastrec.eda.figures`
(the matplotlib drawings) and :mod:`~fastrec.eda.writer` (the files of :func:`report`).
"""

from __future__ import annotations

from .analysis import Analysis, analyze
from .figures import (
    FIGURES,
    plot_genre_means,
    plot_rating_histogram,
    plot_rating_histogram_by_genre,
    plot_reviews_per_movie,
    plot_reviews_per_user,
    require_matplotlib,
)
from .writer import report

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
