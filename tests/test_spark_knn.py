"""fastrec.spark.ItemKNN on the shared local[2] session: the block-pair similarity gives the
single-machine ItemKNN(k=40)'s neighbours and predictions for any number of blocks; truncated
rows and other parameters on string ids; the fallback, recommend_all, to_local, save/load and
the refused single-machine forms.

Small synthetic ratings (about 3,000, with a latent structure so that neighbours matter)
keep the module fast; one test compares with the single-machine model on ml-100k u1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fastrec

pytestmark = pytest.mark.spark

KEY = ["userId", "movieId"]


def _synthetic(n_users=150, n_items=90, n=3600, seed=0, string_ids=False) -> pd.DataFrame:
    """Ratings of a rank-2 taste model plus biases, popular items rated more often."""
    rng = np.random.default_rng(seed)
    popularity = rng.pareto(1.5, n_items) + 0.2
    users = rng.integers(0, n_users, n)
    items = rng.choice(n_items, n, p=popularity / popularity.sum())
    frame = pd.DataFrame({"userId": users, "movieId": items}).drop_duplicates()
    taste_u, taste_i = rng.normal(0, 0.7, (n_users, 2)), rng.normal(0, 0.7, (n_items, 2))
    rating = (
        3.5
        + rng.normal(0, 0.4, n_users)[frame.userId]
        + rng.normal(0, 0.4, n_items)[frame.movieId]
        + np.sum(taste_u[frame.userId] * taste_i[frame.movieId], axis=1)
        + rng.normal(0, 0.3, len(frame))
    )
    frame["rating"] = np.clip(np.round(rating * 2) / 2, 0.5, 5.0)
    frame["userId"] = frame.userId * 3 + 1
    frame["movieId"] = frame.movieId * 7 + 2
    if string_ids:
        frame["userId"] = "u" + frame.userId.astype(str).str.zfill(5)
        frame["movieId"] = "0" + frame.movieId.astype(str)
    return frame.reset_index(drop=True)


def _local_fit(model, train_pdf):
    return model.fit(fastrec.Ratings.from_frame(train_pdf[["userId", "movieId", "rating"]]))


@pytest.fixture(scope="module")
def split(spark, sp):
    """(train, test, train as pandas), the train part cached."""
    train, test = sp.train_test_split(spark.createDataFrame(_synthetic()), 0.2, seed=1)
    train = train.persist()
    return train, test, train.toPandas()


@pytest.fixture(scope="module")
def local(split):
    """The single-machine ItemKNN(k=40) on the same training rows (its default form)."""
    return _local_fit(fastrec.ItemKNN(k=40), split[2])


@pytest.fixture(scope="module")
def fitted(sp, split):
    """fastrec.spark.ItemKNN(k=40) on two item blocks, shared by the tests below."""
    return sp.ItemKNN(k=40, n_blocks=2).fit(split[0])


def _same_neighbours(spark_model, local_model):
    """The stored neighbour lists of ``to_local()`` equal the single-machine lists."""
    got, want = spark_model.to_local().stored_similarity_, local_model.similarity_
    np.testing.assert_array_equal(got.indptr, want.indptr)
    np.testing.assert_array_equal(got.indices, want.indices)
    np.testing.assert_allclose(got.data, want.data, rtol=0, atol=1e-12)


# ------------------------------------------------------------------ same answers
@pytest.mark.parametrize("n_blocks", [1, 2, 3])
def test_predictions_equal_single_machine(sp, split, local, fitted, n_blocks):
    train, test, _ = split
    model = fitted if n_blocks == 2 else sp.ItemKNN(k=40, n_blocks=n_blocks).fit(train)
    scored = model.predict(test, fallback_col="fell_back").toPandas()
    pred, fell_back = local.predict_with_fallback(scored[KEY])
    np.testing.assert_allclose(scored.prediction, pred, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(scored.fell_back, fell_back)
    assert scored.prediction.notna().all()
    _same_neighbours(model, local)


def test_keep_string_ids_and_other_parameters(sp, spark):
    """String ids; truncated rows (keep=6) over three blocks, signed, user-centred,
    min_support 2: the merge keeps the single-machine best 6 of each item (ties to the
    smaller code), and the predictions are the single-machine ItemKNN(exact=False)'s."""
    params = dict(k=4, keep=6, signed=True, center="user", shrinkage=0.0, min_support=2)
    pdf = _synthetic(seed=3, string_ids=True)
    train, test = sp.train_test_split(spark.createDataFrame(pdf), 0.2, seed=1)
    model = sp.ItemKNN(**params, n_blocks=3).fit(train)
    local = _local_fit(fastrec.ItemKNN(**params, exact=False), train.toPandas())
    _same_neighbours(model, local)
    np.testing.assert_allclose(
        model.to_local().stored_abs_sum_, local.neighbor_abs_sum_, rtol=1e-12
    )
    scored = model.predict(test).toPandas()
    assert scored.userId.str.startswith("u").all()
    np.testing.assert_allclose(scored.prediction, local.predict(scored[KEY]), atol=1e-6)


