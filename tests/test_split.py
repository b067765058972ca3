"""Splits: the post's train_test_split bit for bit, k-fold, and the ml-100k published folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fastrec
from fastrec import Ratings, kfold, load_ratings, ml100k_folds, predefined_split, train_test_split
from fastrec.split import aligned_pair, temporal_split, user_temporal_split


def synthetic(n=1_000, n_users=40, n_items=60, seed=0) -> Ratings:
    rng = np.random.default_rng(seed)
    keys = rng.choice(n_users * n_items, size=n, replace=False)
    df = pd.DataFrame(
        {
            "userId": keys // n_items * 3 + 1,  # sparse raw ids
            "movieId": keys % n_items * 7 + 2,
            "rating": rng.integers(1, 11, size=n) / 2,
            "timestamp": rng.integers(0, 10**9, size=n),
        }
    )
    return Ratings.from_frame(df)


def post_mask(n, seed, test_size):
    """The blog post's code, verbatim (the global random state is restored afterwards)."""
    saved = np.random.get_state()  # noqa: NPY002
    try:
        np.random.seed(seed)  # noqa: NPY002 -- the post's legacy global seeding, on purpose
        return np.random.rand(n) < 1 - test_size  # noqa: NPY002
    finally:
        np.random.set_state(saved)  # noqa: NPY002


def assert_rows(part: Ratings, whole: Ratings, rows):
    """``part`` is ``whole`` at ``rows`` (mask or positions), in order, with the same id maps."""
    assert part.user_index is whole.user_index and part.item_index is whole.item_index
    np.testing.assert_array_equal(part.user_codes, whole.user_codes[rows])
    np.testing.assert_array_equal(part.item_codes, whole.item_codes[rows])
    np.testing.assert_array_equal(part.ratings, whole.ratings[rows])
    np.testing.assert_array_equal(part.timestamps, whole.timestamps[rows])


# ============================================================ train_test_split


@pytest.mark.parametrize("seed", [7, 0, 42, 2**31])
@pytest.mark.parametrize("test_size", [0.2, 0.1, 0.5, 0.75])
def test_train_test_split_replays_the_post(seed, test_size):
    r = synthetic()
    state = np.random.get_state()  # noqa: NPY002
    train, test = train_test_split(r, test_size=test_size, seed=seed)
    after = np.random.get_state()  # noqa: NPY002
    assert np.array_equal(state[1], after[1]) and state[2] == after[2]  # global state untouched
    mask = post_mask(len(r), seed, test_size)
    assert_rows(train, r, mask)
    assert_rows(test, r, ~mask)
    assert len(train) + len(test) == len(r)


def test_train_test_split_defaults_are_the_posts():
    r = synthetic()
    train, test = train_test_split(r)
    mask = post_mask(len(r), 7, 0.2)
    assert_rows(train, r, mask)
    assert_rows(test, r, ~mask)


def test_train_test_split_shares_the_whole_id_maps():
    r = synthetic(n=50, n_users=30, n_items=30)
    train, test = train_test_split(r, test_size=0.5, seed=1)
    assert train.n_users == test.n_users == r.n_users
    assert train.n_items == test.n_items == r.n_items
    assert train.csr.shape == test.csr.shape == r.csr.shape
    # a raw id has one code in both halves
    for part in (train, test):
        np.testing.assert_array_equal(part.user_index.to_numpy()[part.user_codes], part.user_ids)


def test_train_test_split_seed_none_is_random_but_a_partition():
    r = synthetic()
    train, test = train_test_split(r, seed=None)
    assert len(train) + len(test) == len(r)
    keys = set(zip(train.user_ids, train.item_ids, strict=True))
    keys_test = set(zip(test.user_ids, test.item_ids, strict=True))
    assert not keys & keys_test and len(keys | keys_test) == len(r)


@pytest.mark.parametrize("bad", [0, 1, 0.0, 1.0, -0.1, 1.5, "0.2", None, True, np.nan])
def test_train_test_split_rejects_bad_test_size(bad):
    with pytest.raises(ValueError, match="test_size must be a fraction strictly between 0 and 1"):
        train_test_split(synthetic(), test_size=bad)


