"""One contract, every model fastrec has (Surprise's tests/test_algorithms.py, in spirit).

Every class in ``fastrec.models.ALL_MODELS``, with its default parameters: ``fit`` returns
``self``; predictions are float64, one per pair, finite, the same from every input form and
for the same seed; ``predict`` writes nothing to the model; users and items without training
ratings get the model's documented answer (its ``fallback_``, the damped :class:`Bias`, or
the answer its docstring gives) and are marked by ``predict_with_fallback``; every value
that ``_parameter_constraints`` refuses is refused by ``fit`` with the same message; and a
saved model loads back predicting, recommending and saving exactly as it did.
"""

from __future__ import annotations

import json
import math
import os
import re
import zipfile

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import fastrec
from fastrec.models import ALL_MODELS, Bias, NotFittedError, Recommender
from fastrec.models._params import Bool, Int, OneOf, Real
from fastrec.persistence import MANIFEST

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CONTRACT_MODELS = [cls for cls in ALL_MODELS.values() if cls.missing_dependency() is None]

#: Raw ids that are in no id map.
UNKNOWN_USER, UNKNOWN_ITEM = -7, -9


@pytest.fixture(scope="module")
def small_split():
    """80 users x 64 items (raw ids that are not codes), about 75% of the ratings in train.

    User code 0 (raw id 100) and item code 0 (raw id 5000) are in the shared id maps but
    have every rating in test: they have no training rating, as an unknown id has none.
    """
    rng = np.random.default_rng(3)
    n_users, n_items, n = 80, 64, 1600
    keys = rng.choice(n_users * n_items, n, replace=False)
    df = pd.DataFrame(
        {
            "userId": keys // n_items + 100,
            "movieId": keys % n_items + 5000,
            "rating": rng.integers(1, 11, n) / 2.0,
            "timestamp": rng.integers(0, 10**9, n),
        }
    )
    ratings = fastrec.Ratings.from_frame(df)
    in_train = rng.random(n) < 0.75
    in_train[ratings.user_codes == 0] = False
    in_train[ratings.item_codes == 0] = False
    train = ratings.subset(np.flatnonzero(in_train))
    test = ratings.subset(np.flatnonzero(~in_train))
    assert train.user_counts()[0] == 0 and train.item_counts()[0] == 0
    assert ratings.user_index[0] == 100 and ratings.item_index[0] == 5000
    return train, test


@pytest.fixture(scope="module", params=CONTRACT_MODELS, ids=lambda c: c.__name__)
def model_cls(request):
    return request.param


@pytest.fixture(scope="module")
def fitted(model_cls, small_split):
    """One fitted model per class, shared by the tests that only read it."""
    return model_cls().fit(small_split[0])


def _known_ids(train):
    """A user and an item with training ratings (raw ids)."""
    return train.user_ids[0], train.item_ids[0]


# ----------------------------------------------------------------- fit and predict
def test_fit_returns_self_and_predict_shape(model_cls, small_split):
    train, test = small_split
    model = model_cls()
    assert model.fit(train) is model
    pred = model.predict(test)
    assert isinstance(pred, np.ndarray) and pred.dtype == np.float64
    assert pred.shape == (len(test),)
    assert np.all(np.isfinite(pred))
    again, fell_back = model.predict_with_fallback(test)
    np.testing.assert_array_equal(again, pred)
    assert isinstance(fell_back, np.ndarray) and fell_back.dtype == bool
    assert fell_back.shape == (len(test),)
    empty, empty_mask = model.predict_with_fallback([], [])
    assert empty.shape == empty_mask.shape == (0,)
    assert empty.dtype == np.float64 and empty_mask.dtype == bool


def test_unknown_users_and_items_get_finite_fallbacks(fitted, small_split):
    train, _ = small_split
    model = fitted
    known_user, known_item = _known_ids(train)
    users = [known_user, UNKNOWN_USER, known_user, UNKNOWN_USER, 100, 100, known_user]
    items = [known_item, known_item, UNKNOWN_ITEM, UNKNOWN_ITEM, known_item, 5000, 5000]
    state = dict(vars(model))
    pred = model.predict(users, items)
    again, fell_back = model.predict_with_fallback(users, items)
    # predict writes nothing to the model: no new attribute, no attribute replaced.
    assert vars(model).keys() == state.keys()
    assert all(vars(model)[k] is v for k, v in state.items())
    np.testing.assert_array_equal(again, pred)
    assert np.all(np.isfinite(pred))
    assert fell_back[3]  # the (-7, -9) pair can only be a fallback
    assert fell_back[5]  # nor can (100, 5000): in the id maps, without training ratings
    # An id in the id map without training ratings is answered as an unknown id.
    assert pred[4] == pred[1] and fell_back[4] == fell_back[1]
    assert pred[6] == pred[2] and fell_back[6] == fell_back[2]
    assert pred[5] == pred[3]


