"""tune: grid or random search over a model's parameters, scored on k folds of the training
data, the best setting refitted on all of it (Surprise's ``GridSearchCV`` and
``RandomizedSearchCV`` in one function)."""

from __future__ import annotations

import itertools
import logging
import math
import numbers
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd

from .data import Ratings
from .evaluate import _warm_up, model_from_spec
from .io import load_ratings
from .metrics import _threshold
from .models import Recommender
from .models._common import PARALLEL_MIN
from .protocols import ERROR_METRICS, parse_metrics, score
from .split import kfold

log = logging.getLogger(__name__)

__all__ = ["TuneResult", "tune"]


@dataclass(frozen=True, repr=False)
class TuneResult:
    """What :func:`tune` returns.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per setting, best first: a column per searched parameter, the metric's
        mean over the folds (column named as the metric, e.g. ``rmse``), its standard
        deviation (``rmse_std``, ``ddof=0``), and ``fit_s``, ``predict_s`` (mean seconds
        per fold).
    best_params : dict
        The searched parameters of the first row.
    best_score : float
        Its mean score.
    best_model : Recommender or None
        A clone of the model with ``best_params``, fitted on all of ``data`` (``None``
        with ``refit=False``).
    metric : str
        The metric's canonical name.
    """

    table: pd.DataFrame
    best_params: dict
    best_score: float
    best_model: Recommender | None
    metric: str

    def __repr__(self) -> str:
        return (
            f"TuneResult(metric={self.metric!r}, best_score={self.best_score:.6f}, "
            f"best_params={self.best_params!r}, settings={len(self.table)}, "
            f"cv={self.table.attrs.get('cv')})"
        )


