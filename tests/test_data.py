"""Ratings, the container: id maps, CSR/CSC, subsets, from_frame and its checks, and the
duplicate-pair kernels behind the duplicate rule (reading files: tests/test_io.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ratings_samples import (
    ITEMS,
    STAMPS,
    USERS,
    VALUES,
    assert_error,
    assert_matches_rows,
    dense,
    write_format,
)

import fastrec
from fastrec import Ratings, load_ratings

# ============================================================ Ratings behaviour


def test_to_frame_round_trip(tmp_path):
    r = load_ratings(write_format(tmp_path, "csv"))
    df = r.to_frame()
    assert list(df.columns) == ["userId", "movieId", "rating", "timestamp"]
    assert all(dt.kind != "O" for dt in df.dtypes)
    np.testing.assert_array_equal(df["userId"], USERS)
    np.testing.assert_array_equal(df["movieId"], ITEMS)
    back = Ratings.from_frame(df)
    assert_matches_rows(back, USERS, ITEMS, VALUES, STAMPS)
    np.testing.assert_array_equal(back.user_codes, r.user_codes)
    np.testing.assert_array_equal(back.item_codes, r.item_codes)
    pd.testing.assert_frame_equal(r.df, df)


def test_to_frame_round_trip_without_timestamps_and_custom_names():
    df = pd.DataFrame({"u": ["b", "a", "c"], "i": ["x", "y", "x"], "stars": [1.0, 2.0, 3.0]})
    r = Ratings.from_frame(df, user="u", item="i", rating="stars")
    assert r.timestamps is None
    out = r.to_frame()
    assert list(out.columns) == ["u", "i", "rating"]
    again = Ratings.from_frame(out, user="u", item="i")
    np.testing.assert_array_equal(again.user_ids, ["b", "a", "c"])
    np.testing.assert_array_equal(again.ratings, [1.0, 2.0, 3.0])


def test_subset_shares_id_maps(tmp_path):
    r = load_ratings(write_format(tmp_path, "csv"))
    mask = np.array([True, False, True, False, False, True, False])
    sub = r.subset(mask)
    assert sub.user_index is r.user_index and sub.item_index is r.item_index
    assert sub.n_users == r.n_users and sub.n_items == r.n_items
    assert_codes_equal = np.testing.assert_array_equal
    assert_codes_equal(sub.user_codes, r.user_codes[mask])
    assert_codes_equal(sub.user_ids, USERS[mask])
    assert_codes_equal(sub.item_ids, ITEMS[mask])
    assert_codes_equal(sub.timestamps, STAMPS[mask])
    assert sub.csr.shape == r.csr.shape  # whole-file shape, even for users absent from sub
    by_pos = r.subset([6, 0])
    assert_codes_equal(by_pos.ratings, VALUES[[6, 0]])
    assert by_pos.source == r.source


def test_ratings_repr_and_len(tmp_path):
    r = load_ratings(write_format(tmp_path, "csv"))
    assert len(r) == 7
    assert "n_ratings=7" in repr(r) and "n_users=3" in repr(r) and "n_items=4" in repr(r)


def test_constructor_rejects_length_mismatch():
    idx = pd.Index([1, 2])
    with pytest.raises(ValueError, match="same length"):
        Ratings(idx, idx, [0, 1], [0], [1.0, 2.0])


def test_public_names():
    assert fastrec.Ratings is Ratings and fastrec.load_ratings is load_ratings


# ==================================================================== from_frame


def frame(**cols):
    base = {"userId": [1, 2, 3], "movieId": [10, 20, 30], "rating": [1.0, 2.0, 3.0]}
    base.update(cols)
    return pd.DataFrame(base)


def test_from_frame_default_and_custom_columns():
    r = Ratings.from_frame(frame(timestamp=[5, 6, 7]))
    assert_matches_rows(r, [1, 2, 3], [10, 20, 30], [1.0, 2.0, 3.0], [5, 6, 7])
    df = pd.DataFrame({"user": [9, 9], "item": ["a", "b"], "score": [4, 5], "ts": [1, 2]})
    r = Ratings.from_frame(df, user="user", item="item", rating="score", timestamp="ts")
    np.testing.assert_array_equal(r.item_ids, ["a", "b"])
    np.testing.assert_array_equal(r.timestamps, [1, 2])
    assert r.ratings.dtype == np.float64


def test_from_frame_timestamp_optional():
    assert Ratings.from_frame(frame()).timestamps is None
    assert Ratings.from_frame(frame(timestamp=[1, 2, 3]), timestamp=None).timestamps is None


def test_from_frame_datetime_and_integral_float_timestamps():
    when = pd.to_datetime([0, 60, 3600], unit="s")
    np.testing.assert_array_equal(
        Ratings.from_frame(frame(timestamp=when)).timestamps, [0, 60, 3600]
    )
    np.testing.assert_array_equal(
        Ratings.from_frame(frame(timestamp=[1.0, 2.0, 3.0])).timestamps, [1, 2, 3]
    )


def test_from_frame_keeps_row_order_and_ignores_the_index():
    df = frame(timestamp=[5, 6, 7]).set_axis(["x", "y", "z"])
    r = Ratings.from_frame(df)
    np.testing.assert_array_equal(r.user_ids, [1, 2, 3])


def test_from_frame_not_a_dataframe():
    with pytest.raises(TypeError, match="DataFrame"):
        Ratings.from_frame({"userId": [1]})


@pytest.mark.parametrize(
    "role,col", [("user", "userId"), ("item", "movieId"), ("rating", "rating")]
)
def test_from_frame_missing_column(role, col):
    with pytest.raises(ValueError) as exc:
        Ratings.from_frame(frame().drop(columns=col))
    msg = str(exc.value)
    assert f"missing {role} column {col!r}" in msg and f"pass {role}=" in msg


def test_from_frame_empty():
    with pytest.raises(ValueError, match="no ratings"):
        Ratings.from_frame(frame().iloc[:0])


@pytest.mark.parametrize("col", ["userId", "movieId"])
@pytest.mark.parametrize("missing", [None, np.nan, pd.NA])
def test_from_frame_missing_id(col, missing):
    df = frame().astype(object)
    df.loc[2, col] = missing
    with pytest.raises(ValueError) as exc:
        Ratings.from_frame(df, source="my.parquet")
    assert_error(exc, "my.parquet", repr(col), "row 2", "expected an id")


@pytest.mark.parametrize("bad", ["abc", None, np.nan, np.inf, -np.inf, "", "3,5"], ids=repr)
def test_from_frame_bad_rating(bad):
    df = frame().astype({"rating": object})
    df.loc[1, "rating"] = bad
    with pytest.raises(ValueError) as exc:
        Ratings.from_frame(df, source="src")
    assert_error(exc, "src", "'rating'", "row 1", "expected a finite number")


def test_from_frame_nullable_float_rating():
    df = frame().astype({"rating": "Float64"})
    df.loc[0, "rating"] = pd.NA
    with pytest.raises(ValueError) as exc:
        Ratings.from_frame(df)
    assert_error(exc, "DataFrame", "'rating'", "row 0")


def test_from_frame_boolean_rating():
    with pytest.raises(ValueError, match="'rating'.*booleans"):
        Ratings.from_frame(frame(rating=[True, False, True]))


@pytest.mark.parametrize("bad", [1.5, None, "noon", np.inf], ids=repr)
def test_from_frame_bad_timestamp(bad):
    df = frame(timestamp=[1, 2, 3]).astype({"timestamp": object})
    df.loc[2, "timestamp"] = bad
    with pytest.raises(ValueError) as exc:
        Ratings.from_frame(df, source="src")
    assert_error(exc, "src", "'timestamp'", "row 2", "expected integer seconds")


def test_from_frame_repeated_column_name():
    df = pd.DataFrame([[1, 2, 3.0, 4.0]], columns=["userId", "movieId", "rating", "rating"])
    with pytest.raises(ValueError, match="more than once"):
        Ratings.from_frame(df)


def test_from_frame_duplicates_refused_with_count_and_rows():
    df = pd.DataFrame(
        {"userId": [1, 2, 1, 1, 2], "movieId": [5, 5, 5, 5, 5], "rating": [1.0, 2, 3, 4, 5]}
    )
    with pytest.raises(ValueError) as exc:
        Ratings.from_frame(df)
    assert_error(exc, "DataFrame", "3 duplicate", "rows 0 and 2", "duplicates='last'")


def test_from_frame_duplicates_last_keeps_latest_by_timestamp():
    df = pd.DataFrame(
        {
            "userId": [1, 2, 1, 1, 3],
            "movieId": [5, 5, 5, 5, 5],
            "rating": [1.0, 2.0, 3.0, 4.0, 5.0],
            "timestamp": [30, 10, 10, 20, 1],
        }
    )
    with pytest.warns(UserWarning, match="2 duplicate") as rec:
        r = Ratings.from_frame(df, duplicates="last")
    assert rec[0].filename == __file__  # the warning points at the caller
    # user 1 keeps the rating at timestamp 30 (row 0), though it came first in the frame
    np.testing.assert_array_equal(r.user_ids, [1, 2, 3])
    np.testing.assert_array_equal(r.ratings, [1.0, 2.0, 5.0])
    np.testing.assert_array_equal(r.timestamps, [30, 10, 1])


def test_from_frame_duplicates_last_ties_and_no_timestamps_keep_later_row():
    df = pd.DataFrame({"userId": [1, 1, 1], "movieId": [5, 5, 6], "rating": [1.0, 2.0, 3.0]})
    with pytest.warns(UserWarning, match="1 duplicate"):
        r = Ratings.from_frame(df, duplicates="last")
    np.testing.assert_array_equal(r.ratings, [2.0, 3.0])
    df["timestamp"] = [7, 7, 7]
    with pytest.warns(UserWarning, match="1 duplicate"):
        r = Ratings.from_frame(df, duplicates="last")
    np.testing.assert_array_equal(r.ratings, [2.0, 3.0])


def test_from_frame_rating_scale_is_kept_and_checked():
    r = Ratings.from_frame(frame(rating=[-10.0, 0.0, 10.0]), rating_scale=(-10, 10))
    assert r.rating_scale == (-10.0, 10.0) and r.rating_range == (-10.0, 10.0)
    assert r.subset([1]).rating_scale == (-10.0, 10.0)
    with pytest.raises(ValueError) as exc:
        Ratings.from_frame(frame(rating=[1.0, 5.5, 0.0]), rating_scale=(1, 5), source="src")
    assert_error(
        exc, "src", "'rating'", "outside the rating scale at row 1: 5.5",
        "expected ratings from 1 to 5 (rating_scale=(1, 5))",
    )  # fmt: skip


def test_rating_range_without_a_scale_is_the_data_range():
    r = Ratings.from_frame(frame(rating=[2.0, 0.5, 4.0]))
    assert r.rating_scale is None and r.rating_range == (0.5, 4.0)
    assert r.subset([0]).rating_range == (2.0, 2.0)
    with pytest.raises(ValueError, match="no ratings"):
        _ = r.subset(np.zeros(3, dtype=bool)).rating_range


@pytest.mark.parametrize("scale", [(2, 1), (0, np.inf), None], ids=repr)
def test_constructor_checks_the_rating_scale(scale):
    idx = pd.Index([1])
    if scale is None:
        assert Ratings(idx, idx, [0], [0], [1.0], rating_scale=None).rating_scale is None
        return
    with pytest.raises(ValueError, match="rating_scale must be two finite numbers lo < hi"):
        Ratings(idx, idx, [0], [0], [1.0], rating_scale=scale)


def test_duplicates_rule_is_checked():
    with pytest.raises(ValueError, match="duplicates must be one of"):
        Ratings.from_frame(frame(), duplicates="first")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(-3, 40),
            st.one_of(st.integers(0, 30), st.sampled_from(["a", "b", "c"])),
            st.floats(0.5, 5.0),
        ),
        min_size=1,
        max_size=60,
        unique_by=lambda t: (t[0], str(t[1])),
    )
)
def test_from_frame_matches_dense_reference(rows):
    users = [u for u, _, _ in rows]
    items = [str(i) for _, i, _ in rows]
    values = [r for _, _, r in rows]
    r = Ratings.from_frame(pd.DataFrame({"userId": users, "movieId": items, "rating": values}))
    np.testing.assert_array_equal(r.user_ids, users)
    np.testing.assert_array_equal(r.item_ids, items)
    assert r.user_codes.dtype == np.int32 and r.item_codes.dtype == np.int32
    ref = dense(users, items, values, r.user_index, r.item_index)
    np.testing.assert_array_equal(r.csr.toarray(), ref)
    np.testing.assert_array_equal(r.csc.toarray(), ref)


# ============================================= duplicate kernels vs a reference


def duplicates_reference(users, items):
    """Plain Python: for each position, where its pair first occurred (-1 if it is the first)."""
    first = {}
    out = np.full(len(users), -1, dtype=np.int64)
    for k, key in enumerate(zip(users.tolist(), items.tolist(), strict=True)):
        if key in first:
            out[k] = first[key]
        else:
            first[key] = k
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("order_dtype", [np.int32, np.int64])
def test_duplicate_kernels_match_reference(seed, order_dtype):
    from fastrec.kernels.sparse import count_duplicate_pairs, find_duplicate_pairs, group_by_code

    rng = np.random.default_rng(seed)
    n_users, n_items = int(rng.integers(1, 8)), int(rng.integers(1, 8))
    n = int(rng.integers(0, 60)) if seed else 0  # seed 0: empty arrays
    users = rng.integers(0, n_users, size=n).astype(np.int32)
    items = rng.integers(0, n_items, size=n).astype(np.int32)
    ref = duplicates_reference(users, items)
    np.testing.assert_array_equal(find_duplicate_pairs(users, items, n_users, n_items), ref)
    count, k, j = count_duplicate_pairs(
        users, items, n_users, n_items, np.empty(n, dtype=order_dtype)
    )
    repeated = np.flatnonzero(ref >= 0)
    assert count == len(repeated)
    if len(repeated):
        assert (k, j) == (repeated[0], ref[repeated[0]])
    else:
        assert (k, j) == (-1, -1)
    indptr, order = group_by_code(users, n_users)
    np.testing.assert_array_equal(order, np.argsort(users, kind="stable"))
    np.testing.assert_array_equal(
        indptr, np.concatenate([[0], np.cumsum(np.bincount(users, minlength=n_users))])
    )
