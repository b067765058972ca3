"""The stored neighbour lists of both KNN algorithms: a memory-checked build of the cosine
similarity of the anchor rows (every neighbour, or the ``keep`` best of each row), and the
transposes the kernels read.

Input: the *unit rows* (CSR, anchors x targets, sorted indices): each anchor's centred
ratings scaled to unit norm, so that a dot product of two rows is their cosine; and the
*unit lists*, their transpose (targets x anchors). The kernels are
:func:`~fastrec.kernels.similarity.count_cosine_neighbors` and
:func:`~fastrec.kernels.similarity.fill_cosine_neighbors` (every neighbour: a counting pass,
then a fill) and :func:`~fastrec.kernels.similarity.select_cosine_neighbors` (the best
``keep``).
"""

from __future__ import annotations

import logging
import time

import numba
import numpy as np
import scipy.sparse as sp

from ...kernels.similarity import (
    count_cosine_neighbors,
    fill_cosine_neighbors,
    select_cosine_neighbors,
)
from ...memory import require

log = logging.getLogger(__name__)

#: Bytes per stored neighbour: an int32 index and a float64 similarity.
BYTES_PER_NEIGHBOR = 12


def n_chunks() -> int:
    """Parallel chunks of the similarity and prediction kernels: 4 per Numba thread."""
    return 4 * numba.get_num_threads()


def csr_arrays(matrix: sp.csr_array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(indptr, indices, data)``: a CSR matrix as the kernels take it, one tuple."""
    return matrix.indptr, matrix.indices, matrix.data


def cosine_params(model) -> tuple[float, int, bool]:
    """``(shrinkage, min_support, signed)`` of a fitted (or fitting) UserKNN / ItemKNN, as
    resolved by its form: the ``cosine`` tuple of :mod:`fastrec.kernels.similarity`."""
    return float(model.shrinkage_), int(model.min_support), bool(model.signed_)


def transpose(matrix: sp.csr_array) -> sp.csr_array:
    """The transpose of a CSR array, as CSR with sorted indices (values are copied as they
    are, so a transpose of the rows holds bit for bit the lists computed directly)."""
    out = sp.csr_array(matrix.T)
    out.sort_indices()
    return out


def build_neighbor_lists(
    model, unit_rows: sp.csr_array, unit_lists: sp.csr_array, keep: int | None
) -> tuple[sp.csr_array, np.ndarray]:
    """``(similarity, abs_sums)`` of a fitted (or fitting) UserKNN / ItemKNN ``model``.

    ``similarity``: CSR, anchors x anchors, sorted indices, row ``a`` holding the stored
    neighbours of anchor ``a`` (never ``a`` itself): every non-zero cosine (``keep`` None)
    or the ``keep`` with the largest ``sim`` (``|sim|`` when ``model.signed_``; ties to the
    smaller index), after ``model.shrinkage_`` and ``model.min_support``. ``abs_sums``:
    ``float64[n_anchors]``, the sum of ``|sim|`` over every neighbour of each row, stored
    or not.

    Memory is checked before anything is allocated (:func:`fastrec.memory.require`): for
    every neighbour, an upper bound (each pair of anchors that share a target) before the
    counting pass and the exact count after it; for ``keep``, the two ``n_anchors x keep``
    work arrays. The error names the estimate and the way out (``k``, ``keep``).
    """
    rows = (*csr_arrays(unit_rows), *csr_arrays(unit_lists))
    cosine = cosine_params(model)
    n_anchors = unit_rows.shape[0]
    entity = "user" if model._user_based else "item"
    workspace = n_chunks() * n_anchors * 48
    t0 = time.perf_counter()
    if keep is None:
        # Upper bound before the count pass: each pair of anchors that share a target.
        per_target = np.diff(unit_lists.indptr).astype(np.float64)
        pairs = min(
            float(n_anchors) * (n_anchors - 1), float(np.sum(per_target * (per_target - 1)))
        )
        way_out = (
            f"set k (e.g. {type(model).__name__}(k=40)) for the k-nearest-neighbour form, "
            "which stores a bounded number of neighbours per row"
            if model.k is None
            else "set keep to store only the most similar neighbours of each row"
        )
        require(
            pairs * BYTES_PER_NEIGHBOR + workspace,
            f"the full {entity}-{entity} similarity "
            f"({n_anchors:,} {entity}s, up to {pairs:,.0f} pairs)",
            way_out,
        )
        counts = count_cosine_neighbors(rows, cosine, n_chunks())
        indptr = np.zeros(n_anchors + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        require(
            indptr[-1] * BYTES_PER_NEIGHBOR + workspace,
            f"the full {entity}-{entity} similarity ({indptr[-1]:,} pairs)",
            way_out,
        )
        indices, data, abs_sums = fill_cosine_neighbors(rows, cosine, indptr, n_chunks())
    else:
        keep = min(keep, max(n_anchors - 1, 1))
        require(
            2 * n_anchors * keep * BYTES_PER_NEIGHBOR + workspace,
            f"the {keep} most similar neighbours of each of {n_anchors:,} {entity}s",
            "set keep to a smaller number of neighbours per row",
        )
        nbr, sims, counts, abs_sums = select_cosine_neighbors(rows, cosine, keep, n_chunks())
        indptr = np.zeros(n_anchors + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        valid = nbr >= 0
        indices, data = nbr[valid], sims[valid]
        del nbr, sims, valid
    if indptr[-1] < np.iinfo(np.int32).max:
        indptr = indptr.astype(np.int32)  # scipy would otherwise copy indices to int64
    sim = sp.csr_array((data, indices, indptr), shape=(n_anchors, n_anchors))
    sim.has_sorted_indices = True
    log.debug("similarity: %d pairs in %.2fs", len(data), time.perf_counter() - t0)
    return sim, abs_sums
