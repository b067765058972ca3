"""Ratings: the one container every model reads (files are read by :mod:`fastrec.io`).

A :class:`Ratings` holds, for ``n`` ratings,

- ``user_codes``, ``item_codes``: ``int32[n]`` positions into ``user_index`` / ``item_index``
  (``pandas.Index`` of the raw ids, sorted), the raw-id <-> code maps;
- ``ratings``: ``float64[n]``;
- ``timestamps``: ``int64[n]`` or ``None``;
- ``rating_scale``: ``(lo, hi)`` given with the data (every rating lies within it), or ``None``;

in the order of the source file. The CSR (users x items) and CSC matrices are built once,
on first use. Subsets made by a split share the id maps of the whole file, so a user of
the test set has the same code in the train set even if all of its ratings went to test.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .kernels.sparse import count_duplicate_pairs

log = logging.getLogger(__name__)

#: Column names of MovieLens ``ratings.csv`` (every release since 2016) and of ``Ratings.to_frame``.
COLUMNS = ("userId", "movieId", "rating", "timestamp")

DUPLICATE_RULES = ("error", "last")


class Ratings:
    """Explicit ratings of items by users, with raw-id <-> code maps.

    Build one with :func:`load_ratings`, :meth:`Ratings.from_frame` or a split; the
    constructor itself trusts its arguments (codes in range, finite ratings).

    Attributes
    ----------
    user_index, item_index : pandas.Index
        Raw ids, sorted (in order of appearance for ids of mixed, unorderable types);
        code ``c`` is raw id ``user_index[c]``.
    user_codes, item_codes : np.ndarray[int32]
    ratings : np.ndarray[float64]
    timestamps : np.ndarray[int64] or None
    source : str or None
        Where the ratings came from (a path), used in messages.
    rating_scale : tuple[float, float] or None
        The scale ``(lo, hi)`` the ratings were given on (``load_ratings(...,
        rating_scale=(1, 10))``), or ``None`` where it is taken from the data; see
        :attr:`rating_range`.
    """

    __slots__ = (
        "user_index",
        "item_index",
        "user_codes",
        "item_codes",
        "ratings",
        "timestamps",
        "source",
        "rating_scale",
        "_csr",
        "_csc",
    )

    def __init__(
        self,
        user_index: pd.Index,
        item_index: pd.Index,
        user_codes: np.ndarray,
        item_codes: np.ndarray,
        ratings: np.ndarray,
        timestamps: np.ndarray | None = None,
        source: str | None = None,
        rating_scale: tuple[float, float] | None = None,
    ):
        self.user_index = user_index
        self.item_index = item_index
        self.user_codes = np.ascontiguousarray(user_codes, dtype=np.int32)
        self.item_codes = np.ascontiguousarray(item_codes, dtype=np.int32)
        self.ratings = np.ascontiguousarray(ratings, dtype=np.float64)
        self.timestamps = (
            None if timestamps is None else np.ascontiguousarray(timestamps, dtype=np.int64)
        )
        self.source = source
        self.rating_scale = check_rating_scale(rating_scale)
        self._csr = None
        self._csc = None
        n = len(self.ratings)
        n_ts = n if self.timestamps is None else len(self.timestamps)
        if len(self.user_codes) != n or len(self.item_codes) != n or n_ts != n:
            raise ValueError(
                f"user_codes ({len(self.user_codes)}), item_codes ({len(self.item_codes)}), "
                f"ratings ({n}) and timestamps ({n_ts}) must have the same length"
            )

    # ----------------------------------------------------------------- sizes
    @property
    def n_users(self) -> int:
        """Number of users in the id map (of the whole file, for a split)."""
        return len(self.user_index)

    @property
    def n_items(self) -> int:
        """Number of items in the id map (of the whole file, for a split)."""
        return len(self.item_index)

    def __len__(self) -> int:
        return len(self.ratings)

    def __repr__(self) -> str:
        src = f", source={self.source!r}" if self.source else ""
        scale = f", rating_scale={self.rating_scale}" if self.rating_scale is not None else ""
        return (
            f"Ratings(n_ratings={len(self):,}, n_users={self.n_users:,}, "
            f"n_items={self.n_items:,}{scale}{src})"
        )

    @property
    def rating_range(self) -> tuple[float, float]:
        """``(lo, hi)``: the given :attr:`rating_scale`, else the smallest and largest rating.

        What a model fitted on these ratings clips its predictions to.
        """
        if self.rating_scale is not None:
            return self.rating_scale
        if len(self.ratings) == 0:
            raise ValueError("no ratings: the rating range of an empty Ratings is undefined")
        return float(self.ratings.min()), float(self.ratings.max())

    # ------------------------------------------------------------- raw ids
    @property
    def user_ids(self) -> np.ndarray:
        """Raw user id of each rating."""
        return self.user_index.to_numpy()[self.user_codes]

    @property
    def item_ids(self) -> np.ndarray:
        """Raw item id of each rating."""
        return self.item_index.to_numpy()[self.item_codes]

    def to_frame(self) -> pd.DataFrame:
        """The ratings as a DataFrame with MovieLens column names (raw ids)."""
        cols = {
            self.user_index.name or "userId": self.user_ids,
            self.item_index.name or "movieId": self.item_ids,
            "rating": self.ratings,
        }
        if self.timestamps is not None:
            cols["timestamp"] = self.timestamps
        return pd.DataFrame(cols)

    @property
    def df(self) -> pd.DataFrame:
        """Alias of :meth:`to_frame`."""
        return self.to_frame()

    # ------------------------------------------------------------ matrices
    @property
    def csr(self) -> sp.csr_array:
        """users x items CSR matrix of the ratings (built once, on first use)."""
        if self._csr is None:
            t0 = time.perf_counter()
            self._csr = sp.csr_array(
                (self.ratings, (self.user_codes, self.item_codes)),
                shape=(self.n_users, self.n_items),
            )
            self._csr.sort_indices()
            log.debug("built CSR %s in %.2fs", self._csr.shape, time.perf_counter() - t0)
        return self._csr

    @property
    def csc(self) -> sp.csc_array:
        """users x items CSC matrix of the ratings (built once, on first use)."""
        if self._csc is None:
            self._csc = self.csr.tocsc()
            self._csc.sort_indices()
        return self._csc

    def user_counts(self) -> np.ndarray:
        """``int64[n_users]``: number of ratings of each user code."""
        return np.bincount(self.user_codes, minlength=self.n_users)

    def item_counts(self) -> np.ndarray:
        """``int64[n_items]``: number of ratings of each item code."""
        return np.bincount(self.item_codes, minlength=self.n_items)

    # -------------------------------------------------------------- subsets
    def subset(self, rows: np.ndarray) -> Ratings:
        """The ratings at ``rows`` (a boolean mask or positions), sharing the id maps."""
        rows = np.asarray(rows)
        return Ratings(
            self.user_index,
            self.item_index,
            self.user_codes[rows],
            self.item_codes[rows],
            self.ratings[rows],
            None if self.timestamps is None else self.timestamps[rows],
            source=self.source,
            rating_scale=self.rating_scale,
        )

    # --------------------------------------------------------- construction
    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        user: str = "userId",
        item: str = "movieId",
        rating: str = "rating",
        timestamp: str | None = "timestamp",
        *,
        duplicates: str = "error",
        source: str | None = None,
        rating_scale: tuple[float, float] | None = None,
    ) -> Ratings:
        """Build Ratings from a DataFrame with one row per rating.

        Parameters
        ----------
        df : pandas.DataFrame
            One row per rating; other columns are ignored.
        user, item, rating : str
            Column names of the user id, the item id and the rating.
        timestamp : str or None
            Column of the time of each rating (integer seconds since 1970, integral floats
            or datetimes); optional: if that column is absent the Ratings has no timestamps.
        duplicates : {"error", "last"}
            What a repeated (user, item) pair does: ``"error"`` (default) refuses,
            ``"last"`` keeps the latest rating of each pair by timestamp (the later row on
            ties, or without timestamps) and warns with the number dropped.
        source : str or None
            Where the frame came from, for messages.
        rating_scale : (lo, hi) or None
            The scale of the ratings (e.g. ``(1, 10)``): a rating outside it is an error
            naming its row, and models clip their predictions to it. ``None``: the range
            of the data.

        Returns
        -------
        Ratings

        Notes
        -----
        Ids may be of any hashable type (integers stay integers, strings stay strings);
        ratings must be finite numbers.
        """
        name = source or "DataFrame"
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"from_frame expects a pandas DataFrame, got {type(df).__name__}")
        _check_duplicate_rule(duplicates)
        rating_scale = check_rating_scale(rating_scale)
        for role, col in (("user", user), ("item", item), ("rating", rating)):
            if col not in df.columns:
                raise ValueError(
                    f"{name}: missing {role} column {col!r}; columns are {list(df.columns)} "
                    f"(pass {role}=... to name another)"
                )
        has_ts = timestamp is not None and timestamp in df.columns
        used = [user, item, rating] + ([timestamp] if has_ts else [])
        repeated = sorted({str(c) for c in df.columns[df.columns.duplicated()] if c in used})
        if repeated:
            raise ValueError(
                f"{name}: column(s) {repeated} appear more than once; expected one column each "
                "for user, item, rating (and timestamp)"
            )
        if len(df) == 0:
            raise ValueError(
                f"{name}: no ratings (the DataFrame is empty); expected one row per rating"
            )
        for col in (user, item):
            missing = df[col].isna().to_numpy()
            row = _first_row(missing)
            if row is not None:
                raise ValueError(
                    f"{name}: column {col!r} has {int(missing.sum())} missing id(s), first at "
                    f"row {row}; expected an id in every row (every rating needs a user and an "
                    "item)"
                )
        if df[rating].dtype.kind == "b":
            raise ValueError(
                f"{name}: column {rating!r} holds booleans; expected numeric ratings such as 3.5"
            )
        values = pd.to_numeric(df[rating], errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        bad = ~np.isfinite(values)
        row = _first_row(bad)
        if row is not None:
            raise ValueError(
                f"{name}: column {rating!r} has {int(bad.sum())} value(s) that are not finite "
                f"numbers, first at row {row}: {_show(df[rating].iloc[row])}; expected a finite "
                "number such as 3.5 in every row"
            )
        row = first_outside(values, rating_scale)
        if row is not None:
            raise ValueError(
                f"{name}: column {rating!r} has a rating outside the rating scale at row {row}: "
                f"{_show(df[rating].iloc[row])}; expected {_scale_words(rating_scale)}"
            )
        ts = None
        if has_ts:
            ts = _timestamps_of(df[timestamp], name, timestamp)
        u_codes, u_index = _factorize(df[user].to_numpy(), user)
        i_codes, i_index = _factorize(df[item].to_numpy(), item)
        out = cls(
            u_index, i_index, u_codes, i_codes, values, ts, source=source, rating_scale=rating_scale
        )
        return _apply_duplicate_rule(out, duplicates, name, lambda j, k: f"rows {j} and {k}")


def _timestamps_of(col: pd.Series, name: str, column: str) -> np.ndarray:
    """``int64`` seconds of a timestamp column (integers, integral floats or datetimes)."""
    if col.dtype.kind == "M":  # datetime64 -> seconds since 1970
        row = _first_row(col.isna().to_numpy())
        if row is not None:
            raise ValueError(
                f"{name}: column {column!r} has a missing timestamp at row {row}; expected a "
                "timestamp in every row"
            )
        if getattr(col.dt, "tz", None) is not None:
            col = col.dt.tz_convert("UTC").dt.tz_localize(None)
        return col.to_numpy().astype("datetime64[s]").astype(np.int64)
    num = pd.to_numeric(col, errors="coerce")
    values = num.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(values)
    if num.dtype.kind != "i":
        bad |= values != np.round(values)
    row = _first_row(bad)
    if row is not None:
        raise ValueError(
            f"{name}: column {column!r} has {int(bad.sum())} value(s) that are not integer "
            f"seconds, first at row {row}: {_show(col.iloc[row])}; expected integer seconds since "
            "1970 in every row"
        )
    if num.dtype.kind in "iu":
        return num.to_numpy(dtype=np.int64)
    return values.astype(np.int64)


def check_rating_scale(scale) -> tuple[float, float] | None:
    """``scale`` as ``(lo, hi)`` floats, checked (finite, ``lo < hi``); ``None`` stays ``None``."""
    if scale is None:
        return None
    try:
        lo, hi = (float(v) for v in scale)
    except (TypeError, ValueError):
        raise ValueError(
            f"rating_scale must be a pair of numbers (lo, hi) such as (1, 5), got {scale!r}"
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(
            f"rating_scale must be two finite numbers lo < hi such as (1, 5), got {scale!r}"
        )
    return lo, hi


def first_outside(values: np.ndarray, scale: tuple[float, float] | None) -> int | None:
    """Position of the first rating of ``values`` outside ``scale`` (``None``: none is)."""
    if scale is None:
        return None
    return _first_row((values < scale[0]) | (values > scale[1]))


def _scale_words(scale: tuple[float, float]) -> str:
    lo, hi = (_number(v) for v in scale)
    return f"ratings from {lo} to {hi} (rating_scale=({lo}, {hi}))"


def _number(value: float) -> str:
    """``5`` for 5.0, ``0.5`` for 0.5: a number as a person writes it."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _first_row(bad: np.ndarray) -> int | None:
    """Position of the first ``True`` of ``bad`` (the row a message names), or ``None``."""
    return int(np.flatnonzero(bad)[0]) if bad.any() else None


