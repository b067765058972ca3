"""ALS and SVDpp: fit + predict on ml-latest-small 2016 (the post's split) and the ml-1m shape,
and the throughput of one ALS iteration / one SVD++ epoch on the ml-10m shape.

RMSE, n_train and n_test go to ``extra_info`` beside every time; the Numba kernels are
compiled (warm-up on a tiny set) before timing.
"""

import numpy as np
import pytest

import fastrec
from fastrec.kernels.svdpp import run_svdpp_epoch
from fastrec.models.als import ALS
from fastrec.models.svdpp import SVDpp

MODELS = [ALS, SVDpp]


def _warm_up(cls, train):
    tiny = train.subset(np.arange(min(len(train), 5_000)))
    cls().fit(tiny).predict(tiny)


@pytest.fixture(scope="module")
def post_split(data_dir):
    ratings = fastrec.load_ratings(data_dir / "ml-latest-small-2016" / "ratings.csv")
    return fastrec.train_test_split(ratings, test_size=0.2, seed=7)


@pytest.fixture(scope="module")
def ml1m_split():
    return fastrec.train_test_split(fastrec.datasets.synthetic("ml-1m", seed=0), 0.2, seed=7)


@pytest.fixture(scope="module")
def ml10m_train():
    train, _ = fastrec.train_test_split(fastrec.datasets.synthetic("ml-10m", seed=0), 0.2, seed=7)
    train.csr, train.csc  # noqa: B018  (built once, outside the timings)
    return train


def _bench_fit_predict(benchmark, cls, train, test, rounds):
    _warm_up(cls, train)

    def fit_predict():
        return cls().fit(train).predict(test)

    pred = benchmark.pedantic(fit_predict, rounds=rounds, iterations=1)
    benchmark.extra_info.update(
        rmse=fastrec.rmse(pred, test.ratings), n_train=len(train), n_test=len(test)
    )
    assert np.isfinite(pred).all()


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_fit_predict_post_split(benchmark, post_split, cls):
    _bench_fit_predict(benchmark, cls, *post_split, rounds=5)


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_fit_predict_ml1m_shape(benchmark, ml1m_split, cls):
    _bench_fit_predict(benchmark, cls, *ml1m_split, rounds=3)


def test_als_iteration_ml10m_shape(benchmark, ml10m_train):
    """One ALS iteration (users then items) at 50 factors; ratings per second in extra_info."""
    train = ml10m_train
    _warm_up(ALS, train)
    result = benchmark.pedantic(
        lambda: ALS(n_iter=1).fit(train), rounds=3, iterations=1, warmup_rounds=0
    )
    benchmark.extra_info.update(
        n_train=len(train),
        n_test=0,
        rmse=fastrec.rmse(result.predict(train), train.ratings),  # on the training ratings
        ratings_per_s_incl_bias_fit=len(train) / benchmark.stats.stats.median,
    )


def test_svdpp_epoch_ml10m_shape(benchmark, ml10m_train):
    """One SVD++ SGD epoch (20 factors, serial); ratings per second in extra_info."""
    train = ml10m_train
    csr = train.csr
    rng = np.random.default_rng(0)
    k = 20
    state = [
        np.zeros(train.n_users),
        np.zeros(train.n_items),
        rng.normal(0, 0.1, (train.n_users, k)),
        rng.normal(0, 0.1, (train.n_items, k)),
        rng.normal(0, 0.1, (train.n_items, k)),
    ]
    order = rng.permutation(train.n_users)
    mu = float(train.ratings.mean())

    def epoch():
        return run_svdpp_epoch(
            csr.indptr, csr.indices, csr.data, order, 1, mu, *state, 0.007, 0.007, 0.1, 0.1
        )

    epoch()  # compile
    sse = benchmark.pedantic(epoch, rounds=3, iterations=1)
    benchmark.extra_info.update(
        n_train=len(train),
        n_test=0,
        rmse=float(np.sqrt(sse / len(train))),  # training RMSE met during the epoch
        ratings_per_s=len(train) / benchmark.stats.stats.median,
    )
