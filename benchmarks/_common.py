"""What the benchmark scripts share: peak memory, the post's split of a synthetic shape, the
warm-up that compiles the Numba kernels, and running one measurement in a child process.

The scripts (``scale.py``, ``knn_scale.py``, ``latent_scale.py``, ``recommend_scale.py``,
``load_scale.py``, ``keras_scale.py``, ``keras_gpu_check.py``) run as files, so this folder
is on ``sys.path`` and they ``import _common``. fastrec is imported inside the functions that
need it: a parent process that only starts children stays light.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from functools import cache

#: The line a child prints its result on: ``RESULT {json}``.
RESULT_PREFIX = "RESULT "

#: Where a failed child's stderr is cut before it is echoed.
STDERR_TAIL = 4000


def peak_gib() -> float:
    """The peak resident memory of this process so far, in GiB (``ru_maxrss``: KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def synthetic_split(shape: str, seed: int = 0):
    """``fastrec.datasets.synthetic(shape, seed)`` split as the post splits (80/20, seed 7):
    ``(train, test)``."""
    import fastrec

    ratings = fastrec.datasets.synthetic(shape, seed=seed)
    return fastrec.train_test_split(ratings, test_size=0.2, seed=7)


@cache
def _tiny_split():
    """200 users x 120 items, 12 ratings each, half stars (seed 0), split 80/20: small enough
    that no model's memory guard refuses it, large enough for every code path."""
    import numpy as np
    import pandas as pd

    import fastrec

    rng = np.random.default_rng(0)
    n_users, n_items, per_user = 200, 120, 12
    users = np.repeat(np.arange(n_users), per_user)
    items = np.concatenate([rng.choice(n_items, per_user, replace=False) for _ in range(n_users)])
    tiny = fastrec.Ratings(
        pd.Index(np.arange(n_users), name="userId"),
        pd.Index(np.arange(n_items), name="movieId"),
        users,
        items,
        rng.integers(1, 11, len(users)) / 2.0,
    )
    return fastrec.train_test_split(tiny)


def warm_up(model, *, recommend: bool = False) -> float:
    """Fit a clone of ``model`` (one epoch where it has ``max_epochs``) on a tiny random set
    and predict: compiles its Numba kernels, so that the timings that follow hold no
    compilation. ``recommend``: also ``recommend_all`` for 50 users and ``recommend`` for
    one. Returns the seconds it took."""
    t0 = time.perf_counter()
    train, test = _tiny_split()
    warm = model.clone()
    if "max_epochs" in warm.get_params():
        warm.set_params(max_epochs=1)
    warm.fit(train).predict(test)
    if recommend:
        warm.recommend_all(n=10, users=train.user_index[:50])
        warm.recommend(train.user_index[0])
    return time.perf_counter() - t0


def emit(result: dict) -> None:
    """Print a child's result where :func:`run_child` finds it."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def run_child(
    script: str, args: list[str], timeout: float | None = None
) -> tuple[dict | None, str, float]:
    """Run ``python script *args`` in a new process (its peak memory its own) and read the
    result it :func:`emit`-ted.

    Returns ``(result, error, seconds)``: ``result`` is None when the child failed, timed
    out or emitted nothing; then ``error`` says why in one line (the last line of its
    stderr), and the tail of its stderr is echoed to this process's stderr.
    """
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, script, *args], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s", time.perf_counter() - t0
    seconds = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stderr[-STDERR_TAIL:])
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        return None, tail[0], seconds
    return json.loads(lines[-1][len(RESULT_PREFIX) :]), "", seconds


def keras_model_classes() -> dict:
    """The post's three Keras models by class name (imports fastrec's Keras package, not
    Keras itself)."""
    from fastrec.models.keras import DotProduct, DotProductBias, NeuralNet

    return {cls.__name__: cls for cls in (DotProduct, DotProductBias, NeuralNet)}


def write_parquet(ratings, path) -> None:
    """``ratings`` (a :class:`fastrec.Ratings`) as a parquet file of MovieLens's columns
    (``userId``, ``movieId`` int64, ``rating`` float64), for Spark to read."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "userId": ratings.user_ids.astype(np.int64),
            "movieId": ratings.item_ids.astype(np.int64),
            "rating": ratings.ratings,
        }
    )
    pq.write_table(table, path, row_group_size=1 << 20)
