"""fastmlp.save / fastmlp.load: round trips, continued training, devices, and
files that are truncated, corrupted, tampered with or not fastmlp's at all."""

import copy
import io
import json
import os
import pickle
import subprocess
import sys
import warnings
import zipfile

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier

import fastmlp
from fastmlp import MLPClassifier, MLPRegressor

from io_helpers import KINDS, assert_same_model, assert_views_of_one_vector, fitted
from optional import optional


def saved(model, tmp_path, name="model.fastmlp"):
    path = tmp_path / name
    fastmlp.save(model, path)
    return path


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn(*args, **kwargs)


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_predicts_bitwise_and_keeps_every_attribute(kind, tmp_path):
    model, X, y = fitted(kind)
    loaded = fastmlp.load(saved(model, tmp_path))
    assert_same_model(model, loaded)
    assert_views_of_one_vector(loaded)
    assert all(a.flags.writeable and a.flags.aligned for a in loaded.coefs_)
    for method in ("predict", "predict_proba", "predict_log_proba"):
        if hasattr(model, method):
            with np.errstate(divide="ignore"):  # log of probabilities that round to 0
                expected, got = getattr(model, method)(X), getattr(loaded, method)(X)
            assert got.dtype == expected.dtype
            assert np.array_equal(got, expected)
    assert loaded.score(X, y) == model.score(X, y)
    # a loaded model is an ordinary estimator: it pickles and clones
    assert np.array_equal(pickle.loads(pickle.dumps(loaded)).predict(X), model.predict(X))
    assert clone(loaded).get_params()["max_iter"] == model.max_iter


@pytest.mark.parametrize("kind", [k for k in KINDS if "lbfgs" not in k
                                  and "early-stopping" not in k])
def test_partial_fit_after_load_gives_the_same_next_weights(kind, tmp_path):
    model, X, y = fitted(kind)
    loaded = fastmlp.load(saved(model, tmp_path))
    original = copy.deepcopy(model)
    for _ in range(2):
        quiet(original.partial_fit, X, y)
        quiet(loaded.partial_fit, X, y)
    assert_same_model(original, loaded)
    assert np.array_equal(loaded.predict(X), original.predict(X))


@pytest.mark.parametrize("kind", ["multiclass-str-sgd", "multiclass-early-stopping",
                                  "regressor-poisson-randomstate", "regressor-lbfgs"])
def test_warm_start_after_load_continues_as_the_original(kind, tmp_path):
    model, X, y = fitted(kind)
    loaded = fastmlp.load(saved(model, tmp_path))
    original = copy.deepcopy(model)
    for est in (original, loaded):
        est.set_params(warm_start=True, max_iter=3)
        quiet(est.fit, X, y)
    assert_same_model(original, loaded)


@pytest.mark.parametrize("multilabel", [False, True])
def test_partial_fit_classifier_round_trip(multilabel, tmp_path):
    X = np.random.default_rng(0).standard_normal((40, 4))
    if multilabel:
        y, classes = (X[:, :3] > 0).astype(int), [0, 1, 2]
    else:
        y, classes = np.arange(40) % 3 + 10, [10, 11, 12, 13]  # class 13 not seen yet
    model = MLPClassifier((5,), solver="sgd", random_state=0)
    quiet(model.partial_fit, X, y, classes=classes)
    loaded = fastmlp.load(saved(model, tmp_path))
    assert_same_model(model, loaded)
    for est in (model, loaded):
        quiet(est.partial_fit, X, y)
    assert_same_model(model, loaded)


def test_feature_names_and_object_labels_round_trip(tmp_path):
    pd = optional("pandas")
    X = pd.DataFrame(np.random.default_rng(0).standard_normal((40, 3)),
                     columns=["height", "width", "depth"])
    y = pd.Series(np.where(X["height"] > 0, "tall", "short"), dtype=object)
    model = quiet(MLPClassifier((4,), max_iter=5, random_state=0).fit, X, y)
    # labels kept as Python strings (object dtype) come back as such
    model.classes_ = model._label_binarizer.classes_ = model.classes_.astype(object)
    loaded = fastmlp.load(saved(model, tmp_path))
    assert_same_model(model, loaded)
    assert loaded.feature_names_in_.dtype == object and loaded.classes_.dtype == object
    assert np.array_equal(loaded.predict(X), model.predict(X))
    with pytest.warns(UserWarning, match="feature names"):
        loaded.predict(X.to_numpy())  # still knows it was fitted with names


