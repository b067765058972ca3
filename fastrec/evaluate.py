"""evaluate_all: one load, one split, every model fitted and scored, one table."""

from __future__ import annotations

import ast
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from .data import Ratings
from .io import load_ratings
from .memory import InsufficientMemoryError
from .metrics import _threshold, mae, parse_ranking_metric, ranking_metrics, rmse
from .models import MODELS, Recommender
from .split import train_test_split

log = logging.getLogger(__name__)

#: Columns of the table, in order, with the default ``metrics``.
COLUMNS = ("model", "rmse", "mae", "coverage", "fit_s", "predict_s", "compile_s")

#: The metrics of the table by default.
DEFAULT_METRICS = ("rmse", "mae")

#: Metrics where smaller is better (the table sorts on these ascending, on the others descending).
ERROR_METRICS = ("rmse", "mae")
_ERROR_FNS = {"rmse": rmse, "mae": mae}


def parse_metrics(metrics) -> list[str]:
    """Canonical column names for ``metrics`` (None, a name, or a list of names).

    ``None`` gives :data:`DEFAULT_METRICS`. Names: ``rmse``, ``mae``, ``precision@K``,
    ``recall@K``, ``ndcg@K`` (K an integer >= 1), case-insensitive; returned in lower case, in
    the order given. Unknown names, duplicates and an empty list raise ``ValueError``.
    """
    if metrics is None:
        return list(DEFAULT_METRICS)
    if isinstance(metrics, str):
        metrics = [metrics]
    names = []
    for m in metrics:
        if isinstance(m, str) and m.strip().lower() in ERROR_METRICS:
            names.append(m.strip().lower())
            continue
        try:
            kind, k = parse_ranking_metric(m)
        except ValueError as err:
            if "k must be" in str(err):
                raise
            raise ValueError(
                f"unknown metric {m!r}; expected rmse, mae, precision@K, recall@K or ndcg@K "
                "(K an integer >= 1, e.g. ndcg@10)"
            ) from None
        names.append(f"{kind}@{k}")
    if not names:
        raise ValueError("metrics is empty; name at least one, e.g. ['rmse', 'ndcg@10']")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"metrics names {dupes} more than once")
    return names


def resolve_models(models) -> tuple[list[Recommender], list[str]]:
    """Model instances for ``models`` (None, names or instances) and notes on those skipped.

    Names are class names (case-insensitive) or the blog post's labels, optionally with
    parameters written as a call: ``"UserKNN(k=40, exact=False)"`` (keyword arguments whose
    values are Python literals; parsed, never evaluated). With ``None``, every model of
    :data:`fastrec.models.MODELS` whose optional dependency is installed.
    """
    notes: list[str] = []
    if models is None:
        chosen = []
        for cls in MODELS.values():
            missing = cls.missing_dependency()
            if missing:
                notes.append(f"skipped {cls.__name__}: {missing}")
            else:
                chosen.append(cls())
        return chosen, notes
    if isinstance(models, (str, Recommender)):
        models = [models]
    chosen = []
    for m in models:
        if isinstance(m, Recommender):
            chosen.append(m)
        elif isinstance(m, str):
            chosen.append(model_from_spec(m))
        else:
            raise ValueError(
                f"unknown model {m!r}; expected a model instance or one of {list(MODELS)}"
            )
    return chosen, notes


