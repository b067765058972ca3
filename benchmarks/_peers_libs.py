"""The libraries ``peers.py`` runs beside fastrec: Surprise, LensKit and myFM, each fitted on
the same training ratings and asked for the same test pairs.

Each library is a :class:`Library`: the module to import, the pip package that provides it,
its configurations (label -> factory, built only once the import has succeeded) and the
function that fits one configuration and predicts the test pairs. None of them is a
dependency of fastrec; ``peers.py`` skips, with a note, each one that does not import.

What each one is given:

- **Surprise**: a ``Trainset`` of the training ratings (rating scale: their min and max),
  then one ``algo.predict(raw user, raw item)`` per test pair, as its users do (Surprise
  clips to the rating scale itself);
- **LensKit** (2026.x): a ``Dataset`` from ``lenskit.data.from_interactions_df``, the scorer
  inside ``lenskit.pipeline.predict_pipeline`` (its ``BiasScorer`` answers what the scorer
  cannot) trained with ``TrainingOptions(rng=seed)``, and ``lenskit.batch.predict`` over the
  test pairs grouped by user;
- **myFM**: ``MyFMRegressor(rank=10)`` fitted by ``n_iter=200`` Gibbs sweeps (myFM keeps
  the last 195 as samples, its default), the features given as two ``RelationBlock``s (one
  row per user, one per item) so that the per-rating design matrix is never built.

LensKit and myFM do not clip; their predictions are clipped here to the training ratings'
range, as fastrec and Surprise clip theirs, so that the RMSEs compare models, not clipping.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import fastrec

K = 40
KNN_SIMS = ("cosine", "pearson_baseline")
MYFM_RANK, MYFM_ITER = 10, 200


@dataclass(frozen=True)
class Library:
    """One peer library.

    Parameters
    ----------
    name : str
        How tables name it ("Surprise").
    module : str
        What ``import`` needs ("surprise").
    pip : str
        The pip package that provides it ("scikit-surprise").
    configs : Callable[[int], dict]
        ``seed -> {label: factory}``; called only after the import has succeeded.
    timer : Callable
        ``(factory, train, test, repeats, seed) -> {"rmse", "fit_s", "predict_s", "seconds"}``:
        fit and predict ``repeats`` times (the seed is what LensKit's training takes; the
        other libraries take theirs in the factory).
    """

    name: str
    module: str
    pip: str
    configs: Callable[[int], dict]
    timer: Callable

    def version(self) -> str:
        """The installed version (the import must have succeeded)."""
        return str(sys.modules[self.module].__version__)


def result(pred, test, fits: list[float], predicts: list[float]) -> dict:
    """RMSE of ``pred`` (float64, one per test rating) and the medians of the timings.

    Returns
    -------
    dict
        ``rmse``; ``fit_s`` and ``predict_s`` (medians); ``seconds``: median of fit + predict.
    """
    fit_s, predict_s = statistics.median(fits), statistics.median(predicts)
    return {
        "rmse": fastrec.rmse(pred, test.ratings),
        "fit_s": fit_s,
        "predict_s": predict_s,
        "seconds": statistics.median(f + p for f, p in zip(fits, predicts, strict=True)),
    }


def _repeat(fit, predict, test, repeats: int) -> dict:
    """``fit()`` then ``predict(fitted)`` ``repeats`` times: the result of the last run with
    the median timings."""
    fits, predicts, pred = [], [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        fitted = fit()
        t1 = time.perf_counter()
        pred = np.asarray(predict(fitted), dtype=np.float64)
        fits.append(t1 - t0)
        predicts.append(time.perf_counter() - t1)
    return result(pred, test, fits, predicts)


def _clip(pred: np.ndarray, train) -> np.ndarray:
    return np.clip(pred, float(train.ratings.min()), float(train.ratings.max()))


# --- Surprise ---------------------------------------------------------------------------


def knn_labels(side: str) -> list[str]:
    """Surprise's k-NN configurations on one side ("user" or "item"), by label."""
    return [
        f"{cls}(k={K}, {sim}, {side}-based)"
        for cls in ("KNNWithMeans", "KNNBaseline")
        for sim in KNN_SIMS
    ]