def tune(
    model: Recommender | str,
    grid: dict,
    data: str | os.PathLike | Ratings,
    *,
    cv: int = 3,
    metric: str = "rmse",
    n_iter: int | None = None,
    seed: int | None = 0,
    relevance_threshold: float = 4.0,
    n_jobs: int | None = None,
    refit: bool = True,
    show_progress: bool | None = None,
) -> TuneResult:
    """Search ``model``'s parameters over ``grid`` on ``cv`` folds of ``data``.

    Parameters
    ----------
    model : Recommender or str
        The model whose other parameters stay as they are (an instance, or a name such as
        ``"BiasedMF(n_epochs=30)"``, see :func:`fastrec.evaluate.model_from_spec`).
    grid : dict
        Parameter name -> non-empty list of values, e.g.
        ``{"n_factors": [50, 100], "lr": [0.005, 0.01], "reg": [0.02, 0.05, 0.1]}``: every
        combination is a setting (12 here). Every setting is checked against the model's
        constraints before anything is fitted.
    data : path of a ratings file, or Ratings
        The TRAINING data: the folds are made from it, and the best model is refitted on
        all of it. Keep the test set out of it; score the returned model on that set
        afterwards.
    cv : int
        Number of folds (>= 2), :func:`fastrec.kfold` of ``data`` by ``seed``.
    metric : str
        The score to rank settings by: ``rmse`` or ``mae`` (lower is better) or any
        ranking or catalogue metric of :func:`fastrec.evaluate_all` (higher is better).
    n_iter : int or None
        ``None``: every setting of the grid (grid search); an integer: that many distinct
        settings drawn at random from the grid by ``seed`` (random search; all of them
        when the grid has no more).
    seed : int or None
        Seeds the folds and the draw of ``n_iter`` settings.
    relevance_threshold : float
        Relevance threshold of a ranking or catalogue ``metric``.
    n_jobs : int or None
        Fits that run at once, on threads. ``None``: as many as the cores when a fold's
        training set has fewer than 250,000 ratings (the Numba kernels then run on one
        thread each) and the model is not a Keras one, else 1 (each fit already uses
        every core, and one fit at a time bounds the memory).
    refit : bool
        Fit the best setting on all of ``data`` (``best_model``).
    show_progress : bool or None
        A progress bar over the fits; ``None`` shows one when stderr is a terminal.

    Returns
    -------
    TuneResult
        ``table`` (sorted, best first), ``best_params``, ``best_score``, ``best_model``,
        ``metric``; ``table.attrs`` holds ``metric``, ``cv``, ``seed``, ``n_jobs``,
        ``n_settings`` (of the whole grid) and ``seconds`` (wall time of the search).

    Notes
    -----
    Each (setting, fold) pair is one fit of a fresh clone and one scoring of its fold's
    test part (:func:`fastrec.protocols.score`), independent of the others, so the result
    does not depend on ``n_jobs``. The kernels are compiled once, before the search, on a
    tiny set. With several threads, ``fit_s`` is each fit's own wall time while others ran
    beside it. A fit that fails raises its error, naming the setting and the fold.
    """
    from tqdm.auto import tqdm

    base = model_from_spec(model) if isinstance(model, str) else model
    if not isinstance(base, Recommender):
        raise TypeError(f"model must be a Recommender or a model name, got {type(base).__name__}")
    (metric,) = parse_metrics([metric]) if isinstance(metric, str) else parse_metrics(metric)
    relevance_threshold = _threshold(relevance_threshold)
    if isinstance(cv, bool) or not isinstance(cv, numbers.Integral) or cv < 2:
        raise ValueError(f"cv must be an integer >= 2 (the number of folds), got {cv!r}")
    if n_jobs is not None and (
        isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs < 1
    ):
        raise ValueError(f"n_jobs must be None or an integer >= 1, got {n_jobs!r}")
    names, values = _check_grid(base, grid)
    settings = _draw(values, n_iter, seed)
    for setting in settings:  # every setting checked before anything is fitted
        base.clone().set_params(**dict(zip(names, setting, strict=True))).validate_params()
    ratings = data if isinstance(data, Ratings) else load_ratings(data)
    folds = list(kfold(ratings, int(cv), seed))
    tasks = [(s, f) for s in range(len(settings)) for f in range(len(folds))]

    def run(task):
        s, f = task
        params = dict(zip(names, settings[s], strict=True))
        train, test = folds[f]
        fitted = base.clone().set_params(**params)
        t0 = time.perf_counter()
        try:
            fitted.fit(train)
            fit_s = time.perf_counter() - t0
            scores = score(fitted, test, [metric], relevance_threshold)
        except ValueError as err:  # e.g. a learning rate that diverges: name the setting
            raise ValueError(f"tune: {fitted.name} on fold {f + 1}/{len(folds)}: {err}") from err
        return s, f, scores[metric], fit_s, scores["predict_s"]

    t_start = time.perf_counter()
    _warm_up(base)  # compile once here, not in every thread at once
    jobs = _jobs(n_jobs, base, len(folds[0][0]), len(tasks))
    show = sys.stderr.isatty() if show_progress is None else bool(show_progress)
    bar = tqdm(total=len(tasks), desc=f"tune {type(base).__name__}", disable=not show)
    results = []
    if jobs == 1:
        for task in tasks:
            results.append(run(task))
            bar.update()
    else:
        with ThreadPoolExecutor(jobs, initializer=numba.set_num_threads, initargs=(1,)) as pool:
            for result in pool.map(run, tasks):
                results.append(result)
                bar.update()
    bar.close()
    table = _table(names, settings, results, metric, len(folds))
    seconds = time.perf_counter() - t_start
    best = settings[int(table["setting"].iloc[0])]
    best_params = dict(zip(names, best, strict=True))
    best_score = float(table[metric].iloc[0])
    table = table.drop(columns="setting")
    log.info(
        "tune %s: %d settings x %d folds in %.2fs on %d thread(s); best %s %.6f with %s",
        type(base).__name__, len(settings), len(folds), seconds, jobs, metric, best_score,
        best_params,
    )  # fmt: skip
    best_model = base.clone().set_params(**best_params).fit(ratings) if refit else None
    table.attrs.update(
        metric=metric,
        cv=int(cv),
        seed=seed,
        n_jobs=jobs,
        n_settings=math.prod(len(v) for v in values),
        seconds=seconds,
    )
    return TuneResult(table, best_params, best_score, best_model, metric)


