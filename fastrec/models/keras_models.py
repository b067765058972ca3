"""The blog post's three Keras models: ``DotProduct``, ``DotProductBias``, ``NeuralNet``.

Keras 3 on TensorFlow is the optional extra ``keras`` (``pip install "fastrec[keras]"``).
This module imports nothing of it at import time (only inside ``fit``), so ``import fastrec``
stays light; :meth:`KerasRecommender.missing_dependency` says what to install without
importing it.

Backends: TensorFlow is the default (and what CI tests most): fastrec sets
``KERAS_BACKEND=tensorflow`` when it imports Keras, unless ``KERAS_BACKEND`` is already set.
Set ``KERAS_BACKEND=jax`` (needs ``keras`` and ``jax``; ``jax[cuda13]`` for a GPU) or
``KERAS_BACKEND=torch`` (``keras`` and ``torch``) before Keras is first imported in the
process to train on that backend instead: the same networks, schedules, early stopping,
progress lines, ``.keras`` saving and numpy predictions. The backend used is ``backend_``.
Keras' other backends (``numpy``, ``openvino``) cannot train and are refused.

The architectures are the post's (the fast.ai lesson-4 models it adapts), with ``k = 50``:

- ``DotProduct``: ``pred(u, i) = p_u . q_i`` with embeddings ``P`` (``n_users x k``) and
  ``Q`` (``n_items x k``), each with the L2 penalty ``reg * sum(W**2)`` over the whole table
  (``reg = 1e-4``) added to every batch's mean squared error, as Keras does for an
  ``embeddings_regularizer``.
- ``DotProductBias``: ``pred(u, i) = p_u . q_i + b_u + b_i`` with two 1-wide bias
  embeddings (not penalised, as in the post).
- ``NeuralNet``: ``pred(u, i) = w2 . relu(W1^T [p_u, q_i] + c1) + c2``: the concatenated
  embeddings -> Dropout(0.25) -> Dense(64, relu) -> Dropout(0.75) -> Dense(1).

All three: Adam, mean squared error, embedding tables over every code of the training id
maps (``train.n_users``, ``train.n_items``: a split shares the id maps of the whole file).

Two training schedules:

- ``schedule="post"`` replays the post: all the training ratings, batch 64, Keras' default
  initial weights and the post's (epochs, learning rate) sequence: ``DotProduct`` 2 at 1e-3,
  3 at 1e-2, 8 at 1e-3; ``DotProductBias`` 2, 6, 15 at the same rates; ``NeuralNet`` 6 at 1e-3.
- ``schedule="fast"`` (the default): a validation slice (``validation_size`` of the TRAIN
  ratings, drawn with ``seed``; never the test set) is held out, and the rest is fed in large
  batches from numpy through Keras' array pipeline (``tf.data``: one shuffled permutation per
  epoch, vectorised gathers, prefetching) to a compiled train step. Adam starts at the
  model's ``fast_learning_rate`` (tuned at batch 4096, scaled by ``sqrt(batch / 4096)``),
  is cut by 0.3 after every epoch whose validation MSE did not improve, and training stops
  after ``patience`` such epochs in a row (at most ``max_epochs``), keeping the weights of
  the best epoch. The output starts at the mean training rating (the network's output bias,
  the item bias, or for ``DotProduct`` factors drawn around ``sqrt(mean / k)``) instead of 0:
  the post's runs spend their first epochs learning that offset.

  On large sets the batch grows so that an epoch has at most 512 steps: every step updates
  every embedding row (the penalty's gradient and Adam's moments are dense), so the number
  of steps, not of ratings, sets the cost (ml-25m: batch 37,888). XLA: Keras compiles
  nothing with XLA while TensorFlow's op determinism is on, so with ``deterministic=True``
  (the default) no train step is XLA-compiled. With ``deterministic=False`` (in a process
  where no fit turned determinism on), on a CPU the train step of ``DotProduct`` and
  ``DotProductBias`` is XLA-compiled when their tables hold 4M weights or more (XLA fuses
  the dense Adam update; on small sets its compile time outweighs the gain, and for
  ``NeuralNet`` XLA on the CPU is several times slower); on a GPU Keras decides. On JAX
  every train step is XLA-compiled (Keras' default there; ``jit_compile=False`` runs it
  eagerly, very slowly); on PyTorch ``"auto"`` runs eagerly and ``True`` uses
  ``torch.compile``.

  The training arrays go from numpy to the network through Keras' own array adapter: on
  TensorFlow a ``tf.data`` pipeline, on JAX and PyTorch batches gathered in numpy (one
  permutation per epoch from numpy's global generator, seeded by ``fit``).

Fallback: a user or item without a training rating (code ``-1``), or whose ratings all went
to the validation slice, has no trained embedding; such pairs are predicted by
:class:`~fastrec.models.baselines.Bias` (``mu + b_u + b_i``) fitted on the same training set,
and counted in ``n_fallback_`` / ``coverage_``. Every prediction is clipped to the range of
the training ratings.

Prediction does not call Keras or its backend: the trained weights are copied into numpy
arrays (``user_factors_``, ``item_factors_``, ...) and the formula above is evaluated in float32
chunks, which gives Keras' own outputs (to float32 rounding) without its per-call overhead.

Determinism: ``fit`` calls ``keras.utils.set_random_seed(seed)`` (Python, numpy, the
backend's and Keras' own seeds: initial weights, dropout, shuffling; the validation slice is
drawn with numpy from ``seed``; where TensorFlow is installed Keras imports it for its seed
even on another backend). The Python and numpy global random states are restored after
``fit``. What else holds, per backend, with ``deterministic=True`` (the default):

- TensorFlow: ``fit`` also turns on ``tf.config.experimental.enable_op_determinism()``, so
  the same seed gives the same predictions on the CPU (tested) and, as TensorFlow documents
  it, on a GPU (not checked here: no TensorFlow build with CUDA was at hand). Op determinism
  is a process-wide TensorFlow switch and stays on (TensorFlow has no way to turn it off).
  Its cost on the CPU, measured on the post's split: none beyond the noise (see the README;
  the ops these models use are deterministic on the CPU anyway). On a GPU it selects slower
  deterministic kernels for the embedding gradients: pass ``deterministic=False`` there for
  speed.
- JAX: no switch to turn on. On the CPU the same seed gives the same predictions (tested;
  XLA's CPU kernels are deterministic). On a GPU XLA may sum the embedding gradients
  (scatter-adds) with atomics, so two fits are not promised to agree to the last bit;
  ``XLA_FLAGS=--xla_gpu_deterministic_ops=true`` set before JAX starts asks XLA for
  deterministic kernels (a process-wide choice left to the user; fastrec sets no XLA flag).
  ``benchmarks/keras_gpu_check.py`` fits each model twice on the GPU and reports whether
  the predictions agree.
- PyTorch: ``fit`` also turns on ``torch.use_deterministic_algorithms(True,
  warn_only=True)`` (process-wide, left on, as TensorFlow's); on the CPU these models' ops
  are deterministic. On a GPU, cuBLAS is deterministic only with
  ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` set before CUDA starts (otherwise PyTorch warns).

``deterministic=False`` turns no switch on, on any backend; the seeding stays.

The code pins no device: on a machine with a GPU, the backend (TensorFlow, JAX with its
CUDA plugin, PyTorch with CUDA) places the model on it.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import random
import sys
import time
from contextlib import contextmanager

import numpy as np

from ..data import Ratings
from ..kernels.recommend import score_relu_block
from ..memory import require
from .base import Recommender
from .baselines import Bias
from .mf import factor_block_scorer

log = logging.getLogger(__name__)

#: What to install for the Keras models on the default backend, TensorFlow.
INSTALL_NOTE = 'TensorFlow is not installed; install the Keras extra: pip install "fastrec[keras]"'

#: The Keras backends the models train on, each with the package it needs besides Keras.
BACKENDS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
#: The backend used when ``KERAS_BACKEND`` is not set before Keras is imported.
DEFAULT_BACKEND = "tensorflow"
# What pip installs for each missing package.
_PIP_NAMES = {"keras": '"keras>=3.11"', "tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}

SCHEDULES = ("fast", "post")

# Predictions are computed in chunks of this many pairs (float32 gathers of 2 x k values each).
_PREDICT_CHUNK = 1 << 18
# On a CPU, XLA-compile the train step of the dot-product models from this many weights on.
_CPU_JIT_MIN_WEIGHTS = 1 << 22


def keras_backend() -> str:
    """The Keras backend the models will use, found without importing Keras: the running
    Keras' own when it is imported already, else ``KERAS_BACKEND``, else ``"tensorflow"``
    (set as ``KERAS_BACKEND`` when fastrec imports Keras, so that a ``keras.json`` naming
    another backend does not apply)."""
    keras = sys.modules.get("keras")
    if keras is not None:
        try:
            return keras.backend.backend()
        except AttributeError:  # a partly imported or stubbed Keras
            pass
    return os.environ.get("KERAS_BACKEND") or DEFAULT_BACKEND


def _import_keras():
    """Import Keras 3 (quietly) on its chosen backend, and TensorFlow where that backend is
    TensorFlow: ``(tf or None, keras)``; ImportError with the install line when a package is
    missing or the backend is not one the models train on."""
    missing = KerasRecommender.missing_dependency()
    if missing is not None:
        raise ImportError(missing)
    # TensorFlow's C++ log, read when it is first imported; the caller's own setting wins.
    # Level 3 (errors hidden too): TF 2.21's tf.data logs a spurious "NodeDef mentions
    # attribute use_unbounded_threadpool" ERROR on every process's first fit, and a real
    # failure raises a Python exception anyway.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "keras" not in sys.modules and not os.environ.get("KERAS_BACKEND"):
        os.environ["KERAS_BACKEND"] = DEFAULT_BACKEND
    import keras

    backend = keras.backend.backend()
    if backend not in BACKENDS:
        raise ImportError(_backend_note(backend))
    if backend != "tensorflow":
        return None, keras
    import tensorflow as tf

    return tf, keras


def _backend_note(backend: str) -> str:
    return (
        "fastrec's Keras models train on Keras' TensorFlow, JAX or PyTorch backend "
        f"(KERAS_BACKEND={', '.join(BACKENDS)}), not on {backend!r}; set KERAS_BACKEND "
        "before Keras is first imported"
    )


def _findable(name: str) -> bool:
    """Whether the top-level package ``name`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@contextmanager
def _seeded(keras, seed: int, deterministic: bool):
    """Seed Python, numpy, the backend and Keras (and, with ``deterministic``, turn on the
    backend's deterministic ops: TensorFlow's op determinism, PyTorch's deterministic
    algorithms; JAX has no such switch); restore Python's and numpy's state after."""
    # keras.utils.set_random_seed reseeds the legacy global numpy generator: put it back.
    py_state, np_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    try:
        keras.utils.set_random_seed(seed)
        if deterministic:
            backend = keras.backend.backend()
            if backend == "tensorflow":
                import tensorflow as tf

                tf.config.experimental.enable_op_determinism()
            elif backend == "torch":
                import torch

                # warn_only: an op without a deterministic kernel warns instead of failing
                # (cuBLAS wants CUBLAS_WORKSPACE_CONFIG=:4096:8 set before CUDA starts).
                torch.use_deterministic_algorithms(True, warn_only=True)
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)  # noqa: NPY002


class KerasRecommender(Recommender):
    """Shared base of the post's Keras models (see the module docstring for the formulas,
    the two schedules and the fallback).

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
    batch_size : int or None
        ``None``: 64 for ``"post"``; for ``"fast"`` 4096, or ``ceil(n / 512)`` rounded up to
        a multiple of 1024 when that is larger (``n``: ratings trained on).
    learning_rate : float or None
        ``"fast"`` only: Adam's initial rate; ``None``: the model's ``fast_learning_rate``
        times ``sqrt(batch / 4096)``.
    max_epochs : int or None
        ``"fast"`` only: the most epochs to run; ``None``: 30.
    patience : int, default 2
        ``"fast"`` only: stop after this many epochs in a row without a better validation MSE.
    validation_size : float, default 0.05
        ``"fast"`` only: share of the training ratings held out for early stopping.
    seed : int, default 0
        Seeds the initial weights, dropout, the shuffling and the validation slice.
    deterministic : bool, default True
        Turn on the backend's deterministic ops (process-wide): TensorFlow's op
        determinism, PyTorch's deterministic algorithms; JAX has none to turn on (see the
        module docstring for what holds on each backend, CPU and GPU).
    jit_compile : bool or "auto", default "auto"
        Compile the train step (XLA on TensorFlow and JAX, ``torch.compile`` on PyTorch).
        TensorFlow: never while op determinism is on (``True`` then raises a ValueError;
        ``"auto"`` resolves to ``False``); ``"auto"``: on a GPU, Keras' choice; on a CPU,
        only for the dot-product models with 4M embedding weights or more (where it was
        measured to help). JAX and PyTorch: passed to Keras (``"auto"``: compiled on JAX,
        eager on PyTorch). The value used is ``jit_compile_``.
    verbose : bool, default False
        One line per epoch (loss, validation MSE, learning rate, seconds), logged at INFO on
        this module's logger, or written to stderr when logging is not configured.

    Attributes (after ``fit``)
    --------------------------
    backend_ : str
        The Keras backend the network was trained on: ``"tensorflow"``, ``"jax"`` or
        ``"torch"``.
    fallback_ : Bias
        The model of the pairs without a trained embedding.
    user_factors_, item_factors_ : float32[n_users, k], float32[n_items, k]
    user_trained_, item_trained_ : bool[n_users], bool[n_items]
        Codes with at least one rating among those the network trained on.
    history_ : dict[str, list[float]]
        Per epoch: ``loss`` (training MSE plus penalty) and, for ``"fast"``, ``val_mse``.
    epoch_seconds_ : list[float]
        Seconds per epoch (the first includes tracing the train step).
    best_epoch_ : int
        1-based epoch whose weights were kept (the last one for ``"post"``).
    n_epochs_ : int
        Epochs run.
    batch_size_, learning_rate_ : int, float
        The batch and initial learning rate used.
    jit_compile_ : bool
        Whether the train step was compiled.
    keras_model_ : keras.Model
        The trained network.
    """

    #: The post's schedule: (epochs, learning rate) in order, batch 64.
    post_schedule: tuple[tuple[int, float], ...] = ()
    #: The fast schedule's initial Adam learning rate at batch ``fast_batch_size``, chosen
    #: per model on the post's split (see the README).
    fast_learning_rate: float = 1e-3
    fast_batch_size: int = 4096
    fast_max_epochs: int = 30
    #: Whether the train step may be XLA-compiled on a CPU (see ``jit_compile``).
    cpu_jit: bool = True
    # Fast schedule: learning-rate cut after an epoch without a validation MSE better by
    # _min_delta, and the most steps per epoch before the batch grows.
    _lr_decay: float = 0.3
    _min_delta: float = 1e-4
    _max_steps_per_epoch: int = 512

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
        verbose: bool = False,
    ):
        missing = self.missing_dependency()
        if missing is not None:
            raise ImportError(f"{type(self).__name__}: {missing}")
        self.n_factors = n_factors
        self.reg = reg
        self.schedule = schedule
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_size = validation_size
        self.seed = seed
        self.deterministic = deterministic
        self.jit_compile = jit_compile
        self.verbose = verbose

    @classmethod
    def missing_dependency(cls) -> str | None:
        """``None`` when Keras and the package of its backend (:func:`keras_backend`:
        TensorFlow unless ``KERAS_BACKEND`` says ``jax`` or ``torch``) can be imported,
        checked without importing them; else what to install (or, for a backend the models
        do not train on, what to set)."""
        backend = keras_backend()
        if backend not in BACKENDS:
            return _backend_note(backend)
        missing = [name for name in ("keras", BACKENDS[backend]) if not _findable(name)]
        if not missing:
            return None
        if backend == DEFAULT_BACKEND:
            if "tensorflow" in missing:
                return INSTALL_NOTE
            return 'Keras 3 is not installed; install the Keras extra: pip install "fastrec[keras]"'
        return (
            f"Keras' {backend} backend (KERAS_BACKEND={backend}) needs "
            f"{' and '.join(missing)}, not installed: "
            f"pip install {' '.join(_PIP_NAMES[name] for name in missing)}"
        )

    # ------------------------------------------------------------ checks
    def _check_params(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        _check_int("n_factors", self.n_factors, 1)
        if not _is_number(self.reg) or self.reg < 0:
            raise ValueError(f"reg must be a finite number >= 0, got {self.reg!r}")
        if self.batch_size is not None:
            _check_int("batch_size", self.batch_size, 1)
        _check_int("seed", self.seed, 0)
        if self.jit_compile not in (True, False, "auto"):
            raise ValueError(f"jit_compile must be True, False or 'auto', got {self.jit_compile!r}")
        if self.schedule == "post":
            for name in ("learning_rate", "max_epochs"):
                if getattr(self, name) is not None:
                    raise ValueError(
                        f"{name}={getattr(self, name)!r} applies to schedule='fast'; "
                        "schedule='post' replays the post's own epochs and learning rates"
                    )
            return
        if self.learning_rate is not None and (
            not _is_number(self.learning_rate) or self.learning_rate <= 0
        ):
            raise ValueError(f"learning_rate must be a number > 0, got {self.learning_rate!r}")
        if self.max_epochs is not None:
            _check_int("max_epochs", self.max_epochs, 1)
        _check_int("patience", self.patience, 0)
        if not _is_number(self.validation_size) or not 0 < self.validation_size < 1:
            raise ValueError(
                "validation_size must be a share strictly between 0 and 1, "
                f"got {self.validation_size!r}"
            )

    # ----------------------------------------------------------- fitting
    def _fit(self, train: Ratings) -> None:
        self._check_params()
        n, k = len(train), int(self.n_factors)
        n_weights = (train.n_users + train.n_items) * (k + 1)
        # Copies of the codes and ratings (ours and Keras' tensors), the permutation, and per
        # weight: the weights, Adam's two moments, the dense gradient and XLA temporaries.
        require(
            64 * n + 32 * n_weights,
            f"{type(self).__name__} on {n:,} ratings with {n_weights:,} weights",
            "train on fewer ratings or use a smaller n_factors",
        )
        tf, keras = _import_keras()
        self.backend_ = keras.backend.backend()
        self.fallback_ = Bias().fit(train)
        users, items = train.user_codes, train.item_codes
        ratings = train.ratings.astype(np.float32)
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
            validation = ([users[val], items[val]], ratings[val])
            users, items, ratings = users[rows], items[rows], ratings[rows]
            del val, rows
        self.user_trained_ = np.bincount(users, minlength=train.n_users) > 0
        self.item_trained_ = np.bincount(items, minlength=train.n_items) > 0

        t0 = time.perf_counter()
        with _seeded(keras, self.seed, self.deterministic):
            # The fast schedule starts the output at the mean rating; the post's at about 0.
            start = float(ratings.mean()) if self.schedule == "fast" else None
            model = self._build(keras, train.n_users, train.n_items, start)
            if self.schedule == "post":
                self._fit_post(keras, model, users, items, ratings)
            else:
                jit = self._resolve_jit(tf, (train.n_users + train.n_items) * k)
                self._fit_fast(keras, model, users, items, ratings, validation, jit)
        self.n_epochs_ = len(self.history_["loss"])
        self.jit_compile_ = bool(model.jit_compile)
        self.keras_model_ = model
        self._keep_weights(model)
        log.info(
            "%s: %d epochs (kept epoch %d) on %d ratings, batch %d, in %.2fs",
            self.name,
            self.n_epochs_,
            self.best_epoch_,
            len(ratings),
            self.batch_size_,
            time.perf_counter() - t0,
        )

    def _fit_post(self, keras, model, users, items, ratings) -> None:
        self.batch_size_ = 64 if self.batch_size is None else int(self.batch_size)
        self.learning_rate_ = self.post_schedule[0][1]
        optimizer = keras.optimizers.Adam(learning_rate=self.learning_rate_)
        model.compile(optimizer=optimizer, loss="mse")
        self.history_ = {"loss": []}
        epochs = self._epoch_callback(keras)
        done = 0
        for n_epochs, lr in self.post_schedule:
            optimizer.learning_rate.assign(lr)
            _keras_fit(
                model,
                [users, items],
                ratings,
                batch_size=self.batch_size_,
                epochs=done + n_epochs,
                initial_epoch=done,
                shuffle=True,
                verbose=0,
                callbacks=[epochs],
            )
            done += n_epochs
        self.best_epoch_ = done

    def _fit_fast(self, keras, model, users, items, ratings, validation, jit) -> None:
        self.batch_size_ = batch = self._fast_batch(len(ratings))
        self.learning_rate_ = self.learning_rate
        if self.learning_rate_ is None:
            scale = math.sqrt(batch / self.fast_batch_size)
            self.learning_rate_ = self.fast_learning_rate * scale
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=self.learning_rate_),
            loss="mse",
            jit_compile=jit,
        )
        self.history_ = {"loss": [], "val_mse": []}
        epochs = self._epoch_callback(keras, validation)
        _keras_fit(
            model,
            [users, items],
            ratings,
            batch_size=batch,
            epochs=self.fast_max_epochs if self.max_epochs is None else int(self.max_epochs),
            shuffle=True,
            verbose=0,
            callbacks=[epochs],
        )
        self.best_epoch_ = epochs.best_epoch

    def _fast_batch(self, n: int) -> int:
        """The fast schedule's batch for ``n`` ratings (see ``batch_size``)."""
        if self.batch_size is not None:
            return min(int(self.batch_size), n)
        batch = max(self.fast_batch_size, -(-n // self._max_steps_per_epoch))
        return min(-(-batch // 1024) * 1024, n)

    def _resolve_jit(self, tf, n_weights: int) -> bool | str:
        """Whether to XLA-compile the train step (see ``jit_compile``); ``tf`` is None on
        the JAX and PyTorch backends, where ``"auto"`` is Keras' choice (JAX: compiled,
        PyTorch: eager)."""
        if tf is None:
            return self.jit_compile
        from tensorflow.python.framework.config import is_op_determinism_enabled

        if is_op_determinism_enabled():
            # Keras compiles nothing with XLA under op determinism (it would warn and run
            # without); say so plainly where XLA was asked for.
            if self.jit_compile is True:
                raise ValueError(
                    "jit_compile=True cannot take effect: TensorFlow's op determinism is on "
                    "in this process (deterministic=True, in this fit or an earlier one) and "
                    "Keras runs no XLA under it; use deterministic=False in a fresh process"
                )
            return False
        if self.jit_compile != "auto":
            return bool(self.jit_compile)
        if tf.config.list_logical_devices("GPU"):
            return "auto"
        return self.cpu_jit and n_weights >= _CPU_JIT_MIN_WEIGHTS

    def _epoch_callback(self, keras, validation=None):
        """A Keras callback run after each epoch: it appends the epoch's loss to
        ``history_`` and its seconds to ``epoch_seconds_`` and, with ``verbose``, says one
        line about it. With ``validation`` (``([users, items], ratings)``, the fast schedule)
        it also scores the validation slice with the current weights, exactly as ``predict``
        would (fallbacks, clipping), cuts the learning rate after an epoch without a better
        validation MSE, stops after ``patience`` of them in a row, and puts back the weights
        of the best epoch when training ends."""
        self.epoch_seconds_ = []
        owner = self
        patience, decay, min_delta = int(self.patience), self._lr_decay, self._min_delta

        class EpochCallback(keras.callbacks.Callback):
            best_mse, best_epoch, best_weights, wait = math.inf, 0, None, 0

            def on_epoch_begin(self, epoch, logs=None):
                self._t0 = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                owner.history_["loss"].append(float((logs or {}).get("loss", math.nan)))
                lr = self.model.optimizer.learning_rate
                said = ""
                if validation is not None:
                    said = self._validate(epoch, lr)
                owner.epoch_seconds_.append(time.perf_counter() - self._t0)
                if owner.verbose:
                    owner._say(
                        f"{owner.name} epoch {epoch + 1}: loss {owner.history_['loss'][-1]:.4f}"
                        f"{said}, {owner.epoch_seconds_[-1]:.2f}s"
                    )

            def _validate(self, epoch, lr) -> str:
                (users, items), truth = validation
                owner._keep_weights(self.model)
                pred, _ = owner._predict(users, items)
                mse = float(np.mean(np.square(pred - truth)))
                owner.history_["val_mse"].append(mse)
                rate = float(np.asarray(lr))
                if mse < self.best_mse - min_delta:
                    self.best_mse, self.best_epoch, self.wait = mse, epoch + 1, 0
                    self.best_weights = self.model.get_weights()
                else:
                    self.wait += 1
                    lr.assign(rate * decay)
                    if self.wait >= patience:
                        self.model.stop_training = True
                return f", val mse {mse:.4f}, lr {rate:.2g}"

            def on_train_end(self, logs=None):
                if self.best_weights is not None:
                    self.model.set_weights(self.best_weights)

        return EpochCallback()

    def _say(self, line: str) -> None:
        """Log ``line`` at INFO, or write it to stderr when no logging handler is set up."""
        if log.isEnabledFor(logging.INFO) and log.hasHandlers():
            log.info(line)
        else:
            print(line, file=sys.stderr, flush=True)

    # -------------------------------------------------- model-specific
    def _build(self, keras, n_users: int, n_items: int, start: float | None):
        """The Keras model; ``start``: the output to begin at (None: Keras' defaults)."""
        raise NotImplementedError

    def _keep_weights(self, model) -> None:
        """Copy the trained weights into numpy attributes for ``_score``."""
        raise NotImplementedError

    def _score(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The network's output at trained code pairs, float32[n], unclipped."""
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

    def _keep_factors(self, model) -> None:
        self.user_factors_ = model.get_layer("user_factors").get_weights()[0]
        self.item_factors_ = model.get_layer("item_factors").get_weights()[0]

    # -------------------------------------------------------- predicting
    def _predict(self, users, items):
        trained = (users >= 0) & (items >= 0)
        trained[trained] = self.user_trained_[users[trained]] & self.item_trained_[items[trained]]
        pred = self.fallback_.biases_at(users, items)
        rows = np.flatnonzero(trained)
        for lo in range(0, len(rows), _PREDICT_CHUNK):
            r = rows[lo : lo + _PREDICT_CHUNK]
            pred[r] = self._score(users[r], items[r])
        return self._clip(pred), ~trained

    # --------------------------------------------------------- recommend
    def _factor_scorer(self):
        """The dot-product models' block scorer of the trained pairs (their unclipped
        prediction), or ``None`` (``NeuralNet``: the default, ``predict`` per pair)."""
        return None

    def _block_scorer(self):
        """recommend_all: the unclipped prediction by one float32 matrix product per block
        (dot-product models), with :class:`Bias`' ``mu + b_u + b_i`` put in the columns of
        items and the rows of users that have no trained embedding, as ``predict`` does."""
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


class DotProduct(KerasRecommender):
    """The post's "Dot Product": ``pred(u, i) = p_u . q_i``, 50 factors, L2 1e-4.

    ``50 * (n_users + n_items)`` weights. The fast schedule draws the factors uniformly in
    ``sqrt(mean / k) +- 0.05`` (so ``p_u . q_i`` starts near the mean rating) instead of
    Keras' ``+-0.05``. See :class:`KerasRecommender` for the parameters and the module
    docstring for the schedules and the fallback (:class:`~fastrec.models.baselines.Bias`).
    """

    post_label = "Dot Product"
    post_schedule = ((2, 1e-3), (3, 1e-2), (8, 1e-3))
    fast_learning_rate = 1e-3

    def _build(self, keras, n_users, n_items, start):
        init = "uniform"
        if start is not None:
            c = math.sqrt(max(start, 0.0) / int(self.n_factors))
            init = keras.initializers.RandomUniform(c - 0.05, c + 0.05)
        user_in, item_in, p, q = self._embeddings(keras, n_users, n_items, init)
        out = keras.layers.Dot(axes=1, name="dot")([p, q])
        return keras.Model([user_in, item_in], out, name="dot_product")

    def _keep_weights(self, model):
        self._keep_factors(model)

    def _score(self, users, items):
        return np.einsum("ij,ij->i", self.user_factors_[users], self.item_factors_[items])

    _score_bytes = 8

    def _factor_scorer(self):
        return factor_block_scorer(self.user_factors_, self.item_factors_, dtype=np.float32)


class DotProductBias(KerasRecommender):
    """The post's "Dot Product with Bias": ``pred(u, i) = p_u . q_i + b_u + b_i``.

    Factors as :class:`DotProduct` (50, L2 1e-4, Keras' initial ``+-0.05``); the biases are
    1-wide embeddings without a penalty: ``51 * (n_users + n_items)`` weights. The fast
    schedule starts every item bias at the mean training rating. Attributes
    ``user_bias_``, ``item_bias_`` (float32) besides the factors.
    """

    post_label = "Dot Product with Bias"
    post_schedule = ((2, 1e-3), (6, 1e-2), (15, 1e-3))
    fast_learning_rate = 1e-2

    def _build(self, keras, n_users, n_items, start):
        user_in, item_in, p, q = self._embeddings(keras, n_users, n_items)
        b_u = keras.layers.Embedding(n_users, 1, name="user_bias")(user_in)
        init = "uniform" if start is None else keras.initializers.Constant(start)
        b_i = keras.layers.Embedding(n_items, 1, embeddings_initializer=init, name="item_bias")
        dot = keras.layers.Dot(axes=1, name="dot")([p, q])
        out = keras.layers.Add(name="add_biases")([dot, b_u, b_i(item_in)])
        return keras.Model([user_in, item_in], out, name="dot_product_bias")

    def _keep_weights(self, model):
        self._keep_factors(model)
        self.user_bias_ = model.get_layer("user_bias").get_weights()[0][:, 0]
        self.item_bias_ = model.get_layer("item_bias").get_weights()[0][:, 0]

    def _score(self, users, items):
        dot = np.einsum("ij,ij->i", self.user_factors_[users], self.item_factors_[items])
        return dot + self.user_bias_[users] + self.item_bias_[items]

    _score_bytes = 8

    def _factor_scorer(self):
        return factor_block_scorer(
            self.user_factors_, self.item_factors_, self.item_bias_, self.user_bias_, np.float32
        )


class NeuralNet(KerasRecommender):
    """The post's "Neural Network" on the concatenated embeddings.

    ``[p_u, q_i]`` (100 wide) -> Dropout(0.25) -> Dense(64, relu) -> Dropout(0.75) ->
    Dense(1); at prediction (no dropout) ``pred(u, i) = w2 . relu(W1^T [p_u, q_i] + c1) + c2``.
    ``50 * (n_users + n_items) + 100 * 64 + 64 + 64 + 1`` weights. The fast schedule starts
    the output bias ``c2`` at the mean training rating. Attributes ``hidden_kernel_``
    (float32[100, 64]), ``hidden_bias_`` (float32[64]), ``output_kernel_`` (float32[64]),
    ``output_bias_`` besides the factors.
    """

    post_label = "Neural Network"
    post_schedule = ((6, 1e-3),)
    fast_learning_rate = 4e-2
    cpu_jit = False  # measured: XLA on the CPU makes this model's epochs about 8x slower
    hidden = 64
    dropout = (0.25, 0.75)

    def _build(self, keras, n_users, n_items, start):
        user_in, item_in, p, q = self._embeddings(keras, n_users, n_items)
        x = keras.layers.Concatenate(name="concat")([p, q])
        x = keras.layers.Dropout(self.dropout[0], name="dropout_in")(x)
        x = keras.layers.Dense(self.hidden, activation="relu", name="hidden")(x)
        x = keras.layers.Dropout(self.dropout[1], name="dropout_hidden")(x)
        init = "zeros" if start is None else keras.initializers.Constant(start)
        out = keras.layers.Dense(1, bias_initializer=init, name="output")(x)
        return keras.Model([user_in, item_in], out, name="neural_net")

    def _keep_weights(self, model):
        self._keep_factors(model)
        self.hidden_kernel_, self.hidden_bias_ = model.get_layer("hidden").get_weights()
        kernel, bias = model.get_layer("output").get_weights()
        self.output_kernel_, self.output_bias_ = kernel[:, 0], bias[0]
        # W1^T [p_u, q_i] = W1[:k]^T p_u + W1[k:]^T q_i: each half once per user and per item,
        # so that a prediction is two gathers, a sum and a dot product, the same numbers for
        # a pair wherever it stands in the request (a matmul per request would round
        # differently at the edges of its blocks).
        k = self.user_factors_.shape[1]
        self._user_hidden = self.user_factors_ @ self.hidden_kernel_[:k]
        self._item_hidden = self.item_factors_ @ self.hidden_kernel_[k:] + self.hidden_bias_

    def _score(self, users, items):
        h = self._user_hidden[users] + self._item_hidden[items]
        np.maximum(h, 0, out=h)
        return np.einsum("ij,j->i", h, self.output_kernel_) + self.output_bias_

    _score_bytes = 8

    def _factor_scorer(self):
        """The network's output for a block of users x every item, by a parallel Numba kernel
        (:func:`fastrec.kernels.recommend.score_relu_block`): ``64`` multiply-adds per pair,
        no matrix product: about 8x the time of ``DotProduct`` at ml-1m shape."""
        item_hidden = np.ascontiguousarray(self._item_hidden, dtype=np.float32)
        weights = np.ascontiguousarray(self.output_kernel_, dtype=np.float32)
        offset = float(self.output_bias_)

        def score(users, lo, hi):
            out = np.empty((len(users), hi - lo), dtype=np.float32)
            user_hidden = np.ascontiguousarray(self._user_hidden[users], dtype=np.float32)
            score_relu_block(user_hidden, item_hidden[lo:hi], weights, offset, out)
            return out

        return score


def _keras_fit(model, *args, **kwargs) -> None:
    """``model.fit`` without the NumPy 2 deprecation warning Keras 3 raises every epoch."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="__array__ implementation doesn't accept a copy keyword"
        )
        model.fit(*args, **kwargs)


def _is_number(x) -> bool:
    return (
        isinstance(x, (int, float, np.integer, np.floating))
        and not isinstance(x, bool)
        and math.isfinite(x)
    )


def _check_int(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
