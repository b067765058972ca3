"""The base of every :mod:`fastrec.spark` model: fit on a DataFrame, predict and recommend in the
Python workers from memory-mapped files, ``to_local``, ``save``/``load``.

A subclass names its single-machine counterpart (``_local_class``, e.g. :class:`fastrec.ALS`)
and implements one method, ``_fit_coded(coded, context) -> dict``: the fitted state of that
single-machine model (its ``_fitted_state`` attributes) computed with Spark from ``coded``, a
DataFrame of integer codes (``u`` int32, ``i`` int32, ``r`` float64; codes are positions in
the sorted distinct ids, as :class:`fastrec.Ratings` numbers them). The base does the rest,
the same way for every model:

- ``fit``: checks the ratings (:func:`~fastrec.spark.frame.check_ratings`), collects the
  sorted distinct ids, codes the rows in the workers, counts each user's and item's ratings,
  fits the :class:`~fastrec.spark.Bias` fallback where the single-machine model has one, calls
  ``_fit_coded``, and writes everything to the model's directory
  (:class:`~fastrec.spark._worker.ModelFiles`).
- ``predict(df)``: the input rows plus ``prediction`` (float64, never null), computed by the
  single-machine model assembled in each worker from the memory-mapped files, so the numbers
  are the single-machine model's for the same fitted state.
- ``recommend_all(n)``: the training ratings grouped into blocks of users; in each block the
  single-machine top-n engine (a matrix product and the Numba bounded heap), the block's own
  seen items excluded. The model is never shuffled.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from ..errors import NotFittedError
from ..memory import require
from ._worker import ModelFiles, assemble_local, prepare_worker, with_seen
from .coding import (
    codes_of,
    count_ratings,
    encode_packed,
    encode_pairs,
    encode_ratings,
    pack_partitions,
    raw_ids,
    unpack,
    unpack_partitions,
)
from .frame import Columns, check_pairs, check_ratings, distinct_ids

__all__ = ["FitContext", "SparkRecommender", "load", "pack_partitions", "unpack", "encode_ratings"]

#: Spark model classes by name, for :func:`load` (filled by ``__init_subclass__``).
_REGISTRY: dict[str, type] = {}
_FORMAT = "fastrec.spark-model"
_FORMAT_VERSION = 1


class FitContext:
    """What ``_fit_coded`` gets besides the coded ratings.

    Attributes: ``n_users``, ``n_items`` (id-map sizes), ``user_counts``, ``item_counts``
    (int64 training ratings per code), ``mean``, ``std`` (the ratings' mean and population
    standard deviation), ``rating_range``, ``user_ids``, ``item_ids`` (the sorted id maps,
    :class:`pandas.Index`), ``n_blocks`` (Spark partitions to use), ``spark``, ``work_dir``
    (a scratch folder inside the model directory, readable by every worker), ``packed``
    (the coded ratings packed one row per partition, cached: see :func:`pack_partitions`).
    """

    def __init__(self, **values):
        self.__dict__.update(values)


class SparkRecommender:
    """Base of the :mod:`fastrec.spark` models (see the module docstring)."""

    #: The single-machine model this one fits the state of (a fastrec.models class).
    _local_class: ClassVar[type | None] = None
    #: Parameters only the Spark model has (not passed to the local model).
    _spark_params: ClassVar[tuple[str, ...]] = ("n_blocks",)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    def __init__(self, *, n_blocks: int | None = None, **params):
        self.n_blocks = n_blocks
        self.params = dict(params)
        if n_blocks is not None and (
            isinstance(n_blocks, bool) or int(n_blocks) != n_blocks or n_blocks < 1
        ):
            raise ValueError(
                f"{type(self).__name__}: n_blocks must be None or an integer >= 1, got {n_blocks!r}"
            )
        self._local_template().validate_params()  # the single-machine model's parameter checks

    def _local_template(self):
        return self._local_class(**self.params)

    def get_params(self) -> dict:
        return {**self.params, "n_blocks": self.n_blocks}

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({shown})"

    @property
    def name(self) -> str:
        """The class name with the parameters that differ from their defaults, as
        :attr:`fastrec.Recommender.name` prints a single-machine model."""
        defaults = type(self)().params
        changed = {k: v for k, v in self.params.items() if defaults.get(k) != v}
        shown = ", ".join(f"{k}={v!r}" for k, v in changed.items())
        return f"{type(self).__name__}({shown})" if changed else type(self).__name__

    # ------------------------------------------------------------ fitting
    def fit(
        self,
        df: DataFrame,
        *,
        user_col: str = "userId",
        item_col: str = "movieId",
        rating_col: str = "rating",
        work_dir=None,
        rating_scale: tuple[float, float] | None = None,
    ):
        """Fit on the ratings in ``df``; returns ``self``.

        Parameters
        ----------
        df : Spark DataFrame with the user, item and rating columns (ids integer or string)
        user_col, item_col, rating_col : str
            Column names (MovieLens's by default); ``predict`` and ``recommend_all`` use the
            same names.
        work_dir : path or None
            The model's directory (its memory-mapped arrays), which every executor must be
            able to read; ``None``: a new folder under the driver's temporary folder (right for
            ``local[*]`` and a single machine), removed when the Python process exits
            (:meth:`save` keeps a copy). A given ``work_dir`` is never removed.
        rating_scale : (lo, hi) or None
            The rating scale predictions are clipped to; ``None``: the ratings' min and max.
        """
        columns = Columns(user_col, item_col, rating_col)
        stats = check_ratings(df, columns, f"{type(self).__name__}.fit")
        spark = df.sparkSession
        t0 = time.perf_counter()
        root = _model_dir(work_dir)
        files = ModelFiles(root)
        user_ids, item_ids = distinct_ids(df, user_col), distinct_ids(df, item_col)
        files.write_array("user_ids", user_ids.to_numpy())
        files.write_array("item_ids", item_ids.to_numpy())
        # coded and packed in one pass; models that read rows get them unpacked (and cached)
        packed = encode_packed(df, files, columns).persist()
        coded = unpack_partitions(packed).persist()
        try:
            user_counts, item_counts = count_ratings(packed, len(user_ids), len(item_ids))
            files.write_array("user_n_train", user_counts)
            files.write_array("item_n_train", item_counts)
            lo, hi = (
                (stats["min"], stats["max"]) if rating_scale is None else map(float, rating_scale)
            )
            n_blocks = self.n_blocks or _default_blocks(spark)
            context = FitContext(
                n_users=len(user_ids),
                n_items=len(item_ids),
                user_counts=user_counts,
                item_counts=item_counts,
                mean=stats["mean"],
                std=stats["std"],
                rating_range=(float(lo), float(hi)),
                user_ids=user_ids,
                item_ids=item_ids,
                n_blocks=int(n_blocks),
                spark=spark,
                work_dir=root / "scratch",
                packed=packed,
            )
            template = self._local_template()
            fallback = template._fallback_model()
            meta_fallback = None
            if fallback is not None:
                from .bias_sums import fit_bias_arrays

                fb_state = fit_bias_arrays(context, **fallback.get_params())
                for name, value in fb_state.items():
                    files.write_array(f"fallback.{name}", value)
                meta_fallback = {
                    "class": type(fallback).__name__,
                    "params": fallback.get_params(),
                    "arrays": sorted(fb_state),
                }
            state = self._fit_coded(coded, context)
        finally:
            packed.unpersist()
            coded.unpersist()
        arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
        for name, value in arrays.items():
            files.write_array(f"state.{name}", value)
        # sparse state (CSR, e.g. ItemKNN's neighbours): its three arrays, rebuilt on load
        sparse = {k: v for k, v in state.items() if isinstance(v, sp.csr_array | sp.csr_matrix)}
        for name, value in sparse.items():
            for part in ("indptr", "indices", "data"):
                files.write_array(f"state.{name}.{part}", getattr(value, part))
        files.write_meta(
            {
                "format": _FORMAT,
                "version": _FORMAT_VERSION,
                "model": type(self).__name__,
                "params": self.get_params(),
                "local_class": self._local_class.__name__,
                "local_params": template.get_params(),
                "columns": {"user": user_col, "item": item_col, "rating": rating_col},
                "global_mean": stats["mean"],
                "rating_range": [float(lo), float(hi)],
                "n_ratings": stats["n"],
                "state_arrays": sorted(arrays),
                "state_sparse": {k: list(v.shape) for k, v in sparse.items()},
                "state_json": _jsonable(
                    {k: v for k, v in state.items() if k not in arrays and k not in sparse}
                ),
                "fallback": meta_fallback,
                "fit_seconds": time.perf_counter() - t0,
            }
        )
        shutil.rmtree(root / "scratch", ignore_errors=True)
        self.files_ = files
        self.columns_ = columns
        self.train_df_ = df
        return self

    def _fit_coded(self, coded: DataFrame, context: FitContext) -> dict:
        raise NotImplementedError

    # -------------------------------------------------------- predicting
    def _check_fitted(self, action: str) -> None:
        if not hasattr(self, "files_"):
            raise NotFittedError(
                f"{type(self).__name__} is not fitted yet; call fit(df) before {action}"
            )

    def predict(self, df: DataFrame, *, fallback_col: str | None = None) -> DataFrame:
        """``df``'s rows plus a ``prediction`` column (float64, never null).

        ``df`` needs the user and item columns named as in ``fit``; other columns pass
        through. Pairs whose user or item has no training rating get the fallback the
        single-machine model documents (most models: :class:`fastrec.Bias`).
        ``fallback_col``: also add this boolean column, true where the fallback answered
        (:meth:`fastrec.Recommender.predict_with_fallback`'s mask).
        """
        self._check_fitted("predict")
        cols = self.columns_
        check_pairs(df, cols, f"{type(self).__name__}.predict")
        root = str(self.files_.root)
        extra = [T.StructField("prediction", T.DoubleType(), False)]
        if fallback_col:
            extra.append(T.StructField(fallback_col, T.BooleanType(), False))
        schema = T.StructType([*df.schema.fields, *extra])
        arrow_fields = [pa.field("prediction", pa.float64(), False)]
        if fallback_col:
            arrow_fields.append(pa.field(fallback_col, pa.bool_(), False))
        user_col, item_col = cols.user, cols.item

        def score(batches):
            prepare_worker()
            model = ModelFiles(root).local_model()
            for batch in batches:
                users = codes_of(model.user_index_, batch.column(user_col), model.user_n_train_)
                items = codes_of(model.item_index_, batch.column(item_col), model.item_n_train_)
                pred, fell_back = model._predict_codes(users, items)
                out = [pa.array(np.asarray(pred, dtype=np.float64))]
                if fallback_col:
                    out.append(pa.array(np.asarray(fell_back, dtype=bool)))
                schema_out = batch.schema
                for field in arrow_fields:
                    schema_out = schema_out.append(field)
                yield pa.RecordBatch.from_arrays([*batch.columns, *out], schema=schema_out)

        return df.mapInArrow(score, schema)

    def recommend_all(
        self, n: int = 10, exclude_seen: bool = True, *, seen: DataFrame | None = None
    ) -> DataFrame:
        """Top-``n`` items of every user with training ratings: a DataFrame with the user
        column, ``rank`` (1 .. n), the item column and ``score`` (the prediction).

        The training ratings (``seen``; default: the DataFrame given to ``fit``) are grouped
        into blocks of users; each block is scored in a worker by the single-machine top-n
        engine (:meth:`fastrec.Recommender.recommend_all`: one matrix product per block of
        users for the factor models, the Numba bounded heap), its users' seen items excluded
        when ``exclude_seen``. Results equal the single-machine model's ``recommend_all``.
        """
        self._check_fitted("recommend_all")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        if not isinstance(exclude_seen, bool):
            raise TypeError(f"exclude_seen must be True or False, got {exclude_seen!r}")
        seen = self.train_df_ if seen is None else seen
        if seen is None:
            raise ValueError(
                "this model was loaded from disk and holds no training ratings: pass them, "
                "recommend_all(n, seen=train_df)"
            )
        cols = self.columns_
        check_pairs(seen, cols, f"{type(self).__name__}.recommend_all")
        root = str(self.files_.root)
        meta = self.files_.meta()
        n_blocks = self.n_blocks or _default_blocks(seen.sparkSession)
        coded = encode_pairs(seen, self.files_, cols).withColumn("b", F.col("u") % F.lit(n_blocks))
        user_type = (
            T.StringType() if self.files_.array("user_ids").dtype.kind == "U" else T.LongType()
        )
        item_type = (
            T.StringType() if self.files_.array("item_ids").dtype.kind == "U" else T.LongType()
        )
        schema = T.StructType(
            [
                T.StructField(meta["columns"]["user"], user_type, False),
                T.StructField("rank", T.IntegerType(), False),
                T.StructField(meta["columns"]["item"], item_type, False),
                T.StructField("score", T.DoubleType(), False),
            ]
        )

        def block_top_n(table: pa.Table) -> pa.Table:
            from ..models._topn import recommend_codes

            prepare_worker()
            model = ModelFiles(root).local_model()
            u = table.column("u").to_numpy().astype(np.int32)
            i = table.column("i").to_numpy().astype(np.int32)
            order = np.lexsort((i, u))
            u, i = u[order], i[order]
            users = np.unique(u[u >= 0])
            indptr = np.zeros(len(model.user_index_) + 1, dtype=np.int64)
            np.add.at(indptr, u[u >= 0] + 1, 1)
            np.cumsum(indptr, out=indptr)
            view = with_seen(model, indptr, np.ascontiguousarray(i[u >= 0]))
            rows, items, scores, counts = recommend_codes(view, users, n, exclude_seen, None, False)
            rank = np.arange(len(items)) - np.repeat(np.cumsum(counts) - counts, counts)
            return pa.Table.from_arrays(
                [
                    raw_ids(model.user_index_, users[rows]),
                    pa.array((rank + 1).astype(np.int32)),
                    raw_ids(model.item_index_, items),
                    pa.array(np.asarray(scores, dtype=np.float64)),
                ],
                schema=pa.schema(
                    [pa.field(f.name, _arrow_type(f.dataType), False) for f in schema.fields]
                ),
            )

        return coded.groupBy("b").applyInArrow(block_top_n, schema)

    # ------------------------------------------------------------ moving
    def to_local(self, seen: DataFrame | None = None):
        """The equivalent single-machine fastrec model (same fitted state, same predictions).

        Collects the fitted arrays and, for ``recommend(exclude_seen=True)``, the training
        pattern (``seen``, default the DataFrame given to ``fit``; 12 bytes per rating), after
        checking that they fit in the driver's memory (:func:`fastrec.memory.require`).
        """
        self._check_fitted("to_local")
        meta = self.files_.meta()
        array_bytes = sum(
            (self.files_.root / f"{n}.npy").stat().st_size for n in self.files_.names()
        )
        seen = self.train_df_ if seen is None else seen
        n_seen = meta["n_ratings"] if seen is not None else 0
        require(array_bytes + 12 * n_seen, f"to_local() of {self.name}", "keep the model on Spark")
        pattern = None
        if seen is not None:
            table = encode_pairs(seen, self.files_, self.columns_).toArrow()
            u = table.column("u").to_numpy().astype(np.int32)
            i = table.column("i").to_numpy().astype(np.int32)
            keep = (u >= 0) & (i >= 0)
            u, i = u[keep], i[keep]
            order = np.lexsort((i, u))
            indptr = np.zeros(len(self.files_.array("user_ids")) + 1, dtype=np.int64)
            np.add.at(indptr, u + 1, 1)
            pattern = (np.cumsum(indptr), np.ascontiguousarray(i[order]))
        model = assemble_local(self.files_, meta, with_seen=pattern)
        _load_into_memory(model)
        return model

    def save(self, path) -> Path:
        """Write the fitted model to the folder ``path``: ``meta.json`` and one parquet file
        per array (no pickle). :func:`load` reads it back."""
        self._check_fitted("save")
        import pyarrow.parquet as pq

        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        for name in self.files_.names():
            value = np.asarray(self.files_.array(name))
            pq.write_table(_array_table(value), out / f"{name}.parquet")
        meta = self.files_.meta()
        (out / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
        return out


def load(path, *, work_dir=None) -> SparkRecommender:
    """Read a model written by :meth:`SparkRecommender.save`: its arrays go to ``work_dir`` (a
    folder every executor can read; ``None``: a new temporary folder)."""
    import pyarrow.parquet as pq

    src = Path(path)
    meta_path = src / "meta.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"{src}: no meta.json; not a model saved by fastrec.spark")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != _FORMAT or meta.get("version") != _FORMAT_VERSION:
        raise ValueError(
            f"{src}: format {meta.get('format')!r} version {meta.get('version')!r}; this fastrec "
            f"reads {_FORMAT!r} version {_FORMAT_VERSION}"
        )
    cls = _REGISTRY.get(meta["model"])
    if cls is None:
        raise ValueError(f"{src}: unknown model class {meta['model']!r}")
    params = dict(meta["params"])
    model = cls(**params)
    root = _model_dir(work_dir)
    files = ModelFiles(root)
    for part in sorted(src.glob("*.parquet")):
        files.write_array(part.stem, _table_array(pq.read_table(part)))
    files.write_meta(meta)
    model.files_ = files
    model.columns_ = Columns(**meta["columns"])
    model.train_df_ = None
    return model


# ---------------------------------------------------------------- helpers
#: The temporary model folders this process made, removed when it exits.
_OWNED_DIRS: list[str] = []


def _remove_owned_dirs() -> None:
    for path in _OWNED_DIRS:
        shutil.rmtree(path, ignore_errors=True)
    _OWNED_DIRS.clear()


atexit.register(_remove_owned_dirs)


def _model_dir(work_dir) -> Path:
    """The model's directory: ``work_dir``, or a new temporary folder, removed when the
    Python process exits. Not earlier: a lazy DataFrame from ``predict`` reads it until it is
    computed, even after the model object itself is gone."""
    if work_dir is not None:
        return Path(work_dir)
    root = tempfile.mkdtemp(prefix="fastrec-spark-")
    _OWNED_DIRS.append(root)
    return Path(root)


def _default_blocks(spark) -> int:
    """Spark's shuffle partitions (``spark.sql.shuffle.partitions``)."""
    try:
        return max(1, int(spark.conf.get("spark.sql.shuffle.partitions")))
    except Exception:
        return 2


def _arrow_type(spark_type):
    return {
        T.StringType: pa.string(),
        T.LongType: pa.int64(),
        T.IntegerType: pa.int32(),
        T.DoubleType: pa.float64(),
    }[type(spark_type)]


def _array_table(value: np.ndarray) -> pa.Table:
    """One array as a one-column table (a 2-D array as fixed-size lists of its rows)."""
    if value.ndim == 2:
        flat = pa.array(np.ascontiguousarray(value).reshape(-1))
        column = pa.FixedSizeListArray.from_arrays(flat, value.shape[1])
        return pa.table({"value": column}, metadata={"shape": json.dumps(list(value.shape))})
    if value.dtype.kind == "U":
        return pa.table({"value": pa.array(value.astype(object), pa.string())})
    return pa.table({"value": pa.array(value)}, metadata={"shape": json.dumps(list(value.shape))})


def _table_array(table: pa.Table) -> np.ndarray:
    column = table.column("value").combine_chunks()
    if pa.types.is_fixed_size_list(column.type):
        width = column.type.list_size
        return column.flatten().to_numpy().reshape(-1, width)
    if pa.types.is_string(column.type):
        return np.asarray(column.to_pylist(), dtype=str)
    return column.to_numpy(zero_copy_only=False)


def _jsonable(values: dict) -> dict:
    """Non-array fitted state (``history_`` lists, counts) as JSON values."""
    out = {}
    for key, value in values.items():
        out[key] = json.loads(
            json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else float(v))
        )
    return out


def _load_into_memory(model) -> None:
    """Replace memory-mapped arrays by in-memory copies (a ``to_local`` model owns its data)."""
    for obj in (model, getattr(model, "fallback_", None)):
        if obj is None:
            continue
        for key, value in list(vars(obj).items()):
            if isinstance(value, np.memmap):
                setattr(obj, key, np.array(value))
            elif sp.issparse(value):
                setattr(obj, key, value.copy())
