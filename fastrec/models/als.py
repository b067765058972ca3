"""Explicit biased matrix factorization by alternating least squares (Spark MLlib's ALS)."""

from __future__ import annotations

import logging
import time

import numpy as np

from ..data import Ratings
from ..kernels.als import predict_biased_pairs, row_squared_errors, solve_biased_rows
from ..kernels.keyed import keyed_normals, keyed_uniform, pair_keys
from ..keys import id_keys
from ..memory import require
from ._biased_factors import BiasedFactorModel
from ._common import TrainingLog, rating_spread
from ._params import FACTOR_PARAMS, Bool, Int, OneOf, Real

log = logging.getLogger(__name__)

# reg="auto" (see ALS's docstring): the share of the training ratings held out, keyed by
# (user id, item id, seed); the penalty grid AUTO_CENTER * AUTO_RATIO**j, searched from the
# default outwards (at most AUTO_MAX_STEPS penalties); the alternations per penalty after the
# first, warm-started from the neighbouring penalty's factors; the alternations of the refit on
# all the training ratings, warm-started from the chosen penalty's factors (at most n_iter).
AUTO_VALIDATION = 0.1
AUTO_CENTER, AUTO_RATIO, AUTO_MAX_STEPS = 0.09, 2**-0.5, 8
AUTO_WARM_ITERS = 2
AUTO_REFIT_ITERS = 3


def auto_penalty(j: int) -> float:
    """Penalty ``j`` of the ``reg="auto"`` grid: ``AUTO_CENTER * AUTO_RATIO**j``."""
    return AUTO_CENTER * AUTO_RATIO**j


def walk_penalties(visit, n_iter: int, forget=None) -> dict:
    """The ``reg="auto"`` walk along the grid, shared by :class:`ALS` and
    ``fastrec.spark.ALS``: the validation RMSE of each penalty visited, by grid step ``j``,
    in the order visited.

    ``visit(j, source, iters) -> float`` fits penalty :func:`auto_penalty` ``(j)`` for
    ``iters`` alternations from the state of grid step ``source`` (``None``: the start) and
    returns its validation RMSE; the walk visits step 0 from the start with ``n_iter``
    alternations, then step 1 (else -1) from step 0 with ``AUTO_WARM_ITERS``, and on in the
    direction that improved while the RMSE falls, at most ``AUTO_MAX_STEPS`` steps (a
    bracketed minimum). ``forget(j)``, if given, is called when step ``j``'s state is no
    longer a source (a better neighbour superseded it).
    """
    errors: dict[int, float] = {}

    def go(j: int, source: int | None, iters: int) -> float:
        errors[j] = visit(j, source, iters)
        return errors[j]

    go(0, None, n_iter)
    direction = 0
    for step in (1, -1):
        if go(step, 0, AUTO_WARM_ITERS) < errors[0]:
            direction = step
            break
    here = direction
    while direction and len(errors) < AUTO_MAX_STEPS:
        if go(here + direction, here, AUTO_WARM_ITERS) >= errors[here]:
            break
        if forget is not None:
            forget(here)
        here += direction
    return errors


def choose_penalty(errors: dict) -> tuple[int, float]:
    """The grid step with the lowest validation RMSE (the first visited, on a tie) and the
    chosen penalty: the vertex of the parabola through its RMSE and its two neighbours'
    (in grid steps, equal steps of ``log reg``: within half a step of the minimum), or the
    minimum itself when a neighbour was not visited or the parabola is not convex."""
    best = min(errors, key=errors.get)
    shift = 0.0
    if best - 1 in errors and best + 1 in errors:
        f0, f1, f2 = errors[best - 1], errors[best], errors[best + 1]
        curvature = f0 - 2.0 * f1 + f2
        shift = 0.5 * (f0 - f2) / curvature if curvature > 0 else 0.0
    return best, float(AUTO_CENTER * AUTO_RATIO ** (best + shift))


class _Standardised:
    """One training set's standardised ratings ``(r - mu) / s`` in both orientations, and its
    rating counts per user and item (float64)."""

    def __init__(self, ratings: Ratings, mu: float, spread: float):
        csr, csc = ratings.csr, ratings.csc
        self.csr = (csr.indptr, csr.indices, (csr.data - mu) / spread)
        self.csc = (csc.indptr, csc.indices, (csc.data - mu) / spread)
        self.user_counts = ratings.user_counts().astype(np.float64)
        self.item_counts = ratings.item_counts().astype(np.float64)


