import numpy as np
import pandas as pd
import pytest

import fastrec
from fastrec.evaluate import COLUMNS, resolve_models


def test_evaluate_all_on_the_post_data(data_dir):
    path = data_dir / "ml-latest-small-2016" / "ratings.csv"
    table = fastrec.evaluate_all(path, show_progress=False)
    assert list(table.columns) == list(COLUMNS)
    assert set(table.model) >= {"UserMean", "ItemMean", "UserItemMean", "Bias"}
    assert table.rmse.is_monotonic_increasing
    assert table.attrs["n_train"] == 79_831 and table.attrs["n_test"] == 20_173
    by_model = table.set_index("model")
    assert round(by_model.loc["UserItemMean", "rmse"], 6) == 0.929886
    assert by_model.loc["UserMean", "coverage"] == 1.0
    assert by_model.loc["ItemMean", "coverage"] == pytest.approx(1 - 739 / 20_173)
    assert (table[["fit_s", "predict_s", "compile_s"]] >= 0).all().all()


def test_models_by_name_label_and_instance():
    table = fastrec.evaluate_all(
        _random_ratings(),
        models=["usermean", "Movie Avg Benchmark", fastrec.Bias(reg_user=1.0)],
        show_progress=False,
    )
    assert sorted(table.model) == ["Bias(reg_user=1.0)", "ItemMean", "UserMean"]


def test_unknown_model_name_is_refused():
    with pytest.raises(ValueError, match="unknown model 'nope'.*UserMean"):
        resolve_models(["nope"])


def test_models_none_means_every_model():
    chosen, notes = resolve_models(None)
    names = {type(m).__name__ for m in chosen} | {n.split()[1].rstrip(":") for n in notes}
    assert names == set(fastrec.MODELS)


def test_same_split_as_train_test_split():
    ratings = _random_ratings()
    table = fastrec.evaluate_all(ratings, models=["UserMean"], test_size=0.3, seed=11)
    train, test = fastrec.train_test_split(ratings, test_size=0.3, seed=11)
    pred = fastrec.UserMean().fit(train).predict(test)
    assert table.rmse[0] == fastrec.rmse(pred, test.ratings)


