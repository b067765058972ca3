"""A ridge stack of several models' predictions, its weights fitted on out-of-fold
predictions of the training ratings (never on a test set)."""

from __future__ import annotations

import logging
import math
import time

import numpy as np

from ..data import Ratings
from ._common import TrainingLog
from ._params import Bool, Int, OneOf, Real
from ._topn import predict_every_pair_scorer
from .als import ALS
from .base import BASE_STATE, Recommender
from .baselines import Bias
from .knn import ItemKNN
from .mf import BiasedMF
from .svdpp import SVDpp

log = logging.getLogger(__name__)


def default_members() -> list[Recommender]:
    """The members of ``Blend()`` (``models=None``): a fresh, unfitted list.

    ``Bias()``, ``BiasedMF()``, ``ItemKNN(k=40)``, ``SVDpp()``, ``ALS()``: of every subset
    of these and ``UserKNN(k=40)``, the best blend on the post's split and on the mean of
    the ml-100k folds u1..u5 (adding ``UserKNN(k=40)`` changed neither by 0.0001). ``Bias``
    gets a negative weight: the blend undoes part of the members' shrinkage towards it.
    """
    return [Bias(), BiasedMF(), ItemKNN(k=40), SVDpp(), ALS()]


class _ModelList(OneOf):
    """A non-empty list or tuple of fastrec models.

    A :class:`OneOf` only so that tools which enumerate refused values by constraint type
    (the contract test) try ``"nope"``, ``1.5`` and ``True`` on it; ``accepts`` is its own.
    """

    def accepts(self, value) -> bool:
        return (
            type(value) in (list, tuple)
            and len(value) > 0
            and all(isinstance(m, Recommender) for m in value)
        )

    def describe(self) -> str:
        return "a non-empty list or tuple of fastrec models (Recommender instances)"


