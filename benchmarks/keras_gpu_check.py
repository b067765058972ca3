"""Check that the post's three Keras models train on a GPU, and time them there.

Needs fastrec, numpy, Keras 3 on one backend (no TensorFlow on JAX or PyTorch) and
benchmarks/_common.py beside it. It prints the Keras backend, the versions and the devices
the backend sees (without a GPU it exits 1, unless ``--allow-cpu``), then for ``DotProduct``,
``DotProductBias`` and ``NeuralNet``, each with its default fast schedule, on
``fastrec.datasets.synthetic("ml-1m", seed=0)`` split by
``fastrec.train_test_split(ratings, test_size=0.2, seed=7)``: the device holding the
network's weights, the epochs run (and the one kept), the fit seconds (the first epoch
includes compiling the train step), the test RMSE beside :class:`fastrec.Bias`', and, unless
``--no-repeat``, whether a second fit with the same seed gives the same predictions (what
determinism holds on that device). ``--shape ml-25m`` then trains each model for one epoch
(``--large-epochs``) on that synthetic shape. The results go to ``--out`` as JSON.

On the GPU box (wheels of keras, namex and optree carried in ``.whl``; fastrec from the
working tree)::

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \\
        --target .gpu-site .whl/*.whl && export PYTHONPATH=$PWD/.gpu-site:$PWD
    KERAS_BACKEND=jax python3 benchmarks/keras_gpu_check.py --out $OUT/gpu.json

Here, on the CPU (any backend; the default is fastrec's, TensorFlow)::

    KERAS_BACKEND=jax .venv/bin/python benchmarks/keras_gpu_check.py --allow-cpu --out x.json

``--xla-deterministic`` (JAX) adds ``--xla_gpu_deterministic_ops=true`` to ``XLA_FLAGS``
before JAX starts, to see whether the repeated fit then agrees on the GPU.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("PYTHONUNBUFFERED", "1")

import numpy as np  # noqa: E402
from _common import keras_model_classes, peak_gib, synthetic_split  # noqa: E402

import fastrec  # noqa: E402
from fastrec.models.keras import backend as keras_setup  # noqa: E402

MODELS = keras_model_classes()


def say(line: str = "") -> None:
    print(line, flush=True)


def versions(backend: str) -> dict:
    import importlib.metadata as md

    found = {"python": platform.python_version()}
    for name in ("numpy", "numba", "keras", backend, "jaxlib" if backend == "jax" else None):
        if name is None:
            continue
        try:
            found[name] = md.version(name)
        except md.PackageNotFoundError:  # e.g. TensorFlow installed as tensorflow-cpu
            found[name] = getattr(sys.modules.get(name), "__version__", None)
    found["fastrec"] = getattr(fastrec, "__version__", None)
    return found


def devices(backend: str) -> tuple[list[str], bool]:
    """The devices the backend sees, and whether one of them is a GPU."""
    if backend == "jax":
        import jax

        seen = [
            f"{d.platform}:{d.id} {getattr(d, 'device_kind', '')}".strip() for d in jax.devices()
        ]
        return seen, any(d.platform == "gpu" for d in jax.devices())
    if backend == "tensorflow":
        import tensorflow as tf

        seen = [f"{d.device_type}:{d.name}" for d in tf.config.list_logical_devices()]
        return seen, bool(tf.config.list_logical_devices("GPU"))
    if backend == "torch":
        import torch

        seen = ["cpu"]
        if torch.cuda.is_available():
            seen += [
                f"cuda:{i} {torch.cuda.get_device_name(i)}"
                for i in range(torch.cuda.device_count())
            ]
        return seen, torch.cuda.is_available()
    return [], False


def device_of(network) -> str:
    """Where the network's first weight lives (JAX array, tf.Variable or torch tensor)."""
    value = network.weights[0].value
    placed = getattr(value, "devices", None)
    if callable(placed):  # a JAX array
        return ",".join(sorted(str(d) for d in placed()))
    where = str(getattr(value, "device", "?"))
    return where.rsplit("/device:", 1)[-1]  # TensorFlow: "/job:.../device:GPU:0"


def gpu_peak_bytes(backend: str) -> int | None:
    """The backend's peak GPU memory in use, where it tells (None otherwise)."""
    try:
        if backend == "jax":
            import jax

            gpus = [d for d in jax.devices() if d.platform == "gpu"]
            return int(gpus[0].memory_stats()["peak_bytes_in_use"]) if gpus else None
        if backend == "torch":
            import torch

            return int(torch.cuda.max_memory_allocated()) if torch.cuda.is_available() else None
        if backend == "tensorflow":
            import tensorflow as tf

            if tf.config.list_logical_devices("GPU"):
                return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
    except Exception:  # best effort: an unknown stat is not a failed check
        return None
    return None


def fit_one(cls, train, test, verbose: bool, **params) -> tuple[dict, np.ndarray]:
    t0 = time.perf_counter()
    model = cls(show_progress=verbose, **params).fit(train)
    fit_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    pred, fell_back = model.predict_with_fallback(test)
    predict_s = time.perf_counter() - t1
    seconds = model.history_["seconds"]
    row = {
        "model": cls.__name__,
        "backend": model.backend_,
        "device": device_of(model.keras_model_),
        "jit_compile": model.jit_compile_,
        "batch_size": model.batch_size_,
        "epochs": model.n_epochs_,
        "best_epoch": model.best_epoch_,
        "fit_s": round(fit_s, 3),
        "first_epoch_s": round(seconds[0], 3),
        "later_epoch_s": round(float(np.median(seconds[1:])), 3) if len(seconds) > 1 else None,
        "predict_s": round(predict_s, 3),
        "rmse": round(fastrec.rmse(pred, test.ratings), 6),
        "coverage": round(1 - float(fell_back.mean()), 6),
    }
    return row, pred


