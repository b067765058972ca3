"""Saving and loading fitted models (fastrec.persistence, format version 2): what a file
holds (the declared state only, each array once), and a clear error for every file that is
not a fastrec model (no pickle anywhere).

The round trip of every model with its default parameters (same parameters, state,
predictions, recommendations, and bytes when saved again) is in test_models_contract.py.
"""

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
from fastrec import persistence
from fastrec.memory import InsufficientMemoryError
from fastrec.models import MODELS, Bias, NotFittedError
from fastrec.persistence import FORMAT_VERSION, MANIFEST, load_model, save_model

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

_KERAS_FAST = {"max_epochs": 1, "n_factors": 4}


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
    """A fitted Bias shared by the tests that only save it (do not modify)."""
    return Bias().fit(split[0])


def _queries(split):
    """The test pairs plus unknown users and items (raw ids), as two arrays."""
    test = split[1]
    users = np.concatenate([test.user_ids, [-7, 100, -7]])
    items = np.concatenate([test.item_ids, [5000, -9, -9]])
    return users, items


def _manifest(path) -> dict:
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read(MANIFEST))


@pytest.fixture
def registry(monkeypatch):
    """``fastrec.persistence.register`` for this test only: the registry is restored after."""
    monkeypatch.setattr(persistence, "_CLASSES", dict(persistence._CLASSES))
    return persistence.register


class Extra(Bias):
    """A Bias with one more declared attribute, ``extra_``, to carry any value."""

    _fitted_state = (*Bias._fitted_state, "extra_")


