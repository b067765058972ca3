"""The post's SVD: a truncated SVD of the user-mean-centred sparse rating matrix, predicted
only at the requested pairs."""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np
import scipy.linalg
from scipy.sparse.linalg import LinearOperator, svds

from ..data import Ratings
from ..kernels.factors import center_rows, multiply_csr_dense, reconstruct_at
from ..memory import require
from ._common import numba_threads
from ._params import Int, OneOf
from ._topn import factor_block_scorer
from .base import Recommender
from .baselines import Bias

log = logging.getLogger(__name__)

SOLVERS = ("arpack", "randomized")


class SVD(Recommender):
    """The post's "SVD": rank-``n_factors`` truncated SVD of the user-centred rating matrix.

    With ``R`` the users x items training matrix (sparse; 0 where there is no rating) and
    ``mean_u`` the mean of user ``u``'s training ratings, the stored entries are centred,
    ``C[u, i] = r_ui - mean_u`` (entries with no rating stay 0: the post's dense matrix, whose
    missing entries are 0 before and after centring), and factored ``C ~ U diag(s) Vt`` with
    the ``n_factors`` largest singular values. Then

        ``pred(u, i) = clip(mean_u + sum_f U[u, f] s[f] Vt[f, i])``

    computed by a Numba kernel at the requested pairs only (never the dense ``U S Vt``), clipped
    to the range of the training ratings (which does not change the post's number).
    ``U``: float64[n_users, k], ``s``: float64[k] (descending), ``Vt.T``: float64[n_items, k].

    Solvers:

    - ``"arpack"`` (default, the post's): ``scipy.sparse.linalg.svds`` (ARPACK Lanczos on the
      Gram matrix) with its start vector drawn from ``seed``; the matrix products run in
      parallel Numba kernels. Exact to ARPACK's tolerance; reproduces the post's figure.
    - ``"randomized"``: Halko, Martinsson & Tropp (2011), a Gaussian sketch of
      ``n_factors + n_oversamples`` columns refined by ``n_power_iter`` power iterations
      (QR-normalized), numpy/scipy only. Approximate (its RMSE and time beside ARPACK's are
      in the benchmark pages of the docs); faster than ARPACK on large data, slower on small.

    When ``n_factors >= min(n_users, n_items)`` (tiny data), all ``min(n_users, n_items)``
    factors are kept, by a dense LAPACK SVD, with a warning.

    Fallbacks (counted by :meth:`~fastrec.Recommender.predict_with_fallback`): a user
    without training ratings gets :class:`~fastrec.models.baselines.Bias` (``mu + b_i``); a
    known user and an item without training ratings get ``mean_u``, which is what the
    post's formula gives (the item's column of ``Vt`` is 0).

    Parameters
    ----------
    n_factors : int, default 50 (the post's ``k``)
    solver : {"arpack", "randomized"}, default "arpack"
    seed : int, default 0
        Seeds ARPACK's start vector or the randomized sketch: the same seed gives the same
        predictions.
    n_oversamples : int, default 10
        Extra sketch columns of the randomized solver (unused by ARPACK).
    n_power_iter : int, default 8
        Power iterations of the randomized solver (unused by ARPACK).

    Attributes
    ----------
    user_mean_ : float64[n_users] (0 for a user without training ratings)
    user_factors_ : float64[n_users, k] (``U``), singular_values_ : float64[k],
    item_factors_ : float64[n_items, k] (``Vt.T``)
    n_factors_ : int, the ``k`` used
    fallback_ : the fitted :class:`Bias`
    """

    post_label = "SVD"
    _parameter_constraints = {
        "n_factors": [Int(1)],
        "solver": [OneOf(*SOLVERS)],
        "seed": [Int(0)],
        "n_oversamples": [Int(0)],
        "n_power_iter": [Int(0)],
    }
    _fitted_state = (
        "user_mean_", "user_factors_", "singular_values_", "item_factors_", "n_factors_",
    )  # fmt: skip

    def __init__(
        self,
        n_factors: int = 50,
        solver: str = "arpack",
        seed: int = 0,
        n_oversamples: int = 10,
        n_power_iter: int = 8,
    ):
        self._store_params(locals())

    def _fallback_model(self) -> Recommender:
        return Bias()

    def _fit(self, train: Ratings) -> None:
        with numba_threads(None, len(train)):
            self._fit_svd(train)

    def _fit_svd(self, train: Ratings) -> None:
        t0 = time.perf_counter()
        csr, csc = train.csr, train.csc
        n_users, n_items = csr.shape
        small = min(n_users, n_items)
        k = int(self.n_factors)
        if k >= small:
            warnings.warn(
                f"SVD: n_factors={k} >= min(n_users, n_items)={small}; keeping all {small} "
                "factors (dense SVD)",
                UserWarning,
                stacklevel=4,
            )
        extra = k + int(self.n_oversamples) if self.solver == "randomized" else 2 * k + 1
        require(
            csr.nnz * 8 * 2  # centred data in CSR and in CSC order
            + (n_users + n_items) * k * 8  # U, Vt
            + (max(n_users, n_items) * extra * 8 * 3 if k < small else n_users * n_items * 8),
            f"SVD(n_factors={k}, solver={self.solver!r}) of a {n_users:,} x {n_items:,} matrix",
            "use fewer n_factors" + (" or solver='randomized'" if self.solver == "arpack" else ""),
        )
        self.user_mean_, centred = center_rows(csr.indptr, csr.data)
        # The same centred entries in CSC order, for products with the transpose.
        centred_csc = csc.data - self.user_mean_[csc.indices]
        op = _CentredOperator(
            (csr.indptr, csr.indices, centred), (csc.indptr, csc.indices, centred_csc), csr.shape
        )
        rng = np.random.default_rng(int(self.seed))
        u, s, vt = self._factor(train, op, k, small, rng)
        order = np.argsort(-s, kind="stable")
        self.singular_values_ = np.ascontiguousarray(s[order])
        self.user_factors_ = np.ascontiguousarray(u[:, order])
        self.item_factors_ = np.ascontiguousarray(vt[order].T)
        self.n_factors_ = len(order)
        log.debug("SVD(%s, k=%d): fitted in %.2fs", self.solver, k, time.perf_counter() - t0)

    def _factor(self, train, op, k, small, rng):
        """``U, s, Vt`` of the centred matrix ``op`` by the chosen solver."""
        if k >= small:
            dense = np.zeros(op.shape)
            dense[train.user_codes, train.item_codes] = (
                train.ratings - self.user_mean_[train.user_codes]
            )
            return scipy.linalg.svd(dense, full_matrices=False)
        if self.solver == "arpack":
            return svds(op, k=k, v0=rng.standard_normal(small))
        return _randomized_svd(op, k, int(self.n_oversamples), int(self.n_power_iter), rng)

    def _predict(self, users, items):
        pred = np.empty(len(users), dtype=np.float64)
        with numba_threads(None, len(users)):
            reconstruct_at(
                users, items, self.user_factors_, self.singular_values_, self.item_factors_, pred
            )
        known_user = users >= 0
        pred[known_user] += self.user_mean_[users[known_user]]  # unknown item: mean_u
        pred[~known_user] = np.nan  # the Bias fallback answers these
        return self._clip(pred), (users < 0) | (items < 0)

    _score_bytes = 8

    def _block_scorer(self):
        """recommend_all: ``U[u] . (s Vt)[:, i]`` (the prediction less ``mean_u``), one float64
        matrix product per block of users."""
        return factor_block_scorer(self.user_factors_, self.item_factors_ * self.singular_values_)