class Blend(Recommender):
    """A linear blend (ridge stack) of several fastrec models, weighted on held-out data.

    Prediction, for a pair whose user and item both have training ratings::

        pred(u, i) = clip(c + sum_m w_m pred_m(u, i))

    to the range of the training ratings, where ``pred_m`` is member ``m`` fitted on every
    training rating (its own prediction, with its own answers where it has no number of
    its own, e.g. :class:`~fastrec.ItemKNN`'s baseline where the neighbourhood is empty).

    Weights ``w`` (float64[M]) and intercept ``c`` come from out-of-fold predictions of the
    TRAINING ratings: the training ratings are dealt at random (by ``seed``) into
    ``n_folds`` folds, every rating into exactly one; for each fold, a fresh copy of every
    member (same parameters, :meth:`~fastrec.Recommender.clone`) is fitted on the other
    folds and predicts the fold. That gives ``X`` (float64[n_train, M]), each rating
    predicted by models that never saw it, beside the ratings ``y``. The weights solve the
    ridge regression with an unpenalised intercept on the rows the blend will answer itself
    (user and item both rated in the other folds; the rest would go to the fallback)::

        (Xc' Xc + alpha * v * I) w = Xc' yc,   c = mean(y) - mean(X) . w
        v = trace(Xc' Xc) / (n * M)

    with ``Xc``, ``yc`` the centred columns, ``n`` the rows used and ``v`` the members'
    mean prediction variance. ``alpha`` is so counted in ratings: the penalty weighs as
    much as ``alpha`` ratings' worth of that variance, so it matters on small data and
    fades as ``n`` grows, and it is free of the rating scale: fitting on ``a * r + b``
    (``a > 0``) gives the same ``w`` and predictions ``a * pred + b`` where the members'
    do. ``alpha = 0`` is least squares (the minimum-norm solution where members
    coincide). No test rating is ever used: ``fit`` sees only its argument.

    Then every member is fitted once more on all the training ratings: a fit costs
    ``n_folds + 1`` fits of each member. Members keep their own parameters (seeds
    included); ``seed`` only deals the folds. Same ``seed``, same members: same weights
    and predictions.

    Fallback: a pair whose user or item has no training rating gets
    :class:`~fastrec.models.baselines.Bias` (damped ``mu + b_u + b_i``, the missing side's
    bias 0), counted as a fallback; the members would mostly give the same answer, and the
    weights were fitted on pairs with both sides known.

    Top-n (``recommend``, ``recommend_all``): the blend of clipped member predictions is
    not a sum of the members' ranking scores, so every (user, item) pair of a block is
    predicted (``predict``'s own numbers; slower than a factor model's matrix product).

    Parameters
    ----------
    models : list of Recommender or None, default None
        The members, unfitted (a fitted one is used only for its parameters). ``None``:
        :func:`default_members`, ``[Bias(), BiasedMF(), ItemKNN(k=40), SVDpp(), ALS()]``.
    n_folds : int, default 5
        Folds of the out-of-fold predictions (>= 2).
    alpha : float, default 10.0
        Ridge penalty, in ratings' worth of the members' mean prediction variance (see
        above). 10 was as good as or better than 0, 1, 30, 100 and 1000 on 1,500, 5,000
        and 20,000 ratings drawn from the post's training split, and changes the RMSE by
        less than 0.0001 on the full post's split and the ml-100k folds.
    seed : int, default 0
        Seeds the deal of the training ratings into folds.
    show_progress : bool, default False
        A tqdm bar over the ``(n_folds + 1) x M`` member fits and one INFO line per fit.

    Attributes
    ----------
    members_ : tuple of Recommender
        The members fitted on every training rating, in the order of ``models``.
    weights_ : float64[M]
        ``w``, one per member.
    intercept_ : float
        ``c``.
    member_oof_rmse_ : float64[M]
        Each member's out-of-fold RMSE on the rows the weights were fitted on.
    oof_rmse_ : float
        The blend's RMSE on those rows (in-sample for ``w`` and ``c``, so slightly low).
    history_ : dict of lists of float
        Per member fit, in order: ``fold`` (``n_folds`` for the final fit on every
        rating), ``member`` (its position), ``heldout_rmse`` (its RMSE on the fold's
        answerable ratings; NaN for the final fit) and ``seconds``.
    fallback_ : Bias

    Notes
    -----
    Weights are fitted on the rows a member answers with its own fallback within a fold
    (e.g. a user with one rating in the other folds) as on any other: that is also what
    the member does for such pairs at prediction time. With fewer than two answerable
    rows (tiny data), the blend is the plain average of the members (``w_m = 1 / M``,
    ``c = 0``).
    """

    _parameter_constraints = {
        "models": [None, _ModelList()],
        "n_folds": [Int(2)],
        "alpha": [Real(0)],
        "seed": [Int(0)],
        "show_progress": [Bool()],
    }
    _fitted_state = (
        "members_", "weights_", "intercept_", "member_oof_rmse_", "oof_rmse_", "history_",
    )  # fmt: skip

    def __init__(
        self,
        models: list[Recommender] | None = None,
        n_folds: int = 5,
        alpha: float = 10.0,
        seed: int = 0,
        show_progress: bool = False,
    ):
        self._store_params(locals())

    def _check_params(self) -> None:
        # Each member's own parameters, before any fold is fitted.
        for member in self._templates():
            member.validate_params()

    def _templates(self) -> list[Recommender]:
        return default_members() if self.models is None else list(self.models)

    def _fallback_model(self) -> Recommender:
        return Bias()

    # ---------------------------------------------------------------- fit
    def _fit(self, train: Ratings) -> None:
        templates = self._templates()
        n, n_members, n_folds = len(train), len(templates), int(self.n_folds)
        if n_folds > n:
            raise ValueError(
                f"Blend: n_folds={n_folds} exceeds the number of training ratings ({n})"
            )
        rng = np.random.default_rng(int(self.seed))
        fold = rng.permutation(n) % n_folds  # every rating in exactly one fold
        oof = np.empty((n, n_members))
        answerable = np.zeros(n, dtype=bool)
        training = TrainingLog("Blend", (n_folds + 1) * n_members, "fit", self.show_progress, log)
        for f in range(n_folds):
            held = np.flatnonzero(fold == f)
            part, heldout = train.subset(fold != f), train.subset(held)
            # The pairs the blend answers itself: user and item rated in the other folds.
            known = (part.user_counts()[heldout.user_codes] > 0) & (
                part.item_counts()[heldout.item_codes] > 0
            )
            answerable[held] = known
            for m, template in enumerate(templates):
                t0 = time.perf_counter()
                pred = template.clone().fit(part).predict(heldout)
                oof[held, m] = pred
                training.record(
                    time.perf_counter() - t0,
                    fold=f,
                    member=m,
                    heldout_rmse=_rmse(pred[known], heldout.ratings[known]),
                )
        rows = np.flatnonzero(answerable)
        x, y = oof[rows], train.ratings[rows].astype(np.float64)
        self.intercept_, self.weights_ = _ridge(x, y, float(self.alpha))
        self.member_oof_rmse_ = np.array([_rmse(x[:, m], y) for m in range(n_members)])
        blended = np.clip(self.intercept_ + x @ self.weights_, *self.rating_range_)
        self.oof_rmse_ = _rmse(blended, y)
        log.debug("Blend: weights %s, intercept %.4f", self.weights_, self.intercept_)

        members = []
        for m, template in enumerate(templates):
            t0 = time.perf_counter()
            member = template.clone().fit(train)
            _share_base_state(member, self)  # equal arrays: keep (and save) one copy
            members.append(member)
            training.record(time.perf_counter() - t0, fold=n_folds, member=m, heldout_rmse=math.nan)
        self.members_ = tuple(members)
        self.history_ = training.close()

    # ------------------------------------------------------------ predict
    def _predict(self, users, items):
        known = (users >= 0) & (items >= 0)
        pred = np.full(len(users), np.nan)
        if known.any():
            u, i = users[known], items[known]
            total = np.full(len(u), self.intercept_)
            for weight, member in zip(self.weights_, self.members_, strict=True):
                total += weight * member._predict_codes(u, i)[0]
            pred[known] = total
        return self._clip(pred), ~known  # NaN: the Bias fallback answers these

    # ---------------------------------------------------------- recommend
    @property
    def _score_bytes(self) -> int:
        # The default scorer's 48 bytes per pair, plus each member's prediction and codes.
        return 48 + 16 * len(getattr(self, "members_", ()))

    def _block_scorer(self):
        """recommend_all: the blend's prediction at every pair of the block."""
        return predict_every_pair_scorer(self)


