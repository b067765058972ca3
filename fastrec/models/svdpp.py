"""SVD++ (Koren 2008): biased matrix factorization plus implicit feedback, by SGD."""

from __future__ import annotations

import logging
import time

import numpy as np

from ..data import Ratings
from ..kernels.svdpp import run_svdpp_epoch, sum_implicit_factors
from ..memory import require
from ._biased_factors import BiasedFactorModel
from ._common import TrainingLog, rating_spread
from ._params import SGD_PARAMS, Real

log = logging.getLogger(__name__)


class SVDpp(BiasedFactorModel):
    """Koren's SVD++: biased matrix factorization with the implicit feedback of *which* items
    each user rated.

    Model (``mu`` the global mean of the training ratings, ``N(u)`` the items ``u`` rated in
    the training set)::

        pred(u, i) = clip(mu + b_u + b_i + q_i . (p_u + |N(u)|^-1/2 sum_{j in N(u)} y_j))

    with ``p_u, q_i, y_j`` float64[``n_factors``].

    Scale-free: fitted to the standardised ratings ``z_ui = (r_ui - mu) / sd`` (``sd`` the
    standard deviation of the training ratings; 1 if they are all equal), so the learning
    rates, penalties and ``init_std`` mean the same on any rating scale and ratings
    ``a * r + b`` (``a > 0``) give predictions ``a * pred + b`` up to rounding. In those
    units SGD minimises ``sum (z_ui - zpred)^2 + reg_bias (b_u^2 + b_i^2)
    + reg (|p_u|^2 + |q_i|^2 + sum |y_j|^2)`` with ``zpred = b_u + b_i + q_i . (p_u +
    |N(u)|^-1/2 sum_j y_j)``; after the last epoch the biases are multiplied by ``sd`` and
    the factors by ``sqrt(sd)``, so the fitted attributes are in rating units and ``pred``
    is the formula above.

    Update rules, per training rating with ``e = z_ui - zpred(u, i)`` (unclipped) and
    ``s = |N(u)|^-1/2``, all from the values before the step (Surprise's ``SVDpp``)::

        b_u += lr_bias (e - reg_bias b_u)          b_i += lr_bias (e - reg_bias b_i)
        p_u += lr (e q_i - reg p_u)                q_i += lr (e (p_u + z_u) - reg q_i)
        y_j += lr (e s q_i - reg y_j)  for every j in N(u)

    Each epoch visits the users in a fresh random order and each user's ratings in a random
    order, all drawn from ``seed``. A user's ratings are visited together, so the ``y_j``
    updates are applied once per user, in closed form, with the same result as applying
    them per rating (see :mod:`fastrec.kernels.svdpp`): an epoch costs
    ``O(sum_u |N(u)| k)`` instead of Surprise's ``O(sum_u |N(u)|^2 k)``. Initial factors are
    ``N(0, init_std^2)`` draws, biases 0.

    Defaults: one setting for every data set, chosen in standardised units on validation
    slices of the training ratings of four data sets at once (the post's split,
    ml-latest-small 2018, ml-100k's five folds and ml-1m; never on a test set) by
    ``benchmarks/choose_defaults.py``; the procedure and its tables are on the user guide's
    "Choosing the defaults" page. They came out the same as :class:`BiasedMF`'s: small
    initial factors, 100 factors (50 lost on all four sets), 40 epochs (30 and 60 did
    worse). Surprise's defaults are ``n_factors=20, n_epochs=20, lr=0.007, reg=0.02,
    init_std=0.1`` (in rating units).

    Fallback: a pair whose user or item has no training rating gets the :class:`Bias`
    prediction (damped ``mu + b_u + b_i`` with the known bias, fitted on the same training
    set) and counts as a fallback.

    Parameters
    ----------
    n_factors : int, default 100
    n_epochs : int, default 40
    lr : float, default 0.01
        Learning rate of the factors ``p``, ``q``, ``y``.
    reg : float, default 0.05
        L2 penalty of the factors.
    lr_bias, reg_bias : float or None, default None
        Learning rate and penalty of the biases; ``None``: ``lr`` and ``reg``.
    init_std : float, default 0.01
    seed : int, default 0
    show_progress : bool, default False
        Show a progress bar with the training loss per epoch (tqdm) and log it at INFO.

    Attributes
    ----------
    user_bias_ : float64[n_users], item_bias_ : float64[n_items]
    user_factors_ : float64[n_users, n_factors] (``p_u``)
    item_factors_ : float64[n_items, n_factors] (``q_i``)
    implicit_factors_ : float64[n_items, n_factors] (``y_j``)
    user_implicit_ : float64[n_users, n_factors], ``|N(u)|^-1/2 sum_{j in N(u)} y_j``
    history_ : dict of lists of float
        Per epoch: ``loss``, the sum of the squared errors met during the epoch (each before
        its step) plus the L2 penalty at the epoch's end, in standardised units;
        ``train_rmse``, the RMSE of those errors in rating units; ``seconds``, its wall time.
    fallback_ : Bias
    """

    _parameter_constraints = {
        **SGD_PARAMS,
        "lr_bias": [None, Real(0)],
        "reg_bias": [None, Real(0)],
    }
    _fitted_state = (
        "user_bias_", "item_bias_", "user_factors_", "item_factors_", "implicit_factors_",
        "user_implicit_", "history_",
    )  # fmt: skip

    def __init__(
        self,
        n_factors: int = 100,
        n_epochs: int = 40,
        lr: float = 0.01,
        reg: float = 0.05,
        lr_bias: float | None = None,
        reg_bias: float | None = None,
        init_std: float = 0.01,
        seed: int = 0,
        show_progress: bool = False,
    ):
        self._store_params(locals())

    # ------------------------------------------------------------ fitting
    def _check_params(self) -> None:
        lr, reg = float(self.lr), float(self.reg)
        if not lr * reg < 1.0:
            raise ValueError(f"SVDpp: lr * reg must be below 1 for SGD to shrink, got {lr * reg!r}")

    def _fit(self, train: Ratings) -> None:
        k = int(self.n_factors)
        n_users, n_items = train.n_users, train.n_items
        require(  # the parameters, the CSR arrays and the standardised ratings
            8 * (n_users + n_items) * (2 * k + 1) + 8 * n_items * k + 24 * len(train),
            f"SVDpp with n_factors={k} on {n_users} users x {n_items} items",
            "lower n_factors",
        )
        csr = train.csr
        spread = rating_spread(train.ratings)
        z = (csr.data - self.global_mean_) / spread  # mean 0, spread 1
        rng = np.random.default_rng(self.seed)
        std = float(self.init_std)
        user_factors = rng.normal(0.0, std, size=(n_users, k))
        item_factors = rng.normal(0.0, std, size=(n_items, k))
        implicit_factors = rng.normal(0.0, std, size=(n_items, k))
        user_bias, item_bias = np.zeros(n_users), np.zeros(n_items)
        lr, reg = float(self.lr), float(self.reg)
        lr_bias = lr if self.lr_bias is None else float(self.lr_bias)
        reg_bias = reg if self.reg_bias is None else float(self.reg_bias)
        params = (user_bias, item_bias, user_factors, item_factors, implicit_factors)
        rates = (lr_bias, lr, reg_bias, reg)
        training = TrainingLog("SVDpp", int(self.n_epochs), "epoch", self.show_progress, log)
        for epoch in range(int(self.n_epochs)):
            t0 = time.perf_counter()
            order = rng.permutation(n_users)
            seed = int(rng.integers(2**31 - 1))
            sse = run_svdpp_epoch(csr.indptr, csr.indices, z, order, seed, 0.0, params, rates)
            if not np.isfinite(sse):
                raise FloatingPointError(
                    f"SVDpp diverged in epoch {epoch + 1} (training loss {sse}); lower lr"
                )
            penalty = reg_bias * (user_bias @ user_bias + item_bias @ item_bias) + reg * (
                np.vdot(user_factors, user_factors)
                + np.vdot(item_factors, item_factors)
                + np.vdot(implicit_factors, implicit_factors)
            )
            loss = float(sse + penalty)
            training.record(
                time.perf_counter() - t0, loss=loss, train_rmse=spread * np.sqrt(sse / len(train))
            )
        self.history_ = training.close()
        # Back to rating units: the biases scale with the ratings, each factor with its root.
        user_bias *= spread
        item_bias *= spread
        for factors in (user_factors, item_factors, implicit_factors):
            factors *= np.sqrt(spread)
        self.user_bias_, self.item_bias_ = user_bias, item_bias
        self.user_factors_, self.item_factors_ = user_factors, item_factors
        self.implicit_factors_ = implicit_factors
        self.user_implicit_ = sum_implicit_factors(csr.indptr, csr.indices, implicit_factors)

    # --------------------------------------------------------- predicting
    def _user_vectors(self) -> np.ndarray:
        return self.user_factors_ + self.user_implicit_
