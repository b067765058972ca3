"""The benchmark suite: every model of ``fastrec.models.MODELS``, fit and predict timed apart.

- ``test_reference_workload``: a fixed numpy + Numba computation that does not depend on
  fastrec's code. Every other benchmark also times it just before and just after itself
  (``extra_info["reference_s"]``), and ``benchmarks/gate.py`` divides the benchmark's median
  by that, so that a run on a faster or slower machine (or a busier one) can still be
  compared with the committed baseline.
- ``test_model[<data>-<model>-fit]`` and ``[...-predict]``: every model of
  ``fastrec.models.MODELS`` (with its defaults) plus ``UserKNN(k=40)``, ``ItemKNN(k=40)`` and
  ``SVD(solver="randomized")`` (the forms that run at MovieLens-25M scale), on

  - ``ml-small``: ml-latest-small 2016 (``$FASTREC_DATA``), the post's split (80/20, seed 7);
  - ``ml-1m``: ``fastrec.datasets.synthetic("ml-1m", seed=0)``, the same split.

  ``fit`` times ``Model().fit(train)`` (a new model each round: 5 rounds on ml-small, 3 on
  ml-1m, or calibrated rounds for a fit under 0.1 s); ``predict`` times
  ``model.predict(test)`` on the model the fit benchmark left (calibrated rounds). Before
  timing, each model is fitted and asked to predict on 5,000 training ratings, which compiles
  its Numba kernels (and imports TensorFlow and traces Keras for the Keras models).
- ``test_recommend_all[<model>]``: ``recommend_all(n=10)`` for every user of the ml-1m shape
  (``RECOMMEND_SPECS``: a baseline, the factor models' matrix-product path and the KNN
  models' neighbourhood pass), on a model fitted outside the timing, after a first call on
  50 users (compilation, the KNN models' stored rows); ``extra_info`` holds the model's RMSE
  on the test ratings and the rows returned.
- ``test_load_csv_ml10m`` and ``test_build_csr_ml10m``: ``fastrec.load_ratings`` of the
  synthetic ml-10m shape written once to a temporary ratings.csv, and the build of its CSR and
  CSC matrices.

Every benchmark's ``extra_info`` holds ``rmse`` (on the test ratings; none for the loading
benchmarks), ``n_train``, ``n_test``, ``threads`` (``numba.get_num_threads()``) and
``fastrec_version``. The whole suite takes 7 to 11 minutes on two cores (the gate's
confirmation reruns add a few). Run it alone on the machine::

    FASTREC_DATA=../shared/data python -m pytest benchmarks/ --benchmark-columns=median,iqr,rounds
    FASTREC_DATA=../shared/data python benchmarks/gate.py    # the same run, gated on the baseline

``--quick`` runs every benchmark once on small data (the synthetic ml-100k shape in place of
the ml-1m and ml-10m shapes, one epoch of the Keras models): CI runs it through
``tests/test_benchmarks_quick.py`` so that a broken benchmark is seen at once.
"""

from __future__ import annotations

import gc
import statistics
import time
from contextlib import contextmanager

import numba
import numpy as np
import pytest

import fastrec
from fastrec.models import MODELS

#: What the suite times: every registered model with its defaults, then the forms that run at
#: MovieLens-25M scale (the scale run's KNN models, SVD's solver for large matrices).
SPECS: dict[str, object] = {name: cls for name, cls in MODELS.items()}
SPECS.update(
    {
        "UserKNN-k40": lambda: fastrec.UserKNN(k=40),
        "ItemKNN-k40": lambda: fastrec.ItemKNN(k=40),
        "SVD-randomized": lambda: fastrec.SVD(solver="randomized"),
    }
)
DATASETS = ("ml-small", "ml-1m")
#: Timed rounds of a fit (the median is what the gate compares). A fit under
#: ``CALIBRATE_BELOW_S`` (timed once after the warm-up, for models whose warm-up took under
#: ``PROBE_BELOW_S``) is timed like ``predict``: pytest-benchmark's calibrated rounds (at least
#: 5, for about a second), whose median is steadier for millisecond timings.
FIT_ROUNDS = {"ml-small": 5, "ml-1m": 3}
CALIBRATE_BELOW_S = 0.1
PROBE_BELOW_S = 0.5
#: Parameters that make a model cheap under ``--quick`` (applied where the model has them).
QUICK_PARAMS = {"max_epochs": 1, "n_epochs": 2, "n_iter": 2}
WARM_UP_RATINGS = 5_000

_fitted: dict[tuple[str, str], fastrec.Recommender] = {}


def _common_info() -> dict:
    return {"threads": numba.get_num_threads(), "fastrec_version": fastrec.__version__}


def _missing(spec: str) -> str | None:
    cls = MODELS.get(spec)
    return cls.missing_dependency() if cls is not None else None


def _model(spec: str, quick: bool) -> fastrec.Recommender:
    model = SPECS[spec]()
    if quick:
        params = model.get_params()
        model.set_params(**{k: v for k, v in QUICK_PARAMS.items() if k in params})
    return model