def _factorize(values: np.ndarray, name: str) -> tuple[np.ndarray, pd.Index]:
    """Codes (int32) and sorted unique ids of ``values``.

    Non-negative integer ids that are dense enough (MovieLens ids) go through a lookup
    table, O(n) and several times faster than hashing at 25M rows.
    """
    if values.dtype.kind in "iu" and len(values):
        lo, hi = int(values.min()), int(values.max())
        if lo >= 0 and hi < max(4 * len(values), 1 << 20):
            present = np.zeros(hi + 1, dtype=bool)
            present[values] = True
            uniques = np.flatnonzero(present)
            # int32 lookup: the codes come out int32 directly, without an int64[n] temporary.
            lookup = np.cumsum(present, dtype=np.int32)
            lookup -= 1
            codes = lookup[values]
            return codes, pd.Index(uniques.astype(values.dtype), name=name)
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # ids of mixed, unorderable types
        codes, uniques = pd.factorize(values, sort=False)
    if len(uniques) >= 2**31:
        raise ValueError(f"column {name!r} has {len(uniques):,} distinct ids; at most 2**31 - 1")
    return codes.astype(np.int32), pd.Index(uniques, name=name)


def _check_duplicate_rule(rule: str) -> None:
    if rule not in DUPLICATE_RULES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_RULES}, got {rule!r}")


