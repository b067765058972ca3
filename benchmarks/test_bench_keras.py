"""The post's own Keras schedule on the post's split (ml-latest-small 2016, seed 7); opt-in.

``test_post_schedule`` fits each Keras model with ``schedule="post"`` (batch 64, the post's
epochs and learning rates), one round per model (about 65 s, 155 s and 44 s on two cores);
it runs only with ``FASTREC_BENCH_KERAS_POST=1``. The default fast schedule of the three
models is timed with every other model in ``benchmarks/test_bench_models.py``; compare the
two to see the speed-up (issue 5's target: at least 5x).

Each round builds and fits a new model (Keras traces its train step per model, so that is
part of the fit); TensorFlow is imported and a tiny model fitted before timing.
``extra_info`` holds ``rmse``, ``n_train``, ``n_test``, the epochs run and kept, the batch.

    flock .heavy-run.lock env FASTREC_BENCH_KERAS_POST=1 FASTREC_DATA=../shared/data \\
        .venv/bin/python -m pytest benchmarks/test_bench_keras.py
"""

import os

import numba
import numpy as np
import pytest

import fastrec

pytestmark = pytest.mark.skipif(
    os.environ.get("FASTREC_BENCH_KERAS_POST") != "1",
    reason="the post's schedule takes about 4.5 minutes for the three models; "
    "set FASTREC_BENCH_KERAS_POST=1 to run it",
)

keras_models = pytest.importorskip("fastrec.models.keras")
pytest.importorskip("tensorflow")

MODELS = [keras_models.DotProduct, keras_models.DotProductBias, keras_models.NeuralNet]
POST_RMSE = {"DotProduct": 1.210019, "DotProductBias": 0.908557, "NeuralNet": 0.890825}


@pytest.fixture(scope="module")
def post_split(data_dir):
    ratings = fastrec.load_ratings(data_dir / "ml-latest-small-2016" / "ratings.csv")
    train, test = fastrec.train_test_split(ratings, test_size=0.2, seed=7)
    tiny = fastrec.train_test_split(train.subset(np.arange(2000)), seed=1)[0]
    for cls in MODELS:  # import TensorFlow, warm up Keras, Numba (Bias) and the caches
        cls(max_epochs=1).fit(tiny).predict(test)
    return train, test


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_post_schedule(benchmark, post_split, cls):
    train, test = post_split

    def fit_predict():
        model = cls(schedule="post").fit(train)
        return model, model.predict_with_fallback(test)

    model, (pred, fell_back) = benchmark.pedantic(fit_predict, rounds=1, iterations=1)
    rmse = fastrec.rmse(pred, test.ratings)
    benchmark.extra_info.update(
        rmse=rmse,
        post_rmse=POST_RMSE[cls.__name__],
        n_train=len(train),
        n_test=len(test),
        n_epochs=model.n_epochs_,
        best_epoch=model.best_epoch_,
        batch_size=model.batch_size_,
        coverage=1 - float(fell_back.mean()),
        threads=numba.get_num_threads(),
        fastrec_version=fastrec.__version__,
    )
    assert np.isfinite(rmse)