# ------------------------------------------------------------------ reference
@numba.njit(cache=True)
def _matvec_serial(indptr, indices, data, x, out):
    for row in range(len(indptr) - 1):
        acc = 0.0
        for j in range(indptr[row], indptr[row + 1]):
            acc += data[j] * x[indices[j]]
        out[row] = acc


@numba.njit(cache=True, parallel=True)
def _matvec_parallel(indptr, indices, data, x, out):
    for row in numba.prange(len(indptr) - 1):
        acc = 0.0
        for j in range(indptr[row], indptr[row + 1]):
            acc += data[j] * x[indices[j]]
        out[row] = acc


def _reference_inputs():
    """Fixed inputs (seed 0): a 20,000 x 5,000 CSR with 1M entries, dense 400 x 400, 1M floats."""
    rng = np.random.default_rng(0)
    n_rows, n_cols, nnz = 20_000, 5_000, 1_000_000
    indptr = np.linspace(0, nnz, n_rows + 1).astype(np.int64)
    indices = rng.integers(0, n_cols, nnz).astype(np.int32)
    data = rng.random(nnz)
    x = rng.random(n_cols)
    dense = rng.random((400, 400))
    values = rng.random(1_000_000)
    gather = rng.integers(0, len(values), 2_000_000)
    return indptr, indices, data, x, dense, values, gather


def reference_workload(inputs) -> float:
    """The fixed computation every time is divided by: a serial and a parallel Numba CSR
    mat-vec (20 each), a BLAS matrix product, a sort and a random gather. It mixes what
    fastrec's kernels spend their time on (sparse loops, BLAS, memory-bound gathers)."""
    indptr, indices, data, x, dense, values, gather = inputs
    out = np.empty(len(indptr) - 1)
    total = 0.0
    for _ in range(20):
        _matvec_serial(indptr, indices, data, x, out)
        total += out[0]
        _matvec_parallel(indptr, indices, data, x, out)
        total += out[-1]
    total += float((dense @ dense)[0, 0])
    total += float(np.sort(values)[0])
    total += float(values[gather].sum())
    return total


_inputs: list = []


def _time_reference(rounds: int) -> list[float]:
    if not _inputs:
        _inputs.append(_reference_inputs())
        reference_workload(_inputs[0])  # compile
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        reference_workload(_inputs[0])
        times.append(time.perf_counter() - t0)
    return times


@contextmanager
def beside_reference(benchmark, quick: bool):
    """Time the reference workload just before and just after the benchmark (3 runs each)
    and record the median as ``extra_info["reference_s"]``: the gate divides the benchmark's
    median by it, which follows the machine's load during the benchmark better than the
    reference timed once at the start of the run."""
    rounds = 1 if quick else 3
    gc.collect()  # no garbage of earlier benchmarks collected inside this one's rounds
    times = _time_reference(rounds)
    yield
    times += _time_reference(rounds)
    benchmark.extra_info["reference_s"] = statistics.median(times)


def test_reference_workload(benchmark, quick):
    inputs = _reference_inputs()
    reference_workload(inputs)  # compile
    benchmark.pedantic(reference_workload, args=(inputs,), rounds=1 if quick else 21)
    benchmark.extra_info.update(_common_info(), quick=quick)


# ---------------------------------------------------------------------- data
@pytest.fixture(scope="session")
def ml_small_split(data_dir):
    ratings = fastrec.load_ratings(data_dir / "ml-latest-small-2016" / "ratings.csv")
    return fastrec.train_test_split(ratings, test_size=0.2, seed=7)


@pytest.fixture(scope="session")
def ml_1m_split(quick):
    ratings = fastrec.datasets.synthetic("ml-100k" if quick else "ml-1m", seed=0)
    return fastrec.train_test_split(ratings, test_size=0.2, seed=7)


@pytest.fixture(scope="session")
def ml_10m_csv(quick, tmp_path_factory):
    """The synthetic ml-10m shape written once as ratings.csv; (path, number of ratings)."""
    ratings = fastrec.datasets.synthetic("ml-100k" if quick else "ml-10m", seed=0)
    path = tmp_path_factory.mktemp("ml-10m") / "ratings.csv"
    fastrec.datasets.write_csv(ratings, path)
    return path, len(ratings)


_SPLIT_FIXTURE = {"ml-small": "ml_small_split", "ml-1m": "ml_1m_split"}


def _cases():
    for dataset in DATASETS:
        for spec in SPECS:
            missing = _missing(spec)
            marks = [pytest.mark.skip(reason=missing)] if missing else []
            for phase in ("fit", "predict"):
                yield pytest.param(
                    dataset, spec, phase, id=f"{dataset}-{spec}-{phase}", marks=marks
                )


