"""Bayesian biased matrix factorization fitted by Gibbs sampling (BPMF with biases; the MCMC
of Rendle's factorization machines), optionally with SVD++-style implicit feedback."""

from __future__ import annotations

import logging
import math
import time

import numpy as np

from ..data import Ratings
from ..kernels.bayesian import (
    column_moments,
    implicit_sums,
    predict_sampled_pairs,
    sample_implicit,
    sample_rows,
)
from ..memory import require
from ._common import TrainingLog, numba_threads
from ._params import FACTOR_PARAMS, Bool, Int
from ._topn import factor_block_scorer
from .base import Recommender
from .baselines import Bias

log = logging.getLogger(__name__)

#: Hyperprior of every Normal-Gamma group and of the noise precision, in standardised units
#: (libFM's and myFM's defaults): ``lam ~ Gamma(A0, B0)`` (shape, rate),
#: ``mean | lam ~ N(0, 1 / (G0 lam))``; ``alpha ~ Gamma(A0, B0)``.
A0, B0, G0 = 1.0, 1.0, 1.0


class BayesianMF(Recommender):
    """Bayesian biased matrix factorization, fitted by Gibbs sampling; predictions averaged
    over the posterior samples.

    Model, in standardised units ``z = (r - mu) / sd`` (``mu``, ``sd``: mean and standard
    deviation of the training ratings, so the model is scale-free: fitting on ``a r + c``
    with ``a > 0`` gives ``a pred + c``)::

        z_ui ~ N(b_u + b_i + p_u . q_i, 1 / alpha)
        b_u ~ N(m_bu, 1 / l_bu),  p_uf ~ N(m_uf, 1 / l_uf)  (items alike, with their own)
        (m, l) ~ Normal-Gamma: l ~ Gamma(1, 1), m | l ~ N(0, 1 / l),  alpha ~ Gamma(1, 1)

    one Normal-Gamma hyperprior per group and dimension (user biases, item biases, each
    factor dimension of users and of items), as libFM and myFM with users and items in
    separate groups; nothing to tune but the rank and the number of samples.

    With ``implicit=True``, SVD++'s implicit feedback and its mirror (Rendle's "flipped"
    features), built from the training ratings only (``N(u)``: the items ``u`` rated in
    training, ``M(i)``: the users who rated ``i``); each implicit vector has ``k + 1``
    numbers, factors and a bias, like the rows' own ``w = [p, b]``::

        z_ui ~ N((w_u + Y_u) . (w_i + X_i)', 1 / alpha)
        Y_u = |N(u)|^-1/2 sum_{j in N(u)} y_j,   X_i = |M(i)|^-1/2 sum_{v in M(i)} x_v

    where ``(a) . (c)'`` reads ``a_bias + c_bias + a_factors . c_factors``, so the prediction
    is ``b_u + b_i + c_u + c_i + (p_u + y_u) . (q_i + x_i)`` with implicit biases ``c`` and
    factors; ``y_j ~ N(m_y, diag(1 / l_y))`` and ``x_v ~ N(m_x, diag(1 / l_x))``, each with its
    own Normal-Gamma hyperprior. (A factorization machine on the same features has, besides,
    the products ``p_u . y_u`` and ``q_i . x_i`` and those within each set.)

    Prediction: the average over the kept samples ``s`` of each sample's prediction (not the
    prediction of the averaged factors: ``E[p . q] != E[p] . E[q]``), clipped to the range of
    the training ratings::

        pred(u, i) = mu + sd (mean_s b_u^s + mean_s b_i^s + mean_s p_u^s . q_i^s)

    Sampling (block Gibbs): each sweep draws every user's ``[p_u, b_u]`` jointly from its
    ``(k + 1)``-variate normal conditional (a Cholesky factorization per user; the users are
    independent given the items, so they run in parallel, see
    :func:`fastrec.kernels.bayesian.sample_rows`), then, with ``implicit``, every ``y_j``, then
    the items and the ``x_v`` the same way, then ``alpha`` and the hyperparameters from their
    conjugate conditionals. The implicit vectors are exact Gibbs too: ``y_j`` is shared by
    every user who rated ``j``, so the ``y_j`` are drawn one after another (item order), each
    from its normal conditional given everything else, including the ``y`` drawn before it;
    with each user's Gram matrix of the item vectors and residual gradient kept up to date,
    a draw costs ``O(|M(j)| k^2)`` and a pass ``O(nnz k^2)``
    (:func:`~fastrec.kernels.bayesian.sample_implicit`, Rendle's relation blocks), on one
    thread. The standard normals of a sweep are drawn by numpy's generator from
    ``seed`` outside the kernels, which only transform them, for the rows with training
    ratings only: the result is the same for a seed whatever the number of threads, and
    whatever else the id maps hold (a split's test-only ids). Initial factors
    ``N(0, init_std^2)`` (standardised units), biases 0.

    Memory: the stored samples of the factors, float32, ``4 (n_users + n_items) k S`` bytes
    for ``S`` stored samples (``n_samples - n_burn_in``, or ``n_stored``): 20 MB for ml-100k
    at rank 10 and 195 samples, 2.7 GB at ml-25m's shape at rank 32 and 95; ``implicit``
    adds ``8 (n_users + n_items) (k + 1)^2`` bytes of working matrices during ``fit``.
    Storing fewer samples costs accuracy (ml-100k u1, 195 kept samples: RMSE 0.9078 with
    all stored, 0.9081 with 100, 0.9090 with 50, 0.9104 with 25), so all are stored by
    default. Predicting a pair, and ranking (``recommend_all``: one float64 matrix product
    over the ``S k`` stored columns per block of users), cost ``S`` times a rank-``k``
    model's.

    Fallback: a pair whose user or item has no training rating gets the :class:`Bias`
    prediction (damped ``mu + b_u + b_i`` with the known bias) and counts as a fallback.

    Parameters
    ----------
    n_factors : int, default 10
        Rank ``k``.
    n_samples : int, default 200
        Gibbs sweeps, burn-in included (myFM's ``n_iter``).
    n_burn_in : int, default 5
        The first sweeps, left out of the average (myFM keeps ``n_iter - 5``).
    n_stored : int or None, default None
        Store this many of the kept samples of the factors (evenly spaced, the last one
        included) to bound the memory; ``None``: all of them. The biases are averaged over
        every kept sample either way.
    implicit : bool, default False
        Add the implicit-feedback vectors above.
    init_std : float, default 0.1
        Standard deviation of the initial factors, in standardised units.
    seed : int, default 0
    n_threads : int or None, default None
        Threads of the kernels; ``None``: ``numba.get_num_threads()`` from 250,000 ratings
        (or pairs to predict) up, one below. Never changes the result.
    show_progress : bool, default False
        Show a tqdm bar and log each sample's training RMSE at INFO level.

    Attributes
    ----------
    user_bias_ : float64[n_users], item_bias_ : float64[n_items]
        ``sd`` times the mean of the kept samples of ``b_u``, ``b_i`` (with ``implicit``,
        ``b_u + c_u``, ``b_i + c_i``); 0 for codes without training ratings.
    user_samples_ : float32[n_users, S k]
        The stored samples of the user vectors side by side (sample ``s`` in columns
        ``s k .. (s + 1) k``; with ``implicit``, ``p_u + y_u``).
    item_samples_ : float32[n_items, S k]
        The same for the items, times ``sd / S``, so that
        ``pred = mu + b_u + b_i + user_samples_[u] . item_samples_[i]``.
    history_ : dict of lists of float
        Per sweep: ``train_rmse``, the RMSE of the sample's training residuals (rating units,
        at the item half-sweep); ``noise_sd``, ``sd / sqrt(alpha)``; ``seconds``.
    fallback_ : Bias
    """

    _parameter_constraints = {
        **FACTOR_PARAMS,
        "n_samples": [Int(1)],
        "n_burn_in": [Int(0)],
        "n_stored": [None, Int(1)],
        "implicit": [Bool()],
        "n_threads": [None, Int(1)],
    }
    _fitted_state = ("user_bias_", "item_bias_", "user_samples_", "item_samples_", "history_")
    _score_bytes = 8

    def __init__(
        self,
        n_factors: int = 10,
        n_samples: int = 200,
        n_burn_in: int = 5,
        n_stored: int | None = None,
        implicit: bool = False,
        init_std: float = 0.1,
        seed: int = 0,
        n_threads: int | None = None,
        show_progress: bool = False,
    ):
        self._store_params(locals())

    def _check_params(self) -> None:
        if not self.n_burn_in < self.n_samples:
            raise ValueError(
                f"BayesianMF: n_burn_in must be below n_samples (at least one sample kept), "
                f"got n_burn_in={self.n_burn_in!r}, n_samples={self.n_samples!r}"
            )

    def _fallback_model(self) -> Recommender:
        return Bias()

    # ------------------------------------------------------------ fitting
    def _fit(self, train: Ratings) -> None:
        with numba_threads(self.n_threads, len(train)):
            _GibbsSampler(self, train).run()

    # --------------------------------------------------------- predicting
    def _predict(self, users, items):
        fell_back = (users < 0) | (items < 0)
        pred = np.full(len(users), np.nan)  # NaN where the Bias fallback answers
        with numba_threads(self.n_threads, len(users)):
            predict_sampled_pairs(
                users,
                items,
                self.user_samples_,
                self.item_samples_,
                self.user_bias_,
                self.item_bias_,
                self.global_mean_,
                pred,
            )
        return self._clip(pred), fell_back

    def _block_scorer(self):
        """recommend_all: ``b_i + P_u . Q_i`` over the stored samples (the prediction less
        ``mu + b_u``), one float64 matrix product per block of users."""
        return factor_block_scorer(self.user_samples_, self.item_samples_, self.item_bias_)


