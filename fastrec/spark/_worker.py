"""What runs in Spark's Python workers: Numba's set-up, and fitted models read from memory-mapped
``.npy`` files.

A fitted :class:`fastrec.spark` model is a directory (:class:`ModelFiles`): ``meta.json``
(the model's class, parameters and scalar state) and one ``.npy`` file per array (id maps,
training counts, biases, factors). Each worker process memory-maps the arrays the first time
a task needs them and keeps the assembled single-machine model for later tasks, so the model
is never shuffled or sent with a task: a block of rows is scored by the single-machine
model's own kernels (``_predict_codes``, the top-n engine), the numbers one machine gives.
The directory must be readable by every executor (local mode: any local folder; a cluster: a
shared file system mounted on every node, e.g. ``/dbfs/...`` on Databricks).
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = ["ModelFiles", "prepare_worker"]

_PREPARED = False
#: Assembled models of this process, by (directory, meta.json's modification time).
_MODELS: dict = {}


def prepare_worker() -> None:
    """Set Numba up once per Python worker process.

    - Threads: as many as the task's cores (``spark.task.cpus``, from the task context), at
      most Numba's maximum; without a task context (the driver), unchanged.
    - Threading layer: ``NUMBA_THREADING_LAYER=forksafe`` unless the user chose one (Spark
      forks Python workers from a daemon; GNU OpenMP is not fork-safe, TBB and Numba's own
      work queue are). Set before the first parallel kernel runs in this process.
    - The kernel cache: see :mod:`fastrec._numba_env` (a read-only install compiles into a
      local temporary folder, once per machine).
    """
    global _PREPARED
    if _PREPARED:
        return
    if not os.environ.get("NUMBA_THREADING_LAYER"):
        import numba

        numba.config.THREADING_LAYER = "forksafe"
    _PREPARED = True
    set_task_threads()


def set_task_threads() -> int:
    """Numba threads = this task's cores (``TaskContext.cpus()``); returns the number set."""
    import numba

    try:
        from pyspark import TaskContext

        context = TaskContext.get()
        cpus = int(context.cpus()) if context is not None else 0
    except Exception:  # an old or remote context without cpus(): keep Numba's setting
        cpus = 0
    if cpus > 0:
        numba.set_num_threads(max(1, min(cpus, numba.config.NUMBA_NUM_THREADS)))
    return numba.get_num_threads()


class ModelFiles:
    """A fitted model's directory: ``meta.json`` and one ``.npy`` file per array.

    Parameters
    ----------
    root : path of the directory (created by :meth:`write_array` / :meth:`write_meta`)
    """

    def __init__(self, root):
        self.root = Path(root)

    def write_array(self, name: str, value: np.ndarray) -> None:
        """Write ``<name>.npy``; strings as fixed-width unicode, which memory-maps."""
        value = np.asarray(value)
        if value.dtype == object:
            value = value.astype(str)
        self.root.mkdir(parents=True, exist_ok=True)
        np.save(self.root / f"{name}.npy", np.ascontiguousarray(value), allow_pickle=False)

    def array(self, name: str) -> np.ndarray:
        """``<name>.npy``, memory-mapped read-only."""
        return np.load(self.root / f"{name}.npy", mmap_mode="r", allow_pickle=False)

    def write_meta(self, meta: dict) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / "meta.json.tmp"
        tmp.write_text(json.dumps(meta, indent=1, sort_keys=True))
        os.replace(tmp, self.root / "meta.json")  # the last file written: marks it complete

    def meta(self) -> dict:
        path = self.root / "meta.json"
        if not path.exists():
            raise FileNotFoundError(
                f"{self.root.name}: no meta.json, not a fitted fastrec.spark model"
            )
        return json.loads(path.read_text())

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.npy"))

    def local_model(self):
        """The single-machine model of these files, cached per process (the arrays are
        memory-mapped; ``seen_*`` hold no items: :meth:`with_seen` adds a block's)."""
        stamp = (self.root / "meta.json").stat().st_mtime_ns
        key = (str(self.root), stamp)
        model = _MODELS.get(key)
        if model is None:
            model = assemble_local(self, self.meta(), with_seen=None)
            _MODELS.clear()  # one model per process at a time: the newest
            _MODELS[key] = model
        return model


def _index(values: np.ndarray, name: str) -> pd.Index:
    if values.dtype.kind == "U":
        return pd.Index(values.astype(object), name=name)
    return pd.Index(np.asarray(values), name=name)


def assemble_local(files: ModelFiles, meta: dict, with_seen):
    """Build the single-machine model from ``files``.

    ``with_seen``: ``None`` (no seen items: ``seen_indptr_`` all zeros) or a pair
    ``(indptr, items)`` of the training pattern (``to_local``).
    """
    from .. import models

    cls = getattr(models, meta["local_class"])
    model = cls(**meta["local_params"])
    _set_base(model, files, meta, with_seen)
    for name, value in meta["state_json"].items():
        setattr(model, name, value)
    for name in meta["state_arrays"]:
        setattr(model, name, files.array(f"state.{name}"))
    for name, shape in meta.get("state_sparse", {}).items():
        parts = (files.array(f"state.{name}.{p}") for p in ("data", "indices", "indptr"))
        setattr(model, name, sp.csr_array(tuple(parts), shape=tuple(shape)))
    fb = meta.get("fallback")
    if fb is None:
        model.fallback_ = None
    else:
        fallback = getattr(models, fb["class"])(**fb["params"])
        _set_base(fallback, files, meta, with_seen)
        fallback.fallback_ = None
        for name in fb["arrays"]:
            setattr(fallback, name, files.array(f"fallback.{name}"))
        fallback._rebuild()
        model.fallback_ = fallback
    model._rebuild()
    return model


def _set_base(model, files: ModelFiles, meta: dict, with_seen) -> None:
    model.user_index_ = _index(files.array("user_ids"), meta["columns"]["user"])
    model.item_index_ = _index(files.array("item_ids"), meta["columns"]["item"])
    model.user_n_train_ = files.array("user_n_train")
    model.item_n_train_ = files.array("item_n_train")
    model.global_mean_ = float(meta["global_mean"])
    model.rating_range_ = tuple(float(b) for b in meta["rating_range"])
    if with_seen is None:
        model.seen_indptr_ = np.zeros(len(model.user_index_) + 1, dtype=np.int64)
        model.seen_items_ = np.zeros(0, dtype=np.int32)
    else:
        model.seen_indptr_, model.seen_items_ = with_seen


def with_seen(model, indptr: np.ndarray, items: np.ndarray):
    """A shallow copy of ``model`` whose ``seen_*`` are the given training pattern (one block
    of users' items); the fitted arrays are shared."""
    view = copy.copy(model)
    view.seen_indptr_, view.seen_items_ = indptr, items
    return view
