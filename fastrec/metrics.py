"""Accuracy metrics of rating predictions."""

from __future__ import annotations

import numpy as np


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
    for name, arr in (("pred", pred), ("truth", truth)):
        bad = ~np.isfinite(arr)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{name} has {int(bad.sum())} NaN or infinite value(s), first at position {k}"
            )
    return pred, truth


def rmse(pred, truth) -> float:
    """Root mean squared error: ``sqrt(mean((pred - truth) ** 2))``."""
    pred, truth = _check(pred, truth)
    return float(np.sqrt(np.mean((pred - truth) ** 2)))


def mae(pred, truth) -> float:
    """Mean absolute error: ``mean(|pred - truth|)``."""
    pred, truth = _check(pred, truth)
    return float(np.mean(np.abs(pred - truth)))
