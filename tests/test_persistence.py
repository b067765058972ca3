"""Saving and loading fitted models (fastrec.persistence): round trips of every model, and a
clear error for every file that is not a fastrec model (no pickle anywhere)."""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import zipfile

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import fastrec
from fastrec.memory import InsufficientMemoryError
from fastrec.models import MODELS, Bias, NotFittedError, Recommender
from fastrec.persistence import FORMAT_VERSION, MANIFEST, load_model, save_model

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

_KERAS_FAST = {"max_epochs": 1, "n_factors": 4}
#: (model name, constructor arguments): every model in MODELS, several forms of the KNN ones.
CASES = [
    ("UserMean", {}),
    ("ItemMean", {}),
    ("UserItemMean", {}),
    ("UserKNN", {}),
    ("UserKNN", {"k": 5}),
    ("UserKNN", {"k": 5, "exact": False}),
    ("ItemKNN", {}),
    ("ItemKNN", {"k": 5, "keep": 8}),
    ("ItemKNN", {"k": 5, "exact": False}),
    ("SVD", {"n_factors": 8}),
    ("DotProduct", _KERAS_FAST),
    ("DotProductBias", _KERAS_FAST),
    ("NeuralNet", _KERAS_FAST),
    ("Bias", {}),
    ("BiasedMF", {"n_epochs": 5}),
    ("ALS", {"n_iter": 3}),
    ("SVDpp", {"n_epochs": 5}),
]


def _case(name, kwargs):
    marks = []
    missing = MODELS[name].missing_dependency()
    if missing is not None:
        marks.append(pytest.mark.skip(reason=missing))
    label = name + "".join(f"-{k}={v}" for k, v in kwargs.items() if kwargs is not _KERAS_FAST)
    return pytest.param(name, kwargs, id=label, marks=marks)


@pytest.fixture(scope="module")
def split():
    """60 users x 45 items, raw ids that are not codes; some test ids unknown to train."""
    rng = np.random.default_rng(3)
    keys = rng.choice(60 * 45, 900, replace=False)
    df = pd.DataFrame(
        {
            "userId": keys // 45 + 100,
            "movieId": keys % 45 + 5000,
            "rating": rng.integers(1, 11, 900) / 2.0,
            "timestamp": rng.integers(0, 10**9, 900),
        }
    )
    return fastrec.train_test_split(fastrec.Ratings.from_frame(df), test_size=0.25, seed=1)


@pytest.fixture(scope="module")
def bias(split):
    return Bias().fit(split[0])


def _queries(split):
    """The test pairs plus unknown users and items (raw ids), as two arrays."""
    test = split[1]
    users = np.concatenate([test.user_ids, [-7, 100, -7]])
    items = np.concatenate([test.item_ids, [5000, -9, -9]])
    return users, items


