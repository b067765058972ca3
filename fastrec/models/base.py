"""The interface every fastrec model follows.

A model is configured by keyword arguments stored as they are in ``__init__`` (scikit-learn
style), learns in ``fit(train)``, which returns ``self``, and predicts by raw ids in
``predict(x)``. Learned state ends in ``_``.

Subclasses implement two methods over integer codes:

- ``_fit(train: Ratings) -> None``
- ``_predict(users, items) -> (pred, fell_back)`` where ``users``/``items`` are ``int32``
  codes of the training id maps, ``-1`` for a user or item that has no training rating;
  ``pred`` is ``float64``, ``fell_back`` a boolean mask of the predictions that used the
  model's fallback rather than the model itself.
"""

from __future__ import annotations

import inspect
import logging

import numpy as np
import pandas as pd

from ..data import Ratings

log = logging.getLogger(__name__)


class NotFittedError(RuntimeError):
    """A model was asked to predict before ``fit``."""


class Recommender:
    """Base class of all fastrec models.

    After ``fit``: ``user_index_``, ``item_index_`` (raw-id maps of the training data),
    ``user_n_train_``, ``item_n_train_`` (training ratings per code), ``global_mean_`` and
    ``rating_range_`` (min, max of the training ratings).
    After ``predict``: ``n_fallback_`` (how many predictions used the fallback) and
    ``coverage_`` (the share that did not).
    """

    #: The blog post's label for the model, where the post has it.
    post_label: str | None = None

    def memory_fallback(self) -> Recommender | None:
        """A lighter model to run instead when ``fit`` raises
        :class:`~fastrec.memory.InsufficientMemoryError` in ``evaluate_all`` (e.g. the top-k
        form of a similarity model); ``None`` when there is none."""
        return None

    @classmethod
    def missing_dependency(cls) -> str | None:
        """``None`` when the model can run here, else a note saying what to install."""
        return None

    # ------------------------------------------------------------- params
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's keyword arguments and their current values."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> Recommender:
        """Set constructor arguments by name; unknown names raise ``ValueError``."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"{type(self).__name__} has no parameter {name!r}; valid parameters: {valid}"
                )
            setattr(self, name, value)
        return self

    def clone(self) -> Recommender:
        """An unfitted model with the same parameters."""
        return type(self)(**self.get_params())

    @property
    def name(self) -> str:
        """Class name plus the parameters that differ from the defaults."""
        sig = inspect.signature(type(self).__init__)
        changed = [
            f"{k}={v!r}"
            for k, v in self.get_params().items()
            if sig.parameters[k].default is inspect.Parameter.empty
            or not _same(v, sig.parameters[k].default)
        ]
        return f"{type(self).__name__}({', '.join(changed)})" if changed else type(self).__name__

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    # ------------------------------------------------------------ fitting
    def fit(self, train: Ratings) -> Recommender:
        """Learn from ``train`` (a :class:`~fastrec.Ratings`); returns ``self``."""
        if not isinstance(train, Ratings):
            raise TypeError(
                f"{type(self).__name__}.fit expects fastrec.Ratings (see fastrec.load_ratings, "
                f"Ratings.from_frame), got {type(train).__name__}"
            )
        if len(train) == 0:
            raise ValueError(f"{type(self).__name__}.fit: the training set has no ratings")
        self.user_index_ = train.user_index
        self.item_index_ = train.item_index
        self.user_n_train_ = train.user_counts()
        self.item_n_train_ = train.item_counts()
        self.global_mean_ = float(train.ratings.mean())
        self.rating_range_ = (float(train.ratings.min()), float(train.ratings.max()))
        self._fit(train)
        return self

    def _fit(self, train: Ratings) -> None:
        raise NotImplementedError

    # --------------------------------------------------------- predicting
    def predict(self, x, item_ids=None, *, user: str = "userId", item: str = "movieId"):
        """Predicted ratings, ``float64``, one per requested (user, item) pair, in order.

        ``x`` is a :class:`~fastrec.Ratings` (from any source: ids are matched by raw id),
        a DataFrame with columns ``user`` and ``item``, or an array of raw user ids with
        ``item_ids`` beside it (or a pair ``(user_ids, item_ids)``). Users and items without
        training ratings get the model's documented fallback, never NaN.
        """
        users, items = self._to_codes(x, item_ids, user, item)
        if len(users) == 0:
            self.n_fallback_, self.coverage_ = 0, 1.0
            return np.empty(0, dtype=np.float64)
        pred, fell_back = self._predict(users, items)
        pred = np.asarray(pred, dtype=np.float64)
        self.n_fallback_ = int(np.count_nonzero(fell_back))
        self.coverage_ = 1.0 - self.n_fallback_ / len(pred)
        return pred

    def _predict(self, users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not hasattr(self, "user_index_"):
            raise NotFittedError(
                f"{type(self).__name__} is not fitted yet; call fit(train) before predict"
            )

    def _to_codes(self, x, item_ids, user_col, item_col) -> tuple[np.ndarray, np.ndarray]:
        """Training codes of the requested pairs; ``-1`` where there is no training rating."""
        self._check_fitted()
        if isinstance(x, Ratings):
            if x.user_index is self.user_index_ or x.user_index.equals(self.user_index_):
                users = x.user_codes.copy()
            else:
                users = self.user_index_.get_indexer(x.user_ids).astype(np.int32)
            if x.item_index is self.item_index_ or x.item_index.equals(self.item_index_):
                items = x.item_codes.copy()
            else:
                items = self.item_index_.get_indexer(x.item_ids).astype(np.int32)
        else:
            if isinstance(x, pd.DataFrame):
                for col in (user_col, item_col):
                    if col not in x.columns:
                        raise ValueError(
                            f"predict: the DataFrame has no column {col!r}; columns are "
                            f"{list(x.columns)} (pass user=... / item=... to name others)"
                        )
                user_ids, item_ids = x[user_col].to_numpy(), x[item_col].to_numpy()
            elif item_ids is None and isinstance(x, tuple) and len(x) == 2:
                user_ids, item_ids = x
            elif item_ids is not None:
                user_ids = x
            else:
                raise TypeError(
                    "predict expects Ratings, a DataFrame with user and item columns, or "
                    f"(user_ids, item_ids); got {type(x).__name__}"
                )
            user_ids, item_ids = np.asarray(user_ids).ravel(), np.asarray(item_ids).ravel()
            if len(user_ids) != len(item_ids):
                raise ValueError(
                    f"predict: {len(user_ids)} user ids but {len(item_ids)} item ids; "
                    "they must pair up one to one"
                )
            users = self.user_index_.get_indexer(user_ids).astype(np.int32)
            items = self.item_index_.get_indexer(item_ids).astype(np.int32)
        # A code of the shared id map whose ratings all went to the test set is unknown too.
        return _unknown_to_minus_one(users, self.user_n_train_), _unknown_to_minus_one(
            items, self.item_n_train_
        )

    def _clip(self, pred: np.ndarray) -> np.ndarray:
        """Clip predictions in place to the range of the training ratings."""
        lo, hi = self.rating_range_
        return np.clip(pred, lo, hi, out=pred)


def _unknown_to_minus_one(codes: np.ndarray, n_train: np.ndarray) -> np.ndarray:
    """Set to -1, in place, the codes that are not in the id map or have no training rating."""
    inside = codes >= 0
    codes[inside] = np.where(n_train[codes[inside]] > 0, codes[inside], -1)
    return codes


def _same(a, b) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except (TypeError, ValueError):
        return a is b