class _CentredOperator(LinearOperator):
    """The centred users x items matrix as a LinearOperator whose products with dense
    vectors and blocks run in the parallel :func:`multiply_csr_dense` kernel."""

    def __init__(self, arrays, t_arrays, shape):
        super().__init__(dtype=np.float64, shape=shape)
        self._a = arrays  # (indptr, indices, data) of the matrix
        self._t = t_arrays  # the same of its transpose

    @staticmethod
    def _product(arrays, n_rows, x):
        x2 = np.ascontiguousarray(x.reshape(x.shape[0], -1), dtype=np.float64)
        out = np.empty((n_rows, x2.shape[1]))
        multiply_csr_dense(*arrays, x2, out)
        return out

    def _matvec(self, x):
        return self._product(self._a, self.shape[0], x).ravel()

    def _rmatvec(self, x):
        return self._product(self._t, self.shape[1], x).ravel()

    def _matmat(self, x):
        return self._product(self._a, self.shape[0], x)

    def _rmatmat(self, x):
        return self._product(self._t, self.shape[1], x)

    def _adjoint(self):
        return _CentredOperator(self._t, self._a, (self.shape[1], self.shape[0]))


def _randomized_svd(op, k, n_oversamples, n_power_iter, rng):
    """Rank-``k`` SVD of ``op`` by a randomized range finder with power iterations
    (Halko, Martinsson & Tropp 2011, algorithms 4.4 and 5.1). Returns ``U, s, Vt``."""
    n_rows, n_cols = op.shape
    width = min(k + n_oversamples, n_rows, n_cols)
    q, _ = np.linalg.qr(op.matmat(rng.standard_normal((n_cols, width))))
    for _ in range(n_power_iter):
        z, _ = np.linalg.qr(op.rmatmat(q))
        q, _ = np.linalg.qr(op.matmat(z))
    b_t = op.rmatmat(q)  # (Q^T A)^T, n_cols x width
    v_b, s, ut_b = scipy.linalg.svd(b_t, full_matrices=False)  # B^T = V_b S U_b^T
    return q @ ut_b.T[:, :k], s[:k], v_b[:, :k].T
