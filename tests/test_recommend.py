"""Top-n recommendations: the kernels against plain-numpy references, and ``recommend`` /
``recommend_all`` on every model against its own ``predict``."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import fastrec
from fastrec.kernels.recommend import (
    group_items_by_user,
    push_top_n,
    score_relu_block,
    sort_top_n,
    take_top_n_ranked,
)
from fastrec.memory import InsufficientMemoryError
from fastrec.models import MODELS, NotFittedError, _topn

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ALL_MODELS = [cls for cls in MODELS.values() if cls.missing_dependency() is None]


# ------------------------------------------------------------------ plain-numpy references
def reference_top_n(scores, users, indptr, indices, exclude_seen, candidate, n):
    """Per row: the ``n`` best (score desc, item code asc) of the candidate items that the
    row's user did not rate, NaN scores never; as (items, scores) lists."""
    out = []
    for r, u in enumerate(users):
        seen = set(indices[indptr[u] : indptr[u + 1]].tolist()) if exclude_seen and u >= 0 else ()
        keep = [
            i
            for i in range(scores.shape[1])
            if candidate[i] and i not in seen and not np.isnan(scores[r, i])
        ]
        keep.sort(key=lambda i: (-float(scores[r, i]), i))
        keep = keep[:n]
        out.append((np.array(keep, dtype=np.int64), scores[r, keep].astype(np.float64)))
    return out


def run_top_n(scores, users, indptr, indices, exclude_seen, candidate, n, cuts=()):
    """The kernels as recommend_all drives them, the columns fed in tiles split at ``cuts``."""
    b = scores.shape[0]
    heap_scores = np.empty((b, n))
    heap_items = np.empty((b, n), dtype=np.int32)
    heap_size = np.zeros(b, dtype=np.int32)
    edges = [0, *cuts, scores.shape[1]]
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        tile = np.ascontiguousarray(scores[:, lo:hi])
        push_top_n(
            tile, lo, users, indptr, indices, exclude_seen, candidate,
            heap_scores, heap_items, heap_size,
        )  # fmt: skip
    sort_top_n(heap_scores, heap_items, heap_size)
    return [(heap_items[r, : heap_size[r]], heap_scores[r, : heap_size[r]]) for r in range(b)]


def random_case(rng, n_users=40, n_items=30, dtype=np.float64):
    """Scores with many ties and a few NaNs; seen items with empty rows, single ratings and a
    user who rated everything; some items that are not candidates."""
    seen = rng.random((n_users, n_items)) < 0.25
    seen[0] = False  # empty row
    seen[1] = False
    seen[1, 3] = True  # a single rating
    seen[2] = True  # every item seen
    pattern = sp.csr_array(seen)
    pattern.sort_indices()
    indptr = pattern.indptr.astype(np.int64)
    indices = pattern.indices.astype(np.int32)
    users = rng.integers(-1, n_users, 25).astype(np.int32)  # -1: no training ratings
    users[:4] = [0, 1, 2, -1]
    scores = (rng.integers(0, 6, (len(users), n_items)) / 2.0).astype(dtype)  # many ties
    scores[rng.random(scores.shape) < 0.05] = np.nan
    candidate = rng.random(n_items) < 0.85
    return scores, users, indptr, indices, candidate


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("exclude_seen", [True, False])
def test_push_and_sort_top_n_match_the_reference(dtype, exclude_seen):
    rng = np.random.default_rng(0)
    for trial in range(6):
        scores, users, indptr, indices, candidate = random_case(rng, dtype=dtype)
        for n in (1, 3, 7, 40):  # 40 > the number of items: fewer come back
            cuts = sorted(rng.choice(np.arange(1, 30), trial % 4, replace=False).tolist())
            got = run_top_n(scores, users, indptr, indices, exclude_seen, candidate, n, cuts)
            want = reference_top_n(scores, users, indptr, indices, exclude_seen, candidate, n)
            for r, ((gi, gs), (wi, ws)) in enumerate(zip(got, want, strict=True)):
                np.testing.assert_array_equal(gi, wi, err_msg=f"trial {trial}, n {n}, row {r}")
                np.testing.assert_array_equal(gs, ws)


