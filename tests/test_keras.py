"""The post's Keras models: architecture, schedules, fallbacks, determinism, lazy import.

Tests that need TensorFlow take the ``tf`` fixture (skipped where it is not installed, or
where Keras runs on another backend in this process); the lazy-import and missing-TensorFlow
tests run everywhere. The JAX backend is tested in a subprocess (``jax_run``; skipped where
JAX is not installed).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import fastrec
from fastrec.models.keras import DotProduct, DotProductBias, KerasRecommender, NeuralNet
from fastrec.models.keras import backend as keras_setup
from fastrec.models.keras.training import fast_batch

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

KERAS_MODELS = [DotProduct, DotProductBias, NeuralNet]
#: The post's RMSE on its split (ml-latest-small 2016, seed 7).
POST_RMSE = {DotProduct: 1.210019, DotProductBias: 0.908557, NeuralNet: 0.890825}
K = 50


@pytest.fixture(scope="module")
def tf():
    if keras_setup.keras_backend() != "tensorflow":
        pytest.skip(
            f"these tests run on Keras' TensorFlow backend, not {keras_setup.keras_backend()!r}"
        )
    return pytest.importorskip("tensorflow")


@pytest.fixture(params=KERAS_MODELS, ids=lambda c: c.__name__)
def model_cls(request):
    return request.param


@pytest.fixture(scope="module")
def small_split():
    """ml-100k-shaped synthetic ratings (943 users, 1,682 items, 100,000 ratings), 80/20."""
    return fastrec.train_test_split(fastrec.datasets.synthetic("ml-100k", seed=1), seed=3)


@pytest.fixture(scope="module")
def tiny():
    """60 users x 45 items, 900 ratings: enough to build and train every model in a blink."""
    rng = np.random.default_rng(3)
    keys = rng.choice(60 * 45, 900, replace=False)
    df = pd.DataFrame(
        {
            "userId": keys // 45 + 100,
            "movieId": keys % 45 + 5000,
            "rating": rng.integers(1, 11, 900) / 2.0,
        }
    )
    return fastrec.train_test_split(fastrec.Ratings.from_frame(df), test_size=0.25, seed=1)


# ------------------------------------------------------------- lazy import
def test_importing_fastrec_and_the_module_does_not_import_tensorflow():
    code = (
        "import sys, fastrec, fastrec.models.keras as km; "
        "km.DotProduct.missing_dependency(); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, "
        "sorted(m for m in sys.modules if m.startswith(('tensorflow', 'keras')))[:5]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("how", ["sys.modules", "find_spec"])
def test_without_tensorflow_construction_says_what_to_install(monkeypatch, how):
    if how == "sys.modules":
        monkeypatch.setitem(sys.modules, "tensorflow", None)
    else:
        real = importlib.util.find_spec
        monkeypatch.setattr(
            importlib.util,
            "find_spec",
            lambda name, *a, **kw: None if name == "tensorflow" else real(name, *a, **kw),
        )
    for cls in KERAS_MODELS:
        assert 'pip install "fastrec[keras]"' in cls.missing_dependency()
        with pytest.raises(ImportError, match=r'pip install "fastrec\[keras\]"'):
            cls()


def test_without_tensorflow_evaluate_all_skips_them_with_a_note(monkeypatch):
    from fastrec import evaluate

    monkeypatch.setitem(sys.modules, "tensorflow", None)
    models = {"Bias": fastrec.Bias, **{cls.__name__: cls for cls in KERAS_MODELS}}
    monkeypatch.setattr(evaluate, "MODELS", models)
    chosen, notes = evaluate.resolve_models(None)
    assert [type(m) for m in chosen] == [fastrec.Bias]
    assert len(notes) == 3
    for cls, note in zip(KERAS_MODELS, notes, strict=True):
        assert note.startswith(f"skipped {cls.__name__}:") and "fastrec[keras]" in note


# ------------------------------------------------------------ architecture
@pytest.mark.parametrize(
    "cls, n_weights",
    [
        (DotProduct, lambda nu, ni: K * (nu + ni)),
        (DotProductBias, lambda nu, ni: (K + 1) * (nu + ni)),
        (NeuralNet, lambda nu, ni: K * (nu + ni) + 2 * K * 64 + 64 + 64 + 1),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_layer_shapes_and_parameter_counts(tf, tiny, cls, n_weights):
    train, _ = tiny
    nu, ni = train.n_users, train.n_items
    model = cls(max_epochs=1).fit(train)
    net = model.keras_model_
    assert net.count_params() == n_weights(nu, ni)
    assert net.get_layer("user_factors").get_weights()[0].shape == (nu, K)
    assert net.get_layer("item_factors").get_weights()[0].shape == (ni, K)
    assert tuple(net.get_layer("user_factors").output.shape) == (None, K)
    assert tuple(net.output.shape) == (None, 1)
    assert model.user_factors_.shape == (nu, K) and model.user_factors_.dtype == np.float32
    assert model.item_factors_.shape == (ni, K)
    regularized = [
        layer.name for layer in net.layers if getattr(layer, "embeddings_regularizer", None)
    ]
    assert sorted(regularized) == ["item_factors", "user_factors"]
    assert net.get_layer("user_factors").embeddings_regularizer.l2 == pytest.approx(1e-4)
    if cls is DotProductBias:
        assert net.get_layer("user_bias").get_weights()[0].shape == (nu, 1)
        assert net.get_layer("item_bias").get_weights()[0].shape == (ni, 1)
    if cls is NeuralNet:
        assert tuple(net.get_layer("concat").output.shape) == (None, 2 * K)
        assert tuple(net.get_layer("hidden").output.shape) == (None, 64)
        assert net.get_layer("hidden").activation.__name__ == "relu"
        rates = [layer.rate for layer in net.layers if layer.__class__.__name__ == "Dropout"]
        assert rates == [0.25, 0.75]
    assert net.optimizer.__class__.__name__ == "Adam"
    assert (
        model.post_label
        == {
            DotProduct: "Dot Product",
            DotProductBias: "Dot Product with Bias",
            NeuralNet: "Neural Network",
        }[cls]
    )


def test_numpy_predictions_are_the_networks_outputs(tf, tiny, model_cls):
    train, test = tiny
    model = model_cls(max_epochs=3).fit(train)
    users, items = model._to_codes(test, None, "userId", "movieId")
    pred, fell_back = model._predict(users, items)
    ok = ~fell_back
    assert ok.sum() > 100
    keras_out = model.keras_model_.predict([users[ok], items[ok]], verbose=0)[:, 0]
    np.testing.assert_allclose(
        pred[ok], np.clip(keras_out, *model.rating_range_), rtol=1e-5, atol=1e-5
    )


def test_embedding_tables_cover_the_shared_id_maps(tf, tiny):
    train, test = tiny
    model = DotProduct(max_epochs=1).fit(train)
    assert model.user_factors_.shape[0] == train.n_users == test.n_users
    assert model.item_factors_.shape[0] == train.n_items == test.n_items


# -------------------------------------------------------------- fallbacks
def test_unknown_users_and_items_fall_back_to_bias(tf, tiny, model_cls):
    train, _ = tiny
    model = model_cls(max_epochs=2).fit(train)
    user, item = train.user_ids[0], train.item_ids[0]
    before = set(vars(model))
    pred, fell_back = model.predict_with_fallback([user, -7, user, -7], [item, item, -9, -9])
    assert set(vars(model)) == before  # predict writes nothing to the model
    assert fell_back.tolist() == [False, True, True, True]
    expected = model.fallback_.predict([-7, user, -7], [item, -9, -9])
    np.testing.assert_array_equal(pred[1:], expected)
    assert isinstance(model.fallback_, fastrec.Bias)
    # The model leaves those pairs to the fallback: NaN in its own answer.
    codes = model._to_codes(([user, -7, user, -7], [item, item, -9, -9]), None, "", "")
    own, _ = model._predict(*codes)
    assert np.isfinite(own[0]) and np.isnan(own[1:]).all()


def test_users_seen_only_in_the_validation_slice_fall_back(tf):
    # 300 users with one rating each beside a dense core: some land in the validation slice.
    rng = np.random.default_rng(0)
    core = rng.choice(40 * 30, 800, replace=False)
    users = np.concatenate([core // 30, np.arange(1000, 1300)])
    items = np.concatenate([core % 30, rng.integers(0, 30, 300)])
    df = pd.DataFrame({"userId": users, "movieId": items, "rating": rng.integers(1, 6, 1100)})
    train = fastrec.Ratings.from_frame(df)
    model = DotProductBias(max_epochs=2, validation_size=0.2).fit(train)
    lonely = np.flatnonzero((model.user_n_train_ > 0) & ~model.user_trained_)
    assert len(lonely) > 20
    ids = train.user_index[lonely]
    pred, fell_back = model.predict_with_fallback(ids, np.full(len(ids), train.item_index[0]))
    assert fell_back.all()
    np.testing.assert_array_equal(
        pred, model.fallback_.predict(ids, np.full(len(ids), train.item_index[0]))
    )


# ------------------------------------------------------------- determinism
@pytest.mark.slow
def test_same_seed_same_predictions_other_seed_other_ones(tf, small_split, model_cls):
    train, test = small_split
    a = model_cls(max_epochs=2).fit(train).predict(test)
    b = model_cls(max_epochs=2).fit(train).predict(test)
    c = model_cls(max_epochs=2, seed=1).fit(train).predict(test)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_fit_restores_the_global_random_state(tf, tiny):
    np.random.seed(123)  # noqa: NPY002
    expected = np.random.random(3)  # noqa: NPY002
    np.random.seed(123)  # noqa: NPY002
    DotProduct(max_epochs=1, seed=5).fit(tiny[0])
    np.testing.assert_array_equal(np.random.random(3), expected)  # noqa: NPY002


# ---------------------------------------------------------------- training
@pytest.mark.slow
def test_short_training_lowers_the_loss_and_beats_the_global_mean(tf, small_split, model_cls):
    train, test = small_split
    model = model_cls(max_epochs=4, patience=4).fit(train)
    loss, val = model.history_["loss"], model.history_["val_mse"]
    assert len(loss) == len(val) == len(model.history_["seconds"]) == model.n_epochs_ == 4
    assert all(s > 0 for s in model.history_["seconds"])
    assert loss[-1] < loss[0]
    assert min(val) < val[0]
    # What early stopping with min_delta promises: the kept epoch beat every earlier one, and
    # no later epoch beat it by more than min_delta.
    best = model.best_epoch_ - 1
    assert all(v > val[best] for v in val[:best])
    assert all(v >= val[best] - KerasRecommender._min_delta for v in val[best + 1 :])
    rmse = fastrec.rmse(model.predict(test), test.ratings)
    mean_rmse = fastrec.rmse(np.full(len(test), train.ratings.mean()), test.ratings)
    assert rmse < mean_rmse


def test_early_stopping_keeps_the_best_epoch(tf, tiny):
    train, _ = tiny
    model = DotProductBias(max_epochs=30, patience=1, learning_rate=0.05).fit(train)
    val = model.history_["val_mse"]
    best = model.best_epoch_
    assert model.n_epochs_ == best + 1 < 30  # patience 1: one epoch without progress
    assert val[best - 1] <= min(val) + KerasRecommender._min_delta
    assert all(v >= val[best - 1] - KerasRecommender._min_delta for v in val[best:])
    # The kept weights are the best epoch's: scoring the validation slice (drawn as fit
    # draws it) again gives that epoch's MSE, not the last one's.
    order = np.random.default_rng(model.seed).permutation(len(train))
    rows = order[: round(model.validation_size * len(train))]
    pred, _ = model._predict_codes(train.user_codes[rows], train.item_codes[rows])
    mse = np.mean((pred - train.ratings[rows]) ** 2)
    assert mse == pytest.approx(val[best - 1], rel=1e-6)
    assert mse != pytest.approx(val[-1], rel=1e-6)


def test_learning_rate_scales_with_the_batch(tf, tiny):
    train, _ = tiny
    model = DotProductBias(max_epochs=1, batch_size=256).fit(train)
    assert model.batch_size_ == 256
    assert model.learning_rate_ == pytest.approx(1e-2 * np.sqrt(256 / 4096))
    assert DotProductBias(max_epochs=1, learning_rate=0.3).fit(train).learning_rate_ == 0.3


def test_post_schedule_replays_the_posts_epochs_and_rates(tf, tiny):
    train, _ = tiny
    expected = {DotProduct: (13, 1e-3), DotProductBias: (23, 1e-3), NeuralNet: (6, 1e-3)}
    for cls, (n_epochs, last_lr) in expected.items():
        model = cls(schedule="post").fit(train)
        assert model.n_epochs_ == model.best_epoch_ == n_epochs
        assert model.batch_size_ == 64
        assert "val_mse" not in model.history_
        lr = float(np.asarray(model.keras_model_.optimizer.learning_rate))
        assert lr == pytest.approx(last_lr)
        assert model.user_trained_.sum() == (train.user_counts() > 0).sum()


def test_fast_batch_grows_with_the_data():
    assert fast_batch(80_000, None) == 4096
    assert fast_batch(1_000, None) == 1_000
    assert fast_batch(19_000_076, None) == 37_888  # ml-25m's training slice: 502 steps
    assert fast_batch(80_000, 100) == 100
    assert fast_batch(50, 100) == 50


# ---------------------------------------------------------------- progress
def test_silent_by_default_one_line_per_epoch_with_show_progress(tf, tiny, capsys, caplog):
    train, _ = tiny
    with caplog.at_level(logging.WARNING, logger="fastrec"):
        DotProduct(max_epochs=3, patience=5).fit(train)
    out = capsys.readouterr()
    assert out.out == "" and out.err == "" and caplog.records == []

    with caplog.at_level(logging.INFO, logger="fastrec.models.keras"):
        model = DotProduct(max_epochs=3, patience=5, show_progress=True).fit(train)
    said = [r.getMessage() for r in caplog.records if r.name.endswith(".training")]
    assert len(said) == 3 == model.n_epochs_
    assert all("loss" in line and "val mse" in line for line in said)
    err = capsys.readouterr().err
    assert "DotProduct" in err and "3/3" in err  # the tqdm bar over the epochs

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="fastrec.models.keras"):
        DotProduct(schedule="post", show_progress=True).fit(train)
    said = [r.getMessage() for r in caplog.records if r.name.endswith(".training")]
    assert len(said) == 13 and not any("val mse" in line for line in said)
    assert "13/13" in capsys.readouterr().err


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "params, match",
    [
        ({"schedule": "slow"}, "schedule must be one of"),
        ({"n_factors": 0}, "n_factors must be an integer >= 1"),
        ({"reg": -1.0}, "reg must be"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate": 0.0}, "learning_rate must be"),
        ({"validation_size": 1.0}, "validation_size must be a share strictly between"),
        ({"validation_size": 0.0}, "validation_size must be a finite number > 0"),
        ({"patience": -1}, "patience"),
        ({"jit_compile": "yes"}, "jit_compile"),
        ({"deterministic": 1}, "DotProduct: deterministic must be True or False, got 1"),
        ({"show_progress": "yes"}, "show_progress must be True or False"),
        ({"schedule": "post", "learning_rate": 0.1}, "applies to schedule='fast'"),
        ({"schedule": "post", "max_epochs": 3}, "applies to schedule='fast'"),
    ],
)
def test_bad_parameters_are_refused_in_fit(tf, tiny, params, match):
    model = DotProduct(**params)  # scikit-learn style: the constructor only stores them
    with pytest.raises(ValueError, match=match):
        model.fit(tiny[0])


def test_shared_base_and_install_note():
    assert all(issubclass(cls, KerasRecommender) for cls in KERAS_MODELS)
    assert 'pip install "fastrec[keras]"' in keras_setup.INSTALL_NOTE


# ------------------------------------------------- the post's split (real data)
@pytest.mark.slow
def test_fast_schedule_matches_the_posts_rmse(tf, ml_small_2016, model_cls):
    train, test = fastrec.train_test_split(ml_small_2016, test_size=0.2, seed=7)
    model = model_cls().fit(train)
    pred, fell_back = model.predict_with_fallback(test)
    rmse = fastrec.rmse(pred, test.ratings)
    assert rmse <= POST_RMSE[model_cls], f"{model_cls.__name__}: {rmse:.6f}"
    assert fell_back.sum() >= 739  # the test ratings of movies without a train rating
    assert model.n_epochs_ < model.fast_max_epochs  # early stopping, not the cap


def test_no_xla_under_op_determinism(tf, tiny):
    # deterministic=True turns TensorFlow's op determinism on, under which Keras runs no XLA:
    # "auto" resolves to False and an explicit True is refused instead of silently dropped.
    model = DotProduct(max_epochs=1, jit_compile="auto").fit(tiny[0])
    assert model.jit_compile_ is False
    with pytest.raises(ValueError, match="op determinism"):
        DotProduct(max_epochs=1, jit_compile=True).fit(tiny[0])


# ------------------------------------------------------------ save and load
def test_save_load_round_trip(tf, tiny, model_cls, tmp_path):
    train, test = tiny
    model = model_cls(max_epochs=3).fit(train)
    loaded = fastrec.load_model(model.save(tmp_path / "model.fastrec"))
    assert type(loaded) is model_cls and loaded.get_params() == model.get_params()
    pred, fell_back = model.predict_with_fallback(test)
    again, again_fell_back = loaded.predict_with_fallback(test)
    np.testing.assert_array_equal(again, pred)
    np.testing.assert_array_equal(again_fell_back, fell_back)
    assert loaded.history_ == model.history_ and loaded.n_epochs_ == model.n_epochs_
    assert loaded.best_epoch_ == model.best_epoch_ and loaded.backend_ == model.backend_
    pairs = [test.user_codes[:20], test.item_codes[:20]]
    np.testing.assert_array_equal(
        np.asarray(loaded.keras_model_(pairs, training=False)),
        np.asarray(model.keras_model_(pairs, training=False)),
    )
    users = list(train.user_index[:5])
    pd.testing.assert_frame_equal(
        loaded.recommend_all(n=5, users=users), model.recommend_all(n=5, users=users)
    )
    # Only the declared state is saved: the derived arrays are rebuilt, not stored.
    assert "n_epochs_" not in model_cls.state_attributes()
    assert not any(name.startswith("_") for name in model_cls.state_attributes())


# ------------------------------------------------------------ other backends
# Keras fixes its backend when it is first imported, and this process runs TensorFlow's:
# the JAX backend is tested in a subprocess (one for the whole module, ~40 s on 2 cores)
# that writes what it saw to a folder, which the tests below read.
_JAX_SCRIPT = r"""
import json, os, sys
import numpy as np
import fastrec
from fastrec.models.keras import DotProduct, DotProductBias, NeuralNet

