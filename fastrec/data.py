"""Ratings: the one container every model reads, and the loaders that build it.

A :class:`Ratings` holds, for ``n`` ratings,

- ``user_codes``, ``item_codes``: ``int32[n]`` positions into ``user_index`` / ``item_index``
  (``pandas.Index`` of the raw ids, sorted), the raw-id <-> code maps;
- ``ratings``: ``float64[n]``;
- ``timestamps``: ``int64[n]`` or ``None``;

in the order of the source file. The CSR (users x items) and CSC matrices are built once,
on first use. Subsets made by a split share the id maps of the whole file, so a user of
the test set has the same code in the train set even if all of its ratings went to test.
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .kernels.sparse import find_duplicate_pairs

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
        Raw ids, sorted; code ``c`` is raw id ``user_index[c]``.
    user_codes, item_codes : np.ndarray[int32]
    ratings : np.ndarray[float64]
    timestamps : np.ndarray[int64] or None
    source : str or None
        Where the ratings came from (a path), used in messages.
    """

    __slots__ = (
        "user_index",
        "item_index",
        "user_codes",
        "item_codes",
        "ratings",
        "timestamps",
        "source",
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
        self._csr = None
        self._csc = None
        n = len(self.ratings)
        if len(self.user_codes) != n or len(self.item_codes) != n:
            raise ValueError(
                f"user_codes ({len(self.user_codes)}), item_codes ({len(self.item_codes)}) and "
                f"ratings ({n}) must have the same length"
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
        return (
            f"Ratings(n_ratings={len(self):,}, n_users={self.n_users:,}, "
            f"n_items={self.n_items:,}{src})"
        )

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
    ) -> Ratings:
        """Build Ratings from a DataFrame with one row per rating.

        ``timestamp`` is optional: if that column is absent the Ratings has no timestamps.
        Ids may be of any hashable type; ratings must be finite numbers. ``duplicates``
        decides what a repeated (user, item) pair does: ``"error"`` (default) refuses,
        ``"last"`` keeps the latest rating of each pair by timestamp (the later row on ties,
        or without timestamps) and warns with the number dropped.
        """
        name = source or "DataFrame"
        if not isinstance(df, pd.DataFrame):
            raise TypeError(f"from_frame expects a pandas DataFrame, got {type(df).__name__}")
        for role, col in (("user", user), ("item", item), ("rating", rating)):
            if col not in df.columns:
                raise ValueError(
                    f"{name}: missing {role} column {col!r}; columns are {list(df.columns)} "
                    f"(pass {role}=... to name another)"
                )
        if len(df) == 0:
            raise ValueError(f"{name}: no ratings (the DataFrame is empty)")
        has_ts = timestamp is not None and timestamp in df.columns
        for col in (user, item):
            missing = df[col].isna().to_numpy()
            if missing.any():
                row = int(np.flatnonzero(missing)[0])
                raise ValueError(
                    f"{name}: column {col!r} has {int(missing.sum())} missing id(s), first at "
                    f"row {row}; every rating needs a user and an item id"
                )
        values = pd.to_numeric(df[rating], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{name}: column {rating!r} has {int(bad.sum())} value(s) that are not finite "
                f"numbers, first at row {row}: {df[rating].iloc[row]!r}"
            )
        ts = None
        if has_ts:
            ts_num = pd.to_numeric(df[timestamp], errors="coerce")
            if ts_num.isna().any():
                row = int(np.flatnonzero(ts_num.isna().to_numpy())[0])
                raise ValueError(
                    f"{name}: column {timestamp!r} must be integer seconds, got "
                    f"{df[timestamp].iloc[row]!r} at row {row}"
                )
            ts = ts_num.to_numpy(dtype=np.int64)
        u_codes, u_index = _factorize(df[user].to_numpy(), user)
        i_codes, i_index = _factorize(df[item].to_numpy(), item)
        out = cls(u_index, i_index, u_codes, i_codes, values, ts, source=source)
        return _apply_duplicate_rule(out, duplicates, name, first_line=None)


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
            lookup = np.cumsum(present, dtype=np.int64) - 1
            codes = lookup[values].astype(np.int32)
            return codes, pd.Index(uniques.astype(values.dtype), name=name)
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # ids of mixed, unorderable types
        codes, uniques = pd.factorize(values, sort=False)
    if len(uniques) >= 2**31:
        raise ValueError(f"column {name!r} has {len(uniques):,} distinct ids; at most 2**31 - 1")
    return codes.astype(np.int32), pd.Index(uniques, name=name)


def _apply_duplicate_rule(
    ratings: Ratings, rule: str, name: str, first_line: int | None
) -> Ratings:
    """Refuse or resolve repeated (user, item) pairs; never drop one silently."""
    if rule not in DUPLICATE_RULES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_RULES}, got {rule!r}")
    first_seen = find_duplicate_pairs(
        ratings.user_codes, ratings.item_codes, ratings.n_users, ratings.n_items
    )
    repeated = np.flatnonzero(first_seen >= 0)
    if len(repeated) == 0:
        return ratings
    k = int(repeated[0])
    j = int(first_seen[k])
    where = (
        f"lines {j + first_line} and {k + first_line}"
        if first_line is not None
        else f"rows {j} and {k}"
    )
    example = (
        f"user {ratings.user_index[ratings.user_codes[k]]!r}, "
        f"item {ratings.item_index[ratings.item_codes[k]]!r} ({where})"
    )
    if rule == "error":
        raise ValueError(
            f"{name}: {len(repeated):,} duplicate (user, item) pair(s), e.g. {example}; "
            "pass duplicates='last' to keep the latest rating of each pair"
        )
    # rule == "last": latest timestamp wins, later row on ties.
    n = len(ratings)
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
    warnings.warn(msg, stacklevel=3)
    log.warning(msg)
    return ratings.subset(keep)


