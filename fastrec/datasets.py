"""Synthetic ratings shaped like the MovieLens releases, and a MovieLens ``ratings.csv`` writer.

>>> ratings = synthetic("ml-100k", seed=0)  # doctest: +SKIP
>>> write_csv(ratings, "ratings.csv")  # doctest: +SKIP
>>> movies = synthetic_movies("ml-100k", seed=0)  # movieId, title, genres  # doctest: +SKIP

The real releases, downloaded from GroupLens and cached: :func:`movielens` (ratings) and
:func:`movielens_movies` (titles, genres), from :mod:`fastrec.movielens`; a movies file read
from disk: :func:`load_movies`, from :mod:`fastrec.movies`.

The generator (:func:`synthetic`) matches each release's numbers of users, items and
ratings exactly and its rating scale, mean and spread approximately, with heavy-tailed user
activity and item popularity and a low-rank taste model, so that benchmarks at ml-25m scale
run without the (research-licensed) files, and better models score better on it.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from .data import COLUMNS, Ratings
from .kernels.synthetic import (
    draw_user_timestamps,
    fill_unrated_items,
    sample_user_items,
    score_user_items,
    sort_user_items,
)
from .movielens import RELEASES, default_cache_dir, download_movielens, movielens, movielens_movies
from .movies import join_genre_flags, load_movies

log = logging.getLogger(__name__)

__all__ = [
    "SHAPES",
    "Shape",
    "synthetic",
    "synthetic_movies",
    "write_csv",
    "RELEASES",
    "movielens",
    "movielens_movies",
    "download_movielens",
    "default_cache_dir",
    "load_movies",
]

#: Every synthetic user rates at least this many items (as in every MovieLens release).
MIN_USER_RATINGS = 20


def _epoch(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp())


@dataclass(frozen=True)
class Shape:
    """The numbers of one MovieLens release that :func:`synthetic` reproduces.

    ``n_users``, ``n_items``, ``n_ratings`` are matched exactly; ``mean`` and ``std`` (of
    the real ratings) approximately. ``step`` is the rating grid (1.0: whole stars 1..5;
    0.5: half stars 0.5..5). ``activity_sigma`` is the spread (lognormal sigma) of user
    activity above the 20-rating floor, ``max_user_share`` caps one user's ratings at that
    share of the items. Item ``i`` of popularity rank ``k`` (1 = most popular) is drawn with
    weight ``(k + zipf_offset) ** -zipf_exponent``; both are tuned so that the most popular
    item is rated by about ``top_share`` of the users, as in the release. Timestamps fall
    between ``first_day`` and ``last_day`` (ISO dates, UTC), the release's range.
    """

    name: str
    n_users: int
    n_items: int
    n_ratings: int
    step: float
    mean: float
    std: float
    activity_sigma: float
    top_share: float
    zipf_exponent: float
    zipf_offset: float
    first_day: str
    last_day: str
    max_user_share: float = 0.5
    max_rating: float = 5.0

    @property
    def min_rating(self) -> float:
        """Lowest rating of the scale: one step (1 for whole stars, 0.5 for half stars)."""
        return self.step


#: The MovieLens releases, by name (``Shape.top_share``: share of users who rated the most
#: popular movie in the real release).
SHAPES: dict[str, Shape] = {
    s.name: s
    for s in (
        Shape("ml-100k", 943, 1_682, 100_000, 1.0, 3.530, 1.126, 1.15, 0.618,
              1.0, 18.75, "1997-09-20", "1998-04-22"),
        Shape("ml-latest-small", 610, 9_724, 100_836, 0.5, 3.502, 1.043, 1.45, 0.539,
              1.25, 45.75, "1996-03-29", "2018-09-24"),
        Shape("ml-1m", 6_040, 3_706, 1_000_209, 1.0, 3.582, 1.117, 1.15, 0.568,
              1.0, 27.5, "2000-04-25", "2003-02-28"),
        Shape("ml-10m", 69_878, 10_677, 10_000_054, 0.5, 3.512, 1.060, 1.38, 0.499,
              1.0, 19.4, "1995-01-09", "2009-01-05"),
        Shape("ml-20m", 138_493, 26_744, 20_000_263, 0.5, 3.526, 1.052, 1.38, 0.486,
              1.0, 17.5, "1995-01-09", "2015-03-31"),
        Shape("ml-25m", 162_541, 59_047, 25_000_095, 0.5, 3.534, 1.061, 1.39, 0.501,
              1.0, 15.0, "1995-01-09", "2019-11-21"),
    )
}  # fmt: skip

# Generative model constants (before the affine calibration to the shape's mean and std).
_RANK = 10  # rank of the taste model p_u . q_i
_USER_BIAS_SD = 0.45
_ITEM_BIAS_SD = 0.42
_POPULARITY_EFFECT = 0.15  # item bias per standard deviation of log popularity
_INTERACTION_SD = 0.6  # standard deviation of p_u . q_i
_NOISE_SD = 0.7
_SWITCH_MASS = 0.75  # see sample_user_items
_BLOCK_USERS = 8192  # users per sampling call: fixes the seeds, so not a tuning knob
_CALIBRATION_SAMPLE = 400_000


def synthetic(shape: str | Shape, seed: int = 0, *, show_progress: bool = False) -> Ratings:
    """Ratings shaped like a MovieLens release, drawn from a known low-rank model.

    Shapes (``SHAPES``; counts exact; mean, std and the share of users who rated the most
    popular movie are the real release's, approximated)::

        name              users     items     ratings      scale             mean  std   top
        ml-100k             943     1,682       100,000   1..5 whole stars  3.53  1.13  0.62
        ml-latest-small     610     9,724       100,836   0.5..5 half       3.50  1.04  0.54
        ml-1m             6,040     3,706     1,000,209   1..5 whole stars  3.58  1.12  0.57
        ml-10m           69,878    10,677    10,000,054   0.5..5 half       3.51  1.06  0.50
        ml-20m          138,493    26,744    20,000,263   0.5..5 half       3.53  1.05  0.49
        ml-25m          162,541    59,047    25,000,095   0.5..5 half       3.53  1.06  0.50

    Generative model (``N`` ratings, ``U`` users, ``I`` items, grid step ``h``)::

        n_u   = 20 + e_u,  e_u ∝ LogNormal(0, activity_sigma), scaled and rounded so that
                sum n_u = N, each n_u <= max_user_share * I
        w_i   = (rank_i + zipf_offset) ** -zipf_exponent,  rank = random permutation of 1..I
        R(u)  = n_u distinct items drawn one after another with P(i) ∝ w_i (successive
                sampling); then every item left unrated takes over one rating from an
                item with two or more (so every item has a rating)
        b_u   ~ N(0, 0.45²)
        b_i   = 0.42 z_i + 0.15 * standardized(log w_i),  z_i ~ N(0, 1)  (popular: better)
        p_u, q_i ~ N(0, σ² I_10),  σ² = 0.6 / sqrt(10)   (so sd(p_u . q_i) = 0.6)
        x_ui  = b_u + b_i + p_u . q_i + ε_ui,  ε_ui ~ N(0, 0.7²)
        r_ui  = clip(h * round((m + s * (x_ui - mean(x))) / h), h, 5)

    where ``m`` and ``s`` are solved on a sample of ``x`` so that the ratings have the
    shape's mean and std. So a model of user and item biases beats the global mean, a rank
    ~10 factor model beats biases, and nothing beats about ``s * 0.7`` RMSE (plus
    rounding). Timestamps (int64 seconds): user ``u`` starts at ``t_u`` uniform in the
    release's date range and rates uniformly in ``[t_u, t_u + v_u^3 (end - t_u)]``, ``v_u``
    uniform in [0, 1].

    Not matched: the far tail of item popularity. The Zipf law is tuned on the head (the top
    movies' counts come out close to the real ones), and beyond ml-1m its tail is lighter
    than the real one, where many movies have only a handful of ratings (synthetic ml-25m:
    median 124 ratings per movie, least-rated 38). Users' counts are 20 plus a lognormal
    share, so few users sit at exactly 20.

    Guarantees: exactly the shape's numbers of users, items and ratings (every user and every
    item has at least one rating, so ``n_users``/``n_items`` are those of the ratings too);
    every user has at least 20 ratings; no (user, item) pair twice; every rating on the
    grid and within the scale; raw ids ``1..n`` (``userId``, ``movieId``); ratings grouped by
    user, items sorted within a user (as in MovieLens files); the same ``seed`` gives
    identical arrays on any machine with the same NumPy/Numba random streams.

    Parameters
    ----------
    shape : str or Shape
        A name from ``SHAPES``, or a :class:`Shape` of your own (e.g. a tiny test set).
    seed : int >= 0
    show_progress : bool
        Show a tqdm progress bar over the users while their items are sampled (the
        longest phase). Phase timings go to the ``fastrec.datasets`` logger (INFO).

    Raises
    ------
    ValueError
        For an unknown shape name (the message lists the valid ones), a negative seed, or a
        Shape whose counts cannot be met (fewer than 20 ratings per user, more than the cap,
        fewer ratings than items).
    """
    spec = _resolve_shape(shape)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    t_start = time.perf_counter()
    root = np.random.SeedSequence(int(seed))
    param_ss, block_ss, fill_ss, score_ss, time_ss = root.spawn(5)
    rng = np.random.default_rng(param_ss)
    n_users, n_items, n_ratings = spec.n_users, spec.n_items, spec.n_ratings

    # --- who rates how much, and which items
    t0 = time.perf_counter()
    counts = _draw_user_counts(rng, spec)
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    rank = rng.permutation(n_items).astype(np.float64) + 1.0
    log_w = -spec.zipf_exponent * np.log(rank + spec.zipf_offset)
    weights = np.exp(log_w - log_w.max())
    cdf = np.cumsum(weights)
    items = np.empty(n_ratings, dtype=np.int32)
    marker = np.full(n_items, -1, dtype=np.int64)
    n_blocks = -(-n_users // _BLOCK_USERS)
    block_seeds = block_ss.generate_state(n_blocks)
    bar = _progress(show_progress, n_users, f"synthetic {spec.name}")
    try:
        for b in range(n_blocks):
            lo, hi = b * _BLOCK_USERS, min((b + 1) * _BLOCK_USERS, n_users)
            sample_user_items(
                indptr, lo, hi, cdf, weights, _SWITCH_MASS, marker, items, int(block_seeds[b])
            )
            if bar is not None:
                bar.update(hi - lo)
    finally:
        if bar is not None:
            bar.close()
    del marker
    item_counts = np.bincount(items, minlength=n_items).astype(np.int64)
    moved = fill_unrated_items(items, item_counts, int(fill_ss.generate_state(1)[0]))
    sort_user_items(indptr, items)
    log.info(
        "%s: sampled %s (user, item) pairs in %.2fs (%d moved to unrated items)",
        spec.name,
        f"{n_ratings:,}",
        time.perf_counter() - t0,
        moved,
    )

    # --- the taste model and the ratings
    t0 = time.perf_counter()
    user_bias = rng.normal(0.0, _USER_BIAS_SD, n_users)
    pop = (log_w - log_w.mean()) / (log_w.std() or 1.0)
    item_bias = rng.normal(0.0, _ITEM_BIAS_SD, n_items) + _POPULARITY_EFFECT * pop
    factor_sd = np.sqrt(_INTERACTION_SD / np.sqrt(_RANK))
    user_factors = rng.normal(0.0, factor_sd, (n_users, _RANK))
    item_factors = rng.normal(0.0, factor_sd, (n_items, _RANK))
    values = score_user_items(
        indptr,
        items,
        user_bias,
        item_bias,
        user_factors,
        item_factors,
        _NOISE_SD,
        int(score_ss.generate_state(1)[0]),
    )
    sample = values[rng.integers(0, n_ratings, size=min(n_ratings, _CALIBRATION_SAMPLE))]
    center, offset, scale = _calibrate(sample, spec)
    values -= center  # in place: no 25M-element temporaries
    values *= scale
    values += offset
    _quantize(values, spec)
    log.info(
        "%s: ratings drawn in %.2fs (mean %.3f, std %.3f; targets %.3f, %.3f)",
        spec.name,
        time.perf_counter() - t0,
        values.mean(),
        values.std(),
        spec.mean,
        spec.std,
    )

    # --- timestamps: each user active in a window inside the release's dates
    t_first, t_last = _epoch(spec.first_day), _epoch(spec.last_day)
    first = rng.integers(t_first, t_last, size=n_users, endpoint=True)
    span = ((t_last - first) * rng.random(n_users) ** 3).astype(np.int64)
    timestamps = draw_user_timestamps(indptr, first, span, int(time_ss.generate_state(1)[0]))

    user_codes = np.repeat(np.arange(n_users, dtype=np.int32), counts)
    out = Ratings(
        pd.Index(np.arange(1, n_users + 1, dtype=np.int64), name="userId"),
        pd.Index(np.arange(1, n_items + 1, dtype=np.int64), name="movieId"),
        user_codes,
        items,
        values,
        timestamps,
        source=f"synthetic:{spec.name}(seed={int(seed)})",
    )
    log.info("%s: generated %r in %.2fs", spec.name, out, time.perf_counter() - t_start)
    return out


def _resolve_shape(shape: str | Shape) -> Shape:
    if isinstance(shape, Shape):
        spec = shape
    elif isinstance(shape, str) and shape in SHAPES:
        spec = SHAPES[shape]
    else:
        raise ValueError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")
    cap = _user_cap(spec)
    if spec.step <= 0 or spec.max_rating < spec.step:
        raise ValueError(f"shape {spec.name!r}: step must be in (0, max_rating], got {spec.step}")
    if spec.n_users < 1 or spec.n_items < 1:
        raise ValueError(f"shape {spec.name!r}: needs at least one user and one item")
    if cap < MIN_USER_RATINGS:
        raise ValueError(
            f"shape {spec.name!r}: {spec.n_items} items with max_user_share "
            f"{spec.max_user_share} leave fewer than {MIN_USER_RATINGS} items per user"
        )
    if not MIN_USER_RATINGS * spec.n_users <= spec.n_ratings <= cap * spec.n_users:
        raise ValueError(
            f"shape {spec.name!r}: {spec.n_ratings:,} ratings for {spec.n_users:,} users; "
            f"need between {MIN_USER_RATINGS} and {cap} per user"
        )
    if spec.n_ratings < spec.n_items:
        raise ValueError(
            f"shape {spec.name!r}: {spec.n_ratings:,} ratings cannot cover {spec.n_items:,} "
            "items (every item gets a rating)"
        )
    return spec


def _user_cap(spec: Shape) -> int:
    return min(spec.n_items, int(spec.max_user_share * spec.n_items))


def _draw_user_counts(rng: np.random.Generator, spec: Shape) -> np.ndarray:
    """``int64[n_users]``: ratings per user, >= 20, <= the cap, summing to ``n_ratings``.

    20 plus a lognormal share of the rest, water-filled under the cap, then rounded by
    largest remainders so that the total is exact.
    """
    n_users = spec.n_users
    room = _user_cap(spec) - MIN_USER_RATINGS
    extra_total = spec.n_ratings - MIN_USER_RATINGS * n_users
    weight = rng.lognormal(0.0, spec.activity_sigma, n_users)
    extra = np.zeros(n_users)
    free = np.ones(n_users, dtype=bool)
    remaining = float(extra_total)
    while free.any():
        share = weight[free] * (remaining / weight[free].sum())
        over = share > room
        if not over.any():
            extra[free] = share
            break
        capped = np.flatnonzero(free)[over]
        extra[capped] = room
        free[capped] = False
        remaining -= room * len(capped)
    whole = np.minimum(np.floor(extra), room).astype(np.int64)
    short = extra_total - int(whole.sum())
    if short > 0:
        order = np.argsort(-(extra - whole), kind="stable")
        order = order[whole[order] < room][:short]
        whole[order] += 1
    counts = MIN_USER_RATINGS + whole
    assert counts.sum() == spec.n_ratings, (counts.sum(), spec.n_ratings)
    return counts


def _quantize(values: np.ndarray, spec: Shape) -> np.ndarray:
    """Round to the grid and clip to the scale, in place."""
    values /= spec.step
    np.rint(values, out=values)
    values *= spec.step
    np.clip(values, spec.min_rating, spec.max_rating, out=values)
    return values


def _calibrate(sample: np.ndarray, spec: Shape) -> tuple[float, float, float]:
    """``(center, offset, scale)`` so that ``quantize(offset + scale * (x - center))`` has the
    shape's mean and std (on ``sample``, a few fixed-point steps)."""
    center = float(sample.mean())
    x = sample - center
    sd = float(x.std()) or 1.0
    offset, scale = spec.mean, spec.std / sd
    for _ in range(60):
        r = _quantize(offset + scale * x, spec)
        mean, std = float(r.mean()), float(r.std())
        if abs(mean - spec.mean) < 1e-4 and abs(std - spec.std) < 1e-4:
            break
        scale *= spec.std / max(std, 1e-9)
        offset += spec.mean - mean
    return center, offset, scale


def _progress(show: bool, total: int, desc: str):
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="user", unit_scale=True)