# ------------------------------------------------------------------------ fallback
def _means(train):
    df = train.to_frame()
    return df.groupby("userId").rating.mean(), df.groupby("movieId").rating.mean()


def _bias_formula(model, user_code, item_code):
    """Bias's docstring: ``clip(mu + b_u + b_i)``, the bias of a side without ratings 0."""
    pred = model.global_mean_
    pred += model.user_bias_[user_code] if user_code >= 0 else 0.0
    pred += model.item_bias_[item_code] if item_code >= 0 else 0.0
    return float(np.clip(pred, *model.rating_range_))


#: Where a model's docstring gives its own answer at a pair whose user ("user"), item
#: ("item") or both ("both") have no training rating, that answer, as a function of the
#: model, the training set and the pair (raw ids, training codes; the code of an unknown
#: side is -1). Every other such pair is answered by the model's ``fallback_``, the
#: damped :class:`Bias`. (``UserKNN`` and ``ItemKNN``: the post's form, their default.)
_MEAN_OF_USER_MEANS = {k: lambda m, t, *_: _means(t)[0].mean() for k in ("user", "both")}
_MEAN_OF_ITEM_MEANS = {k: lambda m, t, *_: _means(t)[1].mean() for k in ("item", "both")}
OWN_ANSWERS = {
    "UserMean": {**_MEAN_OF_USER_MEANS, "item": lambda m, t, u, i, *_: _means(t)[0][u]},
    "ItemMean": {**_MEAN_OF_ITEM_MEANS, "user": lambda m, t, u, i, *_: _means(t)[1][i]},
    "UserItemMean": {
        kind: lambda m, t, *_: 0.5 * (_means(t)[0].mean() + _means(t)[1].mean())
        for kind in ("user", "item", "both")
    },
    "Bias": {
        kind: lambda m, t, u, i, uc, ic: _bias_formula(m, uc, ic)
        for kind in ("user", "item", "both")
    },
    # The post's formula: the item's column of Vt is 0, so a known user gets mean_u.
    "SVD": {"item": lambda m, t, u, i, *_: _means(t)[0][u]},
    # Every deviation is 0: mean_u; an unknown user: the training global mean.
    "UserKNN": {
        "item": lambda m, t, u, i, *_: _means(t)[0][u],
        "user": lambda m, t, *_: float(t.ratings.mean()),
        "both": lambda m, t, *_: float(t.ratings.mean()),
    },
    # An unknown item: the training global mean (no mean_i); an unknown user: mean_i.
    "ItemKNN": {
        "user": lambda m, t, u, i, *_: _means(t)[1][i],
        "item": lambda m, t, *_: float(t.ratings.mean()),
        "both": lambda m, t, *_: float(t.ratings.mean()),
    },
}


def test_the_fallback_is_the_damped_bias_fitted_on_the_same_data(fitted, small_split):
    train, test = small_split
    model = fitted
    if model.fallback_ is None:
        assert model._fallback_model() is None
        return
    assert type(model.fallback_) is Bias
    assert model.fallback_.get_params() == Bias().get_params()
    assert model.fallback_.user_index_ is model.user_index_  # it shares the base arrays
    assert model.fallback_.item_index_ is model.item_index_
    np.testing.assert_array_equal(model.fallback_.predict(test), Bias().fit(train).predict(test))


def test_unknown_pairs_get_the_documented_answer(fitted, small_split):
    """At pairs with an unknown user, item or both: the fallback_'s prediction, except
    where the model documents its own answer (OWN_ANSWERS); such pairs count as fallbacks
    wherever the model has a fallback_."""
    train, _ = small_split
    model = fitted
    name = type(model).__name__
    known_user, known_item = _known_ids(train)
    u_code, i_code = int(train.user_codes[0]), int(train.item_codes[0])
    pairs = {
        "user": (UNKNOWN_USER, known_item, -1, i_code),
        "item": (known_user, UNKNOWN_ITEM, u_code, -1),
        "both": (UNKNOWN_USER, UNKNOWN_ITEM, -1, -1),
    }
    for kind, (uid, iid, uc, ic) in pairs.items():
        pred, fell_back = model.predict_with_fallback([uid], [iid])
        own = OWN_ANSWERS.get(name, {}).get(kind)
        if own is not None:
            expected = own(model, train, uid, iid, uc, ic)
        elif isinstance(model.fallback_, Bias):
            expected = model.fallback_.predict([uid], [iid])[0]
        else:
            pytest.fail(f"{name} has no Bias fallback_ and no documented answer ({kind})")
        assert pred[0] == pytest.approx(expected, rel=1e-12, abs=1e-12), kind
        if model.fallback_ is not None:
            assert fell_back[0], f"{name}: the unknown {kind} pair is not marked a fallback"


