"""The post's three mean baselines, exactly, and the Bias model against a numpy reference."""

import numpy as np
import pandas as pd
import pytest

import fastrec
from fastrec.kernels.biases import fit_biases_als

# The blog post's RMSEs on ml-latest-small 2016, split with seed 7 (DESIGN.md).
POST_RMSE = {
    fastrec.UserMean: 0.965366,
    fastrec.ItemMean: 0.999053,
    fastrec.UserItemMean: 0.929886,
}


@pytest.fixture(scope="module")
def post_split(ml_small_2016):
    return fastrec.train_test_split(ml_small_2016, test_size=0.2, seed=7)


@pytest.mark.parametrize("model_cls", list(POST_RMSE), ids=lambda c: c.__name__)
def test_post_baselines_to_six_decimals(post_split, model_cls):
    train, test = post_split
    pred = model_cls().fit(train).predict(test)
    assert round(fastrec.rmse(pred, test.ratings), 6) == POST_RMSE[model_cls]


def test_post_fallback_counts(post_split):
    """739 test ratings are of movies without a train rating (DESIGN.md)."""
    train, test = post_split
    model = fastrec.ItemMean().fit(train)
    _, fell_back = model.predict_with_fallback(test)
    assert fell_back.sum() == 739
    assert 1 - fell_back.mean() == pytest.approx(1 - 739 / len(test))  # the coverage


def test_bias_beats_the_mean_baselines_on_the_post_split(post_split):
    train, test = post_split
    score = fastrec.rmse(fastrec.Bias().fit(train).predict(test), test.ratings)
    # Surprise's BaselineOnly (defaults) scores 0.897680 on this split (README).
    assert score < 0.897680
    assert score < min(POST_RMSE.values())


def _reference_biases(users, items, values, n_users, n_items, mu, reg_u, reg_i, n_iter):
    """Plain numpy ALS sweeps, items first: the formula of fit_biases_als."""
    bu, bi = np.zeros(n_users), np.zeros(n_items)
    n_u = np.bincount(users, minlength=n_users)
    n_i = np.bincount(items, minlength=n_items)
    den_i, den_u = np.maximum(reg_i + n_i, 1e-300), np.maximum(reg_u + n_u, 1e-300)
    for _ in range(n_iter):
        bi = np.bincount(items, weights=values - mu - bu[users], minlength=n_items) / den_i
        bu = np.bincount(users, weights=values - mu - bi[items], minlength=n_users) / den_u
    return bu, bi


@pytest.mark.parametrize("reg", [(0.0, 0.0), (5.0, 3.0), (15.0, 10.0)])
def test_bias_kernel_matches_numpy_reference(reg):
    rng = np.random.default_rng(1)
    n_users, n_items, n = 50, 40, 600
    users = rng.integers(0, n_users - 3, n)  # the last users and items have no rating
    items = rng.integers(0, n_items - 3, n)
    keys = np.unique(users * n_items + items)
    users, items = (keys // n_items).astype(np.int32), (keys % n_items).astype(np.int32)
    values = rng.integers(1, 11, len(keys)) / 2.0
    ratings = fastrec.Ratings(
        pd.Index(np.arange(n_users)), pd.Index(np.arange(n_items)), users, items, values
    )
    mu = values.mean()
    csr, csc = ratings.csr, ratings.csc
    bu, bi = fit_biases_als(
        csr.indptr,
        csr.indices,
        csr.data,
        csc.indptr,
        csc.indices,
        csc.data,
        mu,
        reg[0],
        reg[1],
        7,
    )
    ref_u, ref_i = _reference_biases(users, items, values, n_users, n_items, mu, *reg, 7)
    np.testing.assert_allclose(bu, ref_u, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(bi, ref_i, rtol=1e-12, atol=1e-12)
    assert np.all(bu[-3:] == 0) and np.all(bi[-3:] == 0)


def test_bias_fallbacks_and_clipping():
    df = pd.DataFrame(
        {"userId": [1, 1, 2, 2, 3], "movieId": [10, 20, 10, 30, 20], "rating": [5, 5, 5, 5, 5.0]}
    )
    model = fastrec.Bias(reg_user=0, reg_item=0).fit(fastrec.Ratings.from_frame(df))
    pred, fell_back = model.predict_with_fallback([1, 99, 1], [10, 10, 99])
    assert np.all(pred <= 5.0)  # clipped to the training range
    assert fell_back.sum() == 2  # unknown user 99, unknown item 99
    np.testing.assert_allclose(pred, 5.0)


def test_bias_parameters_change_the_result(post_split):
    train, test = post_split
    base = fastrec.Bias().fit(train).predict(test)
    for params in ({"reg_user": 25.0}, {"reg_item": 25.0}, {"n_iter": 1}):
        other = fastrec.Bias(**params).fit(train).predict(test)
        assert not np.allclose(base, other), params
