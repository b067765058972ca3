"""fastrec.spark's core on the shared local[2] session: checks, the split, Bias, MLlibALS,
predict, recommend_all, to_local, save/load and evaluate_all.

Small synthetic data (a few thousand ratings) keeps the module fast; one test compares with
the single-machine Bias on the post's split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fastrec

pytestmark = pytest.mark.spark


def _synthetic(n_users=120, n_items=80, n=3000, seed=0, string_ids=False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n) * 3 + 1
    items = rng.integers(0, n_items, n) * 7 + 2
    frame = pd.DataFrame({"userId": users, "movieId": items}).drop_duplicates()
    bias_u = rng.normal(0, 0.5, users.max() + 1)
    bias_i = rng.normal(0, 0.5, items.max() + 1)
    noise = rng.normal(0, 0.3, len(frame))
    rating = 3.5 + bias_u[frame.userId] + bias_i[frame.movieId] + noise
    frame["rating"] = np.clip(np.round(rating * 2) / 2, 0.5, 5.0)
    if string_ids:
        frame["userId"] = "u" + frame.userId.astype(str).str.zfill(5)
        frame["movieId"] = "0" + frame.movieId.astype(str)
    return frame.reset_index(drop=True)


@pytest.fixture(scope="module")
def ratings_pdf():
    return _synthetic()


@pytest.fixture(scope="module")
def ratings_df(spark, ratings_pdf):
    return spark.createDataFrame(ratings_pdf).persist()


def _local_fit(model, train_pdf, columns=("userId", "movieId", "rating")):
    frame = train_pdf.rename(
        columns=dict(zip(columns, ("userId", "movieId", "rating"), strict=True))
    )
    return model.fit(fastrec.Ratings.from_frame(frame[["userId", "movieId", "rating"]]))


# ------------------------------------------------------------------ input checks
def test_missing_column_names_it(sp, spark, ratings_pdf):
    df = spark.createDataFrame(ratings_pdf.rename(columns={"rating": "stars"}))
    with pytest.raises(KeyError, match="'rating'.*rating_col"):
        sp.Bias().fit(df)
    model = sp.Bias().fit(df, rating_col="stars")
    assert model.predict(df).count() == len(ratings_pdf)


@pytest.mark.parametrize(
    "column, value, words",
    [
        ("userId", None, "'userId' has 2 null ids"),
        ("movieId", None, "'movieId' has 2 null ids"),
        ("rating", None, "2 null, 0 NaN and 0 infinite"),
        ("rating", float("nan"), "0 null, 2 NaN and 0 infinite"),
        ("rating", float("inf"), "0 null, 0 NaN and 2 infinite"),
    ],
)
def test_bad_values_are_counted_before_fitting(sp, spark, ratings_pdf, column, value, words):
    from pyspark.sql import functions as F

    marked = ratings_pdf.iloc[[3, 17]]
    hit = F.lit(False)
    for user, item in zip(marked.userId, marked.movieId, strict=True):
        hit = hit | ((F.col("userId") == int(user)) & (F.col("movieId") == int(item)))
    kind = "double" if column == "rating" else "long"
    df = spark.createDataFrame(ratings_pdf).withColumn(
        column, F.when(hit, F.lit(value).cast(kind)).otherwise(F.col(column))
    )
    with pytest.raises(ValueError, match=words):
        sp.Bias().fit(df)


def test_empty_dataframe_and_wrong_types(sp, spark):
    empty = spark.createDataFrame([], "userId long, movieId long, rating double")
    with pytest.raises(ValueError, match="has no rows"):
        sp.Bias().fit(empty)
    floats = spark.createDataFrame([(1.5, 2, 3.0)], "userId double, movieId long, rating double")
    with pytest.raises(TypeError, match="'userId' has type double"):
        sp.Bias().fit(floats)
    with pytest.raises(TypeError, match="Spark DataFrame"):
        sp.Bias().fit(pd.DataFrame({"userId": [1], "movieId": [1], "rating": [1.0]}))


def test_unfitted_model_and_bad_parameters(sp, ratings_df):
    with pytest.raises(fastrec.NotFittedError, match="call fit"):
        sp.Bias().predict(ratings_df)
    with pytest.raises(fastrec.NotFittedError):
        sp.Bias().recommend_all()
    with pytest.raises(ValueError, match="reg_user"):
        sp.Bias(reg_user=-1)
    with pytest.raises(ValueError, match="n_blocks"):
        sp.Bias(n_blocks=0)


def test_null_ids_at_predict_are_an_error(sp, spark, ratings_df):
    model = sp.Bias().fit(ratings_df)
    pairs = spark.createDataFrame([(1, 2), (None, 2)], "userId long, movieId long")
    with pytest.raises(ValueError, match="'userId' has 1 null ids"):
        model.predict(pairs)


# ------------------------------------------------------------------ the split
def test_split_depends_on_ids_and_seed_only(sp, spark, ratings_pdf):
    one = spark.createDataFrame(ratings_pdf).repartition(1)
    five = spark.createDataFrame(ratings_pdf.sample(frac=1.0, random_state=3)).repartition(5)
    key = ["userId", "movieId"]
    tests = [
        sp.train_test_split(df, 0.2, seed=7)[1].toPandas().sort_values(key) for df in (one, five)
    ]
    pd.testing.assert_frame_equal(tests[0].reset_index(drop=True), tests[1].reset_index(drop=True))
    train, test = sp.train_test_split(one, 0.2, seed=7)
    n_train, n_test = train.count(), test.count()
    assert n_train + n_test == len(ratings_pdf)
    # each row is drawn on its own: binomial(n, 0.2), within 4 standard deviations
    sd = np.sqrt(len(ratings_pdf) * 0.2 * 0.8)
    assert abs(n_test - 0.2 * len(ratings_pdf)) < 4 * sd
    other = sp.train_test_split(one, 0.2, seed=8)[1].toPandas()
    assert len(other.merge(tests[0], on=key)) < n_test  # another seed, another split
    with pytest.raises(ValueError, match="test_size"):
        sp.train_test_split(one, 1.0)


# ------------------------------------------------------------------ Bias
def test_bias_equals_single_machine(sp, spark, ratings_df):
    train, test = sp.train_test_split(ratings_df, 0.2, seed=1)
    model = sp.Bias().fit(train)
    scored = model.predict(test, fallback_col="fell_back").toPandas()
    local = _local_fit(fastrec.Bias(), train.toPandas())
    pred, fell_back = local.predict_with_fallback(scored[["userId", "movieId"]])
    np.testing.assert_allclose(scored.prediction, pred, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(scored.fell_back, fell_back)
    assert scored.prediction.notna().all()


@pytest.mark.parametrize("path", ["one task", "distributed sums"])
def test_bias_paths_equal_single_machine(sp, spark, ratings_pdf, monkeypatch, path):
    """Both ways of running the sweeps (bias_sums.py): one task running the single-machine
    kernel (bit for bit but for the mean, which Spark sums in another order), and the
    distributed sums (to the order of the additions); 5 partitions, more than local[2]'s
    cores."""
    from fastrec.spark import bias_sums

    if path == "distributed sums":
        monkeypatch.setattr(bias_sums, "ONE_TASK_MAX_RATINGS", 0)
    df = spark.createDataFrame(ratings_pdf).repartition(5)
    fitted = sp.Bias().fit(df).to_local()
    local = _local_fit(fastrec.Bias(), ratings_pdf)
    atol = 1e-13 if path == "one task" else 1e-9
    np.testing.assert_allclose(fitted.user_bias_, local.user_bias_, rtol=0, atol=atol)
    np.testing.assert_allclose(fitted.item_bias_, local.item_bias_, rtol=0, atol=atol)
    # and the fallback every other model fits goes the same way
    fallback = sp.MLlibALS(n_factors=2, n_iter=1).fit(df).to_local().fallback_
    np.testing.assert_allclose(fallback.user_bias_, local.user_bias_, rtol=0, atol=atol)


def test_packed_rows_unpack_to_the_coded_rows(sp, spark, ratings_pdf, tmp_path):
    """fit codes and packs in one pass (encode_packed); the rows the models read are unpacked
    from the packed cache: the same rows as encode_ratings gives, in the same order."""
    from fastrec.spark import coding, frame
    from fastrec.spark._worker import ModelFiles

    df = spark.createDataFrame(ratings_pdf).repartition(3)
    files = ModelFiles(tmp_path)
    files.write_array("user_ids", frame.distinct_ids(df, "userId").to_numpy())
    files.write_array("item_ids", frame.distinct_ids(df, "movieId").to_numpy())
    columns = frame.Columns()
    packed = coding.encode_packed(df, files, columns).persist()
    unpacked = coding.unpack_partitions(packed, batch_rows=100).toPandas()
    want = coding.encode_ratings(df, files, columns).toPandas()
    packed.unpersist()
    pd.testing.assert_frame_equal(unpacked, want, check_dtype=True)
    assert len(want) == len(ratings_pdf) and (want.u >= 0).all() and (want.i >= 0).all()


def test_unknown_ids_get_the_fallback(sp, spark, ratings_df):
    model = sp.ALS if hasattr(sp, "ALS") else sp.MLlibALS
    fitted = model(n_factors=4, n_iter=3).fit(ratings_df)
    pairs = spark.createDataFrame(
        [(1, 2), (999999, 2), (1, 999999), (999999, 999999)], "userId long, movieId long"
    )
    out = fitted.predict(pairs, fallback_col="fb").toPandas()
    assert out.prediction.notna().all()
    assert out.fb.tolist() == [False, True, True, True]
    local = fitted.to_local()
    np.testing.assert_allclose(out.prediction, local.predict(out[["userId", "movieId"]]), atol=1e-9)


def test_string_ids(sp, spark):
    pdf = _synthetic(string_ids=True)
    df = spark.createDataFrame(pdf)
    model = sp.Bias().fit(df)
    out = model.predict(df).toPandas()
    local = _local_fit(fastrec.Bias(), pdf)
    np.testing.assert_allclose(out.prediction, local.predict(out[["userId", "movieId"]]), atol=1e-9)
    top = model.recommend_all(3).toPandas()
    assert top.userId.str.startswith("u").all() and top.movieId.str.startswith("0").all()


def test_recommend_all_equals_single_machine(sp, ratings_df, ratings_pdf):
    model = sp.Bias().fit(ratings_df)
    local = _local_fit(fastrec.Bias(), ratings_pdf)
    for exclude in (True, False):
        got = model.recommend_all(5, exclude_seen=exclude).toPandas()
        want = local.recommend_all(5, exclude_seen=exclude)
        key = ["userId", "rank"]
        got = got.sort_values(key).reset_index(drop=True)
        want = want.sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(
            got[key + ["movieId"]], want[key + ["movieId"]], check_dtype=False
        )
        np.testing.assert_allclose(got.score, want.score, atol=1e-9)


def test_to_local_and_save_load(sp, ratings_df, ratings_pdf, tmp_path):
    model = sp.Bias(reg_user=2.0).fit(ratings_df)
    local = model.to_local()
    assert isinstance(local, fastrec.Bias) and local.reg_user == 2.0
    pairs = ratings_pdf[["userId", "movieId"]]
    np.testing.assert_allclose(
        local.predict(pairs),
        _local_fit(fastrec.Bias(reg_user=2.0), ratings_pdf).predict(pairs),
        atol=1e-9,
    )
    # the local model has the training pattern: recommend excludes seen items
    user = ratings_pdf.userId.iloc[0]
    assert not set(local.recommend(user, 20).movieId) & set(
        ratings_pdf.movieId[ratings_pdf.userId == user]
    )
    saved = model.save(tmp_path / "bias-model")
    assert sorted(p.suffix for p in saved.iterdir()) == [".json"] + [".parquet"] * (
        len(list(saved.iterdir())) - 1
    )
    loaded = sp.load(saved)
    a = model.predict(ratings_df).toPandas().prediction
    b = loaded.predict(ratings_df).toPandas().prediction
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="seen=train_df"):
        loaded.recommend_all(3)
    assert loaded.recommend_all(3, seen=ratings_df).count() > 0
    with pytest.raises(FileNotFoundError, match="meta.json"):
        sp.load(tmp_path)


def test_temporary_model_folders_are_removed_at_exit(sp, ratings_df, tmp_path):
    from fastrec.spark import base

    model = sp.Bias().fit(ratings_df)
    assert str(model.files_.root) in base._OWNED_DIRS
    kept = sp.Bias().fit(ratings_df, work_dir=tmp_path / "mine")
    assert str(kept.files_.root) not in base._OWNED_DIRS  # a given work_dir is never removed
    removable = sp.Bias().fit(ratings_df)
    root = str(removable.files_.root)
    # run the exit hook on this one folder only (the others belong to the rest of the run)
    saved, base._OWNED_DIRS[:] = list(base._OWNED_DIRS), [root]
    try:
        base._remove_owned_dirs()
    finally:
        base._OWNED_DIRS[:] = [p for p in saved if p != root]
    assert not removable.files_.root.exists() and model.files_.root.exists()


def test_real_data_bias_matches_single_machine(sp, spark, ml_small_2016_path):
    pdf = pd.read_csv(ml_small_2016_path)[["userId", "movieId", "rating"]]
    df = spark.createDataFrame(pdf)
    train, test = sp.train_test_split(df, 0.2, seed=7)
    scored = sp.Bias().fit(train).predict(test).toPandas()
    local = _local_fit(fastrec.Bias(), train.toPandas())
    np.testing.assert_allclose(
        scored.prediction, local.predict(scored[["userId", "movieId"]]), atol=1e-6
    )
    assert fastrec.rmse(scored.prediction, scored.rating) < 0.90


# ------------------------------------------------------------------ MLlib and the table
def test_mllib_als_has_a_fallback_and_clips(sp, spark, ratings_df):
    train, test = sp.train_test_split(ratings_df, 0.2, seed=3)
    model = sp.MLlibALS(n_factors=4, n_iter=5).fit(train)
    scored = model.predict(test).toPandas()
    assert scored.prediction.notna().all()
    assert scored.prediction.between(0.5, 5.0).all()
    raw = model.mllib_model_  # MLlib's own predictions agree where it has factors
    assert raw.rank == 4


def test_evaluate_all_table(sp, ratings_df):
    table = sp.evaluate_all(
        ratings_df, [sp.Bias(), sp.MLlibALS(n_factors=4, n_iter=3)], show_progress=False
    )
    assert list(table.columns) == ["model", "rmse", "mae", "coverage", "fit_s", "predict_s"]
    assert list(table.model) == sorted(
        table.model, key=dict(zip(table.model, table.rmse, strict=True)).get
    )
    assert set(table.model) == {"Bias", "MLlibALS(n_factors=4, n_iter=3)"}
    assert (table.rmse > table.mae).all() and table.coverage.between(0, 1).all()
