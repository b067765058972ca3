"""Train/test splits. Every split returns Ratings that share the id maps of the whole set."""

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
    if not isinstance(ratings, Ratings):
        raise TypeError(f"train_test_split expects Ratings, got {type(ratings).__name__}")
    if (
        isinstance(test_size, bool)
        or not isinstance(test_size, numbers.Real)
        or not 0.0 < test_size < 1.0
    ):
        raise ValueError(
            f"test_size must be a fraction strictly between 0 and 1, got {test_size!r}"
        )
    mask = np.random.RandomState(seed).rand(len(ratings)) < 1 - test_size
    return ratings.subset(mask), ratings.subset(~mask)


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


def predefined_split(
    train_path: str | os.PathLike, test_path: str | os.PathLike
) -> tuple[Ratings, Ratings]:
    """Load a published (train, test) pair of files, with id maps shared between them."""
    train = load_ratings(train_path)
    test = load_ratings(test_path)
    user_index = train.user_index.union(test.user_index)
    item_index = train.item_index.union(test.item_index)
    return _reindex(train, user_index, item_index), _reindex(test, user_index, item_index)


def _reindex(ratings: Ratings, user_index: pd.Index, item_index: pd.Index) -> Ratings:
    return Ratings(
        user_index,
        item_index,
        user_index.get_indexer(ratings.user_ids),
        item_index.get_indexer(ratings.item_ids),
        ratings.ratings,
        ratings.timestamps,
        source=ratings.source,
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
