"""fastrec.spark.ALS on the shared local[2] session: the single-machine fastrec.ALS's answers
for any number of blocks (with a given penalty and with reg="auto"), the fallback, string ids,
to_local, save/load, recommend_all and the input checks.

Small synthetic data (about 2,500 ratings) and small models (4 factors, 2 iterations) keep the
module fast; the comparison on the post's split is a benchmark, not a test.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

import fastrec
from fastrec.models._common import rating_spread

pytestmark = pytest.mark.spark

PARAMS = {"n_factors": 4, "n_iter": 2, "reg": 0.05, "seed": 3}
STATE = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")


def _synthetic(n_users=120, n_items=80, n=3000, seed=0, string_ids=False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n) * 3 + 1
    items = rng.integers(0, n_items, n) * 7 + 2
    frame = pd.DataFrame({"userId": users, "movieId": items}).drop_duplicates()
    taste = rng.normal(0, 1, (users.max() + 1, 2)) @ rng.normal(0, 0.5, (2, items.max() + 1))
    rating = 3.5 + taste[frame.userId, frame.movieId] + rng.normal(0, 0.3, len(frame))
    frame["rating"] = np.clip(np.round(rating * 2) / 2, 0.5, 5.0)
    if string_ids:
        frame["userId"] = "u" + frame.userId.astype(str).str.zfill(5)
        frame["movieId"] = "0" + frame.movieId.astype(str)
    return frame.reset_index(drop=True)


def _local(train_pdf: pd.DataFrame, **params):
    ratings = fastrec.Ratings.from_frame(train_pdf[["userId", "movieId", "rating"]])
    return fastrec.ALS(**params).fit(ratings)


@pytest.fixture(scope="module")
def split(sp, spark):
    """(train DataFrame, train rows, test rows) of the synthetic set."""
    df = spark.createDataFrame(_synthetic())
    train, test = sp.train_test_split(df, 0.2, seed=1)
    train = train.persist()
    return train, train.toPandas(), test.toPandas()


@pytest.fixture(scope="module")
def local(split):
    return _local(split[1], **PARAMS)


@pytest.fixture(scope="module")
def fitted(sp, split):
    """fastrec.spark.ALS fitted with 1, 2 and 7 blocks."""
    return {b: sp.ALS(**PARAMS, n_blocks=b).fit(split[0]) for b in (1, 2, 7)}


# ------------------------------------------------------------------ same answers
@pytest.mark.parametrize("n_blocks", [1, 2, 7])
def test_same_answers_as_single_machine(spark, split, local, fitted, n_blocks):
    model = fitted[n_blocks]
    test_pdf = split[2]
    scored = model.predict(spark.createDataFrame(test_pdf)).toPandas()
    want = local.predict(scored[["userId", "movieId"]])
    np.testing.assert_allclose(scored.prediction, want, rtol=0, atol=1e-9)
    state = model.to_local()
    for name in STATE:
        np.testing.assert_allclose(getattr(state, name), getattr(local, name), atol=1e-9)
    np.testing.assert_allclose(state.history_["loss"], local.history_["loss"], rtol=1e-9)
    assert len(state.history_["seconds"]) == PARAMS["n_iter"]
    assert np.all(np.diff(state.history_["loss"]) <= 0)  # each half-step minimises


def test_blocks_do_not_change_the_fit(fitted):
    arrays = {b: model.to_local() for b, model in fitted.items()}
    for name in STATE:
        np.testing.assert_array_equal(getattr(arrays[1], name), getattr(arrays[7], name))
        np.testing.assert_array_equal(getattr(arrays[2], name), getattr(arrays[7], name))


def test_unknown_users_and_items_get_the_bias_fallback(spark, split, local, fitted):
    train_pdf = split[1]
    user, item = int(train_pdf.userId.iloc[0]), int(train_pdf.movieId.iloc[0])
    pairs = spark.createDataFrame(
        [(user, item), (999999, item), (user, 999999), (999999, 999999)],
        "userId long, movieId long",
    )
    out = fitted[2].predict(pairs, fallback_col="fell_back").toPandas()
    assert out.prediction.notna().all()
    assert out.fell_back.tolist() == [False, True, True, True]
    pred, fell_back = local.predict_with_fallback(out[["userId", "movieId"]])
    np.testing.assert_allclose(out.prediction, pred, atol=1e-9)
    np.testing.assert_array_equal(out.fell_back, fell_back)


def test_to_local_is_the_single_machine_model(split, local, fitted):
    train_pdf = split[1]
    model = fitted[2].to_local()
    assert isinstance(model, fastrec.ALS)
    assert {k: model.get_params()[k] for k in PARAMS} == PARAMS
    pairs = train_pdf[["userId", "movieId"]]
    np.testing.assert_allclose(model.predict(pairs), local.predict(pairs), atol=1e-9)
    user = train_pdf.userId.iloc[0]  # it has the training pattern: seen items excluded
    seen = set(train_pdf.movieId[train_pdf.userId == user])
    assert not set(model.recommend(user, 20).movieId) & seen


def test_save_and_load_round_trip(sp, split, fitted, tmp_path):
    train = split[0]
    saved = fitted[2].save(tmp_path / "als-model")
    loaded = sp.load(saved)
    assert isinstance(loaded, sp.ALS) and loaded.get_params() == fitted[2].get_params()
    a = fitted[2].predict(train).toPandas().prediction
    b = loaded.predict(train).toPandas().prediction
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("exclude_seen", [True, False])
def test_recommend_all_equals_single_machine(local, fitted, exclude_seen):
    got = fitted[2].recommend_all(5, exclude_seen=exclude_seen).toPandas()
    want = local.recommend_all(5, exclude_seen=exclude_seen)
    key = ["userId", "rank"]
    got = got.sort_values(key).reset_index(drop=True)
    want = want.sort_values(key).reset_index(drop=True)
    cols = [*key, "movieId"]
    pd.testing.assert_frame_equal(got[cols], want[cols], check_dtype=False)
    np.testing.assert_allclose(got.score, want.score, atol=1e-9)


def test_string_ids_unweighted_with_progress(sp, spark, caplog):
    pdf = _synthetic(n=2000, seed=4, string_ids=True)
    params = {**PARAMS, "weighted": False, "reg": 2.0, "reg_bias": 1.0}
    with caplog.at_level(logging.INFO, logger="fastrec.spark.als"):
        model = sp.ALS(**params, show_progress=True, n_blocks=3).fit(spark.createDataFrame(pdf))
    assert "ALS iteration 2/2: loss" in caplog.text
    local = _local(pdf, **params)
    out = model.predict(spark.createDataFrame(pdf[["userId", "movieId"]])).toPandas()
    np.testing.assert_allclose(out.prediction, local.predict(out[["userId", "movieId"]]), atol=1e-9)
    top = model.recommend_all(3).toPandas()
    assert top.userId.str.startswith("u").all() and top.movieId.str.startswith("0").all()


def test_all_equal_ratings_fit_in_unit_spread(sp, spark):
    pdf = _synthetic(n=400, seed=5)
    pdf["rating"] = 4.0
    assert rating_spread(pdf.rating.to_numpy()) == 1.0
    model = sp.ALS(**PARAMS).fit(spark.createDataFrame(pdf))
    out = model.predict(spark.createDataFrame(pdf)).toPandas()
    local = _local(pdf, **PARAMS)
    np.testing.assert_allclose(out.prediction, local.predict(out[["userId", "movieId"]]), atol=1e-9)
    np.testing.assert_allclose(out.prediction, 4.0, atol=1e-9)


def test_spread_is_rating_spread(spark, split):
    from pyspark.sql import functions as F

    from fastrec.spark.als import _spread

    train, train_pdf = split[0], split[1]
    std = train.agg(F.stddev_pop("rating")).first()[0]
    assert _spread(std) == pytest.approx(rating_spread(train_pdf.rating.to_numpy()), rel=1e-12)
    assert _spread(0.0) == 1.0 and _spread(float("nan")) == 1.0


# ------------------------------------------------------------------ parameters and input
def test_defaults_are_the_single_machine_defaults(sp):
    assert sp.ALS().params == fastrec.ALS().get_params()
    assert sp.ALS().name == "ALS" and sp.ALS(reg=0.1).name == "ALS(reg=0.1)"


def test_bad_parameters_and_input(sp, spark, split):
    for reg in ("automatic", 0, -0.1, None, float("nan")):
        with pytest.raises(
            ValueError, match=r"ALS: reg must be a finite number > 0 or one of 'auto'"
        ):
            sp.ALS(reg=reg)
    with pytest.raises(ValueError, match="n_blocks"):
        sp.ALS(n_blocks=0)
    with pytest.raises(ValueError, match="n_factors"):
        sp.ALS(n_factors=0)
    with pytest.raises(fastrec.NotFittedError, match="call fit"):
        sp.ALS().predict(split[0])
    with pytest.raises(KeyError, match="'rating'"):
        sp.ALS(**PARAMS).fit(split[0].withColumnRenamed("rating", "stars"))
    bad = spark.createDataFrame(
        [(1, 2, 4.0), (1, 3, float("nan"))], "userId long, movieId long, rating double"
    )
    with pytest.raises(ValueError, match="1 NaN"):
        sp.ALS(**PARAMS).fit(bad)


def test_block_keys_give_each_block_its_own_partition(spark):
    from pyspark.sql import functions as F

    from fastrec.spark._als_blocks import block_keys, spark_int_hash

    values = [*range(-40, 40), 2**31 - 1, -(2**31), 123456789]
    hashed = spark.createDataFrame([(v,) for v in values], "v int").select(F.hash("v")).collect()
    assert [row[0] for row in hashed] == [spark_int_hash(v) for v in values]
    for n, parts in ((1, 1), (2, 2), (3, 3), (7, 7), (16, 16), (7, 2), (16, 5)):
        keys = block_keys(n, parts)
        assert len(set(keys)) == n
        frame = spark.createDataFrame([(k, b) for b, k in enumerate(keys)], "k int, b int")
        placed = frame.repartition(parts, "k").select("b", F.spark_partition_id().alias("p"))
        assert all(row.b % parts == row.p for row in placed.collect())


# ------------------------------------------------------------------ reg="auto"
AUTO = {"n_factors": 4, "n_iter": 2, "reg": "auto", "seed": 3}


def _auto_frame() -> pd.DataFrame:
    """The synthetic set plus 40 items and 40 users with one rating each: with ``AUTO``'s
    seed some of them have all their ratings held out (checked in the test)."""
    rng = np.random.default_rng(9)
    pdf = _synthetic()
    rare_items = pd.DataFrame(
        {
            "userId": rng.integers(0, 120, 40) * 3 + 1,
            "movieId": 100000 + np.arange(40),
            "rating": rng.choice([1.0, 3.0, 5.0], 40),
        }
    )
    rare_users = pd.DataFrame(
        {
            "userId": 200000 + np.arange(40),
            "movieId": rng.integers(0, 80, 40) * 7 + 2,
            "rating": rng.choice([1.0, 3.0, 5.0], 40),
        }
    )
    return pd.concat([pdf, rare_items, rare_users], ignore_index=True)


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def auto_fits(sp, spark):
    """(frame, single-machine fit, {n_blocks: fastrec.spark fit}, log lines of the 2-block
    fit, shown with show_progress)."""
    pdf = _auto_frame()
    local = _local(pdf, **AUTO)
    df = spark.createDataFrame(pdf)
    logger = logging.getLogger("fastrec.spark.als")
    records, level = _Records(), logger.level
    fits = {}
    for n_blocks in (1, 2, 7):
        show = n_blocks == 2
        if show:
            logger.addHandler(records)
            logger.setLevel(logging.INFO)
        try:
            fits[n_blocks] = sp.ALS(**AUTO, show_progress=show, n_blocks=n_blocks).fit(df)
        finally:
            logger.removeHandler(records)
            logger.setLevel(level)
    return pdf, local, fits, records.messages


def test_auto_data_has_items_and_users_with_every_rating_held_out(auto_fits):
    from fastrec.kernels.keyed import keyed_uniform, pair_keys
    from fastrec.keys import id_keys
    from fastrec.models.als import AUTO_VALIDATION

    ratings = fastrec.Ratings.from_frame(auto_fits[0])
    users = id_keys(ratings.user_index)[ratings.user_codes]
    items = id_keys(ratings.item_index)[ratings.item_codes]
    held = keyed_uniform(AUTO["seed"], pair_keys(users, items)) < AUTO_VALIDATION
    left = ratings.subset(~held)
    assert (left.item_counts() == 0).sum() >= 2  # refit from the keyed start
    assert (left.user_counts() == 0).sum() >= 2  # held-out pairs not scored
    # the walk found a minimum between two neighbours (the parabola's vertex is used)
    path = auto_fits[1].reg_path_["reg"]
    assert len(path) >= 3 and min(path) < auto_fits[1].reg_ < max(path)


@pytest.mark.parametrize("n_blocks", [1, 2, 7])
def test_auto_same_answers_as_single_machine(spark, auto_fits, n_blocks):
    pdf, local, fits, _ = auto_fits
    model = fits[n_blocks]
    pairs = pd.concat(
        [pdf[["userId", "movieId"]], pd.DataFrame({"userId": [999999], "movieId": [2]})]
    )
    scored = model.predict(spark.createDataFrame(pairs)).toPandas()
    np.testing.assert_allclose(
        scored.prediction, local.predict(scored[["userId", "movieId"]]), rtol=0, atol=1e-9
    )
    state = model.to_local()
    assert state.get_params()["reg"] == "auto"
    assert state.reg_ == pytest.approx(local.reg_, rel=1e-12)
    assert state.reg_path_["reg"] == local.reg_path_["reg"]
    np.testing.assert_allclose(
        state.reg_path_["validation_rmse"], local.reg_path_["validation_rmse"], rtol=1e-12
    )
    assert len(state.reg_path_["seconds"]) == len(local.reg_path_["reg"])
    for name in STATE:
        np.testing.assert_allclose(getattr(state, name), getattr(local, name), atol=1e-9)
    np.testing.assert_allclose(state.history_["loss"], local.history_["loss"], rtol=1e-9)
    assert len(state.history_["seconds"]) == min(3, AUTO["n_iter"])


def test_auto_blocks_do_not_change_the_choice(auto_fits):
    paths = [fit.to_local().reg_path_ for fit in auto_fits[2].values()]
    for path in paths[1:]:
        assert path["reg"] == paths[0]["reg"]
        np.testing.assert_allclose(path["validation_rmse"], paths[0]["validation_rmse"], rtol=1e-13)


def test_auto_shows_progress_per_penalty(auto_fits):
    local, messages = auto_fits[1], auto_fits[3]
    tried = [m for m in messages if m.startswith("ALS reg='auto' penalty")]
    assert len(tried) == len(local.reg_path_["reg"])
    assert tried[0].startswith("ALS reg='auto' penalty 1/8: reg 0.09, validation_rmse ")
    assert any(m.startswith("ALS iteration 2/2: loss") for m in messages)


def test_auto_saves_its_path(sp, auto_fits, tmp_path):
    model = auto_fits[2][2]
    loaded = sp.load(model.save(tmp_path / "als-auto"))
    assert loaded.get_params() == model.get_params()
    a, b = model.to_local(), loaded.to_local()
    assert b.reg_ == a.reg_ and b.reg_path_ == a.reg_path_