def test_train_test_split_accepts_numpy_float():
    r = synthetic()
    train, _ = train_test_split(r, test_size=np.float32(0.25), seed=3)
    assert_rows(train, r, post_mask(len(r), 3, np.float32(0.25)))


def test_train_test_split_rejects_non_ratings():
    with pytest.raises(TypeError, match="expects Ratings, got DataFrame"):
        train_test_split(synthetic().to_frame())


# ======================================================================= kfold


@pytest.mark.parametrize("n_splits", [2, 3, 5, 7])
def test_kfold_each_rating_in_exactly_one_test_fold(n_splits):
    r = synthetic(n=503)
    folds = list(kfold(r, n_splits=n_splits, seed=11))
    assert len(folds) == n_splits
    seen = np.zeros(len(r), dtype=int)
    key = r.user_codes.astype(np.int64) * r.n_items + r.item_codes
    pos = {k: p for p, k in enumerate(key)}
    sizes = []
    for train, test in folds:
        assert train.user_index is r.user_index and test.item_index is r.item_index
        assert len(train) + len(test) == len(r)
        test_rows = np.array(
            [pos[k] for k in test.user_codes.astype(np.int64) * r.n_items + test.item_codes]
        )
        train_rows = np.array(
            [pos[k] for k in train.user_codes.astype(np.int64) * r.n_items + train.item_codes]
        )
        seen[test_rows] += 1
        assert not set(test_rows) & set(train_rows)
        # each part keeps file order
        assert np.all(np.diff(test_rows) > 0) and np.all(np.diff(train_rows) > 0)
        assert_rows(test, r, test_rows)
        assert_rows(train, r, train_rows)
        sizes.append(len(test))
    assert np.all(seen == 1)
    assert max(sizes) - min(sizes) <= 1


def test_kfold_same_seed_same_folds_other_seed_other_folds():
    r = synthetic()
    a = [t.ratings.copy() for _, t in kfold(r, 5, seed=3)]
    b = [t.ratings.copy() for _, t in kfold(r, 5, seed=3)]
    c = [t.user_codes.copy() for _, t in kfold(r, 5, seed=4)]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    d = [t.user_codes.copy() for _, t in kfold(r, 5, seed=3)]
    assert any(len(x) != len(y) or not np.array_equal(x, y) for x, y in zip(c, d, strict=True))


def test_kfold_accepts_numpy_integer():
    assert len(list(kfold(synthetic(), n_splits=np.int64(4)))) == 4


@pytest.mark.parametrize("bad", [1, 0, -2, 2.5, "5", True, None])
def test_kfold_rejects_bad_n_splits_at_the_call(bad):
    with pytest.raises(ValueError, match="n_splits must be an integer >= 2"):
        kfold(synthetic(), n_splits=bad)  # no iteration needed to see the error


def test_kfold_rejects_more_folds_than_ratings():
    with pytest.raises(ValueError, match="exceeds the number of ratings"):
        kfold(synthetic(n=3), n_splits=4)


def test_kfold_rejects_non_ratings():
    with pytest.raises(TypeError, match="expects Ratings"):
        kfold([1, 2, 3])


# ============================================================ predefined_split


def write_tab(path, rows):
    path.write_text("".join("\t".join(str(v) for v in row) + "\n" for row in rows))
    return path