out = sys.argv[1]
train, test = fastrec.train_test_split(fastrec.datasets.synthetic("ml-100k", seed=1), seed=3)
rng = np.random.default_rng(3)
keys = rng.choice(60 * 45, 900, replace=False)
tiny = fastrec.Ratings.from_frame(
    __import__("pandas").DataFrame(
        {"userId": keys // 45, "movieId": keys % 45, "rating": rng.integers(1, 11, 900) / 2}
    )
)
import keras

report = {"keras_backend": keras.backend.backend(), "models": {}}
arrays = {}
for cls in (DotProduct, DotProductBias, NeuralNet):
    name = cls.__name__
    model = cls().fit(train)  # the default fast schedule
    users, items = model._to_codes(test, None, "userId", "movieId")
    pred, fell_back = model._predict(users, items)
    ok = ~fell_back
    keras_out = model.keras_model_.predict([users[ok], items[ok]], verbose=0)[:, 0]
    path = model.save(os.path.join(out, name + ".fastrec"))
    loaded = fastrec.load_model(path)
    pairs = [test.user_codes[:50], test.item_codes[:50]]
    same = cls(max_epochs=2).fit(tiny).predict(tiny)
    again = cls(max_epochs=2).fit(tiny).predict(tiny)
    other = cls(max_epochs=2, seed=1).fit(tiny).predict(tiny)
    report["models"][name] = {
        "backend_": model.backend_,
        "jit_compile_": model.jit_compile_,
        "n_epochs_": model.n_epochs_,
        "best_epoch_": model.best_epoch_,
        "loss": model.history_["loss"],
        "val_mse": model.history_["val_mse"],
        "rmse": fastrec.rmse(model.predict(test), test.ratings),
        "loaded_class": type(loaded).__name__,
        "loaded_backend_": loaded.backend_,
        "rating_range_": [float(x) for x in model.rating_range_],
    }
    arrays.update({
        f"{name}_pred": model.predict(test),
        f"{name}_trained_pred": pred[ok],
        f"{name}_keras_out": keras_out,
        f"{name}_loaded_pred": loaded.predict(test),
        f"{name}_net": np.asarray(model.keras_model_(pairs, training=False)),
        f"{name}_loaded_net": np.asarray(loaded.keras_model_(pairs, training=False)),
        f"{name}_tiny_a": same,
        f"{name}_tiny_b": again,
        f"{name}_tiny_seed1": other,
    })
np.savez(os.path.join(out, "arrays.npz"), **arrays)
with open(os.path.join(out, "report.json"), "w") as f:
    json.dump(report, f)
"""


def _have(*names: str) -> bool:
    return all(importlib.util.find_spec(name) is not None for name in names)


@pytest.fixture(scope="module")
def jax_run(tmp_path_factory):
    """Run every model on Keras' JAX backend (CPU) in a subprocess; ``(report, arrays,
    folder)``. Skipped where JAX or Keras is not installed."""
    if not _have("jax", "keras"):
        pytest.skip('the JAX backend tests need keras and jax: pip install "keras>=3.11" jax')
    out = tmp_path_factory.mktemp("jax")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    done = subprocess.run(
        [sys.executable, "-c", _JAX_SCRIPT, str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    with open(out / "report.json") as f:
        report = json.load(f)
    return report, dict(np.load(out / "arrays.npz")), out


@pytest.mark.slow
def test_jax_backend_fits_every_model(jax_run, small_split, model_cls):
    report, arrays, _ = jax_run
    train, test = small_split
    assert report["keras_backend"] == "jax"
    seen = report["models"][model_cls.__name__]
    assert seen["backend_"] == "jax" and seen["jit_compile_"] is True
    assert 1 <= seen["best_epoch_"] <= seen["n_epochs_"] < model_cls.fast_max_epochs
    assert len(seen["loss"]) == len(seen["val_mse"]) == seen["n_epochs_"]
    assert seen["loss"][-1] < seen["loss"][0]
    # What early stopping promises: an epoch counts as better only when its validation MSE is
    # more than min_delta below the best so far, so the kept epoch is below every epoch
    # before it, no later epoch is more than min_delta below it (a later one may be a little
    # lower: measured 0.930494 against the kept 0.930524), and training stopped after
    # `patience` epochs in a row without a better one (it did not reach max_epochs).
    val, best, min_delta = seen["val_mse"], seen["best_epoch_"], model_cls._min_delta
    assert all(val[best - 1] < earlier for earlier in val[: best - 1])
    assert all(later >= val[best - 1] - min_delta for later in val[best:])
    assert seen["n_epochs_"] - best == model_cls().patience
    rmse = seen["rmse"]
    assert np.isfinite(rmse)
    assert rmse == pytest.approx(fastrec.rmse(arrays[f"{model_cls.__name__}_pred"], test.ratings))
    mean_rmse = fastrec.rmse(np.full(len(test), train.ratings.mean()), test.ratings)
    assert rmse < mean_rmse
    if _have("tensorflow"):
        # The same schedule on TensorFlow (this process' backend): measured 0.9752 / 0.9107 /
        # 0.9621 on JAX and 0.9752 / 0.9075 / 0.9610 on TensorFlow.
        tf_rmse = fastrec.rmse(model_cls().fit(train).predict(test), test.ratings)
        assert abs(rmse - tf_rmse) < 0.02, (rmse, tf_rmse)
    else:
        bias_rmse = fastrec.rmse(fastrec.Bias().fit(train).predict(test), test.ratings)
        assert rmse < bias_rmse + 0.03


@pytest.mark.slow
def test_jax_backend_numpy_predictions_are_the_networks_outputs(jax_run, model_cls):
    report, arrays, _ = jax_run
    name = model_cls.__name__
    pred, keras_out = arrays[f"{name}_trained_pred"], arrays[f"{name}_keras_out"]
    assert len(pred) > 10_000
    lo, hi = report["models"][name]["rating_range_"]
    np.testing.assert_allclose(pred, np.clip(keras_out, lo, hi), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_jax_backend_same_seed_same_predictions_on_the_cpu(jax_run, model_cls):
    _, arrays, _ = jax_run
    name = model_cls.__name__
    np.testing.assert_array_equal(arrays[f"{name}_tiny_a"], arrays[f"{name}_tiny_b"])
    assert not np.array_equal(arrays[f"{name}_tiny_a"], arrays[f"{name}_tiny_seed1"])


@pytest.mark.slow
# Loading the JAX-compiled network on TensorFlow under op determinism: Keras warns that it
# compiles it without XLA there (the network is the same).
@pytest.mark.filterwarnings("ignore:Model doesn't support `jit_compile=True`")
def test_jax_backend_save_load_round_trip(jax_run, small_split, model_cls):
    report, arrays, folder = jax_run
    name = model_cls.__name__
    seen = report["models"][name]
    assert seen["loaded_class"] == name and seen["loaded_backend_"] == "jax"
    np.testing.assert_array_equal(arrays[f"{name}_loaded_pred"], arrays[f"{name}_pred"])
    np.testing.assert_array_equal(arrays[f"{name}_loaded_net"], arrays[f"{name}_net"])
    if _have("tensorflow"):
        # The .fastrec file written on JAX loads on TensorFlow (this process): the same
        # predictions (numpy weights) and the same network outputs to float32 rounding.
        _, test = small_split
        loaded = fastrec.load_model(folder / f"{name}.fastrec")
        np.testing.assert_array_equal(loaded.predict(test), arrays[f"{name}_pred"])
        pairs = [test.user_codes[:50], test.item_codes[:50]]
        np.testing.assert_allclose(
            np.asarray(loaded.keras_model_(pairs, training=False)),
            arrays[f"{name}_net"],
            rtol=1e-5,
            atol=1e-5,
        )


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_missing_backend_package_says_what_to_install(monkeypatch, backend):
    monkeypatch.setattr(keras_setup, "keras_backend", lambda: backend)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a, **kw: None if name == backend else real(name, *a, **kw),
    )
    for cls in KERAS_MODELS:
        note = cls.missing_dependency()
        assert f"KERAS_BACKEND={backend}" in note and f"pip install {backend}" in note, note
        assert "keras" not in note.split("pip install", 1)[1]  # keras is there: only the backend
        with pytest.raises(ImportError, match=f"pip install {backend}"):
            cls()


def test_missing_keras_on_the_jax_backend(monkeypatch):
    monkeypatch.setattr(keras_setup, "keras_backend", lambda: "jax")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a, **kw: None if name in ("keras", "jax") else real(name, *a, **kw),
    )
    note = DotProduct.missing_dependency()
    assert note.endswith('pip install "keras>=3.11" jax'), note


@pytest.mark.parametrize("backend", ["numpy", "openvino"])
def test_backends_that_cannot_train_are_refused(monkeypatch, backend):
    monkeypatch.setattr(keras_setup, "keras_backend", lambda: backend)
    note = DotProduct.missing_dependency()
    assert repr(backend) in note and "KERAS_BACKEND" in note
    with pytest.raises(ImportError, match="TensorFlow, JAX or PyTorch backend"):
        NeuralNet()


def test_the_backend_comes_from_the_environment_until_keras_is_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", None)
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert keras_setup.keras_backend() == "tensorflow"
    monkeypatch.setenv("KERAS_BACKEND", "")
    assert keras_setup.keras_backend() == "tensorflow"
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert keras_setup.keras_backend() == "jax"


def test_the_running_keras_backend_wins(tf, tiny, monkeypatch):
    DotProduct(max_epochs=1).fit(tiny[0])  # Keras is imported: its backend is fixed
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert keras_setup.keras_backend() == "tensorflow"
    assert DotProduct(max_epochs=1).fit(tiny[0]).backend_ == "tensorflow"


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_choosing_another_backend_imports_nothing(backend):
    code = (
        "import sys, fastrec, fastrec.models.keras as km; "
        "km.DotProduct.missing_dependency(); km.keras_backend(); "
        "assert not any(m.split('.')[0] in ('tensorflow', 'keras', 'jax', 'torch') "
        "for m in sys.modules), sorted(sys.modules)"
    )
    env = {**os.environ, "KERAS_BACKEND": backend}
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, env=env)
