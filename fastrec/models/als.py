"""Explicit biased matrix factorization by alternating least squares (Spark MLlib's ALS)."""

from __future__ import annotations

import logging
import time

import numpy as np

from ..data import Ratings
from ..kernels.als import row_squared_errors, solve_biased_rows
from ..memory import require
from ._biased_factors import BiasedFactorModel
from ._common import TrainingLog, rating_spread
from ._params import FACTOR_PARAMS, Bool, Int, Real

log = logging.getLogger(__name__)


class ALS(BiasedFactorModel):
    """Biased matrix factorization, fitted by alternating least squares.

    Model (``mu`` the global mean of the training ratings)::

        pred(u, i) = clip(mu + b_u + b_i + x_u . y_i)

    Scale-free: fitted to the standardised ratings ``z_ui = (r_ui - mu) / s`` (``s`` the
    standard deviation of the training ratings; 1 if they are all equal), so ``reg``,
    ``reg_bias`` and ``init_std`` mean the same on any rating scale and ratings
    ``a * r + b`` (``a > 0``) give predictions ``a * pred + b`` up to rounding. In those
    units ``x_u, y_i`` float64[``n_factors``] and the biases minimise::

        sum_{(u,i) in train} (z_ui - b_u - b_i - x_u . y_i)^2
            + sum_u s_u (reg |x_u|^2 + reg_bias b_u^2) + sum_i s_i (reg |y_i|^2 + reg_bias b_i^2)

    where ``s_u = |R(u)|`` and ``s_i = |R(i)|`` (the rating counts, "ALS-WR", the scaling
    Spark MLlib applies to its ``regParam``) when ``weighted`` is true, else 1. After the
    last iteration the biases are multiplied by ``s`` and the factors by ``sqrt(s)``: the
    fitted attributes are in rating units and ``pred`` is the formula above.

    Update rules: item factors start as ``N(0, init_std^2)`` draws from ``seed``, all biases
    at 0; each of the ``n_iter`` iterations then solves exactly, for every user (in
    parallel), the ``(k + 1)``-dimensional ridge regression of ``z_ui - b_i`` on
    ``[y_i, 1]`` that gives ``[x_u, b_u]`` (a Cholesky factorization of the normal equations),
    then the same for every item with the users fixed (see
    :func:`fastrec.kernels.als.solve_biased_rows`). Each half-step minimises the objective
    over its block, so the objective (``history_["loss"]``) never increases. Every row writes
    its own output, so the result is the same for a given ``seed`` whatever the number of
    threads.

    Fallback: a pair whose user or item has no training rating gets the :class:`Bias`
    prediction (damped ``mu + b_u + b_i`` with the known bias, fitted on the same training
    set) and counts as a fallback (it scores better than ``mu + b_u + b_i`` with ALS's own
    biases, which are not damped).

    Defaults: one setting for every data set, chosen in standardised units on validation
    slices of the training ratings of four data sets at once (the post's split,
    ml-latest-small 2018, ml-100k's five folds and ml-1m; never on a test set) by
    ``benchmarks/choose_defaults.py``; the procedure and its tables are on the user guide's
    "Choosing the defaults" page. The best penalty falls as the data grows (0.07 on ml-1m,
    0.1 or more on the three 100,000-rating sets); 0.09 is the best single value over the
    four. The penalty scaled by the rating counts (ALS-WR) beat the plain one (best plain:
    ``weighted=False, reg=10``); 100 factors beat 50 on all four sets, 200 gained at most
    0.0005 of the RMSE ratio to ``Bias``, 15 iterations did no better than 10. Spark's
    defaults (rank 10, ``regParam`` 0.1, no biases) differ; ``ALS(n_factors=10, reg=0.1)``
    is the closest biased counterpart.

    Parameters
    ----------
    n_factors : int, default 100
    n_iter : int, default 10
        Alternations (one user half-step plus one item half-step each).
    reg : float, default 0.09
        L2 penalty of the factors (per rating when ``weighted``).
    reg_bias : float, default 0.1
        L2 penalty of the biases (per rating when ``weighted``).
    weighted : bool, default True
        Scale the penalties by each row's number of ratings (ALS-WR, as Spark).
    init_std : float, default 0.1
        Standard deviation of the initial item factors.
    seed : int, default 0
    show_progress : bool, default False
        Show a progress bar with the training loss per iteration (tqdm) and log it at INFO.

    Attributes
    ----------
    user_factors_ : float64[n_users, n_factors], item_factors_ : float64[n_items, n_factors]
    user_bias_ : float64[n_users], item_bias_ : float64[n_items]
        Zero for codes without training ratings.
    history_ : dict of lists of float
        ``loss``: the objective above (standardised units) after each iteration;
        ``seconds``: its wall time.
    fallback_ : Bias
    """

    _parameter_constraints = {
        **FACTOR_PARAMS,
        "n_iter": [Int(1)],
        "reg": [Real(0, open_low=True)],
        "reg_bias": [Real(0)],
        "weighted": [Bool()],
    }
    _fitted_state = ("user_factors_", "item_factors_", "user_bias_", "item_bias_", "history_")

    def __init__(
        self,
        n_factors: int = 100,
        n_iter: int = 10,
        reg: float = 0.09,
        reg_bias: float = 0.1,
        weighted: bool = True,
        init_std: float = 0.1,
        seed: int = 0,
        show_progress: bool = False,
    ):
        self._store_params(locals())

    # ------------------------------------------------------------ fitting
    def _fit(self, train: Ratings) -> None:
        k = int(self.n_factors)
        n_users, n_items = train.n_users, train.n_items
        # factors and biases of both sides, the CSR and CSC copies of the ratings and their
        # standardised values
        require(
            8 * (n_users + n_items) * (k + 2) + 40 * len(train),
            f"ALS with n_factors={k} on {n_users} users x {n_items} items",
            "lower n_factors",
        )
        csr, csc = train.csr, train.csc
        mu, spread = self.global_mean_, rating_spread(train.ratings)
        z_csr, z_csc = (csr.data - mu) / spread, (csc.data - mu) / spread  # mean 0, spread 1
        rng = np.random.default_rng(self.seed)
        items = rng.normal(0.0, float(self.init_std), size=(n_items, k))
        items[train.item_counts() == 0] = 0.0
        users = np.zeros((n_users, k))
        user_bias, item_bias = np.zeros(n_users), np.zeros(n_items)
        args = (float(self.reg), float(self.reg_bias), bool(self.weighted))
        n_users_train = train.user_counts().astype(np.float64)
        n_items_train = train.item_counts().astype(np.float64)
        training = TrainingLog("ALS", int(self.n_iter), "iteration", self.show_progress, log)
        for it in range(int(self.n_iter)):
            t0 = time.perf_counter()
            failed = solve_biased_rows(
                csr.indptr, csr.indices, z_csr, items, item_bias, 0.0, *args, users, user_bias
            )
            failed += solve_biased_rows(
                csc.indptr, csc.indices, z_csc, users, user_bias, 0.0, *args, items, item_bias
            )
            if failed:
                raise FloatingPointError(
                    f"ALS: {failed} rows had a singular system in iteration {it + 1}; "
                    "the ratings or factors hold non-finite values"
                )
            loss = self._objective(
                (csr.indptr, csr.indices, z_csr),
                users,
                items,
                user_bias,
                item_bias,
                n_users_train,
                n_items_train,
            )
            training.record(time.perf_counter() - t0, loss=loss)
        self.history_ = training.close()
        # Back to rating units: the biases scale with the ratings, each factor with its root.
        root = np.sqrt(spread)
        users *= root
        items *= root
        self.user_factors_, self.item_factors_ = users, items
        self.user_bias_, self.item_bias_ = user_bias * spread, item_bias * spread

    def _objective(self, z, users, items, user_bias, item_bias, n_users_train, n_items_train):
        """The objective in standardised units; ``z``: the CSR arrays of the standardised
        ratings."""
        sse = row_squared_errors(*z, users, items, user_bias, item_bias, 0.0).sum()
        su = n_users_train if self.weighted else (n_users_train > 0).astype(np.float64)
        si = n_items_train if self.weighted else (n_items_train > 0).astype(np.float64)
        penalty = self.reg * (su @ np.einsum("ij,ij->i", users, users)) + self.reg * (
            si @ np.einsum("ij,ij->i", items, items)
        )
        penalty += self.reg_bias * (su @ user_bias**2 + si @ item_bias**2)
        return float(sse + penalty)

    # --------------------------------------------------------- predicting
    def _user_vectors(self) -> np.ndarray:
        return self.user_factors_
