"""fastrec.datasets: synthetic MovieLens-shaped ratings and the ratings.csv writer."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import fastrec
from fastrec.datasets import MIN_USER_RATINGS, SHAPES, Shape, _epoch, synthetic, write_csv
from fastrec.kernels.synthetic import fill_unrated_items, sample_user_items

SMALL = ["ml-100k", "ml-latest-small"]

#: A tiny shape whose heavy users take 90% of the items (the key-sampling path) and whose
#: items outnumber what popularity alone would reach (the unrated-item fill).
TINY = dataclasses.replace(
    SHAPES["ml-latest-small"],
    name="tiny",
    n_users=40,
    n_items=300,
    n_ratings=2_500,
    max_user_share=0.9,
    zipf_exponent=2.0,
    zipf_offset=1.0,
)


@pytest.fixture(scope="module", params=SMALL)
def shaped(request):
    return SHAPES[request.param], synthetic(request.param, seed=0)


@pytest.fixture(scope="module")
def ml100k():
    return synthetic("ml-100k", seed=0)


def _check_invariants(spec: Shape, r: fastrec.Ratings) -> None:
    assert isinstance(r, fastrec.Ratings)
    assert (r.n_users, r.n_items, len(r)) == (spec.n_users, spec.n_items, spec.n_ratings)
    assert r.user_codes.dtype == np.int32 and r.item_codes.dtype == np.int32
    assert r.ratings.dtype == np.float64 and r.timestamps.dtype == np.int64
    assert r.user_counts().min() >= MIN_USER_RATINGS
    assert r.user_counts().max() <= spec.max_user_share * spec.n_items
    assert r.item_counts().min() >= 1  # every item rated
    pairs = r.user_codes.astype(np.int64) * r.n_items + r.item_codes
    assert len(np.unique(pairs)) == len(r), "duplicate (user, item) pairs"
    steps = r.ratings / spec.step
    np.testing.assert_array_equal(steps, np.round(steps))
    assert r.ratings.min() >= spec.min_rating and r.ratings.max() <= spec.max_rating
    assert r.timestamps.min() >= _epoch(spec.first_day)
    assert r.timestamps.max() <= _epoch(spec.last_day)
    np.testing.assert_array_equal(r.user_index, np.arange(1, spec.n_users + 1))
    np.testing.assert_array_equal(r.item_index, np.arange(1, spec.n_items + 1))
    assert (r.user_index.name, r.item_index.name) == ("userId", "movieId")


def test_shape_guarantees(shaped):
    spec, r = shaped
    _check_invariants(spec, r)
    assert r.source == f"synthetic:{spec.name}(seed=0)"


def test_tiny_custom_shape_guarantees():
    r = synthetic(TINY, seed=3)
    _check_invariants(TINY, r)
    assert r.user_counts().max() > 0.75 * TINY.n_items  # reached the key-sampling path


def test_rating_scale(shaped):
    spec, r = shaped
    values = set(np.unique(r.ratings).tolist())
    expected = set(np.arange(spec.step, 5.0 + spec.step / 2, spec.step).tolist())
    assert values == expected  # every grid value occurs, nothing else


def test_mean_and_std_like_movielens(shaped):
    spec, r = shaped
    assert abs(r.ratings.mean() - spec.mean) < 0.03
    assert abs(r.ratings.std() - spec.std) < 0.03
    assert 3.4 < r.ratings.mean() < 3.65 and 1.0 < r.ratings.std() < 1.15


def test_heavy_tails(shaped):
    spec, r = shaped
    users, items = r.user_counts(), r.item_counts()
    assert items.max() > 0.3 * r.n_users
    assert abs(items.max() / r.n_users - spec.top_share) < 0.1
    assert users.max() > 5 * np.median(users)
    assert items.max() > 10 * np.median(items)


def test_deterministic_by_seed():
    a, b, c = (
        synthetic("ml-latest-small", 5),
        synthetic("ml-latest-small", 5),
        synthetic("ml-latest-small", 6),
    )
    for name in ("user_codes", "item_codes", "ratings", "timestamps"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.item_codes, c.item_codes)
    assert not np.array_equal(a.ratings, c.ratings)


def test_unknown_shape_lists_valid_ones():
    with pytest.raises(ValueError, match="ml-26m") as err:
        synthetic("ml-26m")
    for name in SHAPES:
        assert name in str(err.value)


@pytest.mark.parametrize(
    "change",
    [
        {"n_ratings": 19 * 40},  # under 20 per user
        {"n_ratings": 300 * 40},  # over the per-user cap
        {"n_items": 15},  # fewer items than 20 per user
        {"n_items": 3_000},  # more items than ratings
    ],
)
def test_impossible_custom_shape_is_refused(change):
    with pytest.raises(ValueError, match="tiny"):
        synthetic(dataclasses.replace(TINY, **change))


def test_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        synthetic("ml-100k", seed=-1)


def test_show_progress(capsys):
    synthetic(TINY, seed=0, show_progress=True)
    assert "tiny" in capsys.readouterr().err
    synthetic(TINY, seed=0)
    assert capsys.readouterr().err == ""


def test_write_csv_round_trip(tmp_path, shaped):
    _, r = shaped
    path = tmp_path / "ratings.csv"
    write_csv(r, path)
    with open(path) as f:
        assert f.readline() == "userId,movieId,rating,timestamp\n"
    back = fastrec.load_ratings(path)
    assert len(back) == len(r)
    np.testing.assert_array_equal(back.ratings, r.ratings)
    np.testing.assert_array_equal(back.timestamps, r.timestamps)
    np.testing.assert_array_equal(back.user_ids, r.user_ids)
    np.testing.assert_array_equal(back.item_ids, r.item_ids)


def test_write_csv_needs_timestamps(tmp_path):
    r = synthetic(TINY)
    no_ts = fastrec.Ratings(r.user_index, r.item_index, r.user_codes, r.item_codes, r.ratings)
    with pytest.raises(ValueError, match="timestamps"):
        write_csv(no_ts, tmp_path / "ratings.csv")


# ------------------------------------------------------ better models score better


def _als_residual_rmse(train, test, base, rank=10, reg=8.0, n_iter=8):
    """RMSE of a small dense-solve ALS fitted to the residuals of ``base`` (test helper)."""
    rng = np.random.default_rng(0)
    resid = train.ratings - base.biases_at(train.user_codes, train.item_codes)
    by_user = [np.flatnonzero(train.user_codes == u) for u in range(train.n_users)]
    by_item = [np.flatnonzero(train.item_codes == i) for i in range(train.n_items)]
    p = rng.normal(0, 0.1, (train.n_users, rank))
    q = rng.normal(0, 0.1, (train.n_items, rank))
    eye = np.eye(rank)
    for _ in range(n_iter):
        for rows, codes, other, out in (
            (by_user, train.item_codes, q, p),
            (by_item, train.user_codes, p, q),
        ):
            for k, idx in enumerate(rows):
                f = other[codes[idx]]
                out[k] = np.linalg.solve(f.T @ f + reg * eye, f.T @ resid[idx])
    pred = base.biases_at(test.user_codes, test.item_codes)
    pred += np.einsum("ij,ij->i", p[test.user_codes], q[test.item_codes])
    return fastrec.rmse(np.clip(pred, 1, 5), test.ratings)


def test_models_rank_as_on_movielens(ml100k):
    train, test = fastrec.train_test_split(ml100k, test_size=0.2, seed=7)
    global_mean = fastrec.rmse(np.full(len(test), train.ratings.mean()), test.ratings)
    item_mean = fastrec.rmse(fastrec.ItemMean().fit(train).predict(test), test.ratings)
    bias_model = fastrec.Bias().fit(train)
    bias = fastrec.rmse(bias_model.predict(test), test.ratings)
    factors = _als_residual_rmse(train, test, bias_model)
    assert item_mean < global_mean - 0.05
    assert bias < item_mean - 0.02
    assert factors < bias - 0.03


# ------------------------------------------------------------------------ kernels


def _inclusion(items: np.ndarray, n_items: int, n_users: int) -> np.ndarray:
    return np.bincount(items, minlength=n_items) / n_users


@pytest.mark.parametrize("switch_mass", [0.0, 0.5, 1.0])
def test_sample_user_items_matches_successive_sampling(switch_mass):
    """Both paths (rejection, keys) draw like numpy's choice(replace=False, p=w)."""
    n_items, n_users, per_user = 12, 4_000, 5
    w = 1.0 / np.arange(1, n_items + 1) ** 1.2
    indptr = np.arange(n_users + 1, dtype=np.int64) * per_user
    out = np.empty(n_users * per_user, dtype=np.int32)
    marker = np.full(n_items, -1, dtype=np.int64)
    sample_user_items(indptr, 0, n_users, np.cumsum(w), w, switch_mass, marker, out, 11)
    rows = out.reshape(n_users, per_user)
    assert all(len(set(row)) == per_user for row in rows.tolist())
    rng = np.random.default_rng(0)
    ref = np.concatenate(
        [rng.choice(n_items, per_user, replace=False, p=w / w.sum()) for _ in range(n_users)]
    )
    # inclusion probabilities agree to sampling error (sd <= 0.008 for each)
    np.testing.assert_allclose(
        _inclusion(out, n_items, n_users), _inclusion(ref, n_items, n_users), atol=0.04
    )


def test_sample_user_items_takes_every_item_when_asked():
    w = np.array([5.0, 1.0, 1e-6, 1e-9])
    indptr = np.array([0, 4, 8], dtype=np.int64)
    out = np.empty(8, dtype=np.int32)
    marker = np.full(4, -1, dtype=np.int64)
    sample_user_items(indptr, 0, 2, np.cumsum(w), w, 0.75, marker, out, 0)
    assert sorted(out[:4]) == [0, 1, 2, 3] and sorted(out[4:]) == [0, 1, 2, 3]


def test_fill_unrated_items():
    users = np.repeat(np.arange(30), 4)
    items = np.tile(np.arange(4, dtype=np.int32), 30)  # items 4..9 unrated
    counts = np.bincount(items, minlength=10).astype(np.int64)
    moved = fill_unrated_items(items, counts, 1)
    assert moved == 6
    np.testing.assert_array_equal(counts, np.bincount(items, minlength=10))
    assert counts.min() >= 1
    pairs = users * 10 + items
    assert len(np.unique(pairs)) == len(pairs)
