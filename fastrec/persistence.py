"""Saving and loading fitted models in one file, without pickle.

>>> model = fastrec.ItemKNN().fit(train)                      # doctest: +SKIP
>>> fastrec.persistence.save_model(model, "itemknn.fastrec")  # doctest: +SKIP
>>> same = fastrec.persistence.load_model("itemknn.fastrec")   # doctest: +SKIP

The file (extension ``.fastrec`` by convention; any name is accepted) is a zip archive:

``fastrec.json``
    The manifest: ``format`` (``"fastrec-model"``), ``format_version``, the versions of
    fastrec, numpy (and Keras) that wrote it, the model's ``class`` (a name of
    :data:`fastrec.models.MODELS`), its constructor ``params`` (``get_params()``) and its
    fitted ``state``: every entry of the instance's ``__dict__`` that is not a parameter,
    private ones (``_similarity``) included, as a typed JSON tree (below).
``arrays/<n>.npy``
    Every array of the state, in numpy's ``.npy`` format. The archive is itself a valid
    ``.npz``: ``numpy.load(path, allow_pickle=False)`` lists the arrays. Arrays of Python
    objects (which would need pickle) are refused when saving and when loading.
``keras/<n>.keras``
    Each Keras network (``keras_model_`` of the Keras models) in Keras' own ``.keras`` format,
    loaded with ``safe_mode=True`` after its ``config.json`` is screened (only ``keras``
    modules, no ``Lambda`` layer, no serialized function).

The typed tree: JSON null, booleans, integers, strings and finite floats stand for
themselves; every other value is an object with a ``"type"``: ``float`` (NaN and
infinities), ``tuple``, ``list``, ``dict`` (``items``: ``[key, value]`` pairs),
``ndarray`` (``key`` of its ``.npy`` member, ``dtype``, ``shape``), ``numpy_scalar`` (a 0-d
array), ``index`` (a :class:`pandas.Index`, the raw-id maps: values as an array of their
dtype, as UTF-8 bytes and offsets for strings, or as JSON scalars for mixed ids; ``dtype``
and ``name`` beside them), ``sparse`` (a scipy CSR/CSC array or matrix as ``data``,
``indices``, ``indptr``, ``shape``), ``model`` (a nested fitted model, e.g. ``fallback_``:
``class``, ``params``, ``state``), ``ratings`` (a :class:`~fastrec.Ratings`), ``keras``
(``member``), ``NA`` (``pandas.NA``) and ``ref`` (a second reference to an object already
written, so that shared arrays, id maps and models are written once and shared again after
loading). Anything else in a model's ``__dict__`` makes :func:`save_model` raise a
``TypeError`` naming the model and the attribute, before anything is written.

Safety: loading never unpickles, never imports a module named in the file (classes are
looked up in :data:`~fastrec.models.MODELS` only), and checks what it reads: the manifest's
structure, each array's header (no object dtype; size consistent with the member), the
total size against the memory available (:func:`fastrec.memory.require`), sparse indices in
bounds, the base class's invariants, and a model's own ``_check_state()`` where it defines
one. A truncated, corrupt or foreign file raises a ``ValueError`` naming the file and what
was wrong.

Writes are atomic: the archive is written to a temporary file beside ``path`` and renamed
over it only when complete, so a failed save never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import shutil
import struct
import sys
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .data import Ratings
from .memory import require
from .models import MODELS
from .models.base import NotFittedError, Recommender

log = logging.getLogger(__name__)

__all__ = ["save_model", "load_model", "FORMAT", "FORMAT_VERSION", "EXTENSION"]

#: The ``format`` field of the manifest.
FORMAT = "fastrec-model"
#: The version of the file layout this fastrec writes and reads.
FORMAT_VERSION = 1
#: The conventional file extension.
EXTENSION = ".fastrec"
#: The manifest's member name.
MANIFEST = "fastrec.json"
#: The oldest Keras whose ``safe_mode`` has no known bypass (CVE-2025-1550 was fixed in 3.9,
#: CVE-2025-8747 and CVE-2025-9906 in 3.11).
MIN_KERAS_VERSION = (3, 11)

_SPARSE = {
    "csr_array": sp.csr_array,
    "csc_array": sp.csc_array,
    "csr_matrix": sp.csr_matrix,
    "csc_matrix": sp.csc_matrix,
}
_ARRAY_KEY = re.compile(r"[0-9]+")
_KERAS_MEMBER = re.compile(r"keras/[0-9]+\.keras")
# Fixed member timestamps: the same model gives the same bytes (Keras members aside).
_DATE = (1980, 1, 1, 0, 0, 0)
# Keras config entries that carry code rather than data; fastrec's networks use none of them.
_KERAS_CODE = {"Lambda", "function", "__lambda__", "TFSMLayer"}
_MAX_MANIFEST_BYTES = 1 << 31


# =============================================================================== saving
def save_model(model: Recommender, path: str | os.PathLike, *, compress: bool = False) -> Path:
    """Write a fitted ``model`` to ``path`` (one file; see the module docstring).

    Parameters
    ----------
    model : Recommender
        A fitted model whose class is in :data:`fastrec.models.MODELS`.
    path : str or os.PathLike
        The file to write (``.fastrec`` by convention), replaced if it exists; its
        directory must exist.
    compress : bool, default False
        Deflate the members (smaller files, slower to write and read; the default stores
        them as they are, like :func:`numpy.savez`).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    NotFittedError
        ``model`` was never fitted.
    TypeError
        ``model`` is not a registered fastrec model, or its state holds a value this format
        cannot store without pickle (the message names the attribute). Nothing is written.
    """
    if not isinstance(model, Recommender):
        raise TypeError(
            f"save_model expects a fitted fastrec model, got {type(model).__module__}."
            f"{type(model).__qualname__}"
        )
    name = type(model).__name__
    if not hasattr(model, "user_index_"):
        raise NotFittedError(f"{name} is not fitted yet; call fit(train) before saving it")
    encoder = _Encoder(model)
    record = encoder.root()  # every TypeError is raised here, before anything is written
    from . import __version__

    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fastrec_version": __version__,
        "numpy_version": np.__version__,
    }
    if encoder.keras:
        manifest["keras_version"] = sys.modules["keras"].__version__
    manifest.update(record)
    text = json.dumps(manifest, allow_nan=False, indent=1, ensure_ascii=False)

    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        raise FileNotFoundError(f"cannot save {name} to {path}: directory {parent} does not exist")
    compression = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", compression=compression, allowZip64=True) as zf:
                zf.writestr(_member(MANIFEST, compression), text.encode("utf-8"))
                for key, array in enumerate(encoder.arrays):
                    info = _member(f"arrays/{key}.npy", compression)
                    with zf.open(info, "w", force_zip64=True) as f:
                        np.lib.format.write_array(f, array, allow_pickle=False)
                if encoder.keras:
                    _write_keras(zf, encoder.keras, compression)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    log.info("saved %s to %s (%d arrays)", model.name, path, len(encoder.arrays))
    return path


def _member(name: str, compression: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_DATE)
    info.compress_type = compression
    info.external_attr = 0o644 << 16
    return info


def _write_keras(zf: zipfile.ZipFile, networks: list, compression: int) -> None:
    with tempfile.TemporaryDirectory(prefix="fastrec-keras-") as tmp:
        file = os.path.join(tmp, "network.keras")
        for member, network in networks:
            with _quiet_keras():
                network.save(file)
            with open(file, "rb") as src, zf.open(_member(member, compression), "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            os.unlink(file)


@contextlib.contextmanager
def _quiet_keras():
    """Without the NumPy 2 deprecation warning Keras 3 raises when it copies weights."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="__array__ implementation doesn't accept a copy keyword"
        )
        yield


