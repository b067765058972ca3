"""Blend: weights recovered where the answer is known, out-of-fold predictions that never
see the rating they predict, no test data in ``fit``, determinism, the prediction formula,
top-n and saving. (The contract in test_models_contract.py covers the rest.)"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import fastrec
from fastrec.models import Bias, BiasedMF, Blend, ItemKNN, Recommender
from fastrec.models._params import Int, Real
from fastrec.models.blend import _ridge, default_members


# ------------------------------------------------------------------ test members
def signal(which: int, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """A fixed function of the raw ids, one per ``which`` (nearly uncorrelated)."""
    return np.sin(users * (1.3 + which) + items * (0.7 + 2.1 * which) + which)


class Signal(Recommender):
    """Predicts ``signal(which, user, item)`` whatever it is fitted on (Bias elsewhere)."""

    _parameter_constraints = {"which": [Int(0)], "noise": [Real(0)]}

    def __init__(self, which: int = 0, noise: float = 0.0):
        self._store_params(locals())

    def _fallback_model(self):
        return Bias()

    def _fit(self, train):
        pass

    def _predict(self, users, items):
        known = (users >= 0) & (items >= 0)
        pred = np.full(len(users), np.nan)
        u = self.user_index_.to_numpy()[users[known]]
        i = self.item_index_.to_numpy()[items[known]]
        pred[known] = signal(self.which, u, i)
        if self.noise:  # noise fixed by the pair, so predict is a function
            pred[known] += self.noise * signal(7 + self.which, u, i)
        return pred, ~known


class Memoriser(Recommender):
    """Gives back the training rating of a pair it was fitted on; elsewhere a guess that has
    nothing to do with the ratings (``signal(5, ...)``)."""

    _parameter_constraints = {}

    def __init__(self):
        pass

    def _fit(self, train):
        keys = train.user_codes.astype(np.int64) * train.n_items + train.item_codes
        order = np.argsort(keys)
        self.keys_, self.values_ = keys[order], train.ratings[order].astype(np.float64)

    def _predict(self, users, items):
        keys = users.astype(np.int64) * len(self.item_index_) + items
        at = np.clip(np.searchsorted(self.keys_, keys), 0, len(self.keys_) - 1)
        hit = (users >= 0) & (items >= 0) & (self.keys_[at] == keys)
        ids = self.user_index_.to_numpy()[users], self.item_index_.to_numpy()[items]
        guess = self.global_mean_ + signal(5, *ids)
        return np.where(hit, self.values_[at], guess), np.zeros(len(users), bool)


class Spy(Bias):
    """Bias that records every (user, item) pair it is fitted on and asked about."""

    log: list = []

    def _fit(self, train):
        Spy.log.append(("fit", _pairs(train.user_ids, train.item_ids)))
        super()._fit(train)

    def _predict(self, users, items):
        ids = self.user_index_.to_numpy(), self.item_index_.to_numpy()
        Spy.log.append(("predict", _pairs(ids[0][users], ids[1][items])))
        return super()._predict(users, items)


def _pairs(users, items) -> set:
    return set(zip(np.asarray(users).tolist(), np.asarray(items).tolist(), strict=True))


# ------------------------------------------------------------------------- data
def _frame(n_users=60, n_items=50, n=2000, seed=0):
    rng = np.random.default_rng(seed)
    keys = rng.choice(n_users * n_items, n, replace=False)
    return pd.DataFrame({"userId": keys // n_items + 1, "movieId": keys % n_items + 1})


def _signal_ratings(intercept, weights, noise=0.05, seed=0):
    """Ratings ``intercept + sum_m weights[m] * signal(m) + noise``, all pairs known."""
    df = _frame(seed=seed)
    u, i = df.userId.to_numpy(), df.movieId.to_numpy()
    r = intercept + sum(w * signal(m, u, i) for m, w in enumerate(weights))
    df["rating"] = r + noise * np.random.default_rng(seed + 1).standard_normal(len(df))
    return fastrec.Ratings.from_frame(df)


@pytest.fixture(scope="module")
def split():
    """Biases plus a factor signal, half stars; 80/20."""
    df = _frame(n_users=80, n_items=60, n=2400, seed=3)
    rng = np.random.default_rng(4)
    bu, bi = rng.normal(0, 0.5, 81), rng.normal(0, 0.5, 61)
    pu, qi = rng.normal(0, 0.6, (81, 3)), rng.normal(0, 0.6, (61, 3))
    u, i = df.userId.to_numpy(), df.movieId.to_numpy()
    r = 3.5 + bu[u] + bi[i] + (pu[u] * qi[i]).sum(1) + rng.normal(0, 0.5, len(df))
    df["rating"] = np.clip(np.round(r * 2) / 2, 0.5, 5.0)
    in_train = rng.random(len(df)) < 0.8
    in_train[(u == 1) | (i == 1)] = False  # a user and an item without training ratings
    ratings = fastrec.Ratings.from_frame(df)
    return ratings.subset(in_train), ratings.subset(~in_train)


def quick_members():
    return [Bias(), BiasedMF(n_epochs=5), ItemKNN(k=10)]


# ------------------------------------------------------------------- the weights
def test_weights_of_known_signals_are_recovered():
    ratings = _signal_ratings(0.5, [0.7, 0.3])
    model = Blend(models=[Signal(0), Signal(1)], alpha=0.0).fit(ratings)
    np.testing.assert_allclose(model.weights_, [0.7, 0.3], atol=0.01)
    assert model.intercept_ == pytest.approx(0.5, abs=0.01)
    assert model.oof_rmse_ == pytest.approx(0.05, rel=0.1)  # the noise is what is left


def test_a_noisy_copy_gets_less_weight_and_a_duplicate_half():
    ratings = _signal_ratings(0.0, [1.0], noise=0.02)
    model = Blend(models=[Signal(0), Signal(0, noise=0.5)], alpha=0.0).fit(ratings)
    assert model.weights_[0] == pytest.approx(1.0, abs=0.02)
    assert abs(model.weights_[1]) < 0.02
    # Two identical members: least squares has a line of answers, lstsq the equal split.
    twins = Blend(models=[Signal(0), Signal(0)], alpha=0.0).fit(ratings)
    np.testing.assert_allclose(twins.weights_, [0.5, 0.5], atol=0.01)
    np.testing.assert_allclose(twins.predict(ratings), model.predict(ratings), atol=0.03)


def test_the_ridge_is_the_closed_form_and_scale_free():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 3))
    y = 1.0 + x @ [0.5, -0.2, 0.3] + rng.normal(0, 0.1, 500)
    c, w = _ridge(x, y, 25.0)
    xc, yc = x - x.mean(0), y - y.mean()
    v = np.trace(xc.T @ xc) / (500 * 3)
    np.testing.assert_allclose(w, np.linalg.solve(xc.T @ xc + 25.0 * v * np.eye(3), xc.T @ yc))
    assert c == pytest.approx(y.mean() - x.mean(0) @ w)
    # Members and ratings on another scale: the same weights, the intercept mapped.
    c2, w2 = _ridge(4 * x - 12, 4 * y - 12, 25.0)
    np.testing.assert_allclose(w2, w, rtol=1e-10)
    assert c2 == pytest.approx(4 * c - 12 * (1 - w.sum()))
    assert _ridge(x[:1], y[:1], 1.0)[1].tolist() == [1 / 3] * 3  # too few rows: the average


# ------------------------------------------------------ out of fold, never the test set
def test_a_member_that_memorises_training_ratings_gets_no_weight():
    """In fold, the memoriser's answers are the ratings themselves (RMSE 0); out of fold it
    has never seen the pair and answers the mean, so it earns nothing."""
    ratings = _signal_ratings(3.0, [0.8], noise=0.1)
    model = Blend(models=[Memoriser(), Signal(0)], alpha=0.0).fit(ratings)
    assert abs(model.weights_[0]) < 0.02
    assert model.weights_[1] == pytest.approx(0.8, abs=0.02)
    assert model.member_oof_rmse_[0] > 0.5  # its guesses, out of fold
    # Fitted on every rating it does memorise them: weighed on those in-sample answers,
    # as a blend that leaked would be, it would take all the weight.
    memorised = model.members_[0].predict(ratings)
    np.testing.assert_array_equal(memorised, ratings.ratings)
    in_sample = np.column_stack([memorised, model.members_[1].predict(ratings)])
    np.testing.assert_allclose(_ridge(in_sample, ratings.ratings, 0.0)[1], [1, 0], atol=1e-9)


def test_fit_sees_only_the_training_ratings_and_folds_never_see_what_they_predict(split):
    train, test = split
    train_pairs, test_pairs = (
        _pairs(train.user_ids, train.item_ids),
        _pairs(test.user_ids, test.item_ids),
    )
    Spy.log = []
    model = Blend(models=[Spy()], n_folds=4, seed=5).fit(train)
    fits = [pairs for kind, pairs in Spy.log if kind == "fit"]
    predicted = [pairs for kind, pairs in Spy.log if kind == "predict"]
    assert len(fits) == 4 + 1 and len(predicted) == 4  # 4 folds, then the final fit
    for fitted_on, asked in zip(fits[:4], predicted, strict=True):
        assert fitted_on | asked == train_pairs  # the fold and the rest: the training set
        assert not fitted_on & asked  # never a pair it was fitted on
    assert set().union(*predicted) == train_pairs  # every rating predicted out of fold ...
    assert sum(len(p) for p in predicted) == len(train)  # ... exactly once
    assert fits[4] == train_pairs  # the final fit: every training rating
    assert not set().union(*fits, *predicted) & test_pairs  # no test pair during fit
    Spy.log = []
    model.predict(test)
    assert [kind for kind, _ in Spy.log] == ["predict"]  # only the final member answers


def test_the_folds_are_a_partition_dealt_by_seed(split):
    train, _ = split
    folds = {}
    for seed in (0, 1):
        Spy.log = []
        Blend(models=[Spy()], n_folds=3, seed=seed).fit(train)
        folds[seed] = [p for kind, p in Spy.log if kind == "predict"]
        sizes = sorted(len(p) for p in folds[seed])
        assert sizes[-1] - sizes[0] <= 1 and sum(sizes) == len(train)
    assert folds[0] != folds[1]


# ------------------------------------------------------------------- predictions
def test_predict_is_the_clipped_weighted_sum_and_unknown_pairs_fall_back(split):
    train, test = split
    model = Blend(models=quick_members()).fit(train)
    assert len(model.members_) == 3 and all(
        m.user_index_ is model.user_index_ for m in model.members_
    )
    pred, fell_back = model.predict_with_fallback(test)
    known = (train.user_counts()[test.user_codes] > 0) & (train.item_counts()[test.item_codes] > 0)
    assert (~known).sum() > 0
    np.testing.assert_array_equal(fell_back, ~known)
    members = np.column_stack([m.predict(test) for m in model.members_])
    want = np.clip(model.intercept_ + members @ model.weights_, *model.rating_range_)
    np.testing.assert_allclose(pred[known], want[known], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(pred[~known], model.fallback_.predict(test)[~known])
    # Out of fold, where it was weighed, the blend beats its best member (on these 475
    # test ratings it need not).
    assert model.oof_rmse_ < model.member_oof_rmse_.min()


def test_same_seed_same_blend_other_seed_other_weights(split):
    train, test = split
    a = Blend(models=quick_members(), seed=3).fit(train)
    b = Blend(models=quick_members(), seed=3).fit(train)
    np.testing.assert_array_equal(a.weights_, b.weights_)
    np.testing.assert_array_equal(a.predict(test), b.predict(test))
    c = Blend(models=quick_members(), seed=4).fit(train)
    assert not np.array_equal(a.weights_, c.weights_)


def test_members_are_clones_left_unfitted(split):
    train, _ = split
    given = quick_members()
    model = Blend(models=given).fit(train)
    assert not any(hasattr(m, "user_index_") for m in given)
    assert all(m is not g for m, g in zip(model.members_, given, strict=True))
    assert [m.get_params() for m in model.members_] == [g.get_params() for g in given]
    assert [type(m) for m in default_members()] == [type(m) for m in Blend()._templates()]


def test_history_and_progress(split, capsys):
    train, _ = split
    model = Blend(models=quick_members(), n_folds=2, show_progress=True).fit(train)
    history = model.history_
    assert set(history) == {"fold", "member", "heldout_rmse", "seconds"}
    assert history["fold"] == [0.0] * 3 + [1.0] * 3 + [2.0] * 3
    assert history["member"] == [0.0, 1.0, 2.0] * 3
    assert all(math.isfinite(x) for x in history["heldout_rmse"][:6])
    assert all(math.isnan(x) for x in history["heldout_rmse"][6:])
    assert "Blend" in capsys.readouterr().err  # the tqdm bar


def test_recommend_scores_are_predictions_best_first(split):
    train, _ = split
    model = Blend(models=quick_members()).fit(train)
    user = train.user_ids[0]
    rec = model.recommend(user, n=6)
    np.testing.assert_array_equal(rec.score.to_numpy(), model.predict([user] * 6, rec.movieId))
    code = int(train.user_codes[0])
    seen = set(model.seen_items_[model.seen_indptr_[code] : model.seen_indptr_[code + 1]])
    cands = [i for i in np.flatnonzero(model.item_n_train_ > 0) if i not in seen]
    items = model.item_index_.to_numpy()[cands]
    pred = model.predict([user] * len(items), items)
    order = np.lexsort((np.asarray(cands), -pred))[:6]
    np.testing.assert_array_equal(rec.movieId.to_numpy(), items[order])
    every = model.recommend_all(n=6)
    mine = every[every.userId == user]
    np.testing.assert_array_equal(mine.movieId.to_numpy(), rec.movieId.to_numpy())


# ------------------------------------------------------------------ parameters, saving
def test_errors_name_the_parameter(split):
    train, _ = split
    with pytest.raises(ValueError, match=r"^Blend: models must be None or a non-empty list"):
        Blend(models=[]).fit(train)
    with pytest.raises(ValueError, match=r"^Blend: models must be .*, got \[1, 2\]"):
        Blend(models=[1, 2]).fit(train)
    with pytest.raises(ValueError, match=r"^BiasedMF: n_factors must be"):
        Blend(models=[BiasedMF(n_factors=0)]).fit(train)
    tiny = train.subset(np.arange(3))
    with pytest.raises(ValueError, match=r"n_folds=5 exceeds the number of training ratings"):
        Blend(models=[Bias()]).fit(tiny)


def test_too_few_answerable_rows_give_the_plain_average():
    """One rating per user: no user is in the other folds, so the blend cannot be weighed."""
    df = pd.DataFrame({"userId": np.arange(40), "movieId": np.arange(40) % 5, "rating": 3.0})
    df.loc[::2, "rating"] = 4.0
    model = Blend(models=[Bias(), ItemKNN(k=3)]).fit(fastrec.Ratings.from_frame(df))
    np.testing.assert_array_equal(model.weights_, [0.5, 0.5])
    assert model.intercept_ == 0.0 and math.isnan(model.oof_rmse_)


def test_save_and_load_round_trip_of_the_default_blend(split, tmp_path):
    train, test = split
    model = Blend().fit(train)
    loaded = fastrec.load_model(model.save(tmp_path / "blend.fastrec"))
    np.testing.assert_array_equal(loaded.predict(test), model.predict(test))
    np.testing.assert_array_equal(loaded.weights_, model.weights_)
    assert [type(m) for m in loaded.members_] == [type(m) for m in model.members_]
    # One id map and one copy of the base arrays for the blend, its members and fallbacks.
    for member in loaded.members_:
        assert member.user_index_ is loaded.user_index_
        assert member.seen_items_ is loaded.seen_items_
        if member.fallback_ is not None:
            assert member.fallback_.seen_items_ is loaded.seen_items_


def test_save_and_load_round_trip_of_a_chosen_member_list(split, tmp_path):
    train, test = split
    model = Blend(models=quick_members()).fit(train)
    loaded = fastrec.load_model(model.save(tmp_path / "blend.fastrec"))
    np.testing.assert_array_equal(loaded.predict(test), model.predict(test))
    assert [m.get_params() for m in loaded.models] == [m.get_params() for m in model.models]
