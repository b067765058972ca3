"""The blog post's three Keras networks (the fast.ai lesson-4 models it adapts), with
``k = n_factors = 50``; training, prediction and fallback are :class:`KerasRecommender`'s."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from ...kernels.recommend import score_relu_block
from .._topn import factor_block_scorer
from .base import KerasRecommender

__all__ = ["DotProduct", "DotProductBias", "NeuralNet"]


class DotProduct(KerasRecommender):
    """The post's "Dot Product": ``pred(u, i) = clip(p_u . q_i)`` (the post's schedule), or
    its standardised form ``clip(mu + s * p_u . q_i)`` (the fast schedule, the default; see
    :class:`~fastrec.models.keras.base.KerasRecommender`: ``mu``, ``s`` are
    ``output_offset_``, ``output_scale_``).

    Embeddings ``P`` (float32[n_users, k]) and ``Q`` (float32[n_items, k]), each penalised by
    ``reg * sum(W**2)`` over the whole table (``reg = 1e-4``): ``k * (n_users + n_items)``
    weights, initially uniform in ``+-0.05`` (Keras' default), so that the fast schedule's
    output starts near ``mu``; its initial learning rate is 1e-2. Post schedule: 2 epochs at
    learning rate 1e-3, 3 at 1e-2, 8 at 1e-3. Pairs without trained embeddings fall back to
    :class:`~fastrec.models.baselines.Bias`. See
    :class:`~fastrec.models.keras.base.KerasRecommender` for the parameters, the schedules
    and the attributes.
    """

    post_label = "Dot Product"
    post_schedule = ((2, 1e-3), (3, 1e-2), (8, 1e-3))
    # DotProductBias' rate: from the small initial factors of the standardised fit, 1e-3
    # (the rate of the former start around the mean) had not converged in 30 epochs.
    fast_learning_rate = 1e-2

    def _build(self, keras, n_users, n_items):
        user_in, item_in, p, q = self._embeddings(keras, n_users, n_items)
        out = keras.layers.Dot(axes=1, name="dot")([p, q])
        return keras.Model([user_in, item_in], out, name="dot_product")

    def _take_weights(self, network):
        self._take_factors(network)

    def _score(self, users, items):
        dot = np.einsum("ij,ij->i", self.user_factors_[users], self.item_factors_[items])
        return self.output_offset_ + self.output_scale_ * dot

    def _factor_scorer(self):
        """``mu + s P[users] @ Q[lo:hi].T``, one float32 matrix product per block (``s`` in
        a scaled copy of ``P``, ``mu`` a bias column)."""
        return factor_block_scorer(
            self.user_factors_ * np.float32(self.output_scale_),
            self.item_factors_,
            np.full(len(self.item_factors_), self.output_offset_, dtype=np.float32),
            dtype=np.float32,
        )


class DotProductBias(KerasRecommender):
    """The post's "Dot Product with Bias": ``pred(u, i) = clip(p_u . q_i + b_u + b_i)`` (the
    post's schedule), or standardised, ``clip(mu + s (p_u . q_i + b_u + b_i))`` (the fast
    schedule, the default; ``mu``, ``s``: ``output_offset_``, ``output_scale_``, see
    :class:`~fastrec.models.keras.base.KerasRecommender`).

    Factors as :class:`DotProduct` (penalised, Keras' initial ``+-0.05``); the biases
    ``b_u``, ``b_i`` are 1-wide embeddings without a penalty: ``(k + 1) * (n_users +
    n_items)`` weights. The fast schedule starts every item bias at 0 (the output at
    ``mu``). Post schedule: 2 epochs at 1e-3, 6 at 1e-2, 15 at 1e-3. Attributes
    ``user_bias_`` (float32[n_users]) and ``item_bias_`` (float32[n_items]) besides those of
    :class:`~fastrec.models.keras.base.KerasRecommender`.
    """

    post_label = "Dot Product with Bias"
    post_schedule = ((2, 1e-3), (6, 1e-2), (15, 1e-3))
    fast_learning_rate = 1e-2
    _fitted_state = (*KerasRecommender._fitted_state, "user_bias_", "item_bias_")

    def _build(self, keras, n_users, n_items):
        user_in, item_in, p, q = self._embeddings(keras, n_users, n_items)
        b_u = keras.layers.Embedding(n_users, 1, name="user_bias")(user_in)
        init = "uniform" if self.schedule == "post" else "zeros"
        b_i = keras.layers.Embedding(n_items, 1, embeddings_initializer=init, name="item_bias")
        dot = keras.layers.Dot(axes=1, name="dot")([p, q])
        out = keras.layers.Add(name="add_biases")([dot, b_u, b_i(item_in)])
        return keras.Model([user_in, item_in], out, name="dot_product_bias")

    def _take_weights(self, network):
        self._take_factors(network)
        self.user_bias_ = network.get_layer("user_bias").get_weights()[0][:, 0]
        self.item_bias_ = network.get_layer("item_bias").get_weights()[0][:, 0]

    def _score(self, users, items):
        dot = np.einsum("ij,ij->i", self.user_factors_[users], self.item_factors_[items])
        dot += self.user_bias_[users] + self.item_bias_[items]
        return self.output_offset_ + self.output_scale_ * dot

    def _factor_scorer(self):
        """``mu + s (P[users] @ Q[lo:hi].T + b_i + b_u)``, one float32 matrix product per
        block (``s`` in scaled copies of ``P`` and the biases, ``mu`` in the item bias)."""
        scale = np.float32(self.output_scale_)
        return factor_block_scorer(
            self.user_factors_ * scale,
            self.item_factors_,
            self.item_bias_ * scale + np.float32(self.output_offset_),
            self.user_bias_ * scale,
            np.float32,
        )


class NeuralNet(KerasRecommender):
    """The post's "Neural Network" on the concatenated embeddings.

    ``[p_u, q_i]`` (``2k`` wide) -> Dropout(0.25) -> Dense(64, relu) -> Dropout(0.75) ->
    Dense(1); at prediction (no dropout)
    ``pred(u, i) = clip(w2 . relu(W1^T [p_u, q_i] + c1) + c2)``, with ``W1`` float32[2k, 64],
    ``c1`` float32[64], ``w2`` float32[64] and ``c2`` a float32 scalar:
    ``k * (n_users + n_items) + 2k * 64 + 64 + 64 + 1`` weights; the fast schedule's output
    is standardised, ``clip(mu + s (w2 . relu(...) + c2))`` (``mu``, ``s``:
    ``output_offset_``, ``output_scale_``, see
    :class:`~fastrec.models.keras.base.KerasRecommender`), with ``c2`` starting at 0 (the
    output at ``mu``). Post schedule: 6 epochs at 1e-3.
    Attributes ``hidden_kernel_`` (``W1``), ``hidden_bias_`` (``c1``), ``output_kernel_``
    (``w2``), ``output_bias_`` (``c2``) besides those of
    :class:`~fastrec.models.keras.base.KerasRecommender`.

    ``jit_compile="auto"`` never XLA-compiles this model's train step on a CPU (``cpu_jit``):
    XLA's CPU code for it is slower than TensorFlow's own kernels.
    """

    post_label = "Neural Network"
    post_schedule = ((6, 1e-3),)
    fast_learning_rate = 4e-2
    cpu_jit = False
    hidden: ClassVar[int] = 64
    dropout: ClassVar[tuple[float, float]] = (0.25, 0.75)
    _fitted_state = (
        *KerasRecommender._fitted_state,
        "hidden_kernel_",
        "hidden_bias_",
        "output_kernel_",
        "output_bias_",
    )

    def _build(self, keras, n_users, n_items):
        user_in, item_in, p, q = self._embeddings(keras, n_users, n_items)
        x = keras.layers.Concatenate(name="concat")([p, q])
        x = keras.layers.Dropout(self.dropout[0], name="dropout_in")(x)
        x = keras.layers.Dense(self.hidden, activation="relu", name="hidden")(x)
        x = keras.layers.Dropout(self.dropout[1], name="dropout_hidden")(x)
        out = keras.layers.Dense(1, name="output")(x)  # bias: Keras' zeros
        return keras.Model([user_in, item_in], out, name="neural_net")

    def _take_weights(self, network):
        self._take_factors(network)
        self.hidden_kernel_, self.hidden_bias_ = network.get_layer("hidden").get_weights()
        kernel, bias = network.get_layer("output").get_weights()
        self.output_kernel_, self.output_bias_ = kernel[:, 0], bias[0]

    def _prepare_scorer(self):
        # W1^T [p_u, q_i] = W1[:k]^T p_u + W1[k:]^T q_i: each half once per user and per item,
        # so that a prediction is two gathers, a sum and a dot product, the same numbers for
        # a pair wherever it stands in the request (a matmul per request would round
        # differently at the edges of its blocks).
        # The to_ratings layer folds into the output layer: mu + s (w2 . h + c2).
        k = self.user_factors_.shape[1]
        self._user_hidden = self.user_factors_ @ self.hidden_kernel_[:k]
        self._item_hidden = self.item_factors_ @ self.hidden_kernel_[k:] + self.hidden_bias_
        scale = np.float32(self.output_scale_)
        self._output_weights = self.output_kernel_ * scale
        self._output_offset = float(self.output_bias_ * scale + np.float32(self.output_offset_))

    def _score(self, users, items):
        h = self._user_hidden[users] + self._item_hidden[items]
        np.maximum(h, 0, out=h)
        return np.einsum("ij,j->i", h, self._output_weights) + np.float32(self._output_offset)

    def _factor_scorer(self):
        """The network's output for a block of users x every item, by a parallel Numba kernel
        (:func:`fastrec.kernels.recommend.score_relu_block`): 64 multiply-adds per pair."""
        item_hidden = np.ascontiguousarray(self._item_hidden, dtype=np.float32)
        weights = np.ascontiguousarray(self._output_weights, dtype=np.float32)
        offset = self._output_offset

        def score(users, lo, hi):
            out = np.empty((len(users), hi - lo), dtype=np.float32)
            user_hidden = np.ascontiguousarray(self._user_hidden[users], dtype=np.float32)
            score_relu_block(user_hidden, item_hidden[lo:hi], weights, offset, out)
            return out

        return score
