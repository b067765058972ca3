"""fastrec.spark.BiasedMF on the shared local[2] session: the single-machine model's answers
(to 1e-6; in fact bit for bit) from the same training rows, string ids, the fallback,
to_local, recommend_all.

Small synthetic data (about 3,000 ratings, 4 factors, 3 epochs) keeps the module fast.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

import fastrec

pytestmark = pytest.mark.spark

PARAMS = {"n_factors": 4, "n_epochs": 3}


def _synthetic(seed=0, string_ids=False, n=3500) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {"userId": rng.integers(0, 150, n) * 3 + 1, "movieId": rng.integers(0, 90, n) * 7 + 2}
    ).drop_duplicates()
    taste = rng.normal(0, 1, (frame.userId.max() + 1, 2))
    kind = rng.normal(0, 1, (frame.movieId.max() + 1, 2))
    score = 3.5 + (taste[frame.userId] * kind[frame.movieId]).sum(axis=1) * 0.6
    frame["rating"] = np.clip(np.round(score + rng.normal(0, 0.3, len(frame))), 1, 5)
    if string_ids:
        frame["userId"] = "u" + frame.userId.astype(str)
        frame["movieId"] = "m" + frame.movieId.astype(str)
    return frame.reset_index(drop=True)


def _local(model, pdf: pd.DataFrame):
    return model.fit(fastrec.Ratings.from_frame(pdf[["userId", "movieId", "rating"]]))


@pytest.fixture(scope="module")
def fitted(sp, spark):
    """(spark model, local model on the same train rows, train pdf, test DataFrame)."""
    df = spark.createDataFrame(_synthetic()).persist()
    train, test = sp.train_test_split(df, 0.2, seed=7)
    train = train.persist()
    model = sp.BiasedMF(**PARAMS).fit(train)
    train_pdf = train.toPandas()
    return model, _local(fastrec.BiasedMF(**PARAMS), train_pdf), train_pdf, test


def test_same_answers_as_single_machine(fitted):
    model, local, _, test = fitted
    scored = model.predict(test, fallback_col="fell_back").toPandas()
    pred, fell_back = local.predict_with_fallback(scored[["userId", "movieId"]])
    assert scored.prediction.notna().all() and len(scored) > 500
    np.testing.assert_allclose(scored.prediction, pred, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(scored.fell_back, fell_back)
    state = model.to_local()
    assert state.n_blocks_ == local.n_blocks_ == 4  # the automatic rule on both sides
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        np.testing.assert_allclose(getattr(state, name), getattr(local, name), rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        state.history_["train_rmse"], local.history_["train_rmse"], rtol=1e-9
    )
    assert len(state.history_["seconds"]) == PARAMS["n_epochs"]


@pytest.mark.parametrize("chain", [1, 3])
def test_strata_per_job_do_not_change_the_bits(sp, spark, fitted, monkeypatch, chain):
    """One Spark job per stratum (chain 1), or chains of 3 strata cut inside an epoch of 4
    (3 + 1): the factors of the default (one job per epoch), bit for bit."""
    from fastrec.spark import mf

    model, _, train_pdf, _ = fitted
    monkeypatch.setattr(mf, "_MAX_CHAIN", chain)
    assert mf._strata_per_job(4) == chain
    other = sp.BiasedMF(**PARAMS).fit(spark.createDataFrame(train_pdf)).to_local()
    state = model.to_local()
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        np.testing.assert_array_equal(getattr(other, name), getattr(state, name))
    # the rating spread is a distributed sum, whose last bit follows the partitioning of the
    # rows (another DataFrame here); the float32 factors do not see it
    np.testing.assert_allclose(
        other.history_["train_rmse"], state.history_["train_rmse"], rtol=1e-12
    )


def test_unknown_users_and_items_get_the_bias_fallback(sp, spark, fitted):
    model, local, train_pdf, _ = fitted
    user, item = int(train_pdf.userId.iloc[0]), int(train_pdf.movieId.iloc[0])
    pairs = spark.createDataFrame(
        [(user, item), (-1, item), (user, -1), (-1, -1)], "userId long, movieId long"
    )
    out = model.predict(pairs, fallback_col="fb").toPandas()
    assert out.prediction.notna().all()
    assert out.fb.tolist() == [False, True, True, True]
    want, fell_back = local.predict_with_fallback(out[["userId", "movieId"]])
    assert fell_back.tolist() == [False, True, True, True]
    np.testing.assert_allclose(out.prediction, want, rtol=0, atol=1e-6)


def test_to_local_is_the_single_machine_model(fitted, tmp_path):
    model, local, train_pdf, _ = fitted
    moved = model.to_local()
    assert isinstance(moved, fastrec.BiasedMF)
    assert moved.get_params() == local.get_params()
    pairs = train_pdf[["userId", "movieId"]].iloc[::5]
    np.testing.assert_allclose(moved.predict(pairs), local.predict(pairs), rtol=0, atol=1e-6)
    user = train_pdf.userId.iloc[0]
    seen = set(train_pdf.movieId[train_pdf.userId == user])
    assert not set(moved.recommend(user, 10).movieId) & seen
    refit = moved.clone().fit(fastrec.Ratings.from_frame(train_pdf))  # its params refit it
    np.testing.assert_array_equal(refit.user_factors_, local.user_factors_)


def test_recommend_all_equals_single_machine(fitted):
    model, local, _, _ = fitted
    got = model.recommend_all(5).toPandas()
    want = local.recommend_all(5)
    key = ["userId", "rank"]
    got = got.sort_values(key).reset_index(drop=True)
    want = want.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(
        got[key + ["movieId"]], want[key + ["movieId"]], check_dtype=False
    )
    np.testing.assert_allclose(got.score, want.score, rtol=0, atol=1e-6)


def test_save_and_load(sp, fitted, tmp_path):
    model, _, _, test = fitted
    loaded = sp.load(model.save(tmp_path / "mf"))
    assert isinstance(loaded, sp.BiasedMF) and loaded.params == model.params
    a = model.predict(test).toPandas().prediction
    np.testing.assert_array_equal(a, loaded.predict(test).toPandas().prediction)


def test_string_ids_any_partitioning_and_progress(sp, spark, caplog):
    """String ids, a DataFrame of 5 partitions, n_blocks=3 (not a multiple of the 2 tasks),
    progress logged per epoch: still the single-machine model."""
    pdf = _synthetic(seed=1, string_ids=True, n=2500)
    df = spark.createDataFrame(pdf).repartition(5)
    params = {**PARAMS, "n_epochs": 2, "n_blocks": 3, "seed": 4}
    with caplog.at_level(logging.INFO, logger="fastrec.spark.mf"):
        model = sp.BiasedMF(**params, show_progress=True).fit(df)
    lines = [r.getMessage() for r in caplog.records if r.name == "fastrec.spark.mf"]
    assert len(lines) == 2 and "epoch 2/2" in lines[1]
    local = _local(fastrec.BiasedMF(**params), pdf)
    out = model.predict(df).toPandas()
    assert out.userId.str.startswith("u").all()
    np.testing.assert_allclose(
        out.prediction, local.predict(out[["userId", "movieId"]]), rtol=0, atol=1e-6
    )
    assert model.to_local().n_blocks_ == 3


def test_partition_keys_put_group_g_in_partition_g_mod_parts(sp, spark):
    from pyspark.sql import functions as F

    from fastrec.spark.mf import _partition_keys

    keys = _partition_keys(spark, 7, 3)
    assert len(set(keys)) == 7
    frame = spark.createDataFrame([(k, g) for g, k in enumerate(keys)], "key int, g int")
    parts = frame.repartition(3, "key").select("g", F.spark_partition_id().alias("p")).toPandas()
    assert (parts.p == parts.g % 3).all()


def test_parameters_are_checked_and_named(sp):
    with pytest.raises(ValueError, match="n_factors"):
        sp.BiasedMF(n_factors=0)
    with pytest.raises(ValueError, match="n_blocks"):
        sp.BiasedMF(n_blocks=0)
    assert sp.BiasedMF(n_epochs=5).name == "BiasedMF(n_epochs=5)"
    assert any(isinstance(m, sp.BiasedMF) for m in sp.spark_models())