def _random_ratings():
    rng = np.random.default_rng(0)
    keys = rng.choice(50 * 40, 700, replace=False)
    df = pd.DataFrame(
        {"userId": keys // 40, "movieId": keys % 40, "rating": rng.integers(1, 11, 700) / 2}
    )
    return fastrec.Ratings.from_frame(df)


class _Greedy(fastrec.UserMean):
    """A model that never fits in memory, and names a lighter stand-in."""

    def _fit(self, train):
        from fastrec.memory import require

        # the warm-up set (320 ratings) fits; the real training set (560 ratings) does not
        require(len(train) * 2**40 if len(train) > 400 else 0, "the greedy model", "use UserMean")
        super()._fit(train)

    def memory_fallback(self):
        return fastrec.UserMean()


def test_a_model_that_does_not_fit_in_memory_runs_its_fallback():
    table = fastrec.evaluate_all(_random_ratings(), models=[_Greedy()], show_progress=False)
    assert list(table.model) == ["UserMean"]
    assert "does not fit in memory" in table.attrs["notes"][0]
    assert "ran UserMean instead" in table.attrs["notes"][0]


def test_memory_guard_names_the_estimate_and_the_way_out(monkeypatch):
    from fastrec.memory import InsufficientMemoryError, require

    monkeypatch.setenv("FASTREC_MEMORY_LIMIT", "1G")
    require(2**29, "half a GiB", "fine")  # 0.5 GiB < 80% of 1 GiB
    with pytest.raises(InsufficientMemoryError, match=r"needs about 2\.0 GiB.*1\.0 GiB.*set k"):
        require(2 * 2**30, "a dense similarity", "set k")


# ----------------------------------------------------------------- metrics=[...]
def test_default_metrics_keep_the_columns():
    ratings = _random_ratings()
    default = fastrec.evaluate_all(ratings, models=["UserMean", "ItemMean"], show_progress=False)
    explicit = fastrec.evaluate_all(
        ratings, models=["UserMean", "ItemMean"], metrics=["rmse", "mae"], show_progress=False
    )
    assert list(default.columns) == list(COLUMNS) == list(explicit.columns)
    pd.testing.assert_frame_equal(
        default.drop(columns=["fit_s", "predict_s", "compile_s"]),
        explicit.drop(columns=["fit_s", "predict_s", "compile_s"]),
    )


def test_metrics_choose_the_columns_and_the_first_one_sorts():
    ratings = _random_ratings()
    table = fastrec.evaluate_all(
        ratings,
        models=["UserMean", "ItemMean", "Bias"],
        metrics=["NDCG@5", "rmse", "recall@3"],
        relevance_threshold=3.5,
        show_progress=False,
    )
    assert list(table.columns) == [
        "model", "ndcg@5", "rmse", "recall@3", "coverage", "fit_s", "predict_s", "compile_s",
    ]  # fmt: skip
    assert table["ndcg@5"].is_monotonic_decreasing  # ranking metric: best (highest) first
    assert table.attrs["relevance_threshold"] == 3.5
    train, test = fastrec.train_test_split(ratings, test_size=0.2, seed=7)
    pred = fastrec.ItemMean().fit(train).predict(test)
    row = table.set_index("model").loc["ItemMean"]
    assert row["ndcg@5"] == fastrec.metrics.ndcg_at_k(
        test.user_codes, test.ratings, pred, k=5, threshold=3.5
    )
    assert row["recall@3"] == fastrec.metrics.recall_at_k(
        test.user_ids, test.ratings, pred, k=3, threshold=3.5
    )
    assert row["rmse"] == fastrec.rmse(pred, test.ratings)


def test_a_bad_metric_fails_before_the_data_is_read(tmp_path):
    missing = tmp_path / "missing.csv"
    with pytest.raises(ValueError, match="unknown metric 'map@10'.*rmse, mae, precision@K"):
        fastrec.evaluate_all(missing, metrics=["rmse", "map@10"])
    with pytest.raises(ValueError, match="k must be an integer >= 1, got 0"):
        fastrec.evaluate_all(missing, metrics=["ndcg@0"])
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        fastrec.evaluate_all(missing, metrics=["ndcg@10"], relevance_threshold=float("nan"))


def test_parse_metrics():
    from fastrec.evaluate import parse_metrics

    assert parse_metrics(None) == ["rmse", "mae"]
    assert parse_metrics("NDCG@10") == ["ndcg@10"]
    assert parse_metrics([" RMSE", "precision @ 5"]) == ["rmse", "precision@5"]
    with pytest.raises(ValueError, match=r"metrics names \['ndcg@10'\] more than once"):
        parse_metrics(["ndcg@10", "NDCG@10"])
    with pytest.raises(ValueError, match="metrics is empty"):
        parse_metrics([])


def test_ranking_metrics_on_the_post_data(ml_small_2016):
    metrics = ["rmse", "precision@10", "recall@10", "ndcg@10"]
    table = fastrec.evaluate_all(
        ml_small_2016, models=["UserMean", "Bias"], metrics=metrics, show_progress=False
    )
    by_model = table.set_index("model")
    assert round(by_model.loc["UserMean", "rmse"], 6) == 0.965366  # the post's, unchanged
    assert ((table[metrics[1:]] > 0) & (table[metrics[1:]] <= 1)).all().all()
    # UserMean predicts one value per user: its ranking is the file's order, Bias's is not
    assert by_model.loc["Bias", "ndcg@10"] > by_model.loc["UserMean", "ndcg@10"]
    assert by_model.loc["Bias", "precision@10"] > by_model.loc["UserMean", "precision@10"]


def test_models_with_parameters_are_parsed_not_evaluated():
    (knn, svd), _ = resolve_models(["UserKNN(k=40, exact=False)", "svd(n_factors=20)"])
    assert isinstance(knn, fastrec.UserKNN) and knn.k == 40 and knn.exact is False
    assert isinstance(svd, fastrec.SVD) and svd.n_factors == 20
    (label,), _ = resolve_models(["User-based Cosine Similarity"])
    assert isinstance(label, fastrec.UserKNN) and label.k is None
    for spec, words in [
        ("UserKNN(40)", "by name"),
        ("UserKNN(k=__import__('os').getcwd())", "literal"),
        ("UserKNN(kk=40)", "no parameter kk"),
        ("Nope(k=1)", "unknown model"),
        ("UserKNN(k=40", "unknown model"),
        ("os.system('true')", "unknown model"),
        ("UserKNN(k={[1]: 2})", "literal"),
        ("UserKNN(k=1, k=2)", "given twice"),
    ]:
        with pytest.raises(ValueError, match=words):
            resolve_models([spec])


# ------------------------------------------------------------------ cv=k, split=...
def _timed_ratings(n_users=50, n_items=40, n=700, seed=0):
    rng = np.random.default_rng(seed)
    keys = rng.choice(n_users * n_items, n, replace=False)
    df = pd.DataFrame(
        {
            "userId": keys // n_items,
            "movieId": keys % n_items,
            "rating": rng.integers(1, 11, n) / 2,
            "timestamp": rng.integers(0, 10**6, n),
        }
    )
    return fastrec.Ratings.from_frame(df)


def test_cv_means_and_stds_over_the_folds():
    ratings = _random_ratings()
    table = fastrec.evaluate_all(
        ratings, models=["UserMean", "Bias"], cv=4, seed=3, metrics=["rmse", "mae"],
        show_progress=False,
    )  # fmt: skip
    assert list(table.columns) == [
        "model", "rmse", "mae", "rmse_std", "mae_std", "coverage", "fit_s", "predict_s",
        "compile_s",
    ]  # fmt: skip
    assert table.attrs["cv"] == 4 and table.attrs["n_test"] == 175
    for name, cls in [("UserMean", fastrec.UserMean), ("Bias", fastrec.Bias)]:
        per_fold = [
            (fastrec.rmse(p := cls().fit(tr).predict(te), te.ratings), fastrec.mae(p, te.ratings))
            for tr, te in fastrec.kfold(ratings, 4, seed=3)
        ]
        row = table.set_index("model").loc[name]
        rmses, maes = np.array(per_fold).T
        assert row.rmse == pytest.approx(rmses.mean(), rel=1e-12)
        assert row.rmse_std == pytest.approx(rmses.std(), rel=1e-9)
        assert row.mae == pytest.approx(maes.mean(), rel=1e-12)
        assert row.mae_std == pytest.approx(maes.std(), rel=1e-9)
    folds = table.attrs["fold_scores"]
    assert len(folds) == 8 and {f["fold"] for f in folds} == {1, 2, 3, 4}
    bias = [f["rmse"] for f in folds if f["model"] == "Bias"]
    assert table.set_index("model").loc["Bias", "rmse"] == pytest.approx(np.mean(bias))


def test_cv_logs_each_fold(caplog):
    with caplog.at_level("INFO", logger="fastrec.evaluate"):
        fastrec.evaluate_all(_random_ratings(), models=["UserMean"], cv=3, show_progress=True)
    folds = [r.getMessage() for r in caplog.records if "UserMean" in r.getMessage()]
    assert [m.split(" UserMean")[0] for m in folds] == ["fold 1/3", "fold 2/3", "fold 3/3"]


@pytest.mark.parametrize(
    ("split", "function"),
    [("temporal", "temporal_split"), ("user-temporal", "user_temporal_split")],
)
def test_temporal_splits(split, function):
    ratings = _timed_ratings()
    table = fastrec.evaluate_all(
        ratings, models=["ItemMean"], split=split, test_size=0.3, show_progress=False
    )
    train, test = getattr(fastrec.split, function)(ratings, 0.3)
    pred = fastrec.ItemMean().fit(train).predict(test)
    assert table.rmse[0] == fastrec.rmse(pred, test.ratings)
    assert table.attrs["split"] == split and table.attrs["n_test"] == len(test)


def test_a_temporal_split_without_timestamps_names_the_split_and_the_column():
    with pytest.raises(ValueError, match="split='user-temporal'.*no timestamp column"):
        fastrec.evaluate_all(_random_ratings(), models=["UserMean"], split="user-temporal")


def test_a_given_pair_of_ratings_or_files(tmp_path):
    ratings = _timed_ratings()
    train, test = fastrec.train_test_split(ratings, seed=2)
    direct = fastrec.evaluate_all(models=["Bias"], split=(train, test), show_progress=False)
    pred = fastrec.Bias().fit(train).predict(test)
    assert direct.rmse[0] == fastrec.rmse(pred, test.ratings)
    assert direct.attrs["split"] == "given" and direct.attrs["n_test"] == len(test)
    # from files: each has its own id map; they are recoded onto one
    train.to_frame().to_csv(tmp_path / "train.csv", index=False)
    test.to_frame().to_csv(tmp_path / "test.csv", index=False)
    files = fastrec.evaluate_all(
        models=["Bias"], split=(tmp_path / "train.csv", str(tmp_path / "test.csv")),
        show_progress=False,
    )  # fmt: skip
    assert files.rmse[0] == pytest.approx(direct.rmse[0], rel=1e-12)
    assert files.coverage[0] == direct.coverage[0]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"cv": 1}, "cv must be None or an integer >= 2"),
        ({"cv": True}, "cv must be None or an integer >= 2"),
        ({"cv": 3, "split": "temporal"}, "cannot be combined with split='temporal'"),
        ({"split": "latest"}, "split must be one of"),
        ({"split": ("a.csv",)}, "split must be one of"),
    ],
)
def test_bad_protocols_fail_before_the_data_is_read(kwargs, words, tmp_path):
    with pytest.raises(ValueError, match=words):
        fastrec.evaluate_all(tmp_path / "missing.csv", models=["UserMean"], **kwargs)