def _surprise_configs(seed: int) -> dict:
    import surprise

    algos = {
        "BaselineOnly": lambda: surprise.BaselineOnly(verbose=False),
        "SVD": lambda: surprise.SVD(random_state=seed),
        "SVDpp": lambda: surprise.SVDpp(random_state=seed),
    }
    for side, user_based in (("user", True), ("item", False)):
        for cls in (surprise.KNNWithMeans, surprise.KNNBaseline):
            for sim in KNN_SIMS:
                label = f"{cls.__name__}(k={K}, {sim}, {side}-based)"
                options = {"name": sim, "user_based": user_based}
                algos[label] = lambda cls=cls, options=options: cls(
                    k=K, sim_options=options, verbose=False
                )
    return algos


def _time_surprise(factory, train, test, repeats: int, seed: int) -> dict:
    from surprise import Dataset, Reader

    lo, hi = float(train.ratings.min()), float(train.ratings.max())
    frame = train.to_frame().iloc[:, :3]
    trainset = Dataset.load_from_df(frame, Reader(rating_scale=(lo, hi))).build_full_trainset()
    pairs = list(zip(test.user_ids.tolist(), test.item_ids.tolist(), strict=True))

    def fit():
        algo = factory()
        algo.fit(trainset)
        return algo

    return _repeat(fit, lambda algo: [algo.predict(u, i).est for u, i in pairs], test, repeats)


# --- LensKit ----------------------------------------------------------------------------


def _lenskit_configs(seed: int) -> dict:
    from lenskit.als import BiasedMFScorer
    from lenskit.basic import BiasScorer
    from lenskit.funksvd import FunkSVDScorer
    from lenskit.knn import ItemKNNScorer, UserKNNScorer

    return {
        "BiasScorer()": BiasScorer,
        "BiasScorer(damping=5)": lambda: BiasScorer(damping=5),
        f"UserKNNScorer(k={K})": lambda: UserKNNScorer(k=K),
        f"ItemKNNScorer(k={K})": lambda: ItemKNNScorer(k=K),
        "BiasedMFScorer()": BiasedMFScorer,
        "BiasedMFScorer(embedding_size=50)": lambda: BiasedMFScorer(embedding_size=50),
        "FunkSVDScorer()": FunkSVDScorer,
    }


def _frame(ratings):
    import pandas as pd

    return pd.DataFrame(
        {"user_id": ratings.user_ids, "item_id": ratings.item_ids, "rating": ratings.ratings}
    )


def _time_lenskit(factory, train, test, repeats: int, seed: int) -> dict:
    from lenskit.batch import predict
    from lenskit.data import ItemListCollection, UserIDKey, from_interactions_df
    from lenskit.pipeline import predict_pipeline
    from lenskit.training import TrainingOptions

    train_frame, test_frame = _frame(train), _frame(test)

    def fit():
        pipe = predict_pipeline(factory())
        pipe.train(from_interactions_df(train_frame.copy()), TrainingOptions(rng=seed))
        return pipe

    def predict_pairs(pipe):
        queries = ItemListCollection.from_df(test_frame, UserIDKey)
        out = predict(pipe, queries).to_df()[["user_id", "item_id", "score"]]
        pred = test_frame.merge(out, on=["user_id", "item_id"], how="left")["score"].to_numpy()
        missing = np.isnan(pred)
        if missing.any():  # not seen with predict_pipeline's fallback, but never silently
            print(f"  LensKit left {missing.sum():,} pairs unscored: the train mean there",
                  file=sys.stderr)  # fmt: skip
            pred[missing] = train.ratings.mean()
        return _clip(pred, train)

    return _repeat(fit, predict_pairs, test, repeats)


# --- myFM -------------------------------------------------------------------------------


def _myfm_configs(seed: int) -> dict:
    import myfm

    def factory(implicit: bool, grouped: bool):
        return lambda: (myfm.MyFMRegressor(rank=MYFM_RANK, random_seed=seed), implicit, grouped)

    base = f"MyFMRegressor(rank={MYFM_RANK}, n_iter={MYFM_ITER}"
    return {
        f"{base}, one-hot)": factory(False, False),
        f"{base}, one-hot, grouped)": factory(False, True),
        f"{base}, implicit)": factory(True, False),
        f"{base}, implicit, grouped)": factory(True, True),
    }


