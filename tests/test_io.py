"""load_ratings: the MovieLens formats, every malformed input, and the real MovieLens files
(other separators, headers, column names, string ids, compression, rating scales:
tests/test_io_any.py)."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ratings_samples import (
    HEADER,
    ITEMS,
    ROWS,
    STAMPS,
    USERS,
    VALUES,
    assert_error,
    assert_matches_rows,
    csv_text,
    dense,
    write,
    write_format,
)

import fastrec._textread
import fastrec.io
from fastrec import load_ratings

# ====================================================================== formats


@pytest.mark.parametrize("fmt", ["csv", "udata", "dat", "parquet"])
def test_each_format_loads_codes_ids_ratings_timestamps(tmp_path, fmt):
    r = load_ratings(write_format(tmp_path, fmt))
    assert_matches_rows(r, USERS, ITEMS, VALUES, STAMPS)
    assert r.n_users == 3 and r.n_items == 4
    assert list(r.user_index) == [3, 7, 10]
    assert list(r.item_index) == [5, 7, 42, 100]
    # first row: user 10 (code 2), item 100 (code 3)
    assert (r.user_codes[0], r.item_codes[0]) == (2, 3)
    assert r.source == str(
        tmp_path / {"csv": "ratings.csv", "udata": "u.data"}.get(fmt, f"ratings.{fmt}")
    )


@pytest.mark.parametrize("fmt", ["csv", "udata", "dat", "parquet"])
def test_csr_and_csc_match_dense_reference(tmp_path, fmt):
    r = load_ratings(write_format(tmp_path, fmt))
    ref = dense(USERS, ITEMS, VALUES, r.user_index, r.item_index)
    csr, csc = r.csr, r.csc
    assert csr.shape == csc.shape == (3, 4)
    assert csr.format == "csr" and csc.format == "csc"
    assert csr.nnz == csc.nnz == len(ROWS)
    np.testing.assert_array_equal(csr.toarray(), ref)
    np.testing.assert_array_equal(csc.toarray(), ref)
    assert csr.has_sorted_indices and csc.has_sorted_indices
    # raw arrays, as kernels see them: row u holds its items' codes, sorted, and their ratings
    for u in range(r.n_users):
        cols = csr.indices[csr.indptr[u] : csr.indptr[u + 1]]
        np.testing.assert_array_equal(cols, np.flatnonzero(ref[u]))
        np.testing.assert_array_equal(csr.data[csr.indptr[u] : csr.indptr[u + 1]], ref[u, cols])
    for i in range(r.n_items):
        rows = csc.indices[csc.indptr[i] : csc.indptr[i + 1]]
        np.testing.assert_array_equal(rows, np.flatnonzero(ref[:, i]))
    assert r.csr is csr and r.csc is csc  # built once
    np.testing.assert_array_equal(r.user_counts(), (ref != 0).sum(axis=1))
    np.testing.assert_array_equal(r.item_counts(), (ref != 0).sum(axis=0))


def test_udata_suffixes_base_and_test(tmp_path):
    text = csv_text(header=None, sep="\t")
    for name in ("u1.base", "u1.test", "ua.base"):
        r = load_ratings(write(tmp_path / name, text))
        assert_matches_rows(r, USERS, ITEMS, VALUES, STAMPS)


def test_dat_with_ml1m_style_ids(tmp_path):
    text = "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n"
    r = load_ratings(write(tmp_path / "ratings.dat", text))
    assert_matches_rows(
        r, [1, 1, 2], [1193, 661, 1193], [5.0, 3.0, 4.0], [978300760, 978302109, 978298413]
    )


def test_path_given_as_str(tmp_path):
    r = load_ratings(str(write_format(tmp_path, "csv")))
    assert len(r) == len(ROWS)


@pytest.mark.parametrize("fmt", ["csv", "udata", "dat", "parquet"])
def test_directory_finds_its_ratings_file(tmp_path, fmt):
    write_format(tmp_path, fmt)
    r = load_ratings(tmp_path)
    assert_matches_rows(r, USERS, ITEMS, VALUES, STAMPS)


def test_windows_line_endings(tmp_path):
    path = write(tmp_path / "ratings.csv", csv_text(newline="\r\n"))
    assert_matches_rows(load_ratings(path), USERS, ITEMS, VALUES, STAMPS)
    path = write(tmp_path / "u.data", csv_text(header=None, sep="\t", newline="\r\n"))
    assert_matches_rows(load_ratings(path), USERS, ITEMS, VALUES, STAMPS)
    path = write(tmp_path / "ratings.dat", csv_text(header=None, sep="::", newline="\r\n"))
    assert_matches_rows(load_ratings(path), USERS, ITEMS, VALUES, STAMPS)


def test_old_mac_line_endings(tmp_path):
    path = write(tmp_path / "ratings.csv", csv_text(newline="\r"))
    assert_matches_rows(load_ratings(path), USERS, ITEMS, VALUES, STAMPS)


def test_utf8_bom_header(tmp_path):
    path = write(tmp_path / "ratings.csv", "\ufeff" + csv_text())
    assert_matches_rows(load_ratings(path), USERS, ITEMS, VALUES, STAMPS)
    path = write(tmp_path / "crlf-bom.csv", "\ufeff" + csv_text(newline="\r\n"))
    assert_matches_rows(load_ratings(path), USERS, ITEMS, VALUES, STAMPS)


def test_last_line_without_newline(tmp_path):
    path = write(tmp_path / "ratings.csv", csv_text().rstrip("\n"))
    assert_matches_rows(load_ratings(path), USERS, ITEMS, VALUES, STAMPS)
    path = write(tmp_path / "u.data", csv_text(header=None, sep="\t").rstrip("\n"))
    assert_matches_rows(load_ratings(path), USERS, ITEMS, VALUES, STAMPS)


def test_blank_lines_are_skipped_not_rows(tmp_path):
    lines = csv_text().splitlines()
    text = "\n".join(lines[:3] + ["", ""] + lines[3:]) + "\n\n\n"
    path = write(tmp_path / "ratings.csv", text)
    assert_matches_rows(load_ratings(path), USERS, ITEMS, VALUES, STAMPS)


def test_csv_written_by_pyarrow_with_quoted_header(tmp_path):
    table = pa.table({"userId": USERS, "movieId": ITEMS, "rating": VALUES, "timestamp": STAMPS})
    path = tmp_path / "ratings.csv"
    pacsv.write_csv(table, path)
    assert path.read_text().startswith('"userId"')  # what makes this case worth a test
    assert_matches_rows(load_ratings(path), USERS, ITEMS, VALUES, STAMPS)


def test_csv_written_by_pandas(tmp_path):
    df = pd.DataFrame(ROWS, columns=HEADER.split(","))
    path = tmp_path / "ratings.csv"
    df.to_csv(path, index=False)
    assert_matches_rows(load_ratings(path), USERS, ITEMS, VALUES, STAMPS)


def test_csv_columns_in_another_order_and_extra_columns(tmp_path):
    text = "timestamp,rating,tag,movieId,userId\n" + "".join(
        f"{t},{r},x y,{i},{u}\n" for u, i, r, t in ROWS
    )
    path = write(tmp_path / "ratings.csv", text)
    assert_matches_rows(load_ratings(path), USERS, ITEMS, VALUES, STAMPS)


def test_spaces_around_values_are_accepted(tmp_path):
    text = "userId, movieId, rating, timestamp\n" + "".join(
        f" {u} , {i} , {r} , {t} \n" for u, i, r, t in ROWS
    )
    path = write(tmp_path / "ratings.csv", text)
    assert_matches_rows(load_ratings(path), USERS, ITEMS, VALUES, STAMPS)


def test_negative_and_huge_ids(tmp_path):
    rows = [(-5, 2**40, 1.0, 1), (2**62, -1, 2.0, 2), (-5, -1, 3.0, 3)]
    path = write(tmp_path / "ratings.csv", csv_text(rows))
    r = load_ratings(path)
    assert_matches_rows(
        r, [u for u, *_ in rows], [i for _, i, *_ in rows], [1.0, 2.0, 3.0], [1, 2, 3]
    )


def test_no_row_dropped_on_a_larger_file(tmp_path):
    rng = np.random.default_rng(0)
    n = 20_000
    keys = rng.choice(500 * 2000, size=n, replace=False)
    users, items = keys // 2000 + 1, keys % 2000 + 1
    values = rng.integers(1, 11, size=n) / 2
    stamps = rng.integers(0, 2**31, size=n)
    rows = list(zip(users.tolist(), items.tolist(), values.tolist(), stamps.tolist(), strict=True))
    r = load_ratings(write(tmp_path / "ratings.csv", csv_text(rows)))
    assert_matches_rows(r, users, items, values, stamps)
    ref = dense(users, items, values, r.user_index, r.item_index)
    np.testing.assert_array_equal(r.csr.toarray(), ref)
    np.testing.assert_array_equal(r.csc.toarray(), ref)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(1, 10)),
        min_size=1,
        max_size=40,
        unique_by=lambda t: (t[0], t[1]),
    ),
    st.sampled_from(["\n", "\r\n"]),
)
def test_csv_load_matches_rows(tmp_path_factory, rows, newline):
    rows = [(u, i, h / 2, k) for k, (u, i, h) in enumerate(rows)]
    path = write(tmp_path_factory.mktemp("h") / "ratings.csv", csv_text(rows, newline=newline))
    r = load_ratings(path)
    assert_matches_rows(
        r,
        [u for u, *_ in rows],
        [i for _, i, *_ in rows],
        [v for _, _, v, _ in rows],
        list(range(len(rows))),
    )


def test_public_name_is_the_reader_of_fastrec_io():
    assert fastrec.load_ratings is fastrec.io.load_ratings


# ================================================================== bad input


def test_missing_file(tmp_path):
    path = tmp_path / "nope" / "ratings.csv"
    with pytest.raises(FileNotFoundError) as exc:
        load_ratings(path)
    assert_error(exc, path, "no such file", "expected a ratings file")


def test_directory_without_ratings_file(tmp_path):
    write(tmp_path / "movies.csv", "movieId,title\n1,Toy Story\n")
    with pytest.raises(ValueError) as exc:
        load_ratings(tmp_path)
    assert_error(exc, tmp_path, "directory", "expected one of", "ratings.csv", "u.data")


@pytest.mark.parametrize("name", ["ratings.txt", "ratings", "data.tsv.csv"])
def test_any_file_name_is_read_as_text(tmp_path, name):
    path = write(tmp_path / name, csv_text())
    assert_matches_rows(load_ratings(path), USERS, ITEMS, VALUES, STAMPS)


def test_bad_duplicates_rule_before_reading(tmp_path):
    with pytest.raises(ValueError, match="duplicates must be one of"):
        load_ratings(tmp_path / "missing.csv", duplicates="keep")


@pytest.mark.parametrize("name", ["ratings.csv", "u.data", "ratings.dat"])
def test_empty_file(tmp_path, name):
    path = write(tmp_path / name, "")
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "file is empty", "expected")


@pytest.mark.parametrize(
    "text",
    [
        HEADER + "\n",
        HEADER,
        HEADER + "\r\n",
        HEADER + "\n\n\n\n",
        HEADER + "\r\n\r\n\r\n",
        "\ufeff" + HEADER + "\n\n",
    ],
    ids=["newline", "no-newline", "crlf", "blank-lines", "crlf-blank-lines", "bom-blank"],
)
def test_header_only(tmp_path, text):
    path = write(tmp_path / "ratings.csv", text)
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "no ratings after the header", "expected", "lines like")


@pytest.mark.parametrize("name", ["u.data", "ratings.dat"])
def test_only_blank_lines(tmp_path, name):
    path = write(tmp_path / name, "\n\n\r\n")
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "no ratings", "expected")
    assert "after the header" not in str(exc.value)


@pytest.mark.parametrize(
    "header,sep,names,has_ts",
    [
        ("userId,movieId,rating", ",", ("userId", "movieId"), False),
        ("user_id,movieId,rating,timestamp", ",", ("user_id", "movieId"), True),
        ("userId,itemId,rating,timestamp", ",", ("userId", "itemId"), True),
        ("UserID,MovieID,Rating,Timestamp", ",", ("UserID", "MovieID"), True),
        ("userId\tmovieId\trating\ttimestamp", "\t", ("userId", "movieId"), True),
        (None, ",", ("userId", "movieId"), True),  # no header: MovieLens order
    ],
    ids=["no-timestamp", "user_id", "itemId", "capitals", "tabs-named-csv", "no-header"],
)
def test_other_headers_of_a_csv_are_read(tmp_path, header, sep, names, has_ts):
    rows = [row if has_ts else row[:3] for row in ROWS]
    text = csv_text(rows, header=header, sep=sep)
    r = load_ratings(write(tmp_path / "ratings.csv", text))
    assert_matches_rows(r, USERS, ITEMS, VALUES, STAMPS if has_ts else None)
    assert (r.user_index.name, r.item_index.name) == names


@pytest.mark.parametrize(
    "header,role",
    [
        ("person,movieId,rating,timestamp", "user id"),
        ("userId,film,rating,timestamp", "item id"),
        ("userId,movieId,grade,timestamp", "rating"),
    ],
)
def test_header_without_a_column_lists_the_columns(tmp_path, header, role):
    path = write(tmp_path / "ratings.csv", header + "\n1,31,2.5,1260759144\n")
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(
        exc, path, "line 1", f"no {role} column among", repr(header.split(",")), "expected one"
    )


def test_repeated_header_column(tmp_path):
    path = write(tmp_path / "ratings.csv", HEADER + ",rating\n1,2,3,4,5\n")
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "line 1", "'rating'", "more than once", "expected one rating column")


def test_blank_first_line_then_data(tmp_path):
    path = write(tmp_path / "ratings.csv", "\n1,31,2.5,1260759144\n1,32,x,1\n")
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "line 3:", "rating 'x'")  # no header; the blank line counts


GOOD = "1,10,4.0,100\n"
# (third line of a ratings.csv, what the message must also say)
BAD_LINES = {
    "too-few-fields": ("2,20,3.5", ["expected 4 fields", "got 3"]),
    "too-many-fields": ("2,20,3.5,200,9", ["expected 4 fields", "got 5"]),
    "trailing-comma": ("2,20,3.5,200,", ["expected 4 fields", "got 5"]),
    "one-field": ("2 20 3.5 200", ["expected 4 fields", "got 1"]),
    "spaces-only-line": ("   ", ["expected 4 fields", "got 1"]),
    "semicolons": ("2;20;3.5;200", ["expected 4 fields", "got 1"]),
    "rating-word": ("2,20,abc,200", ["rating 'abc'", "expected a number"]),
    "rating-decimal-comma": ('2,20,"3,5",200', ["rating '3,5'", "expected a number"]),
    "rating-underscore": ("2,20,1_0,200", ["rating '1_0'", "expected a number"]),
    "rating-empty": ("2,20,,200", ["empty rating", "expected a number"]),
    "rating-blank": ("2,20, ,200", ["empty rating", "expected a number"]),
    "rating-nan": ("2,20,nan,200", ["rating 'nan'", "not a finite number"]),
    "rating-NaN": ("2,20,NaN,200", ["rating 'NaN'", "not a finite number"]),
    "rating-NA": ("2,20,NA,200", ["rating 'NA'", "not a finite number"]),
    "rating-null": ("2,20,null,200", ["rating 'null'", "not a finite number"]),
    "rating-inf": ("2,20,inf,200", ["rating 'inf'", "not a finite number"]),
    "rating-minus-inf": ("2,20,-inf,200", ["rating '-inf'", "not a finite number"]),
    "rating-Infinity": ("2,20,Infinity,200", ["rating 'Infinity'", "not a finite number"]),
    "rating-overflow": ("2,20,1e999,200", ["rating '1e999'", "not a finite number"]),
    "user-empty": (",20,3.5,200", ["empty user id", "expected an integer"]),
    "item-empty": ("2,,3.5,200", ["empty item id", "expected an integer"]),
    "timestamp-empty": ("2,20,3.5,", ["empty timestamp", "expected an integer"]),
    "user-NA": ("NA,20,3.5,200", ["user id 'NA'", "marks a missing value", "expected an id"]),
    "user-nan": ("nan,20,3.5,200", ["user id 'nan'", "marks a missing value"]),
    "item-null": ("2,null,3.5,200", ["item id 'null'", "marks a missing value"]),
    "item-quoted-empty": ('2,"",3.5,200', ["empty item id", "expected an integer"]),
    "timestamp-word": ("2,20,3.5,yesterday", ["timestamp 'yesterday'", "expected an integer"]),
    "timestamp-float": ("2,20,3.5,200.5", ["timestamp '200.5'", "expected an integer"]),
    "timestamp-date": ("2,20,3.5,2016-01-01", ["timestamp '2016-01-01'", "expected an integer"]),
}


@pytest.mark.parametrize("case", list(BAD_LINES), ids=list(BAD_LINES))
def test_bad_line_in_csv_names_file_line_and_expectation(tmp_path, case):
    line, needles = BAD_LINES[case]
    path = write(tmp_path / "ratings.csv", HEADER + "\n" + GOOD + line + "\n" + "3,30,1.0,300\n")
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "line 3:", *needles)


@pytest.mark.parametrize("case", ["rating-word", "too-few-fields", "user-empty", "rating-nan"])
def test_bad_line_is_the_last_line_without_newline(tmp_path, case):
    line, needles = BAD_LINES[case]
    path = write(tmp_path / "ratings.csv", HEADER + "\n" + GOOD + GOOD.replace("1,", "5,") + line)
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "line 4:", *needles)


@pytest.mark.parametrize("case", ["rating-word", "too-many-fields", "item-empty", "rating-inf"])
def test_bad_line_counts_blank_lines_and_crlf(tmp_path, case):
    line, needles = BAD_LINES[case]
    text = HEADER + "\r\n" + GOOD.replace("\n", "\r\n") + "\r\n\r\n" + line + "\r\n"
    path = write(tmp_path / "ratings.csv", "\ufeff" + text)
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "line 5:", *needles)


#: Third lines whose id is not an integer: not an error, the ids are read as strings.
TEXT_ID_LINES = {
    "user-word": ("abc,20,3.5,200", "user", "abc"),
    "item-imdb": ("2,tt0114709,3.5,200", "item", "tt0114709"),
    "item-float": ("2,20.5,3.5,200", "item", "20.5"),
    "item-float-zero": ("2,20.0,3.5,200", "item", "20.0"),
    "user-plus": ("+2,20,3.5,200", "user", "+2"),
    "user-underscore": ("1_000,20,3.5,200", "user", "1_000"),
    "user-arabic-digit": ("\u0662,20,3.5,200", "user", "\u0662"),
    "user-overflow": ("99999999999999999999,20,3.5,200", "user", "99999999999999999999"),
    "user-leading-zero": ("007,20,3.5,200", "user", "007"),
}


@pytest.mark.parametrize("case", list(TEXT_ID_LINES), ids=list(TEXT_ID_LINES))
def test_a_non_integer_id_makes_that_column_strings(tmp_path, case):
    line, role, value = TEXT_ID_LINES[case]
    path = write(tmp_path / "ratings.csv", HEADER + "\n" + GOOD + line + "\n" + "3,30,1.0,300\n")
    r = load_ratings(path)
    ids = r.user_ids if role == "user" else r.item_ids
    other = r.item_ids if role == "user" else r.user_ids
    written = {"user": ["1", line.split(",")[0], "3"], "item": ["10", line.split(",")[1], "30"]}
    assert list(ids) == written[role] and ids[1] == value  # exactly as written
    assert other.dtype.kind == "i"  # the other column stays integers
    np.testing.assert_array_equal(r.ratings, [4.0, 3.5, 1.0])


def test_bad_line_in_quoted_csv(tmp_path):
    text = '"userId","movieId","rating","timestamp"\n"1","10","4.0","100"\n"2","20","x","200"\n'
    path = write(tmp_path / "ratings.csv", text)
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "line 3:", "rating 'x'", "expected a number")


def test_bad_line_deep_in_a_large_file(tmp_path):
    n = 150_000
    body = "".join(f"{k // 100 + 1},{k % 100 + 1},3.5,{k}\n" for k in range(n))
    bad_line = 2 + n  # after the header and n good lines
    path = write(tmp_path / "ratings.csv", HEADER + "\n" + body + "9999,1,oops,1\n")
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, f"line {bad_line}:", "rating 'oops'")


UDATA_BAD = {
    "spaces-not-tabs": ("2 20 3 200", ["expected 4 fields separated by '\\t'", "got 1"]),
    "three-fields": ("2\t20\t3", ["expected 4 fields", "got 3"]),
    "comma-separated": ("2,20,3,200", ["expected 4 fields", "got 1"]),
    "rating-word": ("2\t20\tgood\t200", ["rating 'good'", "expected a number"]),
    "rating-empty": ("2\t20\t\t200", ["empty rating"]),
    "rating-nan": ("2\t20\tnan\t200", ["rating 'nan'", "not a finite number"]),
    "user-empty": ("\t20\t3\t200", ["empty user id"]),
    "item-NA": ("2\tNA\t3\t200", ["item id 'NA'", "marks a missing value"]),
}


DAT_BAD = {
    "stray-colon": ("2:5:20::3::200", ["expected 4 fields separated by '::'", "got 3"]),
    "three-fields": ("2::20::3", ["expected 4 fields", "got 3"]),
    "five-fields": ("2::20::3::200::9", ["expected 4 fields", "got 5"]),
    "single-colons": ("2:20:3:200", ["expected 4 fields", "got 1"]),
    "rating-word": ("2::20::five::200", ["rating 'five'", "expected a number"]),
    "rating-empty": ("2::20::::200", ["empty rating"]),
    "rating-inf": ("2::20::inf::200", ["rating 'inf'", "not a finite number"]),
    "item-N/A": ("2::N/A::3::200", ["item id 'N/A'", "marks a missing value"]),
}


#: Per format: the file name, the good lines around the bad one, and the bad line's number.
BAD_LINE_FILES = {
    "udata": ("u1.base", "1\t10\t4\t100\n", "\n3\t30\t1\t300\n", 2, UDATA_BAD),
    "dat": ("ratings.dat", "1::10::4::100\n\n", "\n3::30::1::300\n", 3, DAT_BAD),
}


@pytest.mark.parametrize(
    ("fmt", "case"),
    [(fmt, case) for fmt, spec in BAD_LINE_FILES.items() for case in spec[-1]],
    ids=lambda v: v,
)
def test_bad_line_in_udata_and_dat(tmp_path, fmt, case):
    name, before, after, line_no, table = BAD_LINE_FILES[fmt]
    line, needles = table[case]
    path = write(tmp_path / name, before + line + after)
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, f"line {line_no}:", *needles)


# ---------------------------------------------------------------- duplicates


def test_duplicates_refused_with_count_and_lines(tmp_path):
    text = HEADER + "\n1,10,4.0,100\n2,20,3.0,200\n1,10,5.0,300\n\n2,20,1.0,50\n1,10,2.0,1\n"
    path = write(tmp_path / "ratings.csv", text)
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(
        exc,
        path,
        "3 duplicate (user, item) pair(s)",
        "user 1, item 10",
        "lines 2 and 4",
        "expected each user to rate each item at most once",
        "duplicates='last'",
    )


def test_duplicates_line_numbers_count_blank_lines(tmp_path):
    text = "\r\n\r\n1\t10\t4\t100\r\n\r\n2\t20\t3\t200\r\n2\t20\t3\t300\r\n"
    path = write(tmp_path / "u.data", text)
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "1 duplicate", "user 2, item 20", "lines 5 and 6")


def test_duplicates_in_dat(tmp_path):
    path = write(tmp_path / "ratings.dat", "1::10::4::100\n1::10::3::200\n")
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "1 duplicate", "lines 1 and 2")


def test_duplicates_last_keeps_latest_by_timestamp_and_warns(tmp_path):
    text = HEADER + "\n1,10,4.0,100\n2,20,3.0,200\n1,10,5.0,300\n2,20,1.0,50\n1,10,2.0,1\n"
    path = write(tmp_path / "ratings.csv", text)
    with pytest.warns(UserWarning) as rec:
        r = load_ratings(path, duplicates="last")
    msg = str(rec[0].message)
    assert str(path) in msg and "3 duplicate" in msg and "dropped" in msg
    assert rec[0].filename == __file__
    # (1, 10) keeps the rating at t=300 (line 4); (2, 20) keeps t=200 (line 3): file order kept
    assert_matches_rows(r, [2, 1], [20, 10], [3.0, 5.0], [200, 300])


def test_no_warning_without_duplicates(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = load_ratings(write_format(tmp_path, "csv"), duplicates="last")
    assert len(r) == len(ROWS)


# ------------------------------------------------------------------- parquet


def write_parquet(path, df):
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), path)
    return path


def test_parquet_without_timestamp_and_string_ids(tmp_path):
    df = pd.DataFrame({"userId": ["u1", "u2"], "movieId": ["m1", "m1"], "rating": [3.0, 4.5]})
    r = load_ratings(write_parquet(tmp_path / "r.parquet", df))
    assert r.timestamps is None
    np.testing.assert_array_equal(r.user_ids, ["u1", "u2"])
    assert r.user_codes.dtype == np.int32 and r.ratings.dtype == np.float64


def test_parquet_missing_column(tmp_path):
    df = pd.DataFrame({"userId": [1], "thing": [2], "rating": [3.0]})
    path = write_parquet(tmp_path / "r.parquet", df)
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "no item id column among", "['userId', 'thing', 'rating']")


def test_parquet_other_column_names_and_given_names(tmp_path):
    df = pd.DataFrame(
        {"user_id": ["a", "b"], "asin": ["x", "y"], "overall": [1.0, 5.0], "extra": [0, 0]}
    )
    r = load_ratings(write_parquet(tmp_path / "r.parquet", df))
    np.testing.assert_array_equal(r.item_ids, ["x", "y"])
    df = pd.DataFrame({"a": [1, 2], "b": [3, 4], "c": [2.0, 4.0], "d": [7, 8]})
    r = load_ratings(
        write_parquet(tmp_path / "s.parquet", df), user="b", item="a", rating=2, timestamp="d"
    )
    np.testing.assert_array_equal(r.user_ids, [3, 4])
    np.testing.assert_array_equal(r.timestamps, [7, 8])


def test_parquet_nan_rating_names_row(tmp_path):
    df = pd.DataFrame({"userId": [1, 2, 3], "movieId": [1, 1, 1], "rating": [3.0, 4.0, np.nan]})
    path = write_parquet(tmp_path / "r.parquet", df)
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "'rating'", "row 2", "expected a finite number")


def test_parquet_missing_id_names_row(tmp_path):
    df = pd.DataFrame({"userId": [1, None, 3], "movieId": [1, 1, 1], "rating": [3.0, 4.0, 1.0]})
    path = write_parquet(tmp_path / "r.parquet", df)
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "'userId'", "row 1", "expected an id")


def test_parquet_empty(tmp_path):
    df = pd.DataFrame({"userId": [1], "movieId": [2], "rating": [3.0]}).iloc[:0]
    path = write_parquet(tmp_path / "r.parquet", df)
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "no ratings", "expected one row per rating")


def test_parquet_corrupt(tmp_path):
    path = write(tmp_path / "r.parquet", "this is not parquet\n")
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "not a readable parquet file", "expected a parquet file")


def test_parquet_duplicates(tmp_path):
    df = pd.DataFrame({"userId": [1, 2, 1], "movieId": [1, 1, 1], "rating": [3.0, 4.0, 1.0]})
    path = write_parquet(tmp_path / "r.parquet", df)
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "1 duplicate", "rows 0 and 2")
    with pytest.warns(UserWarning, match="1 duplicate"):
        r = load_ratings(path, duplicates="last")
    np.testing.assert_array_equal(r.ratings, [4.0, 1.0])


# ================================================================= real data


@pytest.mark.data
def test_ml_latest_small_2016(ml_small_2016, ml_small_2016_path):
    r = ml_small_2016
    assert (len(r), r.n_users, r.n_items) == (100_004, 671, 9_066)
    assert r.user_codes.dtype == np.int32 and r.item_codes.dtype == np.int32
    assert r.ratings.dtype == np.float64 and r.timestamps.dtype == np.int64
    assert r.ratings.min() == 0.5 and r.ratings.max() == 5.0
    assert (r.user_ids[0], r.item_ids[0], r.ratings[0], r.timestamps[0]) == (
        1,
        31,
        2.5,
        1260759144,
    )
    ref = pd.read_csv(ml_small_2016_path)
    np.testing.assert_array_equal(r.user_ids, ref["userId"])
    np.testing.assert_array_equal(r.item_ids, ref["movieId"])
    np.testing.assert_array_equal(r.ratings, ref["rating"])
    np.testing.assert_array_equal(r.timestamps, ref["timestamp"])
    assert r.csr.shape == (671, 9_066) and r.csr.nnz == 100_004
    assert r.csr.sum() == pytest.approx(r.ratings.sum())
    assert r.csc.nnz == 100_004


@pytest.mark.data
def test_ml_latest_small_2018(ml_small_path):
    r = load_ratings(ml_small_path)
    assert (len(r), r.n_users, r.n_items) == (100_836, 610, 9_724)
    ref = pd.read_csv(ml_small_path)
    np.testing.assert_array_equal(r.item_ids, ref["movieId"])
    np.testing.assert_array_equal(r.ratings, ref["rating"])


@pytest.mark.data
def test_ml100k_udata(ml100k_dir):
    r = load_ratings(ml100k_dir / "u.data")
    assert (len(r), r.n_users, r.n_items) == (100_000, 943, 1_682)
    assert list(r.user_index[:3]) == [1, 2, 3] and r.item_index[-1] == 1682
    assert set(np.unique(r.ratings)) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert (r.user_ids[0], r.item_ids[0], r.ratings[0], r.timestamps[0]) == (
        196,
        242,
        3.0,
        881250949,
    )
    same = load_ratings(ml100k_dir)  # the directory finds u.data
    np.testing.assert_array_equal(same.ratings, r.ratings)
    assert r.csr.nnz == 100_000


@pytest.mark.data
def test_ml100k_fold_files(ml100k_dir):
    for k in range(1, 6):
        assert len(load_ratings(ml100k_dir / f"u{k}.base")) == 80_000
        assert len(load_ratings(ml100k_dir / f"u{k}.test")) == 20_000


@pytest.mark.data
def test_real_file_with_injected_error_names_the_line(ml_small_2016_path, tmp_path):
    lines = ml_small_2016_path.read_text().splitlines(keepends=True)
    fields = lines[50_000].split(",")
    lines[50_000] = ",".join([*fields[:2], "x" + fields[2], *fields[3:]])
    path = tmp_path / "ratings.csv"
    path.write_text("".join(lines))
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "line 50001:", "rating 'x", "expected a number")
    assert re.search(r"line \d+", str(exc.value))


@pytest.mark.data
def test_real_file_with_a_late_text_id_reads_strings(ml_small_2016, ml_small_2016_path, tmp_path):
    lines = ml_small_2016_path.read_text().splitlines(keepends=True)
    lines[50_000] = lines[50_000].replace(",", ",x", 1)  # item id 'x<id>', far past the sample
    path = tmp_path / "ratings.csv"
    path.write_text("".join(lines))
    r = load_ratings(path)
    assert r.item_index.dtype.kind != "i" and r.user_index.dtype.kind == "i"
    expected = ml_small_2016.item_ids.astype(str)
    expected[50_000 - 1] = "x" + expected[50_000 - 1]
    np.testing.assert_array_equal(r.item_ids.astype(str), expected)
    np.testing.assert_array_equal(r.ratings, ml_small_2016.ratings)


def test_bad_line_with_extra_columns_counts_the_header(tmp_path):
    text = "userId,movieId,tag,rating,timestamp\n1,2,x,3.5,10\n1,3,y,4.0\n"
    path = write(tmp_path / "ratings.csv", text)
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "line 3:", "expected 5 fields", "userId, movieId, tag", "got 4")


@pytest.fixture
def small_blocks(monkeypatch):
    """Make the loader parse 4 KiB at a time, so that small files span many blocks."""
    monkeypatch.setattr(fastrec._textread, "BLOCK_SIZE", 4096)


def test_many_blocks_and_a_short_row_estimate(tmp_path, small_blocks):
    # long lines first, so the row count estimated from the first block is far too low
    rows = [(10**15 + k, 10**15 + k, 2.5, 10**15 + k) for k in range(500)]
    rows += [(k % 97, k // 97, 1.0 + k % 9 / 2, k) for k in range(20_000)]
    r = load_ratings(write(tmp_path / "ratings.csv", csv_text(rows)))
    assert_matches_rows(
        r,
        [u for u, *_ in rows],
        [i for _, i, *_ in rows],
        [v for _, _, v, _ in rows],
        [t for *_, t in rows],
    )


@pytest.mark.parametrize("case", ["rating-word", "user-empty", "rating-nan", "too-few-fields"])
def test_bad_line_in_a_later_block(tmp_path, small_blocks, case):
    line, needles = BAD_LINES[case]
    body = "".join(f"{k},{k},3.5,{k}\n" for k in range(1, 3001))
    path = write(tmp_path / "ratings.csv", HEADER + "\n" + body + line + "\n" + GOOD)
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "line 3002:", *needles)
