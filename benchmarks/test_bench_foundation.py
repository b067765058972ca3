"""Foundation benchmarks: load + split + the four baselines on ml-latest-small 2016.

Target (issue 2): under 0.5 s for the whole pipeline after Numba compilation.
RMSE of every model is recorded in ``extra_info`` next to the time.
"""

import numpy as np
import pytest

import fastrec

BASELINES = [fastrec.UserMean, fastrec.ItemMean, fastrec.UserItemMean, fastrec.Bias]


def _pipeline(path):
    ratings = fastrec.load_ratings(path)
    train, test = fastrec.train_test_split(ratings, test_size=0.2, seed=7)
    scores = {}
    for cls in BASELINES:
        pred = cls().fit(train).predict(test)
        scores[cls.__name__] = fastrec.rmse(pred, test.ratings)
    return scores


def test_load_split_and_four_baselines(benchmark, data_dir):
    path = data_dir / "ml-latest-small-2016" / "ratings.csv"
    _pipeline(path)  # warm up: Numba compilation (cached on disk) and imports
    scores = benchmark(_pipeline, path)
    benchmark.extra_info.update({f"rmse_{k}": v for k, v in scores.items()})
    benchmark.extra_info["n_ratings"] = 100_004
    assert round(scores["UserItemMean"], 6) == 0.929886


def test_load_only(benchmark, data_dir):
    path = data_dir / "ml-latest-small-2016" / "ratings.csv"
    fastrec.load_ratings(path)
    ratings = benchmark(fastrec.load_ratings, path)
    benchmark.extra_info["n_ratings"] = len(ratings)


@pytest.mark.parametrize("cls", BASELINES, ids=lambda c: c.__name__)
def test_fit_predict_baseline(benchmark, data_dir, cls):
    ratings = fastrec.load_ratings(data_dir / "ml-latest-small-2016" / "ratings.csv")
    train, test = fastrec.train_test_split(ratings)
    cls().fit(train).predict(test)

    def fit_predict():
        return cls().fit(train).predict(test)

    pred = benchmark(fit_predict)
    benchmark.extra_info["rmse"] = fastrec.rmse(pred, test.ratings)
    assert np.isfinite(pred).all()
