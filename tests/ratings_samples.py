"""Sample ratings and checks shared by tests/test_data.py (the container) and tests/test_io.py."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from fastrec import Ratings

# A small set with sparse, unsorted raw ids: users 3, 7, 10 and items 5, 7, 42, 100.
ROWS = [
    (10, 100, 4.0, 1000),
    (3, 5, 3.5, 1001),
    (7, 42, 0.5, 1002),
    (10, 5, 5.0, 1003),
    (3, 100, 2.0, 1004),
    (7, 7, 1.5, 1005),
    (10, 42, 3.0, 1006),
]
USERS = np.array([r[0] for r in ROWS])
ITEMS = np.array([r[1] for r in ROWS])
VALUES = np.array([r[2] for r in ROWS])
STAMPS = np.array([r[3] for r in ROWS])
HEADER = "userId,movieId,rating,timestamp"


def csv_text(rows=ROWS, header=HEADER, sep=",", newline="\n"):
    lines = ([header] if header is not None else []) + [
        sep.join(str(v) for v in row) for row in rows
    ]
    return newline.join(lines) + newline


def write(path, text: str, encoding: str = "utf-8"):
    """Write ``text`` exactly (no newline translation) and return the path."""
    path.write_bytes(text.encode(encoding))
    return path


def write_format(tmp_path, fmt: str, rows=ROWS):
    """The sample rows in one of the four formats."""
    if fmt == "csv":
        return write(tmp_path / "ratings.csv", csv_text(rows))
    if fmt == "udata":
        return write(tmp_path / "u.data", csv_text(rows, header=None, sep="\t"))
    if fmt == "dat":
        return write(tmp_path / "ratings.dat", csv_text(rows, header=None, sep="::"))
    if fmt == "parquet":
        df = pd.DataFrame(rows, columns=list(HEADER.split(",")))
        path = tmp_path / "ratings.parquet"
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)
        return path
    raise AssertionError(fmt)


def dense(users, items, values, user_index, item_index):
    """Plain-numpy users x items reference matrix."""
    out = np.zeros((len(user_index), len(item_index)))
    for u, i, r in zip(users, items, values, strict=True):
        out[user_index.get_loc(u), item_index.get_loc(i)] = r
    return out


def assert_matches_rows(r: Ratings, users, items, values, stamps=None):
    """``r`` holds exactly these ratings, in this order, with well-formed arrays."""
    assert len(r) == len(users)
    assert r.user_codes.dtype == np.int32 and r.item_codes.dtype == np.int32
    assert r.ratings.dtype == np.float64
    for arr in (r.user_codes, r.item_codes, r.ratings):
        assert arr.dtype != object and arr.flags.c_contiguous
    np.testing.assert_array_equal(r.user_ids, users)
    np.testing.assert_array_equal(r.item_ids, items)
    np.testing.assert_array_equal(r.ratings, values)
    if stamps is None:
        assert r.timestamps is None
    else:
        assert r.timestamps.dtype == np.int64
        np.testing.assert_array_equal(r.timestamps, stamps)
    # id maps: sorted, unique, exactly the ids present, code c <-> raw id index[c]
    np.testing.assert_array_equal(r.user_index, np.unique(users))
    np.testing.assert_array_equal(r.item_index, np.unique(items))
    assert r.n_users == len(np.unique(users)) and r.n_items == len(np.unique(items))
    np.testing.assert_array_equal(r.user_index.to_numpy()[r.user_codes], users)
    np.testing.assert_array_equal(r.item_index.to_numpy()[r.item_codes], items)
    assert r.user_index.dtype != object and r.item_index.dtype != object


def assert_error(excinfo, path, *needles):
    """The message names the file and contains every needle (line, column, expectation)."""
    msg = str(excinfo.value)
    assert str(path) in msg, msg
    for needle in needles:
        assert needle in msg, f"{needle!r} not in {msg!r}"
