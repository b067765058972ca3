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

import csv
import logging
import math
import os
import re
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

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
        _check_duplicate_rule(duplicates)
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
            if missing.any():
                row = int(np.flatnonzero(missing)[0])
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
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{name}: column {rating!r} has {int(bad.sum())} value(s) that are not finite "
                f"numbers, first at row {row}: {_show(df[rating].iloc[row])}; expected a finite "
                "number such as 3.5 in every row"
            )
        ts = None
        if has_ts:
            ts = _timestamps_of(df[timestamp], name, timestamp)
        u_codes, u_index = _factorize(df[user].to_numpy(), user)
        i_codes, i_index = _factorize(df[item].to_numpy(), item)
        out = cls(u_index, i_index, u_codes, i_codes, values, ts, source=source)
        return _apply_duplicate_rule(out, duplicates, name, lambda j, k: f"rows {j} and {k}")


def _timestamps_of(col: pd.Series, name: str, column: str) -> np.ndarray:
    """``int64`` seconds of a timestamp column (integers, integral floats or datetimes)."""
    if col.dtype.kind == "M":  # datetime64 -> seconds since 1970
        if col.isna().any():
            row = int(np.flatnonzero(col.isna().to_numpy())[0])
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
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name}: column {column!r} has {int(bad.sum())} value(s) that are not integer "
            f"seconds, first at row {row}: {_show(col.iloc[row])}; expected integer seconds since "
            "1970 in every row"
        )
    if num.dtype.kind in "iu":
        return num.to_numpy(dtype=np.int64)
    return values.astype(np.int64)


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


# =============================================================== file loading

_ROLES = ("user id", "item id", "rating", "timestamp")


class _Format:
    """How one kind of ratings file is laid out."""

    def __init__(
        self,
        name,
        delimiter,
        header,
        n_fields,
        field_positions,
        separator=None,
        example="1,31,2.5,1260759144",
        columns=None,
    ):
        self.name = name
        self.delimiter = delimiter  # what pyarrow splits on (one character)
        self.separator = separator or delimiter  # what separates fields, as the user sees it
        self.header = header  # expected header row, or None
        self.n_fields = n_fields  # fields per line as pyarrow sees them
        self.field_positions = field_positions  # where user, item, rating, timestamp are
        self.example = example  # a well-formed data line, for messages
        # names of the fields of a line, for messages: the header as found, or the roles
        self.columns = tuple(columns or header or ("user", "item", "rating", "timestamp"))

    def with_header(self, found: list[str]) -> _Format:
        """This format with the column positions of a header row as found in a file."""
        positions = tuple(found.index(c) for c in self.header)
        return _Format(
            self.name,
            self.delimiter,
            self.header,
            len(found),
            positions,
            self.separator,
            self.example,
            columns=found,
        )

    @property
    def separator_fields(self) -> tuple[int, ...]:
        """Fields pyarrow sees between two halves of a '::' separator (must be empty)."""
        if self.separator == self.delimiter:
            return ()
        return tuple(p for p in range(self.n_fields) if p not in self.field_positions)

    @property
    def expected(self) -> str:
        """What a line of this format looks like, for messages."""
        if self.header is not None:
            header = ",".join(self.header)
            return f"{self.name}: header {header!r}, then lines like {self.example!r}"
        return f"{self.name}: lines like {self.example!r}"


_CSV = _Format("MovieLens ratings.csv", ",", COLUMNS, 4, (0, 1, 2, 3))
_UDATA = _Format(
    "ml-100k u.data (tab separated)", "\t", None, 4, (0, 1, 2, 3), example="196\t242\t3\t881250949"
)
# ml-1m / ml-10m "UserID::MovieID::Rating::Timestamp": pyarrow splits on ':', which leaves an
# empty field inside each '::'; those fields are read as type null, so a stray ':' is an error.
_DAT = _Format(
    "ml-1m/ml-10m ratings.dat ('::' separated)",
    ":",
    None,
    7,
    (0, 2, 4, 6),
    separator="::",
    example="1::1193::5::978300760",
)

_KNOWN_NAMES = ("ratings.csv", "ratings.dat", "u.data", "ratings.parquet")

# What pyarrow accepts for the int64 and float64 columns, less its exotic extras
# ("0x10", "inf", "nan"): the Python re-scan of the error path uses these.
_INT_RE = re.compile(r"[ \t]*-?[0-9]+[ \t]*")
_FLOAT_RE = re.compile(r"[ \t]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t]*")
_INT64_MAX = 2**63 - 1


