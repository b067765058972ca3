"""Saving and loading fitted models in one file, without pickle.

A model declares its fitted state (``Recommender.state_attributes()``); this module writes
exactly that, and the model rebuilds what is derived after loading (``_rebuild``). The file
(``.fastrec`` by convention) is a zip archive and a valid ``.npz``: ``fastrec.json`` (format,
``format_version`` 2, the writers' versions, and ``model``: ``class``, ``params``,
``state``), ``arrays/<n>.npy`` (each array once, even where the model and its fallback share
it) and ``keras/<n>.keras`` (:mod:`fastrec.keras_files`). A state value is a JSON scalar or a
record with a ``type``: ``float`` (NaN, infinities), ``scalar`` (numpy), ``list``, ``tuple``,
``dict``, ``ndarray``, ``csr``, ``index`` (:class:`pandas.Index`), ``model`` (nested, e.g.
the fallback) or ``keras``; anything else is a ``TypeError`` naming the attribute, raised
before anything is written.

Safety: no pickle (``allow_pickle=False``, object arrays refused), no module named by the
file is imported (classes come from the registry :mod:`fastrec.models` fills), and the
manifest, array headers against member sizes, total size against free memory, sparse indices,
the declared state and the base invariants are checked: a bad file raises ``ValueError``
naming the file. Format version 1 files (fastrec 0.1 saved every attribute) are refused
with a message naming the version. Writes are atomic (a temporary file, then a rename).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._version import __version__
from .errors import NotFittedError
from .keras_files import read_network, write_network
from .memory import require

log = logging.getLogger(__name__)

__all__ = ["save_model", "load_model", "register", "FORMAT", "FORMAT_VERSION", "EXTENSION"]

FORMAT = "fastrec-model"
FORMAT_VERSION = 2
EXTENSION = ".fastrec"
MANIFEST = "fastrec.json"
_DATE = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: the same model gives the same bytes
_MEMBER = re.compile(r"(arrays/[0-9]+\.npy|keras/[0-9]+\.keras)")

#: The model classes a file may name, by class name (filled by :mod:`fastrec.models`).
_CLASSES: dict[str, type] = {}


def register(*classes: type) -> None:
    """Allow :func:`load_model` to build these model classes (looked up by ``__name__``)."""
    for cls in classes:
        _CLASSES[cls.__name__] = cls


# ====================================================================== saving
def save_model(model, path: str | os.PathLike, *, compress: bool = False) -> Path:
    """Write a fitted ``model`` (a registered fastrec model) to ``path``, replacing it.

    ``compress`` deflates the members (smaller, slower). Returns ``path`` as a Path.
    Raises ``NotFittedError`` before ``fit``, ``TypeError`` for an unregistered class or a
    state value this format cannot hold (nothing is written), ``FileNotFoundError`` when
    the directory does not exist.
    """
    name = type(model).__name__
    if _CLASSES.get(name) is not type(model):
        raise TypeError(
            f"save_model: {type(model).__module__}.{type(model).__qualname__} is not a model "
            "registered in fastrec.models.MODELS"
        )
    if not hasattr(model, "user_index_"):
        raise NotFittedError(f"{name} is not fitted yet; call fit(train) before saving it")
    writer = _Writer()
    record = writer.model(model, name)  # every TypeError is raised here, before any write
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fastrec_version": __version__,
        "numpy_version": np.__version__,
        "model": record,
    }
    if writer.networks:
        manifest["keras_version"] = sys.modules["keras"].__version__
    text = json.dumps(manifest, allow_nan=False, indent=1, ensure_ascii=False)
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"cannot save {name} to {path}: directory {path.parent} does not exist"
        )
    how = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", compression=how, allowZip64=True) as zf:
                zf.writestr(_info(MANIFEST, how), text.encode("utf-8"))
                for member, array in writer.arrays:
                    with zf.open(_info(member, how), "w", force_zip64=True) as f:
                        np.lib.format.write_array(f, array, allow_pickle=False)
                for member, network in writer.networks:
                    write_network(zf, _info(member, how), network)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # what open() would have given the file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    log.info("saved %s to %s (%d arrays)", model.name, path, len(writer.arrays))
    return path


def _info(name: str, how: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_DATE)
    info.compress_type, info.external_attr = how, 0o644 << 16
    return info


class _Writer:
    """Turns declared state into manifest values, collecting arrays and networks."""

    def __init__(self):
        self.arrays: list[tuple[str, np.ndarray]] = []
        self.networks: list[tuple[str, object]] = []
        self._written: dict[int, tuple] = {}  # id(array or index) -> (it, member or record)

    def model(self, model, where: str) -> dict:
        state = {}
        for attr in type(model).state_attributes():
            if not hasattr(model, attr):
                raise TypeError(f"cannot save {where}: its declared state {attr} is not set")
            state[attr] = self.value(getattr(model, attr), f"{where}.{attr}")
        params = {k: self.value(v, f"{where}({k}=...)") for k, v in model.get_params().items()}
        return {"class": type(model).__name__, "params": params, "state": state}

    def value(self, v, where: str):
        if v is None or type(v) in (bool, int, str):
            return v
        if type(v) is float:
            return v if math.isfinite(v) else {"type": "float", "value": repr(v)}
        if isinstance(v, np.generic) and v.dtype.kind in "biuf":
            return {"type": "scalar", "dtype": v.dtype.str, "value": v.item()}
        if type(v) in (list, tuple):
            return {"type": type(v).__name__, "items": [self.value(x, where) for x in v]}
        if type(v) is dict and all(type(k) is str for k in v):
            return {
                "type": "dict",
                "items": {k: self.value(x, f"{where}[{k!r}]") for k, x in v.items()},
            }
        if isinstance(v, np.ndarray):
            return self._array(v, where)
        if isinstance(v, sp.csr_array | sp.csr_matrix):
            parts = {k: self._array(getattr(v, k), where) for k in ("data", "indices", "indptr")}
            return {"type": "csr", "shape": list(v.shape), **parts}
        if isinstance(v, pd.Index):
            return self._index(v, where)
        if type(v).__name__ in _CLASSES and _CLASSES[type(v).__name__] is type(v):
            if not hasattr(v, "user_index_"):  # unfitted: a parameter (Blend's models)
                params = {k: self.value(x, f"{where}({k}=...)") for k, x in v.get_params().items()}
                return {"type": "model", "class": type(v).__name__, "params": params, "state": None}
            return {"type": "model", **self.model(v, where)}
        keras = sys.modules.get("keras")
        if keras is not None and isinstance(v, keras.Model):
            member = f"keras/{len(self.networks)}.keras"
            self.networks.append((member, v))
            return {"type": "keras", "member": member}
        raise TypeError(
            f"cannot save {where}: a {type(v).__name__} is not a value this format holds"
        )

    def _array(self, array: np.ndarray, where: str) -> dict:
        if array.dtype.hasobject:
            raise TypeError(f"cannot save {where}: an array of Python objects would need pickle")
        seen = self._written.get(id(array))
        if seen is None or seen[0] is not array:
            seen = (array, f"arrays/{len(self.arrays)}.npy")
            self._written[id(array)] = seen
            self.arrays.append((seen[1], array))
        return {"type": "ndarray", "member": seen[1]}

    def _index(self, index: pd.Index, where: str) -> dict:
        seen = self._written.get(id(index))
        if seen is not None and seen[0] is index:  # the model's and its fallback's id maps
            return seen[1]
        record = {"type": "index", "dtype": str(index.dtype)}
        record["name"] = index.name if isinstance(index.name, str) else None
        values = index.to_numpy()
        if values.dtype.kind in "biuf":
            record["values"] = self._array(values, where)
        elif all(isinstance(x, str) for x in values):  # UTF-8 bytes and offsets, exact
            encoded = [x.encode("utf-8") for x in values]
            offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
            np.cumsum([len(b) for b in encoded], out=offsets[1:])
            record["utf8"] = self._array(np.frombuffer(b"".join(encoded), np.uint8), where)
            record["offsets"] = self._array(offsets, where)
        else:
            raise TypeError(f"cannot save {where}: ids must be all numbers or all strings")
        self._written[id(index)] = (index, record)
        return record


# ===================================================================== loading
def load_model(path: str | os.PathLike):
    """Read a model written by :func:`save_model`; it predicts exactly as the saved one did.

    Raises ``FileNotFoundError``; ``ValueError`` for a file that is not a fastrec model, is
    corrupt, has another format version or names an unknown class (the message names the
    file); ``ImportError`` for a Keras model without a safe enough Keras;
    ``InsufficientMemoryError`` when its arrays would not fit.
    """
    where = os.fspath(path)
    try:
        zf = zipfile.ZipFile(where)
    except zipfile.BadZipFile as e:
        raise ValueError(f"{where} is not a fastrec model file: not a zip archive ({e})") from None
    with zf:
        try:
            return _Reader(zf, where).load()
        except (zipfile.BadZipFile, zlib.error, EOFError, UnicodeDecodeError, RecursionError,
                OverflowError, KeyError, TypeError, AttributeError, IndexError) as e:  # fmt: skip
            raise ValueError(
                f"{where}: corrupt fastrec model file ({type(e).__name__}: {e})"
            ) from e


class _Reader:
    def __init__(self, zf: zipfile.ZipFile, where: str):
        self.zf, self.where = zf, where
        self.names = set(zf.namelist())
        self.arrays: dict[str, np.ndarray] = {}
        self.indexes: dict[str, pd.Index] = {}

    def bad(self, what: str) -> ValueError:
        return ValueError(f"{self.where}: {what}")

    def load(self):
        if MANIFEST not in self.names:
            raise self.bad(f"not a fastrec model file: a zip archive without {MANIFEST}")
        if self.zf.getinfo(MANIFEST).file_size > 1 << 30:
            raise self.bad(f"its {MANIFEST} is too large to be a fastrec manifest")
        try:
            manifest = json.loads(self.zf.read(MANIFEST), parse_constant=_no_constant)
        except ValueError as e:
            raise self.bad(f"its {MANIFEST} is not valid JSON ({e})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise self.bad(f"not a fastrec model file: {MANIFEST} has no format {FORMAT!r}")
        version = manifest.get("format_version")
        if version != FORMAT_VERSION or type(version) is not int:
            hint = (
                "; upgrade fastrec to load it"
                if type(version) is int and version > FORMAT_VERSION
                else "; fit the model again and save it with this fastrec"
            )
            raise self.bad(
                f"format version {version!r} (written by fastrec "
                f"{manifest.get('fastrec_version')!r}); this fastrec ({__version__}) reads "
                f"format version {FORMAT_VERSION}{hint}"
            )
        total = sum(i.file_size for i in self.zf.infolist() if i.filename.startswith("arrays/"))
        require(total, f"loading {self.where}", "load it on a machine with more memory")
        record = manifest.get("model")
        if not isinstance(record, dict):
            raise self.bad("its manifest has no model record")
        if "state" in record and record["state"] is None:
            raise self.bad("its manifest's model record is of an unfitted model")
        model = self.model(record, str(record.get("class")))
        log.info("loaded %s from %s", model.name, self.where)
        return model

    def model(self, record: dict, where: str):
        cls = _CLASSES.get(record.get("class"))
        if cls is None:
            raise self.bad(
                f"unknown model class {record.get('class')!r}; known: {', '.join(_CLASSES)}"
            )
        params, state = record.get("params"), record.get("state", ())
        if type(params) is not dict or not (type(state) is dict or state is None):
            raise self.bad(f"{where}: a model record needs 'params' and 'state' objects")
        try:
            model = cls(**{k: self.value(v, f"{where}.{k}") for k, v in params.items()})
            model.validate_params()
        except (TypeError, ValueError) as e:
            raise self.bad(
                f"{where}: parameters this fastrec's {cls.__name__} refuses ({e})"
            ) from None
        if state is None:  # an unfitted model: a parameter of another (Blend's models)
            return model
        declared = cls.state_attributes()
        if set(state) != set(declared):
            missing, extra = sorted(set(declared) - set(state)), sorted(set(state) - set(declared))
            raise self.bad(
                f"{where}: state does not match {cls.__name__}'s declared state "
                f"(missing {missing}, unexpected {extra})"
            )
        outer, self.owner = getattr(self, "owner", None), cls  # whose Keras networks these are
        for attr in declared:
            setattr(model, attr, self.value(state[attr], f"{where}.{attr}"))
        self.owner = outer
        try:
            model._check_base_state()
            model._rebuild()
        except (ValueError, TypeError, IndexError, AttributeError) as e:
            raise self.bad(f"{where}: inconsistent fitted state ({e})") from None
        return model

    def value(self, v, where: str):
        if v is None or type(v) in (bool, int, str, float):
            return v
        if type(v) is not dict or not isinstance(v.get("type"), str):
            raise self.bad(f"{where}: unexpected value {str(v)[:60]!r}")
        kind = v["type"]
        if kind == "float":
            return float(v["value"])
        if kind == "scalar":
            return np.dtype(v["dtype"]).type(v["value"])
        if kind in ("list", "tuple"):
            items = [self.value(x, where) for x in v["items"]]
            return items if kind == "list" else tuple(items)
        if kind == "dict":
            if type(v["items"]) is not dict:
                raise self.bad(f"{where}: a dict record needs an 'items' object")
            return {k: self.value(x, f"{where}[{k!r}]") for k, x in v["items"].items()}
        if kind == "ndarray":
            return self.array(v["member"], where)
        if kind == "csr":
            return self.csr(v, where)
        if kind == "index":
            return self.index(v, where)
        if kind == "model":
            return self.model(v, f"{where}")
        if kind == "keras":
            return self.network(v["member"], where)
        raise self.bad(f"{where}: unknown value type {kind!r}")

    def index(self, v: dict, where: str) -> pd.Index:
        """The id map; one object for every record of the same members (model, fallback)."""
        key = str([v.get(k) for k in ("values", "utf8", "offsets", "dtype", "name")])
        if key not in self.indexes:
            if "values" in v:
                values = self.value(v["values"], where)
            else:
                blob, ends = self.value(v["utf8"], where), self.value(v["offsets"], where)
                if blob.dtype != np.uint8 or ends.ndim != 1 or ends[-1] != len(blob):
                    raise self.bad(f"{where}: inconsistent string ids")
                raw = blob.tobytes()
                values = np.array(
                    [raw[a:b].decode("utf-8") for a, b in zip(ends[:-1], ends[1:], strict=True)],
                    dtype=object,
                )
            dtype = None if v["dtype"] == "object" else v["dtype"]
            try:
                self.indexes[key] = pd.Index(values, dtype=dtype, name=v["name"])
            except (TypeError, ValueError, NotImplementedError) as e:
                raise self.bad(f"{where}: bad id map ({e})") from None
        return self.indexes[key]

    def array(self, member: str, where: str) -> np.ndarray:
        if member in self.arrays:
            return self.arrays[member]
        if not isinstance(member, str) or not _MEMBER.fullmatch(member) or member not in self.names:
            raise self.bad(f"{where}: the array member {member!r} is missing")
        info, fmt = self.zf.getinfo(member), np.lib.format
        try:
            with self.zf.open(info) as f:
                version = fmt.read_magic(f)
                read_header = (
                    fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
                )
                shape, _, dtype = read_header(f)
                header = f.tell()
            if dtype.hasobject:
                raise ValueError(f"dtype {dtype} holds Python objects, which would need pickle")
            if math.prod(shape) * dtype.itemsize != info.file_size - header:
                raise ValueError(f"its header says {shape} {dtype}, not its size")
            with self.zf.open(info) as f:
                self.arrays[member] = fmt.read_array(f, allow_pickle=False)
        except ValueError as e:
            raise self.bad(f"{where}: array member {member}: {e}") from None
        return self.arrays[member]

    def csr(self, v: dict, where: str) -> sp.csr_array:
        data, indices, indptr = (self.value(v[k], where) for k in ("data", "indices", "indptr"))
        n_rows, n_cols = v["shape"]
        ok = indptr.ndim == indices.ndim == data.ndim == 1 and len(indptr) == n_rows + 1
        ok = ok and len(indices) == len(data) == indptr[-1] and bool(np.all(np.diff(indptr) >= 0))
        if not ok or (len(indices) and (indices.min() < 0 or indices.max() >= n_cols)):
            raise self.bad(f"{where}: inconsistent sparse matrix of shape {v['shape']}")
        matrix = sp.csr_array((data, indices, indptr), shape=(n_rows, n_cols))
        matrix.has_sorted_indices = True  # written from sorted matrices; kernels rely on it
        return matrix

    def network(self, member: str, where: str):
        if not isinstance(member, str) or not _MEMBER.fullmatch(member) or member not in self.names:
            raise self.bad(f"{where}: the Keras member {member!r} is missing")
        return read_network(self.zf, member, self.owner.keras_module, self.where)


def _no_constant(name: str):
    raise ValueError(f"{name} is not valid JSON (fastrec writes NaN and infinities as strings)")