# ------------------------------------------------------------------------ round trips
#: Forms other than the defaults (which the contract test saves and loads).
FORMS = [
    ("UserKNN", {"k": 5}),
    ("UserKNN", {"k": 5, "exact": False}),
    ("ItemKNN", {"k": 5, "keep": 8}),
    ("ItemKNN", {"k": 5, "exact": False}),
    ("SVD", {"n_factors": 8, "solver": "randomized"}),
    ("BiasedMF", {"n_epochs": 5, "n_blocks": 2}),
]


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [pytest.param(n, k, id=n + "".join(f"-{a}={v}" for a, v in k.items())) for n, k in FORMS],
)
def test_other_forms_round_trip(name, kwargs, split, tmp_path):
    train, test = split
    model = MODELS[name](**kwargs).fit(train)
    users, items = _queries(split)
    loaded = load_model(save_model(model, tmp_path / "model.fastrec"))
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    for a, b in zip(
        loaded.predict_with_fallback(users, items),
        model.predict_with_fallback(users, items),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(loaded.recommend_all(n=5), model.recommend_all(n=5))
    again = save_model(loaded, tmp_path / "again.fastrec")
    assert again.read_bytes() == (tmp_path / "model.fastrec").read_bytes()


@pytest.mark.parametrize(
    ("users", "items"),
    [
        ([3, 1, 2, 1], [10, 20, 30, 40]),  # integer ids
        (["ann", "bob", "cy", "dee"], [1.5, 2.5, 3.5, 4.5]),  # pandas "str" ids, float ids
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


def test_mixed_raw_ids_are_refused_before_writing(tmp_path):
    df = pd.DataFrame({"userId": ["ann", 7, "cy", 7], "movieId": [1, 2, 1, 3], "rating": 3.0})
    model = Bias().fit(fastrec.Ratings.from_frame(df))
    with pytest.raises(TypeError, match=r"Bias\.user_index_: ids must be all numbers or all str"):
        save_model(model, tmp_path / "mixed.fastrec")
    assert os.listdir(tmp_path) == []


def test_every_value_type_round_trips(split, registry, tmp_path):
    """Each type tag of format 2: JSON scalars, float (NaN, infinities), scalar, list,
    tuple, dict, ndarray, csr, index and model."""
    registry(Extra)
    model = Extra().fit(split[0])
    model.extra_ = {
        "json": [None, True, "s", 10**30, 1.5, -0.0],
        "float": (math.nan, math.inf, -math.inf),
        "scalar": [np.float32(1.5), np.int64(-3), np.uint8(7), np.bool_(True)],
        "nested": {"a": {"b": [(1, 2), []]}},
        "arrays": [
            np.empty((0, 4), dtype=np.int16),
            np.asfortranarray(np.arange(6.0).reshape(2, 3)),
            np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]),
            np.array([True, False]),
            np.arange(5, dtype=np.float32)[::2],  # not contiguous
        ],
        "csr": sp.csr_array(np.eye(3)),
        "index": [pd.Index([3, 1, 2], name="n"), pd.Index([0.5, 2.5]), pd.Index(["x", "é"])],
        "model": Bias(reg_user=1.0).fit(split[0]),
    }
    loaded = load_model(save_model(model, tmp_path / "types.fastrec"))
    got, want = loaded.extra_, model.extra_
    assert list(got) == list(want)
    assert got["json"] == want["json"] and type(got["json"]) is list
    assert math.isnan(got["float"][0]) and got["float"][1:] == (math.inf, -math.inf)
    assert type(got["float"]) is tuple
    for a, b in zip(got["scalar"], want["scalar"], strict=True):
        assert type(a) is type(b) and a == b
    assert got["nested"] == want["nested"] and type(got["nested"]["a"]["b"][0]) is tuple
    for a, b in zip(got["arrays"], want["arrays"], strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    assert got["arrays"][1].flags.f_contiguous
    assert isinstance(got["csr"], sp.csr_array) and got["csr"].has_sorted_indices
    np.testing.assert_array_equal(got["csr"].toarray(), np.eye(3))
    for a, b in zip(got["index"], want["index"], strict=True):
        pd.testing.assert_index_equal(a, b, exact=True)
    assert type(got["model"]) is Bias and got["model"].get_params() == {
        **Bias().get_params(),
        "reg_user": 1.0,
    }
    np.testing.assert_array_equal(got["model"].predict(split[1]), want["model"].predict(split[1]))


def test_only_the_declared_state_is_saved(split, tmp_path):
    model = Bias().fit(split[0])
    model.extra_ = object()  # not declared: neither saved nor an error
    model._cache = {1: len}
    path = save_model(model, tmp_path / "m.fastrec")
    assert set(_manifest(path)["model"]["state"]) == set(Bias.state_attributes())
    loaded = load_model(path)
    assert not hasattr(loaded, "extra_") and not hasattr(loaded, "_cache")
    assert set(vars(loaded)) == set(Bias.state_attributes()) | set(Bias().get_params())


def test_shared_arrays_are_written_once_and_shared_again(split, tmp_path):
    """The fallback_ shares its parent's id maps, counts and seen items: the file stores
    each of them once, and the loaded fallback_ shares the loaded parent's."""
    train, test = split
    model = fastrec.BiasedMF(n_epochs=2).fit(train)
    shared = ["user_index_", "item_index_", "user_n_train_", "item_n_train_"]
    shared += ["seen_indptr_", "seen_items_"]
    for attr in shared:
        assert getattr(model.fallback_, attr) is getattr(model, attr)
    path = save_model(model, tmp_path / "mf.fastrec")
    record = _manifest(path)["model"]
    inner = record["state"]["fallback_"]
    assert inner["type"] == "model" and inner["class"] == "Bias"
    for attr in shared:
        assert inner["state"][attr] == record["state"][attr], attr

    def members(node):
        if isinstance(node, dict):
            if node.get("type") == "ndarray":
                yield node["member"]
            for child in node.values():
                yield from members(child)
        elif isinstance(node, list):
            for child in node:
                yield from members(child)

    referenced = list(members(record))
    with zipfile.ZipFile(path) as zf:
        stored = [n for n in zf.namelist() if n.startswith("arrays/")]
    assert sorted(stored) == sorted(set(referenced))  # each array once
    assert len(referenced) > len(stored)  # ... though referenced twice

    loaded = load_model(path)
    for attr in shared:
        assert getattr(loaded.fallback_, attr) is getattr(loaded, attr), attr
    np.testing.assert_array_equal(loaded.predict(test), model.predict(test))


def test_the_file_is_an_npz_and_compress_works(bias, tmp_path):
    plain = save_model(bias, tmp_path / "plain.fastrec")
    with np.load(plain, allow_pickle=False) as npz:
        arrays = [k for k in npz.files if k.startswith("arrays/")]
        assert arrays and all(isinstance(npz[k], np.ndarray) for k in arrays)
    manifest = _manifest(plain)
    assert manifest["format"] == "fastrec-model"
    assert manifest["format_version"] == FORMAT_VERSION == 2
    assert manifest["model"]["class"] == "Bias"
    assert manifest["model"]["params"] == bias.get_params()
    assert manifest["fastrec_version"] == fastrec.__version__
    assert manifest["numpy_version"] == np.__version__
    small = save_model(bias, tmp_path / "small.fastrec", compress=True)
    assert small.stat().st_size < plain.stat().st_size
    np.testing.assert_array_equal(load_model(small).user_bias_, bias.user_bias_)


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


# ------------------------------------------------------------------------ save errors
def test_save_refuses_unfitted_models_and_other_objects(bias, tmp_path):
    with pytest.raises(NotFittedError, match="Bias is not fitted"):
        save_model(Bias(), tmp_path / "m.fastrec")
    with pytest.raises(TypeError, match="registered in fastrec.models.MODELS"):
        save_model({"not": "a model"}, tmp_path / "m.fastrec")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_model(bias, tmp_path / "no" / "m.fastrec")
    assert os.listdir(tmp_path) == []


def test_save_refuses_unregistered_classes(split, tmp_path):
    class MyBias(Bias):
        pass

    with pytest.raises(TypeError, match="MyBias is not a model registered in fastrec.models"):
        save_model(MyBias().fit(split[0]), tmp_path / "m.fastrec")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("user_bias_", object(), r"Bias\.user_bias_: a object is not a value"),
        ("user_bias_", {"a": [1, len]}, r"Bias\.user_bias_\['a'\]: a builtin_function"),
        ("user_bias_", np.array([1, "a"], dtype=object), r"Bias\.user_bias_: .*need pickle"),
        ("user_bias_", {(1, 2): 3}, r"Bias\.user_bias_: a dict is not a value"),
        ("user_bias_", sp.coo_array(np.eye(2)), r"Bias\.user_bias_: a coo_array"),
        ("user_bias_", np.datetime64("2020-01-02"), r"Bias\.user_bias_: a datetime64"),
        ("item_index_", pd.Index([1, "a"], dtype=object), "ids must be all numbers or all"),
    ],
)
def test_save_names_the_declared_attribute_it_cannot_store(
    split, attribute, value, message, tmp_path
):
    model = Bias().fit(split[0])
    target = tmp_path / "m.fastrec"
    save_model(model, target)
    good = target.read_bytes()
    setattr(model, attribute, value)
    with pytest.raises(TypeError, match=message):
        save_model(model, target)
    assert target.read_bytes() == good  # the previous file is untouched
    assert os.listdir(tmp_path) == ["m.fastrec"]


