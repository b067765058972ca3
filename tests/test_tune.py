"""fastrec.tune: grid and random search on folds of the training data, the best refitted."""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd
import pytest

import fastrec
from fastrec.tune import TuneResult


def ratings(n_users=60, n_items=40, n=900, seed=0) -> fastrec.Ratings:
    rng = np.random.default_rng(seed)
    keys = rng.choice(n_users * n_items, n, replace=False)
    users, items = keys // n_items, keys % n_items
    # a signal a bias model can find: per-user and per-item offsets
    score = 3 + rng.normal(0, 0.6, n_users)[users] + rng.normal(0, 0.6, n_items)[items]
    values = np.clip(np.round((score + rng.normal(0, 0.3, n)) * 2) / 2, 0.5, 5.0)
    return fastrec.Ratings.from_frame(
        pd.DataFrame({"userId": users, "movieId": items, "rating": values})
    )


GRID = {"reg_user": [0.0, 5.0, 50.0], "reg_item": [0.0, 25.0]}


def test_grid_search_scores_every_setting_by_hand():
    data = ratings()
    result = fastrec.tune(fastrec.Bias(), GRID, data, cv=3, seed=1, n_jobs=1)
    assert isinstance(result, TuneResult) and result.metric == "rmse"
    table = result.table
    assert list(table.columns) == ["reg_user", "reg_item", "rmse", "rmse_std", "fit_s",
                                   "predict_s"]  # fmt: skip
    assert len(table) == 6 and table.rmse.is_monotonic_increasing
    folds = list(fastrec.kfold(data, 3, seed=1))
    for _, row in table.iterrows():
        params = {"reg_user": row.reg_user, "reg_item": row.reg_item}
        scores = [
            fastrec.rmse(fastrec.Bias(**params).fit(tr).predict(te), te.ratings) for tr, te in folds
        ]
        assert row.rmse == pytest.approx(np.mean(scores), rel=1e-12)
        assert row.rmse_std == pytest.approx(np.std(scores), rel=1e-9)
    assert result.best_params == {"reg_user": table.reg_user[0], "reg_item": table.reg_item[0]}
    assert result.best_score == table.rmse[0]
    assert isinstance(result.best_params["reg_user"], float)  # the grid's own values
    best = result.best_model
    assert best.get_params() == {**fastrec.Bias().get_params(), **result.best_params}
    expected = fastrec.Bias(**result.best_params).fit(data)
    np.testing.assert_array_equal(best.predict(data), expected.predict(data))  # refit on all
    assert table.attrs["cv"] == 3 and table.attrs["n_settings"] == 6
    assert "best_score" in repr(result)


def test_threads_give_the_same_table():
    data = ratings()
    model = fastrec.BiasedMF(n_factors=4, n_epochs=5)
    grid = {"lr": [0.005, 0.02], "reg": [0.02, 0.1]}
    one = fastrec.tune(model, grid, data, cv=2, n_jobs=1, refit=False)
    two = fastrec.tune(model, grid, data, cv=2, n_jobs=2, refit=False)
    # two at once, except on Numba's workqueue layer, which allows one thread in at a time
    layer = numba.threading_layer()
    assert one.best_model is None and two.table.attrs["n_jobs"] == (layer != "workqueue") + 1
    cols = ["lr", "reg", "rmse", "rmse_std"]
    pd.testing.assert_frame_equal(one.table[cols], two.table[cols])


def test_random_search_draws_distinct_settings_by_seed():
    data = ratings()
    grid = {"reg_user": [0.0, 1.0, 5.0, 10.0, 50.0], "reg_item": [0.0, 5.0, 25.0, 100.0]}
    a = fastrec.tune("Bias", grid, data, n_iter=5, seed=3, refit=False)
    b = fastrec.tune("Bias", grid, data, n_iter=5, seed=3, refit=False)
    c = fastrec.tune("Bias", grid, data, n_iter=5, seed=4, refit=False)
    pairs = lambda r: set(zip(r.table.reg_user, r.table.reg_item, strict=True))  # noqa: E731
    assert len(a.table) == 5 and len(pairs(a)) == 5
    assert pairs(a) == pairs(b) and pairs(a) != pairs(c)
    assert pairs(a) <= {(u, i) for u in grid["reg_user"] for i in grid["reg_item"]}
    assert a.table.attrs["n_settings"] == 20
    whole = fastrec.tune("Bias", grid, data, n_iter=100, refit=False)  # more than the grid
    assert len(whole.table) == 20


