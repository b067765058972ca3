"""evaluate_all: one load, a protocol's folds (one split by default), every model fitted and
scored, one table. The protocols and the scoring are in :mod:`fastrec.protocols`."""

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
from .memory import InsufficientMemoryError
from .metrics import _threshold
from .models import ALL_MODELS, MODELS, Recommender
from .protocols import ERROR_METRICS, SPLITS, check_protocol, make_folds, score, summarize
from .protocols import parse_metrics as _parse_metrics

log = logging.getLogger(__name__)

#: Columns of the table, in order, with the default ``metrics``.
COLUMNS = ("model", "rmse", "mae", "coverage", "fit_s", "predict_s", "compile_s")

#: The metrics of the table by default.
DEFAULT_METRICS = ("rmse", "mae")

__all__ = [
    "COLUMNS",
    "DEFAULT_METRICS",
    "ERROR_METRICS",
    "SPLITS",
    "evaluate_all",
    "fit_with_memory_fallback",
    "model_from_spec",
    "parse_metrics",
    "resolve_models",
]


def parse_metrics(metrics) -> list[str]:
    """Canonical column names for ``metrics`` (None, a name, or a list of names).

    ``None`` gives :data:`DEFAULT_METRICS`. Names: ``rmse``, ``mae``, ``precision@K``,
    ``recall@K``, ``ndcg@K``, ``catalog-precision@K``, ``catalog-recall@K``,
    ``catalog-ndcg@K``, ``catalog-map@K``, ``catalog-coverage@K`` (K an integer >= 1),
    case-insensitive; returned in lower case, in the order given. Unknown names, duplicates
    and an empty list raise ``ValueError`` (:func:`fastrec.protocols.parse_metrics`).
    """
    return _parse_metrics(metrics, DEFAULT_METRICS)


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
                f"unknown model {m!r}; expected a model instance or one of {list(ALL_MODELS)}"
            )
    return chosen, notes


