"""``recommend_all`` for UserKNN / ItemKNN: the block scorer (see
``Recommender._block_scorer``).

The k form ranks every item of a block of users in one pass over each user's stored
neighbourhood (:mod:`fastrec.kernels.neighbor_scores`) instead of one prediction per
(user, item) pair; the per-user part of the baseline is left out. The pass reads the stored
similarity rows (``similarity_``, built here where ``fit`` deferred them, then kept as a
derived structure: later predictions use them, and they are never saved), so its scores
are the model's predictions wherever those rows hold every neighbour (``keep_`` None: up to
``sqrt(AUTO_KEEP_ENTRIES)`` = 10,000 anchors by default) or the model predicts from them
alone (``exact=False``). Two cases take the base class's per-pair scorer instead
(:func:`fastrec.models._topn.predict_every_pair_scorer`):

- the post's form (``k=None``), whose per-pair kernel is as fast as a whole-row pass;
- the k form with ``exact=True`` and truncated rows (the defaults at MovieLens-25M scale):
  exact predictions look past the stored rows, and the items they rank first are mostly
  ones those rows say nothing about, so no pass over them can rank as ``predict`` does. It
  predicts every (user, item) pair exactly (hours at that scale) and warns, naming the fast
  form (``exact=False``).

The item-based pass walks the stored rows transposed (row ``j``: the items whose stored row
holds ``j``): built on first use and kept on the model (``_built_on_use["reverse_rows"]``,
derived, reset by ``_rebuild``, never saved, shared by the model's shallow copies).
"""

from __future__ import annotations

import warnings

import numba
import numpy as np
import scipy.sparse as sp

from ...kernels.neighbor_scores import score_items_item_based, score_items_user_based
from ...memory import require
from .._topn import predict_every_pair_scorer
from .neighbor_lists import BYTES_PER_NEIGHBOR, n_chunks, transpose

#: Bytes per (user, item) score of the one-pass scorer (its float64 block); the per-pair
#: scorer's are the base class's.
PASS_SCORE_BYTES = 8


def one_pass(model) -> bool:
    """Whether ``recommend_all`` ranks ``model``'s items in one pass over stored rows."""
    return model.k is not None and not approximate_rows(model)


def approximate_rows(model) -> bool:
    """Whether the stored rows' k-NN term may differ from ``predict``'s: the k form with
    ``exact=True`` whose rows hold only the best ``keep_`` of the other anchors."""
    n_anchors = len(model.user_n_train_ if model._user_based else model.item_n_train_)
    return (
        model.k is not None
        and bool(model.exact)
        and model.keep_ is not None
        and model.keep_ < n_anchors - 1
    )


def block_scorer(model):
    """``score(users, lo, hi)`` for ``recommend_all`` (see the module docstring)."""
    if model.k is None:
        return predict_every_pair_scorer(model)
    if approximate_rows(model):
        entity = "user" if model._user_based else "item"
        name = type(model).__name__
        warnings.warn(
            f"{model.name}: the similarity rows keep only the {model.keep_} most similar "
            f"{entity}s and exact=True predictions look past them, so recommend_all "
            f"predicts every (user, item) pair ({len(model.user_n_train_):,} x "
            f"{len(model.item_n_train_):,}); at MovieLens-25M scale that takes hours. "
            f"For top-N at scale fit {name}(k={model.k}, exact=False), which predicts from "
            "the stored neighbours (LensKit's way) and ranks every user's items in one pass",
            stacklevel=6,  # recommend_all's caller
        )
        return predict_every_pair_scorer(model)
    return _one_pass_scorer(model)


def buffer_bytes(model, n_items: int) -> int:
    """Work space of :func:`score_items_item_based`: per thread, a buffer of ``2k``
    16-byte records per item plus seven ``n_items`` vectors."""
    return numba.get_num_threads() * n_items * (32 * int(model.k) + 56)


def reverse_rows(model, sim: sp.csr_array) -> sp.csr_array:
    """The stored rows transposed, sorted: built once per fitted model and kept on it as
    ``_built_on_use["reverse_rows"]`` (derived: ``_rebuild`` resets it, ``save`` never stores
    it; a shallow copy of the model shares it)."""
    built = model._built_on_use
    if "reverse_rows" not in built:
        require(
            sim.nnz * BYTES_PER_NEIGHBOR,
            f"recommend_all: the {sim.nnz:,} stored neighbours transposed",
            "fit with a smaller keep",
        )
        built["reverse_rows"] = transpose(sim)
    return built["reverse_rows"]


def _one_pass_scorer(model):
    sim = model.similarity_
    n_items = len(model.item_n_train_)
    if model.baseline_ == "bias":
        item_base = model.fallback_.biases_at(
            np.full(n_items, -1, dtype=np.int32), np.arange(n_items, dtype=np.int32)
        )
    elif model._user_based:
        item_base = np.zeros(n_items)  # the user's mean: constant over the user's row
    else:
        item_base = np.nan_to_num(model.item_mean_)
    if model._user_based:
        kernel, rows, dev, chunks = score_items_user_based, sim, model.row_dev_, n_chunks()
    else:
        rows, dev = reverse_rows(model, sim), model.list_dev_
        kernel, chunks = score_items_item_based, numba.get_num_threads()
        require(
            buffer_bytes(model, n_items),
            f"recommend_all: buffers of 2k={2 * model.k} neighbours per item for each of "
            f"{chunks} threads",
            "use a smaller k or fewer Numba threads (numba.set_num_threads)",
        )
    k, signed = int(model.k), bool(model.signed_)
    cache = {"users": None, "scores": None}

    def score(users: np.ndarray, lo: int, hi: int) -> np.ndarray:
        # One pass gives every item: compute the block's rows once, slice the tiles.
        if cache["users"] is None or not np.array_equal(cache["users"], users):
            out = cache["scores"]
            if out is None or out.shape[0] < len(users):
                require(
                    len(users) * n_items * 8,
                    f"recommend_all: every item's score for {len(users):,} users",
                    "pass a smaller block_size",
                )
                out = cache["scores"] = np.empty((len(users), n_items))
            kernel(
                rows.indptr, rows.indices, rows.data, dev.indptr, dev.indices, dev.data,
                k, signed, users, item_base, out[: len(users)], chunks,
            )  # fmt: skip
            cache["users"] = users.copy()
        return cache["scores"][: len(users), lo:hi]

    return score
