"""One contract, every model fastrec has (Surprise's tests/test_algorithms.py, in spirit)."""

import numpy as np
import pandas as pd
import pytest

import fastrec
from fastrec.models import MODELS, NotFittedError

ALL_MODELS = [cls for cls in MODELS.values() if cls.missing_dependency() is None]


@pytest.fixture(scope="module")
def small_split():
    rng = np.random.default_rng(3)
    n_users, n_items, n = 60, 45, 900
    keys = rng.choice(n_users * n_items, n, replace=False)
    df = pd.DataFrame(
        {
            "userId": keys // n_items + 100,  # raw ids that are not codes
            "movieId": keys % n_items + 5000,
            "rating": rng.integers(1, 11, n) / 2.0,
            "timestamp": rng.integers(0, 10**9, n),
        }
    )
    return fastrec.train_test_split(fastrec.Ratings.from_frame(df), test_size=0.25, seed=1)


@pytest.fixture(params=ALL_MODELS, ids=lambda c: c.__name__)
def model_cls(request):
    return request.param


def test_fit_returns_self_and_predict_shape(model_cls, small_split):
    train, test = small_split
    model = model_cls()
    assert model.fit(train) is model
    pred = model.predict(test)
    assert isinstance(pred, np.ndarray) and pred.dtype == np.float64
    assert pred.shape == (len(test),)
    assert np.all(np.isfinite(pred))
    assert 0.0 <= model.coverage_ <= 1.0


def test_unknown_users_and_items_get_finite_fallbacks(model_cls, small_split):
    train, _ = small_split
    model = model_cls().fit(train)
    known_user, known_item = train.user_ids[0], train.item_ids[0]
    pred = model.predict([known_user, -7, known_user, -7], [known_item, known_item, -9, -9])
    assert np.all(np.isfinite(pred))
    assert model.n_fallback_ >= 1  # the (-7, -9) pair can only be a fallback


def test_same_input_same_predictions(model_cls, small_split):
    train, test = small_split
    a = model_cls().fit(train).predict(test)
    b = model_cls().fit(train).predict(test)
    np.testing.assert_array_equal(a, b)


def test_every_input_form_gives_the_same_predictions(model_cls, small_split):
    train, test = small_split
    model = model_cls().fit(train)
    by_ratings = model.predict(test)
    df = test.to_frame()
    np.testing.assert_array_equal(model.predict(df), by_ratings)
    np.testing.assert_array_equal(model.predict(df.userId, df.movieId), by_ratings)
    np.testing.assert_array_equal(model.predict((df.userId.values, df.movieId.values)), by_ratings)
    # Ratings from another source, with id maps of its own, are matched by raw id.
    other = fastrec.Ratings.from_frame(df.iloc[::-1].reset_index(drop=True))
    np.testing.assert_array_equal(model.predict(other), by_ratings[::-1])
    renamed = df.rename(columns={"userId": "u", "movieId": "i"})
    np.testing.assert_array_equal(model.predict(renamed, user="u", item="i"), by_ratings)


def test_bad_input_gives_clear_errors(model_cls, small_split):
    train, test = small_split
    with pytest.raises(NotFittedError, match="fit"):
        model_cls().predict(test)
    with pytest.raises(TypeError, match="fastrec.Ratings"):
        model_cls().fit(test.to_frame())
    model = model_cls().fit(train)
    with pytest.raises(ValueError, match="'movieId'"):
        model.predict(test.to_frame().drop(columns="movieId"))
    with pytest.raises(ValueError, match="pair up"):
        model.predict([1, 2, 3], [1, 2])


def test_params_roundtrip_and_repr(model_cls):
    model = model_cls()
    params = model.get_params()
    assert model.clone().get_params() == params
    assert repr(model).startswith(model_cls.__name__ + "(")
    assert model.name == model_cls.__name__  # defaults print as the bare class name
    with pytest.raises(ValueError, match="no parameter 'not_a_parameter'"):
        model.set_params(not_a_parameter=1)
    assert model.set_params(**params) is model
