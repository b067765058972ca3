import numpy as np
import pandas as pd
import pytest

import fastrec
from fastrec.evaluate import COLUMNS, resolve_models


def test_evaluate_all_on_the_post_data(data_dir):
    path = data_dir / "ml-latest-small-2016" / "ratings.csv"
    table = fastrec.evaluate_all(path, progress=False)
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
        progress=False,
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
    table = fastrec.evaluate_all(_random_ratings(), models=[_Greedy()], progress=False)
    assert list(table.model) == ["UserMean"]
    assert "does not fit in memory" in table.attrs["notes"][0]
    assert "ran UserMean instead" in table.attrs["notes"][0]


def test_memory_guard_names_the_estimate_and_the_way_out(monkeypatch):
    from fastrec.memory import InsufficientMemoryError, require

    monkeypatch.setenv("FASTREC_MEMORY_LIMIT", "1G")
    require(2**29, "half a GiB", "fine")  # 0.5 GiB < 80% of 1 GiB
    with pytest.raises(InsufficientMemoryError, match=r"needs about 2\.0 GiB.*1\.0 GiB.*set k"):
        require(2 * 2**30, "a dense similarity", "set k")
