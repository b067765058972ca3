"""Biased matrix factorization by stochastic gradient descent (Funk SVD, Koren's biased MF,
Surprise's ``SVD``), in float32 Numba kernels, on both cores, deterministic by ``seed``."""

from __future__ import annotations

import logging
import math
import time
from contextlib import contextmanager

import numba
import numpy as np

from ..data import Ratings
from ..kernels.factors import arrange_blocks, predict_biased_at, sgd_epoch
from ..memory import require
from .base import Recommender
from .baselines import Bias

log = logging.getLogger(__name__)

#: Auto ``n_blocks``: about this many bytes of user plus item factors per block (one core's
#: L2 cache), at least ``_MIN_BLOCKS`` and at most ``_MAX_BLOCKS`` blocks per side.
_BLOCK_BYTES = 1 << 20
_MIN_BLOCKS = 4
_MAX_BLOCKS = 64

#: Below this many ratings (or pairs to predict), kernels run on one thread unless ``n_threads``
#: says otherwise: the work is too small to pay for waking threads, and on a busy machine a
#: descheduled thread stalls every parallel step.
PARALLEL_MIN = 250_000


class BiasedMF(Recommender):
    """Biased matrix factorization (Funk 2006; Koren, Bell & Volinsky 2009), trained by SGD.

    ``pred(u, i) = clip(mu + b_u + b_i + p_u . q_i)`` to the range of the training ratings,
    with ``mu`` the global training mean and ``p_u``, ``q_i`` vectors of ``n_factors``. The
    biases and factors minimise

        ``sum_(u,i) (r_ui - mu - b_u - b_i - p_u . q_i)^2
        + reg_bias (b_u^2 + b_i^2) + reg (|p_u|^2 + |q_i|^2)``

    by ``n_epochs`` passes of stochastic gradient descent in a shuffled order; per rating, with
    ``e = r_ui - (mu + b_u + b_i + p_u . q_i)`` (the factor updates use the values from before
    this rating; the same rules as Surprise's ``SVD``)::

        b_u += lr * (e - reg_bias * b_u)        p_u += lr * (e * q_i - reg * p_u)
        b_i += lr * (e - reg_bias * b_i)        q_i += lr * (e * p_u - reg * q_i)

    Biases start at 0, factors at ``N(0, init_std^2)``; everything is float32.

    Parallel and deterministic: users and items are dealt at random (by ``seed``) into
    ``n_blocks`` groups each; the ratings, shuffled once, are arranged into the
    ``n_blocks x n_blocks`` blocks of (user group, item group). An epoch runs ``n_blocks``
    strata in a shuffled order; a stratum is ``n_blocks`` blocks that share no user and no
    item, which run on parallel threads without locks (DSGD, Gemulla et al. 2011). Unlike a
    lock-free Hogwild scheme, no two threads ever update the same row, so the result is
    the same on any number of threads and from run to run, and equals running the blocks
    one after another (see :func:`fastrec.kernels.factors.sgd_epoch`). Blocks also keep a
    thread's factors small enough to stay in cache.

    Fallback: a pair whose user or item has no training rating gets
    :class:`~fastrec.models.baselines.Bias` (damped ``mu + b_u + b_i``, the missing side's
    bias 0), counted in ``n_fallback_``.

    Parameters
    ----------
    n_factors : int, default 50
    n_epochs : int, default 20
    lr : float, default 0.02
        Learning rate of every update.
    reg : float, default 0.08
        L2 regularization of the factors.
    reg_bias : float or None, default None
        L2 regularization of the biases; ``None``: the same as ``reg``.
    init_std : float, default 0.05
        Standard deviation of the initial factors.
    n_blocks : int or None, default None
        Groups of users (and of items) of the stratified schedule; ``None`` picks it from the
        data (about 1 MiB of factors per block, 4 to 64 groups). Part of the result (it sets
        the order of updates); the number of threads is not.
    seed : int, default 0
        Seeds the groups, the shuffle, the strata order and the initial factors.
    n_threads : int or None, default None
        Threads of the SGD and prediction kernels; ``None``: ``numba.get_num_threads()``
        from 250,000 ratings (or pairs) up, one below. Never changes the result.
    show_progress : bool, default False
        Log each epoch's training RMSE at INFO level and show a tqdm bar.

    The defaults are one setting for every data set (chosen on the post's split, ml-100k's
    five folds and ml-latest-small 2018; not per data set): Surprise's defaults are
    ``n_factors=100, n_epochs=20, lr=0.005, reg=0.02, init_std=0.1``.

    Attributes (after ``fit``)
    --------------------------
    user_factors_ : float32[n_users, n_factors], item_factors_ : float32[n_items, n_factors]
    user_bias_ : float32[n_users], item_bias_ : float32[n_items]
    train_rmse_ : list of float
        Per epoch, the RMSE of the training errors seen during the epoch (each before its
        update).
    epoch_seconds_ : list of float, wall time of each epoch
    n_blocks_ : int, the number of groups used
    fallback_ : the fitted :class:`Bias`
    """

    def __init__(
        self,
        n_factors: int = 50,
        n_epochs: int = 20,
        lr: float = 0.02,
        reg: float = 0.08,
        reg_bias: float | None = None,
        init_std: float = 0.05,
        n_blocks: int | None = None,
        seed: int = 0,
        n_threads: int | None = None,
        show_progress: bool = False,
    ):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr = lr
        self.reg = reg
        self.reg_bias = reg_bias
        self.init_std = init_std
        self.n_blocks = n_blocks
        self.seed = seed
        self.n_threads = n_threads
        self.show_progress = show_progress

    # ---------------------------------------------------------------- fit
    def _check_params(self) -> None:
        _check_int(self, "n_factors", 1)
        _check_int(self, "n_epochs", 1)
        _check_float(self, "lr", positive=True)
        _check_float(self, "reg")
        if self.reg_bias is not None:
            _check_float(self, "reg_bias")
        _check_float(self, "init_std")
        if self.n_blocks is not None:
            _check_int(self, "n_blocks", 1)
        _check_int(self, "seed", 0)
        if self.n_threads is not None:
            _check_int(self, "n_threads", 1)

    def _auto_blocks(self, train: Ratings) -> int:
        factor_bytes = (train.n_users + train.n_items) * self.n_factors * 4
        return int(min(_MAX_BLOCKS, max(_MIN_BLOCKS, math.ceil(factor_bytes / _BLOCK_BYTES))))

    def _fit(self, train: Ratings) -> None:
        self._check_params()
        with numba_threads(self.n_threads, len(train)):
            self._fit_sgd(train)

    def _fit_sgd(self, train: Ratings) -> None:
        n, k = len(train), int(self.n_factors)
        n_users, n_items = train.n_users, train.n_items
        # factors + biases, the arranged copy (int32, int32, float32), the shuffle (int64)
        require(
            (n_users + n_items) * (k + 1) * 4 + n * (12 + 8),
            f"BiasedMF(n_factors={k}) on {n:,} ratings",
            "use fewer n_factors or a sample of the ratings",
        )
        t0 = time.perf_counter()
        self.fallback_ = Bias().fit(train)
        rng = np.random.default_rng(int(self.seed))
        n_blocks = int(self.n_blocks) if self.n_blocks is not None else self._auto_blocks(train)
        self.n_blocks_ = n_blocks
        user_group = (rng.permutation(n_users) % n_blocks).astype(np.int32)
        item_group = (rng.permutation(n_items) % n_blocks).astype(np.int32)
        block_ptr, users, items, ratings = arrange_blocks(
            train.user_codes,
            train.item_codes,
            train.ratings,
            rng.permutation(n),
            user_group,
            item_group,
            n_blocks,
        )
        std = float(self.init_std)
        self.user_factors_ = rng.normal(0.0, std, (n_users, k)).astype(np.float32)
        self.item_factors_ = rng.normal(0.0, std, (n_items, k)).astype(np.float32)
        self.user_bias_ = np.zeros(n_users, dtype=np.float32)
        self.item_bias_ = np.zeros(n_items, dtype=np.float32)
        mu = np.float32(self.global_mean_)
        lr, reg = np.float32(self.lr), np.float32(self.reg)
        reg_bias = np.float32(self.reg if self.reg_bias is None else self.reg_bias)
        log.debug("BiasedMF: %d x %d blocks arranged in %.2fs", n_blocks, n_blocks, _since(t0))

        self.train_rmse_, self.epoch_seconds_ = [], []
        epochs = range(int(self.n_epochs))
        bar = None
        if self.show_progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=int(self.n_epochs), desc="BiasedMF", unit="epoch")
        for epoch in epochs:
            t1 = time.perf_counter()
            sse = sgd_epoch(
                block_ptr,
                rng.permutation(n_blocks),
                n_blocks,
                users,
                items,
                ratings,
                mu,
                self.user_bias_,
                self.item_bias_,
                self.user_factors_,
                self.item_factors_,
                lr,
                reg,
                reg_bias,
            )
            train_rmse = math.sqrt(sse / n)
            self.train_rmse_.append(train_rmse)
            self.epoch_seconds_.append(_since(t1))
            if self.show_progress:
                log.info(
                    "BiasedMF epoch %d/%d: train RMSE %.5f (%.2fs)",
                    epoch + 1,
                    self.n_epochs,
                    train_rmse,
                    _since(t1),
                )
                bar.set_postfix(train_rmse=f"{train_rmse:.4f}")
                bar.update()
        if bar is not None:
            bar.close()
        if not np.isfinite(self.train_rmse_[-1]):
            raise ValueError(
                f"BiasedMF diverged (training RMSE {self.train_rmse_[-1]}); use a smaller lr "
                f"than {self.lr!r}"
            )
        log.debug("BiasedMF: fitted in %.2fs", _since(t0))

    # ------------------------------------------------------------ predict
    def _predict(self, users, items):
        pred = np.empty(len(users), dtype=np.float64)
        with numba_threads(self.n_threads, len(users)):
            predict_biased_at(
                users,
                items,
                float(self.global_mean_),
                self.user_bias_,
                self.item_bias_,
                self.user_factors_,
                self.item_factors_,
                pred,
            )
        fell_back = (users < 0) | (items < 0)
        if fell_back.any():
            pred[fell_back] = self.fallback_.biases_at(users[fell_back], items[fell_back])
        return self._clip(pred), fell_back

    # ---------------------------------------------------------- recommend
    _score_bytes = 8

    def _block_scorer(self):
        """recommend_all: ``b_i + p_u . q_i`` (the prediction less ``mu + b_u``), one float64
        matrix product per block of users."""
        return factor_block_scorer(self.user_factors_, self.item_factors_, self.item_bias_)