#: The side whose training ratings a model needs (default: both); a pair without them is a
#: fallback. Models here mark exactly those pairs; others may fall back on more (Keras: a
#: side whose ratings all went to the validation slice; KNN: an empty neighbourhood).
NEEDS = {"UserMean": "user", "ItemMean": "item"}
EXACT_FALLBACKS = {
    "UserMean",
    "ItemMean",
    "UserItemMean",
    "Bias",
    "SVD",
    "BiasedMF",
    "ALS",
    "SVDpp",
}


def test_fallback_count_is_the_number_of_unknown_pairs(fitted, small_split):
    train, test = small_split
    model = fitted
    name = type(model).__name__
    _, fell_back = model.predict_with_fallback(test)
    no_user = train.user_counts()[test.user_codes] == 0
    no_item = train.item_counts()[test.item_codes] == 0
    unknown = {"user": no_user, "item": no_item}.get(NEEDS.get(name), no_user | no_item)
    assert unknown.sum() > 0
    assert np.all(fell_back[unknown])
    if name in EXACT_FALLBACKS:
        np.testing.assert_array_equal(fell_back, unknown)


# -------------------------------------------------------------- determinism, inputs
def test_same_input_same_predictions(model_cls, small_split):
    train, test = small_split
    a = model_cls().fit(train).predict(test)
    b = model_cls().fit(train).predict(test)
    np.testing.assert_array_equal(a, b)


def test_every_input_form_gives_the_same_predictions(fitted, small_split):
    _, test = small_split
    model = fitted
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


def test_bad_input_gives_clear_errors(model_cls, fitted, small_split):
    _, test = small_split
    with pytest.raises(NotFittedError, match="fit"):
        model_cls().predict(test)
    with pytest.raises(NotFittedError, match="fit"):
        model_cls().predict_with_fallback(test)
    with pytest.raises(TypeError, match="fastrec.Ratings"):
        model_cls().fit(test.to_frame())
    with pytest.raises(ValueError, match="'movieId'"):
        fitted.predict(test.to_frame().drop(columns="movieId"))
    with pytest.raises(ValueError, match="pair up"):
        fitted.predict([1, 2, 3], [1, 2])


# ---------------------------------------------------------------------- parameters
def test_params_roundtrip_and_repr(model_cls):
    model = model_cls()
    params = model.get_params()
    assert model.clone().get_params() == params
    assert repr(model).startswith(model_cls.__name__ + "(")
    assert model.name == model_cls.__name__  # defaults print as the bare class name
    with pytest.raises(ValueError, match="no parameter 'not_a_parameter'"):
        model.set_params(not_a_parameter=1)
    assert model.set_params(**params) is model


def test_every_parameter_is_declared_and_the_defaults_are_allowed(model_cls):
    assert set(model_cls._parameter_constraints) == set(model_cls().get_params())
    model_cls().validate_params()


def _refused_values(allowed: list) -> list:
    """Values that no entry of a parameter's constraint list accepts: out of each bound,
    of the wrong type (a float for an integer, a bool for a number, a string), non-finite."""
    candidates = []
    for c in allowed:
        if isinstance(c, Int):
            if c.low is not None:
                candidates.append(c.low - 1)
            if c.high is not None:
                candidates.append(c.high + 1)
            mid = c.low if c.low is not None else c.high if c.high is not None else 0
            candidates += [mid + 0.5, float(mid), True, str(mid)]
        elif isinstance(c, Real):
            if c.low is not None:
                candidates.append(float(c.low) if c.open_low else c.low - 1.0)
            if c.high is not None:
                candidates.append(c.high + 1.0)
            candidates += [math.nan, math.inf, -math.inf, "x", True]
        elif isinstance(c, OneOf):
            candidates += ["nope", 1.5, True]
        elif isinstance(c, Bool):
            candidates += [1, 0, "yes"]
    candidates.append(None)
    refused, seen = [], set()
    for value in candidates:
        taken = any(value is None if c is None else c.accepts(value) for c in allowed)
        if not taken and repr(value) not in seen:
            seen.add(repr(value))
            refused.append(value)
    return refused


def _bad_parameter_cases():
    cases = []
    for cls in CONTRACT_MODELS:
        for param, allowed in cls._parameter_constraints.items():
            refused = _refused_values(allowed)
            assert refused, f"{cls.__name__}.{param}: no value to refuse"
            cases += [
                pytest.param(cls, param, v, id=f"{cls.__name__}-{param}={v!r}") for v in refused
            ]
    return cases


