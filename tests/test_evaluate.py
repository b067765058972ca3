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
