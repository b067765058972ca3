"""Biased matrix factorization by stochastic gradient descent (Funk SVD, Koren's biased MF,
Surprise's ``SVD``), in float32 Numba kernels, on both cores, deterministic by ``seed``."""

from __future__ import annotations

import logging
import math
import time

import numpy as np

from ..data import Ratings
from ..kernels.factors import arrange_blocks, predict_biased_at, rating_order_keys, sgd_epoch
from ..kernels.keyed import keyed_normals, keyed_uniform, pair_keys
from ..keys import id_keys
from ..memory import require
from ._common import TrainingLog, numba_threads, rating_spread
from ._params import SGD_PARAMS, Int, Real
from ._topn import factor_block_scorer
from .base import Recommender
from .baselines import Bias

log = logging.getLogger(__name__)

#: Auto ``n_blocks``: about this many bytes of user plus item factors per block, at least
#: ``_MIN_BLOCKS`` and at most ``_MAX_BLOCKS`` groups per side. 4 MiB, not one core's 1 MiB
#: L2 cache: measured on 2 cores at the synthetic ml-10m and ml-25m shapes, 4 MiB blocks (8
#: and 22 groups) fit faster than 1 MiB blocks (31 and 64 groups), 18-20 s against 23-24 s and
#: 32-55 s against 69-82 s for 40 epochs, at the same RMSE to 0.0002; and fewer strata are
#: fewer Spark stages for :class:`fastrec.spark.BiasedMF`.
_BLOCK_BYTES = 4 << 20
_MIN_BLOCKS = 4
_MAX_BLOCKS = 64


