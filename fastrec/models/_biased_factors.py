"""What ALS and SVD++ share: the float64 biased factor model's prediction and top-N scorer.

``pred(u, i) = clip(mu + b_u + b_i + x_u . y_i)`` at the requested pairs
(:func:`fastrec.kernels.als.predict_biased_pairs`), with the :class:`~fastrec.Bias` fallback
for a pair whose user or item has no training rating. A subclass fits ``user_bias_``,
``item_bias_``, ``item_factors_`` and whatever gives the user vectors ``x_u``; its
``_user_vectors()`` returns them (float64[n_users, k]), kept by ``_rebuild``.
"""

from __future__ import annotations

import numpy as np

from ..kernels.als import predict_biased_pairs
from ._topn import factor_block_scorer
from .base import Recommender
from .baselines import Bias


class BiasedFactorModel(Recommender):
    """Base of the float64 biased factor models (:class:`~fastrec.ALS`,
    :class:`~fastrec.SVDpp`)."""

    _score_bytes = 8

    def _fallback_model(self) -> Recommender:
        return Bias()

    def _user_vectors(self) -> np.ndarray:
        """``x_u`` for every user, float64[n_users, k]."""
        raise NotImplementedError

    def _rebuild(self) -> None:
        self._user_vectors_cache = np.ascontiguousarray(self._user_vectors())

    def _predict(self, users, items):
        fell_back = (users < 0) | (items < 0)
        pred = np.full(len(users), np.nan)  # NaN where the Bias fallback answers
        predict_biased_pairs(
            users,
            items,
            self._user_vectors_cache,
            self.item_factors_,
            self.user_bias_,
            self.item_bias_,
            self.global_mean_,
            pred,
        )
        return self._clip(pred), fell_back

    def _block_scorer(self):
        """recommend_all: ``b_i + x_u . y_i`` (the prediction less ``mu + b_u``), one float64
        matrix product per block of users."""
        return factor_block_scorer(self._user_vectors_cache, self.item_factors_, self.item_bias_)