@pytest.mark.parametrize(("model_cls", "param", "value"), _bad_parameter_cases())
def test_bad_parameters_are_refused_naming_them(model_cls, param, value, small_split):
    """Every value that the model's ``_parameter_constraints`` refuse: a ValueError from
    ``fit`` (before anything is fitted) and from ``validate_params``, naming the model, the
    parameter, what is allowed and the value."""
    message = rf"^{model_cls.__name__}: {param} must be .+, got {re.escape(repr(value))}$"
    model = model_cls(**{param: value})
    with pytest.raises(ValueError, match=message):
        model.validate_params()
    with pytest.raises(ValueError, match=message):
        model.fit(small_split[0])
    assert not hasattr(model, "user_index_")
    with pytest.raises(ValueError, match=message):
        model_cls().set_params(**{param: value}).fit(small_split[0])


# -------------------------------------------------------------------- save and load
def assert_same_state(a, b, where="model"):
    """``b`` holds the same declared state as ``a``: types, dtypes and values (NaN equal
    to NaN); nested models compared the same way."""
    if isinstance(a, Recommender):
        assert type(a) is type(b), where
        assert a.get_params() == b.get_params(), where
        for attr in type(a).state_attributes():
            assert_same_state(getattr(a, attr), getattr(b, attr), f"{where}.{attr}")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), where
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a.dtype} {b.dtype}"
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, pd.Index):
        pd.testing.assert_index_equal(a, b, exact=True, obj=where)
    elif sp.issparse(a):
        assert sp.issparse(b) and a.format == b.format and a.shape == b.shape, where
        for part in ("data", "indices", "indptr"):
            assert_same_state(getattr(a, part), getattr(b, part), f"{where}.{part}")
    elif isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b), where
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_state(x, y, f"{where}[{n}]")
    elif isinstance(a, dict):
        assert type(b) is dict and list(a) == list(b), where
        for key in a:
            assert_same_state(a[key], b[key], f"{where}[{key!r}]")
    elif type(a).__module__.startswith("keras"):
        assert [w.shape for w in a.weights] == [w.shape for w in b.weights], where
        for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
            np.testing.assert_array_equal(x, y, err_msg=where)
    elif isinstance(a, (float, np.floating)) and math.isnan(a):
        assert type(a) is type(b) and math.isnan(b), where
    else:
        assert type(a) is type(b) and a == b, f"{where}: {a!r} != {b!r}"


def _has_keras_member(path) -> bool:
    with zipfile.ZipFile(path) as zf:
        return any(name.startswith("keras/") for name in zf.namelist())


def test_save_and_load_round_trip(fitted, small_split, tmp_path):
    """The loaded model has the same parameters and state, predicts (fallbacks included)
    and recommends exactly as the saved one; saving is deterministic (but for Keras
    networks, whose files Keras writes)."""
    train, test = small_split
    model = fitted
    path = fastrec.save_model(model, tmp_path / "a.fastrec")
    assert sorted(os.listdir(tmp_path)) == ["a.fastrec"]  # no temporary file left
    loaded = fastrec.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    assert_same_state(model, loaded)

    known_user, known_item = _known_ids(train)
    users = np.concatenate([test.user_ids, [UNKNOWN_USER, known_user, UNKNOWN_USER, 100]])
    items = np.concatenate([test.item_ids, [known_item, UNKNOWN_ITEM, UNKNOWN_ITEM, 5000]])
    pred, fell_back = model.predict_with_fallback(users, items)
    loaded_pred, loaded_fell_back = loaded.predict_with_fallback(users, items)
    np.testing.assert_array_equal(loaded_pred, pred)
    np.testing.assert_array_equal(loaded_fell_back, fell_back)
    np.testing.assert_array_equal(loaded.predict(test), model.predict(test))
    pd.testing.assert_frame_equal(loaded.recommend_all(n=5), model.recommend_all(n=5))
    pd.testing.assert_frame_equal(loaded.recommend(-7, n=5), model.recommend(-7, n=5))
    if model.fallback_ is not None:
        assert loaded.fallback_.user_index_ is loaded.user_index_  # shared again
        assert loaded.fallback_.item_index_ is loaded.item_index_

    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read(MANIFEST))
    assert manifest["model"]["class"] == type(model).__name__
    assert set(manifest["model"]["state"]) == set(type(model).state_attributes())

    if not _has_keras_member(path):
        first = path.read_bytes()
        assert fastrec.save_model(model, tmp_path / "b.fastrec").read_bytes() == first
        assert fastrec.save_model(loaded, tmp_path / "c.fastrec").read_bytes() == first
