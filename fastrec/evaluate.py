"""evaluate_all: one load, one split, every model fitted and scored, one table."""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

from .data import Ratings, load_ratings
from .memory import InsufficientMemoryError
from .metrics import mae, rmse
from .models import MODELS, Recommender
from .split import train_test_split

log = logging.getLogger(__name__)

#: Columns of the table, in order.
COLUMNS = ("model", "rmse", "mae", "coverage", "fit_s", "predict_s", "compile_s")


def resolve_models(models) -> tuple[list[Recommender], list[str]]:
    """Model instances for ``models`` (None, names or instances) and notes on those skipped.

    Names are class names (case-insensitive) or the blog post's labels. With ``None``,
    every model of :data:`fastrec.models.MODELS` whose optional dependency is installed.
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
    by_name = {name.lower(): cls for name, cls in MODELS.items()}
    by_name.update({cls.post_label.lower(): cls for cls in MODELS.values() if cls.post_label})
    chosen = []
    for m in models:
        if isinstance(m, Recommender):
            chosen.append(m)
        elif isinstance(m, str) and m.strip().lower() in by_name:
            chosen.append(by_name[m.strip().lower()]())
        else:
            raise ValueError(
                f"unknown model {m!r}; expected a model instance or one of {list(MODELS)}"
            )
    return chosen, notes


def evaluate_all(
    data: str | os.PathLike | Ratings,
    models=None,
    *,
    test_size: float = 0.2,
    seed: int | None = 7,
    warmup: bool = True,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Fit and score every model on one split of ``data``; one row per model, best RMSE first.

    Parameters
    ----------
    data : path of a ratings file (see :func:`fastrec.load_ratings`) or :class:`Ratings`
    models : None (every model fastrec has; those whose optional dependency is missing are
        skipped with a warning and a note in ``table.attrs["notes"]``), or a list of model
        names (as the ``model`` column prints them, or the blog post's labels) and instances.
    test_size, seed : the split, :func:`fastrec.train_test_split` (the post's by default)
    warmup : compile each model's Numba kernels on a tiny set first, so that ``fit_s`` and
        ``predict_s`` measure run time; the compile time is reported as ``compile_s``.
    progress : show a progress bar; ``None`` shows one when stderr is a terminal.

    Returns
    -------
    pandas.DataFrame with columns ``model, rmse, mae, coverage, fit_s, predict_s,
    compile_s`` (``coverage``: share of test predictions made by the model itself rather
    than its fallback for unknown users/items), sorted by ``rmse``; ``attrs`` holds
    ``n_train``, ``n_test``, ``source`` and ``notes``.
    """
    from tqdm.auto import tqdm

    ratings = data if isinstance(data, Ratings) else load_ratings(data)
    chosen, notes = resolve_models(models)
    for note in notes:
        warnings.warn(note, stacklevel=2)
        log.warning(note)
    train, test = train_test_split(ratings, test_size=test_size, seed=seed)
    show = sys.stderr.isatty() if progress is None else progress
    rows = []
    bar = tqdm(chosen, desc="evaluate", unit="model", disable=not show, leave=False)
    for model in bar:
        bar.set_postfix_str(model.name)
        compile_s = _warm_up(model) if warmup else float("nan")
        t0 = time.perf_counter()
        try:
            model.fit(train)
        except InsufficientMemoryError as err:
            lighter = model.memory_fallback()
            if lighter is None:
                raise
            note = f"{model.name} does not fit in memory ({err}); ran {lighter.name} instead"
            notes.append(note)
            log.warning(note)
            model = lighter
            compile_s = _warm_up(model) if warmup else float("nan")
            t0 = time.perf_counter()
            model.fit(train)
        t1 = time.perf_counter()
        pred = model.predict(test)
        t2 = time.perf_counter()
        rows.append(
            {
                "model": model.name,
                "rmse": rmse(pred, test.ratings),
                "mae": mae(pred, test.ratings),
                "coverage": model.coverage_,
                "fit_s": t1 - t0,
                "predict_s": t2 - t1,
                "compile_s": compile_s,
            }
        )
        log.info(
            "%s: rmse %.6f, fit %.3fs, predict %.3fs",
            model.name,
            rows[-1]["rmse"],
            t1 - t0,
            t2 - t1,
        )
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table = table.sort_values("rmse", kind="stable").reset_index(drop=True)
    table.attrs.update(n_train=len(train), n_test=len(test), source=ratings.source, notes=notes)
    return table


def _warm_up(model: Recommender) -> float:
    """Fit and predict a copy of ``model`` on a tiny set; returns the seconds it took."""
    t0 = time.perf_counter()
    tiny = _tiny_ratings()
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