def split(shape: str):
    t0 = time.perf_counter()
    train, test = synthetic_split(shape)
    return train, test, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="write the results here as JSON")
    parser.add_argument("--allow-cpu", action="store_true", help="run without a GPU too")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    parser.add_argument("--no-repeat", action="store_true", help="skip the second ml-1m fit")
    parser.add_argument(
        "--shape", help="also train on this synthetic shape (e.g. ml-25m), --large-epochs each"
    )
    parser.add_argument("--large-epochs", type=int, default=1)
    parser.add_argument("--max-epochs", type=int, default=None, help="cap for the ml-1m fits")
    parser.add_argument("--xla-deterministic", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="one line per epoch")
    args = parser.parse_args(argv)
    if args.verbose:  # the models' per-epoch lines are logged at INFO (show_progress)
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    if args.xla_deterministic:
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = f"{flags} --xla_gpu_deterministic_ops=true".strip()
    t0 = time.perf_counter()
    missing = keras_setup.missing_dependency()
    if missing is not None:
        say(f"cannot run: {missing}")
        return 1
    keras = keras_setup.keras_module()
    backend = keras.backend.backend()
    result: dict = {
        "backend": backend,
        "versions": versions(backend),
        "xla_flags": os.environ.get("XLA_FLAGS"),
        "cpu_count": os.cpu_count(),
    }
    seen, has_gpu = devices(backend)
    result["devices"], result["gpu"] = seen, has_gpu
    result["import_s"] = round(time.perf_counter() - t0, 2)
    say(f"backend: {backend}  versions: {result['versions']}")
    say(f"devices: {seen}")

    def finish(code: int) -> int:
        result["peak_rss_gib"] = round(peak_gib(), 3)
        result["gpu_peak_bytes"] = gpu_peak_bytes(backend)
        result["total_s"] = round(time.perf_counter() - t0, 2)
        if args.out:
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            with open(args.out, "w") as f:
                json.dump(result, f, indent=1)
            say(f"wrote {args.out}")
        return code

    if not has_gpu and not args.allow_cpu:
        result["error"] = "no GPU seen by the backend"
        say(f"FAIL: {backend} sees no GPU ({seen}); pass --allow-cpu to run on the CPU")
        return finish(1)

    train, test, data_s = split("ml-1m")
    bias = fastrec.Bias().fit(train)
    result["ml-1m"] = {
        "n_train": len(train),
        "n_test": len(test),
        "data_s": round(data_s, 2),
        "bias_rmse": round(fastrec.rmse(bias.predict(test), test.ratings), 6),
        "models": [],
    }
    say(
        f"ml-1m: {len(train):,} train / {len(test):,} test, Bias RMSE "
        f"{result['ml-1m']['bias_rmse']:.4f}"
    )
    say(
        f"{'model':15} {'device':28} {'epochs':>7} {'fit s':>7} {'1st ep':>7} {'ep s':>6} "
        f"{'RMSE':>8}  same seed, same predictions"
    )
    for name in args.models:
        row, pred = fit_one(MODELS[name], train, test, args.verbose, max_epochs=args.max_epochs)
        if not args.no_repeat:
            again, pred2 = fit_one(MODELS[name], train, test, False, max_epochs=args.max_epochs)
            row["repeat_fit_s"] = again["fit_s"]
            row["repeat_same_predictions"] = bool(np.array_equal(pred, pred2))
            row["repeat_max_abs_diff"] = float(np.max(np.abs(pred - pred2)))
        result["ml-1m"]["models"].append(row)
        same = (
            "-"
            if args.no_repeat
            else f"{row['repeat_same_predictions']} (max diff {row['repeat_max_abs_diff']:.2g})"
        )
        say(
            f"{name:15} {row['device'][:28]:28} {row['epochs']:>4}/{row['best_epoch']:<2} "
            f"{row['fit_s']:7.2f} {row['first_epoch_s']:7.2f} {row['later_epoch_s'] or 0:6.3f} "
            f"{row['rmse']:8.4f}  {same}"
        )

    if args.shape:
        train = test = None
        train, test, data_s = split(args.shape)
        result[args.shape] = {
            "n_train": len(train),
            "n_test": len(test),
            "data_s": round(data_s, 2),
            "epochs": args.large_epochs,
            "models": [],
        }
        say(
            f"{args.shape}: {len(train):,} train / {len(test):,} test ({data_s:.1f}s to make), "
            f"{args.large_epochs} epoch(s) each"
        )
        for name in args.models:
            row, _ = fit_one(MODELS[name], train, test, args.verbose, max_epochs=args.large_epochs)
            result[args.shape]["models"].append(row)
            say(
                f"{name:15} {row['device'][:28]:28} batch {row['batch_size']:,} "
                f"fit {row['fit_s']:.2f}s (epoch 1: {row['first_epoch_s']:.2f}s) "
                f"predict {row['predict_s']:.2f}s RMSE {row['rmse']:.4f}"
            )
    return finish(0)


if __name__ == "__main__":
    sys.exit(main())
