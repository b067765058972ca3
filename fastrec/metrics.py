"""Accuracy metrics of rating predictions, and ranking metrics of the same predictions.

Rating accuracy: :func:`rmse`, :func:`mae` (``pred, truth``).

Ranking: :func:`precision_at_k`, :func:`recall_at_k`, :func:`ndcg_at_k` and
:func:`ranking_metrics` (several at once) take ``users, truth, pred`` -- one entry per test
rating -- and score how well ``pred`` ORDERS each user's test items. The protocol (the usual
one when a model only predicts ratings, as in Surprise's FAQ recipe):

1. Per user ``u``, the candidates are the ``n_u`` items ``u`` rated in the test set, and no
   others. ``rel(u)``: those with ``truth >= threshold`` (default 4.0, four stars).
2. They are ranked by decreasing ``pred``; ties keep the input order (of two test ratings of
   ``u`` with equal predictions, the one that comes first ranks higher -- a stable sort, so
   the result is deterministic; on the post's split the input order is the file's, by
   movieId). ``top_k(u)``: the first ``min(k, n_u)``.
3. Per user::

       precision@k(u) = |top_k(u) ∩ rel(u)| / min(k, n_u)
       recall@k(u)    = |top_k(u) ∩ rel(u)| / |rel(u)|
       DCG@k(u)       = sum_{r=1}^{min(k, n_u)} gain(item at rank r) / log2(r + 1)
       nDCG@k(u)      = DCG@k(u) / IDCG@k(u)   (IDCG: the items in decreasing TRUE rating)

   gain = 1 for a relevant item, else 0 (``gain="binary"``, default), or the true rating
   (``gain="rating"``).
4. Averages over users (each user counts once, whatever its number of test ratings):
   precision over every user in ``users``; recall and nDCG over the users with at least one
   relevant test rating (undefined for the others, left out; ``NaN`` if there are none).

Because the candidates are the rated test items only, these numbers measure ordering among
items the user has rated, not full-catalogue top-N recommendation, and are not comparable with
numbers from full-ranking protocols (RecBole's default, ``model.recommend``).

How peers do it:

- Surprise (FAQ "How to compute precision@k and recall@k", examples/precision_recall_at_k.py):
  the same candidates and ranking, but an item counts as recommended only if its prediction is
  also ``>= threshold``: precision = relevant-and-recommended in the top k / recommended in the
  top k (0 when none is recommended), recall = relevant-and-recommended in the top k /
  ``|rel(u)|`` (0 when ``rel(u)`` is empty: such users are kept); ties in Python's sort order;
  no nDCG.
- LensKit (``Precision``, ``Recall``, ``NDCG``): precision divides by the list length
  ``min(k, len(list))`` as here; recall divides by ``min(|rel(u)|, k)``; nDCG gains are 1 by
  default or a rating column on request, legacy discount ``1 / max(1, log2 r)``.
- RecBole (``Precision``, ``Recall``, ``NDCG``): full ranking over every item, so lists hold
  ``k`` items and precision divides by ``k``; recall divides by ``|rel(u)|``; nDCG binary with
  ``1 / log2(r + 1)`` and ideal DCG over ``min(|rel(u)|, k)`` -- the same formulas as here.

All three reductions run in one compiled pass (:mod:`fastrec.kernels.ranking`): a stable
counting sort by user and one small sort per user, in parallel over users.

Full-catalogue top-N (:func:`catalog_metrics`; ``catalog-precision@k``, ``catalog-recall@k``,
``catalog-ndcg@k``, ``catalog-map@k``, ``catalog-coverage@k`` in ``evaluate_all``): each
user's list is the model's ``recommend(n=k, exclude_seen=True)`` -- the ``k`` items with the
highest predictions among EVERY item with training ratings, those the user rated in
training left out -- scored against ``rel(u)``, the user's test items rated
``>= threshold``. A relevant item the list misses counts against it, and so does an item
the user never rated (it is not relevant), which the among-rated metrics above can never
rank. With ``L_u`` the user's top ``k`` and ``hit(r)`` = 1 when the item at rank ``r`` is in
``rel(u)``::

    catalog-precision@k(u) = |L_u ∩ rel(u)| / k
    catalog-recall@k(u)    = |L_u ∩ rel(u)| / |rel(u)|
    catalog-ndcg@k(u)      = DCG / IDCG,  DCG = sum_{r=1}^{k} hit(r) / log2(r + 1),
                             IDCG = sum_{r=1}^{min(|rel(u)|, k)} 1 / log2(r + 1)
    catalog-map@k(u)       = sum_{r=1}^{k} hit(r) * precision@r(u) / min(|rel(u)|, k)
    catalog-coverage@k     = |union over users of L_u| / n_items

averaged over the users with at least one relevant test item (precision too); coverage is
the share of the catalogue (every item of the data set's id map) recommended to at least one
of those users. These are RecBole's formulas (``Precision``, ``Recall``, ``NDCG``, ``MAP``,
``ItemCoverage``) and its users (its full-ranking evaluation runs over the users with
positive test items). LensKit (``Precision``, ``Recall``, ``NDCG``, ``AveragePrecision``)
averages over the users of its test lists, which hold only relevant items here, so over
the same users; its precision and MAP divide by the list's length where it is shorter than
``k`` (equal here whenever ``k`` unseen items are left), and its recall divides by
``min(|rel(u)|, k)`` rather than ``|rel(u)|`` (so a user with more than ``k`` relevant items
can reach 1; here, as in RecBole and the among-rated ``recall@k``, it cannot). A user
without training ratings gets the model's fallback list (:meth:`Recommender.recommend`).
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd


def _check(pred, truth) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if pred.shape != truth.shape or pred.ndim != 1:
        raise ValueError(
            f"pred and truth must be 1-d arrays of the same length, got shapes "
            f"{pred.shape} and {truth.shape}"
        )
    if len(pred) == 0:
        raise ValueError("pred and truth are empty; nothing to score")
    _require_finite(pred=pred, truth=truth)
    return pred, truth


def _require_finite(**arrays: np.ndarray) -> None:
    """A ValueError naming the first array with a NaN or infinite value, how many it has and
    where the first is."""
    for name, arr in arrays.items():
        bad = ~np.isfinite(arr)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{name} has {int(bad.sum())} NaN or infinite value(s), first at position {k}"
            )


def rmse(pred, truth) -> float:
    """Root mean squared error: ``sqrt(mean((pred - truth) ** 2))``."""
    pred, truth = _check(pred, truth)
    return float(np.sqrt(np.mean((pred - truth) ** 2)))


def mae(pred, truth) -> float:
    """Mean absolute error: ``mean(|pred - truth|)``."""
    pred, truth = _check(pred, truth)
    return float(np.mean(np.abs(pred - truth)))


# ------------------------------------------------------------------ ranking metrics
#
# The protocol, shared by precision_at_k, recall_at_k, ndcg_at_k and ranking_metrics:
# see the module docstring.

#: Ranking metric names that :func:`ranking_metrics` and ``evaluate_all(metrics=...)`` take,
#: each followed by ``@k``.
RANKING_METRICS = ("precision", "recall", "ndcg")

#: Gains :func:`ndcg_at_k` takes.
GAINS = ("binary", "rating")

_METRIC_NAME = re.compile(r"^\s*(precision|recall|ndcg)\s*@\s*(\d+)\s*$", re.IGNORECASE)


def parse_ranking_metric(name: str) -> tuple[str, int]:
    """``"ndcg@10"`` -> ``("ndcg", 10)``; case and spaces around ``@`` are ignored.

    Raises ``ValueError`` naming the accepted forms for anything else, and for ``k < 1``.
    """
    match = _METRIC_NAME.match(name) if isinstance(name, str) else None
    if match is None:
        raise ValueError(
            f"unknown ranking metric {name!r}; expected precision@K, recall@K or ndcg@K "
            "with K an integer >= 1, e.g. 'ndcg@10'"
        )
    k = int(match.group(2))
    if k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k} in {name!r}")
    return match.group(1).lower(), k


def precision_at_k(users, truth, pred, k: int = 10, threshold: float = 4.0) -> float:
    """Precision at ``k`` of each user's test items ranked by ``pred``, averaged over users.

    ``precision@k(u) = |top_k(u) ∩ rel(u)| / min(k, n_u)``, ``n_u`` = the user's test
    ratings, ``rel(u)`` = those with ``truth >= threshold``, ``top_k(u)`` = the first
    ``min(k, n_u)`` of them by decreasing ``pred`` (ties: first in the input ranks higher).
    The mean is over every user in ``users``, those with no relevant rating included
    (they score 0 whatever the model). The best a model can reach is therefore
    ``mean_u min(|rel(u)|, k, n_u) / min(k, n_u)``, below 1 (a perfect predictor reaches it).
    Denominator ``min(k, n_u)``, as LensKit's ``Precision``; RecBole divides by ``k`` (its
    lists always hold ``k`` items); see the module docstring for the whole protocol.

    Parameters
    ----------
    users : array-like [n], the user of each rating: int codes or raw ids (any hashable)
    truth : array-like of float [n], the true (test) ratings
    pred : array-like of float [n], the predicted ratings of the same pairs, same order
    k : int >= 1, the cut-off
    threshold : float, a rating is relevant when ``truth >= threshold`` (4.0: four stars)

    Returns
    -------
    float in [0, 1]

    Note the argument order (truth before pred, as scikit-learn's ``ndcg_score``), which
    :func:`rmse` and :func:`mae` do not follow (they take ``pred, truth``).
    """
    name = f"precision@{_k(k)}"
    return ranking_metrics(users, truth, pred, [name], threshold)[name]


def recall_at_k(users, truth, pred, k: int = 10, threshold: float = 4.0) -> float:
    """Recall at ``k`` of each user's test items ranked by ``pred``, averaged over users.

    ``recall@k(u) = |top_k(u) ∩ rel(u)| / |rel(u)|`` (definitions as in
    :func:`precision_at_k`), averaged over the users with at least one relevant test rating;
    the others are left out (recall is undefined for them). ``NaN`` (with a
    ``RuntimeWarning``) when no user has a relevant rating. With more than ``k`` relevant
    ratings a user cannot reach 1. Denominator ``|rel(u)|`` as RecBole and Surprise's FAQ;
    LensKit divides by ``min(|rel(u)|, k)``. Parameters as :func:`precision_at_k`.
    """
    name = f"recall@{_k(k)}"
    return ranking_metrics(users, truth, pred, [name], threshold)[name]


def ndcg_at_k(
    users, truth, pred, k: int = 10, threshold: float = 4.0, gain: str = "binary"
) -> float:
    """Normalised discounted cumulative gain at ``k``, averaged over users.

    ``DCG@k(u) = sum_{r=1}^{min(k, n_u)} g(item at rank r) / log2(r + 1)`` over the user's
    test items ranked by decreasing ``pred`` (ties: first in the input ranks higher);
    ``IDCG@k(u)`` is the same sum with the items in decreasing order of their TRUE rating;
    ``nDCG@k(u) = DCG@k(u) / IDCG@k(u)``, averaged over the users with at least one relevant
    test rating (``truth >= threshold``); the others are left out. ``NaN`` (with a
    ``RuntimeWarning``) when no user has a relevant rating.

    gain : ``"binary"`` (default): ``g = 1`` for a relevant rating, else 0, so that
        ``IDCG@k(u) = sum_{r=1}^{min(k, |rel(u)|)} 1 / log2(r + 1)`` (as RecBole's NDCG and
        LensKit's default); ``"rating"``: ``g`` = the true rating itself (as LensKit with
        ``gain="rating"``; ratings must then be >= 0). A perfect predictor scores 1.0 with
        either.

    The discount is ``1 / log2(r + 1)`` (Järvelin & Kekäläinen, RecBole), not LensKit's
    legacy ``1 / max(1, log2 r)``. Other parameters as :func:`precision_at_k`.
    """
    name = f"ndcg@{_k(k)}"
    return ranking_metrics(users, truth, pred, [name], threshold, gain=gain)[name]


def ranking_metrics(
    users,
    truth,
    pred,
    metrics=("precision@10", "recall@10", "ndcg@10"),
    threshold=4.0,
    *,
    gain: str = "binary",
) -> dict[str, float]:
    """Several ranking metrics from one ranking of each user's test items.

    ``metrics`` are names ``precision@K``, ``recall@K``, ``ndcg@K`` (see
    :func:`parse_ranking_metric`); returns ``{name: value}`` with the names in lower case,
    in the order given. Values as :func:`precision_at_k`, :func:`recall_at_k` and
    :func:`ndcg_at_k`; the users are ranked once for all of them (one stable counting sort
    by user and one sort per user, compiled and parallel over users: no Python loop).
    """
    if isinstance(metrics, str):
        metrics = [metrics]
    parsed = [parse_ranking_metric(m) for m in metrics]
    names = [f"{kind}@{k}" for kind, k in parsed]
    if len(set(names)) != len(names):
        raise ValueError(f"metrics has duplicates: {list(metrics)}")
    if not names:
        raise ValueError("metrics is empty; name at least one, e.g. 'ndcg@10'")
    if gain not in GAINS:
        raise ValueError(f"gain must be one of {GAINS}, got {gain!r}")
    codes, n_users, truth, pred = _check_ranking(users, truth, pred)
    threshold = _threshold(threshold)
    if gain == "rating" and truth.min() < 0:
        raise ValueError(f"gain='rating' needs ratings >= 0 as gains, got a truth of {truth.min()}")
    from .kernels.ranking import count_user_rankings, group_rows_by_user

    ks = np.array(sorted({k for _, k in parsed}), dtype=np.int64)
    indptr, rows = group_rows_by_user(codes, n_users)
    n_items, n_rel, hits, dcg, idcg = count_user_rankings(
        indptr, rows, truth, pred, ks, threshold, gain == "rating"
    )
    has_rel = n_rel > 0
    out: dict[str, float] = {}
    for name, (kind, k) in zip(names, parsed, strict=True):
        j = int(np.searchsorted(ks, k))
        if kind == "precision":
            out[name] = float(np.mean(hits[:, j] / np.minimum(k, n_items)))
        elif not has_rel.any():
            warnings.warn(
                f"{name} is undefined (NaN): no test rating is >= the relevance threshold "
                f"{threshold}",
                RuntimeWarning,
                stacklevel=2,
            )
            out[name] = float("nan")
        elif kind == "recall":
            out[name] = float(np.mean(hits[has_rel, j] / n_rel[has_rel]))
        else:
            out[name] = float(np.mean(dcg[has_rel, j] / idcg[has_rel, j]))
    return out


# ------------------------------------------------------------ full-catalogue metrics

#: Full-catalogue metric names (each followed by ``@k``) that :func:`catalog_metrics` and
#: ``evaluate_all(metrics=...)`` take.
CATALOG_METRICS = (
    "catalog-precision",
    "catalog-recall",
    "catalog-ndcg",
    "catalog-map",
    "catalog-coverage",
)

_CATALOG_NAME = re.compile(
    r"^\s*catalog-(precision|recall|ndcg|map|coverage)\s*@\s*(\d+)\s*$", re.IGNORECASE
)


def parse_catalog_metric(name: str) -> tuple[str, int]:
    """``"catalog-ndcg@10"`` -> ``("catalog-ndcg", 10)``; case and spaces around ``@`` are
    ignored. Raises ``ValueError`` naming the accepted forms for anything else, and for
    ``k < 1``."""
    match = _CATALOG_NAME.match(name) if isinstance(name, str) else None
    if match is None:
        raise ValueError(
            f"unknown catalog metric {name!r}; expected one of "
            f"{', '.join(m + '@K' for m in CATALOG_METRICS)} with K an integer >= 1"
        )
    k = int(match.group(2))
    if k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k} in {name!r}")
    return "catalog-" + match.group(1).lower(), k


def catalog_metrics(
    rec_users,
    rec_items,
    test_users,
    test_items,
    truth,
    metrics=("catalog-precision@10", "catalog-recall@10", "catalog-ndcg@10"),
    threshold: float = 4.0,
    *,
    n_items: int | None = None,
) -> dict[str, float]:
    """Full-catalogue top-N metrics of recommendation lists against the test ratings.

    Parameters
    ----------
    rec_users, rec_items : array-like [m]
        The lists, one row per recommended item (e.g. the user and item columns of
        :meth:`~fastrec.Recommender.recommend_all`): each user's items best first (a
        user's rows need not be adjacent; their order is the ranking). Lists longer
        than ``k`` are cut at ``k``. Raw ids or int codes, the same kind as the test's.
    test_users, test_items : array-like [n]
        The test ratings' users and items.
    truth : array-like of float [n]
        The test ratings; a test item is relevant when ``truth >= threshold``.
    metrics : list of str
        ``catalog-precision@K``, ``catalog-recall@K``, ``catalog-ndcg@K``,
        ``catalog-map@K``, ``catalog-coverage@K`` (see :func:`parse_catalog_metric`).
    threshold : float
        Relevance threshold (4.0: four stars).
    n_items : int or None
        The number of items in the catalogue; needed by ``catalog-coverage@K``.

    Returns
    -------
    dict
        ``{name: value}``, names in lower case in the order given; each in [0, 1]. ``NaN``
        (with a ``RuntimeWarning``) when no test rating is relevant.

    Notes
    -----
    The formulas, the users they average over (those with at least one relevant test
    item) and how they compare with RecBole, LensKit and the among-rated metrics are in
    the module docstring. A list holding an item twice is refused.
    """
    if isinstance(metrics, str):
        metrics = [metrics]
    parsed = [parse_catalog_metric(m) for m in metrics]
    names = [f"{kind}@{k}" for kind, k in parsed]
    if not names:
        raise ValueError("metrics is empty; name at least one, e.g. 'catalog-ndcg@10'")
    if len(set(names)) != len(names):
        raise ValueError(f"metrics has duplicates: {list(metrics)}")
    threshold = _threshold(threshold)
    wants_coverage = any(kind == "catalog-coverage" for kind, _ in parsed)
    if wants_coverage and (
        isinstance(n_items, bool) or not isinstance(n_items, (int, np.integer)) or n_items < 1
    ):
        raise ValueError(f"catalog-coverage needs n_items, an integer >= 1, got {n_items!r}")
    rec_users, rec_items = _pair_arrays("rec_users", rec_users, "rec_items", rec_items)
    test_users, test_items = _pair_arrays("test_users", test_users, "test_items", test_items)
    _, _, truth, _ = _check_ranking(test_users, truth, truth)  # checks shapes, NaN, ids
    relevant = truth >= threshold
    if not relevant.any():
        warnings.warn(
            f"{', '.join(names)} undefined (NaN): no test rating is >= the relevance "
            f"threshold {threshold}",
            RuntimeWarning,
            stacklevel=2,
        )
        return dict.fromkeys(names, float("nan"))
    # One code space for the users and one for the items of both sides.
    user_codes, user_ids = pd.factorize(np.concatenate([test_users[relevant], rec_users]))
    item_codes, _ = pd.factorize(np.concatenate([test_items[relevant], rec_items]))
    n_rel_pairs = int(relevant.sum())
    rel_u, rec_u = user_codes[:n_rel_pairs], user_codes[n_rel_pairs:]
    rel_i, rec_i = item_codes[:n_rel_pairs], item_codes[n_rel_pairs:]
    n_codes = max(int(item_codes.max()) + 1, 1)
    n_rel = np.bincount(rel_u, minlength=len(user_ids)).astype(np.float64)
    evaluated = n_rel > 0  # the users with a relevant test item (the first codes)
    rel_keys = np.unique(rel_u.astype(np.int64) * n_codes + rel_i)
    # Each list in ranking order: a stable sort by user keeps the given order within it.
    keep = evaluated[rec_u] if len(rec_u) else np.zeros(0, dtype=bool)
    rec_u, rec_i, rec_raw_items = rec_u[keep], rec_i[keep], rec_items[keep]
    order = np.argsort(rec_u, kind="stable")
    rec_u, rec_i, rec_raw_items = rec_u[order], rec_i[order], rec_raw_items[order]
    rec_keys = rec_u.astype(np.int64) * n_codes + rec_i
    if len(np.unique(rec_keys)) != len(rec_keys):
        raise ValueError("a user's list holds an item more than once; expected distinct items")
    counts = np.bincount(rec_u, minlength=len(user_ids))
    starts = np.cumsum(counts) - counts
    rank = np.arange(len(rec_u)) - starts[rec_u]  # 0 = the first item of the user's list
    hit = np.isin(rec_keys, rel_keys).astype(np.float64)
    n_rel_e = n_rel[evaluated]
    out: dict[str, float] = {}
    for name, (kind, k) in zip(names, parsed, strict=True):
        top = rank < k
        if kind == "catalog-coverage":
            out[name] = len(pd.unique(rec_raw_items[top])) / int(n_items)
            continue
        h = hit * top
        hits = np.bincount(rec_u, weights=h, minlength=len(user_ids))[evaluated]
        if kind == "catalog-precision":
            per_user = hits / k
        elif kind == "catalog-recall":
            per_user = hits / n_rel_e
        elif kind == "catalog-ndcg":
            dcg = np.bincount(rec_u, weights=h / np.log2(rank + 2.0), minlength=len(user_ids))
            ideal = np.cumsum(1.0 / np.log2(np.arange(1, k + 1) + 1.0))
            per_user = dcg[evaluated] / ideal[np.minimum(n_rel_e, k).astype(np.int64) - 1]
        else:  # catalog-map: precision at the rank of each hit, summed per user
            running = np.cumsum(h)
            hits_so_far = running - np.concatenate([[0.0], running])[starts[rec_u]]
            ap = np.bincount(rec_u, weights=h * hits_so_far / (rank + 1.0), minlength=len(user_ids))
            per_user = ap[evaluated] / np.minimum(n_rel_e, k)
        out[name] = float(per_user.mean())
    return out


def _pair_arrays(name_a, a, name_b, b) -> tuple[np.ndarray, np.ndarray]:
    """Two 1-d arrays of the same length (ids of any type), checked."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 1 or b.ndim != 1 or len(a) != len(b):
        raise ValueError(
            f"{name_a} and {name_b} must be 1-d arrays of the same length, got shapes "
            f"{a.shape} and {b.shape}"
        )
    if pd.isna(a).any() or pd.isna(b).any():
        raise ValueError(f"{name_a} and {name_b} must not hold missing values (NaN/None)")
    return a, b


def _k(k) -> int:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    return int(k)


def _threshold(threshold) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(threshold, (bool, np.bool_)) or not np.isfinite(value):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    return value


def _check_ranking(users, truth, pred) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """int64 user codes 0..n_users-1, n_users, and float64 truth and pred, all checked."""
    users = np.asarray(users)
    arrays = []
    for name, values in (("truth", truth), ("pred", pred)):
        try:
            arrays.append(np.asarray(values, dtype=np.float64))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name} must be numbers: {err}") from None
    truth, pred = arrays
    if (
        users.ndim != 1
        or truth.ndim != 1
        or pred.ndim != 1
        or not (len(users) == len(truth) == len(pred))
    ):
        raise ValueError(
            "users, truth and pred must be 1-d arrays of the same length, got shapes "
            f"{users.shape}, {truth.shape} and {pred.shape}"
        )
    if len(users) == 0:
        raise ValueError("users, truth and pred are empty; nothing to score")
    _require_finite(truth=truth, pred=pred)
    codes, uniques = pd.factorize(users)  # hash-based: O(n), any hashable id
    missing = codes < 0
    if missing.any():
        k = int(np.flatnonzero(missing)[0])
        raise ValueError(
            f"users has {int(missing.sum())} missing value(s) (NaN/None), first at position {k}"
        )
    return codes.astype(np.int64, copy=False), len(uniques), truth, pred
