"""The numbers of the exploratory analysis: :class:`Analysis` and :func:`analyze`.

Every number is computed from whole arrays: the post unpacks genres by building one DataFrame
per movie (hours at ml-25m); here ``genres.str.split("|").explode()`` gives the (movie, genre)
pairs once, and a sparse genre x movie indicator matrix turns per-movie rating histograms
(one ``np.bincount``) into per-genre ones with one product. No matplotlib needed.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..data import Ratings
from ..io import load_ratings
from ..movies import NO_GENRES, load_movies

log = logging.getLogger(__name__)

__all__ = ["Analysis", "analyze"]

#: Above this many distinct rating values the histograms bin the ratings (20 equal bins).
_MAX_LEVELS = 30


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
        (:func:`fastrec.movies.load_movies`: movies.csv, movies.dat, u.item), or None
        (no genre numbers). Its ``movieId`` are matched to the ratings' raw item ids.

    Notes
    -----
    Cost: O(ratings) numpy passes (a ``bincount`` of ratings per movie and rating value,
    ``describe()``) and O(movies x genres) for the genres; at ml-25m a few seconds and a few
    hundred MB beside the ratings.
    """
    t0 = time.perf_counter()
    if not isinstance(ratings, Ratings):
        ratings = load_ratings(ratings)
    if movies is not None and not isinstance(movies, pd.DataFrame):
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
    pair_genre = pairs.str.strip().replace("", NO_GENRES).to_numpy(dtype=object)
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


def _count_summary(counts: np.ndarray) -> dict:
    return {
        "min": int(counts.min()),
        "median": float(np.median(counts)),
        "mean": float(counts.mean()),
        "max": int(counts.max()),
        "share_with_one": float(np.mean(counts == 1)),
    }