def _file_mode() -> int:
    """``0o666`` less the process umask: what ``open`` would have given the file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _is_keras_model(value) -> bool:
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(value, keras.Model)


class _Encoder:
    """Turns a model's state into the typed JSON tree, collecting arrays and networks."""

    def __init__(self, model: Recommender):
        self._model = model
        self._root = type(model).__name__
        self.arrays: list[np.ndarray] = []
        self.keras: list[tuple[str, object]] = []
        self._refs: dict[int, int] = {}  # id(object) -> its "id" in the tree
        self._alive: list = []  # keeps the objects behind _refs' ids alive
        self._open: set[int] = set()  # containers being encoded (cycle check)

    def root(self) -> dict:
        """The record of the model being saved."""
        self._open.add(id(self._model))
        return self.model(self._model, self._root)

    # ------------------------------------------------------------------ errors
    def _refuse(self, where: str, value, why: str = "") -> TypeError:
        kind = f"{type(value).__module__}.{type(value).__qualname__}"
        why = why or (
            "fastrec.persistence stores numpy arrays and scalars, int, float, str, bool, None, "
            "tuples, lists and dicts of those, pandas.Index, scipy.sparse CSR/CSC, Ratings, "
            "nested fastrec models and Keras models (never pickle)"
        )
        return TypeError(
            f"cannot save {self._root}: attribute {where} is a {kind}; {why}. Store it as one "
            "of those types, or delete the attribute before saving"
        )

    # ------------------------------------------------------------------- values
    def encode(self, value, where: str):
        t = type(value)
        if value is None or t is bool or t is int or t is str:
            return value
        if t is float:
            return value if math.isfinite(value) else {"type": "float", "value": repr(value)}
        if isinstance(value, np.generic):
            if value.dtype.hasobject:
                raise self._refuse(where, value, "a numpy object scalar would need pickle")
            return {"type": "numpy_scalar", "array": self._array(np.asarray(value), where)}
        if value is pd.NA:
            return {"type": "NA"}
        if t is np.ndarray or t is np.memmap:
            return self._shared(value, where, self._array)
        if isinstance(value, pd.Index):
            return self._shared(value, where, self._index)
        if sp.issparse(value):
            return self._shared(value, where, self._sparse)
        if isinstance(value, Recommender):
            return self._shared(value, where, self._nested_model)
        if t is Ratings:
            return self._shared(value, where, self._ratings)
        if _is_keras_model(value):
            return self._shared(value, where, self._keras)
        if t is tuple or t is list or t is dict:
            if id(value) in self._open:
                raise self._refuse(where, value, "it contains itself")
            self._open.add(id(value))
            try:
                if t is dict:
                    items = [
                        [self._key(k, where), self.encode(v, f"{where}[{k!r}]")]
                        for k, v in value.items()
                    ]
                    return {"type": "dict", "items": items}
                items = [self.encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
                return {"type": t.__name__, "items": items}
            finally:
                self._open.discard(id(value))
        raise self._refuse(where, value)

    def _key(self, key, where: str):
        if key is None or type(key) in (bool, int, str, float) or isinstance(key, np.generic):
            return self.encode(key, f"{where} (a key)")
        raise self._refuse(f"{where} (the key {key!r})", key, "dict keys must be scalars")

    def _shared(self, value, where: str, build):
        """``build(value, where)`` the first time ``value`` is met, a ``ref`` after that."""
        ref = self._refs.get(id(value))
        if ref is not None:
            return {"type": "ref", "id": ref}
        if id(value) in self._open:
            raise self._refuse(where, value, "it contains itself")
        self._open.add(id(value))
        try:
            record = build(value, where)
        finally:
            self._open.discard(id(value))
        ref = len(self._alive)
        self._alive.append(value)
        self._refs[id(value)] = ref
        record["id"] = ref
        return record

    def _array(self, array: np.ndarray, where: str) -> dict:
        if array.dtype.hasobject:
            raise self._refuse(
                where, array, f"its dtype {array.dtype} holds Python objects, which need pickle"
            )
        key = len(self.arrays)
        self.arrays.append(array)
        return {
            "type": "ndarray",
            "key": str(key),
            "dtype": array.dtype.str,
            "shape": [int(n) for n in array.shape],
        }

    def _index(self, index: pd.Index, where: str) -> dict:
        record = {"type": "index", "name": self._scalar(index.name, f"{where}.name")}
        if type(index) is pd.RangeIndex:
            record.update(
                kind="range", start=int(index.start), stop=int(index.stop), step=int(index.step)
            )
            return record
        if isinstance(index, pd.MultiIndex):
            raise self._refuse(where, index, "a MultiIndex is not supported")
        dtype = index.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "biufcmM":
            values = index.to_numpy()
            record.update(kind="array", dtype=str(dtype), values=self._array(values, where))
            return record
        if dtype == np.dtype(object):
            record["dtype"] = "object"
        elif isinstance(dtype, pd.StringDtype):
            record["dtype"] = "string"
            record["storage"] = dtype.storage
            record["na_value"] = "NA" if dtype.na_value is pd.NA else "nan"
        else:
            raise self._refuse(where, index, f"an Index of dtype {dtype} is not supported")
        values = index.to_numpy(dtype=object)
        if all(type(v) is str for v in values):
            blobs = [v.encode("utf-8", "surrogatepass") for v in values]
            offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
            np.cumsum([len(b) for b in blobs], out=offsets[1:])
            data = np.frombuffer(b"".join(blobs), dtype=np.uint8)
            record.update(
                kind="strings",
                bytes=self._array(data, where),
                offsets=self._array(offsets, where),
            )
        else:
            record.update(
                kind="objects",
                values=[self._scalar(v, f"{where}[{i}]") for i, v in enumerate(values)],
            )
        return record

    def _scalar(self, value, where: str):
        """An id or a name: a JSON scalar (numpy scalars become Python ones)."""
        if isinstance(value, np.generic) and not value.dtype.hasobject:
            value = value.item()
        if value is None or type(value) in (bool, int, str, float) or value is pd.NA:
            return self.encode(value, where)
        raise self._refuse(where, value, "ids and index names must be str, int, float or None")

    def _sparse(self, matrix, where: str) -> dict:
        name = type(matrix).__name__
        if _SPARSE.get(name) is not type(matrix):
            raise self._refuse(where, matrix, "only CSR and CSC sparse arrays and matrices")
        return {
            "type": "sparse",
            "class": name,
            "shape": [int(n) for n in matrix.shape],
            "sorted_indices": bool(matrix.has_sorted_indices),
            "data": self.encode(matrix.data, f"{where}.data"),
            "indices": self.encode(matrix.indices, f"{where}.indices"),
            "indptr": self.encode(matrix.indptr, f"{where}.indptr"),
        }

    def _ratings(self, ratings: Ratings, where: str) -> dict:
        record = {"type": "ratings"}
        for slot in ("user_index", "item_index", "user_codes", "item_codes", "ratings"):
            record[slot] = self.encode(getattr(ratings, slot), f"{where}.{slot}")
        record["timestamps"] = self.encode(ratings.timestamps, f"{where}.timestamps")
        record["source"] = self.encode(ratings.source, f"{where}.source")
        record["csr"] = self.encode(ratings._csr, f"{where}.csr")
        record["csc"] = self.encode(ratings._csc, f"{where}.csc")
        return record

    def _keras(self, network, where: str) -> dict:
        member = f"keras/{len(self.keras)}.keras"
        self.keras.append((member, network))
        return {"type": "keras", "member": member}

    def _nested_model(self, model: Recommender, where: str) -> dict:
        return self.model(model, where)

    def model(self, model: Recommender, where: str) -> dict:
        cls = type(model)
        name = cls.__name__
        if MODELS.get(name) is not cls:
            raise self._refuse(
                where,
                model,
                "only the models registered in fastrec.models.MODELS can be saved "
                f"({', '.join(MODELS)})",
            )
        names = cls._param_names()
        params = {p: self.encode(getattr(model, p), f"{where}.{p}") for p in names}
        state = {
            key: self.encode(value, f"{where}.{key}")
            for key, value in vars(model).items()
            if key not in names
        }
        return {"type": "model", "class": name, "params": params, "state": state}


# ============================================================================== loading
def load_model(path: str | os.PathLike) -> Recommender:
    """Read a model written by :func:`save_model`; it predicts exactly as the saved one did.

    Nothing in the file can run code: arrays are read with ``allow_pickle=False``, the class
    is looked up by name in :data:`fastrec.models.MODELS` only, and Keras networks are loaded
    with ``safe_mode=True`` after their configuration is screened.

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        The file is not a fastrec model file (truncated, corrupt, another kind of zip or
        ``.npz``), has another format version, names a class this fastrec does not have, or
        holds an array that would need pickle; the message names the file and the problem.
    ImportError
        The model is a Keras one and TensorFlow (or a safe enough Keras) is not installed.
    fastrec.memory.InsufficientMemoryError
        Its arrays would not fit in the memory available.
    """
    where = os.fspath(path)
    try:
        zf = zipfile.ZipFile(where)
    except zipfile.BadZipFile as e:
        raise ValueError(
            f"{where} is not a fastrec model file: it is not a zip archive, or it is "
            f"truncated or corrupt ({e})"
        ) from None
    with zf:
        try:
            return _Decoder(zf, where).load()
        except (
            zipfile.BadZipFile,
            zlib.error,
            EOFError,
            struct.error,
            UnicodeDecodeError,
            RecursionError,
            OverflowError,
        ) as e:
            raise ValueError(
                f"{where}: corrupt fastrec model file ({type(e).__name__}: {e})"
            ) from e


class _Decoder:
    """Rebuilds a model from the manifest's typed tree and the archive's members."""

    def __init__(self, zf: zipfile.ZipFile, where: str):
        self.zf = zf
        self.where = where
        self._arrays: dict[str, np.ndarray] = {}
        self._refs: dict[int, object] = {}
        self._names = set(zf.namelist())

    def _bad(self, what: str) -> ValueError:
        return ValueError(f"{self.where}: {what}")

    # ---------------------------------------------------------------- manifest
    def load(self) -> Recommender:
        if MANIFEST not in self._names:
            members = sorted(self._names)
            shown = ", ".join(members[:5]) + (", ..." if len(members) > 5 else "")
            raise self._bad(
                f"not a fastrec model file: a zip archive (or .npz) without {MANIFEST} "
                f"(members: {shown or 'none'}); fastrec model files are written by "
                "fastrec.persistence.save_model"
            )
        info = self.zf.getinfo(MANIFEST)
        if info.file_size > _MAX_MANIFEST_BYTES:
            raise self._bad(f"its {MANIFEST} is {info.file_size:,} bytes: not a fastrec manifest")
        require(4 * info.file_size, f"reading the manifest of {self.where}", "free some memory")
        raw = self.zf.read(MANIFEST)
        try:
            manifest = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        except ValueError as e:
            raise self._bad(f"its {MANIFEST} is not valid JSON ({e})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            found = manifest.get("format") if isinstance(manifest, dict) else None
            raise self._bad(
                f"not a fastrec model file: {MANIFEST} has format {found!r}, expected {FORMAT!r}"
            )
        version = manifest.get("format_version")
        if version != FORMAT_VERSION or type(version) is not int:
            from . import __version__

            newer = type(version) is int and version > FORMAT_VERSION
            raise self._bad(
                f"format version {version!r} (written by fastrec "
                f"{manifest.get('fastrec_version')!r}); this fastrec ({__version__}) reads "
                f"format version {FORMAT_VERSION}"
                + ("; upgrade fastrec to load it" if newer else "")
            )
        name = manifest.get("class")
        if not isinstance(name, str) or name not in MODELS:
            raise self._bad(
                f"unknown model class {name!r}; this fastrec's models are: {', '.join(MODELS)}"
            )
        total = sum(i.file_size for i in self.zf.infolist() if i.filename.startswith("arrays/"))
        require(
            total,
            f"loading the {name} in {self.where} ({len(self._names)} members)",
            "load it on a machine with more memory",
        )
        from . import __version__

        if manifest.get("fastrec_version") != __version__:
            log.info(
                "%s was written by fastrec %s; this is fastrec %s",
                self.where,
                manifest.get("fastrec_version"),
                __version__,
            )
        model = self.model(manifest, name)
        log.info("loaded %s from %s", model.name, self.where)
        return model

    # -------------------------------------------------------------------- values
    def decode(self, value, where: str):
        t = type(value)
        if value is None or t in (bool, int, str, float):
            return value
        if t is not dict:
            raise self._bad(f"{where}: unexpected JSON {t.__name__} in the model's state")
        kind = value.get("type")
        if kind == "ref":
            ref = value.get("id")
            if type(ref) is not int or ref not in self._refs:
                raise self._bad(f"{where}: reference to an unknown object {ref!r}")
            return self._refs[ref]
        build = self._BUILD.get(kind) if isinstance(kind, str) else None
        if build is None:
            raise self._bad(f"{where}: unknown value type {kind!r}")
        try:
            result = build(self, value, where)
        except KeyError as e:
            raise self._bad(f"{where}: a {kind} record without {e}") from None
        if "id" in value:
            ref = value["id"]
            if type(ref) is not int or ref in self._refs:
                raise self._bad(f"{where}: bad or repeated object id {ref!r}")
            self._refs[ref] = result
        return result

    def _float(self, value: dict, where: str) -> float:
        text = value["value"]
        if text not in ("nan", "inf", "-inf"):
            raise self._bad(f"{where}: bad float {text!r}")
        return float(text)

    def _items(self, value: dict, where: str) -> list:
        items = value["items"]
        if type(items) is not list:
            raise self._bad(f"{where}: items must be a list")
        return items

    def _tuple(self, value: dict, where: str) -> tuple:
        return tuple(
            self.decode(v, f"{where}[{i}]") for i, v in enumerate(self._items(value, where))
        )

    def _list(self, value: dict, where: str) -> list:
        return [self.decode(v, f"{where}[{i}]") for i, v in enumerate(self._items(value, where))]

    def _dict(self, value: dict, where: str) -> dict:
        out = {}
        for pair in self._items(value, where):
            if type(pair) is not list or len(pair) != 2:
                raise self._bad(f"{where}: dict items must be [key, value] pairs")
            key = self.decode(pair[0], f"{where} (a key)")
            if not (key is None or type(key) in (bool, int, str, float) or _is_np_scalar(key)):
                raise self._bad(f"{where}: dict key of type {type(key).__name__}")
            out[key] = self.decode(pair[1], f"{where}[{key!r}]")
        return out

    def _na(self, value: dict, where: str):
        return pd.NA

    def _numpy_scalar(self, value: dict, where: str):
        array = self._ndarray(value["array"], where)
        if array.ndim != 0:
            raise self._bad(f"{where}: a numpy scalar must be a 0-d array, got shape {array.shape}")
        return array[()]

    def _ndarray(self, value: dict, where: str) -> np.ndarray:
        if type(value) is not dict or value.get("type") != "ndarray":
            raise self._bad(f"{where}: expected an ndarray record")
        key = value["key"]
        if type(key) is not str or not _ARRAY_KEY.fullmatch(key):
            raise self._bad(f"{where}: bad array key {key!r}")
        if key not in self._arrays:
            self._arrays[key] = self._read_array(f"arrays/{key}.npy", where)
        array = self._arrays[key]
        dtype, shape = value.get("dtype"), value.get("shape")
        if (dtype is not None and dtype != array.dtype.str) or (
            shape is not None and shape != list(array.shape)
        ):
            raise self._bad(
                f"{where}: the manifest says dtype {dtype} shape {shape}, the array member "
                f"holds dtype {array.dtype.str} shape {list(array.shape)}"
            )
        return array

    def _read_array(self, member: str, where: str) -> np.ndarray:
        if member not in self._names:
            raise self._bad(f"{where}: the array member {member} is missing")
        info = self.zf.getinfo(member)
        fmt = np.lib.format
        try:
            with self.zf.open(info) as f:
                version = fmt.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = fmt.read_array_header_1_0(f)
                elif version in ((2, 0), (3, 0)):
                    shape, fortran, dtype = fmt.read_array_header_2_0(f)
                else:
                    raise ValueError(f"unsupported .npy version {version}")
                header = f.tell()
            if dtype.hasobject:
                raise ValueError(
                    f"its dtype {dtype} holds Python objects, which would need pickle; "
                    "fastrec never writes such arrays and refuses to load them"
                )
            expected = math.prod(shape) * dtype.itemsize
            if expected != info.file_size - header:
                raise ValueError(
                    f"its header says {shape} {dtype} ({expected:,} bytes) but it holds "
                    f"{info.file_size - header:,} bytes of data"
                )
            with self.zf.open(info) as f:
                return fmt.read_array(f, allow_pickle=False)
        except ValueError as e:
            raise self._bad(f"{where}: array member {member}: {e}") from None

    def _index(self, value: dict, where: str) -> pd.Index:
        name = self.decode(value["name"], f"{where}.name")
        if not (name is None or type(name) in (bool, int, str, float)):
            raise self._bad(f"{where}: bad index name {name!r}")
        kind = value["kind"]
        if kind == "range":
            bounds = [value["start"], value["stop"], value["step"]]
            if any(type(b) is not int for b in bounds) or bounds[2] == 0:
                raise self._bad(f"{where}: bad RangeIndex {bounds}")
            return pd.RangeIndex(*bounds, name=name)
        dtype = value["dtype"]
        if kind == "array":
            values = self._ndarray(value["values"], where)
            if values.ndim != 1:
                raise self._bad(f"{where}: index values must be 1-d")
            index = pd.Index(values, name=name, copy=False)
            if str(index.dtype) != dtype:
                raise self._bad(f"{where}: index dtype {index.dtype}, the manifest says {dtype!r}")
            return index
        if kind == "strings":
            data = self._ndarray(value["bytes"], where)
            offsets = self._ndarray(value["offsets"], where)
            if (
                data.dtype != np.uint8
                or offsets.dtype != np.int64
                or data.ndim != 1
                or offsets.ndim != 1
                or len(offsets) == 0
                or offsets[0] != 0
                or offsets[-1] != len(data)
                or np.any(np.diff(offsets) < 0)
            ):
                raise self._bad(f"{where}: inconsistent string ids")
            blob = data.tobytes()
            items = [
                blob[a:b].decode("utf-8", "surrogatepass")
                for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)
            ]
        elif kind == "objects":
            raw = value["values"]
            if type(raw) is not list:
                raise self._bad(f"{where}: index values must be a list")
            items = [self.decode(v, f"{where}[{i}]") for i, v in enumerate(raw)]
            if not all(
                v is None or v is pd.NA or type(v) in (bool, int, str, float) for v in items
            ):
                raise self._bad(f"{where}: index values must be JSON scalars")
        else:
            raise self._bad(f"{where}: unknown index kind {kind!r}")
        values = np.empty(len(items), dtype=object)
        values[:] = items
        if dtype == "object":
            return pd.Index(values, dtype=object, name=name)
        if dtype == "string":
            storage, na = value["storage"], value["na_value"]
            if storage not in ("python", "pyarrow", "pyarrow_numpy") or na not in ("nan", "NA"):
                raise self._bad(f"{where}: bad string dtype ({storage!r}, {na!r})")
            return pd.Index(values, dtype=_string_dtype(storage, na), name=name)
        raise self._bad(f"{where}: unknown index dtype {dtype!r}")

    def _sparse(self, value: dict, where: str):
        cls = _SPARSE.get(value["class"]) if isinstance(value["class"], str) else None
        if cls is None:
            raise self._bad(f"{where}: unknown sparse class {value['class']!r}")
        shape = value["shape"]
        if (
            type(shape) is not list
            or len(shape) != 2
            or any(type(n) is not int or n < 0 for n in shape)
        ):
            raise self._bad(f"{where}: bad sparse shape {shape!r}")
        parts = {}
        for part in ("data", "indices", "indptr"):
            array = self.decode(value[part], f"{where}.{part}")
            if type(array) is not np.ndarray or array.ndim != 1:
                raise self._bad(f"{where}.{part}: expected a 1-d array")
            parts[part] = array
        data, indices, indptr = parts["data"], parts["indices"], parts["indptr"]
        if indices.dtype.kind not in "iu" or indptr.dtype.kind not in "iu":
            raise self._bad(f"{where}: sparse indices must be integers")
        try:
            matrix = cls((data, indices, indptr), shape=tuple(shape), copy=False)
            matrix.check_format(full_check=True)
        except (ValueError, TypeError, IndexError) as e:
            raise self._bad(f"{where}: inconsistent sparse {value['class']} ({e})") from None
        # scipy may pick another index dtype; keep the saved ones (same values, checked above).
        if matrix.indices.dtype != indices.dtype or matrix.indptr.dtype != indptr.dtype:
            matrix.indices, matrix.indptr = indices, indptr
        if value.get("sorted_indices") and not matrix.has_sorted_indices:
            raise self._bad(f"{where}: the sparse indices are not sorted, as the file claims")
        return matrix

    def _ratings(self, value: dict, where: str) -> Ratings:
        parts = {
            slot: self.decode(value[slot], f"{where}.{slot}")
            for slot in (
                "user_index",
                "item_index",
                "user_codes",
                "item_codes",
                "ratings",
                "timestamps",
                "source",
                "csr",
                "csc",
            )
        }
        for slot, n in (("user_codes", "user_index"), ("item_codes", "item_index")):
            codes, index = parts[slot], parts[n]
            if not isinstance(index, pd.Index) or type(codes) is not np.ndarray:
                raise self._bad(f"{where}: bad Ratings record")
            if len(codes) and (codes.min() < 0 or codes.max() >= len(index)):
                raise self._bad(f"{where}.{slot}: codes outside the id map")
        try:
            ratings = Ratings(
                parts["user_index"],
                parts["item_index"],
                parts["user_codes"],
                parts["item_codes"],
                parts["ratings"],
                parts["timestamps"],
                parts["source"],
            )
        except (ValueError, TypeError) as e:
            raise self._bad(f"{where}: bad Ratings record ({e})") from None
        shape = (ratings.n_users, ratings.n_items)
        for slot, fmt in (("csr", "csr"), ("csc", "csc")):
            matrix = parts[slot]
            if matrix is not None and (
                not sp.issparse(matrix) or matrix.format != fmt or matrix.shape != shape
            ):
                raise self._bad(f"{where}.{slot}: not a {fmt} matrix of shape {shape}")
        ratings._csr, ratings._csc = parts["csr"], parts["csc"]
        return ratings

    def _keras(self, value: dict, where: str):
        member = value["member"]
        if type(member) is not str or not _KERAS_MEMBER.fullmatch(member):
            raise self._bad(f"{where}: bad Keras member name {member!r}")
        if member not in self._names:
            raise self._bad(f"{where}: the Keras member {member} is missing")
        with tempfile.TemporaryDirectory(prefix="fastrec-keras-") as tmp:
            file = os.path.join(tmp, "network.keras")
            with self.zf.open(member) as src, open(file, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            self._screen_keras(file, member)  # before TensorFlow is even imported
            from .models.keras_models import _import_keras

            _, keras = _import_keras()
            found = tuple(int(p) for p in re.findall(r"[0-9]+", keras.__version__)[:2])
            if found < MIN_KERAS_VERSION:
                raise ImportError(
                    f"{self.where}: loading its Keras network safely needs keras >= "
                    f"{'.'.join(map(str, MIN_KERAS_VERSION))} (older versions have known "
                    f"safe_mode bypasses); installed: keras {keras.__version__}"
                )
            try:
                with _quiet_keras():
                    return keras.saving.load_model(file, safe_mode=True)
            except Exception as e:  # Keras' own loader: any failure means a bad member
                raise self._bad(f"Keras could not load its network {member}: {e}") from None

    def _screen_keras(self, file: str, member: str) -> None:
        """Refuse a network whose configuration names anything but Keras' own objects."""
        try:
            with zipfile.ZipFile(file) as network:
                config = json.loads(network.read("config.json"), parse_constant=_no_constant)
        except (zipfile.BadZipFile, KeyError, ValueError, zlib.error, EOFError) as e:
            raise self._bad(
                f"its Keras network {member} is not a valid .keras file ({e})"
            ) from None
        stack = [config]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                module = node.get("module")
                if module is not None and not (
                    isinstance(module, str) and (module == "keras" or module.startswith("keras."))
                ):
                    raise self._bad(
                        f"its Keras network {member} refers to the module {module!r}; "
                        "fastrec loads only Keras' own layers"
                    )
                if node.get("class_name") in _KERAS_CODE:
                    raise self._bad(
                        f"its Keras network {member} holds a {node['class_name']!r} (code, "
                        "not data); fastrec's networks never do, refusing to load it"
                    )
                registered = node.get("registered_name")
                if isinstance(registered, str) and ">" in registered:
                    raise self._bad(
                        f"its Keras network {member} needs the custom object {registered!r}"
                    )
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)

    def _model(self, value: dict, where: str) -> Recommender:
        name = value["class"]
        if not isinstance(name, str) or name not in MODELS:
            raise self._bad(
                f"{where}: unknown model class {name!r}; this fastrec's models are: "
                f"{', '.join(MODELS)}"
            )
        return self.model(value, where)

    def model(self, record: dict, where: str) -> Recommender:
        cls = MODELS[record["class"]]
        params, state = record.get("params"), record.get("state")
        if type(params) is not dict or type(state) is not dict:
            raise self._bad(f"{where}: a model record needs 'params' and 'state' objects")
        known = cls._param_names()
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise self._bad(
                f"{where}: parameters {unknown} are unknown to this fastrec's {cls.__name__} "
                f"(its parameters: {known}); was the file written by another fastrec version?"
            )
        kwargs = {k: self.decode(v, f"{where}.{k}") for k, v in params.items()}
        model = cls(**kwargs)
        for key, value in state.items():
            if not key.isidentifier() or key.startswith("__") or key in known:
                raise self._bad(f"{where}: bad state attribute name {key!r}")
            model.__dict__[key] = self.decode(value, f"{where}.{key}")
        if "user_index_" in state or where == record["class"]:  # the saved model, or fitted
            self._check(model, where)
        return model

    def _check(self, model: Recommender, where: str) -> None:
        """The base class's invariants, then the model's own ``_check_state()`` if any."""
        state = model.__dict__
        for side in ("user", "item"):
            index, counts = state.get(f"{side}_index_"), state.get(f"{side}_n_train_")
            if not isinstance(index, pd.Index) or type(counts) is not np.ndarray:
                raise self._bad(f"{where}: no {side}_index_ / {side}_n_train_: not a fitted model")
            if counts.shape != (len(index),) or counts.dtype.kind not in "iu":
                raise self._bad(
                    f"{where}.{side}_n_train_: shape {counts.shape} {counts.dtype} does not match "
                    f"the {len(index)} ids of {side}_index_"
                )
        bounds = state.get("rating_range_")
        if not (
            type(bounds) is tuple
            and len(bounds) == 2
            and all(type(b) is float for b in bounds)
            and bounds[0] <= bounds[1]
            and type(state.get("global_mean_")) is float
        ):
            raise self._bad(f"{where}: bad rating_range_ / global_mean_")
        check = getattr(model, "_check_state", None)
        if check is not None:
            try:
                check()
            except (ValueError, TypeError, IndexError, AttributeError, AssertionError) as e:
                raise self._bad(f"{where}: inconsistent fitted state ({e})") from None

    _BUILD = {
        "float": _float,
        "tuple": _tuple,
        "list": _list,
        "dict": _dict,
        "NA": _na,
        "numpy_scalar": _numpy_scalar,
        "ndarray": _ndarray,
        "index": _index,
        "sparse": _sparse,
        "ratings": _ratings,
        "keras": _keras,
        "model": _model,
    }


def _string_dtype(storage: str, na: str) -> pd.StringDtype:
    """The pandas string dtype of that storage and missing value, in this pandas."""
    if storage == "pyarrow_numpy":  # pandas 2.1-2.2's name of ("pyarrow", NaN)
        storage, na = "pyarrow", "nan"
    try:
        return pd.StringDtype(storage, na_value=np.nan if na == "nan" else pd.NA)
    except TypeError:  # pandas < 2.3 has no na_value; its string dtype is the NA one
        return pd.StringDtype(storage)


def _is_np_scalar(value) -> bool:
    return isinstance(value, np.generic) and not value.dtype.hasobject


def _no_constant(name: str):
    raise ValueError(f"{name} is not valid JSON (fastrec writes NaN and infinities as strings)")