def test_save_names_a_declared_attribute_that_is_not_set(split, tmp_path):
    model = Bias().fit(split[0])
    del model.item_bias_
    with pytest.raises(TypeError, match="its declared state item_bias_ is not set"):
        save_model(model, tmp_path / "m.fastrec")
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
    assert len(calls) == 3
    assert target.read_bytes() == good
    assert os.listdir(tmp_path) == ["m.fastrec"]  # no temporary file left


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


def _state(edit):
    """A manifest edit of the model record's ``state`` (a function of the state dict)."""
    return lambda m: {**m, "model": {**m["model"], "state": edit(dict(m["model"]["state"]))}}


def _member_of(path, attr) -> str:
    return _manifest(path)["model"]["state"][attr]["member"]


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
    member = _member_of(saved, "user_n_train_")
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as zf:
        info = zf.getinfo(member)
    start = info.header_offset + 30 + len(info.filename)
    start += int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    data[start + info.compress_size - 1] ^= 0xFF  # the last byte of the array data
    bad = tmp_path / "flipped.fastrec"
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"{bad}: corrupt fastrec model file.*CRC"):
        load_model(bad)


def test_foreign_zip_and_npz(tmp_path):
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match=rf"{foreign}: not a fastrec model file.*{MANIFEST}"):
        load_model(foreign)
    npz = tmp_path / "arrays.npz"
    np.savez(npz, a=np.arange(3), b=np.ones(2))
    with pytest.raises(ValueError, match=rf"{npz}: not a fastrec model file.*{MANIFEST}"):
        load_model(npz)
    text = tmp_path / "ratings.csv"
    text.write_text("userId,movieId,rating\n1,2,3.0\n")
    with pytest.raises(ValueError, match=rf"{text} is not a fastrec model file"):
        load_model(text)