def myfm_blocks(train, implicit: bool):
    """The two feature tables of a myFM fit: one row per user, one per item.

    Parameters
    ----------
    train : fastrec.Ratings
        The training ratings; the only source of the implicit features.
    implicit : bool
        Whether each row carries, beside its one-hot column, the other side's rows it has
        ratings with: a user's row holds ``|N(u)|^-1/2`` at each item ``u`` rated, an item's
        row ``|N(i)|^-1/2`` at each user who rated ``i`` (Rendle's "flipped" SVD++ features,
        as in myFM's own MovieLens example; each row of that part has unit L2 norm).

    Returns
    -------
    tuple
        ``(users, items, group_shapes)``: CSR matrices of shape ``(n_users + 1, n_u)`` and
        ``(n_items + 1, n_i)`` (float64), and the column counts of the feature groups in
        myFM's column order (user block, then item block). Rows without training ratings,
        and the extra last row that unknown test users and items map to, are empty: myFM
        then predicts from the other side and the global bias.
    """
    import scipy.sparse as sps

    nu, ni = train.n_users, train.n_items
    rated = sps.csr_matrix(
        (np.ones(len(train)), (train.user_codes, train.item_codes)), shape=(nu, ni)
    )

    def side(mat, n):
        counts = np.asarray(mat.sum(axis=1)).ravel()
        parts = [sps.diags((counts > 0).astype(np.float64)) @ sps.identity(n, format="csr")]
        if implicit:
            parts.append(sps.diags(1.0 / np.sqrt(np.maximum(counts, 1))) @ mat)
        width = sum(p.shape[1] for p in parts)
        table = sps.vstack([sps.hstack(parts), sps.csr_matrix((1, width))], format="csr")
        return table, [p.shape[1] for p in parts]

    users, user_groups = side(rated, nu)
    items, item_groups = side(rated.T.tocsr(), ni)
    return users, items, user_groups + item_groups


def _codes(index, ids) -> np.ndarray:
    """Rows of ``ids`` in a table over ``index``; unknown ids get the last (empty) row."""
    codes = index.get_indexer(ids)
    codes[codes < 0] = len(index)
    return codes


def _time_myfm(factory, train, test, repeats: int, seed: int) -> dict:
    from myfm import RelationBlock

    def fit():
        fm, implicit, grouped = factory()
        users, items, groups = myfm_blocks(train, implicit)
        blocks = [
            RelationBlock(np.asarray(train.user_codes, np.int64), users),
            RelationBlock(np.asarray(train.item_codes, np.int64), items),
        ]
        shapes = {"group_shapes": groups} if grouped else {}
        fm.fit(None, train.ratings, X_rel=blocks, n_iter=MYFM_ITER, **shapes)
        return fm, users, items

    def predict_pairs(fitted):
        fm, users, items = fitted
        blocks = [
            RelationBlock(_codes(train.user_index, test.user_ids), users),
            RelationBlock(_codes(train.item_index, test.item_ids), items),
        ]
        return _clip(fm.predict(None, blocks), train)

    return _repeat(fit, predict_pairs, test, repeats)


LIBRARIES: dict[str, Library] = {
    "surprise": Library(
        "Surprise", "surprise", "scikit-surprise", _surprise_configs, _time_surprise
    ),
    "lenskit": Library("LensKit", "lenskit", "lenskit", _lenskit_configs, _time_lenskit),
    "myfm": Library("myFM", "myfm", "myfm", _myfm_configs, _time_myfm),
}


def importable(names: list[str]) -> list[str]:
    """The libraries of ``names`` that import; a note on stderr for each one that does not."""
    import importlib
    import os

    # myFM draws a tqdm bar per fit; the tables are the output here. tqdm reads this when
    # it is first imported, so it is set before any peer is.
    os.environ.setdefault("TQDM_DISABLE", "1")
    found = []
    for name in names:
        lib = LIBRARIES[name]
        try:
            importlib.import_module(lib.module)
        except ImportError as err:
            print(f"skipping {lib.name}: cannot import {lib.module} ({err}); "
                  f"`pip install {lib.pip}` to run it", file=sys.stderr)  # fmt: skip
            continue
        found.append(name)
    return found
