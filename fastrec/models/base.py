"""The interface every fastrec model follows.

A model is configured by keyword arguments stored as they are in ``__init__`` (scikit-learn
style), declares what it allows of them (``_parameter_constraints``, checked once at the start
of ``fit``), learns in ``fit(train)``, which returns ``self``, and predicts by raw ids in
``predict(x)``. Learned state ends in ``_``; ``predict`` never writes to the model.

A subclass declares:

- ``_parameter_constraints``: for each constructor argument, the values it allows
  (:mod:`fastrec.models._params`); ``_check_params()`` for rules between parameters;
- ``_fitted_state``: the names of its fitted attributes. With the base's own
  (:data:`BASE_STATE`) they are the whole state :func:`fastrec.save_model` writes; anything
  else is derived, rebuilt by ``_rebuild()`` after ``fit`` and after loading, never saved;
- ``_fallback_model()``: the model that answers where this one cannot (most models: the
  damped :class:`~fastrec.Bias` baseline), fitted once by the base class as ``fallback_``;

and implements two methods over integer codes:

- ``_fit(train: Ratings) -> None``
- ``_predict(users, items) -> (pred, fell_back)`` where ``users``/``items`` are ``int32``
  codes of the training id maps, ``-1`` for a user or item that has no training rating;
  ``fell_back`` is a boolean mask of the pairs the model itself cannot answer. At those
  pairs ``pred`` is NaN, which the base class fills with ``fallback_``'s prediction, or a
  number: the model's own documented answer for such a pair (e.g. a user's mean for an
  item without ratings); either way the pair counts as a fallback (see
  :meth:`Recommender.predict_with_fallback`).

Top-n recommendations (``recommend``, ``recommend_all``) work for every model through its
predictions; a model makes them fast by overriding one of two hooks, ``_block_scorer`` (a
matrix product per block of users) or ``_item_scores`` (one ranking shared by every user).
The engine is :mod:`fastrec.models._topn`.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import pandas as pd

from ..data import Ratings
from ..errors import NotFittedError
from ..kernels.recommend import group_items_by_user
from ..persistence import save_model
from ._common import unknown_to_minus_one
from ._params import check_params
from ._topn import predict_every_pair_scorer, recommend_codes

__all__ = ["BASE_STATE", "NotFittedError", "Recommender"]

#: The fitted attributes every model has (see :meth:`Recommender.fit`), saved with its own.
BASE_STATE = (
    "user_index_",
    "item_index_",
    "user_n_train_",
    "item_n_train_",
    "global_mean_",
    "rating_range_",
    "seen_indptr_",
    "seen_items_",
    "fallback_",
)


class Recommender:
    """Base class of all fastrec models.

    After ``fit``: ``user_index_``, ``item_index_`` (raw-id maps of the training data,
    :class:`pandas.Index`), ``user_n_train_``, ``item_n_train_`` (int64 training ratings per
    code), ``global_mean_`` and ``rating_range_`` (the training data's given ``rating_scale``, else
    the min and max of its ratings; predictions are clipped to it),
    ``fallback_`` (the fitted fallback model, or ``None``), and which items each user rated
    in training, as a CSR pattern for ``recommend(exclude_seen=True)``: ``seen_indptr_``
    (int64[n_users + 1]) and ``seen_items_`` (int32[n_train], sorted within each user):
    4 bytes per training rating (about 80 MB at MovieLens-25M's 20M training ratings).
    """

    #: Allowed values of each constructor argument (:mod:`fastrec.models._params`).
    _parameter_constraints: ClassVar[dict[str, list]] = {}

    #: The model's own fitted attributes (with :data:`BASE_STATE`: everything saved).
    _fitted_state: ClassVar[tuple[str, ...]] = ()

    #: Working memory of the block scorer (:meth:`_block_scorer`) per (user, item) score, in
    #: bytes; it sets how many users :meth:`recommend_all` scores at a time. The default
    #: (a prediction at every pair: two int32 codes, a float64 prediction, a mask, the
    #: block) is conservative; a matrix-product scorer needs about 8.
    _score_bytes: ClassVar[int] = 48

    #: The blog post's label for the model, where the post has it.
    post_label: ClassVar[str | None] = None

    @classmethod
    def state_attributes(cls) -> tuple[str, ...]:
        """The names of every fitted attribute that makes up a fitted model's state."""
        return BASE_STATE + cls._fitted_state

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

    def _store_params(self, values: dict) -> None:
        """Store the constructor's arguments as they are (scikit-learn style): call as
        ``self._store_params(locals())`` first thing in ``__init__``; nothing is checked
        here (``fit`` does that)."""
        for name in self._param_names():
            setattr(self, name, values[name])

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's keyword arguments and their current values."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> Recommender:
        """Set constructor arguments by name; unknown names raise ``ValueError``. Values are
        checked by the next ``fit``."""
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

    def validate_params(self) -> None:
        """Check every parameter against ``_parameter_constraints`` and ``_check_params()``;
        a ``ValueError`` names the model, the parameter, what is allowed and the value."""
        check_params(type(self).__name__, self.get_params(), self._parameter_constraints)
        self._check_params()

    def _check_params(self) -> None:
        """Rules between parameters, beyond each one's own constraints (default: none)."""

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

    # ------------------------------------------------------------- saving
    def save(self, path, *, compress: bool = False):
        """Write this fitted model to ``path`` (:func:`fastrec.save_model`: its declared
        state as numpy arrays and JSON, no pickle); :func:`fastrec.load_model` reads it back
        and predicts exactly as this one. Returns the path."""
        return save_model(self, path, compress=compress)

    # ------------------------------------------------------------ fitting
    def fit(self, train: Ratings) -> Recommender:
        """Learn from ``train`` (a :class:`~fastrec.Ratings`); returns ``self``.

        Checks the parameters, records the base state (id maps, counts, mean, range, seen
        items), fits the fallback model (which shares those arrays), then the model itself
        (``_fit``), then rebuilds its derived structures (``_rebuild``).
        """
        if not isinstance(train, Ratings):
            raise TypeError(
                f"{type(self).__name__}.fit expects fastrec.Ratings (see fastrec.load_ratings, "
                f"Ratings.from_frame), got {type(train).__name__}"
            )
        self.validate_params()
        if len(train) == 0:
            raise ValueError(f"{type(self).__name__}.fit: the training set has no ratings")
        self.user_index_ = train.user_index
        self.item_index_ = train.item_index
        self.user_n_train_ = train.user_counts()
        self.item_n_train_ = train.item_counts()
        self.global_mean_ = float(train.ratings.mean())
        self.rating_range_ = tuple(map(float, train.rating_range))  # the given scale, or min, max
        self.seen_indptr_, self.seen_items_ = group_items_by_user(
            train.user_codes, train.item_codes, train.n_users
        )
        fallback = self._fallback_model()
        self.fallback_ = None if fallback is None else fallback.fit(train)
        if self.fallback_ is not None:  # the same training set: share its base arrays
            for attr in BASE_STATE[:-1]:
                setattr(self.fallback_, attr, getattr(self, attr))
        self._fit(train)
        self._rebuild()
        return self

    def _fallback_model(self) -> Recommender | None:
        """The unfitted model that answers the pairs this one cannot (``None``: the model
        answers every pair itself, as its ``_predict`` documents)."""
        return None

    def _fit(self, train: Ratings) -> None:
        raise NotImplementedError

    def _check_base_state(self) -> None:
        """Raise ``ValueError`` where the base state (as loaded from a file) is inconsistent:
        id maps and counts of different lengths, a bad mean or range, seen items outside
        the id maps."""
        for side in ("user", "item"):
            index, counts = getattr(self, f"{side}_index_"), getattr(self, f"{side}_n_train_")
            if not isinstance(index, pd.Index) or not isinstance(counts, np.ndarray):
                raise ValueError(f"no {side}_index_ / {side}_n_train_")
            if counts.shape != (len(index),) or counts.dtype.kind not in "iu":
                raise ValueError(f"{side}_n_train_ does not match {side}_index_")
        bounds, indptr, items = self.rating_range_, self.seen_indptr_, self.seen_items_
        if not (
            type(self.global_mean_) is float
            and type(bounds) is tuple
            and len(bounds) == 2
            and all(type(b) is float for b in bounds)
            and bounds[0] <= bounds[1]
        ):
            raise ValueError("bad rating_range_ / global_mean_")
        if (
            len(indptr) != len(self.user_index_) + 1
            or indptr[-1] != len(items)
            or (len(items) and (items.min() < 0 or items.max() >= len(self.item_index_)))
        ):
            raise ValueError("seen_indptr_ / seen_items_ do not fit the id maps")

    def _rebuild(self) -> None:
        """Rebuild derived structures from the fitted state (after ``fit`` and after
        loading); the default has none."""

    # --------------------------------------------------------- predicting
    def predict(self, x, item_ids=None, *, user: str = "userId", item: str = "movieId"):
        """Predicted ratings, ``float64``, one per requested (user, item) pair, in order.

        ``x`` is a :class:`~fastrec.Ratings` (from any source: ids are matched by raw id),
        a DataFrame with columns ``user`` and ``item``, or an array of raw user ids with
        ``item_ids`` beside it (or a pair ``(user_ids, item_ids)``). Users and items without
        training ratings get the model's documented fallback, never NaN.
        """
        return self.predict_with_fallback(x, item_ids, user=user, item=item)[0]

    def predict_with_fallback(
        self, x, item_ids=None, *, user: str = "userId", item: str = "movieId"
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(pred, fell_back)``: :meth:`predict`'s ratings and a boolean mask of the same
        length, true where the prediction came from the model's fallback (a user or item
        without training ratings, or a pair the model has no answer for) rather than the
        model itself. ``1 - fell_back.mean()`` is the model's coverage."""
        users, items = self._to_codes(x, item_ids, user, item)
        if len(users) == 0:
            return np.empty(0, dtype=np.float64), np.zeros(0, dtype=bool)
        return self._predict_codes(users, items)

    def _predict_codes(self, users: np.ndarray, items: np.ndarray):
        """``_predict`` at code pairs, NaN answers filled by ``fallback_``: float64, mask."""
        pred, fell_back = self._predict(users, items)
        pred = np.asarray(pred, dtype=np.float64)
        fell_back = np.asarray(fell_back, dtype=bool)
        if self.fallback_ is not None and fell_back.any():
            hole = fell_back & np.isnan(pred)
            if hole.any():
                if not pred.flags.writeable:
                    pred = pred.copy()
                pred[hole] = self.fallback_._predict_codes(users[hole], items[hole])[0]
        return pred, fell_back

    def _predict(self, users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _check_fitted(self, action: str = "predict") -> None:
        if not hasattr(self, "user_index_"):
            raise NotFittedError(
                f"{type(self).__name__} is not fitted yet; call fit(train) before {action}"
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
            user_ids, item_ids = _raw_id_pairs(x, item_ids, user_col, item_col)
            users = self.user_index_.get_indexer(user_ids).astype(np.int32)
            items = self.item_index_.get_indexer(item_ids).astype(np.int32)
        # A code of the shared id map whose ratings all went to the test set is unknown too.
        return (
            unknown_to_minus_one(users, self.user_n_train_),
            unknown_to_minus_one(items, self.item_n_train_),
        )

    def _clip(self, pred: np.ndarray) -> np.ndarray:
        """Clip predictions in place to the range of the training ratings (NaN stays NaN)."""
        lo, hi = self.rating_range_
        return np.clip(pred, lo, hi, out=pred)

    # ------------------------------------------------------- recommending
    def recommend(self, user_id, n: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
        """The ``n`` items with the highest predicted rating for one user, best first.

        Returns a DataFrame with the raw item id (column named as the training item index,
        ``movieId`` for MovieLens) and ``score``, the model's prediction, the same number
        ``predict`` gives for that (user, item) pair; ``n`` rows, fewer when fewer items
        are left. Candidates are the items with training ratings; ``exclude_seen`` drops
        those the user rated in training. Ties: see :meth:`recommend_all`.

        A user without training ratings (not in the training id map, or whose ratings all
        went to the test set) gets the items ranked by the model's prediction for such a
        user, its documented fallback: for most models the :class:`~fastrec.Bias` fallback
        ``mu + b_i`` (the same list for every such user, nothing excluded); for
        ``UserMean`` and ``UserItemMean`` a constant, so the items come in id-map order.
        """
        if isinstance(user_id, (list, tuple, set, np.ndarray, pd.Series, pd.Index)):
            raise TypeError(
                f"recommend takes one user id, got {type(user_id).__name__}; use "
                "recommend_all(users=[...]) for several users"
            )
        frame = self.recommend_all(n, exclude_seen, users=[user_id])
        return frame[[frame.columns[2], "score"]].reset_index(drop=True)

    def recommend_all(
        self,
        n: int = 10,
        exclude_seen: bool = True,
        users=None,
        *,
        block_size: int | None = None,
        show_progress: bool = False,
    ) -> pd.DataFrame:
        """Top-``n`` items of every user, as one DataFrame.

        Columns: the raw user id (named as the training user index, ``userId`` for
        MovieLens), ``rank`` (1 .. n), the raw item id (``movieId``) and ``score``; users in
        code order (or in the order of ``users``), each user's items best first; up to ``n``
        rows per user.

        ``users``: raw ids (default: every user of the training id map with training
        ratings). ``exclude_seen``: drop the items each user rated in training. Candidates
        are the items with at least one training rating. ``score`` is the model's prediction
        for the pair, the number ``predict`` gives (clipped where the model clips). Order:
        by that prediction, then, where clipping ties it, by the model's unclipped score
        (fast paths below), then by item code. Users without training ratings: see
        :meth:`recommend`.

        How: the users are taken in blocks of ``block_size`` (default: as many as fit in
        about 256 MiB of scores, 16 to 1024; 568 at ml-25m's 59k items) x every item, scored
        by the model's block scorer; a parallel Numba kernel
        (:func:`fastrec.kernels.recommend.push_top_n`, driven by :mod:`fastrec.models._topn`)
        feeds them into each user's bounded heap of the ``n`` best, skipping seen items from
        the training CSR pattern; the chosen pairs are then predicted (``predict``'s
        numbers) for their scores.
        No Python loop per user. Block scorers: one BLAS matrix product per block for the
        factor models (float64 for SVD, BiasedMF, ALS, SVDpp: the ranking agrees with their
        float64 predictions to rounding, about 1e-15; float32 for DotProduct and
        DotProductBias, whose predictions are float32); a parallel Numba kernel for
        NeuralNet (64 multiply-adds per pair); one item ranking shared by every user for the
        mean and bias baselines; for the k form of UserKNN and ItemKNN one pass over each
        user's stored neighbourhood (:mod:`fastrec.kernels.neighbor_scores`), and for their
        other forms ``predict`` at every (user, item) pair (see
        ``UserKNN._block_scorer``). Two items whose scores differ only by that rounding may
        come in either order.

        ``show_progress``: a tqdm bar over the blocks. Memory is checked
        (:func:`fastrec.memory.require`) before the blocks and the output are allocated.
        """
        n = _check_n(n)
        if not isinstance(exclude_seen, (bool, np.bool_)):
            raise TypeError(f"exclude_seen must be True or False, got {exclude_seen!r}")
        if block_size is not None and (
            isinstance(block_size, bool)
            or not isinstance(block_size, numbers.Integral)
            or block_size < 1
        ):
            raise ValueError(f"block_size must be None or an integer >= 1, got {block_size!r}")
        self._check_fitted("recommend")
        if exclude_seen and not hasattr(self, "seen_items_"):
            raise ValueError(
                f"{type(self).__name__} holds no record of the items each user rated in "
                "training (seen_indptr_, seen_items_); pass exclude_seen=False"
            )
        if users is None:
            codes = np.flatnonzero(self.user_n_train_ > 0).astype(np.int32)
            raw = self.user_index_.to_numpy()[codes]
        else:
            if isinstance(users, (str, bytes)) or np.ndim(users) == 0:
                raise TypeError(
                    f"users must be a list or array of raw user ids, got {users!r}; "
                    "use recommend(user_id) for one user"
                )
            raw = np.asarray(users).ravel()
            codes = unknown_to_minus_one(
                self.user_index_.get_indexer(raw).astype(np.int32), self.user_n_train_
            )
        rows, items, scores, counts = recommend_codes(
            self, codes, n, bool(exclude_seen), block_size, show_progress
        )
        rank = np.arange(len(items), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        return pd.DataFrame(
            {
                self.user_index_.name or "userId": raw[rows],
                "rank": rank + 1,
                self.item_index_.name or "movieId": self.item_index_.to_numpy()[items],
                "score": scores,
            }
        )

    def _item_scores(self) -> np.ndarray | None:
        """Scores ``float[n_items]`` whose order is the model's ranking of the items for
        EVERY user with training ratings (e.g. ``b_i`` for ``mu + b_u + b_i``), or ``None``
        (the default) where the ranking depends on the user. Overridden by the baselines:
        ``recommend_all`` then walks one sorted list per user instead of scoring blocks."""
        return None

    def _block_scorer(self) -> Callable[[np.ndarray, int, int], np.ndarray]:
        """A function ``score(users, lo, hi)`` -> ``float32/float64[len(users), hi - lo]``
        for :meth:`recommend_all`, called once per call of it.

        ``users`` are int32 codes of users WITH training ratings (never ``-1``); row ``r``
        holds, for items ``lo .. hi - 1``, numbers whose order is the model's ranking of
        those items for user ``users[r]``: its prediction, or anything increasing with it
        for that user (a per-user constant such as ``mu + b_u`` may be left out; the
        unclipped value is better than the clipped one, which ties at the top). Columns of
        items without training ratings are ignored. The returned array may be the
        function's own scratch space (it is consumed before the next call).

        The default predicts every pair of the block (so every model works), at the cost
        of ``len(users) x (hi - lo)`` predictions; models override it with a matrix product
        (:func:`fastrec.models._topn.factor_block_scorer`, and set ``_score_bytes``).
        """
        return predict_every_pair_scorer(self)


def _raw_id_pairs(x, item_ids, user_col, item_col) -> tuple[np.ndarray, np.ndarray]:
    """The raw (user ids, item ids) of ``predict``'s non-Ratings inputs, checked to pair up."""
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
    return user_ids, item_ids


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be an integer >= 1 (items per user), got {n!r}")
    return int(n)


def _same(a, b) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except (TypeError, ValueError):
        return a is b