def test_unknown_ids_get_the_fallback(sp, spark, split, fitted, local):
    user, item = split[2].userId.iloc[0], split[2].movieId.iloc[0]
    pairs = spark.createDataFrame(
        [(int(user), int(item)), (999999, int(item)), (int(user), 999999), (999999, 999999)],
        "userId long, movieId long",
    )
    out = fitted.predict(pairs, fallback_col="fb").toPandas()
    assert out.prediction.notna().all()
    assert out.fb.tolist() == [False, True, True, True]
    np.testing.assert_allclose(out.prediction, local.predict(out[KEY]), atol=1e-6)
    # the fallback is the Bias baseline, clipped
    np.testing.assert_allclose(out.prediction[1:], local.fallback_.predict(out[KEY][1:]), atol=1e-9)


def test_recommend_all_equals_single_machine(split, fitted, local):
    for exclude in (True, False):
        got = fitted.recommend_all(5, exclude_seen=exclude).toPandas()
        want = local.recommend_all(5, exclude_seen=exclude)
        key = ["userId", "rank"]
        got = got.sort_values(key).reset_index(drop=True)
        want = want.sort_values(key).reset_index(drop=True)
        np.testing.assert_allclose(got.score, want.score, atol=1e-6)
        pd.testing.assert_frame_equal(
            got[key + ["movieId"]], want[key + ["movieId"]], check_dtype=False
        )


def test_to_local_and_save_load(sp, split, fitted, local, tmp_path):
    train, test, train_pdf = split
    model = fitted.to_local()
    assert isinstance(model, fastrec.ItemKNN)
    assert model.k == 40 and model.exact is False and model.keep_ is None
    pairs = train_pdf[KEY]
    np.testing.assert_allclose(model.predict(pairs), local.predict(pairs), atol=1e-6)
    user = train_pdf.userId.iloc[0]  # to_local has the training pattern: seen items excluded
    seen = set(train_pdf.movieId[train_pdf.userId == user])
    assert not set(model.recommend(user, 10).movieId) & seen
    saved = fitted.save(tmp_path / "knn")
    loaded = sp.load(saved)
    a = fitted.predict(test).toPandas().prediction
    b = loaded.predict(test).toPandas().prediction
    np.testing.assert_array_equal(a, b)
    fastrec.save_model(model, tmp_path / "knn.fastrec")  # the local model saves as usual
    again = fastrec.load_model(tmp_path / "knn.fastrec")
    np.testing.assert_array_equal(again.predict(pairs), model.predict(pairs))


def test_parameters_and_name(sp):
    with pytest.raises(ValueError, match=r"k=None .*single-machine only"):
        sp.ItemKNN(k=None)
    with pytest.raises(ValueError, match=r"exact=True .*single-machine only"):
        sp.ItemKNN(exact=True)
    with pytest.raises(ValueError, match="shrinkage"):
        sp.ItemKNN(shrinkage=-1.0)
    with pytest.raises(ValueError, match="keep"):
        sp.ItemKNN(k=10, keep=5)
    with pytest.raises(fastrec.NotFittedError, match="call fit"):
        sp.ItemKNN().recommend_all()
    assert sp.ItemKNN().name == "ItemKNN(k=40)"
    assert sp.ItemKNN(k=20, presence=0.0).name == "ItemKNN(k=20, presence=0.0)"
    assert "ItemKNN(k=40)" in [m.name for m in sp.spark_models()]


def test_real_data_equals_single_machine(sp, spark, ml100k_dir):
    names = ["userId", "movieId", "rating", "timestamp"]
    base = pd.read_csv(ml100k_dir / "u1.base", sep="\t", names=names).drop(columns="timestamp")
    test = pd.read_csv(ml100k_dir / "u1.test", sep="\t", names=names).drop(columns="timestamp")
    model = sp.ItemKNN(k=40, n_blocks=3).fit(spark.createDataFrame(base))
    scored = model.predict(spark.createDataFrame(test)).toPandas()
    local = _local_fit(fastrec.ItemKNN(k=40), base)
    want = local.predict(scored[KEY])
    np.testing.assert_allclose(scored.prediction, want, rtol=0, atol=1e-6)
    assert fastrec.rmse(scored.prediction, scored.rating) < 0.93
