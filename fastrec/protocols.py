"""Evaluation protocols behind :func:`fastrec.evaluate_all` and :func:`fastrec.tune`: which
(train, test) pairs a protocol makes, the scores of one fitted model on one test set, and
the mean and standard deviation over folds.

Protocols (``split``, ``cv``):

- ``split="random"``: the blog post's random split (:func:`fastrec.train_test_split`);
- ``split="temporal"``: the latest ``test_size`` share of the ratings as test
  (:func:`fastrec.split.temporal_split`);
- ``split="user-temporal"``: each user's latest ratings as test
  (:func:`fastrec.split.user_temporal_split`);
- ``split=(train, test)``: a given pair of :class:`~fastrec.Ratings` or files, recoded onto
  shared id maps (:func:`fastrec.split.aligned_pair`);
- ``cv=k`` (with ``split="random"``): ``k`` folds of the ratings, each rating in exactly one
  test fold (:func:`fastrec.kfold`).
"""

from __future__ import annotations

import numbers
import os
import time
from collections.abc import Iterator, Sequence

import numpy as np

from .data import Ratings
from .io import load_ratings
from .metrics import (
    CATALOG_METRICS,
    _threshold,
    catalog_metrics,
    mae,
    parse_catalog_metric,
    parse_ranking_metric,
    ranking_metrics,
    rmse,
)
from .models._common import unknown_to_minus_one
from .models._topn import recommend_codes
from .split import aligned_pair, kfold, temporal_split, train_test_split, user_temporal_split

#: The named splits ``evaluate_all(split=...)`` takes (beside a ``(train, test)`` pair).
SPLITS = ("random", "temporal", "user-temporal")

#: Metrics where smaller is better (tables sort on these ascending, on the others descending).
ERROR_METRICS = ("rmse", "mae")
_ERROR_FNS = {"rmse": rmse, "mae": mae}

_METRIC_FORMS = (
    "rmse, mae, precision@K, recall@K, ndcg@K, "
    + ", ".join(f"{m}@K" for m in CATALOG_METRICS[:-1])
    + f" or {CATALOG_METRICS[-1]}@K (K an integer >= 1, e.g. ndcg@10)"
)


def parse_metrics(metrics, default=("rmse", "mae")) -> list[str]:
    """Canonical column names for ``metrics`` (None, a name, or a list of names).

    Parameters
    ----------
    metrics : None, str or list of str
        ``None`` gives ``default``. Names: ``rmse``, ``mae``, ``precision@K``, ``recall@K``,
        ``ndcg@K`` (among each user's rated test items, :func:`fastrec.ranking_metrics`),
        ``catalog-precision@K``, ``catalog-recall@K``, ``catalog-ndcg@K``,
        ``catalog-map@K``, ``catalog-coverage@K`` (full-catalogue top-K lists,
        :func:`fastrec.metrics.catalog_metrics`); K an integer >= 1, case-insensitive.
    default : tuple of str
        The names for ``None``.

    Returns
    -------
    list of str
        In lower case, in the order given. Unknown names, duplicates and an empty list
        raise ``ValueError``.
    """
    if metrics is None:
        return list(default)
    if isinstance(metrics, str):
        metrics = [metrics]
    names = []
    for m in metrics:
        if isinstance(m, str) and m.strip().lower() in ERROR_METRICS:
            names.append(m.strip().lower())
            continue
        parser = (
            parse_catalog_metric
            if isinstance(m, str) and m.strip().lower().startswith("catalog-")
            else parse_ranking_metric
        )
        try:
            kind, k = parser(m)
        except ValueError as err:
            if "k must be" in str(err):
                raise
            raise ValueError(f"unknown metric {m!r}; expected {_METRIC_FORMS}") from None
        names.append(f"{kind}@{k}")
    if not names:
        raise ValueError("metrics is empty; name at least one, e.g. ['rmse', 'ndcg@10']")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"metrics names {dupes} more than once")
    return names


def check_protocol(split, cv) -> int | None:
    """Check ``split`` and ``cv`` before any data is read; returns ``cv`` as an int or None.

    Parameters
    ----------
    split : str or tuple
        One of :data:`SPLITS`, or a ``(train, test)`` pair of Ratings or paths.
    cv : None or int
        Number of folds (>= 2), only with ``split="random"``.

    Returns
    -------
    int or None
    """
    if isinstance(split, str):
        if split not in SPLITS:
            raise ValueError(
                f"split must be one of {SPLITS} or a (train, test) pair, got {split!r}"
            )
    elif not _is_pair(split):
        raise ValueError(
            f"split must be one of {SPLITS} or a (train, test) pair of Ratings or paths, "
            f"got {type(split).__name__}"
        )
    if cv is None:
        return None
    if isinstance(cv, bool) or not isinstance(cv, numbers.Integral) or cv < 2:
        raise ValueError(f"cv must be None or an integer >= 2 (the number of folds), got {cv!r}")
    if split != "random":
        shown = split if isinstance(split, str) else "a (train, test) pair"
        raise ValueError(
            f"cv={cv} makes k random folds of the ratings; it cannot be combined with "
            f"split={shown!r} (use split='random', the default)"
        )
    return int(cv)


def _is_pair(split) -> bool:
    return (
        isinstance(split, Sequence)
        and not isinstance(split, (str, bytes))
        and len(split) == 2
        and all(isinstance(p, (Ratings, str, os.PathLike)) for p in split)
    )