def load_ratings(path: str | os.PathLike, *, duplicates: str = "error") -> Ratings:
    """Read a MovieLens ratings file into :class:`Ratings`.

    Formats, chosen by the file name:

    - ``*.csv``: MovieLens ``ratings.csv`` with header ``userId,movieId,rating,timestamp``
      (ml-latest-small, ml-20m, ml-25m, ...); the columns may come in any order, and
      other columns are ignored;
    - ``*.data`` / ``u1.base`` ... ``u5.test``: ml-100k, tab separated, no header;
    - ``*.dat``: ml-1m / ml-10m ``ratings.dat``, ``::`` separated, no header;
    - ``*.parquet``: columns ``userId, movieId, rating`` and optionally ``timestamp``.

    A directory is searched for one of ``ratings.csv, ratings.dat, u.data, ratings.parquet``.
    Text files may have Windows line endings and a UTF-8 byte-order mark; blank lines are
    skipped.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file, the
    line or column and what was expected for anything malformed: empty file, missing header
    column, wrong number of fields, a missing or non-integer id, a missing, non-numeric,
    NaN or infinite rating, and duplicate (user, item) pairs (see ``duplicates`` in
    :meth:`Ratings.from_frame`). No row is ever dropped silently.
    """
    _check_duplicate_rule(duplicates)
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
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: file is empty; expected {fmt.expected}")
    if fmt.header is not None:
        fmt = fmt.with_header(_read_header(path, fmt))
    columns = _read_columns(path, fmt)
    users, items, values, ts = columns
    del columns
    if not np.isfinite(values).all():
        _diagnose(path, fmt)
        raise ValueError(f"{path}: ratings that are NaN or infinite; expected finite numbers")
    u_codes, u_index = _factorize(users, "userId")
    del users
    i_codes, i_index = _factorize(items, "movieId")
    del items
    ratings = Ratings(u_index, i_index, u_codes, i_codes, values, ts, source=str(path))

    def where(j: int, k: int) -> str:
        lines = _line_numbers(path, fmt, (j, k))
        return f"lines {lines[j]} and {lines[k]}"

    return _apply_duplicate_rule(ratings, duplicates, str(path), where)


#: Bytes of text pyarrow parses at a time. The file is read block by block into numpy
#: arrays, so that no whole-file pyarrow table sits beside them (at ml-25m that would be
#: 0.8 GB more at the peak, and memory pyarrow's allocator keeps after the load).
_BLOCK_SIZE = 16 << 20


def _read_columns(path: Path, fmt: _Format) -> list[np.ndarray]:
    """users, items (int64), ratings (float64), timestamps (int64) of a text ratings file.

    Raises ``ValueError`` naming the line of the first malformed row.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = [f"f{k}" for k in range(fmt.n_fields)]
    wanted = [names[p] for p in fmt.field_positions]
    dtypes = (np.int64, np.int64, np.float64, np.int64)
    types = {name: pa.from_numpy_dtype(dt) for name, dt in zip(wanted, dtypes, strict=True)}
    include = list(wanted)
    for p in fmt.separator_fields:
        types[names[p]] = pa.null()  # anything but an empty field there is an error
        include.append(names[p])
    size = path.stat().st_size
    outs: list[np.ndarray] = []
    n = 0
    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=1 if fmt.header else 0, block_size=_BLOCK_SIZE
            ),
            parse_options=pacsv.ParseOptions(delimiter=fmt.delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                include_columns=include,
                null_values=[""],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        for batch in reader:
            m = batch.num_rows
            if m == 0:
                continue
            cols = [batch.column(name) for name in wanted]
            for role, col in zip(_ROLES, cols, strict=True):
                if col.null_count:
                    _diagnose(path, fmt)
                    raise ValueError(
                        f"{path}: {col.null_count} empty {role}(s); expected {fmt.expected}"
                    )
            if not outs:
                # Rows in the whole file, from the first block's rows per byte, plus 5%.
                capacity = int(m * size / min(size, _BLOCK_SIZE) * 1.05) + 1024
                outs = [np.empty(capacity, dtype=dt) for dt in dtypes]
            if n + m > len(outs[0]):  # the estimate was short: grow by half
                capacity = max(len(outs[0]) * 3 // 2, n + m)
                outs = [_grown(out, n, capacity) for out in outs]
            for out, col in zip(outs, cols, strict=True):
                out[n : n + m] = col.to_numpy()
            n += m
    except pa.ArrowInvalid as err:
        _diagnose(path, fmt)  # raises with the line number when it finds the bad line
        raise ValueError(
            f"{path}: could not be read as {fmt.expected} ({err}); the offending line could "
            "not be located"
        ) from None
    if n == 0:
        _raise_no_ratings(path, fmt)
    # Views: the unused tail of each buffer was never written, so it costs no memory.
    return [out[:n] for out in outs]


def _grown(out: np.ndarray, n: int, capacity: int) -> np.ndarray:
    new = np.empty(capacity, dtype=out.dtype)
    new[:n] = out[:n]
    return new


def _raise_no_ratings(path: Path, fmt: _Format) -> None:
    after = " after the header" if fmt.header is not None else ""
    raise ValueError(f"{path}: no ratings{after} (only blank lines); expected {fmt.expected}")


def _read_header(path: Path, fmt: _Format) -> list[str]:
    """The column names of line 1, checked against ``fmt.header``."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        line = f.readline().rstrip("\r\n")
    found = [c.strip() for c in next(csv.reader([line], delimiter=fmt.delimiter), [])]
    expected = ",".join(fmt.header)
    missing = [c for c in fmt.header if c not in found]
    if missing:
        raise ValueError(
            f"{path}, line 1: missing column(s) {missing}; expected the header {expected!r}, "
            f"found {line[:200]!r}"
        )
    repeated = sorted({c for c in fmt.header if found.count(c) > 1})
    if repeated:
        raise ValueError(
            f"{path}, line 1: column(s) {repeated} appear more than once; expected the header "
            f"{expected!r}, found {line[:200]!r}"
        )
    return found


