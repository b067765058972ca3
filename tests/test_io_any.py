"""load_ratings on any ratings file: separators, headers, column names, string ids,
timestamps, compression and rating scales, and every bad input of each (the MovieLens formats
and their malformed lines: tests/test_io.py)."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ratings_samples import (
    ITEMS,
    ROWS,
    STAMPS,
    USERS,
    VALUES,
    assert_error,
    assert_matches_rows,
    csv_text,
    write,
)

import fastrec
import fastrec._textread
from fastrec import Ratings, load_ratings

#: The sample rows with string ids: users u3, u7, u10 and items of ISBN-like names.
TEXT_ROWS = [(f"u{u}", f"0{i}X", r, t) for u, i, r, t in ROWS]
TEXT_USERS = np.array([r[0] for r in TEXT_ROWS], dtype=object)
TEXT_ITEMS = np.array([r[1] for r in TEXT_ROWS], dtype=object)


@pytest.fixture
def small_blocks(monkeypatch):
    """Make the loader parse 4 KiB at a time, so that small files span many blocks."""
    monkeypatch.setattr(fastrec._textread, "BLOCK_SIZE", 4096)


# ================================================================= separators, header


@pytest.mark.parametrize("sep", [",", "\t", ";", "|", "::"], ids=repr)
@pytest.mark.parametrize("header", [None, "user_id{s}item_id{s}rating{s}timestamp"])
@pytest.mark.parametrize("given", [False, True], ids=["sniffed", "given"])
def test_each_separator_with_and_without_header(tmp_path, sep, header, given):
    text = csv_text(header=header and header.format(s=sep), sep=sep)
    path = write(tmp_path / "ratings.txt", text)
    r = load_ratings(path, sep=sep if given else None)
    assert_matches_rows(r, USERS, ITEMS, VALUES, STAMPS)
    names = ("user_id", "item_id") if header else ("userId", "movieId")
    assert (r.user_index.name, r.item_index.name) == names


@pytest.mark.parametrize("word, sep", [("tab", "\t"), ("\\t", "\t"), ("semicolon", ";")])
def test_separator_words(tmp_path, word, sep):
    path = write(tmp_path / "r.txt", csv_text(sep=sep, header=None))
    assert_matches_rows(load_ratings(path, sep=word), USERS, ITEMS, VALUES, STAMPS)


@pytest.mark.parametrize("name", ["ratings.dat", "u.data", "ratings.tsv", "ratings.csv"])
def test_a_single_line_of_three_fields_reads_by_suffix(tmp_path, name):
    sep = {"ratings.dat": "::", "u.data": "\t", "ratings.tsv": "\t"}.get(name, ",")
    r = load_ratings(write(tmp_path / name, sep.join(["5", "9", "3.5"]) + "\n"))
    assert (r.user_ids[0], r.item_ids[0], r.ratings[0]) == (5, 9, 3.5)
    assert r.timestamps is None


def test_header_forced_on_and_off(tmp_path):
    path = write(tmp_path / "r.csv", "7,8,9,10\n1,10,4.0,100\n2,20,3.0,200\n")
    r = load_ratings(path, header=True, user="7", item="8", rating="9", timestamp="10")
    assert list(r.user_ids) == [1, 2] and r.user_index.name == "7"
    assert len(load_ratings(path, header=False)) == 3
    named = write(tmp_path / "named.csv", "userId,movieId,rating\n1,10,4.0\n")
    with pytest.raises(ValueError) as exc:
        load_ratings(named, header=False)
    assert_error(exc, named, "line 1:", "rating 'rating'", "expected a number")


def test_quoted_semicolon_file_like_book_crossing(tmp_path):
    text = (
        '"User-ID";"ISBN";"Book-Rating"\n'
        '"276725";"034545104X";"0"\n'
        '"276726";"0155061224";"5"\n'
        '"276727";"0446520802";"10"\n'
    )
    r = load_ratings(write(tmp_path / "BX-Book-Ratings.csv", text), rating_scale=(0, 10))
    assert list(r.user_ids) == [276725, 276726, 276727] and r.user_index.dtype.kind == "i"
    assert list(r.item_ids) == ["034545104X", "0155061224", "0446520802"]  # leading 0 kept
    assert list(r.ratings) == [0.0, 5.0, 10.0] and r.timestamps is None
    assert r.rating_scale == (0.0, 10.0)


def test_wrong_separator_given(tmp_path):
    path = write(tmp_path / "ratings.csv", csv_text())
    with pytest.raises(ValueError) as exc:
        load_ratings(path, sep=";")
    assert_error(exc, path, "lines of 1 field(s)", "expected at least 3")


def test_no_separator_found(tmp_path):
    path = write(tmp_path / "ratings.txt", "1 10 4.0\n2 20 3.0\n")
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "line 1", "no separator", "expected fields separated by", "sep=")


@pytest.mark.parametrize("sep", ["ab", "", "x", "\n", '"', 5])
def test_bad_sep_argument(tmp_path, sep):
    with pytest.raises(ValueError, match="sep must be one character"):
        load_ratings(tmp_path / "missing.csv", sep=sep)


def test_bad_header_argument(tmp_path):
    with pytest.raises(ValueError, match="header must be True, False or None"):
        load_ratings(tmp_path / "missing.csv", header="yes")


# ====================================================================== column names

GUESSED = {
    "snake": ("user_id", "item_id", "rating", "timestamp"),
    "movielens-1m-doc": ("UserID", "MovieID", "Rating", "Timestamp"),
    "short": ("user", "item", "score", "time"),
    "amazon": ("reviewerID", "asin", "overall", "unixReviewTime"),
    "yelp": ("user_id", "business_id", "stars", "date"),
    "camel-item": ("userId", "itemId", "rating", "ts"),
}


@pytest.mark.parametrize("case", list(GUESSED), ids=list(GUESSED))
def test_column_names_are_guessed(tmp_path, case):
    names = GUESSED[case]
    stamps = STAMPS
    rows = ROWS
    if case == "yelp":  # dates, not seconds
        rows = [(u, i, r, f"2016-01-0{k + 1} 00:00:00") for k, (u, i, r, _) in enumerate(ROWS)]
        stamps = 1451606400 + 86400 * np.arange(len(ROWS))
    # columns in another order, with one more that is not used
    header = ",".join([names[3], "note", names[1], names[2], names[0]])
    text = header + "\n" + "".join(f"{t},x,{i},{r},{u}\n" for u, i, r, t in rows)
    r = load_ratings(write(tmp_path / "ratings.csv", text))
    assert_matches_rows(r, USERS, ITEMS, VALUES, stamps)
    assert (r.user_index.name, r.item_index.name) == names[:2]


def test_columns_given_by_name_and_by_position(tmp_path):
    text = "a,b,c,d\n" + "".join(f"{i},{u},{t},{r}\n" for u, i, r, t in ROWS)
    path = write(tmp_path / "ratings.csv", text)
    r = load_ratings(path, user="b", item="a", rating="d", timestamp="c")
    assert_matches_rows(r, USERS, ITEMS, VALUES, STAMPS)
    r = load_ratings(path, user=1, item="0", rating=3, timestamp=2)  # positions, "0" as text too
    assert_matches_rows(r, USERS, ITEMS, VALUES, STAMPS)
    headerless = write(tmp_path / "h.csv", text.split("\n", 1)[1])
    r = load_ratings(headerless, user=1, item=0, rating=3)  # timestamp: not the 4th field here
    assert_matches_rows(r, USERS, ITEMS, VALUES)


def test_wide_file_without_header_needs_positions(tmp_path):
    text = "".join(f"x,{u},{i},{r},{t}\n" for u, i, r, t in ROWS)
    path = write(tmp_path / "wide.csv", text)
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "5 fields per line and no header line", "user=0")
    r = load_ratings(path, user=1, item=2, rating=3, timestamp=4)
    assert_matches_rows(r, USERS, ITEMS, VALUES, STAMPS)


@pytest.mark.parametrize(
    "header, needles",
    [
        (
            "userId,user_id,movieId,rating",
            ["columns ['userId', 'user_id'] could each be the user id", "user= / --user-col"],
        ),
        ("uid,movieId,item_id,rating", ["columns ['movieId', 'item_id'] could each be the item"]),
        ("uid,movieId,rating,score", ["columns ['rating', 'score'] could each be the rating"]),
        ("uid,movieId,rating,time,date", ["columns ['time', 'date'] could each be the timestamp"]),
    ],
)
def test_ambiguous_columns_list_the_columns(tmp_path, header, needles):
    path = write(tmp_path / "r.csv", header + "\n" + ",".join(["1"] * header.count(",")) + ",1\n")
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "line 1:", *needles, f"the columns are {header.split(',')}")


def test_ambiguity_resolved_by_naming_the_column(tmp_path):
    path = write(tmp_path / "r.csv", "userId,user_id,movieId,rating\n1,a,10,4.0\n2,b,20,3.0\n")
    r = load_ratings(path, user="user_id")
    assert list(r.user_ids) == ["a", "b"]


@pytest.mark.parametrize(
    "kwargs, needles",
    [
        ({"user": "nope"}, ["no column 'nope' (user= / --user-col)", "the columns are ['a',"]),
        ({"user": 9}, ["user= / --user-col 9 is not a column position", "positions 0 to 3"]),
        ({"user": "a", "item": "a"}, ["one column is taken for two roles", "'user': 0"]),
    ],
)
def test_bad_column_arguments(tmp_path, kwargs, needles):
    path = write(tmp_path / "r.csv", "a,b,c,d\n1,2,3.0,4\n")
    full = {"user": "a", "item": "b", "rating": "c", **kwargs}
    with pytest.raises(ValueError) as exc:
        load_ratings(path, **full)
    assert_error(exc, path, *needles)


def test_a_name_given_for_a_file_without_header(tmp_path):
    path = write(tmp_path / "r.csv", "1,2,3.0,4\n")
    with pytest.raises(ValueError) as exc:
        load_ratings(path, user="userId")
    assert_error(exc, path, "names a column, but the file has no header line", "header=True")


def test_too_few_fields(tmp_path):
    path = write(tmp_path / "r.csv", "1,2\n3,4\n")
    with pytest.raises(ValueError) as exc:
        load_ratings(path, sep=",")
    assert_error(exc, path, "lines of 2 field(s); expected at least 3")


# ============================================================================ ids


def test_string_ids_are_kept_exactly(tmp_path):
    path = write(tmp_path / "ratings.csv", csv_text(TEXT_ROWS, header="user,item,rating,ts"))
    r = load_ratings(path)
    assert_matches_rows(r, TEXT_USERS, TEXT_ITEMS, VALUES, STAMPS)
    assert list(r.user_index) == ["u10", "u3", "u7"]  # sorted as strings
    assert all(isinstance(u, str) for u in r.user_index)


def test_unicode_and_spaced_string_ids(tmp_path):
    text = "user,item,rating\nÅsa,café,4\nzoë, café ,3\nÅsa,日本,5\n"
    r = load_ratings(write(tmp_path / "r.csv", text))
    assert list(r.user_ids) == ["Åsa", "zoë", "Åsa"]
    assert list(r.item_ids) == ["café", " café ", "日本"]  # as written, spaces and all
    assert list(r.item_index) == sorted(["café", " café ", "日本"])


def test_integer_ids_stay_integers(tmp_path):
    r = load_ratings(
        write(tmp_path / "ratings.csv", csv_text(header="user_id,item_id,rating,timestamp"))
    )
    assert r.user_index.dtype == np.int64 and r.item_index.dtype == np.int64


def test_late_text_id_switches_the_column_to_strings(tmp_path, small_blocks):
    rows = [(k % 97, k // 97, 1.0 + k % 9 / 2, k) for k in range(5_000)]
    rows.append(("abc", 1, 3.0, 1))
    r = load_ratings(write(tmp_path / "ratings.csv", csv_text(rows)))
    users = np.array([str(u) for u, *_ in rows], dtype=object)
    stamps = [t for *_, t in rows]
    assert_matches_rows(r, users, [i for _, i, *_ in rows], [v for *_, v, _ in rows], stamps)
    assert r.item_index.dtype == np.int64  # the other column stays integers


def test_string_ids_over_many_blocks_match_pandas(tmp_path, small_blocks):
    rng = np.random.default_rng(0)
    n = 20_000
    keys = rng.choice(400 * 3000, size=n, replace=False)
    users = np.array([f"user-{k}" for k in keys // 3000], dtype=object)
    items = np.array([f"{k:07d}" for k in keys % 3000], dtype=object)  # leading zeros
    values = rng.integers(1, 11, size=n).astype(float)
    rows = list(zip(users, items, values, range(n), strict=True))
    path = write(tmp_path / "ratings.csv", csv_text(rows, header="user_id,isbn,rating,time"))
    r = load_ratings(path)
    assert_matches_rows(r, users, items, values, np.arange(n))
    ref = Ratings.from_frame(pd.read_csv(path, dtype={"user_id": str, "isbn": str}),
                             user="user_id", item="isbn", timestamp="time")  # fmt: skip
    np.testing.assert_array_equal(r.user_codes, ref.user_codes)
    np.testing.assert_array_equal(r.item_codes, ref.item_codes)
    assert list(r.item_index) == list(ref.item_index)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text("abcxyzé0123", min_size=1, max_size=6).filter(lambda s: not s.isdigit()),
            st.integers(0, 50),
            st.integers(1, 10),
        ),
        min_size=1,
        max_size=30,
        unique_by=lambda t: (t[0], t[1]),
    )
)
def test_string_ids_load_like_from_frame(tmp_path_factory, rows):
    rows = [(u, i, float(v)) for u, i, v in rows]
    path = tmp_path_factory.mktemp("s") / "r.csv"
    write(path, csv_text(rows, header="user,item,rating"))
    r = load_ratings(path)
    ref = Ratings.from_frame(pd.DataFrame(rows, columns=["u", "i", "r"]), "u", "i", "r")
    np.testing.assert_array_equal(r.user_codes, ref.user_codes)
    np.testing.assert_array_equal(r.item_codes, ref.item_codes)
    assert list(r.user_index) == list(ref.user_index)


@pytest.mark.parametrize("bad", ["NA", "null", "N/A", "", '""'])
def test_missing_string_id_names_the_line(tmp_path, bad):
    text = f"user,item,rating\nu1,i1,4\nu2,i2,3\n{bad},i3,5\n"
    path = write(tmp_path / "r.csv", text)
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    needle = "empty user id" if bad in ("", '""') else f"user id {bad!r} marks a missing value"
    assert_error(exc, path, "line 4:", needle, "expected an id")


def test_missing_string_id_in_a_later_block(tmp_path, small_blocks):
    body = "".join(f"u{k},i{k},3\n" for k in range(3000))
    path = write(tmp_path / "r.csv", "user,item,rating\n" + body + "u1,NA,4\n")
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "line 3002:", "item id 'NA' marks a missing value")


# ==================================================================== timestamps


def test_iso_timestamps_with_and_without_zone(tmp_path):
    text = "user,item,rating,date\n1,1,4,2016-01-01\n1,2,3,2016-01-01 00:00:10\n"
    r = load_ratings(write(tmp_path / "a.csv", text))
    np.testing.assert_array_equal(r.timestamps, [1451606400, 1451606410])
    text = "user,item,rating,date\n1,1,4,2016-01-01T00:00:00Z\n1,2,3,2016-01-01T02:00:00+02:00\n"
    r = load_ratings(write(tmp_path / "b.csv", text))
    np.testing.assert_array_equal(r.timestamps, [1451606400, 1451606400])


@pytest.mark.parametrize(
    "value, needle",
    [
        ("2016-01-01T00:00:00Z", "is not a date and time without a zone offset"),
        ("yesterday", "is not a date and time without a zone offset"),
    ],
)
def test_bad_iso_timestamp_names_the_line(tmp_path, value, needle):
    text = f"user,item,rating,date\n1,1,4,2016-01-01 10:00:00\n1,2,3,{value}\n"
    path = write(tmp_path / "r.csv", text)
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "line 3:", f"timestamp {value!r}", needle, "expected one such as")


def test_no_timestamp_column(tmp_path):
    r = load_ratings(write(tmp_path / "r.csv", "user,item,rating\na,b,1\n"))
    assert r.timestamps is None


# ==================================================================== compression


def _compress(kind: str, path, data: bytes):
    if kind == "gz":
        path.write_bytes(gzip.compress(data))
    elif kind == "bz2":
        path.write_bytes(bz2.compress(data))
    elif kind == "xz":
        path.write_bytes(lzma.compress(data))
    elif kind == "zst":
        with pa.OSFile(str(path), "wb") as raw, pa.CompressedOutputStream(raw, "zstd") as out:
            out.write(data)
    else:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(path.stem, data)
    return path


KINDS = ["gz", "bz2", "xz", "zst", "zip"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", ["ratings.csv", "u.data", "ratings.dat", "books.txt"])
def test_each_compression_reads_like_the_plain_file(tmp_path, kind, name):
    sep = {"u.data": "\t", "ratings.dat": "::"}.get(name, ",")
    rows = TEXT_ROWS if name == "books.txt" else ROWS
    text = csv_text(rows, header="HEADER" if name.endswith("csv") else None, sep=sep)
    text = text.replace("HEADER", "userId,movieId,rating,timestamp")
    path = _compress(kind, tmp_path / f"{name}.{kind}", text.encode())
    r = load_ratings(path)
    plain = load_ratings(write(tmp_path / name, text))
    assert_matches_rows(r, plain.user_ids, plain.item_ids, VALUES, STAMPS)
    assert r.source == str(path)


def test_compressed_file_over_many_blocks(tmp_path, small_blocks):
    rows = [(k % 97, f"i{k // 97}", 1.0 + k % 9 / 2, k) for k in range(20_000)]
    path = _compress("gz", tmp_path / "r.csv.gz", csv_text(rows).encode())
    r = load_ratings(path)
    assert_matches_rows(r, [u for u, *_ in rows], [i for _, i, *_ in rows],
                        [v for *_, v, _ in rows], [t for *_, t in rows])  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_bad_line_in_a_compressed_file_names_the_line(tmp_path, kind):
    text = "userId,movieId,rating,timestamp\n1,10,4.0,100\n2,20,abc,200\n"
    path = _compress(kind, tmp_path / f"ratings.csv.{kind}", text.encode())
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "line 3:", "rating 'abc'")


def test_duplicates_in_a_compressed_file_name_the_lines(tmp_path):
    text = "user,item,rating\na,x,4\nb,x,3\na,x,5\n"
    path = _compress("bz2", tmp_path / "r.csv.bz2", text.encode())
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "1 duplicate", "user 'a', item 'x'", "lines 2 and 4")


@pytest.mark.parametrize("kind", KINDS[:4])
def test_empty_compressed_file(tmp_path, kind):
    path = _compress(kind, tmp_path / f"ratings.csv.{kind}", b"")
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "file is empty (after decompression)", "expected ratings")


def test_zero_byte_compressed_file(tmp_path):
    path = write(tmp_path / "ratings.csv.gz", "")
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "file is empty")


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz", "zst"])
def test_corrupt_compressed_file(tmp_path, kind):
    path = write(tmp_path / f"ratings.csv.{kind}", "userId,movieId,rating\n1,2,3\n")
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    codec = {"gz": "gzip", "zst": "zstd"}.get(kind, kind)
    assert_error(exc, path, f"could not be decompressed as {codec}", f"a complete {codec} file")


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz", "zst", "zip"])
def test_truncated_file_past_the_sample(tmp_path, kind):
    body = "".join(f"{k},{k % 50},3.5,{k}\n" for k in range(200_000))
    path = _compress(kind, tmp_path / f"ratings.csv.{kind}",
                     ("userId,movieId,rating,timestamp\n" + body).encode())  # fmt: skip
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    if kind == "zip":  # the directory at the end is gone: not a zip any more
        assert_error(exc, path, "not a readable zip archive")
    else:
        codec = {"gz": "gzip", "zst": "zstd"}.get(kind, kind)
        assert_error(exc, path, f"could not be decompressed as {codec}")


def test_gzip_through_a_python_reader_as_with_isal(tmp_path, monkeypatch, small_blocks):
    """The path taken where ``isal`` is installed (its igzip.open is gzip.open's twin)."""
    import fastrec._source

    monkeypatch.setattr(fastrec._source, "_IGZIP", gzip)
    rows = [(f"u{k % 97}", k // 97, 1.0 + k % 9 / 2, k) for k in range(20_000)]
    path = _compress("gz", tmp_path / "r.csv.gz", csv_text(rows).encode())
    r = load_ratings(path)
    assert_matches_rows(r, [u for u, *_ in rows], [i for _, i, *_ in rows],
                        [v for *_, v, _ in rows], [t for *_, t in rows])  # fmt: skip
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "could not be decompressed as gzip")


def test_corrupt_zip_member(tmp_path):
    body = "".join(f"{k},{k % 50},3.5,{k}\n" for k in range(200_000))
    path = _compress("zip", tmp_path / "ratings.csv.zip", ("user,item,rating,t\n" + body).encode())
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 200] = bytes(200)
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "(ratings.csv)", "could not be decompressed as zip", "CRC")