def make_folds(
    data, split, cv: int | None, test_size: float, seed: int | None
) -> tuple[Ratings | None, int, Iterator[tuple[Ratings, Ratings]]]:
    """The (train, test) pairs of a protocol (see the module docstring).

    Parameters
    ----------
    data : path, Ratings or None
        The ratings to split; ``None`` (and only then) with a ``(train, test)`` pair.
    split, cv : see :func:`check_protocol`
    test_size : float
        Test share of the random and temporal splits (ignored with ``cv`` and a pair).
    seed : int or None
        Seeds the random split and the folds.

    Returns
    -------
    (ratings, n_folds, pairs)
        ``ratings`` the whole set (the train part of a given pair), ``pairs`` an iterator
        of ``n_folds`` (train, test) pairs sharing id maps, made one at a time.
    """
    cv = check_protocol(split, cv)
    if _is_pair(split):
        if data is not None:
            raise ValueError(
                "give the ratings to split as data, or a (train, test) pair as split, not both"
            )
        train, test = (p if isinstance(p, Ratings) else load_ratings(p) for p in split)
        train, test = aligned_pair(train, test)
        _check_nonempty(train, test, "the given (train, test) pair")
        return train, 1, iter([(train, test)])
    if data is None:
        raise ValueError("data is required: a ratings file, a path or Ratings")
    ratings = data if isinstance(data, Ratings) else load_ratings(data)
    if cv is not None:
        return ratings, cv, kfold(ratings, cv, seed)
    if split == "random":
        pair = train_test_split(ratings, test_size=test_size, seed=seed)
    elif split == "temporal":
        pair = temporal_split(ratings, test_size)
    else:
        pair = user_temporal_split(ratings, test_size)
    _check_nonempty(*pair, f"split={split!r} with test_size={test_size!r}")
    return ratings, 1, iter([pair])


def _check_nonempty(train: Ratings, test: Ratings, what: str) -> None:
    for name, part in (("training", train), ("test", test)):
        if len(part) == 0:
            raise ValueError(f"{what} leaves the {name} set empty; expected ratings in both")


def score(model, test: Ratings, names: list[str], threshold: float) -> dict:
    """The scores of a fitted ``model`` on ``test``: one value per name of ``names``, and
    ``coverage`` and ``predict_s``.

    Parameters
    ----------
    model : Recommender
        Fitted on a training set sharing ``test``'s id maps (or any: ids are matched).
    test : Ratings
        The test ratings.
    names : list of str
        Canonical metric names (:func:`parse_metrics`).
    threshold : float
        Relevance threshold of the ranking and catalogue metrics.

    Returns
    -------
    dict
        ``{name: value, ..., "coverage": share of test predictions the model made itself,
        "predict_s": seconds of predict_with_fallback}``. The ranking and catalogue metrics'
        time (the top-K lists) is not part of ``predict_s``.
    """
    t0 = time.perf_counter()
    pred, fell_back = model.predict_with_fallback(test)
    predict_s = time.perf_counter() - t0
    values = {n: _ERROR_FNS[n](pred, test.ratings) for n in names if n in _ERROR_FNS}
    ranking = [n for n in names if n not in _ERROR_FNS and not n.startswith("catalog-")]
    if ranking:
        values.update(ranking_metrics(test.user_codes, test.ratings, pred, ranking, threshold))
    catalog = [n for n in names if n.startswith("catalog-")]
    if catalog:
        values.update(catalog_scores(model, test, catalog, threshold))
    coverage = 1.0 - float(fell_back.mean()) if len(fell_back) else 1.0
    return {**{n: values[n] for n in names}, "coverage": coverage, "predict_s": predict_s}


def catalog_scores(model, test: Ratings, names: list[str], threshold: float) -> dict:
    """:func:`~fastrec.metrics.catalog_metrics` of ``model``'s top-K lists
    (``recommend(n=K, exclude_seen=True)``, K the largest of ``names``) for the users with a
    relevant rating in ``test``.

    Parameters
    ----------
    model : Recommender
        Fitted.
    test : Ratings
        The test ratings.
    names : list of str
        Catalogue metric names.
    threshold : float
        Relevance threshold.

    Returns
    -------
    dict
        ``{name: value}``.
    """
    threshold = _threshold(threshold)
    k_max = max(parse_catalog_metric(n)[1] for n in names)
    relevant = test.ratings >= threshold
    test_users = np.unique(test.user_codes[relevant])
    shared = test.user_index.equals(model.user_index_) and test.item_index.equals(model.item_index_)
    if shared:  # codes mean the same on both sides: work on codes, no id lookups
        codes = test_users.astype(np.int32)
    else:
        codes = model.user_index_.get_indexer(test.user_index[test_users]).astype(np.int32)
    codes = unknown_to_minus_one(codes, model.user_n_train_)
    rows, items, _, _ = recommend_codes(model, codes, k_max, True, None, False)
    if shared:
        rec_users, rec_items = test_users[rows], items
        users, items_t = test.user_codes, test.item_codes
    else:
        rec_users = test.user_index.to_numpy()[test_users[rows]]
        rec_items = model.item_index_.to_numpy()[items]
        users, items_t = test.user_ids, test.item_ids
    return catalog_metrics(
        rec_users, rec_items, users, items_t, test.ratings, names, threshold,
        n_items=len(model.item_index_),
    )  # fmt: skip


def summarize(rows: list[dict], names: list[str]) -> dict:
    """The mean of each value over the folds' ``rows`` (dicts with the same keys), and
    ``{name}_std`` for each metric of ``names``: the standard deviation over the folds
    (``ddof=0``, as Surprise's ``cross_validate`` prints it)."""
    out = {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
    for name in names:
        out[f"{name}_std"] = float(np.std([r[name] for r in rows]))
    return out