# ------------------------------------------------------------------ deep comparison
def assert_same(a, b, where="model"):
    """``b`` is a faithful copy of ``a``: same types, dtypes, values (NaN equal to NaN)."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a.dtype} {b.dtype}"
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, pd.Index):
        pd.testing.assert_index_equal(a, b, exact=True, obj=where)
    elif sp.issparse(a):
        assert a.shape == b.shape, where
        for part in ("data", "indices", "indptr"):
            assert_same(getattr(a, part), getattr(b, part), f"{where}.{part}")
        assert a.has_sorted_indices == b.has_sorted_indices, where
    elif isinstance(a, Recommender):
        assert a.get_params() == b.get_params(), where
        assert list(vars(a)) == list(vars(b)), where
        for key in vars(a):
            assert_same(vars(a)[key], vars(b)[key], f"{where}.{key}")
    elif isinstance(a, fastrec.Ratings):
        for slot in ("user_index", "item_index", "user_codes", "item_codes", "ratings"):
            assert_same(getattr(a, slot), getattr(b, slot), f"{where}.{slot}")
        assert_same(a.timestamps, b.timestamps, f"{where}.timestamps")
        assert_same(a._csr, b._csr, f"{where}._csr")
        assert_same(a._csc, b._csc, f"{where}._csc")
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif type(a).__module__.startswith("keras"):
        assert [w.shape for w in a.weights] == [w.shape for w in b.weights], where
        for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
            np.testing.assert_array_equal(x, y, err_msg=where)
    elif a is pd.NA:
        assert b is pd.NA, where
    elif isinstance(a, (float, np.floating)) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


# ------------------------------------------------------------------------ round trips
def test_every_registered_model_has_a_case():
    assert {name for name, _ in CASES} == set(MODELS)


@pytest.mark.parametrize(("name", "kwargs"), [_case(n, k) for n, k in CASES])
def test_round_trip_predicts_the_same(name, kwargs, split, tmp_path):
    train, test = split
    model = MODELS[name](**kwargs).fit(train)
    users, items = _queries(split)
    before = model.predict(users, items)
    path = save_model(model, tmp_path / "model.fastrec")
    assert path == tmp_path / "model.fastrec"
    assert sorted(os.listdir(tmp_path)) == ["model.fastrec"]  # no temporary file left

    loaded = load_model(path)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    assert_same(model, loaded)
    np.testing.assert_array_equal(loaded.predict(users, items), before)
    assert loaded.n_fallback_ == model.n_fallback_
    np.testing.assert_array_equal(loaded.predict(test), model.predict(test))
    if hasattr(model, "recommend"):  # top-N (issue 7, part 1) from the loaded state too
        user = train.user_ids[0]
        pd.testing.assert_frame_equal(loaded.recommend(user, n=5), model.recommend(user, n=5))
    if hasattr(model, "fallback_") and isinstance(model.fallback_, Recommender):
        # Objects shared in the saved model (the id maps of train) are shared again.
        assert (loaded.fallback_.user_index_ is loaded.user_index_) == (
            model.fallback_.user_index_ is model.user_index_
        )
    if hasattr(model, "keras_model_"):
        pairs = [test.user_codes[:20], test.item_codes[:20]]
        np.testing.assert_array_equal(
            np.asarray(loaded.keras_model_(pairs, training=False)),
            np.asarray(model.keras_model_(pairs, training=False)),
        )


def test_knn_lists_built_after_fit_round_trip(split, tmp_path):
    """k form, exact: the stored lists are built on first use and then coexist with the
    similarity input (both private) - the loaded model answers from the same state."""
    train, test = split
    model = fastrec.ItemKNN(k=3, keep=4).fit(train)
    model.similarity_  # noqa: B018  builds the deferred lists
    before = model.predict(test)
    loaded = load_model(save_model(model, tmp_path / "knn.fastrec"))
    assert loaded._similarity is not None and loaded._similarity_input is not None
    np.testing.assert_array_equal(loaded.predict(test), before)
    assert loaded.n_recomputed_ == model.n_recomputed_


def test_same_model_same_bytes(split, tmp_path):
    model = fastrec.UserKNN(k=5).fit(split[0])
    first = save_model(model, tmp_path / "a.fastrec").read_bytes()
    assert save_model(model, tmp_path / "b.fastrec").read_bytes() == first
    again = save_model(load_model(tmp_path / "a.fastrec"), tmp_path / "c.fastrec")
    assert again.read_bytes() == first


@pytest.mark.parametrize(
    ("users", "items"),
    [
        (["ann", "bob", "cy", "dee"], [1.5, 2.5, 3.5, 4.5]),  # pandas "str" ids, float ids
        (["ann", 7, "cy", 7], ["x", "y", "x", "z"]),  # mixed user ids: object Index
        (["a\x00b", "é", "日本", "a\x00"], [10, 20, 30, 40]),  # NULs (a trailing one), UTF-8
    ],
)
def test_raw_ids_of_every_kind_round_trip(users, items, tmp_path):
    df = pd.DataFrame({"userId": users, "movieId": items, "rating": [1.0, 2.0, 3.0, 4.0]})
    model = Bias().fit(fastrec.Ratings.from_frame(df))
    loaded = load_model(save_model(model, tmp_path / "ids.fastrec"))
    pd.testing.assert_index_equal(loaded.user_index_, model.user_index_, exact=True)
    pd.testing.assert_index_equal(loaded.item_index_, model.item_index_, exact=True)
    np.testing.assert_array_equal(loaded.predict(df), model.predict(df))


def test_every_supported_value_type_round_trips(split, tmp_path):
    train = split[0]
    model = Bias().fit(train)
    model.extra_ = {
        "nan": math.nan,
        "inf": (math.inf, -math.inf),
        np.int32(3): np.float32(1.5),
        2: [None, True, "s", 10**30, np.bool_(True), np.datetime64("2020-01-02")],
        "na": pd.NA,
        "range": pd.RangeIndex(2, 20, 3, name="r"),
        "string": pd.Index(["a", "b", None], dtype="string"),  # NA-valued strings
        "str": pd.Index(["a", None], dtype="str", name=7),
        "python_string": pd.Index(["é", "b"], dtype=pd.StringDtype("python")),
        "objects": pd.Index([1, "a", None, 2.5, True], dtype=object),
        "dates": pd.Index(np.array(["2020-01-01", "2021-06-30"], dtype="datetime64[ns]")),
        "csc": sp.csc_matrix(np.eye(3)),
        "empty": np.empty((0, 4), dtype=np.int16),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "record": np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]),
    }
    model.train_ = train  # a Ratings, with its CSR built
    train.csr  # noqa: B018
    model._private = (model.user_bias_, model.user_bias_)  # one array, referenced twice
    model.same_ = model.extra_["csc"]
    loaded = load_model(save_model(model, tmp_path / "types.fastrec"))
    assert_same(model, loaded)
    assert loaded._private[0] is loaded._private[1] is loaded.user_bias_
    assert loaded.same_ is loaded.extra_["csc"]
    assert loaded.train_.user_index is loaded.user_index_


def test_the_file_is_an_npz_and_compress_works(bias, tmp_path):
    plain = save_model(bias, tmp_path / "plain.fastrec")
    with np.load(plain, allow_pickle=False) as npz:
        arrays = [k for k in npz.files if k.startswith("arrays/")]
        assert arrays and all(isinstance(npz[k], np.ndarray) for k in arrays)
    manifest = json.loads(zipfile.ZipFile(plain).read(MANIFEST))
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["class"] == "Bias" and manifest["params"] == bias.get_params()
    assert manifest["fastrec_version"] == fastrec.__version__
    small = save_model(bias, tmp_path / "small.fastrec", compress=True)
    assert small.stat().st_size < plain.stat().st_size
    np.testing.assert_array_equal(load_model(small).user_bias_, bias.user_bias_)


# ------------------------------------------------------------------------ save errors
def test_save_refuses_unfitted_models_and_other_objects(bias, tmp_path):
    with pytest.raises(NotFittedError, match="Bias is not fitted"):
        save_model(Bias(), tmp_path / "m.fastrec")
    with pytest.raises(TypeError, match="fitted fastrec model"):
        save_model({"not": "a model"}, tmp_path / "m.fastrec")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_model(bias, tmp_path / "no" / "m.fastrec")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("extra_", object(), r"Bias: attribute Bias\.extra_ is a builtins\.object"),
        ("extra_", {"a": [1, len]}, r"Bias\.extra_\['a'\]\[1\] is a builtins\.builtin_func"),
        ("extra_", np.array([1, "a"], dtype=object), "need pickle"),
        ("_hidden", {(1, 2): 3}, r"Bias\._hidden \(the key \(1, 2\)\)"),
        ("extra_", pd.Index(pd.Categorical(["a"])), "Index of dtype category"),
        ("extra_", sp.coo_array(np.eye(2)), "only CSR and CSC"),
    ],
)
def test_save_names_the_attribute_it_cannot_store(bias, attribute, value, message, tmp_path):
    target = tmp_path / "m.fastrec"
    save_model(bias, target)
    good = target.read_bytes()
    setattr(bias, attribute, value)
    try:
        with pytest.raises(TypeError, match=message):
            save_model(bias, target)
    finally:
        delattr(bias, attribute)
    assert target.read_bytes() == good  # the previous file is untouched
    assert os.listdir(tmp_path) == ["m.fastrec"]


def test_save_refuses_cycles_and_unregistered_classes(split, tmp_path):
    model = Bias().fit(split[0])
    model.me_ = [model]
    with pytest.raises(TypeError, match=r"Bias\.me_\[0\].*contains itself"):
        save_model(model, tmp_path / "m.fastrec")

    class MyBias(Bias):
        pass

    with pytest.raises(TypeError, match="registered in fastrec.models.MODELS"):
        save_model(MyBias().fit(split[0]), tmp_path / "m.fastrec")
    assert os.listdir(tmp_path) == []


def test_a_failed_write_leaves_the_old_file(bias, tmp_path, monkeypatch):
    target = tmp_path / "m.fastrec"
    save_model(bias, target)
    good = target.read_bytes()
    calls = []

    def failing_write(f, array, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(f, array, **kwargs)

    real = np.lib.format.write_array
    monkeypatch.setattr(np.lib.format, "write_array", failing_write)
    with pytest.raises(OSError, match="disk full"):
        save_model(bias, target)
    assert target.read_bytes() == good
    assert os.listdir(tmp_path) == ["m.fastrec"]


# ------------------------------------------------------------------------ load errors
def _rewrite(src, dst, *, manifest=None, replace=None, drop=()):
    """Copy the archive ``src`` to ``dst``, editing the manifest (a function of the parsed
    JSON) and replacing (name -> bytes) or dropping members."""
    replace = dict(replace or {})
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            if name in drop:
                continue
            data = zin.read(name)
            if name == MANIFEST and manifest is not None:
                data = json.dumps(manifest(json.loads(data))).encode()
            zout.writestr(name, replace.pop(name, data))
        for name, data in replace.items():
            zout.writestr(name, data)
    return dst


def _npy(array, allow_pickle=False) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array(out, array, allow_pickle=allow_pickle)
    return out.getvalue()


@pytest.fixture
def saved(bias, tmp_path):
    return save_model(bias, tmp_path / "good.fastrec")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nothing.fastrec")


@pytest.mark.parametrize("cut", [0, 3, 100, 0.5, -30, -1])
def test_truncated_file(saved, cut, tmp_path):
    data = saved.read_bytes()
    cut = int(len(data) * cut) if isinstance(cut, float) else cut
    bad = tmp_path / "cut.fastrec"
    bad.write_bytes(data[:cut])
    with pytest.raises(ValueError, match=rf"{bad}.*(not a zip archive|corrupt)"):
        load_model(bad)


@pytest.mark.parametrize("seed", range(3))
def test_random_bytes(seed, tmp_path):
    bad = tmp_path / "random.fastrec"
    bad.write_bytes(np.random.default_rng(seed).bytes(5000))
    with pytest.raises(ValueError, match=rf"{bad} is not a fastrec model file"):
        load_model(bad)


def test_corrupt_bytes_inside_a_member(saved, tmp_path):
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as zf:
        info = zf.getinfo("arrays/2.npy")
    data[info.header_offset + 30 + len(info.filename) + 130] ^= 0xFF  # in the array data
    bad = tmp_path / "flipped.fastrec"
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"{bad}: corrupt fastrec model file.*CRC"):
        load_model(bad)


def test_foreign_zip_and_npz(tmp_path):
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match=rf"{foreign}: not a fastrec model file.*readme\.txt"):
        load_model(foreign)
    npz = tmp_path / "arrays.npz"
    np.savez(npz, a=np.arange(3), b=np.ones(2))
    with pytest.raises(ValueError, match=rf"{npz}: not a fastrec model file.*a\.npy, b\.npy"):
        load_model(npz)
    text = tmp_path / "ratings.csv"
    text.write_text("userId,movieId,rating\n1,2,3.0\n")
    with pytest.raises(ValueError, match=rf"{text} is not a fastrec model file"):
        load_model(text)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda m: {**m, "format_version": 2},
            "format version 2 .*reads format version 1; upgrade",
        ),
        (lambda m: {**m, "format_version": "1"}, "format version '1'"),
        (lambda m: {**m, "format": "other"}, "not a fastrec model file: .*format 'other'"),
        (lambda m: [m], "not a fastrec model file"),
        (lambda m: {**m, "class": "os.system"}, "unknown model class 'os.system'.*UserMean"),
        (lambda m: {**m, "params": {**m["params"], "evil": 1}}, r"parameters \['evil'\]"),
        (lambda m: {**m, "state": {**m["state"], "__class__": 1}}, "bad state attribute"),
        (lambda m: {**m, "state": {**m["state"], "x_": {"type": "pickle"}}}, "unknown value type"),
        (lambda m: {**m, "state": {**m["state"], "x_": [1]}}, "unexpected JSON list"),
        (lambda m: {**m, "state": {**m["state"], "x_": {"type": "ref", "id": 99}}}, "unknown obj"),
        (
            lambda m: {**m, "state": {**m["state"], "x_": {"type": "ndarray", "key": "77"}}},
            "arrays/77.npy is missing",
        ),
        (
            lambda m: {**m, "state": {**m["state"], "x_": {"type": "ndarray", "key": "../x"}}},
            "bad array key",
        ),
        (
            lambda m: {**m, "state": {**m["state"], "rating_range_": 3.0}},
            "bad rating_range_",
        ),
        (
            lambda m: {**m, "state": {**m["state"], "x_": {"type": "keras", "member": "/etc/x"}}},
            "bad Keras member name",
        ),
    ],
)
def test_bad_manifests(saved, edit, message, tmp_path):
    bad = _rewrite(saved, tmp_path / "bad.fastrec", manifest=edit)
    with pytest.raises(ValueError, match=rf"{bad}: .*{message}"):
        load_model(bad)


def test_manifest_that_is_not_json(saved, tmp_path):
    bad = _rewrite(saved, tmp_path / "bad.fastrec", replace={MANIFEST: b"{not json"})
    with pytest.raises(ValueError, match=rf"{bad}: its fastrec.json is not valid JSON"):
        load_model(bad)


def test_array_that_needs_pickle_is_refused_unread(saved, tmp_path, monkeypatch):
    evil = np.array([{"a": 1}, None], dtype=object)
    bad = _rewrite(saved, tmp_path / "pickle.fastrec", replace={"arrays/0.npy": _npy(evil, True)})
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("pickle.load was called"))
    with pytest.raises(ValueError, match=rf"{bad}: .*arrays/0\.npy: .*need pickle"):
        load_model(bad)


def test_array_whose_header_lies_about_its_size(saved, tmp_path):
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        out, {"descr": "<f8", "fortran_order": False, "shape": (10**9,)}
    )
    header = out.getvalue()  # magic and header: claims 8 GB, holds nothing
    bad = _rewrite(saved, tmp_path / "big.fastrec", replace={"arrays/2.npy": header})
    with pytest.raises(ValueError, match=rf"{bad}: .*arrays/2\.npy: its header says"):
        load_model(bad)


def test_array_that_does_not_match_the_manifest(saved, tmp_path):
    bad = _rewrite(saved, tmp_path / "dtype.fastrec", replace={"arrays/2.npy": _npy(np.zeros(3))})
    with pytest.raises(ValueError, match=rf"{bad}: .*the manifest says dtype"):
        load_model(bad)


def test_sparse_indices_out_of_bounds(split, tmp_path):
    model = Bias().fit(split[0])
    model.m_ = sp.csr_array(np.eye(3))
    good = save_model(model, tmp_path / "sparse.fastrec")
    manifest = json.loads(zipfile.ZipFile(good).read(MANIFEST))
    key = manifest["state"]["m_"]["indices"]["key"]
    indices = np.array([0, 1, 7], dtype=model.m_.indices.dtype)
    bad = _rewrite(good, tmp_path / "bad.fastrec", replace={f"arrays/{key}.npy": _npy(indices)})
    with pytest.raises(ValueError, match=rf"{bad}: .*inconsistent sparse csr_array"):
        load_model(bad)


def test_memory_guard_before_reading(saved, monkeypatch):
    monkeypatch.setenv("FASTREC_MEMORY_LIMIT", "2K")
    with pytest.raises(InsufficientMemoryError, match=str(saved)):
        load_model(saved)


@pytest.fixture(scope="module")
def keras_file(split, tmp_path_factory):
    if MODELS["DotProduct"].missing_dependency() is not None:
        pytest.skip("TensorFlow is not installed")
    model = MODELS["DotProduct"](**_KERAS_FAST).fit(split[0])
    return save_model(model, tmp_path_factory.mktemp("keras") / "dot.fastrec")


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"module": "os", "class_name": "system"}, "refers to the module 'os'"),
        ({"module": "keras.layers", "class_name": "Lambda"}, "holds a 'Lambda'"),
        ({"module": "keras.models", "class_name": "function"}, "holds a 'function'"),
        ({"registered_name": "evil>Layer"}, "needs the custom object 'evil>Layer'"),
    ],
)
def test_keras_network_that_names_code_is_refused(keras_file, patch, message, tmp_path):
    good = keras_file
    with zipfile.ZipFile(good) as zf:
        network = zf.read("keras/0.keras")
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(network)) as zin, zipfile.ZipFile(buffer, "w") as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name == "config.json":
                config = json.loads(data)
                config["config"]["layers"][-1].update(patch)
                data = json.dumps(config).encode()
            zout.writestr(name, data)
    bad = _rewrite(good, tmp_path / "bad.fastrec", replace={"keras/0.keras": buffer.getvalue()})
    with pytest.raises(ValueError, match=rf"{bad}: its Keras network keras/0\.keras {message}"):
        load_model(bad)


def test_any_damaged_manifest_gives_a_value_error_or_a_model(split, tmp_path):
    """Replace one value of the manifest's tree at a time by junk: the load either succeeds
    (e.g. another float) or raises ValueError, never another exception."""
    model = fastrec.UserKNN(k=5).fit(split[0])
    model.fallback_ = fastrec.SVD(n_factors=3).fit(split[0])
    model.extra_ = {"a": (1.5, math.nan), "s": pd.Index(["x", "y"]), "o": pd.Index(["x", 1])}
    good = save_model(model, tmp_path / "good.fastrec")
    with zipfile.ZipFile(good) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    manifest = json.loads(members[MANIFEST])

    def paths(node, path=()):
        yield path
        if isinstance(node, (dict, list)):
            for key, child in node.items() if isinstance(node, dict) else enumerate(node):
                yield from paths(child, (*path, key))

    every = list(paths(manifest))
    rng = np.random.default_rng(0)
    junk = [None, -1, 2**70, 1.5, "0", [1], {}, {"type": "ref", "id": 0}, True]
    bad = tmp_path / "bad.fastrec"
    for i in rng.choice(len(every), 30, replace=False):
        for value in junk:
            edited = json.loads(members[MANIFEST])
            *parents, last = every[i] or (None,)
            node = edited
            for key in parents:
                node = node[key]
            if last is None:
                edited = value
            else:
                node[last] = value
            with zipfile.ZipFile(bad, "w") as zf:
                for name, data in members.items():
                    zf.writestr(name, json.dumps(edited) if name == MANIFEST else data)
            try:
                load_model(bad)
            except ValueError as e:
                assert str(bad) in str(e)


def test_keras_member_that_is_not_a_keras_file(keras_file, tmp_path):
    bad = _rewrite(keras_file, tmp_path / "bad.fastrec", replace={"keras/0.keras": b"junk" * 9})
    with pytest.raises(
        ValueError, match=rf"{bad}: its Keras network keras/0\.keras is not a valid"
    ):
        load_model(bad)
    with (
        zipfile.ZipFile(keras_file) as zf,
        zipfile.ZipFile(io.BytesIO(zf.read("keras/0.keras"))) as k,
    ):
        members = {name: k.read(name) for name in k.namelist()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zout:
        for name, data in members.items():
            zout.writestr(name, b"not hdf5" if name.endswith(".h5") else data)
    bad = _rewrite(
        keras_file, tmp_path / "bad2.fastrec", replace={"keras/0.keras": buffer.getvalue()}
    )
    with pytest.raises(
        ValueError, match=rf"{bad}: Keras could not load its network keras/0\.keras"
    ):
        load_model(bad)


def test_model_save_method_and_top_level_load(tmp_path):
    ratings = fastrec.datasets.synthetic("ml-100k", seed=4)
    train, test = fastrec.train_test_split(ratings, seed=1)
    model = fastrec.BiasedMF(n_epochs=2).fit(train)
    path = model.save(tmp_path / "mf.fastrec")
    loaded = fastrec.load_model(path)
    np.testing.assert_array_equal(loaded.predict(test), model.predict(test))
    pd.testing.assert_frame_equal(loaded.recommend_all(n=5), model.recommend_all(n=5))
    with pytest.raises(fastrec.NotFittedError):
        fastrec.Bias().save(tmp_path / "unfitted.fastrec")
