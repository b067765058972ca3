"""The blog post's all-neighbour cosine form of UserKNN / ItemKNN (``k=None``).

For the user-based model (item-based: swap users and items; "anchors" are users, "targets"
items)::

    pred(u, i) = mean_u + sum_v sim(u, v) (r_vi - mean_v) / sum_v |sim(u, v)|

with ``sim`` the cosine of the (by default raw, uncentred) training rating rows, both sums
over ALL anchors (``u`` itself included, similarity 1), ``r_vi - mean_v`` taken as 0 where
``v`` did not rate ``i``. The denominator does not depend on ``i``: it is the row's
``abs_sums + 1``, computed once with the similarity.

Fitted state this form adds: the stored similarity (every neighbour of every anchor) and
its row sums of ``|sim|``. The kernel is
:func:`fastrec.kernels.neighbors.predict_all_neighbors`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ...kernels.neighbors import predict_all_neighbors
from .neighbor_lists import build_neighbor_lists, csr_arrays, n_chunks, transpose


def fit_all_neighbors(model, unit_rows: sp.csr_array) -> None:
    """Store every neighbour of every anchor (``stored_similarity_``, ``stored_abs_sum_``);
    the unit rows are not kept (``unit_rows_`` None, ``keep_`` None)."""
    model.keep_ = None
    model.unit_rows_ = None
    model.stored_similarity_, model.stored_abs_sum_ = build_neighbor_lists(
        model, unit_rows, transpose(unit_rows), None
    )


def all_neighbor_terms(model, anchors: np.ndarray, targets: np.ndarray):
    """The neighbourhood term at known (anchor, target) code pairs.

    Returns ``(term, n_used, n_recomputed)``: ``float64[len(anchors)]``, ``None`` (every
    pair has an answer: where no neighbour rated the target the term is 0 and the
    prediction the anchor's mean, the formula's own value) and 0.
    """
    term = predict_all_neighbors(
        csr_arrays(model.stored_similarity_), model.stored_abs_sum_,
        csr_arrays(model.list_dev_), anchors, targets, n_chunks(),
    )  # fmt: skip
    return term, None, 0