def model_from_spec(spec: str) -> Recommender:
    """A model from ``"NAME"`` or ``"NAME(param=value, ...)"``: NAME a class name of
    :data:`~fastrec.models.ALL_MODELS` (case-insensitive) or the blog post's label, each value a
    Python literal (a number, string, True/False/None, or a tuple/list/dict of those).
    Raises ``ValueError`` naming what is wrong: an unknown name, a parameter the model does
    not have or that is given twice, a value that is not a literal, positional arguments."""
    by_name = {name.lower(): cls for name, cls in ALL_MODELS.items()}
    by_name.update({cls.post_label.lower(): cls for cls in ALL_MODELS.values() if cls.post_label})
    text = spec.strip()
    if text.lower() in by_name:  # labels hold spaces and dashes: look them up whole
        return by_name[text.lower()]()
    unknown = (
        f"unknown model {spec!r}; expected one of {list(ALL_MODELS)} (case-insensitive) or the "
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
    data: str | os.PathLike | Ratings | None = None,
    models=None,
    *,
    test_size: float = 0.2,
    seed: int | None = 7,
    warmup: bool = True,
    show_progress: bool | None = None,
    metrics=None,
    relevance_threshold: float = 4.0,
    cv: int | None = None,
    split="random",
) -> pd.DataFrame:
    """Fit and score every model on one split (or ``cv`` folds) of ``data``; one row per
    model, best first.

    Parameters
    ----------
    data : path of a ratings file (see :func:`fastrec.load_ratings`), Ratings, or None
        The ratings to split; ``None`` (and only then) when ``split`` is a (train, test)
        pair.
    models : None, or a list of model names and instances
        ``None``: every model of :data:`fastrec.models.MODELS` (those whose optional
        dependency is missing are skipped with a warning and a note in
        ``table.attrs["notes"]``); names as the ``model`` column prints them, or the blog
        post's labels, optionally with parameters (``"ItemKNN(k=40)"``).
    test_size : float
        Test share of the ``"random"``, ``"temporal"`` and ``"user-temporal"`` splits
        (ignored with ``cv`` and with a given pair).
    seed : int or None
        Seeds the random split (the post's by default, :func:`fastrec.train_test_split`) and
        the ``cv`` folds.
    warmup : bool
        Compile each model's Numba kernels on a tiny set first (once, before the first
        fold), so that ``fit_s`` and ``predict_s`` measure run time; the compile time is
        reported as ``compile_s``.
    show_progress : bool or None
        A progress bar over the folds and models; ``None`` shows one when stderr is a
        terminal. Each fold's scores are also logged at INFO level.
    metrics : None or list of str
        The score columns, in order: ``None`` (``["rmse", "mae"]``) or names among ``rmse``,
        ``mae``; ``precision@K``, ``recall@K``, ``ndcg@K`` (each user's test items ranked
        by the predictions, :func:`fastrec.ranking_metrics`); ``catalog-precision@K``,
        ``catalog-recall@K``, ``catalog-ndcg@K``, ``catalog-map@K``,
        ``catalog-coverage@K`` (each test user's ``recommend(n=K, exclude_seen=True)``
        over the whole catalogue, :func:`fastrec.metrics.catalog_metrics`). The time of
        the ranking and catalogue metrics is not part of ``predict_s``.
    relevance_threshold : float
        A test rating is relevant to the ranking and catalogue metrics when
        ``>= relevance_threshold`` (default 4.0).
    cv : None or int
        ``k >= 2``: ``k`` random folds of the ratings (:func:`fastrec.kfold`, by ``seed``;
        every rating in exactly one test fold), each model fitted and scored on each; only
        with ``split="random"``.
    split : str or (train, test)
        ``"random"`` (default: the post's split), ``"temporal"`` (the latest ``test_size``
        share of the ratings by timestamp, :func:`fastrec.split.temporal_split`),
        ``"user-temporal"`` (each user's latest ratings,
        :func:`fastrec.split.user_temporal_split`), or a ``(train, test)`` pair of Ratings
        or file paths, recoded onto shared id maps (:func:`fastrec.split.aligned_pair`).
        The temporal splits need timestamps.

    Returns
    -------
    pandas.DataFrame
        Columns ``model``, the ``metrics`` (by default ``rmse, mae``), with ``cv`` each
        metric's standard deviation over the folds (``rmse_std``, ...; ``ddof=0``, as
        Surprise's ``cross_validate``), then ``coverage, fit_s, predict_s, compile_s``
        (``coverage``: share of test predictions made by the model itself rather than its
        fallback for unknown users/items). With ``cv`` the metric columns, ``coverage``,
        ``fit_s`` and ``predict_s`` are means over the folds. Sorted by the first metric
        (ascending for rmse/mae, descending for the others). ``attrs`` holds ``n_train``,
        ``n_test`` (with ``cv``: the mean fold sizes, rounded), ``source``, ``notes``,
        ``metrics``, ``relevance_threshold``, ``split``, ``cv`` and ``fold_scores`` (one
        dict per model and fold: ``model``, ``fold``, the scores and seconds).
    """
    from tqdm.auto import tqdm

    names = parse_metrics(metrics)  # bad arguments fail before any data is read or fit
    relevance_threshold = _threshold(relevance_threshold)
    check_protocol(split, cv)
    chosen, notes = resolve_models(models)
    for note in notes:
        warnings.warn(note, stacklevel=2)
        log.warning(note)
    ratings, n_folds, folds = make_folds(data, split, cv, test_size, seed)
    show = sys.stderr.isatty() if show_progress is None else bool(show_progress)
    per_model: list[list[dict]] = [[] for _ in chosen]
    compile_s = [float("nan")] * len(chosen)
    sizes = []
    bar = tqdm(total=n_folds * len(chosen), desc="evaluate", disable=not show, leave=False)
    for fold, (train, test) in enumerate(folds, start=1):
        sizes.append((len(train), len(test)))
        if n_folds > 1:
            bar.set_description(f"fold {fold}/{n_folds}")
        for j, model in enumerate(chosen):
            bar.set_postfix_str(model.name)
            fitted, compiled, fit_s = _timed_fit(model, train, notes, warmup and fold == 1)
            if fold == 1:
                compile_s[j] = compiled
            chosen[j] = fitted  # a lighter model that ran instead runs on the other folds
            row = {"model": fitted.name, **score(fitted, test, names, relevance_threshold)}
            row["fit_s"] = fit_s
            per_model[j].append(row)
            log.info(
                "%s%s: %s, fit %.3fs, predict %.3fs",
                f"fold {fold}/{n_folds} " if n_folds > 1 else "",
                fitted.name,
                ", ".join(f"{n} {row[n]:.6f}" for n in names),
                fit_s,
                row["predict_s"],
            )
            bar.update()
    bar.close()
    rows = []
    for j, fold_rows in enumerate(per_model):
        numbers_only = [{k: v for k, v in r.items() if k != "model"} for r in fold_rows]
        summary = summarize(numbers_only, names) if cv is not None else numbers_only[0]
        rows.append({"model": chosen[j].name, **summary, "compile_s": compile_s[j]})
    stds = [f"{n}_std" for n in names] if cv is not None else []
    columns = ["model", *names, *stds, "coverage", "fit_s", "predict_s", "compile_s"]
    table = pd.DataFrame(rows, columns=columns)
    table = table.sort_values(
        names[0], ascending=names[0] in ERROR_METRICS, kind="stable", na_position="last"
    ).reset_index(drop=True)
    n_train, n_test = np.mean(sizes, axis=0)
    table.attrs.update(
        n_train=int(round(n_train)),
        n_test=int(round(n_test)),
        source=ratings.source,
        notes=notes,
        metrics=names,
        relevance_threshold=float(relevance_threshold),
        split=split if isinstance(split, str) else "given",
        cv=cv,
        fold_scores=[
            {"model": r["model"], "fold": f, **{k: v for k, v in r.items() if k != "model"}}
            for fold_rows in per_model
            for f, r in enumerate(fold_rows, start=1)
        ],
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
