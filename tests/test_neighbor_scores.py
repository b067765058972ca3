"""Whole-row neighbourhood scores for top-n recommendations: the kernels of
:mod:`fastrec.kernels.neighbor_scores` against a plain-numpy reference of the formula, and
``UserKNN`` / ``ItemKNN`` ``recommend_all`` against the generic path that predicts every
(user, item) pair."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import fastrec
from fastrec.kernels.neighbor_scores import score_items_item_based, score_items_user_based
from fastrec.models import base


# ------------------------------------------------------------------ plain-numpy reference
def reference_term(sim, dev, rated, anchor, target, k, signed):
    """The k-NN term for one (anchor, target) pair, straight from the formula.

    ``sim`` dense anchors x anchors (0: not stored), ``dev`` / ``rated`` dense anchors x
    targets: over the ``k`` best neighbours that rated the target (``sim`` or ``|sim|``
    descending, then the smaller index), 0 when there are none."""
    cands = [b for b in range(len(sim)) if sim[anchor, b] != 0 and rated[b, target]]
    cands.sort(key=lambda b: (-abs(sim[anchor, b]) if signed else -sim[anchor, b], b))
    best = cands[:k]
    den = sum(abs(sim[anchor, b]) for b in best)
    if not best or den == 0:
        return 0.0
    return sum(sim[anchor, b] * dev[b, target] for b in best) / den


def random_neighbourhood(rng, n_anchors, n_targets):
    """Sparse similarity rows with ties (values on a coarse grid, negatives included), not
    symmetric (as truncated rows are), no diagonal; deviations on about 30% of the
    (anchor, target) cells, with an anchor that rated nothing and one that rated a single
    target."""
    sim = np.round(rng.uniform(-1, 1, (n_anchors, n_anchors)) * 4) / 4
    sim[rng.random(sim.shape) < 0.4] = 0.0
    np.fill_diagonal(sim, 0.0)
    rated = rng.random((n_anchors, n_targets)) < 0.3
    rated[0] = False
    rated[1] = False
    rated[1, 2] = True
    dev = np.where(rated, np.round(rng.normal(0, 1, rated.shape) * 2) / 2, 0.0)
    return sim, dev, rated


def _csr(dense, mask=None):
    mask = dense != 0 if mask is None else mask
    rows, cols = np.nonzero(mask)
    out = sp.csr_array((dense[rows, cols], (rows, cols)), shape=dense.shape)
    out.sort_indices()
    return out


@pytest.mark.parametrize("k", [1, 3, 50])
@pytest.mark.parametrize("signed", [True, False])
def test_user_based_scores_match_the_formula(k, signed):
    rng = np.random.default_rng(10 + k)
    n_users, n_items = 30, 25
    sim, dev, rated = random_neighbourhood(rng, n_users, n_items)
    if not signed:
        sim[sim < 0] = 0.0
    sim_csr, dev_csr = _csr(sim), _csr(dev, rated)
    users = np.array([0, 1, 5, 29, 5, 17], dtype=np.int32)
    item_base = rng.normal(0, 0.3, n_items)
    out = np.full((len(users), n_items), np.nan)
    score_items_user_based(
        sim_csr.indptr, sim_csr.indices, sim_csr.data, dev_csr.indptr, dev_csr.indices,
        dev_csr.data, k, signed, users, item_base, out, 3,
    )  # fmt: skip
    want = np.array(
        [
            [item_base[i] + reference_term(sim, dev, rated, u, i, k, signed)
             for i in range(n_items)]
            for u in users
        ]
    )  # fmt: skip
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [1, 3, 50])
@pytest.mark.parametrize("signed", [True, False])
def test_item_based_scores_match_the_formula(k, signed):
    rng = np.random.default_rng(20 + k)
    n_items, n_users = 28, 22
    # anchors are items: sim is items x items, dev / rated items x users
    sim, dev, rated = random_neighbourhood(rng, n_items, n_users)
    if not signed:
        sim[sim < 0] = 0.0
    rev = _csr(sim.T.copy())  # row j: the items i whose row holds j, with sim[i, j]
    user_dev = _csr(dev.T.copy(), rated.T.copy())
    users = np.array([0, 3, 21, 3, 9], dtype=np.int32)
    # a user who rated more than k items takes the heap path (k = 50: plain sums only)
    n_rated = np.diff(user_dev.indptr)[users]
    if k in (1, 3):
        assert (n_rated > k).any()
    item_base = rng.normal(0, 0.3, n_items)
    out = np.full((len(users), n_items), np.nan)
    score_items_item_based(
        rev.indptr, rev.indices, rev.data, user_dev.indptr, user_dev.indices, user_dev.data,
        k, signed, users, item_base, out, 2,
    )  # fmt: skip
    want = np.array(
        [
            [item_base[i] + reference_term(sim, dev, rated, i, u, k, signed)
             for i in range(n_items)]
            for u in users
        ]
    )  # fmt: skip
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


def test_item_based_scores_across_item_tiles():
    """420 items with k=50: three tiles of the item-based kernel (163 items each), each
    reverse row read through its cursor tile by tile."""
    rng = np.random.default_rng(7)
    n_items, n_users, k = 420, 12, 50
    sim, dev, rated = random_neighbourhood(rng, n_items, n_users)
    rated[:, :4] = rng.random((n_items, 4)) < 0.6  # users with more than k items: buffers
    dev = np.where(rated, np.round(rng.normal(0, 1, rated.shape) * 2) / 2, 0.0)
    rev, user_dev = _csr(sim.T.copy()), _csr(dev.T.copy(), rated.T.copy())
    users = np.arange(n_users, dtype=np.int32)
    assert (np.diff(user_dev.indptr) > 2 * k).any()  # a buffer fills and is cut
    item_base = np.zeros(n_items)
    out = np.full((n_users, n_items), np.nan)
    score_items_item_based(
        rev.indptr, rev.indices, rev.data, user_dev.indptr, user_dev.indices, user_dev.data,
        k, True, users, item_base, out, 2,
    )  # fmt: skip
    want = np.array(
        [[reference_term(sim, dev, rated, i, u, k, True) for i in range(n_items)] for u in users]
    )
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


def test_a_user_without_neighbours_gets_the_item_base():
    item_base = np.array([0.5, -1.0, 2.0])
    out = np.zeros((1, 3))
    empty_sim = sp.csr_array((2, 2))
    dev = _csr(np.array([[1.0, 0, 0], [0, 0, 0]]))
    score_items_user_based(
        empty_sim.indptr, empty_sim.indices, empty_sim.data, dev.indptr, dev.indices,
        dev.data, 40, True, np.array([1], np.int32), item_base, out, 1,
    )  # fmt: skip
    np.testing.assert_array_equal(out[0], item_base)


# ----------------------------------------------------------------- the models, end to end
@pytest.fixture(scope="module")
def small_split():
    ratings = fastrec.datasets.synthetic("ml-100k", seed=1)
    return fastrec.train_test_split(ratings, test_size=0.2, seed=3)


def _generic(model, users, exclude_seen, n=10):
    """recommend_all through the base class's per-pair scorer (``predict`` at every pair)."""
    model._block_scorer = lambda: base.Recommender._block_scorer(model)
    try:
        return model.recommend_all(n=n, users=users, exclude_seen=exclude_seen)
    finally:
        del model._block_scorer


