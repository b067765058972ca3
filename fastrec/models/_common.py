"""Helpers every model family uses: the Numba thread count around a kernel call, the
progress bar over epochs or iterations, and the spread of the training ratings (the unit of
the scale-free fits)."""

from __future__ import annotations

from contextlib import contextmanager

import numba
import numpy as np

#: Below this many ratings (or pairs to predict), kernels run on one thread unless ``n_threads``
#: says otherwise: the work is too small to pay for waking threads, and on a busy machine a
#: descheduled thread stalls every parallel step.
PARALLEL_MIN = 250_000


@contextmanager
def numba_threads(n_threads: int | None, n_work: int):
    """Run the block's Numba kernels on ``n_threads`` threads (``None``: as many as
    ``numba.get_num_threads()`` for ``n_work >= PARALLEL_MIN``, else one); the calling
    thread's setting is restored after."""
    old = numba.get_num_threads()
    if n_threads is None:
        n_threads = old if n_work >= PARALLEL_MIN else 1
    numba.set_num_threads(max(1, min(int(n_threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(old)


def progress_bar(show: bool, total: int, desc: str, unit: str):
    """A tqdm bar of ``total`` steps when ``show``, else ``None`` (callers test for it)."""
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit)


def unknown_to_minus_one(codes, n_train):
    """Set to -1, in place, the codes that are not in the id map (already -1) or have no
    training rating (``n_train[code] == 0``: a code of a shared id map whose ratings all went
    to the test set). Returns ``codes``."""
    inside = codes >= 0
    codes[inside] = np.where(n_train[codes[inside]] > 0, codes[inside], -1)
    return codes


class TrainingLog:
    """A model's ``history_`` (per epoch or iteration: each named value and its ``seconds``)
    and, with ``show``, a tqdm bar and one INFO line per step on ``logger``, such as
    ``ALS iteration 3/10: loss 1234.5 (0.21s)``."""

    def __init__(self, name: str, total: int, unit: str, show: bool, logger):
        self.name, self.total, self.unit, self.show, self.logger = name, total, unit, show, logger
        self.history: dict[str, list[float]] = {}
        self.bar = progress_bar(show, total, name, unit)

    def record(self, seconds: float, **values: float) -> None:
        """Append one step's ``values`` and ``seconds`` to the history; report it if shown."""
        for key, value in {**values, "seconds": seconds}.items():
            self.history.setdefault(key, []).append(float(value))
        if self.show:
            step = len(self.history["seconds"])
            shown = ", ".join(f"{k} {v:.6g}" for k, v in values.items())
            self.logger.info(
                "%s %s %d/%d: %s (%.2fs)", self.name, self.unit, step, self.total, shown, seconds
            )
            self.bar.set_postfix({k: f"{v:.6g}" for k, v in values.items()})
            self.bar.update()

    def close(self) -> dict[str, list[float]]:
        """Close the bar; returns the history (for ``history_``)."""
        if self.bar is not None:
            self.bar.close()
        return self.history


def rating_spread(ratings: np.ndarray) -> float:
    """The standard deviation of ``ratings`` (float64[n], the training ratings), the unit in
    which the iterative models fit, so that their learning rates, penalties and initial
    scales mean the same on any rating scale; 1.0 when the ratings are all equal (any unit
    fits a constant, and 1 keeps the arithmetic finite).

    Notes
    -----
    A model fits the standardised ratings ``z = (r - mu) / s`` (``mu`` the training mean,
    ``s`` this spread) and converts what it learned back to rating units: an answer of
    ``a * pred + b`` to ratings ``a * r + b`` (``a > 0``) follows, up to rounding.
    """
    spread = float(np.std(ratings))
    return spread if spread > 0 and np.isfinite(spread) else 1.0