class BiasedMF(Recommender):
    """Biased matrix factorization (Funk 2006; Koren, Bell & Volinsky 2009), trained by SGD.

    ``pred(u, i) = clip(mu + b_u + b_i + p_u . q_i)`` to the range of the training ratings,
    with ``mu`` the global training mean and ``p_u``, ``q_i`` vectors of ``n_factors``.

    Scale-free: the model is fitted to the standardised ratings ``z_ui = (r_ui - mu) / s``
    (``s`` the standard deviation of the training ratings; 1 if they are all equal), so
    ``lr``, ``reg`` and ``init_std`` mean the same on any rating scale, and ratings
    ``a * r + b`` (``a > 0``) give predictions ``a * pred + b`` up to rounding. In those
    units the biases and factors minimise

        ``sum_(u,i) (z_ui - b_u - b_i - p_u . q_i)^2
        + reg_bias (b_u^2 + b_i^2) + reg (|p_u|^2 + |q_i|^2)``

    by ``n_epochs`` passes of stochastic gradient descent in a shuffled order; per rating, with
    ``e = z_ui - (b_u + b_i + p_u . q_i)`` (the factor updates use the values from before
    this rating; the same rules as Surprise's ``SVD``)::

        b_u += lr * (e - reg_bias * b_u)        p_u += lr * (e * q_i - reg * p_u)
        b_i += lr * (e - reg_bias * b_i)        q_i += lr * (e * p_u - reg * q_i)

    Biases start at 0, factors at ``N(0, init_std^2)``; everything is float32. After the
    last epoch the biases are multiplied by ``s`` and the factors by ``sqrt(s)``, so the
    fitted attributes are in rating units and ``pred`` is the formula above.

    Parallel and deterministic: users and items are dealt at random into ``n_blocks`` groups
    each; the ratings are arranged into the ``n_blocks x n_blocks`` blocks of (user group,
    item group), each block in a random order. An epoch runs ``n_blocks`` strata in a
    shuffled order; a stratum is ``n_blocks`` blocks that share no user and no item, which
    run on parallel threads without locks (DSGD, Gemulla et al. 2011). Unlike a
    lock-free Hogwild scheme, no two threads ever update the same row, so the result is
    the same on any number of threads and from run to run, and equals running the blocks
    one after another (see :func:`fastrec.kernels.factors.sgd_epoch`). Blocks also keep a
    thread's factors small enough to stay in cache.

    Keyed by ids: every random choice is a hash of the seed and the raw ids
    (:mod:`fastrec.kernels.keyed`, :func:`fastrec.keys.id_keys`), never of row positions:
    the group of a user (item) is ``floor(n_blocks * u(seed, id))``, a block's ratings are
    in increasing order of a 64-bit hash of ``(seed, user id, item id)``
    (:func:`~fastrec.kernels.factors.rating_order_keys`), and a user's (item's) initial
    factors are ``init_std * keyed_normals(seed, id)``; only the order of the strata comes
    from ``numpy.random.default_rng(seed)`` (``n_blocks`` numbers per epoch). So the same
    ratings give the same model in any row order, with any extra ids in the id maps, and
    :class:`fastrec.spark.BiasedMF` reproduces it on Spark from the ratings alone.

    Fallback: a pair whose user or item has no training rating gets
    :class:`~fastrec.models.baselines.Bias` (damped ``mu + b_u + b_i``, the missing side's
    bias 0), counted as a fallback (:meth:`~fastrec.Recommender.predict_with_fallback`).

    Defaults: one setting for every data set, chosen in standardised units on validation
    slices of the training ratings of four data sets at once (the post's split,
    ml-latest-small 2018, ml-100k's five folds and ml-1m; never on a test set) by
    ``benchmarks/choose_defaults.py``; the procedure and its tables are on the user guide's
    "Choosing the defaults" page. Their mean validation RMSE over ``Bias``'s is 0.9717
    against the old defaults' 0.9820, about 0.004 of it from the smaller initial factors
    (0.01 against 0.05); 200 factors gained less than the 0.001 margin taken as noise.
    Surprise's defaults are ``n_factors=100, n_epochs=20, lr=0.005, reg=0.02,
    init_std=0.1`` (in rating units).

    Parameters
    ----------
    n_factors : int, default 100
    n_epochs : int, default 40
    lr : float, default 0.01
        Learning rate of every update.
    reg : float, default 0.05
        L2 regularization of the factors (in standardised units, as every parameter).
    reg_bias : float or None, default None
        L2 regularization of the biases; ``None``: the same as ``reg``.
    init_std : float, default 0.01
        Standard deviation of the initial factors (standardised units).
    n_blocks : int or None, default None
        Groups of users (and of items) of the stratified schedule; ``None`` picks it from the
        users and items with ratings (about 4 MiB of factors per block, 4 to 64 groups:
        :func:`auto_blocks`). Part of the result (it sets the order of updates); the number
        of threads is not.
    seed : int, default 0
        Seeds the groups, the order within blocks, the strata order and the initial factors.
    n_threads : int or None, default None
        Threads of the SGD and prediction kernels; ``None``: ``numba.get_num_threads()``
        from 250,000 ratings (or pairs) up, one below. Never changes the result.
    show_progress : bool, default False
        Log each epoch's training RMSE at INFO level and show a tqdm bar.

    Attributes
    ----------
    user_factors_ : float32[n_users, n_factors], item_factors_ : float32[n_items, n_factors]
    user_bias_ : float32[n_users], item_bias_ : float32[n_items]
    history_ : dict of lists of float
        Per epoch: ``train_rmse``, the RMSE of the training errors seen during the epoch
        (each before its update), in rating units, and ``seconds``, its wall time.
    n_blocks_ : int, the number of groups used
    fallback_ : the fitted :class:`Bias`
    """

    _parameter_constraints = {
        **SGD_PARAMS,
        "reg_bias": [None, Real(0)],
        "n_blocks": [None, Int(1)],
        "n_threads": [None, Int(1)],
    }
    _fitted_state = (
        "user_factors_", "item_factors_", "user_bias_", "item_bias_", "history_", "n_blocks_",
    )  # fmt: skip

    def __init__(
        self,
        n_factors: int = 100,
        n_epochs: int = 40,
        lr: float = 0.01,
        reg: float = 0.05,
        reg_bias: float | None = None,
        init_std: float = 0.01,
        n_blocks: int | None = None,
        seed: int = 0,
        n_threads: int | None = None,
        show_progress: bool = False,
    ):
        self._store_params(locals())

    # ---------------------------------------------------------------- fit
    def _fallback_model(self) -> Recommender:
        return Bias()

    def _fit(self, train: Ratings) -> None:
        with numba_threads(self.n_threads, len(train)):
            self._fit_sgd(train)

    def _fit_sgd(self, train: Ratings) -> None:
        n, k = len(train), int(self.n_factors)
        n_users, n_items = train.n_users, train.n_items
        # factors + biases + id keys and one side's float64 normals, the standardised ratings
        # (float64), their sort keys (uint64, twice while arranging), the arranged copy
        require(
            (n_users + n_items) * (4 * k + 12) + max(n_users, n_items) * 8 * k + n * (8 + 16 + 12),
            f"BiasedMF(n_factors={k}) on {n:,} ratings",
            "use fewer n_factors or a sample of the ratings",
        )
        t0 = time.perf_counter()
        seed = int(self.seed)
        n_blocks = (
            int(self.n_blocks)
            if self.n_blocks is not None
            else auto_blocks(
                int(np.count_nonzero(train.user_counts())),
                int(np.count_nonzero(train.item_counts())),
                k,
            )
        )
        self.n_blocks_ = n_blocks
        user_keys, item_keys = keys_of(train.user_index), keys_of(train.item_index)
        spread = rating_spread(train.ratings)
        block_ptr, users, items, ratings = arrange_blocks(
            train.user_codes,
            train.item_codes,
            (train.ratings - self.global_mean_) / spread,  # z: mean 0, spread 1
            rating_order_keys(
                stream_seed(seed, "order"), user_keys, item_keys, train.user_codes, train.item_codes
            ),
            keyed_groups(seed, user_keys, n_blocks, "user"),
            keyed_groups(seed, item_keys, n_blocks, "item"),
            n_blocks,
        )
        std = float(self.init_std)
        self.user_factors_ = initial_factors(seed, user_keys, k, std, "user")
        self.item_factors_ = initial_factors(seed, item_keys, k, std, "item")
        del user_keys, item_keys
        self.user_bias_ = np.zeros(n_users, dtype=np.float32)
        self.item_bias_ = np.zeros(n_items, dtype=np.float32)
        mu = np.float32(0.0)  # the mean of z
        lr, reg = np.float32(self.lr), np.float32(self.reg)
        reg_bias = np.float32(self.reg if self.reg_bias is None else self.reg_bias)
        log.debug("BiasedMF: %d x %d blocks arranged in %.2fs", n_blocks, n_blocks, _since(t0))

        training = TrainingLog("BiasedMF", int(self.n_epochs), "epoch", self.show_progress, log)
        for strata in strata_orders(seed, int(self.n_epochs), n_blocks):
            t1 = time.perf_counter()
            sse = sgd_epoch(
                block_ptr,
                strata,
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
            training.record(_since(t1), train_rmse=spread * math.sqrt(sse / n))
        self.history_ = training.close()
        if not np.isfinite(self.history_["train_rmse"][-1]):
            raise ValueError(
                f"BiasedMF diverged (training RMSE {self.history_['train_rmse'][-1]}); use a "
                f"smaller lr than {self.lr!r}"
            )
        # Back to rating units: the biases scale with the ratings, each factor with its root.
        self.user_bias_ *= np.float32(spread)
        self.item_bias_ *= np.float32(spread)
        self.user_factors_ *= np.float32(math.sqrt(spread))
        self.item_factors_ *= np.float32(math.sqrt(spread))
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
        pred[fell_back] = np.nan  # the Bias fallback answers these
        return self._clip(pred), fell_back

    # ---------------------------------------------------------- recommend
    _score_bytes = 8

    def _block_scorer(self):
        """recommend_all: ``b_i + p_u . q_i`` (the prediction less ``mu + b_u``), one float64
        matrix product per block of users."""
        return factor_block_scorer(self.user_factors_, self.item_factors_, self.item_bias_)


# ------------------------------------------------------- the keyed schedule
#: The random streams drawn from ``seed`` (:func:`stream_seed`), one per use.
_STREAMS = {"user_group": 1, "item_group": 2, "order": 3, "user_init": 4, "item_init": 5}


def auto_blocks(n_users: int, n_items: int, n_factors: int) -> int:
    """``n_blocks=None``: groups per side so that a block's user plus item factors take about
    4 MiB: ``ceil((n_users + n_items) * n_factors * 4 / 2**22)``, from 4 to 64.

    Parameters
    ----------
    n_users, n_items : int
        The users and items with training ratings.
    n_factors : int

    Returns
    -------
    int
    """
    factor_bytes = (int(n_users) + int(n_items)) * int(n_factors) * 4
    return int(min(_MAX_BLOCKS, max(_MIN_BLOCKS, math.ceil(factor_bytes / _BLOCK_BYTES))))


def stream_seed(seed: int, stream: str) -> int:
    """The int64 seed of one random stream of the schedule: the 64-bit
    :func:`~fastrec.kernels.keyed.pair_keys` of ``(seed mod 2**64, tag)`` read as a signed
    integer, ``tag`` = 1 .. 5 for ``user_group``, ``item_group``, ``order``, ``user_init``,
    ``item_init``. Distinct streams of one seed draw unrelated numbers for the same id."""
    a = np.array([int(seed) % 2**64], dtype=np.uint64)
    b = np.array([_STREAMS[stream]], dtype=np.uint64)
    return int(pair_keys(a, b).view(np.int64)[0])


def keys_of(index) -> np.ndarray:
    """uint64 keys of an id map (:func:`fastrec.keys.id_keys`); ids that are neither integers
    nor strings are keyed by their ``str`` form."""
    try:
        return id_keys(index)
    except TypeError:
        return id_keys(np.asarray(index.astype(str), dtype=object))


def keyed_groups(seed: int, keys: np.ndarray, n_blocks: int, side: str) -> np.ndarray:
    """int32 group of each id: ``floor(n_blocks * keyed_uniform(stream_seed(seed,
    side + "_group"), keys))``, a function of the seed and the id only."""
    u = keyed_uniform(stream_seed(seed, f"{side}_group"), keys)
    return np.minimum((u * n_blocks).astype(np.int32), np.int32(n_blocks - 1))


def initial_factors(seed: int, keys: np.ndarray, k: int, init_std: float, side: str):
    """float32[len(keys), k] initial factors: ``float32(init_std * keyed_normals(
    stream_seed(seed, side + "_init"), keys, k))``, row ``j`` a function of the id alone."""
    normals = keyed_normals(stream_seed(seed, f"{side}_init"), keys, int(k))
    normals *= float(init_std)
    return normals.astype(np.float32)


def strata_orders(seed: int, n_epochs: int, n_blocks: int) -> np.ndarray:
    """int64[n_epochs, n_blocks]: epoch ``t`` runs the strata in the order of row ``t``, the
    ``t``-th ``permutation(n_blocks)`` of ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(int(seed))
    out = np.empty((int(n_epochs), int(n_blocks)), dtype=np.int64)
    for t in range(int(n_epochs)):
        out[t] = rng.permutation(int(n_blocks))
    return out


def _since(t0: float) -> float:
    return time.perf_counter() - t0