KNN_FORMS = [
    (fastrec.UserKNN, {}),
    (fastrec.UserKNN, {"k": 40}),
    (fastrec.UserKNN, {"k": 40, "signed": False}),
    (fastrec.UserKNN, {"k": 20, "keep": 60, "exact": False}),
    (fastrec.ItemKNN, {}),
    (fastrec.ItemKNN, {"k": 40}),
    (fastrec.ItemKNN, {"k": 20, "keep": 60, "exact": False}),
]


@pytest.mark.parametrize(
    "cls, params", KNN_FORMS, ids=[f"{c.__name__}{p}" for c, p in KNN_FORMS]
)  # fmt: skip
@pytest.mark.parametrize("exclude_seen", [True, False])
def test_knn_recommend_all_is_the_per_pair_ranking(small_split, cls, params, exclude_seen):
    """The whole-row kernels rank exactly as predicting every pair does. Clipping is turned
    off so that the generic path ranks by the same unclipped numbers; items whose scores
    agree to rounding (1e-12) may come in either order."""
    train, _ = small_split
    model = cls(**params).fit(train)
    model.rating_range_ = (-np.inf, np.inf)
    users = train.user_index.to_numpy()[::7]
    fast = model.recommend_all(n=10, users=users, exclude_seen=exclude_seen)
    slow = _generic(model, users, exclude_seen)
    assert len(fast) == len(slow) == 10 * len(users)
    np.testing.assert_allclose(fast.score.to_numpy(), slow.score.to_numpy(), atol=1e-12)
    differ = fast.movieId.to_numpy() != slow.movieId.to_numpy()
    assert differ.mean() < 0.05  # only ties at rounding level may swap
    for user_id in fast.userId[differ].unique():
        a, b = fast[fast.userId == user_id], slow[slow.userId == user_id]
        last = a.score.min()  # the boundary: items above it must be the same set
        assert set(a.movieId[a.score > last + 1e-12]) == set(b.movieId[b.score > last + 1e-12])
    scores = model.predict(fast.userId, fast.movieId)
    np.testing.assert_array_equal(fast.score.to_numpy(), scores)


def test_knn_recommend_all_clipped_scores_are_predict(small_split):
    """With clipping on: scores are predict's, best first, and each user's list of scores is
    the per-pair path's (which items share a clipped score may differ: the pass orders them
    by the unclipped prediction, the per-pair path by item id)."""
    train, _ = small_split
    model = fastrec.ItemKNN(k=40).fit(train)
    users = train.user_index.to_numpy()[:40]
    got = model.recommend_all(n=15, users=users)
    np.testing.assert_array_equal(got.score.to_numpy(), model.predict(got.userId, got.movieId))
    for _, one in got.groupby("userId", sort=False):
        assert np.all(np.diff(one.score.to_numpy()) <= 0)
    want = _generic(model, users, True, n=15)
    np.testing.assert_allclose(got.score.to_numpy(), want.score.to_numpy(), atol=1e-12)


@pytest.mark.parametrize("cls", [fastrec.UserKNN, fastrec.ItemKNN])
def test_truncated_exact_rows_predict_every_pair_with_a_warning(small_split, cls):
    """k form, exact=True, rows truncated to ``keep``: the stored rows cannot rank the items
    as predict does, so recommend_all warns (naming exact=False) and predicts every pair."""
    train, _ = small_split
    model = cls(k=20, keep=60).fit(train)
    users = train.user_index.to_numpy()[:30]
    with pytest.warns(UserWarning, match="exact=False"):
        got = model.recommend_all(n=10, users=users)
    want = _generic(model, users, True)
    np.testing.assert_array_equal(got.movieId.to_numpy(), want.movieId.to_numpy())
    np.testing.assert_array_equal(got.score.to_numpy(), want.score.to_numpy())
    assert model._available_similarity() is None  # the stored rows were not built for it