# =============================================================== file loading


class _Format:
    """How one kind of ratings file is laid out."""

    def __init__(self, name, delimiter, header, n_fields, field_positions):
        self.name = name
        self.delimiter = delimiter  # what pyarrow splits on (one character)
        self.header = header  # expected header row, or None
        self.n_fields = n_fields  # fields per line as pyarrow sees them
        self.field_positions = field_positions  # where user, item, rating, timestamp are


_CSV = _Format("MovieLens ratings.csv", ",", COLUMNS, 4, (0, 1, 2, 3))
_UDATA = _Format("ml-100k u.data (tab separated)", "\t", None, 4, (0, 1, 2, 3))
# ml-1m / ml-10m "UserID::MovieID::Rating::Timestamp": split on ':' -> empty fields between.
_DAT = _Format("ml-1m/ml-10m ratings.dat ('::' separated)", ":", None, 7, (0, 2, 4, 6))

_KNOWN_NAMES = ("ratings.csv", "ratings.dat", "u.data", "ratings.parquet")


def load_ratings(path: str | os.PathLike, *, duplicates: str = "error") -> Ratings:
    """Read a MovieLens ratings file into :class:`Ratings`.

    Formats, chosen by the file name:

    - ``*.csv``: MovieLens ``ratings.csv`` with header ``userId,movieId,rating,timestamp``
      (ml-latest-small, ml-20m, ml-25m, ...);
    - ``*.data`` / ``u1.base`` ... ``u5.test``: ml-100k, tab separated, no header;
    - ``*.dat``: ml-1m / ml-10m ``ratings.dat``, ``::`` separated, no header;
    - ``*.parquet``: columns ``userId, movieId, rating`` and optionally ``timestamp``.

    A directory is searched for one of ``ratings.csv, ratings.dat, u.data, ratings.parquet``.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file, the
    line or column and what was expected for anything malformed: empty file, missing header
    column, wrong number of fields, a missing or non-integer id, a missing, non-numeric,
    NaN or infinite rating, and duplicate (user, item) pairs (see ``duplicates`` in
    :meth:`Ratings.from_frame`). No row is ever dropped silently.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file (expected a MovieLens ratings file)")
    if path.is_dir():
        for name in _KNOWN_NAMES:
            if (path / name).is_file():
                return load_ratings(path / name, duplicates=duplicates)
        raise ValueError(
            f"{path}: is a directory without a ratings file; expected one of {_KNOWN_NAMES}"
        )
    t0 = time.perf_counter()
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        ratings = _load_parquet(path, duplicates)
    else:
        if suffix == ".csv":
            fmt = _CSV
        elif suffix == ".dat":
            fmt = _DAT
        elif suffix in (".data", ".base", ".test"):
            fmt = _UDATA
        else:
            raise ValueError(
                f"{path}: unknown ratings format {suffix!r}; expected .csv (MovieLens "
                "ratings.csv), .data/.base/.test (ml-100k), .dat (ml-1m/ml-10m) or .parquet"
            )
        ratings = _load_text(path, fmt, duplicates)
    log.info(
        "loaded %s: %s ratings, %s users, %s items in %.2fs",
        path,
        f"{len(ratings):,}",
        f"{ratings.n_users:,}",
        f"{ratings.n_items:,}",
        time.perf_counter() - t0,
    )
    return ratings


def _load_text(path: Path, fmt: _Format, duplicates: str) -> Ratings:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    if path.stat().st_size == 0:
        expected = ",".join(fmt.header) if fmt.header else "lines user<sep>item<sep>rating..."
        raise ValueError(f"{path}: file is empty; expected {fmt.name}: {expected}")
    first_line = 1
    if fmt.header is not None:
        _check_header(path, fmt)
        first_line = 2
    names = [f"f{k}" for k in range(fmt.n_fields)]
    u_pos, i_pos, r_pos, t_pos = fmt.field_positions
    types = {
        names[u_pos]: pa.int64(),
        names[i_pos]: pa.int64(),
        names[r_pos]: pa.float64(),
        names[t_pos]: pa.int64(),
    }
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=1 if fmt.header else 0, block_size=64 << 20
            ),
            parse_options=pacsv.ParseOptions(delimiter=fmt.delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types=types, include_columns=[names[p] for p in fmt.field_positions]
            ),
        )
    except pa.ArrowInvalid as err:
        _diagnose(path, fmt)  # raises with the line number when it finds the bad line
        raise ValueError(f"{path}: could not be read as {fmt.name}: {err}") from None
    if table.num_rows == 0:
        raise ValueError(f"{path}: no ratings after the header (expected {fmt.name})")

    columns = []
    for pos in fmt.field_positions:
        col = table.column(names[pos])
        if col.null_count:
            _diagnose(path, fmt)
            raise ValueError(f"{path}: {col.null_count} empty value(s) in field {pos + 1}")
        columns.append(col.to_numpy())
    users, items, values, ts = columns
    del table
    if not np.isfinite(values).all():
        _diagnose(path, fmt)
        raise ValueError(f"{path}: ratings that are NaN or infinite")
    u_codes, u_index = _factorize(users, "userId")
    i_codes, i_index = _factorize(items, "movieId")
    ratings = Ratings(u_index, i_index, u_codes, i_codes, values, ts, source=str(path))
    return _apply_duplicate_rule(ratings, duplicates, str(path), first_line=first_line)


def _check_header(path: Path, fmt: _Format) -> None:
    with open(path, encoding="utf-8", errors="replace") as f:
        header = f.readline().strip().lstrip("\ufeff")
    found = [c.strip() for c in header.split(fmt.delimiter)]
    expected = list(fmt.header)
    if found == expected:
        return
    missing = [c for c in expected if c not in found]
    if missing:
        raise ValueError(
            f"{path}, line 1: missing column(s) {missing}; expected header "
            f"{','.join(expected)!r}, found {header!r}"
        )
    raise ValueError(
        f"{path}, line 1: columns in an unexpected order; expected header "
        f"{','.join(expected)!r}, found {header!r}"
    )


def _diagnose(path: Path, fmt: _Format) -> None:
    """Find the first malformed line with a slow pure-Python scan (error path only)."""
    sep = "::" if fmt is _DAT else fmt.delimiter
    roles = ("user id", "item id", "rating", "timestamp")
    with open(path, encoding="utf-8", errors="replace") as f:
        for line_no, line in enumerate(f, start=1):
            if line_no == 1 and fmt.header is not None:
                continue
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split(sep)
            if len(fields) != 4:
                raise ValueError(
                    f"{path}, line {line_no}: expected 4 fields separated by {sep!r} "
                    f"(user, item, rating, timestamp), got {len(fields)}: {line[:80]!r}"
                )
            for role, text in zip(roles, fields):
                text = text.strip()
                if text == "":
                    raise ValueError(f"{path}, line {line_no}: empty {role}; expected a number")
                if role == "rating":
                    try:
                        value = float(text)
                    except ValueError:
                        value = None
                    if value is None or not math.isfinite(value):
                        raise ValueError(
                            f"{path}, line {line_no}: rating {text!r} is not a finite number"
                        )
                else:
                    try:
                        int(text)
                    except ValueError:
                        raise ValueError(
                            f"{path}, line {line_no}: {role} {text!r} is not an integer"
                        ) from None


def _load_parquet(path: Path, duplicates: str) -> Ratings:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise ValueError(f"{path}: not a readable parquet file: {err}") from None
    if table.num_rows == 0:
        raise ValueError(f"{path}: no ratings (the parquet file has no rows)")
    df = table.to_pandas()
    return Ratings.from_frame(df, duplicates=duplicates, source=str(path))
