"""Reading ratings files into :class:`~fastrec.data.Ratings`, and naming what is wrong in a bad one.

:func:`load_ratings` reads MovieLens ``ratings.csv``, ml-100k ``u.data``, ml-1m/ml-10m
``ratings.dat`` and ``.parquet``. Text files are parsed by pyarrow block by block into numpy
arrays; when pyarrow refuses a file, a slow pure-Python scan (:func:`_diagnose`, error path
only) finds the first malformed line and names it. Building the container (id maps, codes,
the duplicate rule) is :mod:`fastrec.data`'s job.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import re
import time
from pathlib import Path

import numpy as np

from .data import COLUMNS, Ratings, _apply_duplicate_rule, _check_duplicate_rule, _factorize

log = logging.getLogger(__name__)

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
