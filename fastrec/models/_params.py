"""Declared parameter constraints, checked once by :meth:`Recommender.fit` (scikit-learn's
``_parameter_constraints`` idea, in a few lines).

A model lists, for each constructor argument, the values it allows::

    _parameter_constraints = {
        "n_factors": [Int(1)],               # an integer >= 1
        "reg_bias": [None, Real(0)],         # None or a finite number >= 0
        "lr": [Real(0, open_low=True)],      # a finite number > 0
        "solver": [OneOf("arpack", "randomized")],
        "show_progress": [Bool()],
    }

A value is allowed when any entry of its list accepts it (``None`` in the list accepts
``None``). Every refusal reads the same:
``ValueError("BiasedMF: n_factors must be an integer >= 1, got 0")``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass


@dataclass(frozen=True)
class Int:
    """An integer (``bool`` excluded) in ``[low, high]``; ``None`` leaves a side open."""

    low: int | None = None
    high: int | None = None

    def accepts(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            return False
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def describe(self) -> str:
        return "an integer" + _bounds(self.low, self.high, False)


@dataclass(frozen=True)
class Real:
    """A finite real number (``bool`` excluded) in ``[low, high]``, or ``(low, high]`` with
    ``open_low``; ``None`` leaves a side open."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False

    def accepts(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.open_low else value < self.low):
            return False
        return self.high is None or value <= self.high

    def describe(self) -> str:
        return "a finite number" + _bounds(self.low, self.high, self.open_low)


@dataclass(frozen=True)
class Bool:
    """``True`` or ``False`` (numpy booleans too); not ``0``/``1``."""

    def accepts(self, value) -> bool:
        return isinstance(value, bool) or type(value).__name__ == "bool_"

    def describe(self) -> str:
        return "True or False"


class OneOf:
    """One of a fixed set of values (compared with ``==``, types checked)."""

    def __init__(self, *values):
        self.values = values

    def accepts(self, value) -> bool:
        return any(type(value) is type(v) and value == v for v in self.values)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


def _bounds(low, high, open_low: bool) -> str:
    parts = []
    if low is not None:
        parts.append(f"{'>' if open_low else '>='} {low}")
    if high is not None:
        parts.append(f"<= {high}")
    return (" " + " and ".join(parts)) if parts else ""


def check_params(owner: str, params: dict, constraints: dict) -> None:
    """Raise ``ValueError`` for the first parameter whose value no constraint allows.

    ``owner`` names the model in the message; ``params`` maps names to values; a name
    without constraints is not checked.
    """
    for name, allowed in constraints.items():
        value = params[name]
        if any(value is None if c is None else c.accepts(value) for c in allowed):
            continue
        what = " or ".join("None" if c is None else c.describe() for c in allowed)
        raise ValueError(f"{owner}: {name} must be {what}, got {value!r}")


#: The parameters every factor model has, with what they allow.
FACTOR_PARAMS = {
    "n_factors": [Int(1)],
    "init_std": [Real(0)],
    "seed": [Int(0)],
    "show_progress": [Bool()],
}
#: ... and every model fitted by stochastic gradient descent (BiasedMF, SVDpp).
SGD_PARAMS = {
    **FACTOR_PARAMS,
    "n_epochs": [Int(1)],
    "lr": [Real(0, open_low=True)],
    "reg": [Real(0)],
}
