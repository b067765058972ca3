"""The fast reader of ratings text (pyarrow, block by block, into numpy) and, for the error
path only, the slow scan that names the first malformed line.

Integer ids are read as ``int64`` and mapped to codes by :func:`fastrec.data._factorize` (a
lookup table for MovieLens' dense ids). String ids are read dictionary-encoded: each block
gives its own small dictionary and ``int32`` indices into it, and the dictionaries are
unified and sorted once at the end, so no Python string is made per rating (25M ratings of
string ids stay well under a gigabyte beside the codes).
"""

from __future__ import annotations

import csv
import datetime
import logging
import math
import re
from typing import NamedTuple

import numpy as np
import pandas as pd

from ._layout import MISSING, ROLE_WORDS, ROLES, Layout, is_int, split_line
from ._source import DECOMPRESSION_ERRORS, Source
from .data import _factorize

log = logging.getLogger(__name__)

#: Bytes of text pyarrow parses at a time. The file is read block by block into numpy
#: arrays, so that no whole-file pyarrow table sits beside them (at ml-25m that would be
#: 0.8 GB more at the peak, and memory pyarrow's allocator keeps after the load).
BLOCK_SIZE = 16 << 20

_FLOAT_RE = re.compile(r"[ \t]*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t]*")
_COLUMN_RE = re.compile(r"CSV column #(\d+).*conversion error to int64: invalid value '(.*)'")
#: numpy type of each kind of column as read (string ids: indices into a block's dictionary;
#: datetimes: microseconds).
_OUT_DTYPES = {"int": np.int64, "str": np.int32, "float": np.float64}


class Columns(NamedTuple):
    """What a ratings text holds, in file order."""

    user_codes: np.ndarray  # int32[n]
    user_index: pd.Index
    item_codes: np.ndarray  # int32[n]
    item_index: pd.Index
    ratings: np.ndarray  # float64[n]
    timestamps: np.ndarray | None  # int64[n] seconds since 1970


class _TextIds(Exception):
    """An id column read as integers holds a non-integer: read it again as strings."""

    def __init__(self, role: str, value: str):
        super().__init__(role, value)
        self.role, self.value = role, value


def read_columns(source: Source, layout: Layout) -> tuple[Columns, Layout]:
    """The ratings of ``source`` laid out as ``layout``, and the layout as finally read.

    Raises ``ValueError`` naming the line of the first malformed row.
    """
    while True:
        try:
            return _read(source, layout), layout
        except _TextIds as switch:  # at most twice: once per id column
            log.info(
                "%s: %ss read as strings (%r, in a later line, is not an integer)",
                source.where,
                ROLE_WORDS[switch.role],
                switch.value,
            )
            layout = layout.with_kind(switch.role, "str")


def _arrow_types(layout: Layout) -> tuple[list[str], dict, list[str]]:
    """pyarrow's column names, the types of the columns read, and the roles' column names."""
    import pyarrow as pa

    names = [f"f{k}" for k in range(layout.arrow_n_fields)]
    types, wanted = {}, []
    for p, kind in zip(layout.arrow_positions, layout.kinds, strict=True):
        if p is None:
            continue
        wanted.append(names[p])
        if kind == "str":
            types[names[p]] = pa.dictionary(pa.int32(), pa.string())
        elif kind in ("datetime", "datetime_tz"):
            types[names[p]] = pa.timestamp("us", tz="UTC" if kind == "datetime_tz" else None)
        else:
            types[names[p]] = pa.from_numpy_dtype(_OUT_DTYPES[kind])
    for p in layout.separator_fields:
        types[names[p]] = pa.null()  # anything but an empty field there is an error
    return names, types, wanted