def test_top_n_of_a_user_who_rated_everything_is_empty():
    scores = np.ones((1, 5))
    indptr = np.array([0, 5], dtype=np.int64)
    indices = np.arange(5, dtype=np.int32)
    users = np.zeros(1, dtype=np.int32)
    got = run_top_n(scores, users, indptr, indices, True, np.ones(5, bool), 3)
    assert len(got[0][0]) == 0
    got = run_top_n(scores, users, indptr, indices, False, np.ones(5, bool), 3)
    np.testing.assert_array_equal(got[0][0], [0, 1, 2])  # ties: by item code


def test_group_items_by_user_is_the_sorted_csr_pattern():
    rng = np.random.default_rng(1)
    n_users, n_items = 50, 70
    keys = rng.choice(n_users * n_items, 600, replace=False)
    keys = keys[keys // n_items != 7]  # user 7: an empty row
    users, items = (keys // n_items).astype(np.int32), (keys % n_items).astype(np.int32)
    indptr, indices = group_items_by_user(users, items, n_users)
    csr = sp.csr_array((np.ones(len(users)), (users, items)), shape=(n_users, n_items))
    csr.sort_indices()
    np.testing.assert_array_equal(indptr, csr.indptr)
    np.testing.assert_array_equal(indices, csr.indices)
    assert indptr.dtype == np.int64 and indices.dtype == np.int32
    indptr, indices = group_items_by_user(np.zeros(0, np.int32), np.zeros(0, np.int32), 3)
    np.testing.assert_array_equal(indptr, [0, 0, 0, 0])


def test_take_top_n_ranked_matches_the_reference():
    rng = np.random.default_rng(2)
    for _ in range(5):
        scores, users, indptr, indices, candidate = random_case(rng)
        item_scores = scores[0].copy()
        item_scores[np.isnan(item_scores)] = -1.0
        cand = np.flatnonzero(candidate).astype(np.int32)
        order = cand[np.lexsort((cand, -item_scores[cand]))]
        same = np.tile(item_scores, (len(users), 1))
        for n in (1, 4, 50):
            for exclude_seen in (True, False):
                out = np.full((len(users), n), -9, dtype=np.int32)
                count = take_top_n_ranked(order, users, indptr, indices, exclude_seen, n, out)
                want = reference_top_n(same, users, indptr, indices, exclude_seen, candidate, n)
                for r, (wi, _) in enumerate(want):
                    np.testing.assert_array_equal(out[r, : count[r]], wi)


def test_score_relu_block_matches_numpy():
    rng = np.random.default_rng(4)
    user_hidden = rng.normal(size=(7, 16)).astype(np.float32)
    item_hidden = rng.normal(size=(11, 16)).astype(np.float32)
    weights = rng.normal(size=16).astype(np.float32)
    out = np.empty((7, 11), dtype=np.float32)
    score_relu_block(user_hidden, item_hidden, weights, 3.5, out)
    h = np.maximum(user_hidden[:, None, :] + item_hidden[None, :, :], 0)
    np.testing.assert_allclose(out, h @ weights + 3.5, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------- every model
@pytest.fixture(scope="module")
def split():
    """80 users x 120 items, 2,400 ratings; raw ids that are not codes. One user of the id
    map has all its ratings in the test set, and one item has none in training."""
    rng = np.random.default_rng(5)
    n_users, n_items, n = 80, 120, 2400
    keys = rng.choice(n_users * n_items, n, replace=False)
    df = pd.DataFrame(
        {
            "userId": keys // n_items + 100,
            "movieId": keys % n_items + 5000,
            "rating": rng.integers(1, 11, n) / 2.0,
            "timestamp": rng.integers(0, 10**9, n),
        }
    )
    ratings = fastrec.Ratings.from_frame(df)
    assert 100 in ratings.user_index and 5000 in ratings.item_index
    to_test = (ratings.user_ids == 100) | (ratings.item_ids == 5000) | (rng.random(n) < 0.2)
    return ratings.subset(~to_test), ratings.subset(to_test)


_FITTED: dict = {}


@pytest.fixture(params=ALL_MODELS, ids=lambda c: c.__name__)
def fitted(request, split):
    cls = request.param
    if cls not in _FITTED:
        _FITTED[cls] = cls().fit(split[0])
    return _FITTED[cls]


def _unseen_candidates(model, train, user_id):
    code = model.user_index_.get_loc(user_id)
    seen = train.item_codes[train.user_codes == code]
    cand = np.flatnonzero(model.item_n_train_ > 0)
    return model.item_index_.to_numpy()[np.setdiff1d(cand, seen)]


def test_recommend_scores_are_predict_best_first_and_unseen(fitted, split):
    train, _ = split
    model = fitted
    item_col = model.item_index_.name
    for user_id in train.user_index.to_numpy()[[1, 7, 33, 79]]:
        rec = model.recommend(user_id, n=8)
        assert list(rec.columns) == [item_col, "score"]
        assert len(rec) == 8 and rec.score.dtype == np.float64
        np.testing.assert_array_equal(
            rec.score.to_numpy(), model.predict(np.full(len(rec), user_id), rec[item_col])
        )
        assert np.all(np.diff(rec.score.to_numpy()) <= 0)
        unseen = _unseen_candidates(model, train, user_id)
        assert set(rec[item_col]) <= set(unseen)  # nothing rated in training, no unknown item
        # The whole ranking: every unseen candidate once, each at its predicted score.
        full = model.recommend(user_id, n=1000)
        assert sorted(full[item_col]) == sorted(unseen)
        np.testing.assert_array_equal(
            full.score.to_numpy(), model.predict(np.full(len(full), user_id), full[item_col])
        )
        assert np.all(np.diff(full.score.to_numpy()) <= 0)
        np.testing.assert_allclose(rec.score.to_numpy(), full.score.to_numpy()[:8], atol=1e-5)


def test_exclude_seen_false_ranks_every_candidate(fitted, split):
    train, _ = split
    model = fitted
    user_id = train.user_index[10]
    cand = model.item_index_.to_numpy()[model.item_n_train_ > 0]
    full = model.recommend(user_id, n=10_000, exclude_seen=False)
    assert sorted(full.iloc[:, 0]) == sorted(cand)
    pred = model.predict(np.full(len(cand), user_id), cand)
    np.testing.assert_allclose(full.score.to_numpy(), np.sort(pred)[::-1], atol=1e-6)


def test_recommend_all_equals_recommend_per_user(fitted, split):
    train, _ = split
    model = fitted
    user_col, item_col = model.user_index_.name, model.item_index_.name
    every = model.recommend_all(n=5)
    assert list(every.columns) == [user_col, "rank", item_col, "score"]
    with_ratings = model.user_index_.to_numpy()[model.user_n_train_ > 0]
    assert list(pd.unique(every[user_col])) == list(with_ratings)
    assert 100 not in set(every[user_col])  # all of its ratings are in the test set
    for user_id in with_ratings[::9]:
        mine = every[every[user_col] == user_id]
        one = model.recommend(user_id, n=5)
        np.testing.assert_array_equal(mine[item_col].to_numpy(), one[item_col].to_numpy())
        np.testing.assert_array_equal(mine.score.to_numpy(), one.score.to_numpy())
        np.testing.assert_array_equal(mine["rank"].to_numpy(), np.arange(1, len(one) + 1))
    # Several small blocks give the same answer as one.
    pd.testing.assert_frame_equal(model.recommend_all(n=5, block_size=7), every)
    # Given users, in the given order (an unknown one and a repeat included).
    some = [with_ratings[3], -7, with_ratings[0], with_ratings[3]]
    got = model.recommend_all(n=3, users=some)
    assert list(pd.unique(got[user_col])) == [with_ratings[3], -7, with_ratings[0]]
    assert len(got) == 12


def test_item_tiles_give_the_same_answer(fitted, monkeypatch):
    whole = fitted.recommend_all(n=6)
    monkeypatch.setattr(_topn, "BLOCK_BYTES", 1)
    monkeypatch.setattr(_topn, "MIN_TILE", 7)  # tiles of 7 items, the last one shorter
    pd.testing.assert_frame_equal(fitted.recommend_all(n=6, block_size=11), whole)


def test_unknown_user_gets_the_fallback_ranking(fitted, split):
    model = fitted
    item_col = model.item_index_.name
    cand = model.item_index_.to_numpy()[model.item_n_train_ > 0]
    codes = np.flatnonzero(model.item_n_train_ > 0)
    pred = model.predict(np.full(len(cand), -7), cand)
    want = cand[np.lexsort((codes, -pred))][:6]  # ties by item code
    for unknown in (-7, 100):  # not in the id map; in it, but no training rating
        rec = model.recommend(unknown, n=6)
        np.testing.assert_array_equal(rec[item_col].to_numpy(), want)
        np.testing.assert_array_equal(
            rec.score.to_numpy(), model.predict(np.full(6, unknown), rec[item_col])
        )
    assert 5000 not in set(model.recommend(-7, n=100)[item_col])  # no training rating


def test_ties_are_broken_by_item_code(split):
    train, _ = split
    model = fastrec.UserMean().fit(train)  # every item scores the user's mean
    user_id = train.user_index[20]
    unseen = np.sort(_unseen_candidates(model, train, user_id))
    np.testing.assert_array_equal(model.recommend(user_id, n=4).movieId.to_numpy(), unseen[:4])


def test_recommend_errors(split):
    train, _ = split
    with pytest.raises(NotFittedError, match="fit"):
        fastrec.Bias().recommend(101)
    with pytest.raises(NotFittedError, match="fit"):
        fastrec.SVD().recommend_all()
    model = fastrec.Bias().fit(train)
    for bad in (0, -3, 2.5, True, "10", None):
        with pytest.raises(ValueError, match="n must be an integer >= 1"):
            model.recommend(101, n=bad)
        with pytest.raises(ValueError, match="n must be an integer >= 1"):
            model.recommend_all(n=bad)
    with pytest.raises(TypeError, match="recommend_all"):
        model.recommend([101, 102])
    with pytest.raises(TypeError, match="recommend\\(user_id\\)"):
        model.recommend_all(users=101)
    with pytest.raises(TypeError, match="exclude_seen"):
        model.recommend(101, exclude_seen="yes")
    with pytest.raises(ValueError, match="block_size"):
        model.recommend_all(block_size=0)
    assert len(model.recommend_all(users=[])) == 0


def test_progress_bar_only_when_asked(split, capsys):
    train, _ = split
    model = fastrec.SVD(n_factors=5).fit(train)
    quiet = model.recommend_all(n=3)
    assert capsys.readouterr().err == ""
    loud = model.recommend_all(n=3, show_progress=True)
    assert "SVD top-3" in capsys.readouterr().err
    pd.testing.assert_frame_equal(quiet, loud)


def test_a_model_without_the_seen_record_says_so(split):
    train, _ = split
    model = fastrec.BiasedMF(n_epochs=2).fit(train)
    del model.seen_indptr_, model.seen_items_  # e.g. saved before recommend existed
    with pytest.raises(ValueError, match="exclude_seen=False"):
        model.recommend(101)
    assert len(model.recommend(101, exclude_seen=False)) == 10


def test_memory_guard_refuses_before_allocating(split, monkeypatch):
    train, _ = split
    model = fastrec.ALS(n_iter=2).fit(train)
    monkeypatch.setenv("FASTREC_MEMORY_LIMIT", "1K")
    with pytest.raises(InsufficientMemoryError, match="recommend_all"):
        model.recommend_all(n=10)


def test_real_data_recommendations_match_predict(ml_small_2016):
    train, _ = fastrec.train_test_split(ml_small_2016, seed=7)
    for model in (fastrec.Bias().fit(train), fastrec.SVD().fit(train)):
        every = model.recommend_all(n=10)
        assert len(every) == 10 * int((model.user_n_train_ > 0).sum())
        np.testing.assert_array_equal(
            every.score.to_numpy(), model.predict(every.userId, every.movieId)
        )
        seen = set(zip(train.user_ids.tolist(), train.item_ids.tolist(), strict=True))
        assert not any(pair in seen for pair in zip(every.userId, every.movieId, strict=True))
