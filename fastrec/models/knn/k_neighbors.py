"""The k-nearest-neighbour form of UserKNN / ItemKNN (``k`` set): Surprise's KNNWithMeans /
KNNBaseline, LensKit's ItemItem.

For the user-based model (item-based: swap users and items)::

    pred(u, i) = clip(b(u, i) + sum_{v in N} sim(u, v) (r_vi - b(v, i)) / sum_{v in N} |sim(u, v)|)

with ``b`` the baseline (the Bias baseline ``mu + b_u + b_i``, or the anchor's mean), ``N``
the ``k`` anchors with the largest ``sim`` (``|sim|`` when signed; ties to the smaller code)
among those that rated the target, and ``sim`` the cosine of the centred rating rows.

Two ways to find ``N`` (``exact``):

- ``exact=True``: from each anchor's full similarity row, computed when needed from the
  *unit rows* (the centred, unit-norm anchor rows: fitted state) in one pass
  (:func:`~fastrec.kernels.neighbors.predict_k_neighbors_exact`); the full matrix is never
  held. The stored lists (the best ``keep_`` of each row) are built on first use (reading
  ``similarity_``, or ``recommend_all``) as a derived structure, never saved; once they
  exist, pairs with ``k`` raters among a row's stored neighbours are answered from them
  (:func:`~fastrec.kernels.neighbors.predict_k_neighbors`) and only the others recomputed:
  the same neighbours, so the same answers up to float rounding (summed in another order).
- ``exact=False``: ``fit`` stores the lists (fitted state; the unit rows are dropped) and
  ``N`` is taken among the stored neighbours alone (LensKit's way): exact wherever ``k`` of
  them rated the target.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from ...kernels.neighbors import predict_k_neighbors, predict_k_neighbors_exact
from .neighbor_lists import build_neighbor_lists, cosine_params, csr_arrays, n_chunks, transpose

log = logging.getLogger(__name__)

#: ``keep="auto"`` stores every neighbour when ``n_anchors**2`` is at most this many entries
#: (12 bytes each: about 1.1 GiB), else the ``AUTO_KEEP_ENTRIES // n_anchors`` best per row.
AUTO_KEEP_ENTRIES = 100_000_000


def resolve_keep(model, n_anchors: int) -> int | None:
    """Neighbours stored per row: ``None`` for all, else an int (see ``keep``)."""
    if model.keep is None:
        return None
    if model.keep == "auto":
        if n_anchors * n_anchors <= AUTO_KEEP_ENTRIES:
            return None
        return max(int(model.k), AUTO_KEEP_ENTRIES // n_anchors)
    return int(model.keep)


def fit_k_neighbors(model, unit_rows: sp.csr_array) -> None:
    """Set ``keep_``; then keep the unit rows (``exact=True``: ``unit_rows_``, the stored
    lists deferred) or build and store the lists (``exact=False``: ``stored_similarity_``,
    ``stored_abs_sum_``)."""
    model.keep_ = resolve_keep(model, unit_rows.shape[0])
    if model.exact:
        model.unit_rows_ = unit_rows
        model.stored_similarity_ = model.stored_abs_sum_ = None
        log.debug("similarity: deferred to first use (keep=%s)", model.keep_)
        return
    model.unit_rows_ = None
    model.stored_similarity_, model.stored_abs_sum_ = build_neighbor_lists(
        model, unit_rows, transpose(unit_rows), model.keep_
    )


def k_neighbor_terms(model, anchors: np.ndarray, targets: np.ndarray):
    """The k-NN term at known (anchor, target) code pairs.

    Returns ``(term, n_used, n_recomputed)``: ``float64[len(anchors)]``, ``int32[...]`` (the
    neighbours in ``N``; 0 where none rated the target: the term is 0 and the pair a
    fallback), and how many pairs were answered from a recomputed full row (``exact=True``:
    all of them while the stored lists are not built, else those whose ``keep_`` stored
    neighbours hold fewer than ``k`` raters of the target).
    """
    k, signed, dev = int(model.k), bool(model.signed_), model.list_dev_
    sim = model._available_similarity()
    if sim is None:  # exact, lists not built: every anchor's full row, recomputed
        term, n_used = _recomputed(model, anchors, targets)
        n_recomputed = len(anchors)
    else:
        term, n_used = predict_k_neighbors(
            csr_arrays(sim), csr_arrays(dev), csr_arrays(model.row_dev_), k, signed,
            anchors, targets, n_chunks(),
        )  # fmt: skip
        n_recomputed = 0
        if model.exact and model.keep_ is not None:
            # A full stored row (keep_ entries) may miss better neighbours that rated the
            # target; where fewer than k stored ones did, recompute the whole row.
            redo = (n_used < k) & (np.diff(sim.indptr)[anchors] >= model.keep_)
            if redo.any():
                term[redo], n_used[redo] = _recomputed(model, anchors[redo], targets[redo])
                n_recomputed = int(redo.sum())
    log.debug("k-NN terms of %d pairs, %d from recomputed rows", len(anchors), n_recomputed)
    return term, n_used, n_recomputed


def _recomputed(model, anchors, targets):
    """``predict_k_neighbors_exact`` from the unit rows (``exact=True`` only)."""
    rows = (*csr_arrays(model.unit_rows_), *csr_arrays(model._unit_lists))
    return predict_k_neighbors_exact(
        rows, cosine_params(model), csr_arrays(model.list_dev_), int(model.k),
        anchors, targets, n_chunks(),
    )  # fmt: skip