def test_zip_with_two_files(tmp_path):
    path = tmp_path / "data.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.csv", csv_text())
        zf.writestr("b.csv", csv_text())
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "holds 2 files (a.csv, b.csv)", "expected one ratings file")


def test_zip_of_a_release_picks_its_ratings_file(tmp_path):
    path = tmp_path / "ml-latest-small.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ml-latest-small/", "")
        zf.writestr("ml-latest-small/movies.csv", "movieId,title\n1,Toy Story\n")
        zf.writestr("ml-latest-small/ratings.csv", csv_text())
        zf.writestr("__MACOSX/ml-latest-small/._ratings.csv", "junk")
    r = load_ratings(path)
    assert_matches_rows(r, USERS, ITEMS, VALUES, STAMPS)


@pytest.mark.parametrize("members", [[], ["folder/"]], ids=["empty", "only-a-folder"])
def test_zip_without_a_file(tmp_path, members):
    path = tmp_path / "r.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name in members:
            zf.writestr(name, "")
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "the zip archive holds no file", "expected one ratings file")


def test_not_a_zip(tmp_path):
    path = write(tmp_path / "r.zip", "userId,movieId,rating\n")
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "not a readable zip archive")


def test_compressed_parquet_is_refused(tmp_path):
    path = write(tmp_path / "r.parquet.gz", "x")
    with pytest.raises(ValueError) as exc:
        load_ratings(path)
    assert_error(exc, path, "compressed parquet", "expected a plain .parquet")


