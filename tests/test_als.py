"""ALS: the half-sweep kernel against numpy.linalg.solve per row, and the model's behaviour."""

import dataclasses
import logging

import numba
import numpy as np
import pytest
import scipy.sparse as sp

import fastrec
from fastrec.kernels.als import predict_biased_pairs, row_squared_errors, solve_biased_rows
from fastrec.models.als import ALS

# Surprise's SVD (defaults, random_state=0) on the post's split; ALS must stay within 0.01 of
# it (issue 4). Measured with benchmarks/als_svdpp_peers.py.
SURPRISE_SVD_POST_RMSE = 0.903028


def _random_csr(rng, n_rows, n_cols, density):
    """Random half-star ratings with empty rows, single-rating rows and a dense row."""
    mask = rng.random((n_rows, n_cols)) < density
    mask[0] = False  # empty row
    mask[1] = False
    mask[1, rng.integers(n_cols)] = True  # a single rating
    mask[2] = True  # more ratings than the chunk of the Gram accumulation
    values = rng.integers(1, 11, size=(n_rows, n_cols)) / 2.0
    m = sp.csr_array(np.where(mask, values, 0.0))
    m.sort_indices()
    return m


def _reference_half_sweep(m, other, other_bias, mu, reg, reg_bias, weighted):
    """numpy.linalg.solve of each row's (k + 1)-dimensional normal equations."""
    k = other.shape[1]
    out = np.zeros((m.shape[0], k + 1))
    for r in range(m.shape[0]):
        cols = m.indices[m.indptr[r] : m.indptr[r + 1]]
        if len(cols) == 0:
            continue
        z = np.hstack([other[cols], np.ones((len(cols), 1))])
        t = m.data[m.indptr[r] : m.indptr[r + 1]] - mu - other_bias[cols]
        scale = len(cols) if weighted else 1.0
        penalty = scale * np.diag([reg] * k + [reg_bias])
        out[r] = np.linalg.solve(z.T @ z + penalty, z.T @ t)
    return out[:, :k], out[:, k]


