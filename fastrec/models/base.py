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

Top-n recommendations (``recommend``, ``recommend_all``) work for every model through
``_predict``; a model makes them fast by overriding one of two hooks, ``_block_scorer``
(a matrix product per block of users) or ``_item_scores`` (one ranking shared by every
user). See :meth:`Recommender.recommend_all`.
"""

from __future__ import annotations

import inspect
import logging
import numbers
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import Ratings
from ..kernels.recommend import group_items_by_user, push_top_n, sort_top_n, take_top_n_ranked
from ..memory import require

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

    For ``recommend`` / ``recommend_all``, ``fit`` also keeps which items each user rated
    in training, as a CSR pattern: ``seen_indptr_`` (int64[n_users + 1]) and ``seen_items_``
    (int32[n_train], sorted within each user): 4 bytes per training rating (about 80 MB at
    MovieLens-25M's 20M training ratings).
    """

    #: Working memory of the block scorer (:meth:`_block_scorer`) per (user, item) score, in
    #: bytes; it sets how many users :meth:`recommend_all` scores at a time. The default
    #: (``_predict`` at every pair: two int32 codes, a float64 prediction, a mask, the
    #: block) is conservative; a matrix-product scorer needs about 8.
    _score_bytes: int = 48

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

    # ------------------------------------------------------------- saving
    def save(self, path: str | os.PathLike, *, compress: bool = False) -> Path:
        """Write this fitted model to ``path`` (one ``.fastrec`` file: numpy arrays and JSON,
        no pickle); :func:`fastrec.load_model` reads it back and predicts exactly as this one.
        Raises NotFittedError before ``fit``, TypeError naming an attribute it cannot store.
        See :mod:`fastrec.persistence`."""
        from ..persistence import save_model  # lazy: persistence imports the models

        return save_model(self, path, compress=compress)

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
        # What each user rated, for recommend(exclude_seen=True).
        self.seen_indptr_, self.seen_items_ = group_items_by_user(
            train.user_codes, train.item_codes, train.n_users
        )
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
        (:func:`fastrec.kernels.recommend.push_top_n`) feeds them into each user's bounded
        heap of the ``n`` best, skipping seen items from the training CSR pattern; the
        chosen pairs are then predicted by ``_predict`` for their scores.
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
        if not hasattr(self, "user_index_"):
            raise NotFittedError(
                f"{type(self).__name__} is not fitted yet; call fit(train) before recommend"
            )
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
            codes = _unknown_to_minus_one(
                self.user_index_.get_indexer(raw).astype(np.int32), self.user_n_train_
            )
        rows, items, scores, counts = self._recommend_codes(
            codes, n, bool(exclude_seen), block_size, show_progress
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

    def _recommend_codes(self, codes, n, exclude_seen, block_size, show_progress):
        """Top-``n`` of each user code (``-1``: no training ratings).

        Returns ``rows`` (int64: the position in ``codes`` of each result), ``items``
        (int32 codes), ``scores`` (float64, ``_predict``'s), all flat and grouped by row,
        best first, and ``counts`` (int64[len(codes)], results per row).
        """
        t0 = time.perf_counter()
        n_rows = len(codes)
        candidate = self.item_n_train_ > 0
        cand_codes = np.flatnonzero(candidate).astype(np.int32)
        if exclude_seen:
            seen_indptr, seen_items = self.seen_indptr_, self.seen_items_
        else:
            seen_indptr, seen_items = np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int32)
        require(
            n_rows * n * (4 + 8 + 8 + 16),
            f"recommend_all(n={n}) for {n_rows:,} users",
            "ask for fewer users (users=...) or a smaller n",
        )
        out_items = np.zeros((n_rows, n), dtype=np.int32)
        counts = np.zeros(n_rows, dtype=np.int32)
        known = np.flatnonzero(codes >= 0)
        unknown = np.flatnonzero(codes < 0)
        if len(unknown):
            # One list for every user without training ratings: the fallback's ranking.
            fallback, _ = self._predict(np.full(len(cand_codes), -1, np.int32), cand_codes.copy())
            top = cand_codes[np.lexsort((cand_codes, -fallback))][:n]
            out_items[unknown, : len(top)] = top
            counts[unknown] = len(top)
        if len(known):
            item_scores = self._item_scores()
            if item_scores is not None:
                order = cand_codes[np.lexsort((cand_codes, -item_scores[cand_codes]))]
                sub = np.zeros((len(known), n), dtype=np.int32)
                counts[known] = take_top_n_ranked(
                    order, codes[known], seen_indptr, seen_items, exclude_seen, n, sub
                )
                out_items[known] = sub
            else:
                self._top_n_blocks(
                    codes, known, n, exclude_seen, seen_indptr, seen_items, candidate,
                    block_size, show_progress, out_items, counts,
                )  # fmt: skip
        # The scores: _predict at the chosen pairs (the very numbers predict gives), each
        # user's items re-sorted by them (stable: ties keep the block scorer's order).
        valid = np.arange(n) < counts[:, None]
        rows = np.repeat(np.arange(n_rows, dtype=np.int64), counts)
        items = out_items[valid]
        scores = np.empty(0)
        if len(items):
            scores, _ = self._predict(codes[rows], items.copy())
            scores = np.asarray(scores, dtype=np.float64)
        rank = np.arange(len(items)) - np.repeat(np.cumsum(counts) - counts, counts)
        order = np.lexsort((rank, -scores, rows))
        log.debug("%s: top-%d of %d users in %.2fs", self.name, n, n_rows, time.perf_counter() - t0)
        return rows, items[order], scores[order], counts.astype(np.int64)

    def _top_n_blocks(
        self, codes, known, n, exclude_seen, seen_indptr, seen_items, candidate,
        block_size, show_progress, out_items, counts,
    ):  # fmt: skip
        """Fill ``out_items`` / ``counts`` at rows ``known`` by the block scorer: blocks of
        ``block_size`` users x every item (about ``_BLOCK_BYTES`` of scores), or x tiles of
        items where even ``_MIN_BLOCK_USERS`` users' rows would not fit in that."""
        n_items = len(candidate)
        per_score = max(1, int(self._score_bytes))
        if block_size is None:
            block_size = _BLOCK_BYTES // (n_items * per_score)
            block_size = min(_MAX_BLOCK_USERS, max(_MIN_BLOCK_USERS, block_size))
        block_size = min(block_size, len(known))
        tile = int(min(n_items, max(_MIN_TILE, _BLOCK_BYTES // (block_size * per_score))))
        require(
            block_size * tile * per_score + block_size * n * 12,
            f"{type(self).__name__}.recommend_all: a block of {block_size:,} users x "
            f"{tile:,} items",
            "pass a smaller block_size",
        )
        scorer = self._block_scorer()
        heap_scores = np.empty((block_size, n))
        heap_items = np.empty((block_size, n), dtype=np.int32)
        heap_size = np.empty(block_size, dtype=np.int32)
        starts = range(0, len(known), block_size)
        bar = None
        if show_progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(known), desc=f"{type(self).__name__} top-{n}", unit="user")
        for lo in starts:
            rows = known[lo : lo + block_size]
            users = codes[rows]
            b = len(rows)
            heap_size[:b] = 0
            for col in range(0, n_items, tile):
                scores = np.ascontiguousarray(scorer(users, col, min(col + tile, n_items)))
                if scores.dtype not in (np.float32, np.float64):
                    scores = scores.astype(np.float64)
                push_top_n(
                    scores, col, users, seen_indptr, seen_items, exclude_seen, candidate,
                    heap_scores[:b], heap_items[:b], heap_size[:b],
                )  # fmt: skip
            sort_top_n(heap_scores[:b], heap_items[:b], heap_size[:b])
            out_items[rows] = heap_items[:b]
            counts[rows] = heap_size[:b]
            if bar is not None:
                bar.update(b)
        if bar is not None:
            bar.close()

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

        The default calls ``self._predict`` at every pair of the block (so every model
        works), at the cost of predicting ``len(users) x (hi - lo)`` ratings; models
        override it with a matrix product (and set ``_score_bytes``).
        """
        candidate = self.item_n_train_ > 0

        def score(users: np.ndarray, lo: int, hi: int) -> np.ndarray:
            cols = np.flatnonzero(candidate[lo:hi]).astype(np.int32)
            out = np.full((len(users), hi - lo), -np.inf)
            if len(cols) and len(users):
                pred, _ = self._predict(
                    np.repeat(users, len(cols)).astype(np.int32), np.tile(cols + lo, len(users))
                )
                out[:, cols] = np.asarray(pred, dtype=np.float64).reshape(len(users), len(cols))
            return out

        return score


#: recommend_all: the bytes of one block of scores (users x items x ``_score_bytes``), the
#: users per block, and the fewest items per tile. Measured at ml-25m shape (BiasedMF, 59k
#: items): whole rows of 512 users (240 MiB) took 30 s, tiles of 1024 x 1024 items (8 MiB,
#: cache-sized) 82 s: the switches between BLAS and Numba threads cost more than the cache
#: saves.
_BLOCK_BYTES = 256 << 20
_MIN_BLOCK_USERS = 16
_MAX_BLOCK_USERS = 1024
_MIN_TILE = 128


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be an integer >= 1 (items per user), got {n!r}")
    return int(n)


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
