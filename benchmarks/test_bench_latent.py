"""Latent-factor benchmarks: SVD (the post's, and its randomized solver) and BiasedMF.

- fit + predict per model on ml-latest-small 2016 (the post's split) and on the ml-1m shape
  (synthetic, seed 0, the same 80/20 split);
- BiasedMF's SGD epoch throughput (ratings per second) on the ml-10m shape.

Numba kernels are compiled before timing; RMSE, n_train and n_test are in ``extra_info``.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastrec
from fastrec.kernels.factors import arrange_blocks, sgd_epoch
from fastrec.models.mf import BiasedMF
from fastrec.models.svd import SVD

MODELS = {
    "SVD": lambda: SVD(),
    "SVD-randomized": lambda: SVD(solver="randomized"),
    "BiasedMF": lambda: BiasedMF(),
}


@pytest.fixture(scope="module")
def post_split(data_dir):
    ratings = fastrec.load_ratings(data_dir / "ml-latest-small-2016" / "ratings.csv")
    return fastrec.train_test_split(ratings, test_size=0.2, seed=7)


@pytest.fixture(scope="module")
def ml1m_split():
    return fastrec.train_test_split(fastrec.datasets.synthetic("ml-1m", seed=0), seed=7)


def _bench_fit_predict(benchmark, factory, train, test):
    factory().fit(train).predict(test)  # compile the kernels before timing

    def fit_predict():
        return factory().fit(train).predict(test)

    pred = benchmark.pedantic(fit_predict, rounds=5, iterations=1)
    benchmark.extra_info.update(
        rmse=fastrec.rmse(pred, test.ratings), n_train=len(train), n_test=len(test)
    )
    assert np.isfinite(pred).all()


@pytest.mark.parametrize("name", list(MODELS))
def test_fit_predict_post_split(benchmark, post_split, name):
    _bench_fit_predict(benchmark, MODELS[name], *post_split)


@pytest.mark.parametrize("name", list(MODELS))
def test_fit_predict_ml1m_shape(benchmark, ml1m_split, name):
    _bench_fit_predict(benchmark, MODELS[name], *ml1m_split)


def test_sgd_epoch_throughput_ml10m_shape(benchmark):
    """One BiasedMF epoch (50 factors, the model's blocks and defaults) on 8M ratings."""
    train, test = fastrec.train_test_split(fastrec.datasets.synthetic("ml-10m", seed=0), seed=7)
    model = BiasedMF(n_epochs=1).fit(train)  # compiles, and picks the blocks
    n_blocks = model.n_blocks_
    rng = np.random.default_rng(0)
    user_group = (rng.permutation(train.n_users) % n_blocks).astype(np.int32)
    item_group = (rng.permutation(train.n_items) % n_blocks).astype(np.int32)
    block_ptr, users, items, ratings = arrange_blocks(
        train.user_codes,
        train.item_codes,
        train.ratings,
        rng.permutation(len(train)),
        user_group,
        item_group,
        n_blocks,
    )
    f32 = np.float32
    state = [model.user_bias_.copy(), model.item_bias_.copy()]
    state += [model.user_factors_.copy(), model.item_factors_.copy()]

    def one_epoch():
        return sgd_epoch(
            block_ptr, rng.permutation(n_blocks), n_blocks, users, items, ratings,
            f32(model.global_mean_), *state, f32(model.lr), f32(model.reg), f32(model.reg),
        )  # fmt: skip

    benchmark.pedantic(one_epoch, rounds=5, iterations=1)
    full = BiasedMF().fit(train)
    benchmark.extra_info.update(
        ratings_per_s=len(train) / benchmark.stats.stats.median,
        n_blocks=n_blocks,
        rmse=fastrec.rmse(full.predict(test), test.ratings),
        rmse_model="BiasedMF() with defaults, full fit",
        n_train=len(train),
        n_test=len(test),
    )