def _format_1(m):
    """The manifest as fastrec 0.1 wrote it: format version 1, the model at the top."""
    return {
        "format": m["format"],
        "format_version": 1,
        "fastrec_version": "0.1.0",
        "class": "Bias",
        "params": m["model"]["params"],
        "state": {},
    }


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_format_1, "format version 1 .*reads format version 2; fit the model again"),
        (lambda m: {**m, "format_version": 3}, "format version 3 .*version 2; upgrade"),
        (lambda m: {**m, "format_version": "2"}, "format version '2'"),
        (lambda m: {**m, "format_version": 2.0}, "format version 2.0"),
        (lambda m: {**m, "format": "other"}, "not a fastrec model file: .*format 'fastrec-mod"),
        (lambda m: [m], "not a fastrec model file"),
        (lambda m: {k: v for k, v in m.items() if k != "model"}, "has no model record"),
        (lambda m: {**m, "model": {**m["model"], "state": None}}, "of an unfitted model"),
        (
            lambda m: {**m, "model": {**m["model"], "class": "os.system"}},
            "unknown model class 'os.system'; known: UserMean",
        ),
        (
            lambda m: {**m, "model": {**m["model"], "class": "Recommender"}},
            "unknown model class 'Recommender'",
        ),
        (
            lambda m: {**m, "model": {**m["model"], "params": {"evil": 1}}},
            r"parameters this fastrec's Bias refuses .*evil",
        ),
        (
            lambda m: {**m, "model": {**m["model"], "params": {"n_iter": 0}}},
            r"refuses \(Bias: n_iter must be an integer >= 1, got 0\)",
        ),
        (
            lambda m: {**m, "model": {k: v for k, v in m["model"].items() if k != "state"}},
            "a model record needs 'params' and 'state' objects",
        ),
        (
            _state(lambda s: {k: v for k, v in s.items() if k != "item_bias_"}),
            r"state does not match Bias's declared state \(missing \['item_bias_'\], "
            r"unexpected \[\]\)",
        ),
        (
            _state(lambda s: {**s, "__class__": 1}),
            r"missing \[\], unexpected \['__class__'\]",
        ),
        (_state(lambda s: {**s, "user_bias_": {"type": "pickle"}}), "unknown value type 'pick"),
        (_state(lambda s: {**s, "user_bias_": {"type": "ref", "id": 0}}), "unknown value type"),
        (_state(lambda s: {**s, "user_bias_": [1]}), r"unexpected value '\[1\]'"),
        (
            _state(lambda s: {**s, "user_bias_": {"type": "ndarray", "member": "arrays/77.npy"}}),
            "the array member 'arrays/77.npy' is missing",
        ),
        (
            _state(lambda s: {**s, "user_bias_": {"type": "ndarray", "member": "../x.npy"}}),
            r"the array member '\.\./x\.npy' is missing",
        ),
        (
            _state(lambda s: {**s, "user_bias_": {"type": "ndarray", "member": MANIFEST}}),
            "the array member 'fastrec.json' is missing",
        ),
        (
            _state(lambda s: {**s, "rating_range_": {"type": "tuple", "items": [5.0, 1.0]}}),
            "bad rating_range_ / global_mean_",
        ),
        (_state(lambda s: {**s, "global_mean_": "3.5"}), "bad rating_range_ / global_mean_"),
        (
            _state(lambda s: {**s, "user_n_train_": s["item_n_train_"]}),
            "user_n_train_ does not match user_index_",
        ),
        (
            _state(lambda s: {**s, "seen_indptr_": s["user_n_train_"]}),
            "seen_indptr_ / seen_items_ do not fit the id maps",
        ),
        (
            _state(lambda s: {**s, "user_bias_": {"type": "keras", "member": "/etc/passwd"}}),
            "the Keras member '/etc/passwd' is missing",
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
    nan = _rewrite(saved, tmp_path / "nan.fastrec", replace={MANIFEST: b'{"format": NaN}'})
    with pytest.raises(ValueError, match=rf"{nan}: its fastrec.json is not valid JSON"):
        load_model(nan)


def test_array_that_needs_pickle_is_refused_unread(saved, tmp_path, monkeypatch):
    evil = np.array([{"a": 1}, None], dtype=object)
    member = _member_of(saved, "user_bias_")
    bad = _rewrite(saved, tmp_path / "pickle.fastrec", replace={member: _npy(evil, True)})
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("pickle.load was called"))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("pickle.loads was called"))
    with pytest.raises(ValueError, match=rf"{bad}: .*{member}: .*need pickle"):
        load_model(bad)