def write_csv(ratings: Ratings, path: str | os.PathLike) -> None:
    """Write ``ratings`` as a MovieLens ``ratings.csv`` (``userId,movieId,rating,timestamp``).

    Raw ids, one row per rating in the order of ``ratings``; :func:`fastrec.load_ratings`
    reads it back to the same ratings, timestamps and raw ids per row (its id maps hold only
    the ids that occur). Ratings are written in their shortest exact form (``4`` for 4.0,
    ``3.5``). Needs integer raw ids and timestamps, as the MovieLens format does.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if not isinstance(ratings, Ratings):
        raise TypeError(f"write_csv expects Ratings, got {type(ratings).__name__}")
    if ratings.timestamps is None:
        raise ValueError(
            f"{path}: ratings.csv needs timestamps, and these ratings ({ratings.source}) have none"
        )
    for label, index in (("user", ratings.user_index), ("item", ratings.item_index)):
        if index.dtype.kind not in "iu":
            raise ValueError(
                f"{path}: ratings.csv needs integer {label} ids, got dtype {index.dtype}"
            )
    t0 = time.perf_counter()
    table = pa.table(
        {
            COLUMNS[0]: ratings.user_ids,
            COLUMNS[1]: ratings.item_ids,
            COLUMNS[2]: ratings.ratings,
            COLUMNS[3]: ratings.timestamps,
        }
    )
    # The header is written by hand: pyarrow quotes column names unless told otherwise, its
    # quoting_header option is recent, and MovieLens files have them bare.
    with open(path, "wb") as f:
        f.write((",".join(COLUMNS) + "\n").encode())
        pacsv.write_csv(
            table, f, write_options=pacsv.WriteOptions(include_header=False, batch_size=1 << 16)
        )
    log.info("wrote %s ratings to %s in %.2fs", f"{len(ratings):,}", path, time.perf_counter() - t0)


#: Movies per genre in ml-latest-small (2018) ``movies.csv``, 9,742 movies: the genre
#: frequencies that :func:`synthetic_movies` draws from.
GENRE_COUNTS = {
    "Drama": 4361, "Comedy": 3756, "Thriller": 1894, "Action": 1828, "Romance": 1596,
    "Adventure": 1263, "Crime": 1199, "Sci-Fi": 980, "Horror": 978, "Fantasy": 779,
    "Children": 664, "Animation": 611, "Mystery": 573, "Documentary": 440, "War": 382,
    "Musical": 334, "Western": 167, "IMAX": 158, "Film-Noir": 87,
}  # fmt: skip
_NO_GENRES_SHARE = 34 / 9742  # "(no genres listed)" in the same file
#: Share of its movies with 1, 2, ... 6 genres (ml-latest-small 2018; 7+ folded into 6).
_GENRES_PER_MOVIE = (2851, 3218, 2338, 987, 271, 77)


def synthetic_movies(shape: str | Shape, seed: int = 0) -> pd.DataFrame:
    """A movies table for :func:`synthetic` ratings: ``movieId, title, genres``.

    One row per item of the shape (``movieId`` 1..n_items, the ids of :func:`synthetic`),
    with MovieLens-like ``|``-separated genres: the number of genres per movie follows
    ml-latest-small's ``movies.csv`` and each genre's frequency approximately (Drama on 40%
    of the movies against 45% there, Film-Noir on 0.9%, 0.3% with ``"(no genres listed)"``),
    genres sorted alphabetically within a movie as MovieLens writes them. Titles are
    ``"Synthetic movie 17 (1994)"``. The synthetic ratings do not depend on the genres (the
    mean rating by genre is flat): the table is for exercising and timing genre code such as
    :mod:`fastrec.eda`.
    """
    spec = _resolve_shape(shape)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x6E7E5]))
    n = spec.n_items
    names = np.array(sorted(GENRE_COUNTS), dtype=object)
    weights = np.array([GENRE_COUNTS[g] for g in names], dtype=np.float64)
    per_movie = np.array(_GENRES_PER_MOVIE, dtype=np.float64)
    k = rng.choice(np.arange(1, len(per_movie) + 1), size=n, p=per_movie / per_movie.sum())
    # k distinct genres per movie, drawn one after another with P ~ weight, for all movies at
    # once: the k largest of log(weight) + Gumbel noise (the Gumbel-top-k trick). Drawing
    # without replacement flattens the frequencies a little (Drama 40% instead of 45%).
    keys = np.log(weights)[None, :] + rng.gumbel(size=(n, len(names)))
    order = np.argsort(-keys, axis=1)
    chosen = np.zeros((n, len(names)), dtype=bool)
    rows = np.repeat(np.arange(n), k)
    ranks = np.arange(len(rows)) - np.repeat(np.cumsum(k) - k, k)
    chosen[rows, order[rows, ranks]] = True
    chosen[rng.random(n) < _NO_GENRES_SHARE] = False
    genres = join_genre_flags(chosen, names)  # alphabetical within a movie: names is sorted
    years = rng.integers(1920, 2020, size=n)
    ids = np.arange(1, n + 1, dtype=np.int64)
    titles = (
        pd.Series(ids).astype(str).radd("Synthetic movie ")
        + " ("
        + pd.Series(years).astype(str)
        + ")"
    )
    return pd.DataFrame({"movieId": ids, "title": titles.to_numpy(), "genres": genres})
