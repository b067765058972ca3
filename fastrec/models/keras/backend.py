"""Keras for fastrec's models: which backend, importing Keras (lazily, quietly), seeding and
determinism, and the choice to XLA-compile the train step.

Nothing here imports Keras, TensorFlow, JAX or PyTorch at import time: :func:`keras_backend`
and :func:`missing_dependency` look for them without importing them, and
:func:`import_keras` imports them when a model first trains (or loads a saved network).

Backends: TensorFlow is the default: :func:`import_keras` sets ``KERAS_BACKEND=tensorflow``
unless ``KERAS_BACKEND`` is already set. ``KERAS_BACKEND=jax`` (needs ``keras`` and ``jax``;
``jax[cuda13]`` for a GPU) or ``KERAS_BACKEND=torch`` (``keras`` and ``torch``), set before
Keras is first imported in the process, trains on that backend instead. Keras' other
backends (``numpy``, ``openvino``) cannot train and are refused.

Determinism (:func:`seeded`): ``keras.utils.set_random_seed(seed)`` seeds Python, numpy,
the backend and Keras (initial weights, dropout, shuffling; where TensorFlow is installed
Keras imports it for its seed even on another backend); Python's and numpy's global random
states are put back afterwards. With ``deterministic=True``:

- TensorFlow: ``tf.config.experimental.enable_op_determinism()``, so the same seed gives
  the same predictions on the CPU (tested) and, as TensorFlow documents it, on a GPU (not
  checked here: no TensorFlow build with CUDA was at hand). It is a process-wide switch and
  stays on (TensorFlow cannot turn it off). On a GPU it selects slower deterministic kernels
  for the embedding gradients: pass ``deterministic=False`` there for speed. Under it Keras
  XLA-compiles nothing (see :func:`resolve_jit`).
- JAX: no switch to turn on. On the CPU the same seed gives the same predictions (tested;
  XLA's CPU kernels are deterministic). On a GPU XLA may sum the embedding gradients
  (scatter-adds) with atomics, so two fits are not promised to agree to the last bit;
  ``XLA_FLAGS=--xla_gpu_deterministic_ops=true`` set before JAX starts asks XLA for
  deterministic kernels (a process-wide choice left to the user; fastrec sets no XLA flag).
  ``benchmarks/keras_gpu_check.py`` fits each model twice on the GPU and reports whether
  the predictions agree.
- PyTorch: ``torch.use_deterministic_algorithms(True, warn_only=True)`` (process-wide, left
  on); on the CPU these models' ops are deterministic. On a GPU, cuBLAS is deterministic
  only with ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` set before CUDA starts (otherwise PyTorch
  warns).

``deterministic=False`` turns no switch on, on any backend; the seeding stays. The code pins
no device: on a machine with a GPU, the backend places the network on it.
"""

from __future__ import annotations

import importlib.util
import os
import random
import sys
from contextlib import contextmanager

import numpy as np

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "INSTALL_NOTE",
    "import_keras",
    "keras_backend",
    "keras_module",
    "missing_dependency",
    "resolve_jit",
    "seeded",
]

#: What to install for the Keras models on the default backend, TensorFlow.
INSTALL_NOTE = 'TensorFlow is not installed; install the Keras extra: pip install "fastrec[keras]"'