def test_array_whose_header_lies_about_its_size(saved, tmp_path):
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        out, {"descr": "<f8", "fortran_order": False, "shape": (10**9,)}
    )
    header = out.getvalue()  # magic and header: claims 8 GB, holds nothing
    member = _member_of(saved, "user_bias_")
    bad = _rewrite(saved, tmp_path / "big.fastrec", replace={member: header})
    with pytest.raises(ValueError, match=rf"{bad}: .*{member}: its header says"):
        load_model(bad)
    short = _npy(np.zeros(10))[:-8]  # a true header, one value missing
    bad = _rewrite(saved, tmp_path / "short.fastrec", replace={member: short})
    with pytest.raises(ValueError, match=rf"{bad}: .*{member}: its header says"):
        load_model(bad)


def test_array_that_does_not_fit_the_id_map(saved, tmp_path):
    member = _member_of(saved, "user_n_train_")
    bad = _rewrite(saved, tmp_path / "len.fastrec", replace={member: _npy(np.zeros(3, np.int64))})
    with pytest.raises(ValueError, match=rf"{bad}: .*user_n_train_ does not match user_index_"):
        load_model(bad)
    seen = _member_of(saved, "seen_items_")
    items = np.full(len(np.load(saved)[seen]), 10**6, dtype=np.int32)  # past the item id map
    bad = _rewrite(saved, tmp_path / "seen.fastrec", replace={seen: _npy(items)})
    with pytest.raises(ValueError, match=rf"{bad}: .*seen_items_ do not fit the id maps"):
        load_model(bad)


def test_sparse_indices_out_of_bounds(split, registry, tmp_path):
    registry(Extra)
    model = Extra().fit(split[0])
    model.extra_ = sp.csr_array(np.eye(3))
    good = save_model(model, tmp_path / "sparse.fastrec")
    member = _manifest(good)["model"]["state"]["extra_"]["indices"]["member"]
    indices = np.array([0, 1, 7], dtype=model.extra_.indices.dtype)
    bad = _rewrite(good, tmp_path / "bad.fastrec", replace={member: _npy(indices)})
    with pytest.raises(ValueError, match=rf"{bad}: .*inconsistent sparse matrix of shape"):
        load_model(bad)


def test_a_class_unknown_to_this_fastrec_is_refused(split, registry, tmp_path):
    registry(Extra)
    model = Extra().fit(split[0])
    model.extra_ = 1
    path = save_model(model, tmp_path / "extra.fastrec")
    persistence._CLASSES.pop("Extra")  # a file from a fastrec that had the class
    with pytest.raises(ValueError, match=rf"{path}: unknown model class 'Extra'"):
        load_model(path)


def test_memory_guard_before_reading(saved, monkeypatch):
    monkeypatch.setenv("FASTREC_MEMORY_LIMIT", "2K")
    with pytest.raises(InsufficientMemoryError, match=str(saved)):
        load_model(saved)


def test_any_damaged_manifest_gives_a_value_error_or_a_model(split, tmp_path):
    """Replace each value of the manifest's tree, one at a time, by junk: the load either
    succeeds (e.g. another float) or raises ValueError naming the file, never another
    exception."""
    model = fastrec.BiasedMF(n_epochs=2).fit(split[0])  # a nested Bias, a dict, tuples
    good = save_model(model, tmp_path / "good.fastrec")
    with zipfile.ZipFile(good) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    manifest = json.loads(members[MANIFEST])

    def paths(node, path=()):
        yield path
        if isinstance(node, (dict, list)):
            for key, child in node.items() if isinstance(node, dict) else enumerate(node):
                yield from paths(child, (*path, key))

    junk = [None, -1, 2**70, 1.5, "0", True, [], [1], [1.0, 0.0], {}]
    junk += [{"type": "model"}, {"type": "csr"}, {"type": "tuple", "items": [1]}]
    bad = tmp_path / "bad.fastrec"
    escaped = []
    for path in paths(manifest):
        for value in junk:
            edited = json.loads(members[MANIFEST])
            *parents, last = path or (None,)
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
                if str(bad) not in str(e):
                    escaped.append((path, value, f"ValueError: {e}"))
            except Exception as e:  # every other exception is collected, then reported
                escaped.append((path, value, f"{type(e).__name__}: {e}"))
    assert not escaped, "\n".join(map(str, escaped[:20]))


# ------------------------------------------------------------------------------ Keras
@pytest.fixture(scope="module")
def keras_file(split, tmp_path_factory):
    if MODELS["DotProduct"].missing_dependency() is not None:
        pytest.skip(MODELS["DotProduct"].missing_dependency())
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