def _scan_rows(path: Path, fmt: _Format):
    """Yield ``(line_no, fields, text)`` for each data row, split as pyarrow splits it.

    Pure Python and slow: for the error path only. Skips the header and empty lines
    (as pyarrow does); a line of spaces is a row with one field.
    """
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        if fmt.separator != fmt.delimiter:  # '::': no quoting in ratings.dat
            for line_no, line in enumerate(f, start=1):
                line = line.rstrip("\r\n")
                if line:
                    yield line_no, line.split(fmt.separator), line
            return
        reader = csv.reader(f, delimiter=fmt.delimiter, quotechar='"', doublequote=True)
        first = True
        for fields in reader:
            if first and fmt.header is not None:
                first = False
                continue
            first = False
            if fields:
                yield reader.line_num, fields, fmt.delimiter.join(fields)


def _diagnose(path: Path, fmt: _Format) -> None:
    """Find the first malformed line with a slow pure-Python scan (error path only).

    Raises ``ValueError`` naming the line and what was expected; returns only where
    every line looks right.
    """
    n_values = 4
    columns = fmt.columns
    n_expected = fmt.n_fields if fmt.separator == fmt.delimiter else n_values
    n_rows = 0
    for line_no, fields, text in _scan_rows(path, fmt):
        n_rows += 1
        where = f"{path}, line {line_no}"
        if len(fields) != n_expected:
            raise ValueError(
                f"{where}: expected {n_expected} fields separated by {fmt.separator!r} "
                f"({', '.join(columns)}), got {len(fields)}: {text[:80]!r}"
            )
        positions = fmt.field_positions if fmt.separator == fmt.delimiter else range(n_values)
        for role, pos in zip(_ROLES, positions, strict=True):
            value = fields[pos]
            if value.strip() == "":
                expected = "a number such as 3.5" if role == "rating" else "an integer"
                raise ValueError(f"{where}: empty {role}; expected {expected}")
            if role == "rating":
                if not _FLOAT_RE.fullmatch(value) or not math.isfinite(float(value)):
                    raise ValueError(
                        f"{where}: rating {value!r} is not a finite number; expected a number "
                        "such as 3.5"
                    )
            elif not _INT_RE.fullmatch(value) or abs(int(value)) > _INT64_MAX:
                raise ValueError(
                    f"{where}: {role} {value!r} is not an integer; expected an integer "
                    f"{'(seconds since 1970)' if role == 'timestamp' else 'id'} "
                    "in the 64-bit range"
                )
    if n_rows == 0:
        _raise_no_ratings(path, fmt)


def _line_numbers(path: Path, fmt: _Format, rows) -> dict[int, int]:
    """Line number of each data row in ``rows`` (0-based row positions; error path only)."""
    wanted = set(rows)
    last = max(wanted)
    found = {}
    for row, (line_no, _, _) in enumerate(_scan_rows(path, fmt)):
        if row in wanted:
            found[row] = line_no
        if row >= last:
            break
    return found


def _load_parquet(path: Path, duplicates: str) -> Ratings:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise ValueError(
            f"{path}: not a readable parquet file ({err}); expected a parquet file with "
            f"columns {', '.join(COLUMNS)}"
        ) from None
    if table.num_rows == 0:
        raise ValueError(
            f"{path}: no ratings (the parquet file has no rows); expected one row per rating "
            f"with columns {', '.join(COLUMNS)}"
        )
    df = table.to_pandas()
    del table
    return Ratings.from_frame(df, duplicates=duplicates, source=str(path))