def test_predefined_split_shares_the_union_of_id_maps(tmp_path):
    train_rows = [(1, 10, 4, 100), (2, 20, 3, 101), (1, 30, 5, 102)]
    test_rows = [(3, 10, 2, 103), (2, 40, 1, 104)]  # user 3 and item 40 only in test
    train, test = predefined_split(
        write_tab(tmp_path / "u1.base", train_rows), write_tab(tmp_path / "u1.test", test_rows)
    )
    assert train.user_index.equals(test.user_index) and train.item_index.equals(test.item_index)
    assert list(train.user_index) == [1, 2, 3] and list(train.item_index) == [10, 20, 30, 40]
    assert train.n_users == test.n_users == 3 and train.n_items == test.n_items == 4
    np.testing.assert_array_equal(train.user_ids, [1, 2, 1])
    np.testing.assert_array_equal(train.item_ids, [10, 20, 30])
    np.testing.assert_array_equal(test.user_ids, [3, 2])
    np.testing.assert_array_equal(test.item_ids, [10, 40])
    np.testing.assert_array_equal(test.ratings, [2.0, 1.0])
    np.testing.assert_array_equal(test.timestamps, [103, 104])
    assert train.user_codes.dtype == np.int32 and test.item_codes.dtype == np.int32
    # user 2 has one code in both
    assert train.user_codes[1] == test.user_codes[1] == 1
    assert train.csr.shape == test.csr.shape == (3, 4)


def test_predefined_split_missing_file(tmp_path):
    base = write_tab(tmp_path / "u1.base", [(1, 1, 1, 1)])
    with pytest.raises(FileNotFoundError, match="u1.test"):
        predefined_split(base, tmp_path / "u1.test")


def make_ml100k(directory, n_folds=5):
    """A tiny ml-100k-shaped directory: fold k tests every rating with index % 5 == k - 1."""
    rng = np.random.default_rng(5)
    keys = rng.choice(30 * 50, size=200, replace=False)
    rows = [
        (k // 50 + 1, k % 50 + 1, int(rng.integers(1, 6)), 1000 + j) for j, k in enumerate(keys)
    ]
    directory.mkdir(exist_ok=True)
    write_tab(directory / "u.data", rows)
    for k in range(1, n_folds + 1):
        write_tab(directory / f"u{k}.base", [row for j, row in enumerate(rows) if j % 5 != k - 1])
        write_tab(directory / f"u{k}.test", [row for j, row in enumerate(rows) if j % 5 == k - 1])
    return rows


def test_ml100k_folds_on_a_synthetic_directory(tmp_path):
    rows = make_ml100k(tmp_path / "ml-100k")
    folds = ml100k_folds(tmp_path / "ml-100k")
    assert len(folds) == 5
    covered = []
    for k, (train, test) in enumerate(folds):
        assert train.user_index.equals(test.user_index)
        assert train.item_index.equals(test.item_index)
        assert len(train) == 160 and len(test) == 40
        expected = [row for j, row in enumerate(rows) if j % 5 == k]
        np.testing.assert_array_equal(test.user_ids, [u for u, *_ in expected])
        np.testing.assert_array_equal(test.item_ids, [i for _, i, *_ in expected])
        covered += list(zip(test.user_ids, test.item_ids, strict=True))
    assert sorted(covered) == sorted((u, i) for u, i, *_ in rows)


def test_ml100k_folds_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError) as exc:
        ml100k_folds(tmp_path / "nowhere")
    msg = str(exc.value)
    assert str(tmp_path / "nowhere") in msg and "expected the ml-100k directory" in msg


def test_ml100k_folds_missing_fold_file(tmp_path):
    make_ml100k(tmp_path / "ml-100k")
    (tmp_path / "ml-100k" / "u3.base").unlink()
    with pytest.raises(FileNotFoundError, match="u3.base"):
        ml100k_folds(tmp_path / "ml-100k")


def test_public_names():
    assert fastrec.train_test_split is train_test_split and fastrec.kfold is kfold
    assert fastrec.ml100k_folds is ml100k_folds and fastrec.predefined_split is predefined_split


# =================================================================== real data


@pytest.mark.data
def test_post_split_counts_on_ml_latest_small_2016(ml_small_2016):
    train, test = train_test_split(ml_small_2016, test_size=0.2, seed=7)
    assert (len(train), len(test)) == (79_831, 20_173)
    assert train.user_index is ml_small_2016.user_index
    assert test.item_index is ml_small_2016.item_index
    assert train.n_users == test.n_users == 671 and train.n_items == test.n_items == 9_066