def test_file_objects_and_deterministic_bytes(tmp_path):
    model, X, _ = fitted("binary-adam")
    first, second = io.BytesIO(), io.BytesIO()
    fastmlp.save(model, first)
    fastmlp.save(model, second)
    assert first.getvalue() == second.getvalue()
    assert saved(model, tmp_path).read_bytes() == first.getvalue()
    first.seek(0)
    assert np.array_equal(fastmlp.load(first).predict_proba(X), model.predict_proba(X))
    with pytest.raises(ValueError, match=r"^cannot load a fastmlp model: not a fastmlp"):
        fastmlp.load(io.BytesIO(b"nothing"))


def test_saved_file_has_the_usual_permissions(tmp_path):
    model, _, _ = fitted("binary-adam")
    umask = os.umask(0o022)
    try:
        path = saved(model, tmp_path)
    finally:
        os.umask(umask)
    assert (path.stat().st_mode & 0o777) == 0o644
    assert os.listdir(tmp_path) == [path.name]


@pytest.mark.skipif(not hasattr(os, "symlink") or os.name == "nt", reason="POSIX file modes")
def test_save_keeps_the_mode_and_the_link_of_what_it_replaces(tmp_path):
    model, X, _ = fitted("binary-adam")
    private = tmp_path / "private.fastmlp"
    private.write_bytes(b"old")
    private.chmod(0o600)
    fastmlp.save(model, private)
    assert (private.stat().st_mode & 0o777) == 0o600
    target = tmp_path / "models" / "current.fastmlp"
    target.parent.mkdir()
    target.write_bytes(b"old")
    link = tmp_path / "link.fastmlp"
    link.symlink_to(target)
    fastmlp.save(model, link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    np.testing.assert_array_equal(fastmlp.load(target).predict(X), model.predict(X))
    assert sorted(os.listdir(target.parent)) == ["current.fastmlp"]  # no temporary left


def test_save_flushes_data_and_folder_and_cleans_up_on_ctrl_c(tmp_path, monkeypatch):
    model, _, _ = fitted("binary-adam")
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    path = saved(model, tmp_path)
    assert len(synced) >= 2  # the new file's data, then the folder's entry
    before = path.read_bytes()

    def interrupted(f, members):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(fastmlp.io, "_write_zip", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fastmlp.save(model, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == [path.name]


def test_file_holds_plain_arrays_only(tmp_path):
    model, _, _ = fitted("multiclass-str-sgd")
    path = saved(model, tmp_path)
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    assert all(not a.dtype.hasobject for a in arrays.values())
    header = json.loads(arrays["header"].tobytes())
    assert header["format"] == "fastmlp-model" and header["format_version"] == 1
    assert header["estimator"] == "MLPClassifier"
    assert arrays["classes"].tolist() == ["cat", "dog", "emu"]


def test_loading_never_unpickles(tmp_path, monkeypatch):
    model, X, _ = fitted("multiclass-str-sgd")
    path = saved(model, tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("pickle used while loading")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    assert np.array_equal(fastmlp.load(path).predict(X), model.predict(X))


# ------------------------------------------------------------------ devices
def test_cpu_file_loads_with_another_device(tmp_path):
    model, X, _ = fitted("multiclass-str-sgd")
    path = saved(model, tmp_path)
    loaded = fastmlp.load(path, device="cuda")
    assert loaded.device == "cuda"
    assert_same_model(model, loaded, skip={"device"})
    # and the other way: a model saved with device='cuda' loads as a CPU model
    model_cuda = copy.deepcopy(model).set_params(device="cuda")
    back = fastmlp.load(saved(model_cuda, tmp_path, "cuda.fastmlp"), device="cpu")
    assert back.device == "cpu"
    assert np.array_equal(back.predict_proba(X), model.predict_proba(X))
    assert fastmlp.load(saved(model_cuda, tmp_path, "cuda2.fastmlp")).device == "cuda"
    with pytest.raises(ValueError, match="'device' parameter"):
        fastmlp.load(path, device="tpu")


# ------------------------------------------------------------------ saving
def test_save_refuses_what_it_cannot_store(tmp_path):
    with pytest.raises(NotFittedError):
        fastmlp.save(MLPClassifier(), tmp_path / "a")
    with pytest.raises(TypeError, match="fastmlp MLPClassifier or MLPRegressor"):
        fastmlp.save(SklearnMLPClassifier(), tmp_path / "a")
    X = np.random.default_rng(0).standard_normal((30, 2))
    y = np.array([(1, 2), "x", 3.5] * 10, dtype=object)
    model = quiet(MLPClassifier((3,), max_iter=2).fit, X, [str(v) for v in y])
    model.classes_ = model._label_binarizer.classes_ = np.array([(1, 2), "x", 3.5],
                                                                dtype=object)
    target = tmp_path / "existing.fastmlp"
    target.write_bytes(b"keep me")
    with pytest.raises(ValueError, match="classes_ holds Python objects of type"):
        fastmlp.save(model, target)
    assert target.read_bytes() == b"keep me"
    assert os.listdir(tmp_path) == ["existing.fastmlp"]  # no temporary file left
    model.set_params(random_state=np.random.default_rng(0))
    with pytest.raises(ValueError, match="hyperparameter 'random_state' holds a Generator"):
        fastmlp.save(model, target)


def test_import_fastmlp_does_not_import_the_io_module():
    code = ("import sys, fastmlp; assert 'fastmlp.io' not in sys.modules; "
            "fastmlp.save; assert 'fastmlp.io' in sys.modules; from fastmlp import load")
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------ bad files
def read_members(path):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    return json.loads(arrays.pop("header").tobytes()), arrays


def write_members(path, header, arrays, writer=np.savez):
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        writer(f, header=np.frombuffer(text, dtype=np.uint8), **arrays)


def tamper(change):
    """A corruption that edits the decoded header / arrays and rewrites the file
    (with valid CRC-32s)."""
    def corrupt(good, bad):
        header, arrays = read_members(good)
        change(header, arrays)
        write_members(bad, header, arrays)
    return corrupt


def raw(change):
    """A corruption of the file's bytes."""
    def corrupt(good, bad):
        bad.write_bytes(change(good.read_bytes()))
    return corrupt


def flip_params_byte(data):
    data = bytearray(data)
    start = data.index(b"params.npy") + 200  # inside the parameter data
    data[start] ^= 0xFF
    return bytes(data)


def flip_header_byte(data):
    data = bytearray(data)
    start = data.index(b'"alpha":') + 9  # a digit of a hyperparameter
    data[start] = ord("7") if data[start] != ord("7") else ord("3")
    return bytes(data)


def lying_npy_header(good, bad):
    """params.npy whose header claims 10**12 values: must not be allocated."""
    header, arrays = read_members(good)
    params = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        params, {"descr": np.lib.format.dtype_to_descr(arrays["params"].dtype),
                 "fortran_order": False, "shape": (10 ** 12,)})
    params.write(arrays["params"].tobytes())
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("header.npy", _npy(np.frombuffer(json.dumps(header).encode(),
                                                          dtype=np.uint8)))
        for name, arr in arrays.items():
            archive.writestr(name + ".npy", params.getvalue() if name == "params" else _npy(arr))


def _npy(arr):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, arr)
    return buffer.getvalue()


def set_in(section, key, value):
    def change(header, arrays):
        (header[section] if section else header)[key] = value
    return change


def drop(where, key):
    def change(header, arrays):
        del (header if where == "header" else header[where] if where != "arrays"
             else arrays)[key]
    return change


def with_array(key, fn):
    def change(header, arrays):
        arrays[key] = fn(arrays[key])
    return change


def nan_weight(params):
    params = params.copy()
    params[3] = np.nan
    return params


BAD_FILES = {
    "garbage bytes": (raw(lambda d: b"\x00\x01 definitely not a model" * 50),
                      "not a zip / .npz archive"),
    "empty file": (raw(lambda d: b""), "not a zip / .npz archive"),
    "truncated": (raw(lambda d: d[: len(d) // 2]), "not a zip / .npz archive, or truncated"),
    "truncated tail": (raw(lambda d: d[:-30]), "not a zip / .npz archive, or truncated"),
    "flipped byte": (raw(flip_params_byte), "entry 'params.npy' is corrupted"),
    "flipped header byte": (raw(flip_header_byte),
                            r"entry 'header.npy' is corrupted \(CRC-32 mismatch\)"),
    "pickle file": (raw(lambda d: pickle.dumps({"format": "fastmlp-model"})),
                    "not a zip / .npz archive"),
    "other npz": (lambda good, bad: np.savez(bad.open("wb"), x=np.arange(3)),
                  "no header.npy entry"),
    "object array": (lambda good, bad: np.savez(
        bad.open("wb"), header=np.frombuffer(b"{}", np.uint8),
        classes=np.array([{"a": 1}], dtype=object)), "has dtype object"),
    "compressed": (lambda good, bad: write_members(bad, *read_members(good),
                                                   writer=np.savez_compressed),
                   "is compressed"),
    "lying .npy header": (lying_npy_header, "data bytes but its shape"),
    "header not json": (lambda good, bad: np.savez(
        bad.open("wb"), header=np.frombuffer(b"{oops", np.uint8)), "not valid JSON"),
    "other format": (tamper(set_in(None, "format", "keras")), "header field 'format'"),
    "newer version": (tamper(set_in(None, "format_version", 2)),
                      "format version 2, written by a newer fastmlp"),
    "unknown estimator": (tamper(set_in(None, "estimator", "os.system")),
                          "header field 'estimator' must be one of"),
    "params wrong shape": (tamper(with_array("params", lambda p: p[:-1])),
                           r"array 'params' must have shape \(\d+,\), got \(\d+,\)"),
    "params wrong dtype": (tamper(with_array("params", lambda p: p.astype(np.float16))),
                           "array 'params' must have dtype float32 or float64, got float16"),
    "params big-endian": (tamper(with_array("params", lambda p: p.astype(">f8"))),
                          "array 'params' must have dtype"),
    "params as text": (tamper(with_array("params", lambda p: p.astype(str))),
                       "array 'params' must have dtype"),
    "nan weight": (tamper(with_array("params", nan_weight)),
                   "array 'params' contains NaN or infinite values"),
    "missing params": (tamper(drop("arrays", "params")), "array 'params' is missing"),
    "missing attribute": (tamper(drop("attributes", "n_features_in_")),
                          "fitted attribute 'n_features_in_' is missing"),
    "missing hyperparameter": (tamper(drop("params", "alpha")),
                               r"missing \['alpha'\]"),
    "unknown activation": (tamper(set_in("network", "activation", "swish")),
                           "network.activation must be one of"),
    "unknown output activation": (tamper(set_in("network", "out_activation", "exp")),
                                  "network.out_activation must be one of"),
    "invalid hyperparameter": (tamper(set_in("params", "alpha", -1.0)),
                               "invalid hyperparameter: The 'alpha' parameter"),
    "hyperparameter of unknown type": (tamper(set_in("params", "alpha", {"eval": "1"})),
                                       "hyperparameter 'alpha' has a value"),
    "inconsistent n_features_in_": (tamper(set_in("attributes", "n_features_in_", 9)),
                                    "'n_features_in_' is 9 but the network says 5"),
    "count not an integer": (tamper(set_in("attributes", "t_", 1.5)),
                             "fitted attribute 't_' must be an integer"),
    "class missing": (tamper(with_array("classes", lambda c: c[:2])),
                      r"2 multiclass class\(es\) need 2 output\(s\), but the network has 3"),
    "duplicate classes": (tamper(with_array("classes", lambda c: c[[0, 0, 1]])),
                          "array 'classes' must hold distinct labels"),
    "bad label type": (tamper(set_in("labels", "y_type", "continuous")),
                       "labels.y_type must be one of"),
    "optimizer state shape": (tamper(with_array("optimizer_state", lambda s: s[:, :-1])),
                              "array 'optimizer_state' must have shape"),
    "optimizer unknown solver": (tamper(set_in("optimizer", "solver", "lion")),
                                 "optimizer.solver must be one of"),
    "unknown array": (tamper(lambda h, a: a.update(extra=np.zeros(2))),
                      r"unknown array\(s\) \['extra'\]"),
    "unknown header field": (tamper(set_in(None, "code", "import os")),
                             r"unknown header field\(s\) \['code'\]"),
    "feature names of wrong length": (tamper(lambda h, a: a.update(
        feature_names=np.array(["a", "b"]))), "array 'feature_names' must hold 5 strings"),
}


@pytest.fixture(scope="module")
def good_model():
    return fitted("multiclass-str-sgd")


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_file_raises_a_clear_value_error_and_touches_nothing(case, good_model, tmp_path):
    model, X, _ = good_model
    good = saved(model, tmp_path, "good.fastmlp")
    bad = tmp_path / "bad.fastmlp"
    corrupt, message = BAD_FILES[case]
    corrupt(good, bad)
    before = {p: p.read_bytes() for p in (good, bad)}
    model_before = pickle.dumps(model)
    modules_before = set(sys.modules)

    with pytest.raises(ValueError, match=message) as info:
        fastmlp.load(bad)
    assert str(info.value).startswith(f"cannot load a fastmlp model from {str(bad)!r}: ")
    assert {p: p.read_bytes() for p in (good, bad)} == before
    assert pickle.dumps(model) == model_before
    # nothing the file names is imported (zipfile loads a text codec lazily)
    new = {m for m in set(sys.modules) - modules_before if not m.startswith("encodings.")}
    assert new <= {"fastmlp.io"}
    assert sorted(os.listdir(tmp_path)) == ["bad.fastmlp", "good.fastmlp"]
    # the good file still loads
    assert np.array_equal(fastmlp.load(good).predict(X), model.predict(X))


def test_bad_files_cover_each_rule_once():
    assert len(BAD_FILES) >= 10
    assert len({message for _, message in BAD_FILES.values()}) >= 25


def swap_words(data, entry, first, second):
    """``data`` with the 8-byte words at ``first`` and ``second`` bytes past the
    ``.npy`` magic of ``entry`` swapped (a sum of the words would not change)."""
    data = bytearray(data)
    magic = data.index(b"\x93NUMPY", data.index(entry.encode()))
    a, b = magic + first, magic + second
    data[a:a + 8], data[b:b + 8] = data[b:b + 8], data[a:a + 8]
    return bytes(data)


def test_every_entry_is_checked_by_its_crc(tmp_path):
    """Swapped words in a large entry, a flipped bit, and a stale entry written
    with a valid zip but another array all fail the entry's CRC-32."""
    X = np.random.default_rng(0).standard_normal((30, 5))
    model = quiet(MLPRegressor(hidden_layer_sizes=(120, 120), max_iter=2).fit, X, X[:, 0])
    good = saved(model, tmp_path)
    data = good.read_bytes()
    for name, bad in (("params.npy", swap_words(data, "params.npy", 128, 928)),
                      ("optimizer_state.npy", swap_words(data, "optimizer_state.npy", 4096,
                                                         8192))):
        assert bad != data
        (tmp_path / "bad").write_bytes(bad)
        with pytest.raises(ValueError, match=rf"'{name}' is corrupted \(CRC-32 mismatch\)"):
            fastmlp.load(tmp_path / "bad")
    flipped = bytearray(data)
    flipped[flipped.index(b"optimizer_state.npy") + 1000] ^= 1
    (tmp_path / "flipped").write_bytes(flipped)
    with pytest.raises(ValueError, match=r"'optimizer_state.npy' is corrupted \(CRC-32"):
        fastmlp.load(tmp_path / "flipped")


def test_files_with_the_old_checksums_field_still_load(tmp_path):
    """Files of earlier versions list word sums of their large entries in the
    header; the CRC-32 of every entry is what is checked now."""
    model, X, _ = fitted("regressor-adam")
    header, arrays = read_members(saved(model, tmp_path))
    header["checksums"] = {"params": "0123456789abcdef"}
    write_members(tmp_path / "old", header, arrays)
    np.testing.assert_array_equal(fastmlp.load(tmp_path / "old").predict(X), model.predict(X))


def test_regressor_file_with_labels_is_refused(tmp_path):
    model, _, _ = fitted("regressor-adam")
    header, arrays = read_members(saved(model, tmp_path))
    header["labels"] = {"y_type": "binary"}
    write_members(tmp_path / "bad", header, arrays)
    with pytest.raises(ValueError, match="an MLPRegressor has no class labels"):
        fastmlp.load(tmp_path / "bad")


def test_missing_file_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastmlp.load(tmp_path / "nowhere.fastmlp")


def test_regressor_and_classifier_names_are_exported():
    assert fastmlp.save is fastmlp.io.save and fastmlp.load is fastmlp.io.load
    assert {"save", "load"} <= set(fastmlp.__all__)
    assert MLPRegressor.__name__ in fastmlp.io.skops_trusted_types()[1]