@pytest.mark.parametrize("k", [1, 6, 20])
@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("reg_bias", [0.0, 0.3])  # 0: primal only; > 0: the dual for short rows
def test_half_sweep_equals_numpy_solve_per_row(k, weighted, reg_bias):
    rng = np.random.default_rng(k + 10 * weighted)
    m = _random_csr(rng, 25, 90, 0.15)
    other = rng.normal(size=(90, k))
    other_bias = rng.normal(size=90)
    out_f, out_b = np.full((25, k), 7.0), np.full(25, 7.0)  # garbage: every row must be written
    failed = solve_biased_rows(
        m.indptr, m.indices, m.data, other, other_bias, 3.2, 0.15, reg_bias, weighted, out_f, out_b
    )
    ref_f, ref_b = _reference_half_sweep(m, other, other_bias, 3.2, 0.15, reg_bias, weighted)
    assert failed == 0
    np.testing.assert_allclose(out_f, ref_f, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(out_b, ref_b, rtol=1e-9, atol=1e-11)
    assert np.all(out_f[0] == 0) and out_b[0] == 0  # the empty row


def test_half_sweep_reports_singular_rows():
    rng = np.random.default_rng(0)
    m = _random_csr(rng, 6, 10, 0.5)
    other = rng.normal(size=(10, 3))
    other[m.indices[m.indptr[3]]] = np.nan  # poisons row 3 (and others that rated that item)
    out_f, out_b = np.zeros((6, 3)), np.zeros(6)
    failed = solve_biased_rows(
        m.indptr, m.indices, m.data, other, np.zeros(10), 3.0, 0.1, 0.1, True, out_f, out_b
    )
    assert failed >= 1
    assert np.all(np.isfinite(out_f)) and np.all(np.isfinite(out_b))


def test_squared_errors_and_pair_predictions_match_numpy():
    rng = np.random.default_rng(1)
    m = _random_csr(rng, 12, 15, 0.4)
    x, y = rng.normal(size=(12, 4)), rng.normal(size=(15, 4))
    bx, by = rng.normal(size=12), rng.normal(size=15)
    rows = np.repeat(np.arange(12), np.diff(m.indptr))
    err = m.data - (3.0 + bx[rows] + by[m.indices] + np.einsum("ij,ij->i", x[rows], y[m.indices]))
    sse = row_squared_errors(m.indptr, m.indices, m.data, x, y, bx, by, 3.0)
    np.testing.assert_allclose(sse, np.bincount(rows, weights=err**2, minlength=12))
    users = np.array([0, 3, -1, 11, 5], dtype=np.int32)
    items = np.array([2, -1, 4, 14, 0], dtype=np.int32)
    out = np.full(5, -9.0)
    predict_biased_pairs(users, items, x, y, bx, by, 3.0, out)
    for n, (u, i) in enumerate(zip(users, items, strict=True)):
        expected = -9.0 if u < 0 or i < 0 else 3.0 + bx[u] + by[i] + x[u] @ y[i]
        assert out[n] == pytest.approx(expected)


@pytest.fixture(scope="module")
def split():
    ratings = fastrec.datasets.synthetic("ml-100k", seed=1)
    return fastrec.train_test_split(ratings, test_size=0.2, seed=7)


def _fit_predict(split, **params):
    train, test = split
    return ALS(**params).fit(train).predict(test)


def test_loss_never_increases_and_beats_bias(split):
    train, test = split
    model = ALS(n_iter=8).fit(train)
    loss = np.array(model.history_["loss"])
    assert len(loss) == 8 == len(model.history_["seconds"])
    assert np.all(np.diff(loss) <= 1e-9 * loss[:-1])  # exact block minimisation: monotone
    assert loss[-1] < loss[0]
    bias = fastrec.rmse(fastrec.Bias().fit(train).predict(test), test.ratings)
    assert fastrec.rmse(model.predict(test), test.ratings) < bias


def test_same_seed_same_predictions_whatever_the_threads(split):
    a = _fit_predict(split, seed=3)
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        b = _fit_predict(split, seed=3)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "param, value",
    [
        ("n_factors", 5),
        ("n_iter", 1),
        ("reg", 0.3),
        ("reg_bias", 0.0),
        ("weighted", False),
        ("init_std", 0.5),
        ("seed", 1),
    ],
)
def test_each_parameter_changes_the_result(split, param, value):
    base = {"n_iter": 3}
    default = _fit_predict(split, **base)
    changed = _fit_predict(split, **{**base, param: value})
    assert not np.allclose(default, changed)


def test_silent_by_default_progress_when_asked(split, capsys, caplog):
    train, _ = split
    ALS(n_iter=2).fit(train)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    with caplog.at_level(logging.INFO, logger="fastrec.models.als"):
        ALS(n_iter=2, show_progress=True).fit(train)
    assert "ALS iteration 2/2: loss" in caplog.text
    assert "ALS" in capsys.readouterr().err  # the tqdm bar


@pytest.mark.data
def test_post_split_rmse(ml_small_2016):
    train, test = fastrec.train_test_split(ml_small_2016, test_size=0.2, seed=7)
    score = fastrec.rmse(ALS().fit(train).predict(test), test.ratings)
    # Measured 0.874298; the issue asks for no worse than 0.01 above biased SGD MF.
    assert score < SURPRISE_SVD_POST_RMSE + 0.01
    assert score < 0.876


# ------------------------------------------------------------------------------ reg="auto"
def _shape(n_users, n_ratings):
    """A synthetic set of 500 items shaped like ml-100k, with these numbers of users and
    ratings."""
    base = fastrec.datasets.SHAPES["ml-100k"]
    return dataclasses.replace(
        base, name=f"{n_users}x500", n_users=n_users, n_items=500, n_ratings=n_ratings
    )


@pytest.fixture(scope="module")
def auto_small():
    """16,000 ratings: about 40 per user."""
    ratings = fastrec.datasets.synthetic(_shape(400, 16_000), seed=0)
    return fastrec.train_test_split(ratings, test_size=0.2, seed=7)