def test_a_ranking_metric_sorts_descending_and_none_values_stay_none():
    data = ratings()
    result = fastrec.tune(
        fastrec.BiasedMF(n_factors=4, n_epochs=3),
        {"reg_bias": [None, 0.5]},
        data,
        metric="NDCG@5",
        refit=False,
    )
    assert result.metric == "ndcg@5" and "ndcg@5_std" in result.table
    assert result.table["ndcg@5"].is_monotonic_decreasing
    assert set(result.table.reg_bias.tolist()) == {None, 0.5}
    assert result.best_params["reg_bias"] in (None, 0.5)


def test_a_catalog_metric_can_rank_settings():
    result = fastrec.tune(
        fastrec.Bias(), {"reg_item": [0.0, 25.0]}, ratings(), metric="catalog-ndcg@5",
        refit=False,
    )  # fmt: skip
    assert result.table["catalog-ndcg@5"].between(0, 1).all()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"grid": {}}, "grid must be a non-empty dict"),
        ({"grid": {"nope": [1]}}, "Bias has no parameter 'nope'"),
        ({"grid": {"reg_user": 1.0}}, r"grid\['reg_user'\] must be a list"),
        ({"grid": {"reg_user": []}}, r"grid\['reg_user'\] is empty"),
        ({"grid": {"reg_user": [1.0, -1.0]}}, "reg_user must be"),
        ({"cv": 1}, "cv must be an integer >= 2"),
        ({"n_iter": 0}, "n_iter must be None or an integer >= 1"),
        ({"n_jobs": 0}, "n_jobs must be None or an integer >= 1"),
        ({"metric": "auc"}, "unknown metric 'auc'"),
    ],
)
def test_bad_arguments_fail_before_any_fit(kwargs, words, tmp_path):
    args = {"grid": {"reg_user": [1.0]}, "data": tmp_path / "missing.csv", **kwargs}
    with pytest.raises(ValueError, match=words):
        fastrec.tune(fastrec.Bias(), args.pop("grid"), args.pop("data"), **args)


def test_a_failing_fit_names_the_setting():
    with pytest.raises(ValueError, match=r"tune: BiasedMF\(.*lr=50\.0.*\) on fold 1/2: "):
        fastrec.tune(
            fastrec.BiasedMF(n_factors=4, n_epochs=30), {"lr": [50.0]}, ratings(), cv=2,
            n_jobs=1,
        )  # fmt: skip


def test_public_names():
    from fastrec.tune import tune

    assert fastrec.tune is tune and fastrec.TuneResult is TuneResult
    assert {"tune", "TuneResult"} <= set(fastrec.__all__)


@pytest.mark.data
def test_biasedmf_grid_on_ml_latest_small(ml_small_path):
    data = fastrec.load_ratings(ml_small_path)
    grid = {"n_factors": [20, 50], "reg": [0.02, 0.08]}
    result = fastrec.tune(fastrec.BiasedMF(), grid, data, cv=3)
    assert len(result.table) == 4 and result.table.rmse.is_monotonic_increasing
    assert 0.8 < result.best_score < 0.95
    assert result.best_model.user_index_ is data.user_index  # refitted on all of data


# ------------------------------------------------------------- fastrec tune (CLI)
def test_cli_tune_prints_the_table_and_saves_the_best(tmp_path, capsys):
    import argparse

    from fastrec.cli import tune as cli_tune

    path = tmp_path / "ratings.csv"
    ratings().to_frame().to_csv(path, index=False)
    parser = argparse.ArgumentParser()
    cli_tune.add_parser(parser.add_subparsers(dest="command"))
    saved = tmp_path / "best.npz"
    args = parser.parse_args(
        ["tune", str(path), "--model", "Bias", "--grid", "reg_user=[0.0, 5.0]", "reg_item=25.0",
         "--cv", "2", "--no-progress", "--save", str(saved)]
    )  # fmt: skip
    cli_tune.run(args)
    out = capsys.readouterr().out
    assert "2 settings x 2 folds of 900 ratings" in out and "; best: Bias(" in out
    assert fastrec.load_model(saved).reg_item == 25.0


def test_cli_grid_parsing():
    from fastrec.cli.tune import parse_grid

    grid = parse_grid(["lr=[0.005, 0.01]", "reg = 0.1", "reg_bias=(None, 1)"])
    assert grid == {"lr": [0.005, 0.01], "reg": [0.1], "reg_bias": [None, 1]}
    for item, words in [
        ("lr", "expected PARAM=VALUES"),
        ("=[1]", "expected PARAM=VALUES"),
        ("lr=[0.1", "Python literal"),
        ("lr=__import__('os')", "Python literal"),
    ]:
        with pytest.raises(ValueError, match=words):
            parse_grid([item])
    with pytest.raises(ValueError, match="lr is given twice"):
        parse_grid(["lr=1", "lr=2"])