def _check_grid(model: Recommender, grid) -> tuple[list[str], list[list]]:
    """The grid's parameter names and value lists, checked against the model's parameters."""
    if not isinstance(grid, dict) or not grid:
        raise ValueError(
            "grid must be a non-empty dict of parameter name -> list of values, e.g. "
            "{'lr': [0.005, 0.01]}"
        )
    valid = model.get_params()
    wrong = [name for name in grid if name not in valid]
    if wrong:
        raise ValueError(
            f"{type(model).__name__} has no parameter {', '.join(map(repr, wrong))}; its "
            f"parameters are {', '.join(valid)}"
        )
    values = []
    for name, options in grid.items():
        if isinstance(options, (str, bytes, dict)) or not hasattr(options, "__len__"):
            raise ValueError(f"grid[{name!r}] must be a list of values, got {options!r}")
        if len(options) == 0:
            raise ValueError(f"grid[{name!r}] is empty; give at least one value")
        values.append(list(options))
    return list(grid), values


def _draw(values: list[list], n_iter, seed) -> list[tuple]:
    """Every setting of the grid (``n_iter`` None, or at least the grid's size), or
    ``n_iter`` distinct ones drawn by ``seed`` without building the whole grid (setting
    number ``p`` is read as a mixed-radix number, one digit per parameter)."""
    if n_iter is not None and (
        isinstance(n_iter, bool) or not isinstance(n_iter, numbers.Integral) or n_iter < 1
    ):
        raise ValueError(f"n_iter must be None or an integer >= 1, got {n_iter!r}")
    total = math.prod(len(v) for v in values)
    if n_iter is None or n_iter >= total:
        return list(itertools.product(*values))
    picks = np.random.default_rng(seed).choice(total, size=int(n_iter), replace=False)
    settings = []
    for pick in picks.tolist():
        digits = []
        for v in reversed(values):
            pick, digit = divmod(pick, len(v))
            digits.append(v[digit])
        settings.append(tuple(reversed(digits)))
    return settings


def _jobs(n_jobs, model: Recommender, fold_size: int, n_tasks: int) -> int:
    """How many fits run at once (see ``tune``'s ``n_jobs``); called after a warm-up, when
    Numba's threading layer is chosen."""
    if _threading_layer() == "workqueue":
        # Numba's fallback layer aborts the process when two threads enter it at once.
        if n_jobs not in (None, 1):
            log.warning(
                "n_jobs=%s: Numba's workqueue threading layer runs one fit at a time "
                "(install tbb, or use an OpenMP build, for parallel fits)",
                n_jobs,
            )
        return 1
    if n_jobs is not None:
        return int(min(n_jobs, n_tasks))
    # Keras models train on TensorFlow's own thread pools; large folds use every core already.
    if fold_size >= PARALLEL_MIN or type(model).__module__.startswith("fastrec.models.keras"):
        return 1
    return max(1, min(os.cpu_count() or 1, n_tasks))


def _threading_layer() -> str | None:
    """Numba's threading layer (``omp``, ``tbb``, ``workqueue``), ``None`` before any
    parallel kernel has run."""
    try:
        return numba.threading_layer()
    except ValueError:
        return None


def _table(names, settings, results, metric: str, n_folds: int) -> pd.DataFrame:
    """One row per setting: parameters, mean and std of the metric, mean seconds; sorted
    best first (ties in the order of the settings). The ``setting`` column is the setting's
    position in ``settings``."""
    scores = np.full((len(settings), n_folds), np.nan)
    fit_s = np.zeros((len(settings), n_folds))
    predict_s = np.zeros((len(settings), n_folds))
    for s, f, value, fit, predict in results:
        scores[s, f], fit_s[s, f], predict_s[s, f] = value, fit, predict
    columns = {}
    for j, name in enumerate(names):
        cells = [setting[j] for setting in settings]
        # Numbers make a numeric column; anything else stays as given (None, not NaN).
        numeric = all(isinstance(c, numbers.Real) and not isinstance(c, bool) for c in cells)
        columns[name] = cells if numeric else pd.Series(cells, dtype=object)
    table = pd.DataFrame(columns)
    table[metric] = scores.mean(axis=1)
    table[f"{metric}_std"] = scores.std(axis=1)
    table["fit_s"] = fit_s.mean(axis=1)
    table["predict_s"] = predict_s.mean(axis=1)
    table["setting"] = np.arange(len(settings))
    return table.sort_values(
        metric, ascending=metric in ERROR_METRICS, kind="stable", na_position="last"
    ).reset_index(drop=True)
