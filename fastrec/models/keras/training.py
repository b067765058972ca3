"""The two training schedules of the Keras models and the callback that runs after every
epoch (history, progress, and for the fast schedule validation and early stopping).

- :func:`fit_post` replays the blog post: all the training ratings, batch 64, Keras'
  default initial weights and the model's ``post_schedule`` of (epochs, learning rate).
- :func:`fit_fast`: large batches from numpy through Keras' array pipeline (on TensorFlow
  ``tf.data``: one shuffled permutation per epoch, vectorised gathers, prefetching; on JAX
  and PyTorch batches gathered in numpy, the permutation drawn from numpy's global
  generator, seeded by ``fit``) to a compiled train step; Adam's learning rate is cut by
  ``decay`` after every epoch whose validation MSE did not improve by more than
  ``min_delta``, and training stops after ``patience`` such epochs in a row (at most
  ``max_epochs``), keeping the weights of the best epoch.

Both take a built network and the training arrays (int32 user and item codes, float32
ratings) and fill ``history`` (``dict[str, list[float]]``, one entry per epoch): ``loss``
(training MSE plus penalty), ``seconds`` (wall time; the first includes tracing the train
step) and, for the fast schedule, ``val_mse``.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable

import numpy as np

from .._common import progress_bar

log = logging.getLogger(__name__)

__all__ = ["epoch_callback", "fast_batch", "fit_fast", "fit_post"]


def fast_batch(n: int, batch_size: int | None, base: int = 4096, max_steps: int = 512) -> int:
    """The fast schedule's batch for ``n`` training ratings: ``batch_size`` when given (at
    most ``n``), else ``base``, or ``ceil(n / max_steps)`` rounded up to a multiple of 1024
    when that is larger, at most ``n``.

    Every step updates every embedding row (the penalty's gradient and Adam's moments are
    dense), so the number of steps per epoch, not of ratings, sets an epoch's cost; ml-25m's
    19M training ratings get batch 37,888 (502 steps).
    """
    if batch_size is not None:
        return min(int(batch_size), n)
    batch = max(base, -(-n // max_steps))
    return min(-(-batch // 1024) * 1024, n)


def fit_post(
    keras, network, users, items, ratings, *, schedule, batch_size: int, callback
) -> tuple[float, int]:
    """Train ``network`` on the post's ``schedule`` ((epochs, learning rate), ...) with Adam,
    mean squared error and shuffled batches of ``batch_size``. Returns (initial learning
    rate, epochs run)."""
    learning_rate = schedule[0][1]
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    network.compile(optimizer=optimizer, loss="mse")
    done = 0
    try:
        for n_epochs, lr in schedule:
            optimizer.learning_rate.assign(lr)
            _keras_fit(
                network,
                [users, items],
                ratings,
                batch_size=batch_size,
                epochs=done + n_epochs,
                initial_epoch=done,
                shuffle=True,
                verbose=0,
                callbacks=[callback],
            )
            done += n_epochs
    finally:
        callback.close()
    return learning_rate, done


def fit_fast(
    keras,
    network,
    users,
    items,
    ratings,
    *,
    batch_size: int,
    learning_rate: float,
    max_epochs: int,
    jit_compile: bool | str,
    callback,
) -> int:
    """Train ``network`` with Adam from ``learning_rate``, mean squared error, shuffled
    batches of ``batch_size``, at most ``max_epochs``, early stopping by ``callback`` (made
    with ``validate``, see :func:`epoch_callback`). Returns the 1-based epoch kept."""
    network.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="mse",
        jit_compile=jit_compile,
    )
    try:
        _keras_fit(
            network,
            [users, items],
            ratings,
            batch_size=batch_size,
            epochs=max_epochs,
            shuffle=True,
            verbose=0,
            callbacks=[callback],
        )
    finally:
        callback.close()
    return callback.best_epoch


def epoch_callback(
    keras,
    history: dict[str, list[float]],
    *,
    name: str,
    total_epochs: int,
    show_progress: bool,
    validate: Callable[[], float] | None = None,
    patience: int = 2,
    decay: float = 0.3,
    min_delta: float = 1e-4,
):
    """A Keras callback run after each epoch: it appends the epoch's ``loss`` and
    ``seconds`` to ``history`` and, with ``show_progress``, logs one line about it at INFO
    (loss, validation MSE, learning rate, seconds) and moves a tqdm bar of ``total_epochs``.

    With ``validate`` (the fast schedule: a function that scores the validation slice with
    the network's current weights, exactly as ``predict`` would, and returns its MSE) it
    also appends ``val_mse``, multiplies the learning rate by ``decay`` after an epoch
    whose MSE is not below the best by more than ``min_delta``, stops training after
    ``patience`` of them in a row, and puts back the weights of the best epoch
    (``best_epoch``, 1-based) when training ends. ``close()`` closes the bar.
    """
    history["loss"], history["seconds"] = [], []
    if validate is not None:
        history["val_mse"] = []
    bar = progress_bar(show_progress, total_epochs, name, "epoch")

    class EpochCallback(keras.callbacks.Callback):
        best_mse, best_epoch, best_weights, wait = math.inf, 0, None, 0

        def on_epoch_begin(self, epoch, logs=None):
            self._t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            loss = float((logs or {}).get("loss", math.nan))
            history["loss"].append(loss)
            said = "" if validate is None else self._validate(epoch)
            history["seconds"].append(time.perf_counter() - self._t0)
            if show_progress:
                log.info(
                    "%s epoch %d: loss %.4f%s, %.2fs",
                    name, epoch + 1, loss, said, history["seconds"][-1],
                )  # fmt: skip
                bar.set_postfix_str(f"loss {loss:.4f}{said}")
                bar.update()

        def _validate(self, epoch) -> str:
            lr = self.model.optimizer.learning_rate
            mse = validate()
            history["val_mse"].append(mse)
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

        def close(self) -> None:
            if bar is not None:
                bar.close()

    return EpochCallback()


def _keras_fit(network, *args, **kwargs) -> None:
    """``network.fit`` without the NumPy 2 deprecation warning Keras 3 raises every epoch."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="__array__ implementation doesn't accept a copy keyword"
        )
        network.fit(*args, **kwargs)