def _apply_duplicate_rule(
    ratings: Ratings, rule: str, name: str, where: Callable[[int, int], str]
) -> Ratings:
    """Refuse or resolve repeated (user, item) pairs; never drop one silently.

    ``where(j, k)`` says where rows ``j`` and ``k`` are in the source ("lines 3 and 7").
    """
    _check_duplicate_rule(rule)
    n = len(ratings)
    order = np.empty(n, dtype=np.int32 if n < 2**31 else np.int64)  # scratch
    n_repeated, k, j = count_duplicate_pairs(
        ratings.user_codes, ratings.item_codes, ratings.n_users, ratings.n_items, order
    )
    del order
    if n_repeated == 0:
        return ratings
    example = (
        f"user {_show(ratings.user_index[ratings.user_codes[k]])}, "
        f"item {_show(ratings.item_index[ratings.item_codes[k]])} ({where(j, k)})"
    )
    if rule == "error":
        raise ValueError(
            f"{name}: {n_repeated:,} duplicate (user, item) pair(s), e.g. {example}; "
            "expected each user to rate each item at most once "
            "(pass duplicates='last' to keep the latest rating of each pair)"
        )
    # rule == "last": latest timestamp wins, later row on ties.
    ts = ratings.timestamps if ratings.timestamps is not None else np.zeros(n, np.int64)
    order = np.lexsort((np.arange(n), ts, ratings.item_codes, ratings.user_codes))
    u, i = ratings.user_codes[order], ratings.item_codes[order]
    last_of_pair = np.ones(n, dtype=bool)
    last_of_pair[:-1] = (u[1:] != u[:-1]) | (i[1:] != i[:-1])
    keep = np.sort(order[last_of_pair])
    n_dropped = n - len(keep)
    msg = (
        f"{name}: {n_dropped:,} duplicate (user, item) rating(s) dropped, keeping the latest "
        f"of each pair (duplicates='last'); e.g. {example}"
    )
    warnings.warn(msg, stacklevel=_caller_stacklevel())
    log.warning(msg)
    return ratings.subset(keep)


def _show(value) -> str:
    """``repr`` of an id as the user wrote it: ``1``, not ``np.int64(1)``."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _caller_stacklevel() -> int:
    """``stacklevel`` for ``warnings.warn`` that points at the first frame outside fastrec."""
    package_dir = os.path.dirname(os.path.abspath(__file__))
    frame = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(
        package_dir + os.sep
    ):
        frame = frame.f_back
        level += 1
    return level