def model_from_spec(spec: str) -> Recommender:
    """A model from ``"NAME"`` or ``"NAME(param=value, ...)"``: NAME a class name of
    :data:`~fastrec.models.MODELS` (case-insensitive) or the blog post's label, each value a
    Python literal (a number, string, True/False/None, or a tuple/list/dict of those).
    Raises ``ValueError`` naming what is wrong: an unknown name, a parameter the model does
    not have or that is given twice, a value that is not a literal, positional arguments."""
    by_name = {name.lower(): cls for name, cls in MODELS.items()}
    by_name.update({cls.post_label.lower(): cls for cls in MODELS.values() if cls.post_label})
    text = spec.strip()
    if text.lower() in by_name:  # labels hold spaces and dashes: look them up whole
        return by_name[text.lower()]()
    unknown = (
        f"unknown model {spec!r}; expected one of {list(MODELS)} (case-insensitive) or the "
        "blog post's labels"
    )
    try:
        call = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise ValueError(unknown) from None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
        raise ValueError(unknown)
    cls = by_name.get(call.func.id.lower())
    if cls is None:
        raise ValueError(unknown)
    if call.args:
        raise ValueError(f"model {spec!r}: give parameters by name, e.g. {cls.__name__}(k=40)")
    params = {}
    for kw in call.keywords:
        if kw.arg is None:
            raise ValueError(f"model {spec!r}: give parameters by name, not **")
        if kw.arg in params:
            raise ValueError(f"model {spec!r}: {kw.arg} is given twice")
        try:
            params[kw.arg] = ast.literal_eval(kw.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise ValueError(
                f"model {spec!r}: the value of {kw.arg} must be a literal (a number, a "
                f"string, True, False or None), got {ast.unparse(kw.value)!r}"
            ) from None
    valid = cls().get_params()
    wrong = sorted(set(params) - set(valid))
    if wrong:
        raise ValueError(
            f"model {spec!r}: {cls.__name__} has no parameter {', '.join(wrong)}; its "
            f"parameters are {', '.join(valid)}"
        )
    return cls(**params)


def evaluate_all(
    data: str | os.PathLike | Ratings,
    models=None,
    *,
    test_size: float = 0.2,
    seed: int | None = 7,
    warmup: bool = True,
    show_progress: bool | None = None,
    metrics=None,
    relevance_threshold: float = 4.0,
) -> pd.DataFrame:
    """Fit and score every model on one split of ``data``; one row per model, best first.

    Parameters
    ----------
    data : path of a ratings file (see :func:`fastrec.load_ratings`) or :class:`Ratings`
    models : None (every model fastrec has; those whose optional dependency is missing are
        skipped with a warning and a note in ``table.attrs["notes"]``), or a list of model
        names (as the ``model`` column prints them, or the blog post's labels) and instances.
    test_size, seed : the split, :func:`fastrec.train_test_split` (the post's by default)
    warmup : compile each model's Numba kernels on a tiny set first, so that ``fit_s`` and
        ``predict_s`` measure run time; the compile time is reported as ``compile_s``.
    show_progress : show a progress bar; ``None`` shows one when stderr is a terminal.
    metrics : the score columns, in order: ``None`` (``["rmse", "mae"]``) or a list of
        ``rmse``, ``mae``, ``precision@K``, ``recall@K``, ``ndcg@K`` (case-insensitive), e.g.
        ``["rmse", "mae", "precision@10", "recall@10", "ndcg@10"]``. The ranking metrics
        rank each test user's test items by the model's predictions
        (:func:`fastrec.metrics.ranking_metrics`; the protocol is in
        :mod:`fastrec.metrics`); their time is not part of ``predict_s``.
    relevance_threshold : a test rating is relevant to the ranking metrics when
        ``>= relevance_threshold`` (default 4.0).

    Returns
    -------
    pandas.DataFrame with columns ``model``, the ``metrics`` (by default ``rmse, mae``), then
    ``coverage, fit_s, predict_s, compile_s`` (``coverage``: share of test predictions made
    by the model itself rather than its fallback for unknown users/items), sorted by the
    first metric (ascending for rmse/mae, descending for the ranking metrics; by default
    ``rmse``); ``attrs`` holds ``n_train``, ``n_test``, ``source``, ``notes``, ``metrics``
    and ``relevance_threshold``.
    """
    from tqdm.auto import tqdm

    names = parse_metrics(metrics)  # a bad metric name fails before any data is read or fit
    ranking = [n for n in names if n not in ERROR_METRICS]
    relevance_threshold = _threshold(relevance_threshold)
    ratings = data if isinstance(data, Ratings) else load_ratings(data)
    chosen, notes = resolve_models(models)
    for note in notes:
        warnings.warn(note, stacklevel=2)
        log.warning(note)
    train, test = train_test_split(ratings, test_size=test_size, seed=seed)
    show = sys.stderr.isatty() if show_progress is None else bool(show_progress)
    rows = []
    bar = tqdm(chosen, desc="evaluate", unit="model", disable=not show, leave=False)
    for model in bar:
        bar.set_postfix_str(model.name)
        model, compile_s, fit_s = _timed_fit(model, train, notes, warmup)
        t1 = time.perf_counter()
        pred, fell_back = model.predict_with_fallback(test)
        predict_s = time.perf_counter() - t1
        row = {"model": model.name}
        row.update({n: _ERROR_FNS[n](pred, test.ratings) for n in names if n in _ERROR_FNS})
        if ranking:
            row.update(
                ranking_metrics(test.user_codes, test.ratings, pred, ranking, relevance_threshold)
            )
        coverage = 1.0 - float(fell_back.mean()) if len(fell_back) else 1.0
        row.update(coverage=coverage, fit_s=fit_s, predict_s=predict_s, compile_s=compile_s)
        rows.append(row)
        log.info(
            "%s: %s, fit %.3fs, predict %.3fs",
            model.name,
            ", ".join(f"{n} {row[n]:.6f}" for n in names),
            fit_s,
            predict_s,
        )
    columns = ["model", *names, "coverage", "fit_s", "predict_s", "compile_s"]
    table = pd.DataFrame(rows, columns=columns)
    table = table.sort_values(
        names[0], ascending=names[0] in ERROR_METRICS, kind="stable", na_position="last"
    ).reset_index(drop=True)
    table.attrs.update(
        n_train=len(train),
        n_test=len(test),
        source=ratings.source,
        notes=notes,
        metrics=names,
        relevance_threshold=float(relevance_threshold),
    )
    return table


def fit_with_memory_fallback(
    model: Recommender,
    train: Ratings,
    notes: list[str] | None = None,
    *,
    before_fallback: Callable[[Recommender, InsufficientMemoryError], None] | None = None,
) -> Recommender:
    """``model.fit(train)``; where that raises :class:`~fastrec.memory.InsufficientMemoryError`
    and the model names a lighter one (``model.memory_fallback()``, e.g. the k form of a
    similarity model), fit and return that instead, with a warning logged and appended to
    ``notes``. Re-raises where there is no lighter model. ``before_fallback(lighter, error)``
    runs just before the lighter model is fitted (``evaluate_all`` warms it up and restarts
    its clock there)."""
    try:
        return model.fit(train)
    except InsufficientMemoryError as err:
        lighter = model.memory_fallback()
        if lighter is None:
            raise
        note = f"{model.name} does not fit in memory ({err}); ran {lighter.name} instead"
        if notes is not None:
            notes.append(note)
        log.warning(note)
        if before_fallback is not None:
            before_fallback(lighter, err)
        return lighter.fit(train)


def _timed_fit(model: Recommender, train: Ratings, notes: list[str], warmup: bool):
    """``(fitted model, compile seconds, fit seconds)``: the warm-up and the clock restart
    with the lighter model where ``model`` does not fit in memory."""
    timing = {}

    def start(candidate: Recommender, _error: Exception | None = None) -> None:
        timing["compile_s"] = _warm_up(candidate) if warmup else float("nan")
        timing["t0"] = time.perf_counter()

    start(model)
    fitted = fit_with_memory_fallback(model, train, notes, before_fallback=start)
    return fitted, timing["compile_s"], time.perf_counter() - timing["t0"]


def _warm_up(model: Recommender) -> float:
    """Fit and predict a copy of ``model`` on a tiny set; returns the seconds it took."""
    t0 = time.perf_counter()
    tiny = _tiny_ratings()
    with warnings.catch_warnings():  # what a model says of the tiny set is not about the data
        warnings.simplefilter("ignore")
        model.clone().fit(tiny).predict(tiny)
    return time.perf_counter() - t0


def _tiny_ratings() -> Ratings:
    """40 users x 30 items, 8 ratings each, half stars: enough to run every code path."""
    rng = np.random.default_rng(0)
    n_users, n_items, per_user = 40, 30, 8
    users = np.repeat(np.arange(n_users), per_user)
    items = np.concatenate([rng.choice(n_items, per_user, replace=False) for _ in range(n_users)])
    values = rng.integers(1, 11, size=len(users)) / 2.0
    return Ratings(
        pd.Index(np.arange(1, n_users + 1), name="userId"),
        pd.Index(np.arange(1, n_items + 1), name="movieId"),
        users,
        items,
        values,
        np.arange(len(users), dtype=np.int64),
        source="warm-up",
    )
