"""Train/test splits. Every split returns Ratings that share the id maps of the whole set.

- :func:`train_test_split`: the blog post's random split (``evaluate_all``'s default);
- :func:`kfold`: ``k`` random folds, each rating in one test fold (``evaluate_all(cv=k)``);
- :func:`temporal_split`: the latest ratings of the whole set as test (``split="temporal"``);
- :func:`user_temporal_split`: each user's latest ratings as test (``split="user-temporal"``);
- :func:`predefined_split`, :func:`aligned_pair`, :func:`ml100k_folds`: published pairs.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from .data import Ratings
from .io import load_ratings


def train_test_split(
    ratings: Ratings, test_size: float = 0.2, seed: int | None = 7
) -> tuple[Ratings, Ratings]:
    """Random split of the ratings, bit for bit the blog post's.

    ``mask = np.random.RandomState(seed).rand(n) < 1 - test_size``; train = ``mask``,
    test = ``~mask`` (the post calls ``np.random.seed(seed)`` and ``np.random.rand``, which
    draw the same numbers; the global random state is left alone here).
    """
    _check_ratings(ratings, "train_test_split")
    _check_test_size(test_size)
    mask = np.random.RandomState(seed).rand(len(ratings)) < 1 - test_size
    return ratings.subset(mask), ratings.subset(~mask)


def _check_ratings(ratings, func: str) -> None:
    if not isinstance(ratings, Ratings):
        raise TypeError(f"{func} expects Ratings, got {type(ratings).__name__}")


def _check_test_size(test_size) -> None:
    if (
        isinstance(test_size, bool)
        or not isinstance(test_size, numbers.Real)
        or not 0.0 < test_size < 1.0
    ):
        raise ValueError(
            f"test_size must be a fraction strictly between 0 and 1, got {test_size!r}"
        )


def _timestamps_for(ratings: Ratings, split: str) -> np.ndarray:
    if ratings.timestamps is None:
        raise ValueError(
            f"split={split!r} orders ratings by time, but {ratings.source or 'the ratings'} "
            "has no timestamp column; use split='random' or give ratings with timestamps"
        )
    return ratings.timestamps


def kfold(
    ratings: Ratings, n_splits: int = 5, seed: int | None = 7
) -> Iterator[tuple[Ratings, Ratings]]:
    """``n_splits`` (train, test) pairs: the ratings shuffled once, cut into equal folds.

    Each rating is in exactly one test fold.
    """
    if not isinstance(ratings, Ratings):
        raise TypeError(f"kfold expects Ratings, got {type(ratings).__name__}")
    if isinstance(n_splits, bool) or not isinstance(n_splits, numbers.Integral) or n_splits < 2:
        raise ValueError(f"n_splits must be an integer >= 2, got {n_splits!r}")
    if n_splits > len(ratings):
        raise ValueError(f"n_splits={n_splits} exceeds the number of ratings ({len(ratings)})")
    # Validation above runs at the call, not at the first next(): the loop is a generator.
    return _kfold_pairs(ratings, int(n_splits), seed)


def _kfold_pairs(
    ratings: Ratings, n_splits: int, seed: int | None
) -> Iterator[tuple[Ratings, Ratings]]:
    order = np.random.RandomState(seed).permutation(len(ratings))
    for test_rows in np.array_split(order, n_splits):
        mask = np.ones(len(ratings), dtype=bool)
        mask[test_rows] = False
        yield ratings.subset(mask), ratings.subset(~mask)


def temporal_split(ratings: Ratings, test_size: float = 0.2) -> tuple[Ratings, Ratings]:
    """The latest ``test_size`` share of the ratings, by timestamp, as the test set.

    Parameters
    ----------
    ratings : Ratings
        With timestamps (``ratings.timestamps`` not ``None``).
    test_size : float
        Fraction strictly between 0 and 1.

    Returns
    -------
    (train, test) : tuple of Ratings
        Sharing the id maps of ``ratings``, each in file order.

    Notes
    -----
    The ratings are ordered by ``(timestamp, row in the file)`` (a stable sort: of two
    ratings with the same timestamp the later row counts as later) and the last
    ``round(test_size * n)`` of them form the test set, so the share is exact and the split
    deterministic. LensKit's ``split_temporal_fraction`` instead cuts at the
    ``1 - test_size`` quantile of the timestamps, putting every rating at or after it in
    test; the two differ only by the ratings that share the timestamp at the cut.
    Users and items first seen after the cut have no training rating: the models answer
    them with their fallback (the ``coverage`` column of ``evaluate_all`` counts them).
    Raises ``ValueError`` where ``ratings`` has no timestamps.
    """
    _check_ratings(ratings, "temporal_split")
    _check_test_size(test_size)
    ts = _timestamps_for(ratings, "temporal")
    n = len(ratings)
    n_test = int(np.rint(test_size * n))
    order = np.argsort(ts, kind="stable")
    test_mask = np.zeros(n, dtype=bool)
    test_mask[order[n - n_test :]] = True
    return ratings.subset(~test_mask), ratings.subset(test_mask)


def user_temporal_split(ratings: Ratings, test_size: float = 0.2) -> tuple[Ratings, Ratings]:
    """Each user's latest ratings, by timestamp, as the test set (a per-user holdout).

    Parameters
    ----------
    ratings : Ratings
        With timestamps (``ratings.timestamps`` not ``None``).
    test_size : float
        Fraction strictly between 0 and 1 of each user's ratings to hold out.

    Returns
    -------
    (train, test) : tuple of Ratings
        Sharing the id maps of ``ratings``, each in file order.

    Notes
    -----
    A user with ``n_u`` ratings gives its last
    ``t_u = min(max(1, round(test_size * n_u)), n_u - 1)`` ratings by ``(timestamp, row in
    the file)`` to the test set: LensKit's ``LastFrac(test_size)`` holdout
    (``round(test_size * n_u)``, half to even) applied to every user, bounded so that
    every user with two ratings or more is tested on at least one and every user keeps at
    least one rating for training (a user with a single rating stays in train). LensKit's
    ``LastFrac`` alone may hold out nothing for a user with few ratings, or everything.
    Every test user therefore has training ratings, unlike :func:`temporal_split`.
    Raises ``ValueError`` where ``ratings`` has no timestamps.
    """
    _check_ratings(ratings, "user_temporal_split")
    _check_test_size(test_size)
    ts = _timestamps_for(ratings, "user-temporal")
    n = len(ratings)
    users = ratings.user_codes
    counts = np.bincount(users, minlength=ratings.n_users)
    n_test = np.minimum(np.maximum(1, np.rint(test_size * counts)), counts - 1)
    # by user, then timestamp, then row: each user's ratings oldest first
    order = np.lexsort((np.arange(n), ts, users))
    starts = np.cumsum(counts) - counts
    sorted_users = users[order]
    position = np.arange(n) - starts[sorted_users]  # 0 = the user's oldest rating
    test_mask = np.zeros(n, dtype=bool)
    test_mask[order] = position >= counts[sorted_users] - n_test[sorted_users]
    return ratings.subset(~test_mask), ratings.subset(test_mask)


def predefined_split(
    train_path: str | os.PathLike, test_path: str | os.PathLike
) -> tuple[Ratings, Ratings]:
    """Load a published (train, test) pair of files, with id maps shared between them
    (the union of both files' ids; see :func:`aligned_pair`)."""
    return aligned_pair(load_ratings(train_path), load_ratings(test_path))


def aligned_pair(train: Ratings, test: Ratings) -> tuple[Ratings, Ratings]:
    """``train`` and ``test`` recoded onto shared id maps, so that a user or an item has the
    same code in both (what every model and metric of a (train, test) pair assumes).

    Parameters
    ----------
    train, test : Ratings
        From any source (two files, two DataFrames, a split).

    Returns
    -------
    (train, test) : tuple of Ratings
        Unchanged where they already share their id maps (a split of one set); else both
        on the union of their user ids and of their item ids (sorted where the ids sort),
        with ratings and timestamps as they were.
    """
    for name, part in (("train", train), ("test", test)):
        if not isinstance(part, Ratings):
            raise TypeError(f"the {name} set must be Ratings, got {type(part).__name__}")
    if _same_index(train.user_index, test.user_index) and _same_index(
        train.item_index, test.item_index
    ):
        return train, test
    user_index = _union(train.user_index, test.user_index)
    item_index = _union(train.item_index, test.item_index)
    return _reindex(train, user_index, item_index), _reindex(test, user_index, item_index)


def _same_index(a: pd.Index, b: pd.Index) -> bool:
    return a is b or a.equals(b)


def _union(a: pd.Index, b: pd.Index) -> pd.Index:
    """The ids of both maps, sorted where they sort, named as ``a``."""
    try:
        out = a.union(b, sort=None)
    except TypeError:  # ids of mixed, unorderable types: keep order of appearance
        out = a.append(b[~b.isin(a)])
    return out.rename(a.name)


def _reindex(ratings: Ratings, user_index: pd.Index, item_index: pd.Index) -> Ratings:
    return Ratings(
        user_index,
        item_index,
        user_index.get_indexer(ratings.user_ids),
        item_index.get_indexer(ratings.item_ids),
        ratings.ratings,
        ratings.timestamps,
        source=ratings.source,
        rating_scale=ratings.rating_scale,
    )


def ml100k_folds(directory: str | os.PathLike) -> list[tuple[Ratings, Ratings]]:
    """ml-100k's five published folds ``u1.base/u1.test`` ... ``u5.base/u5.test``."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"{directory}: no such directory; expected the ml-100k directory holding "
            "u1.base, u1.test ... u5.base, u5.test"
        )
    return [
        predefined_split(directory / f"u{k}.base", directory / f"u{k}.test") for k in range(1, 6)
    ]