def _read(source: Source, layout: Layout) -> Columns:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names, types, wanted = _arrow_types(layout)
    roles = [r for r, p in zip(ROLES, layout.positions, strict=True) if p is not None]
    kinds = [k for k, p in zip(layout.kinds, layout.positions, strict=True) if p is not None]
    size = source.text_size()
    outs: list[np.ndarray] = []
    dictionaries = {r: [] for r, k in zip(roles, kinds, strict=True) if k == "str"}
    n = 0
    try:
        with source.binary() as stream:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(
                    column_names=names, skip_rows=layout.header_line, block_size=BLOCK_SIZE
                ),
                parse_options=pacsv.ParseOptions(delimiter=layout.delimiter),
                convert_options=pacsv.ConvertOptions(
                    column_types=types,
                    include_columns=list(types),
                    null_values=[""],  # the one null token: more slow every number down
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=True,
                ),
            )
            for batch in reader:
                m = batch.num_rows
                if m == 0:
                    continue
                cols = [batch.column(name) for name in wanted]
                for role, col in zip(roles, cols, strict=True):
                    if col.null_count or _has_missing_marker(col):
                        _diagnose(source, layout)
                        raise ValueError(
                            f"{source.where}: {col.null_count} empty {ROLE_WORDS[role]}(s); "
                            f"expected {layout.expected}"
                        )
                if not outs:
                    # Rows in the whole text, from the first block's rows per byte, plus 5%.
                    capacity = int(m * size / min(size, BLOCK_SIZE) * 1.05) + 1024
                    outs = [np.empty(capacity, dtype=_OUT_DTYPES.get(k, np.int64)) for k in kinds]
                if n + m > len(outs[0]):  # the estimate was short: grow by half
                    capacity = max(len(outs[0]) * 3 // 2, n + m)
                    outs = [_grown(out, n, capacity) for out in outs]
                for role, kind, out, col in zip(roles, kinds, outs, cols, strict=True):
                    if kind == "str":
                        dictionaries[role].append((n, col.dictionary))
                        col = col.indices
                    elif kind.startswith("datetime"):
                        col = col.cast(pa.int64())  # microseconds since 1970
                    out[n : n + m] = col.to_numpy()
                n += m
    except pa.ArrowInvalid as err:
        _id_switch(err, layout)
        if source.compression:
            _check_decompresses(source)
        _diagnose(source, layout)  # raises with the line number when it finds the bad line
        raise ValueError(
            f"{source.where}: could not be read as {layout.expected} ({err}); the offending "
            "line could not be located"
        ) from None
    except DECOMPRESSION_ERRORS as err:
        raise source.corrupt(err) from None
    if n == 0:
        raise_no_ratings(source, layout)
    # Views: the unused tail of each buffer was never written, so it costs no memory.
    arrays = dict(zip(roles, (out[:n] for out in outs), strict=True))
    del outs
    if not np.isfinite(arrays["rating"]).all():
        _diagnose(source, layout)
        raise ValueError(
            f"{source.where}: ratings that are NaN or infinite; expected finite numbers"
        )
    ids = [_codes(arrays, dictionaries, layout, role) for role in ("user", "item")]
    ts = arrays.get("timestamp")
    if ts is not None and layout.kinds[3] != "int":
        ts = np.floor_divide(ts, 1_000_000)  # microseconds -> seconds
    return Columns(*ids[0], *ids[1], arrays["rating"], ts)


def _has_missing_marker(col) -> bool:
    """Whether a dictionary-encoded id column holds "NA", "null", ... (its dictionary does)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_dictionary(col.type):
        return False
    return pc.any(pc.is_in(col.dictionary, value_set=pa.array(MISSING))).as_py() or False


def _id_switch(err: Exception, layout: Layout) -> None:
    """Raise :class:`_TextIds` where pyarrow refused a non-integer in an integer id column."""
    match = _COLUMN_RE.search(str(err))
    if match is None:
        return
    column, value = int(match.group(1)), match.group(2)
    for role, p, kind in zip(ROLES[:2], layout.arrow_positions, layout.kinds, strict=False):
        if p == column and kind == "int" and value.strip() not in MISSING:
            raise _TextIds(role, value)


def _codes(arrays, dictionaries, layout: Layout, role: str) -> tuple[np.ndarray, pd.Index]:
    """Codes (int32) and sorted unique ids of one id column."""
    k = ROLES.index(role)
    name = layout.header[layout.positions[k]] if layout.header else ("userId", "movieId")[k]
    values = arrays.pop(role)
    if layout.kinds[k] != "str":
        return _factorize(values, name)
    return _unify(values, dictionaries[role], name)


def _unify(codes: np.ndarray, blocks: list, name: str) -> tuple[np.ndarray, pd.Index]:
    """Each block's indices into its own dictionary -> codes into one sorted dictionary.

    ``codes`` (int32, the indices of every block, one after another) is overwritten with
    the codes; ``blocks`` holds each block's first row and dictionary.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    merged = pc.dictionary_encode(pa.concat_arrays([d for _, d in blocks]))
    uniques = merged.dictionary
    order = pc.sort_indices(uniques).to_numpy()  # UTF-8 byte order: code point order
    if len(order) >= 2**31:
        raise ValueError(f"column {name!r} has {len(order):,} distinct ids; at most 2**31 - 1")
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    final = rank[merged.indices.to_numpy()]  # per dictionary entry of every block
    ends = [start for start, _ in blocks[1:]] + [len(codes)]
    offset = 0
    for (start, dictionary), end in zip(blocks, ends, strict=True):
        codes[start:end] = final[offset + codes[start:end]]
        offset += len(dictionary)
    ids = uniques.take(pa.array(order)).to_numpy(zero_copy_only=False)
    return codes, pd.Index(ids, name=name)


def _grown(out: np.ndarray, n: int, capacity: int) -> np.ndarray:
    new = np.empty(capacity, dtype=out.dtype)
    new[:n] = out[:n]
    return new


def _check_decompresses(source: Source) -> None:
    """Raise the error for a corrupt or truncated compressed file (error path only)."""
    try:
        with source.text() as f:
            while f.read(1 << 20):
                pass
    except DECOMPRESSION_ERRORS as err:
        raise source.corrupt(err) from None


def raise_no_ratings(source: Source, layout: Layout) -> None:
    after = " after the header" if layout.header is not None else ""
    raise ValueError(
        f"{source.where}: no ratings{after} (only blank lines); expected {layout.expected}"
    )


# ======================================================================= error path


def scan_rows(source: Source, layout: Layout):
    """Yield ``(line_no, fields, text)`` for each data row, split as pyarrow splits it.

    Pure Python and slow: for the error path only. Skips the header and empty lines
    (as pyarrow does); a line of spaces is a row with one field.
    """
    try:
        with source.text() as f:
            if layout.separator == "::":  # no quoting in ratings.dat
                for line_no, line in enumerate(f, start=1):
                    line = line.rstrip("\r\n")
                    if line and line_no > layout.header_line:
                        yield line_no, split_line(line, "::"), line
                return
            reader = csv.reader(f, delimiter=layout.separator, quotechar='"', doublequote=True)
            for fields in reader:
                if fields and reader.line_num > layout.header_line:
                    yield reader.line_num, fields, layout.separator.join(fields)
    except DECOMPRESSION_ERRORS as err:
        raise source.corrupt(err) from None


def _diagnose(source: Source, layout: Layout) -> None:
    """Find the first malformed line with a slow pure-Python scan (error path only).

    Raises ``ValueError`` naming the line and what was expected (or :class:`_TextIds`
    where an integer id column turns out to hold strings); returns only where every line
    looks right.
    """
    n_rows = 0
    for line_no, fields, text in scan_rows(source, layout):
        n_rows += 1
        where = f"{source.where}, line {line_no}"
        if len(fields) != layout.n_fields:
            raise ValueError(
                f"{where}: expected {layout.n_fields} fields separated by "
                f"{layout.separator!r} ({', '.join(layout.columns)}), got {len(fields)}: "
                f"{text[:80]!r}"
            )
        for role, pos, kind in zip(ROLES, layout.positions, layout.kinds, strict=True):
            if pos is not None:
                _check_field(where, role, kind, fields[pos])
    if n_rows == 0:
        raise_no_ratings(source, layout)


def _check_field(where: str, role: str, kind: str, value: str) -> None:
    """Raise ``ValueError`` where one field is not what its column holds."""
    word = ROLE_WORDS[role]
    if value.strip() == "":
        expected = {"float": "a number such as 3.5", "str": "an id"}.get(kind, "an integer")
        raise ValueError(f"{where}: empty {word}; expected {expected}")
    if kind == "float":
        if not _FLOAT_RE.fullmatch(value) or not math.isfinite(float(value)):
            raise ValueError(
                f"{where}: rating {value!r} is not a finite number; expected a number such as 3.5"
            )
    elif value.strip() in MISSING:
        raise ValueError(
            f"{where}: {word} {value!r} marks a missing value; expected "
            f"{'a timestamp' if role == 'timestamp' else 'an id'} in every line"
        )
    elif kind == "int" and role != "timestamp" and not is_int(value):
        raise _TextIds(role, value)  # not an error: the ids are strings
    elif kind == "int" and not is_int(value):
        raise ValueError(
            f"{where}: timestamp {value!r} is not an integer; expected an integer (seconds "
            "since 1970) in the 64-bit range, or a date such as 2016-01-01 10:00:00"
        )
    elif kind.startswith("datetime") and not _is_time(value, kind == "datetime_tz"):
        zone = "with" if kind == "datetime_tz" else "without"
        example = "2016-01-01 10:00:00" + ("+00:00" if kind == "datetime_tz" else "")
        raise ValueError(
            f"{where}: timestamp {value!r} is not a date and time {zone} a zone offset, as "
            f"in the first line; expected one such as {example}"
        )


def _is_time(value: str, zoned: bool) -> bool:
    try:
        when = datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        return False
    return (when.tzinfo is not None) == zoned


def line_numbers(source: Source, layout: Layout, rows) -> dict[int, int]:
    """Line number of each data row in ``rows`` (0-based row positions; error path only)."""
    wanted = set(rows)
    last = max(wanted)
    found = {}
    for row, (line_no, _, _) in enumerate(scan_rows(source, layout)):
        if row in wanted:
            found[row] = line_no
        if row >= last:
            break
    return found