def _ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[float, np.ndarray]:
    """``(c, w)`` of the ridge regression of ``y`` (float64[n]) on ``x`` (float64[n, M])
    with an unpenalised intercept and penalty ``alpha * v`` (see :class:`Blend`); the plain
    average ``(0, 1 / M)`` when ``n < 2``."""
    n, n_members = x.shape
    if n < 2:
        return 0.0, np.full(n_members, 1.0 / n_members)
    x_mean, y_mean = x.mean(axis=0), float(y.mean())
    xc, yc = x - x_mean, y - y_mean
    gram, cross = xc.T @ xc, xc.T @ yc
    lam = alpha * float(np.trace(gram)) / (n * n_members)
    # lstsq: the minimum-norm answer where members coincide (alpha = 0, or constant members)
    weights = np.linalg.lstsq(gram + lam * np.eye(n_members), cross, rcond=None)[0]
    return float(y_mean - x_mean @ weights), weights


def _rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    return math.sqrt(float(np.mean((pred - truth) ** 2))) if len(pred) else math.nan


def _share_base_state(model: Recommender, source: Recommender) -> None:
    """Point ``model``'s (and its fallbacks') base arrays at ``source``'s equal ones:
    fitted on the same ratings, they hold the same values."""
    while model is not None:
        for attr in BASE_STATE[:-1]:
            setattr(model, attr, getattr(source, attr))
        model = model.fallback_
