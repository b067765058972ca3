"""Every model is scale-free: fitted on ratings ``a * r + b`` (``a > 0``), it predicts
``a * pred + b``, where ``pred`` is what it predicts fitted on ``r``.

Closed-form models (means, biases, the truncated SVD, the neighbourhood models) must give
``a * pred + b`` to float rounding; iterative ones (SGD, ALS, the Keras networks, sampling)
the same test RMSE divided by ``a``, within 0.1%. Two maps: ``x -> 4x - 12`` (the half
stars become -10 .. 8, negative and positive) and ``x -> 0.5x + 100`` (a spread of 2.25 far
from 0, which float32 arithmetic in rating units would blur). The data are small synthetic
biases-plus-factors ratings, and the slow models run fewer epochs or samples (the property
holds at any number of them), so that the whole file takes well under a minute.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

import fastrec
from fastrec.models import ALL_MODELS, ItemKNN, UserKNN

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MAPS = [(4.0, -12.0), (0.5, 100.0)]

#: Fitted in closed form (or by exact sweeps): ``a * pred + b`` to rounding.
CLOSED_FORM = {"UserMean", "ItemMean", "UserItemMean", "Bias", "SVD", "UserKNN", "ItemKNN"}

#: Parameters that make a slow default fit quick on these data, where the model has them.
QUICK = {
    "DotProduct": {"max_epochs": 3},
    "DotProductBias": {"max_epochs": 3},
    "NeuralNet": {"max_epochs": 3},
    "BayesianMF": {"n_samples": 30},
    "Blend": {"n_folds": 2},
}

#: The post's cosine (``k=None``, the default of UserKNN and ItemKNN) is the cosine of the
#: raw ratings, which an offset changes: by design not invariant under ``r + b``.
RAW_COSINE = pytest.mark.xfail(
    reason="the post's form (k=None) takes the cosine of the raw ratings, which an offset "
    "changes (measured on the post's split under x -> 4x - 12: UserKNN 0.9489 -> 0.9498, "
    "ItemKNN 0.9874 -> 0.9928)",
    strict=True,
)


def _model_cases():
    cases = []
    for name, cls in ALL_MODELS.items():
        marks = []
        missing = cls.missing_dependency()
        if missing is not None:
            marks.append(pytest.mark.skip(reason=missing))
        if cls in (UserKNN, ItemKNN):
            marks.append(RAW_COSINE)
        cases.append(pytest.param(name, cls, {}, marks=marks, id=name))
    for cls in (UserKNN, ItemKNN):  # their k-NN form (centred cosine, Bias baseline)
        cases.append(pytest.param(cls.__name__, cls, {"k": 40}, id=f"{cls.__name__}(k=40)"))
    return cases


@pytest.fixture(scope="module")
def split():
    """160 users x 120 items, 5,000 half-star ratings from biases, rank-3 factors and noise
    (so that the factor models have something to learn), 80/20."""
    rng = np.random.default_rng(5)
    n_users, n_items, n = 160, 120, 5000
    keys = rng.choice(n_users * n_items, n, replace=False)
    users, items = keys // n_items, keys % n_items
    p, q = rng.normal(0, 0.5, (n_users, 3)), rng.normal(0, 0.5, (n_items, 3))
    x = (
        3.5
        + rng.normal(0, 0.4, n_users)[users]
        + rng.normal(0, 0.4, n_items)[items]
        + np.einsum("ij,ij->i", p[users], q[items])
        + rng.normal(0, 0.6, n)
    )
    df = pd.DataFrame(
        {"userId": users, "movieId": items, "rating": np.clip(np.round(2 * x) / 2, 0.5, 5.0)}
    )
    return fastrec.train_test_split(fastrec.Ratings.from_frame(df), test_size=0.2, seed=1)


def _mapped(ratings: fastrec.Ratings, a: float, b: float) -> fastrec.Ratings:
    """The same ratings (same id maps and codes) with values ``a * r + b``."""
    return fastrec.Ratings(
        ratings.user_index,
        ratings.item_index,
        ratings.user_codes,
        ratings.item_codes,
        a * ratings.ratings + b,
    )


_fitted_on_stars: dict[str, np.ndarray] = {}


def _fit_predict(name, cls, params, train, test) -> np.ndarray:
    model = cls(**params)
    quick = {k: v for k, v in QUICK.get(name, {}).items() if k in model.get_params()}
    return model.set_params(**quick).fit(train).predict(test)


@pytest.mark.parametrize("a, b", MAPS, ids=lambda v: f"{v:g}")
@pytest.mark.parametrize("name, cls, params", _model_cases())
def test_predictions_follow_an_affine_map_of_the_ratings(split, name, cls, params, a, b):
    train, test = split
    key = f"{name}{params}"
    if key not in _fitted_on_stars:
        _fitted_on_stars[key] = _fit_predict(name, cls, params, train, test)
    pred = _fitted_on_stars[key]
    mapped = _fit_predict(name, cls, params, _mapped(train, a, b), _mapped(test, a, b))
    if name in CLOSED_FORM:
        np.testing.assert_allclose(mapped, a * pred + b, rtol=0, atol=1e-9 * (a + abs(b)))
    else:
        rmse = fastrec.rmse(pred, test.ratings)
        rmse_mapped = fastrec.rmse(mapped, a * test.ratings + b) / a
        assert abs(rmse_mapped - rmse) <= 1e-3 * rmse, (
            f"{key}: test RMSE {rmse:.6f} on the ratings, {rmse_mapped:.6f} (divided by "
            f"{a:g}) on {a:g} * r + {b:g}"
        )
