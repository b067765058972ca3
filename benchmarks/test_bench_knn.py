"""UserKNN / ItemKNN benchmarks: the post's form and the k=40 form, fit and predict apart.

On ml-latest-small 2016 (the post's split) and on the synthetic ml-1m shape (80/20 split,
seed 7). Numba kernels are compiled by a warm-up fit before timing; RMSE, n_train and
n_test go to ``extra_info``. Run alone: ``flock /tmp/fastrec-heavy.lock pytest benchmarks/``.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastrec
from fastrec.models.knn import ItemKNN, UserKNN

MODELS = {
    "UserKNN": lambda: UserKNN(),
    "ItemKNN": lambda: ItemKNN(),
    "UserKNN(k=40)": lambda: UserKNN(k=40),
    "ItemKNN(k=40)": lambda: ItemKNN(k=40),
}


@pytest.fixture(scope="module")
def ml_small_split(data_dir):
    ratings = fastrec.load_ratings(data_dir / "ml-latest-small-2016" / "ratings.csv")
    return fastrec.train_test_split(ratings, test_size=0.2, seed=7)


@pytest.fixture(scope="module")
def ml_1m_split():
    return fastrec.train_test_split(fastrec.datasets.synthetic("ml-1m", seed=0))


def _record(benchmark, model, train, test):
    pred = model.predict(test)
    benchmark.extra_info.update(
        rmse=fastrec.rmse(pred, test.ratings),
        coverage=model.coverage_,
        n_train=len(train),
        n_test=len(test),
        stored_neighbors=int(model.similarity_.nnz),
    )
    assert np.isfinite(pred).all()


def _bench_fit(benchmark, name, split, rounds):
    train, test = split
    MODELS[name]().fit(train)  # warm-up: Numba compilation
    model = benchmark.pedantic(lambda: MODELS[name]().fit(train), rounds=rounds, iterations=1)
    _record(benchmark, model, train, test)


def _bench_predict(benchmark, name, split, rounds):
    train, test = split
    model = MODELS[name]().fit(train)
    model.predict(test)
    benchmark.pedantic(model.predict, args=(test,), rounds=rounds, iterations=1)
    _record(benchmark, model, train, test)


@pytest.mark.parametrize("name", list(MODELS))
def test_fit_ml_small(benchmark, name, ml_small_split):
    _bench_fit(benchmark, name, ml_small_split, rounds=5)


@pytest.mark.parametrize("name", list(MODELS))
def test_predict_ml_small(benchmark, name, ml_small_split):
    _bench_predict(benchmark, name, ml_small_split, rounds=5)


@pytest.mark.parametrize("name", list(MODELS))
def test_fit_ml_1m_shape(benchmark, name, ml_1m_split):
    _bench_fit(benchmark, name, ml_1m_split, rounds=3)


@pytest.mark.parametrize("name", list(MODELS))
def test_predict_ml_1m_shape(benchmark, name, ml_1m_split):
    _bench_predict(benchmark, name, ml_1m_split, rounds=3)
