"""The blog post's three mean baselines and a regularized bias baseline."""

from __future__ import annotations

import numpy as np

from ..data import Ratings
from ..kernels.biases import fit_biases_als
from ._params import Int, Real
from .base import Recommender


def _group_means(codes: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Mean of ``values`` per code; NaN for a code without values."""
    counts = np.bincount(codes, minlength=n)
    sums = np.bincount(codes, weights=values, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


def _lookup(codes: np.ndarray, values: np.ndarray, default: float):
    """``values[code]`` where ``code >= 0``, else ``default``; and the mask of the defaults."""
    known = codes >= 0
    pred = np.full(len(codes), default)
    pred[known] = values[codes[known]]
    return pred, ~known


class UserMean(Recommender):
    """The post's "User Avg Benchmark": each user's mean training rating.

    ``pred(u, i) = mean_{j in R(u)} r_uj``. Fallback, for a user without training ratings:
    the mean of the user means (the post's choice).
    """

    post_label = "User Avg Benchmark"
    _fitted_state = ("user_mean_", "default_")

    def __init__(self):
        pass

    def _fit(self, train: Ratings) -> None:
        self.user_mean_ = _group_means(train.user_codes, train.ratings, train.n_users)
        self.default_ = float(np.nanmean(self.user_mean_))

    def _predict(self, users, items):
        return _lookup(users, self.user_mean_, self.default_)

    def _item_scores(self):
        """recommend: every item scores the user's mean, so they come in id-map order."""
        return np.zeros(len(self.item_index_))


class ItemMean(Recommender):
    """The post's "Movie Avg Benchmark": each item's mean training rating.

    ``pred(u, i) = mean_{v in R(i)} r_vi``. Fallback, for an item without training ratings:
    the mean of the item means (the post's choice).
    """

    post_label = "Movie Avg Benchmark"
    _fitted_state = ("item_mean_", "default_")

    def __init__(self):
        pass

    def _fit(self, train: Ratings) -> None:
        self.item_mean_ = _group_means(train.item_codes, train.ratings, train.n_items)
        self.default_ = float(np.nanmean(self.item_mean_))

    def _predict(self, users, items):
        return _lookup(items, self.item_mean_, self.default_)

    def _item_scores(self):
        """recommend: the item means, the same ranking for every user."""
        return self.item_mean_


class UserItemMean(Recommender):
    """The post's "Averaged Movie-User Avg Benchmark".

    ``pred(u, i) = (mean_u + mean_i) / 2``. Fallback, where the user or the item has no
    training rating: ``(mean of user means + mean of item means) / 2`` (the post's choice).
    """

    post_label = "Averaged Movie-User Avg Benchmark"
    _fitted_state = ("user_mean_", "item_mean_", "default_")

    def __init__(self):
        pass

    def _fit(self, train: Ratings) -> None:
        self.user_mean_ = _group_means(train.user_codes, train.ratings, train.n_users)
        self.item_mean_ = _group_means(train.item_codes, train.ratings, train.n_items)
        self.default_ = 0.5 * float(np.nanmean(self.user_mean_) + np.nanmean(self.item_mean_))

    def _predict(self, users, items):
        known = (users >= 0) & (items >= 0)
        pred = np.full(len(users), self.default_)
        pred[known] = 0.5 * (self.user_mean_[users[known]] + self.item_mean_[items[known]])
        return pred, ~known

    def _item_scores(self):
        """recommend: the item means rank the items for every user with training ratings."""
        return self.item_mean_


class Bias(Recommender):
    """Regularized baseline: global mean + user bias + item bias.

    ``pred(u, i) = clip(mu + b_u + b_i)`` to the range of the training ratings, with the
    biases minimising ``sum (r_ui - mu - b_u - b_i)^2 + reg_user |b|^2 + reg_item |b|^2``
    by ``n_iter`` alternating sweeps (see :func:`fastrec.kernels.biases.fit_biases_als`).
    A user or item without training ratings has bias 0, so an unknown user gets
    ``mu + b_i`` and an unknown item ``mu + b_u``; such predictions count as fallbacks.
    Later models use it for their own unknown users and items.

    Parameters
    ----------
    reg_user, reg_item : float, default 5 and 3
        Damping: a bias is the mean deviation shrunk as if ``reg`` extra ratings of 0 were
        seen. Surprise's BaselineOnly uses 15 and 10; 5 and 3 score better on every split we
        measured (ml-latest-small 2016 and 2018, the five ml-100k folds; see the docs' results).
    n_iter : int, default 10
    """

    _parameter_constraints = {"reg_user": [Real(0)], "reg_item": [Real(0)], "n_iter": [Int(1)]}
    _fitted_state = ("user_bias_", "item_bias_")

    def __init__(self, reg_user: float = 5.0, reg_item: float = 3.0, n_iter: int = 10):
        self._store_params(locals())

    def _fit(self, train: Ratings) -> None:
        csr, csc = train.csr, train.csc
        self.user_bias_, self.item_bias_ = fit_biases_als(
            csr.indptr,
            csr.indices,
            csr.data,
            csc.indptr,
            csc.indices,
            csc.data,
            self.global_mean_,
            float(self.reg_user),
            float(self.reg_item),
            int(self.n_iter),
        )

    def biases_at(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``mu + b_u + b_i`` at code pairs (code -1: bias 0), unclipped."""
        pred = np.full(len(users), self.global_mean_)
        pred[users >= 0] += self.user_bias_[users[users >= 0]]
        pred[items >= 0] += self.item_bias_[items[items >= 0]]
        return pred

    def _predict(self, users, items):
        return self._clip(self.biases_at(users, items)), (users < 0) | (items < 0)

    def _item_scores(self):
        """recommend: ``b_i`` ranks the items for every user (``mu + b_u`` is per user)."""
        return self.item_bias_