@pytest.mark.data
def test_post_split_is_the_posts_mask_bit_for_bit(ml_small_2016, ml_small_2016_path):
    train, test = train_test_split(ml_small_2016, test_size=0.2, seed=7)
    saved = np.random.get_state()  # noqa: NPY002
    np.random.seed(7)  # noqa: NPY002 -- the post's code, literally
    mask = np.random.rand(len(ml_small_2016)) < 0.8  # noqa: NPY002
    np.random.set_state(saved)  # noqa: NPY002
    assert int(mask.sum()) == 79_831
    assert_rows(train, ml_small_2016, mask)
    assert_rows(test, ml_small_2016, ~mask)
    # and against the file read by pandas, as the post did
    df = pd.read_csv(ml_small_2016_path)
    np.testing.assert_array_equal(test.user_ids, df["userId"].to_numpy()[~mask])
    np.testing.assert_array_equal(test.item_ids, df["movieId"].to_numpy()[~mask])
    np.testing.assert_array_equal(test.ratings, df["rating"].to_numpy()[~mask])
    np.testing.assert_array_equal(train.timestamps, df["timestamp"].to_numpy()[mask])


@pytest.mark.data
def test_post_split_test_movies_without_train_ratings(ml_small_2016):
    train, test = train_test_split(ml_small_2016, test_size=0.2, seed=7)
    unseen = train.item_counts()[test.item_codes] == 0
    assert int(unseen.sum()) == 739  # the figure in DESIGN.md: shared maps make this countable


@pytest.mark.data
def test_kfold_on_ml_latest_small_2016(ml_small_2016):
    r = ml_small_2016
    counts = np.zeros(len(r), dtype=int)
    key = r.user_codes.astype(np.int64) * r.n_items + r.item_codes
    order = np.argsort(key)
    total = 0
    for train, test in kfold(r, n_splits=5, seed=7):
        assert len(train) + len(test) == len(r)
        test_key = test.user_codes.astype(np.int64) * r.n_items + test.item_codes
        counts[order[np.searchsorted(key, test_key, sorter=order)]] += 1
        total += len(test)
    assert total == 100_004 and np.all(counts == 1)