#: The Keras backends the models train on, each with the package it needs besides Keras.
BACKENDS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
#: The backend used when ``KERAS_BACKEND`` is not set before Keras is imported.
DEFAULT_BACKEND = "tensorflow"
# What pip installs for each missing package.
_PIP_NAMES = {"keras": '"keras>=3.11"', "tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}

#: On a CPU, ``jit_compile="auto"`` XLA-compiles the train step of a model that allows it
#: (``cpu_jit``) from this many embedding weights on.
CPU_JIT_MIN_WEIGHTS = 1 << 22


def keras_backend() -> str:
    """The Keras backend the models will use, found without importing Keras: the running
    Keras' own when it is imported already, else ``KERAS_BACKEND``, else ``"tensorflow"``
    (set as ``KERAS_BACKEND`` when fastrec imports Keras, so that a ``keras.json`` naming
    another backend does not apply)."""
    keras = sys.modules.get("keras")
    if keras is not None:
        try:
            return keras.backend.backend()
        except AttributeError:  # a partly imported or stubbed Keras
            pass
    return os.environ.get("KERAS_BACKEND") or DEFAULT_BACKEND


def missing_dependency() -> str | None:
    """``None`` when Keras and the package of its backend (:func:`keras_backend`) can be
    imported, checked without importing them; else what to install (or, for a backend the
    models do not train on, what to set)."""
    backend = keras_backend()
    if backend not in BACKENDS:
        return _backend_note(backend)
    missing = [name for name in ("keras", BACKENDS[backend]) if not _findable(name)]
    if not missing:
        return None
    if backend == DEFAULT_BACKEND:
        if "tensorflow" in missing:
            return INSTALL_NOTE
        return 'Keras 3 is not installed; install the Keras extra: pip install "fastrec[keras]"'
    return (
        f"Keras' {backend} backend (KERAS_BACKEND={backend}) needs "
        f"{' and '.join(missing)}, not installed: "
        f"pip install {' '.join(_PIP_NAMES[name] for name in missing)}"
    )


def import_keras():
    """Import Keras 3 (quietly) on its chosen backend, and TensorFlow where that backend is
    TensorFlow: ``(tf or None, keras)``. ``ImportError`` with the install line when a
    package is missing or the backend is not one the models train on."""
    missing = missing_dependency()
    if missing is not None:
        raise ImportError(missing)
    # TensorFlow's C++ log, read when it is first imported; the caller's own setting wins.
    # Level 3 (errors hidden too): TF 2.21's tf.data logs a spurious "NodeDef mentions
    # attribute use_unbounded_threadpool" ERROR on every process's first fit, and a real
    # failure raises a Python exception anyway.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "keras" not in sys.modules and not os.environ.get("KERAS_BACKEND"):
        os.environ["KERAS_BACKEND"] = DEFAULT_BACKEND
    import keras

    backend = keras.backend.backend()
    if backend not in BACKENDS:
        raise ImportError(_backend_note(backend))
    if backend != "tensorflow":
        return None, keras
    import tensorflow as tf

    return tf, keras


def keras_module():
    """The ``keras`` module, imported and set up as :func:`import_keras` does."""
    return import_keras()[1]


def _backend_note(backend: str) -> str:
    return (
        "fastrec's Keras models train on Keras' TensorFlow, JAX or PyTorch backend "
        f"(KERAS_BACKEND={', '.join(BACKENDS)}), not on {backend!r}; set KERAS_BACKEND "
        "before Keras is first imported"
    )


def _findable(name: str) -> bool:
    """Whether the top-level package ``name`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@contextmanager
def seeded(keras, seed: int, deterministic: bool):
    """Seed Python, numpy, the backend and Keras (and, with ``deterministic``, turn on the
    backend's deterministic ops: TensorFlow's op determinism, PyTorch's deterministic
    algorithms; JAX has no such switch); restore Python's and numpy's state after."""
    # keras.utils.set_random_seed reseeds the legacy global numpy generator: put it back.
    py_state, np_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    try:
        keras.utils.set_random_seed(seed)
        if deterministic:
            backend = keras.backend.backend()
            if backend == "tensorflow":
                import tensorflow as tf

                tf.config.experimental.enable_op_determinism()
            elif backend == "torch":
                import torch

                # warn_only: an op without a deterministic kernel warns instead of failing
                # (cuBLAS wants CUBLAS_WORKSPACE_CONFIG=:4096:8 set before CUDA starts).
                torch.use_deterministic_algorithms(True, warn_only=True)
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)  # noqa: NPY002


def resolve_jit(tf, jit_compile: bool | str, cpu_jit: bool, n_weights: int) -> bool | str:
    """The ``jit_compile`` to compile the train step with (see the models' ``jit_compile``
    parameter). ``tf`` is None on the JAX and PyTorch backends, where the value is passed to
    Keras as it is (``"auto"``: compiled on JAX, eager on PyTorch).

    TensorFlow: Keras compiles nothing with XLA while op determinism is on (it would warn
    and run without), so then ``"auto"`` is ``False`` and ``True`` raises ``ValueError``;
    otherwise ``"auto"`` is Keras' choice on a GPU, and on a CPU XLA only for a model that
    allows it (``cpu_jit``) with ``n_weights >= CPU_JIT_MIN_WEIGHTS``: XLA fuses the dense
    Adam update of large tables; on small ones its compile time outweighs the gain.
    """
    if tf is None:
        return jit_compile
    from tensorflow.python.framework.config import is_op_determinism_enabled

    if is_op_determinism_enabled():
        if jit_compile is True:
            raise ValueError(
                "jit_compile=True cannot take effect: TensorFlow's op determinism is on "
                "in this process (deterministic=True, in this fit or an earlier one) and "
                "Keras runs no XLA under it; use deterministic=False in a fresh process"
            )
        return False
    if jit_compile != "auto":
        return bool(jit_compile)
    if tf.config.list_logical_devices("GPU"):
        return "auto"
    return cpu_jit and n_weights >= CPU_JIT_MIN_WEIGHTS