def test_data_and_a_given_pair_are_exclusive():
    train, test = fastrec.train_test_split(_random_ratings())
    with pytest.raises(ValueError, match="not both"):
        fastrec.evaluate_all(train, models=["UserMean"], split=(train, test))
    with pytest.raises(ValueError, match="data is required"):
        fastrec.evaluate_all(models=["UserMean"])


# ------------------------------------------------------------ catalog-* metrics
def test_catalog_metrics_score_each_users_recommend_list():
    from fastrec.metrics import catalog_metrics

    ratings = _random_ratings()
    names = ["catalog-ndcg@5", "catalog-precision@5", "catalog-recall@5", "catalog-map@5",
             "catalog-coverage@5"]  # fmt: skip
    table = fastrec.evaluate_all(
        ratings, models=["ItemMean", "BiasedMF(n_factors=4)"], metrics=names,
        relevance_threshold=3.5, show_progress=False,
    )  # fmt: skip
    assert list(table.columns[1:6]) == names
    assert table["catalog-ndcg@5"].is_monotonic_decreasing
    train, test = fastrec.train_test_split(ratings)
    model = fastrec.BiasedMF(n_factors=4).fit(train)
    users = np.unique(test.user_ids[test.ratings >= 3.5])
    lists = model.recommend_all(n=5, users=users)  # recommend(n=5, exclude_seen=True) each
    expected = catalog_metrics(
        lists.userId, lists.movieId, test.user_ids, test.item_ids, test.ratings, names, 3.5,
        n_items=ratings.n_items,
    )  # fmt: skip
    row = table.set_index("model").loc["BiasedMF(n_factors=4)"]
    for name in names:
        assert row[name] == pytest.approx(expected[name], rel=1e-12), name
    one = lists[lists.userId == users[0]].movieId.tolist()
    assert one == model.recommend(users[0], n=5).movieId.tolist()