# =================================================================== rating scale


def test_rating_scale_given_is_kept_and_checked(tmp_path):
    rows = [(1, 1, -10.0, 1), (1, 2, 10.0, 2), (2, 1, 0.5, 3)]
    path = write(tmp_path / "jester.csv", csv_text(rows))
    r = load_ratings(path, rating_scale=(-10, 10))
    assert r.rating_scale == (-10.0, 10.0) and r.rating_range == (-10.0, 10.0)
    assert r.subset([2]).rating_range == (-10.0, 10.0)  # a split keeps the scale
    assert "rating_scale=(-10.0, 10.0)" in repr(r)
    plain = load_ratings(path)
    assert plain.rating_scale is None and plain.rating_range == (-10.0, 10.0)
    assert plain.subset([2]).rating_range == (0.5, 0.5)  # from the data


@pytest.mark.parametrize("kind", [None, "gz", "zip"])
def test_rating_outside_the_scale_names_the_line(tmp_path, kind):
    text = "user,item,rating\na,x,4\n\nb,x,11\nc,x,12\n"
    path = write(tmp_path / "r.csv", text)
    if kind:
        path = _compress(kind, tmp_path / f"r.csv.{kind}", text.encode())
    with pytest.raises(ValueError) as exc:
        load_ratings(path, rating_scale=(1, 10))
    assert_error(exc, path, "line 4:", "rating 11 is outside the rating scale",
                 "expected ratings from 1 to 10 (rating_scale=(1, 10))")  # fmt: skip