def stored_sweeps(n_samples: int, n_burn_in: int, n_stored: int | None) -> np.ndarray:
    """The sweeps (0-based) whose factors are stored: every kept one, or ``n_stored`` of them
    evenly spaced with the last sweep included."""
    kept = np.arange(n_burn_in, n_samples)
    if n_stored is None or n_stored >= len(kept):
        return kept
    step = len(kept) / n_stored
    return kept[len(kept) - 1 - np.floor(np.arange(n_stored)[::-1] * step).astype(np.int64)]


def _normal_gamma(rng: np.random.Generator, x: np.ndarray, rows: np.ndarray):
    """A joint draw of ``(mean, precision)``, float64[d] each, per column of ``x[rows]``
    (float64[n, d]: the values of one group, the rows with training ratings) from their
    Normal-Gamma conditional (conjugate to the normal prior)."""
    n, xbar, spread = column_moments(x, rows)
    shape = A0 + 0.5 * n
    rate = B0 + 0.5 * spread + 0.5 * G0 * n * xbar**2 / (G0 + n)
    prec = rng.gamma(shape, 1.0 / rate)
    mean = rng.normal(n * xbar / (G0 + n), 1.0 / np.sqrt((G0 + n) * prec))
    return mean, prec


class _Side:
    """One side's arrays (users or items): the sparse pattern of its rows, its state
    ``[factors, bias]``, implicit vectors and the sums of the other side's, and their priors.
    """

    def __init__(self, mat, n_rows: int, k: int, implicit: bool, rng, init_std: float):
        self.indptr, self.indices = mat.indptr, mat.indices
        self.counts = np.diff(mat.indptr)
        self.rated = np.flatnonzero(self.counts > 0)
        d = k + 1
        self.state = np.zeros((n_rows, d))  # [p, b] of each row
        self.state[self.rated, :k] = rng.normal(0.0, init_std, (len(self.rated), k))
        self.eff = self.state  # what the predictions use: state + implicit sum
        self.prior_mean, self.prior_prec = np.zeros(d), np.ones(d)
        self.sse = np.zeros(n_rows)
        self.failed = 0
        empty = np.zeros((0, d))
        self.shift, self.grad, self.gram = empty, empty, np.zeros((0, d, d))
        if implicit:
            # this side's implicit vectors (they enter the other side's rows) and their prior
            self.implicit = np.zeros((n_rows, d))
            self.implicit[self.rated, :k] = rng.normal(0.0, init_std, (len(self.rated), k))
            self.imp_mean, self.imp_prec = np.zeros(d), np.ones(d)
            with np.errstate(divide="ignore"):
                self.scale = np.where(self.counts > 0, 1.0 / np.sqrt(self.counts), 0.0)
            # |N(r)|^-1/2 sum of the other side's implicit vectors over this row's ratings
            self.shift = np.zeros((n_rows, d))
            self.grad, self.gram = np.zeros((n_rows, d)), np.zeros((n_rows, d, d))


