"""The shared base of the post's Keras models: parameters, ``fit`` (the validation slice,
the seeded build and the training schedule), the numpy prediction of the trained pairs,
the fallback and the top-N block scorer.

A subclass (:mod:`fastrec.models.keras.networks`) builds its network (``_build``), copies
the trained weights out of it (``_take_weights``) and scores trained (user, item) code pairs
from those copies (``_score``, ``_factor_scorer``).
"""

from __future__ import annotations

import logging
import math
import time
from typing import ClassVar

import numpy as np

from ...data import Ratings
from ...memory import require
from .._common import rating_spread
from .._params import Bool, Int, OneOf, Real
from ..base import Recommender
from ..baselines import Bias
from . import backend
from .training import epoch_callback, fast_batch, fit_fast, fit_post

log = logging.getLogger(__name__)

__all__ = ["KerasRecommender"]

# Predictions are computed in chunks of this many pairs (float32 gathers of 2 x k values each).
_PREDICT_CHUNK = 1 << 18


class KerasRecommender(Recommender):
    """Shared base of the post's Keras models (``DotProduct``, ``DotProductBias``,
    ``NeuralNet``; see each for its formula).

    All three train with Adam on the mean squared error plus the L2 penalty
    ``reg * sum(W**2)`` of each embedding table (Keras' ``embeddings_regularizer``, added to
    every batch's loss), over embedding tables of every code of the training id maps
    (``train.n_users``, ``train.n_items``: a split shares the id maps of the whole file).

    Two training schedules (:mod:`fastrec.models.keras.training`):

    - ``schedule="post"`` replays the post: all the training ratings, batch 64, Keras'
      default initial weights and the model's ``post_schedule`` of (epochs, learning rate).
    - ``schedule="fast"`` (the default): a validation slice (``validation_size`` of the TRAIN
      ratings, drawn with ``seed``; never the test set) is held out and the rest is fed in
      large batches. Adam starts at the model's ``fast_learning_rate`` (for batch
      ``fast_batch_size``, scaled by ``sqrt(batch / fast_batch_size)``), is cut by
      ``_lr_decay`` after every epoch whose validation MSE did not improve by more than
      ``_min_delta``, and training stops after ``patience`` such epochs in a row (at most
      ``max_epochs``), keeping the weights of the best epoch.

    Scale-free (the fast schedule): the network is trained on the standardised ratings
    ``z = (r - mu) / s`` (float32; ``mu``, ``s``: the mean and standard deviation of the
    ratings it trains on; ``s = 1`` if they are all equal), the same numbers on any rating
    scale, with the same learning rates, penalties and initial weights; ``keras_model_``
    is that network followed by a layer ``to_ratings`` (Keras' ``Rescaling``, no weights)
    that maps its output back, ``rating = mu + s * z``, and early stopping asks for a
    validation MSE (in rating units) better by ``_min_delta * s^2``. Ratings ``a * r + b``
    (``a > 0``) then give predictions ``a * pred + b`` up to rounding. The network's output
    starts near ``z = 0``, the mean rating (small initial factors, the item bias or output
    bias at 0), whereas the post's runs spend their first epochs learning that offset. The
    post's schedule replays the post on the raw ratings: no ``to_ratings`` layer, not
    scale-free.

    Fallback: a pair whose user or item has no training rating (code ``-1``), or whose
    ratings all went to the validation slice, has no trained embedding; it is predicted by
    :class:`~fastrec.models.baselines.Bias` (``clip(mu + b_u + b_i)``) fitted on the same
    training set, and counts as a fallback
    (:meth:`~fastrec.Recommender.predict_with_fallback`). Every prediction is clipped to the
    range of the training ratings.

    Prediction does not call Keras: the trained weights are copied into numpy arrays
    (``user_factors_``, ``item_factors_``, ...) and the model's formula is evaluated on them
    in float32, in chunks of pairs, which gives the network's own outputs (to float32
    rounding) without its per-call overhead.

    Parameters
    ----------
    n_factors : int, default 50
        Width ``k`` of the user and item embeddings.
    reg : float, default 1e-4
        L2 penalty ``reg * sum(W**2)`` on each embedding table, added to every batch's loss.
    schedule : {"fast", "post"}, default "fast"
        ``"post"`` replays the post's batch 64 and (epochs, learning rate) sequence on all
        the training ratings; ``"fast"`` trains in large batches with early stopping on a
        validation slice of the training ratings.
    batch_size : int or None, default None
        ``None``: 64 for ``"post"``; for ``"fast"`` 4096, or ``ceil(n / 512)`` rounded up to
        a multiple of 1024 when that is larger (``n``: ratings trained on), so that an epoch
        has at most 512 steps (see :func:`fastrec.models.keras.training.fast_batch`).
    learning_rate : float or None, default None
        ``"fast"`` only: Adam's initial rate; ``None``: the model's ``fast_learning_rate``
        times ``sqrt(batch / 4096)``.
    max_epochs : int or None, default None
        ``"fast"`` only: the most epochs to run; ``None``: ``fast_max_epochs`` (30).
    patience : int, default 2
        ``"fast"`` only: stop after this many epochs in a row without a better validation MSE.
    validation_size : float, default 0.05
        ``"fast"`` only: share of the training ratings held out for early stopping, strictly
        between 0 and 1.
    seed : int, default 0
        Seeds the initial weights, dropout, the shuffling and the validation slice.
    deterministic : bool, default True
        Turn on the backend's deterministic ops (process-wide): TensorFlow's op
        determinism, PyTorch's deterministic algorithms; JAX has none to turn on (see
        :mod:`fastrec.models.keras.backend` for what holds on each backend, CPU and GPU).
    jit_compile : bool or "auto", default "auto"
        Compile the train step (XLA on TensorFlow and JAX, ``torch.compile`` on PyTorch).
        TensorFlow: never while op determinism is on (``True`` then raises ``ValueError``;
        ``"auto"`` resolves to ``False``); ``"auto"``: on a GPU, Keras' choice; on a CPU,
        only for ``DotProduct`` and ``DotProductBias`` with 4M embedding weights or more.
        JAX and PyTorch: passed to Keras (``"auto"``: compiled on JAX, eager on PyTorch).
        The value used is ``jit_compile_``.
    show_progress : bool, default False
        Log one line per epoch (loss, validation MSE, learning rate, seconds) at INFO level
        and show a tqdm bar over the epochs.

    Attributes
    ----------
    backend_ : str
        The Keras backend the network was trained on: ``"tensorflow"``, ``"jax"`` or
        ``"torch"``.
    keras_model_ : keras.Model
        The trained network (the best epoch's weights for ``"fast"``, followed by the
        ``to_ratings`` layer: its output is in rating units).
    user_factors_, item_factors_ : float32[n_users, k], float32[n_items, k]
        The embedding tables, copied out of the network.
    output_offset_, output_scale_ : float
        The ``to_ratings`` layer: rating ``= output_offset_ + output_scale_ * z`` with ``z``
        the output of the layers before it (the fast schedule: the mean and standard
        deviation of the ratings trained on; the post's: 0 and 1, no such layer).
    user_trained_, item_trained_ : bool[n_users], bool[n_items]
        Codes with at least one rating among those the network trained on.
    history_ : dict[str, list[float]]
        Per epoch: ``loss`` (training MSE plus penalty; for ``"fast"`` in standardised
        units, the MSE of ``z``), ``seconds`` (wall time; the first includes tracing the
        train step) and, for ``"fast"``, ``val_mse`` (in rating units).
    best_epoch_ : int
        1-based epoch whose weights were kept (the last one for ``"post"``).
    n_epochs_ : int
        Epochs run (``len(history_["loss"])``).
    batch_size_, learning_rate_ : int, float
        The batch and initial learning rate used.
    jit_compile_ : bool
        Whether the train step was compiled.
    fallback_ : Bias
        The model of the pairs without a trained embedding.
    """

    _parameter_constraints: ClassVar[dict[str, list]] = {
        "n_factors": [Int(1)],
        "reg": [Real(0)],
        "schedule": [OneOf("fast", "post")],
        "batch_size": [None, Int(1)],
        "learning_rate": [None, Real(0, open_low=True)],
        "max_epochs": [None, Int(1)],
        "patience": [Int(0)],
        "validation_size": [Real(0, 1, open_low=True)],
        "seed": [Int(0)],
        "deterministic": [Bool()],
        "jit_compile": [Bool(), OneOf("auto")],
        "show_progress": [Bool()],
    }
    _fitted_state: ClassVar[tuple[str, ...]] = (
        "backend_", "keras_model_", "user_factors_", "item_factors_", "user_trained_",
        "item_trained_", "history_", "best_epoch_", "batch_size_", "learning_rate_",
        "jit_compile_", "output_offset_", "output_scale_",
    )  # fmt: skip
    #: A float32 matrix product (or Numba kernel) per block of users: 4 bytes of scores
    #: per pair plus working space.
    _score_bytes: ClassVar[int] = 8

    #: The post's schedule: (epochs, learning rate) in order, batch 64.
    post_schedule: ClassVar[tuple[tuple[int, float], ...]] = ()
    #: The fast schedule's initial Adam learning rate at batch ``fast_batch_size``, chosen
    #: per model on the post's split.
    fast_learning_rate: ClassVar[float] = 1e-3
    fast_batch_size: ClassVar[int] = 4096
    fast_max_epochs: ClassVar[int] = 30
    #: Whether ``jit_compile="auto"`` may XLA-compile the train step on a CPU.
    cpu_jit: ClassVar[bool] = True
    # Fast schedule: learning-rate cut after an epoch without a validation MSE better by
    # _min_delta (in squared standardised units: times s^2 in ratings), and the most steps
    # per epoch before the batch grows.
    _lr_decay: ClassVar[float] = 0.3
    _min_delta: ClassVar[float] = 1e-4
    _max_steps_per_epoch: ClassVar[int] = 512

    def __init__(
        self,
        n_factors: int = 50,
        reg: float = 1e-4,
        schedule: str = "fast",
        batch_size: int | None = None,
        learning_rate: float | None = None,
        max_epochs: int | None = None,
        patience: int = 2,
        validation_size: float = 0.05,
        seed: int = 0,
        deterministic: bool = True,
        jit_compile: bool | str = "auto",
        show_progress: bool = False,
    ):
        missing = self.missing_dependency()
        if missing is not None:
            raise ImportError(f"{type(self).__name__}: {missing}")
        self._store_params(locals())

    @classmethod
    def missing_dependency(cls) -> str | None:
        """``None`` when Keras and the package of its backend can be imported (checked
        without importing them); else what to install, or for a backend the models do not
        train on, what to set (:func:`fastrec.models.keras.backend.missing_dependency`)."""
        return backend.missing_dependency()

    @classmethod
    def keras_module(cls):
        """The ``keras`` module, imported on its backend as ``fit`` imports it (used by
        :func:`fastrec.load_model` to load a saved network)."""
        return backend.keras_module()

    def _check_params(self) -> None:
        who = type(self).__name__
        if self.validation_size >= 1:
            raise ValueError(
                f"{who}: validation_size must be a share strictly between 0 and 1, "
                f"got {self.validation_size!r}"
            )
        if self.schedule == "post":
            for name in ("learning_rate", "max_epochs"):
                if getattr(self, name) is not None:
                    raise ValueError(
                        f"{who}: {name}={getattr(self, name)!r} applies to schedule='fast'; "
                        "schedule='post' replays the post's own epochs and learning rates"
                    )

    # ----------------------------------------------------------- fitting
    def _fallback_model(self) -> Recommender:
        return Bias()

    def _fit(self, train: Ratings) -> None:
        n, k = len(train), int(self.n_factors)
        n_weights = (train.n_users + train.n_items) * (k + 1)
        # Copies of the codes and ratings (ours and Keras' tensors), the permutation, and per
        # weight: the weights, Adam's two moments, the dense gradient and XLA temporaries.
        require(
            64 * n + 32 * n_weights,
            f"{type(self).__name__} on {n:,} ratings with {n_weights:,} weights",
            "train on fewer ratings or use a smaller n_factors",
        )
        tf, keras = backend.import_keras()
        self.backend_ = keras.backend.backend()
        users, items, ratings = train.user_codes, train.item_codes, train.ratings
        validation = None
        if self.schedule == "fast":
            n_val = max(1, round(self.validation_size * n))
            if n_val >= n:
                raise ValueError(
                    f"validation_size={self.validation_size!r} leaves none of the {n} "
                    "training ratings to train on; use a smaller share or schedule='post'"
                )
            order = np.random.default_rng(self.seed).permutation(n)
            val, rows = order[:n_val], np.sort(order[n_val:])
            del order
            validation = (users[val], items[val], ratings[val])
            users, items, ratings = users[rows], items[rows], ratings[rows]
            del val, rows
        self.user_trained_ = np.bincount(users, minlength=train.n_users) > 0
        self.item_trained_ = np.bincount(items, minlength=train.n_items) > 0
        if self.schedule == "fast":  # standardised: rating = mu + s * z (see the class)
            self.output_offset_ = float(ratings.mean())
            self.output_scale_ = rating_spread(ratings)
        else:  # the post's replay: the raw ratings
            self.output_offset_, self.output_scale_ = 0.0, 1.0
        # The network's targets, float32: z, or for the post's replay the ratings.
        ratings = ((ratings - self.output_offset_) / self.output_scale_).astype(np.float32)

        t0 = time.perf_counter()
        self.history_ = {}
        with backend.seeded(keras, int(self.seed), bool(self.deterministic)):
            network = self._build(keras, train.n_users, train.n_items)
            if self.schedule == "post":
                self._fit_post(keras, network, users, items, ratings)
            else:
                jit = backend.resolve_jit(
                    tf, self.jit_compile, self.cpu_jit, (train.n_users + train.n_items) * k
                )
                self._fit_fast(keras, network, users, items, ratings, validation, jit)
        self.jit_compile_ = bool(network.jit_compile)
        self.keras_model_ = self._to_ratings(keras, network)
        self._take_weights(network)
        log.info(
            "%s: %d epochs (kept epoch %d) on %d ratings, batch %d, in %.2fs",
            self.name,
            len(self.history_["loss"]),
            self.best_epoch_,
            len(ratings),
            self.batch_size_,
            time.perf_counter() - t0,
        )

    def _fit_post(self, keras, network, users, items, ratings) -> None:
        self.batch_size_ = 64 if self.batch_size is None else int(self.batch_size)
        callback = epoch_callback(
            keras,
            self.history_,
            name=self.name,
            total_epochs=sum(n_epochs for n_epochs, _ in self.post_schedule),
            show_progress=bool(self.show_progress),
        )
        self.learning_rate_, self.best_epoch_ = fit_post(
            keras,
            network,
            users,
            items,
            ratings,
            schedule=self.post_schedule,
            batch_size=self.batch_size_,
            callback=callback,
        )

    def _fit_fast(self, keras, network, users, items, ratings, validation, jit) -> None:
        self.batch_size_ = fast_batch(
            len(ratings), self.batch_size, self.fast_batch_size, self._max_steps_per_epoch
        )
        if self.learning_rate is None:
            scale = math.sqrt(self.batch_size_ / self.fast_batch_size)
            self.learning_rate_ = self.fast_learning_rate * scale
        else:
            self.learning_rate_ = float(self.learning_rate)
        max_epochs = self.fast_max_epochs if self.max_epochs is None else int(self.max_epochs)

        def validate() -> float:
            # The validation slice scored with the network's current weights, exactly as
            # predict would score it (fallbacks, clipping).
            val_users, val_items, truth = validation
            self._take_weights(network)
            self._prepare_scorer()
            pred, _ = self._predict_codes(val_users, val_items)
            return float(np.mean(np.square(pred - truth)))

        callback = epoch_callback(
            keras,
            self.history_,
            name=self.name,
            total_epochs=max_epochs,
            show_progress=bool(self.show_progress),
            validate=validate,
            patience=int(self.patience),
            decay=self._lr_decay,
            min_delta=self._min_delta * self.output_scale_**2,  # in rating units
        )
        self.best_epoch_ = fit_fast(
            keras,
            network,
            users,
            items,
            ratings,
            batch_size=self.batch_size_,
            learning_rate=self.learning_rate_,
            max_epochs=max_epochs,
            jit_compile=jit,
            callback=callback,
        )

    def _rebuild(self) -> None:
        """``n_epochs_`` and the scorer's precomputed arrays, from the fitted state; the
        tables are checked against the id maps."""
        n_users, n_items = len(self.user_index_), len(self.item_index_)
        if (
            self.user_factors_.shape[0] != n_users
            or self.item_factors_.shape[0] != n_items
            or self.user_factors_.shape[1:] != self.item_factors_.shape[1:]
            or self.user_trained_.shape != (n_users,)
            or self.item_trained_.shape != (n_items,)
        ):
            raise ValueError(
                f"{type(self).__name__}: embedding tables {self.user_factors_.shape}, "
                f"{self.item_factors_.shape} do not fit {n_users} users and {n_items} items"
            )
        self.n_epochs_ = len(self.history_["loss"])
        self._prepare_scorer()

    # -------------------------------------------------- model-specific
    def _build(self, keras, n_users: int, n_items: int):
        """The Keras network that is trained (on ``z`` for the fast schedule); its initial
        weights are Keras' defaults for the post's schedule, and for the fast one such that
        the output starts near 0 (``z`` at the mean rating)."""
        raise NotImplementedError

    def _to_ratings(self, keras, network):
        """``keras_model_``: for the fast schedule, ``network`` (trained on ``z``) followed
        by the ``to_ratings`` layer, ``output_offset_ + output_scale_ * z``, sharing its
        layers and compiled with its optimizer and a loss that weights the squared error by
        ``1 / s^2`` (further training on ratings meets the same objective); for the post's
        schedule ``network`` itself."""
        if self.schedule == "post":
            return network
        out = keras.layers.Rescaling(
            scale=self.output_scale_, offset=self.output_offset_, name="to_ratings"
        )(network.outputs[0])
        rated = keras.Model(network.inputs, out, name=network.name)
        rated.compile(
            optimizer=network.optimizer,
            loss="mse",
            loss_weights=1.0 / self.output_scale_**2,
            jit_compile=network.jit_compile,
        )
        return rated

    def _take_weights(self, network) -> None:
        """Copy the network's weights into the numpy attributes ``_score`` reads."""
        raise NotImplementedError

    def _prepare_scorer(self) -> None:
        """Precompute what ``_score`` needs beyond the copied weights (default: nothing)."""

    def _score(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The network's output at trained code pairs, float32[n], unclipped (``to_ratings``
        included)."""
        raise NotImplementedError

    def _embeddings(self, keras, n_users: int, n_items: int, init="uniform"):
        """The two inputs (int32 codes, shape ``(batch,)``) and their ``k``-wide embeddings,
        ``(batch, k)`` each, penalised by ``reg * sum(W**2)`` per table."""
        reg = keras.regularizers.L2(float(self.reg)) if self.reg else None
        k = int(self.n_factors)
        user_in = keras.Input(shape=(), dtype="int32", name="user")
        item_in = keras.Input(shape=(), dtype="int32", name="item")
        p = keras.layers.Embedding(
            n_users, k, embeddings_initializer=init, embeddings_regularizer=reg, name="user_factors"
        )
        q = keras.layers.Embedding(
            n_items, k, embeddings_initializer=init, embeddings_regularizer=reg, name="item_factors"
        )
        return user_in, item_in, p(user_in), q(item_in)

    def _take_factors(self, network) -> None:
        self.user_factors_ = network.get_layer("user_factors").get_weights()[0]
        self.item_factors_ = network.get_layer("item_factors").get_weights()[0]

    # -------------------------------------------------------- predicting
    def _predict(self, users, items):
        """The network's output (clipped) at the pairs whose user and item both have a
        trained embedding; NaN at the others (``fell_back``), which ``fallback_`` answers."""
        trained = (users >= 0) & (items >= 0)
        trained[trained] = self.user_trained_[users[trained]] & self.item_trained_[items[trained]]
        pred = np.full(len(users), np.nan)
        rows = np.flatnonzero(trained)
        for lo in range(0, len(rows), _PREDICT_CHUNK):
            r = rows[lo : lo + _PREDICT_CHUNK]
            pred[r] = self._score(users[r], items[r])
        return self._clip(pred), ~trained

    # --------------------------------------------------------- recommend
    def _factor_scorer(self):
        """The block scorer of the trained pairs (the unclipped network output), or
        ``None``: :meth:`Recommender._block_scorer`'s ``predict`` at every pair."""
        return None

    def _block_scorer(self):
        """recommend_all: the model's ``_factor_scorer``, with the fallback's unclipped
        ``mu + b_u + b_i`` put in the columns of items and the rows of users that have no
        trained embedding, as ``predict`` does."""
        inner = self._factor_scorer()
        if inner is None:
            return super()._block_scorer()
        untrained = np.flatnonzero(~self.item_trained_ & (self.item_n_train_ > 0))
        bias = self.fallback_

        def score(users, lo, hi):
            out = inner(users, lo, hi)
            cols = untrained[(untrained >= lo) & (untrained < hi)]
            if len(cols):
                out[:, cols - lo] = bias.biases_at(
                    np.repeat(users, len(cols)), np.tile(cols, len(users))
                ).reshape(len(users), len(cols))
            rows = np.flatnonzero(~self.user_trained_[users])
            if len(rows):
                items = np.arange(lo, hi, dtype=np.int32)
                out[rows] = bias.biases_at(
                    np.repeat(users[rows], hi - lo), np.tile(items, len(rows))
                ).reshape(len(rows), hi - lo)
            return out

        return score