class _State:
    """The factors and biases of both sides, in standardised units."""

    def __init__(self, users, items, user_bias, item_bias):
        self.users, self.items, self.user_bias, self.item_bias = users, items, user_bias, item_bias

    def copy(self) -> _State:
        return _State(
            self.users.copy(), self.items.copy(), self.user_bias.copy(), self.item_bias.copy()
        )


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

    Update rules: the item factors start as
    ``init_std * keyed_normals(seed, id_keys(item_index_), k)``, row ``i`` a standard normal
    vector that depends only on ``seed`` and item ``i``'s raw id (:mod:`fastrec.keys`,
    :mod:`fastrec.kernels.keyed`: splitmix64 words from ``mix(seed + G) ^ key(id)``,
    Box-Muller), not on the item's position, so a distributed fit (``fastrec.spark``) that
    keys its blocks by the same ids starts from the same factors whatever the partitioning;
    items without training ratings start (and stay) at 0, users and all biases at 0. Each of
    the ``n_iter`` iterations then solves exactly, for every user (in parallel), the
    ``(k + 1)``-dimensional ridge regression of ``z_ui - b_i`` on ``[y_i, 1]`` that gives
    ``[x_u, b_u]`` (a Cholesky factorization of the normal equations), then the same for
    every item with the users fixed (see
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

    Penalty chosen in ``fit`` (``reg="auto"``, opt-in): since the best penalty falls as the
    data grows, ``fit`` can choose it on a slice of the training ratings, never on a test set
    (``fit`` sees only the training ratings). It holds out the pairs with
    ``keyed_uniform(seed, pair_keys(key(user id), key(item id))) < 0.1`` (about 10%, the same
    pairs whatever the order of the rows or the partitioning) and fits the rest along the grid
    ``0.09 * 2**(-j/2)``: the default 0.09 first (``n_iter`` alternations from the start
    above), then one step smaller, else one step larger, and on in the direction that
    improved while the RMSE on the held-out pairs falls (pairs whose user or item has no
    rating left in the fit part are not scored: their fallback does not depend on the
    penalty), at most 8 penalties; each after the first takes 2 alternations warm-started
    from its neighbour's factors. The chosen ``reg_`` is the vertex of the parabola through
    the best penalty's RMSE and its two neighbours' (in steps of ``log reg``, so within half
    a step of the best); the model is then refitted on all the training ratings with it, in
    ``min(3, n_iter)`` alternations warm-started from the best penalty's factors (an item
    whose ratings were all held out from its keyed start). The user guide's "Choosing the
    defaults" page measures it against the default on four data sets and synthetic shapes.

    Parameters
    ----------
    n_factors : int, default 100
    n_iter : int, default 10
        Alternations (one user half-step plus one item half-step each).
    reg : float or "auto", default 0.09
        L2 penalty of the factors (per rating when ``weighted``); ``"auto"``: chosen in
        ``fit`` on a slice of the training ratings (above).
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
        ``loss``: the objective above (standardised units, at ``reg_``) after each
        iteration (with ``reg="auto"``: of the refit); ``seconds``: its wall time.
    reg_ : float
        The penalty of the fitted factors: ``reg``, or the one ``reg="auto"`` chose.
    reg_path_ : dict of lists of float
        With ``reg="auto"``, each penalty tried on the fit part, in the order tried:
        ``reg``, ``validation_rmse`` (on the held-out pairs, rating units) and ``seconds``;
        empty otherwise.
    fallback_ : Bias
    """

    _parameter_constraints = {
        **FACTOR_PARAMS,
        "n_iter": [Int(1)],
        "reg": [Real(0, open_low=True), OneOf("auto")],
        "reg_bias": [Real(0)],
        "weighted": [Bool()],
    }
    _fitted_state = (
        "user_factors_",
        "item_factors_",
        "user_bias_",
        "item_bias_",
        "history_",
        "reg_",
        "reg_path_",
    )

    def __init__(
        self,
        n_factors: int = 100,
        n_iter: int = 10,
        reg: float | str = 0.09,
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
        # standardised values; reg="auto" holds up to five sets of factors at once and a copy
        # of the ratings for the fit part (its rows, CSR, CSC and standardised values)
        auto = self.reg == "auto"
        require(
            8 * (n_users + n_items) * (k + 2) * (5 if auto else 1)
            + (104 if auto else 40) * len(train),
            f"ALS with n_factors={k} on {n_users} users x {n_items} items",
            "lower n_factors",
        )
        mu, spread = self.global_mean_, rating_spread(train.ratings)
        whole = _Standardised(train, mu, spread)
        # Keyed by item id, not drawn by position: the same item starts from the same vector
        # whatever the order of the items or how they are split among workers (fastrec.spark).
        start = float(self.init_std) * keyed_normals(int(self.seed), id_keys(train.item_index), k)
        start[whole.item_counts == 0] = 0.0
        state = _State(np.zeros((n_users, k)), start, np.zeros(n_users), np.zeros(n_items))
        n_iter = int(self.n_iter)
        if auto:
            self.reg_, self.reg_path_, state, n_iter = self._choose_reg(train, mu, spread, state)
        else:
            self.reg_, self.reg_path_ = float(self.reg), {}
        training = TrainingLog("ALS", n_iter, "iteration", self.show_progress, log)
        for it in range(n_iter):
            t0 = time.perf_counter()
            self._sweep(whole, state, self.reg_, it)
            training.record(time.perf_counter() - t0, loss=self._objective(whole, state))
        self.history_ = training.close()
        # Back to rating units: the biases scale with the ratings, each factor with its root.
        root = np.sqrt(spread)
        self.user_factors_, self.item_factors_ = state.users * root, state.items * root
        self.user_bias_, self.item_bias_ = state.user_bias * spread, state.item_bias * spread

    def _sweep(self, data: _Standardised, state: _State, reg: float, it: int) -> None:
        """One alternation: every user's ``[x_u, b_u]``, then every item's, solved exactly."""
        args = (float(reg), float(self.reg_bias), bool(self.weighted))
        s = state
        failed = solve_biased_rows(
            *data.csr, s.items, s.item_bias, 0.0, *args, s.users, s.user_bias
        )
        failed += solve_biased_rows(
            *data.csc, s.users, s.user_bias, 0.0, *args, s.items, s.item_bias
        )
        if failed:
            raise FloatingPointError(
                f"ALS: {failed} rows had a singular system in iteration {it + 1}; "
                "the ratings or factors hold non-finite values"
            )

    def _objective(self, data: _Standardised, s: _State) -> float:
        """The objective in standardised units, at ``self.reg_``."""
        sse = row_squared_errors(*data.csr, s.users, s.items, s.user_bias, s.item_bias, 0.0).sum()
        su = data.user_counts if self.weighted else (data.user_counts > 0).astype(np.float64)
        si = data.item_counts if self.weighted else (data.item_counts > 0).astype(np.float64)
        penalty = self.reg_ * (su @ np.einsum("ij,ij->i", s.users, s.users)) + self.reg_ * (
            si @ np.einsum("ij,ij->i", s.items, s.items)
        )
        penalty += self.reg_bias * (su @ s.user_bias**2 + si @ s.item_bias**2)
        return float(sse + penalty)

    def _choose_reg(self, train: Ratings, mu: float, spread: float, start: _State):
        """reg="auto": the penalty with the lowest RMSE on a slice held out of ``train``.

        Returns the chosen penalty, the path (see ``reg_path_``), and the state the refit on
        all of ``train`` starts from, with its number of alternations.
        """
        user_keys = id_keys(train.user_index)[train.user_codes]
        item_keys = id_keys(train.item_index)[train.item_codes]
        held = keyed_uniform(int(self.seed), pair_keys(user_keys, item_keys)) < AUTO_VALIDATION
        data = _Standardised(train.subset(~held), mu, spread)
        # scored on the held-out pairs whose user and item both keep ratings in the fit part
        # (the others get the Bias fallback, the same for every penalty)
        vu, vi = train.user_codes[held], train.item_codes[held]
        keep = (data.user_counts[vu] > 0) & (data.item_counts[vi] > 0)
        vu, vi = vu[keep], vi[keep]
        vz = (train.ratings[held][keep] - mu) / spread
        lo, hi = (np.asarray(self.rating_range_) - mu) / spread
        first = start.copy()
        first.items[data.item_counts == 0] = 0.0
        states, order, seconds = {}, [], []
        bar = TrainingLog("ALS reg='auto'", AUTO_MAX_STEPS, "penalty", self.show_progress, log)

        def visit(j: int, source: int | None, n_iter: int) -> float:
            """Fit penalty ``j`` of the grid from a copy of state ``source`` (``None``: the
            start); its validation RMSE."""
            t0 = time.perf_counter()
            state = (first if source is None else states[source]).copy()
            for it in range(n_iter):
                self._sweep(data, state, auto_penalty(j), it)
            pred = np.zeros(len(vu))
            predict_biased_pairs(
                vu, vi, state.users, state.items, state.user_bias, state.item_bias, 0.0, pred
            )
            error = float(np.sqrt(np.mean((np.clip(pred, lo, hi) - vz) ** 2))) * spread
            states[j] = state
            order.append(j)
            seconds.append(time.perf_counter() - t0)
            bar.record(seconds[-1], reg=auto_penalty(j), validation_rmse=error)
            return error

        # superseded states are dropped as the walk goes: memory for a few states at a time
        errors = walk_penalties(visit, int(self.n_iter), forget=states.pop)
        bar.close()
        best, chosen = choose_penalty(errors)
        path = {
            "reg": [auto_penalty(j) for j in order],
            "validation_rmse": [errors[j] for j in order],
            "seconds": seconds,
        }
        warm = states[best]
        fresh = data.item_counts == 0  # items whose ratings were all held out: keyed start
        warm.items[fresh] = start.items[fresh]
        return chosen, path, warm, min(AUTO_REFIT_ITERS, int(self.n_iter))

    # --------------------------------------------------------- predicting
    def _user_vectors(self) -> np.ndarray:
        return self.user_factors_