class _GibbsSampler:
    """The sampler's state and its sweeps, for one ``BayesianMF.fit``."""

    def __init__(self, model: BayesianMF, train: Ratings):
        self.model = model
        k = int(model.n_factors)
        self.k, self.n = k, len(train)
        n_users, n_items = train.n_users, train.n_items
        self.stored = stored_sweeps(int(model.n_samples), int(model.n_burn_in), model.n_stored)
        n_stored = len(self.stored)
        imp = bool(model.implicit)
        d = k + 1
        # stored samples (float32); state and normals of both sides (implicit: vectors, sums,
        # gradients, Gram and Cholesky matrices); the standardised CSR + CSC copies
        require(
            4 * (n_users + n_items) * k * n_stored
            + 8 * (n_users + n_items) * (3 * d + 2 + (d * d + 4 * d if imp else 0))
            + 32 * self.n,
            f"BayesianMF(n_factors={k}) with {n_stored} stored samples on {n_users:,} users x "
            f"{n_items:,} items",
            "lower n_factors or set n_stored",
        )
        mu = model.global_mean_
        sd = float(train.ratings.std())
        self.sd = sd if sd > 0 and math.isfinite(sd) else 1.0
        self.csr, self.csc = train.csr, train.csc
        self.z_csr = (self.csr.data - mu) / self.sd
        self.z_csc = (self.csc.data - mu) / self.sd
        self.rng = np.random.default_rng(int(model.seed))
        std = float(model.init_std)
        self.users = _Side(self.csr, n_users, k, imp, self.rng, std)
        self.items = _Side(self.csc, n_items, k, imp, self.rng, std)
        self.alpha = 1.0
        self.implicit = imp
        if imp:
            users, items = self.users, self.items
            implicit_sums(users.indptr, users.indices, users.scale, items.implicit, users.shift)
            implicit_sums(items.indptr, items.indices, items.scale, users.implicit, items.shift)
            users.eff, items.eff = users.state + users.shift, items.state + items.shift
        self.user_samples = np.zeros((n_users, k * n_stored), dtype=np.float32)
        self.item_samples = np.zeros((n_items, k * n_stored), dtype=np.float32)
        self.bias_sums = (np.zeros(n_users), np.zeros(n_items))

    def _normals(self, side: _Side, width: int) -> np.ndarray:
        """Standard normals for the rows of ``side``, float64[n_rows, width]: drawn for the
        rows with training ratings only (0 elsewhere), so that ids without training ratings
        in the id maps (a split's test-only ids) change nothing."""
        drawn = self.rng.standard_normal((len(side.rated), width))
        if len(side.rated) == len(side.counts):
            return drawn
        normals = np.zeros((len(side.counts), width))
        normals[side.rated] = drawn
        return normals

    def _half_sweep(self, side: _Side, other: _Side, z: np.ndarray) -> None:
        normals = self._normals(side, self.k + 1)
        side.failed += sample_rows(
            side.indptr, side.indices, z, other.eff, self.alpha, side.prior_mean,
            side.prior_prec, side.shift, normals, side.state, side.sse, side.gram, side.grad,
        )  # fmt: skip
        if self.implicit:
            side.eff = side.state + side.shift

    def _implicit_step(self, side: _Side, other: _Side) -> None:
        """Draw ``other``'s implicit vectors (they enter ``side``'s rows), updating ``side``'s
        implicit sums, residual gradients and effective vectors."""
        normals = self._normals(other, self.k + 1)
        side.failed += sample_implicit(
            other.indptr, other.indices, side.scale, side.gram, side.grad, self.alpha,
            other.imp_mean, other.imp_prec, normals, other.implicit, side.shift,
        )  # fmt: skip
        side.eff = side.state + side.shift

    def _hyper(self) -> None:
        for side in (self.users, self.items):
            side.prior_mean, side.prior_prec = _normal_gamma(self.rng, side.state, side.rated)
            if self.implicit:
                side.imp_mean, side.imp_prec = _normal_gamma(self.rng, side.implicit, side.rated)

    def sweep(self) -> float:
        """One Gibbs sweep; returns the sample's training SSE (standardised units)."""
        users, items = self.users, self.items
        self._half_sweep(users, items, self.z_csr)
        if self.implicit:
            self._implicit_step(users, items)  # y_j, the items each user rated
        self._half_sweep(items, users, self.z_csc)
        # rated rows only: the same bits whatever else the id maps hold
        sse = float(items.sse[items.rated].sum())
        self.alpha = float(self.rng.gamma(A0 + 0.5 * self.n, 1.0 / (B0 + 0.5 * sse)))
        if self.implicit:
            self._implicit_step(items, users)  # x_v, the users who rated each item
        self._hyper()
        if users.failed or items.failed:
            raise FloatingPointError(
                "BayesianMF: a conditional precision matrix was not positive definite; the "
                "ratings or the state hold non-finite values"
            )
        return sse

    def run(self) -> None:
        model, k = self.model, self.k
        n_samples, n_burn_in = int(model.n_samples), int(model.n_burn_in)
        training = TrainingLog("BayesianMF", n_samples, "sample", model.show_progress, log)
        slot = 0
        for s in range(n_samples):
            t0 = time.perf_counter()
            sse = self.sweep()
            users, items = self.users.eff, self.items.eff
            if s >= n_burn_in:
                self.bias_sums[0][:] += users[:, k]
                self.bias_sums[1][:] += items[:, k]
            if slot < len(self.stored) and s == self.stored[slot]:
                cols = slice(slot * k, (slot + 1) * k)
                self.user_samples[:, cols] = users[:, :k]
                self.item_samples[:, cols] = items[:, :k]
                slot += 1
            training.record(
                time.perf_counter() - t0,
                train_rmse=self.sd * math.sqrt(sse / self.n),
                noise_sd=self.sd / math.sqrt(self.alpha),
            )
        model.history_ = training.close()
        n_kept = n_samples - n_burn_in
        model.user_bias_ = self.bias_sums[0] * (self.sd / n_kept)
        model.item_bias_ = self.bias_sums[1] * (self.sd / n_kept)
        model.user_samples_ = self.user_samples
        self.item_samples *= np.float32(self.sd / len(self.stored))
        model.item_samples_ = self.item_samples