# ------------------------------------------------------------------ helpers (shared with svd.py)
def factor_block_scorer(user_factors, item_factors, item_bias=None, user_bias=None, dtype=None):
    """A block scorer for :meth:`Recommender.recommend_all` (see ``_block_scorer``):
    ``score(users, lo, hi) = P[users] @ Q[lo:hi].T (+ b_i) (+ b_u)``, ``[len(users), hi - lo]``,
    one BLAS matrix product (the biases ride along as extra columns of ones and biases).

    ``P``: float[n_users, k], ``Q``: float[n_items, k], biases float[n]. ``dtype`` (default
    float64): float64 agrees with the models' float64 prediction kernels to rounding (about
    1e-15), so items rank as ``predict`` ranks them; float32 is about twice as fast and
    rounds to about 1e-7. The result is the scorer's own buffer, reused by the next call.
    """
    dtype = np.dtype(np.float64 if dtype is None else dtype)
    n_items = item_factors.shape[0]
    item_cols = [item_factors]
    if item_bias is not None:
        item_cols.append(np.asarray(item_bias)[:, None])
    if user_bias is not None:
        item_cols.append(np.ones((n_items, 1)))
    items = np.ascontiguousarray(np.hstack(item_cols), dtype=dtype)
    buffer = {}

    def score(users, lo, hi):
        last = buffer.get("users")
        if last is None or not np.array_equal(last, users):  # a new block (tiles share it)
            cols = [user_factors[users]]
            if item_bias is not None:
                cols.append(np.ones((len(users), 1)))
            if user_bias is not None:
                cols.append(np.asarray(user_bias)[users][:, None])
            block = np.hstack(cols, dtype=dtype) if len(cols) > 1 else cols[0].astype(dtype)
            buffer["users"], buffer["block"] = users.copy(), block
        size = len(users) * (hi - lo)
        if buffer.get("out") is None or buffer["out"].size < size:
            buffer["out"] = np.empty(size, dtype=dtype)
        out = buffer["out"][:size].reshape(len(users), hi - lo)
        return np.matmul(buffer["block"], items[lo:hi].T, out=out)

    return score


@contextmanager
def numba_threads(n_threads: int | None, n_work: int):
    """Run the block's Numba kernels on ``n_threads`` threads (``None``: as many as
    ``numba.get_num_threads()`` for ``n_work >= PARALLEL_MIN``, else one); the calling
    thread's setting is restored after."""
    old = numba.get_num_threads()
    if n_threads is None:
        n_threads = old if n_work >= PARALLEL_MIN else 1
    numba.set_num_threads(max(1, min(int(n_threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(old)


def _check_int(model, name: str, minimum: int) -> None:
    value = getattr(model, name)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _check_float(model, name: str, *, positive: bool = False) -> None:
    value = getattr(model, name)
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok:
        ok = bool(np.isfinite(value)) and (value > 0 if positive else value >= 0)
    if not ok:
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")


def _since(t0: float) -> float:
    return time.perf_counter() - t0
