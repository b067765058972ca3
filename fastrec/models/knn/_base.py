"""What UserKNN and ItemKNN share: parameters, the users <-> items orientation, the fit's
preparation (means, centred unit-norm rows, deviations), the fitted state, ``predict``'s
frame, and the choice of algorithm by ``k`` (see the package docstring)."""

from __future__ import annotations

import logging
import numbers
import time
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from ...data import Ratings
from .._params import Bool, Int, OneOf, Real
from ..base import Recommender
from ..baselines import Bias
from .all_neighbors import all_neighbor_terms, fit_all_neighbors
from .k_neighbors import fit_k_neighbors, k_neighbor_terms
from .neighbor_lists import build_neighbor_lists, transpose
from .scoring import PASS_SCORE_BYTES, block_scorer, one_pass

log = logging.getLogger(__name__)

CENTERS = ("auto", "none", "user", "item", "bias")
BASELINES = ("auto", "mean", "bias")


class NeighborhoodModel(Recommender):
    """The implementation of :class:`~fastrec.UserKNN` (anchors are users, targets items)
    and :class:`~fastrec.ItemKNN` (anchors items, targets users).

    Fitted state (saved): the resolved ``center_``, ``baseline_``, ``signed_``, ``shrinkage_``,
    ``presence_`` (see ``_resolved``), ``keep_``
    (neighbours stored per row, ``None`` for all or the post's form); ``user_mean_``,
    ``item_mean_`` (float64, NaN where there is no training rating); ``list_dev_`` (CSR,
    targets x anchors: each rating minus its baseline, see ``baseline``); the stored
    neighbours ``stored_similarity_`` (CSR, anchors x anchors, sorted indices, row ``a``
    without ``a`` itself) and ``stored_abs_sum_`` (float64[n_anchors], the sum of ``|sim|``
    over all neighbours of each row, stored or not), both ``None`` for the k form with
    ``exact=True``, whose state is instead ``unit_rows_`` (CSR, anchors x targets: the
    centred ratings of each anchor scaled to unit norm, from which any similarity row is
    recomputed); ``fit_seconds_`` (seconds per fit phase: baseline, similarity, deviations);
    and the base's ``fallback_``: the fitted :class:`~fastrec.Bias` where the centre or the
    baseline uses it, else ``None``.

    Derived (rebuilt by ``_rebuild`` after ``fit`` and after loading, never saved):
    ``row_dev_`` (k form: ``list_dev_`` transposed), the unit rows transposed, and, built
    on first use, the deferred lists of ``exact=True`` and ``recommend_all``'s transposed
    rows. ``similarity_`` and ``neighbor_abs_sum_`` read the stored lists or, where they
    were deferred, build them.
    """

    _parameter_constraints: ClassVar[dict[str, list]] = {
        "k": [None, Int(1)],
        "center": [OneOf(*CENTERS)],
        "baseline": [OneOf(*BASELINES)],
        "signed": [None, Bool()],
        "shrinkage": [None, Real(0)],
        "min_support": [Int(1)],
        "presence": [None, Real(0)],
        "keep": [None, OneOf("auto"), Int(1)],
        "exact": [Bool()],
    }
    _fitted_state = (
        "center_", "baseline_", "signed_", "shrinkage_", "presence_", "keep_", "user_mean_",
        "item_mean_", "list_dev_", "stored_similarity_", "stored_abs_sum_", "unit_rows_",
        "fit_seconds_",
    )  # fmt: skip

    #: Anchors are users (UserKNN) or items (ItemKNN).
    _user_based: ClassVar[bool] = True
    #: Defaults of the k form (the post's form: no centring, signed, no shrinkage, no
    #: presence term).
    _k_center: ClassVar[str] = "bias"
    _k_signed: ClassVar[bool] = True
    _k_shrinkage: ClassVar[float] = 0.0
    _k_presence: ClassVar[float] = 0.0

    def __init__(
        self,
        k: int | None = None,
        *,
        center: str = "auto",
        baseline: str = "auto",
        signed: bool | None = None,
        shrinkage: float | None = None,
        min_support: int = 1,
        presence: float | None = None,
        keep: int | str | None = "auto",
        exact: bool = True,
    ):
        self._store_params(locals())

    # ------------------------------------------------------------- params
    def _check_params(self) -> None:
        name = type(self).__name__
        if self.k is None and self.keep not in ("auto", None):
            raise ValueError(
                f"{name}: keep={self.keep!r} needs k: the post's form (k=None) sums over every "
                "neighbour, so it stores them all"
            )
        if self.k is not None and isinstance(self.keep, numbers.Integral) and self.keep < self.k:
            raise ValueError(f"{name}: keep={self.keep} is smaller than k={self.k}")

    def _resolved(self) -> tuple[str, str, bool, float, float]:
        """``(center, baseline, signed, shrinkage, presence)`` with ``"auto"`` / ``None``
        resolved by the form: the post's (``k=None``: no centring, the anchor's mean, signed,
        no shrinkage, no presence term) or the class's k-form defaults."""
        post = self.k is None
        center = self.center if self.center != "auto" else ("none" if post else self._k_center)
        baseline = self.baseline if self.baseline != "auto" else ("mean" if post else "bias")
        signed = bool(self.signed) if self.signed is not None else (post or self._k_signed)
        shrinkage = (
            self.shrinkage if self.shrinkage is not None else (0.0 if post else self._k_shrinkage)
        )
        presence = (
            self.presence if self.presence is not None else (0.0 if post else self._k_presence)
        )
        return center, baseline, signed, float(shrinkage), float(presence)

    def memory_fallback(self) -> Recommender | None:
        """For the post's form (``k=None``), whose similarity holds every pair of neighbours:
        the same model with ``k=40``, which stores a bounded number per row. ``None`` for the
        k form (its ``keep="auto"`` already bounds the memory)."""
        if self.k is None:
            return self.clone().set_params(k=40)
        return None

    def _orient(self, users, items):
        """(anchors, targets): users and items for the user-based model, swapped otherwise."""
        return (users, items) if self._user_based else (items, users)

    # ------------------------------------------------------------ fitting
    def _fallback_model(self) -> Recommender | None:
        """The :class:`~fastrec.Bias` baseline where the centre or the baseline uses it."""
        return Bias() if "bias" in self._resolved()[:2] else None

    def _fit(self, train: Ratings) -> None:
        resolved = self._resolved()
        self.center_, self.baseline_, self.signed_, self.shrinkage_, self.presence_ = resolved
        t0 = time.perf_counter()
        n_users, n_items = train.n_users, train.n_items
        uc, ic, r = train.user_codes, train.item_codes, train.ratings
        with np.errstate(invalid="ignore", divide="ignore"):
            self.user_mean_ = np.bincount(uc, r, n_users) / self.user_n_train_
            self.item_mean_ = np.bincount(ic, r, n_items) / self.item_n_train_
        self.fit_seconds_ = {"baseline": time.perf_counter() - t0}
        # Anchor rows (anchors x targets) and target lists (targets x anchors), as CSR.
        rows = train.csr if self._user_based else train.csc.T
        lists = train.csc.T if self._user_based else train.csr

        # The similarity's input: the centred anchor rows, plus the presence term, scaled
        # to unit norm.
        n_anchors = rows.shape[0]
        row_codes = np.repeat(np.arange(n_anchors, dtype=np.int32), np.diff(rows.indptr))
        row_users, row_items = self._orient(row_codes, rows.indices)
        x = rows.data - self._offsets(self.center_, row_users, row_items)
        if self.presence_ > 0 and len(x):
            # In units of the centred ratings' spread, so that the similarity (and the
            # model) stays the same under r -> a * r + b.
            x += self.presence_ * np.sqrt(np.mean(x * x))
        norms = np.sqrt(np.bincount(row_codes, x * x, n_anchors))
        x *= np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)[row_codes]
        unit_rows = sp.csr_array((x, rows.indices, rows.indptr), shape=rows.shape)
        del x, row_codes, row_users, row_items
        t1 = time.perf_counter()
        if self.k is None:
            fit_all_neighbors(self, unit_rows)
        else:
            fit_k_neighbors(self, unit_rows)
        del unit_rows
        t2 = time.perf_counter()
        self.fit_seconds_["similarity"] = t2 - t1

        # Deviations from the baseline, target by target (row_dev_, their transpose, is
        # derived by _rebuild).
        list_codes = np.repeat(np.arange(lists.shape[0], dtype=np.int32), np.diff(lists.indptr))
        list_users, list_items = self._orient(lists.indices, list_codes)
        base = "anchor_mean" if self.baseline_ == "mean" else "bias"
        self.list_dev_ = sp.csr_array(
            (lists.data - self._offsets(base, list_users, list_items), lists.indices, lists.indptr),
            shape=lists.shape,
        )
        self.fit_seconds_["deviations"] = time.perf_counter() - t2
        stored = self.stored_similarity_
        log.info(
            "%s fitted in %.2fs: %d anchors, %s neighbours stored",
            self.name,
            time.perf_counter() - t0,
            n_anchors,
            "deferred" if stored is None else f"{stored.nnz:,}",
        )

    def _offsets(self, kind: str, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Per-rating centring values: 0, the user mean, the item mean, the anchor's mean,
        or the Bias baseline ``mu + b_u + b_i``."""
        if kind == "none":
            return np.zeros(len(users))
        if kind == "anchor_mean":
            kind = "user" if self._user_based else "item"
        if kind == "user":
            return self.user_mean_[users]
        if kind == "item":
            return self.item_mean_[items]
        return self.fallback_.biases_at(users, items)

    def _rebuild(self) -> None:
        self._check_state()
        self.row_dev_ = None if self.k is None else transpose(self.list_dev_)
        self._unit_lists = None if self.unit_rows_ is None else transpose(self.unit_rows_)
        # Built on first use: "deferred_lists" (exact=True: similarity, abs sums) and
        # "reverse_rows" (item-based recommend_all: the stored rows transposed). A dict, so
        # that shallow copies share what any of them builds: fastrec.spark scores each block
        # of users on a copy carrying that block's seen items.
        self._built_on_use = {}

    def _check_state(self) -> None:
        """Refuse a state that does not fit the parameters and the id maps (a loaded file)."""
        n_anchors, n_targets = self._orient(len(self.user_index_), len(self.item_index_))

        def expect(ok, what):
            if not ok:
                raise ValueError(f"{type(self).__name__}: {what}")

        expect(self.center_ in CENTERS[1:] and self.baseline_ in BASELINES[1:], "bad centre")
        expect(isinstance(self.signed_, bool), "signed_ must be a bool")
        expect(
            all(type(v) is float and v >= 0 for v in (self.shrinkage_, self.presence_)),
            "shrinkage_ / presence_ must be floats >= 0",
        )
        uses_bias = "bias" in (self.center_, self.baseline_)
        expect(isinstance(self.fallback_, Bias) or not uses_bias, "no Bias fallback_")
        expect(
            self.user_mean_.shape == (len(self.user_index_),)
            and self.item_mean_.shape == (len(self.item_index_),),
            "user_mean_ / item_mean_ do not match the id maps",
        )
        expect(self.list_dev_.shape == (n_targets, n_anchors), "list_dev_ has the wrong shape")
        keep = self.keep_
        expect(keep is None or (self.k is not None and int(keep) >= 1), "bad keep_")
        if self.k is not None and self.exact:
            expect(self.stored_similarity_ is None, "exact=True stores no similarity")
            expect(
                self.unit_rows_ is not None and self.unit_rows_.shape == (n_anchors, n_targets),
                "unit_rows_ missing or of the wrong shape",
            )
        else:
            expect(self.unit_rows_ is None, "unit_rows_ is only kept with exact=True")
            expect(
                self.stored_similarity_ is not None
                and self.stored_similarity_.shape == (n_anchors, n_anchors)
                and self.stored_abs_sum_.shape == (n_anchors,),
                "stored_similarity_ / stored_abs_sum_ missing or of the wrong shape",
            )

    # ---------------------------------------------------- stored neighbours
    @property
    def similarity_(self) -> sp.csr_array:
        """The stored neighbours (CSR, anchors x anchors): fitted state, or for the k form
        with ``exact=True`` built on first use and kept (derived, never saved)."""
        return self._neighbor_lists()[0]

    @property
    def neighbor_abs_sum_(self) -> np.ndarray:
        """Sum of ``|sim|`` over all neighbours of each row, stored or not."""
        return self._neighbor_lists()[1]

    def _neighbor_lists(self) -> tuple[sp.csr_array, np.ndarray]:
        self._check_fitted("reading similarity_")
        if self.stored_similarity_ is not None:
            return self.stored_similarity_, self.stored_abs_sum_
        built = self._built_on_use
        if "deferred_lists" not in built:
            built["deferred_lists"] = build_neighbor_lists(
                self, self.unit_rows_, self._unit_lists, self.keep_
            )
        return built["deferred_lists"]

    def _available_similarity(self) -> sp.csr_array | None:
        """The stored neighbours if they exist without building anything, else ``None``."""
        if self.stored_similarity_ is not None:
            return self.stored_similarity_
        deferred = self._built_on_use.get("deferred_lists")
        return None if deferred is None else deferred[0]

    # --------------------------------------------------------- predicting
    def _predict(self, users, items):
        """Every pair starts at the baseline ``b(u, i)``: the Bias baseline
        (``fallback_``'s ``mu + b_u + b_i``) or the anchor's mean (the global mean for an
        unknown anchor). Known pairs add the neighbourhood term; pairs with an unknown side,
        or (k form) without a neighbour, keep the baseline and count as fallbacks. The k
        form clips to the training range."""
        anchors, targets = self._orient(users, items)
        valid = (anchors >= 0) & (targets >= 0)
        if self.baseline_ == "bias":
            pred = self.fallback_.biases_at(users, items)
        else:
            mean = self.user_mean_ if self._user_based else self.item_mean_
            pred = np.where(anchors >= 0, mean[np.maximum(anchors, 0)], self.global_mean_)
        term, n_used, _ = self._terms(anchors[valid], targets[valid])
        fell_back = ~valid
        if n_used is not None:
            fell_back[valid] = n_used == 0
        pred[valid] += term
        if self.k is not None:
            self._clip(pred)
        return pred, fell_back

    def _terms(self, anchors, targets):
        """``(term, n_used or None, n_recomputed)`` of the model's algorithm."""
        if self.k is None:
            return all_neighbor_terms(self, anchors, targets)
        return k_neighbor_terms(self, anchors, targets)

    def recomputed_count(
        self, x, item_ids=None, *, user: str = "userId", item: str = "movieId"
    ) -> int:
        """How many of ``predict(x)``'s pairs the model answers from a full similarity row
        recomputed at predict time: with ``k`` and ``exact=True``, every pair of a known
        user and item while the stored lists are deferred, and once they are built only
        those whose ``keep_`` stored neighbours hold fewer than ``k`` raters of the item; 0
        otherwise. Takes as long as ``predict(x)`` (it runs the same kernels); writes
        nothing to the model. Arguments as :meth:`predict`."""
        users, items = self._to_codes(x, item_ids, user, item)
        anchors, targets = self._orient(users, items)
        valid = (anchors >= 0) & (targets >= 0)
        if not valid.any():
            return 0
        return int(self._terms(anchors[valid], targets[valid])[2])

    # ------------------------------------------------------- recommending
    @property
    def _score_bytes(self) -> int:  # type: ignore[override]
        """Per score: the one-pass scorer's float64, else the base's per-pair estimate."""
        return PASS_SCORE_BYTES if one_pass(self) else Recommender._score_bytes

    def _block_scorer(self):
        """See :mod:`fastrec.models.knn.scoring`: one pass over each user's stored
        neighbourhood for the k form, ``predict`` at every pair otherwise."""
        return block_scorer(self)