def test_auto_penalty_falls_as_the_data_grows(auto_small):
    large = fastrec.datasets.synthetic(_shape(4_000, 320_000), seed=0)
    train_large, _ = fastrec.train_test_split(large, test_size=0.2, seed=7)
    small = ALS(n_factors=10, reg="auto").fit(auto_small[0])
    big = ALS(n_factors=10, reg="auto").fit(train_large)
    assert big.reg_ < small.reg_ / 2
    for model in (small, big):
        path = model.reg_path_
        assert len(path["reg"]) == len(path["validation_rmse"]) == len(path["seconds"]) >= 3
        assert path["reg"][0] == 0.09  # the default first
        # the chosen penalty lies within half a grid step of the best one tried
        best = path["reg"][int(np.argmin(path["validation_rmse"]))]
        assert best * 2**-0.25 - 1e-12 <= model.reg_ <= best * 2**0.25 + 1e-12


def test_auto_reads_only_the_training_ratings(auto_small):
    train, test = auto_small
    model = ALS(n_factors=10, reg="auto").fit(train)
    # the training rows alone, with id maps of their own (no test-only ids) and shuffled:
    # the same held-out pairs (keyed by ids), the same path, the same model
    frame = train.to_frame().sample(frac=1.0, random_state=1).reset_index(drop=True)
    alone = ALS(n_factors=10, reg="auto").fit(fastrec.Ratings.from_frame(frame))
    assert alone.reg_ == pytest.approx(model.reg_, rel=1e-9)
    assert alone.reg_path_["reg"] == model.reg_path_["reg"]
    np.testing.assert_allclose(
        alone.reg_path_["validation_rmse"], model.reg_path_["validation_rmse"], rtol=1e-9
    )
    np.testing.assert_allclose(alone.predict(test), model.predict(test), rtol=1e-9, atol=1e-9)
    # the test ratings play no part: other test ratings, the same fit
    ratings = fastrec.datasets.synthetic(_shape(400, 16_000), seed=0)
    changed = ratings.subset(np.arange(len(ratings)))
    mask = np.random.RandomState(7).rand(len(ratings)) < 0.8  # train_test_split's mask
    changed.ratings[~mask] = 1.0
    again = ALS(n_factors=10, reg="auto").fit(changed.subset(mask))
    assert again.reg_ == model.reg_
    np.testing.assert_array_equal(again.user_factors_, model.user_factors_)


def test_auto_is_deterministic_whatever_the_threads(auto_small):
    train, test = auto_small
    a = ALS(n_factors=10, reg="auto", seed=2).fit(train)
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        b = ALS(n_factors=10, reg="auto", seed=2).fit(train)
    finally:
        numba.set_num_threads(before)
    assert a.reg_ == b.reg_ and a.reg_path_["validation_rmse"] == b.reg_path_["validation_rmse"]
    np.testing.assert_array_equal(a.predict(test), b.predict(test))


def test_fixed_penalty_records_it_and_no_path(split):
    model = ALS(n_iter=2, reg=0.2).fit(split[0])
    assert model.reg_ == 0.2 and model.reg_path_ == {}


@pytest.mark.parametrize("value", ["Auto", "best", 0.0, -0.1, float("nan"), None])
def test_reg_must_be_positive_or_auto(split, value):
    with pytest.raises(ValueError, match=r"ALS: reg must be a finite number > 0 or one of 'auto'"):
        ALS(reg=value).fit(split[0])


def test_auto_is_scale_free(auto_small):
    train, test = auto_small
    model = ALS(n_factors=10, reg="auto").fit(train)
    scaled = train.subset(np.arange(len(train)))
    scaled.ratings = 4.0 * scaled.ratings - 12.0  # 1..5 stars -> -8..8
    other = ALS(n_factors=10, reg="auto").fit(scaled)
    assert other.reg_ == pytest.approx(model.reg_, rel=1e-9)
    np.testing.assert_allclose(other.predict(test), 4.0 * model.predict(test) - 12.0, atol=1e-8)
