"""The Keras models at MovieLens-25M scale: one model per run, on the synthetic ml-25m shape.

Synthetic ``fastrec.datasets.synthetic("ml-25m", seed=0)`` (25,000,095 ratings, 162,541
users, 59,047 items), the 80/20 split of :func:`fastrec.train_test_split` (seed 7: 20.0M
training ratings), then ``Model(schedule="fast", max_epochs=N).fit(train)`` with the
per-epoch line on, and the test RMSE. Prints one JSON line: seconds per epoch (the first
includes tracing the train step), the validation MSE per epoch, the epoch whose weights
were kept, fit and predict seconds, the test RMSE and the process's peak resident memory.

Run each model on its own, under the heavy-run lock (the machine is shared)::

    flock .heavy-run.lock .venv/bin/python benchmarks/keras_scale.py DotProduct --epochs 1
    flock .heavy-run.lock .venv/bin/python benchmarks/keras_scale.py NeuralNet --epochs 4

``--epochs 1`` is the issue's one-epoch run (target: under 5 minutes on two CPU cores,
peak memory under 6 GB); a larger cap shows how many epochs reach the best validation loss
(if the kept epoch is the last one, the cap was too small to tell).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import keras_model_classes, peak_gib, synthetic_split  # noqa: E402

import fastrec  # noqa: E402

MODELS = keras_model_classes()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=sorted(MODELS))
    parser.add_argument("--epochs", type=int, default=1, help="max_epochs of the fast schedule")
    parser.add_argument("--shape", default="ml-25m", help="synthetic shape (default ml-25m)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("fastrec.datasets").setLevel(logging.WARNING)

    t0 = time.perf_counter()
    train, test = synthetic_split(args.shape)
    t1 = time.perf_counter()
    import tensorflow as tf  # noqa: F401  (import time is not fit time)

    t2 = time.perf_counter()
    model = MODELS[args.model](
        max_epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, show_progress=True
    )
    model.fit(train)
    t3 = time.perf_counter()
    pred, fell_back = model.predict_with_fallback(test)
    t4 = time.perf_counter()
    result = {
        "model": model.name,
        "shape": args.shape,
        "n_train": len(train),
        "n_test": len(test),
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "data_s": round(t1 - t0, 2),
        "fit_s": round(t3 - t2, 2),
        "epoch_s": [round(s, 2) for s in model.history_["seconds"]],
        "val_mse": [round(v, 5) for v in model.history_["val_mse"]],
        "best_epoch": model.best_epoch_,
        "n_epochs": model.n_epochs_,
        "predict_s": round(t4 - t3, 2),
        "rmse": round(fastrec.rmse(pred, test.ratings), 6),
        "coverage": round(1 - float(fell_back.mean()), 6),
        "peak_rss_gib": round(peak_gib(), 3),
    }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