def test_rating_outside_the_scale_in_parquet_names_the_row(tmp_path):
    path = tmp_path / "r.parquet"
    pd.DataFrame({"userId": [1, 2], "movieId": [1, 1], "rating": [0.5, 5.5]}).to_parquet(path)
    with pytest.raises(ValueError) as exc:
        load_ratings(path, rating_scale=(0.5, 5))
    assert_error(exc, path, "row 1: 5.5", "expected ratings from 0.5 to 5")


@pytest.mark.parametrize("scale", [(5, 1), (1, 1), (0, float("nan")), "1-5", (1, 2, 3), ("a", 2)])
def test_bad_rating_scale_argument(tmp_path, scale):
    with pytest.raises(ValueError, match="rating_scale must be"):
        load_ratings(tmp_path / "missing.csv", rating_scale=scale)


def test_models_clip_to_the_given_scale(tmp_path):
    rows = [(u, i, float(2 + (u + i) % 3), 0) for u in range(20) for i in range(10)]
    r = load_ratings(write(tmp_path / "r.csv", csv_text(rows)), rating_scale=(1, 10))
    model = fastrec.Bias().fit(r)
    assert model.rating_range_ == (1.0, 10.0)


# ============================================================ ids through a model file


def test_string_ids_round_trip_through_a_model_file(tmp_path):
    rows = [(f"user {u}", f"isbn-{i:04d}", float(1 + (u * i) % 5), u * 100 + i)
            for u in range(30) for i in range(0, 40, 1 + u % 3)]  # fmt: skip
    r = load_ratings(_compress("gz", tmp_path / "r.tsv.gz",
                               csv_text(rows, header=None, sep="\t").encode()))  # fmt: skip
    model = fastrec.BiasedMF(n_epochs=3, seed=0).fit(r)
    fastrec.save_model(model, tmp_path / "m.fastrec")
    loaded = fastrec.load_model(tmp_path / "m.fastrec")
    assert list(loaded.user_index_) == list(r.user_index)
    assert all(isinstance(u, str) for u in loaded.item_index_)
    users, items = ["user 4", "user 29", "nobody"], ["isbn-0001", "isbn-0039", "isbn-9999"]
    np.testing.assert_array_equal(loaded.predict(users, items), model.predict(users, items))
    recs = loaded.recommend_all(n=3, users=np.array(["user 4", "nobody"], dtype=object))
    assert list(recs.columns) == ["userId", "rank", "movieId", "score"]
    assert set(recs["userId"]) == {"user 4", "nobody"}
    assert all(isinstance(i, str) and i.startswith("isbn-") for i in recs["movieId"])
    pd.testing.assert_frame_equal(
        recs, model.recommend_all(n=3, users=np.array(["user 4", "nobody"], dtype=object))
    )