@pytest.mark.data
def test_ml100k_published_folds(ml100k_dir):
    folds = ml100k_folds(ml100k_dir)
    assert len(folds) == 5
    whole = load_ratings(ml100k_dir / "u.data")
    all_test = []
    for k, (train, test) in enumerate(folds, start=1):
        assert (len(train), len(test)) == (80_000, 20_000)
        assert train.user_index.equals(test.user_index)
        assert train.item_index.equals(test.item_index)
        assert train.n_users == 943 and train.n_items == 1_682
        raw = pd.read_csv(ml100k_dir / f"u{k}.test", sep="\t", header=None)
        np.testing.assert_array_equal(test.user_ids, raw[0])
        np.testing.assert_array_equal(test.item_ids, raw[1])
        np.testing.assert_array_equal(test.ratings, raw[2])
        # a user has the same code in train and test
        np.testing.assert_array_equal(test.user_index.to_numpy()[test.user_codes], raw[0])
        all_test.append(test.to_frame())
    # the five test folds partition u.data
    together = pd.concat(all_test).sort_values(["userId", "movieId"]).reset_index(drop=True)
    expected = whole.to_frame().sort_values(["userId", "movieId"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(together, expected)


# ============================================================ temporal splits


def test_temporal_split_holds_out_the_latest_share():
    r = synthetic(n=1_000)
    train, test = temporal_split(r, test_size=0.25)
    assert (len(train), len(test)) == (750, 250)
    assert train.user_index is r.user_index and test.item_index is r.item_index
    assert test.timestamps.min() >= train.timestamps.max()
    order = np.argsort(r.timestamps, kind="stable")
    latest = np.zeros(len(r), dtype=bool)
    latest[order[-250:]] = True
    assert_rows(test, r, latest)  # file order kept
    assert_rows(train, r, ~latest)


def test_temporal_split_ties_go_by_file_order():
    df = pd.DataFrame(
        {"userId": [1, 2, 3, 4], "movieId": [1, 1, 1, 1], "rating": [1.0, 2, 3, 4],
         "timestamp": [5, 9, 9, 9]}
    )  # fmt: skip
    train, test = temporal_split(Ratings.from_frame(df), test_size=0.5)
    np.testing.assert_array_equal(train.user_ids, [1, 2])  # of the tied rows, the later ones
    np.testing.assert_array_equal(test.user_ids, [3, 4])


def test_user_temporal_split_holds_out_each_users_latest():
    r = synthetic(n=1_000, n_users=40)
    train, test = user_temporal_split(r, test_size=0.2)
    assert len(train) + len(test) == len(r)
    frame, test_frame = r.to_frame(), test.to_frame()
    for user, rows in frame.groupby("userId"):
        n_u = len(rows)
        held = test_frame[test_frame.userId == user]
        expected = min(max(1, round(0.2 * n_u)), n_u - 1)
        assert len(held) == expected
        latest = rows.sort_values("timestamp", kind="stable").tail(expected)
        assert sorted(held.movieId) == sorted(latest.movieId)
    assert np.all(np.bincount(train.user_codes, minlength=r.n_users) >= 1)


def test_user_temporal_split_small_users():
    # user 1: one rating (stays in train); user 2: two ratings (one each);
    # user 3: ten ratings, test_size 0.25 -> round(2.5) = 2 (half to even, as LensKit)
    rows = [(1, 1, 3.0, 10), (2, 1, 4.0, 20), (2, 2, 5.0, 10)]
    rows += [(3, i, 3.0, 100 - i) for i in range(10)]  # item 9 is the oldest
    df = pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])
    train, test = user_temporal_split(Ratings.from_frame(df), test_size=0.25)
    held = sorted(zip(test.user_ids, test.item_ids, strict=True))
    assert held == [(2, 1), (3, 0), (3, 1)]
    assert sorted(set(train.user_ids)) == [1, 2, 3]


@pytest.mark.parametrize("split", [temporal_split, user_temporal_split])
def test_temporal_splits_need_timestamps(split):
    df = synthetic(n=50).to_frame().drop(columns="timestamp")
    name = "temporal" if split is temporal_split else "user-temporal"
    with pytest.raises(ValueError, match=rf"split='{name}'.*no timestamp column"):
        split(Ratings.from_frame(df))


@pytest.mark.parametrize("split", [temporal_split, user_temporal_split])
def test_temporal_splits_check_their_arguments(split):
    with pytest.raises(ValueError, match="test_size must be a fraction"):
        split(synthetic(), test_size=1.0)
    with pytest.raises(TypeError, match="expects Ratings"):
        split(synthetic().to_frame())


# ================================================================ aligned_pair


def test_aligned_pair_recodes_two_sets_onto_one_map():
    train = Ratings.from_frame(
        pd.DataFrame({"userId": ["b", "a"], "movieId": [10, 20], "rating": [4.0, 3.0]})
    )
    test = Ratings.from_frame(
        pd.DataFrame({"userId": ["c", "a"], "movieId": [20, 30], "rating": [5.0, 1.0]})
    )
    tr, te = aligned_pair(train, test)
    assert tr.user_index is te.user_index and list(tr.user_index) == ["a", "b", "c"]
    assert list(te.item_index) == [10, 20, 30]
    np.testing.assert_array_equal(te.user_ids, ["c", "a"])
    np.testing.assert_array_equal(tr.item_ids, [10, 20])
    assert te.user_codes[1] == tr.user_codes[1] == 0  # "a" has one code in both


def test_aligned_pair_keeps_a_split_as_it_is():
    train, test = train_test_split(synthetic())
    assert aligned_pair(train, test) == (train, test)
    with pytest.raises(TypeError, match="the test set must be Ratings"):
        aligned_pair(train, test.to_frame())