# -------------------------------------------------------------------- models
@pytest.mark.parametrize(("dataset", "spec", "phase"), list(_cases()))
def test_model(benchmark, request, quick, dataset, spec, phase):
    train, test = request.getfixturevalue(_SPLIT_FIXTURE[dataset])
    benchmark.group = f"{dataset} {phase}"
    key = (dataset, spec)
    warm_s = None
    if phase == "fit" or key not in _fitted:
        tiny = train.subset(np.arange(min(len(train), WARM_UP_RATINGS)))
        warm = _model(spec, quick)
        if "max_epochs" in warm.get_params():
            warm.set_params(max_epochs=1)
        t0 = time.perf_counter()
        warm.fit(tiny).predict(test)  # compile the Numba kernels (Keras: import, trace)
        warm_s = time.perf_counter() - t0
    if phase == "fit":

        def fit():
            return _model(spec, quick).fit(train)

        calibrate = False
        if not quick and warm_s < PROBE_BELOW_S:  # a cheap model: is its whole fit cheap too?
            t0 = time.perf_counter()
            fit()
            calibrate = time.perf_counter() - t0 < CALIBRATE_BELOW_S
        with beside_reference(benchmark, quick):
            if calibrate:  # many rounds (pytest-benchmark's calibration): a steadier median
                model = benchmark(fit)
            else:
                rounds = 1 if quick else FIT_ROUNDS[dataset]
                model = benchmark.pedantic(fit, rounds=rounds, iterations=1)
        _fitted[key] = model
        pred, fell_back = model.predict_with_fallback(test)
    else:
        model = _fitted.pop(key, None) or _model(spec, quick).fit(train)
        # First call: any lazy work of the model (not part of the timing), and the coverage.
        _, fell_back = model.predict_with_fallback(test)
        with beside_reference(benchmark, quick):
            if quick:
                pred = benchmark.pedantic(model.predict, args=(test,), rounds=1, iterations=1)
            else:
                pred = benchmark(model.predict, test)
    assert pred.shape == (len(test),) and np.isfinite(pred).all()
    info = {
        "dataset": dataset,
        "model": model.name,
        "phase": phase,
        "rmse": fastrec.rmse(pred, test.ratings),
        "coverage": 1.0 - float(fell_back.mean()),
        "n_train": len(train),
        "n_test": len(test),
        "quick": quick,
    }
    if hasattr(model, "n_epochs_"):
        info["n_epochs"] = int(model.n_epochs_)
    benchmark.extra_info.update(info, **_common_info())


# ------------------------------------------------------------------ top-N
RECOMMEND_SPECS = ("Bias", "SVD", "BiasedMF", "UserKNN-k40", "ItemKNN-k40")


@pytest.mark.parametrize("spec", RECOMMEND_SPECS)
def test_recommend_all(benchmark, quick, ml_1m_split, spec):
    train, test = ml_1m_split
    benchmark.group = "ml-1m recommend_all"
    model = _model(spec, quick).fit(train)
    model.recommend_all(n=10, users=train.user_index[:50])  # compile; lazy stored rows
    with beside_reference(benchmark, quick):
        top = benchmark.pedantic(model.recommend_all, kwargs={"n": 10}, rounds=1 if quick else 3)
    n_users = int((model.user_n_train_ > 0).sum())
    assert len(top) == 10 * n_users
    benchmark.extra_info.update(
        dataset="ml-1m",
        model=model.name,
        phase="recommend_all",
        rmse=fastrec.rmse(model.predict(test), test.ratings),
        n_users=n_users,
        rows=len(top),
        n_train=len(train),
        n_test=len(test),
        quick=quick,
        **_common_info(),
    )


# --------------------------------------------------------------------- data
def test_load_csv_ml10m(benchmark, quick, ml_10m_csv):
    """``load_ratings`` of the synthetic ml-10m shape (10,000,054 ratings) from ratings.csv."""
    path, n = ml_10m_csv
    benchmark.group = "ml-10m data"
    fastrec.load_ratings(path)  # compile the loader's kernels, warm the page cache
    with beside_reference(benchmark, quick):
        ratings = benchmark.pedantic(fastrec.load_ratings, args=(path,), rounds=1 if quick else 3)
    assert len(ratings) == n
    benchmark.extra_info.update(
        n_ratings=n, file_mib=round(path.stat().st_size / 2**20, 1), quick=quick, **_common_info()
    )


def test_build_csr_ml10m(benchmark, quick, ml_10m_csv):
    """The users x items CSR and CSC of the ml-10m shape (what every model's fit first needs)."""
    path, n = ml_10m_csv
    benchmark.group = "ml-10m data"
    loaded = fastrec.load_ratings(path)

    def fresh():  # the same arrays, no cached matrices
        r = loaded
        return (
            fastrec.Ratings(
                r.user_index, r.item_index, r.user_codes, r.item_codes, r.ratings, r.timestamps
            ),
        ), {}

    def build(ratings):
        return ratings.csr, ratings.csc

    with beside_reference(benchmark, quick):
        csr, csc = benchmark.pedantic(build, setup=fresh, rounds=1 if quick else 3)
    assert csr.nnz == csc.nnz == n
    benchmark.extra_info.update(
        n_ratings=n, n_users=loaded.n_users, n_items=loaded.n_items, quick=quick, **_common_info()
    )