def test_parse_metrics_takes_the_catalog_names():
    from fastrec.evaluate import parse_metrics

    assert parse_metrics(["Catalog-NDCG@10", "rmse", "catalog-coverage @ 20"]) == [
        "catalog-ndcg@10", "rmse", "catalog-coverage@20",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="unknown metric 'catalog-auc@5'.*catalog-map@K"):
        parse_metrics(["catalog-auc@5"])
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        parse_metrics(["catalog-recall@0"])


def test_catalog_metrics_and_temporal_splits_on_the_post_data(ml_small_2016):
    names = ["catalog-ndcg@10", "catalog-recall@10", "catalog-coverage@10", "rmse"]
    table = fastrec.evaluate_all(
        ml_small_2016, models=["Bias", "SVD"], metrics=names, show_progress=False
    ).set_index("model")
    assert ((table[names[:3]] >= 0) & (table[names[:3]] <= 1)).all().all()
    # Bias ranks items by b_i alone: nearly one list for everyone, a sliver of the catalogue
    assert table.loc["Bias", "catalog-coverage@10"] < 0.01
    assert table.loc["Bias", "rmse"] < table.loc["SVD", "rmse"]
    held = fastrec.evaluate_all(
        ml_small_2016, models=["Bias"], split="user-temporal", show_progress=False
    )
    assert held.attrs["n_test"] == pytest.approx(0.2 * 100_004, rel=0.01)


def test_every_model_can_be_named_though_the_default_run_is_models():
    from fastrec.evaluate import model_from_spec, resolve_models
    from fastrec.models import ALL_MODELS, MODELS

    for name, cls in ALL_MODELS.items():
        assert type(model_from_spec(name)) is cls
    assert type(model_from_spec("BayesianMF(n_samples=20)")).__name__ == "BayesianMF"
    chosen, _ = resolve_models(None)
    assert {type(m).__name__ for m in chosen} <= set(MODELS)
    assert "BayesianMF" not in {type(m).__name__ for m in chosen}
