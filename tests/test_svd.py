"""The post's SVD model and its kernels, each kernel against a plain-numpy reference."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import fastrec
from fastrec.kernels.factors import center_rows, multiply_csr_dense, reconstruct_at
from fastrec.models.svd import SVD


def random_csr(seed, n_rows=12, n_cols=9, density=0.3):
    """A random sparse matrix with an empty row, an empty column and a single-entry row."""
    rng = np.random.default_rng(seed)
    dense = np.where(
        rng.random((n_rows, n_cols)) < density, rng.integers(1, 11, (n_rows, n_cols)) / 2, 0
    )
    dense[3] = 0
    dense[:, 4] = 0
    dense[5] = 0
    dense[5, 0] = 4.5
    return sp.csr_array(dense), dense


# -------------------------------------------------------------------- kernels


@pytest.mark.parametrize("seed", range(3))
def test_center_rows_matches_numpy(seed):
    csr, dense = random_csr(seed)
    means, centred = center_rows(csr.indptr, csr.data)
    stored = dense != 0
    counts = stored.sum(axis=1)
    want_means = np.divide(dense.sum(axis=1), counts, out=np.zeros(len(dense)), where=counts > 0)
    np.testing.assert_allclose(means, want_means, rtol=1e-14)
    got = sp.csr_array((centred, csr.indices, csr.indptr), shape=csr.shape).toarray()
    np.testing.assert_allclose(got, np.where(stored, dense - want_means[:, None], 0.0), atol=1e-14)


@pytest.mark.parametrize("m", [1, 3])
@pytest.mark.parametrize("seed", range(3))
def test_multiply_csr_dense_matches_numpy(seed, m):
    csr, dense = random_csr(seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(dense.shape[1], m))
    out = np.full((dense.shape[0], m), np.nan)
    multiply_csr_dense(csr.indptr, csr.indices, csr.data, x, out)
    np.testing.assert_allclose(out, dense @ x, rtol=1e-12, atol=1e-12)
    csc = csr.tocsc()  # the transpose's CSR arrays
    y = rng.normal(size=(dense.shape[0], m))
    out_t = np.full((dense.shape[1], m), np.nan)
    multiply_csr_dense(csc.indptr, csc.indices, csc.data, y, out_t)
    np.testing.assert_allclose(out_t, dense.T @ y, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_reconstruct_at_equals_u_s_vt_at_the_pairs(seed):
    rng = np.random.default_rng(seed)
    n_users, n_items, k = 8, 11, 4
    u = rng.normal(size=(n_users, k))
    s = np.sort(rng.random(k))[::-1] * 5
    vt = rng.normal(size=(k, n_items))
    users = rng.integers(-1, n_users, 50).astype(np.int32)
    items = rng.integers(-1, n_items, 50).astype(np.int32)
    out = np.full(50, np.nan)
    reconstruct_at(users, items, u, s, np.ascontiguousarray(vt.T), out)
    full = u @ np.diag(s) @ vt
    want = np.where((users >= 0) & (items >= 0), full[users, items], 0.0)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------- model


@pytest.fixture(scope="module")
def split():
    shape = dataclasses.replace(
        fastrec.datasets.SHAPES["ml-100k"], name="small", n_users=300, n_items=500, n_ratings=20_000
    )
    ratings = fastrec.datasets.synthetic(shape, seed=2)
    return fastrec.train_test_split(ratings, test_size=0.2, seed=7)


def dense_reference(train, k):
    """The post's computation, densely: centre the stored ratings, exact SVD, top k."""
    r = np.zeros((train.n_users, train.n_items))
    r[train.user_codes, train.item_codes] = train.ratings
    stored = r != 0
    counts = stored.sum(axis=1)
    means = np.divide(r.sum(axis=1), counts, out=np.zeros(len(r)), where=counts > 0)
    u, s, vt = np.linalg.svd(np.where(stored, r - means[:, None], 0.0), full_matrices=False)
    return means, u[:, :k] @ np.diag(s[:k]) @ vt[:k]


def test_arpack_predictions_are_the_dense_computation(split):
    train, test = split
    k = 10
    model = SVD(n_factors=k).fit(train)
    means, low_rank = dense_reference(train, k)
    np.testing.assert_allclose(
        model.singular_values_, np.linalg.svd(low_rank, compute_uv=False)[:k], rtol=1e-10
    )
    pred = model.predict(test)
    ok = (train.user_counts()[test.user_codes] > 0) & (train.item_counts()[test.item_codes] > 0)
    want = np.clip(means[test.user_codes] + low_rank[test.user_codes, test.item_codes], 1, 5)
    np.testing.assert_allclose(pred[ok], want[ok], atol=1e-9)


def test_randomized_solver_approximates_arpack(split):
    """Randomized SVD finds the top singular values closely; its trailing singular vectors
    are approximate, so predictions differ pointwise but not in RMSE."""
    train, test = split
    exact = SVD(n_factors=10).fit(train)
    approx = SVD(n_factors=10, solver="randomized").fit(train)
    np.testing.assert_allclose(approx.singular_values_, exact.singular_values_, rtol=2e-3)
    exact_rmse = fastrec.rmse(exact.predict(test), test.ratings)
    approx_rmse = fastrec.rmse(approx.predict(test), test.ratings)
    assert abs(approx_rmse - exact_rmse) < 1e-4


def test_same_seed_same_predictions_randomized(split):
    """The randomized solver's sketch is drawn from ``seed`` (ARPACK, the default, is in
    the contract test)."""
    train, test = split
    a = SVD(n_factors=10, solver="randomized", seed=3).fit(train).predict(test)
    b = SVD(n_factors=10, solver="randomized", seed=3).fit(train).predict(test)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "param, value",
    [
        ("n_factors", 5),
        ("solver", "arpack"),
        ("seed", 1),
        ("n_oversamples", 3),
        ("n_power_iter", 1),
    ],
)
def test_each_parameter_changes_the_result(split, param, value):
    train, test = split
    base = dict(n_factors=10, solver="randomized")
    a = SVD(**base).fit(train).predict(test)
    b = SVD(**{**base, param: value}).fit(train).predict(test)
    assert not np.array_equal(a, b)


def test_more_factors_than_the_matrix_has_warns_and_uses_all():
    df = pd.DataFrame(
        {"userId": [1, 1, 2, 2, 3], "movieId": [7, 8, 7, 9, 8], "rating": [4.0, 2.0, 5.0, 3.0, 1.0]}
    )
    train = fastrec.Ratings.from_frame(df)
    with pytest.warns(UserWarning, match="n_factors=50"):
        model = SVD().fit(train)
    assert model.n_factors_ == 3
    means, low_rank = dense_reference(train, 3)  # rank 3: the centred matrix itself
    want = np.clip(means[train.user_codes] + low_rank[train.user_codes, train.item_codes], 1, 5)
    np.testing.assert_allclose(model.predict(train), want, atol=1e-10)
    np.testing.assert_allclose(model.predict(train), train.ratings, atol=1e-10)


# ------------------------------------------------------------------ real data


@pytest.mark.data
def test_the_posts_svd_number(ml_small_2016):
    """The post: svds(k=50) of the user-centred matrix, 0.945549 on its split."""
    train, test = fastrec.train_test_split(ml_small_2016, test_size=0.2, seed=7)
    model = SVD(n_factors=50).fit(train)
    pred, fell_back = model.predict_with_fallback(test)
    assert fastrec.rmse(pred, test.ratings) == pytest.approx(0.945549, abs=1e-4)
    assert fell_back.sum() == 739  # test ratings of movies with no training rating
