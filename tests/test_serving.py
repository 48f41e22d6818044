"""The lean prediction path (``estimators._serving``): after a prediction has
passed the full checks, later ones of the common case skip the checks that
cannot have changed -- and give bitwise the results of the full path, the same
errors, and notice every change to the model."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastmlp.estimators._base as base
from fastmlp import MLPClassifier, MLPRegressor, config
from fastmlp.estimators._serving import decode_classes

RNG = np.random.default_rng(3)
X = RNG.standard_normal((300, 6))
Y_CLF = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
Y_REG = np.c_[X[:, 0] - X[:, 2], X[:, 3]]


def fitted(Est=MLPClassifier, y=Y_CLF, dtype=np.float64, X_fit=X, **params):
    params = dict(dict(hidden_layer_sizes=(16, 8), max_iter=20, random_state=0), **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return Est(**params).fit(X_fit.astype(dtype) if isinstance(X_fit, np.ndarray)
                                 else X_fit, y)


@pytest.fixture
def full_checks(monkeypatch):
    """Counts the calls of the full path's ``validate_data``."""
    calls = []
    original = base.validate_data

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(base, "validate_data", counting)
    return calls


def methods(model):
    names = ["predict", "predict_proba", "predict_log_proba"]
    return [getattr(model, n) for n in names if hasattr(model, n)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("Est, y", [(MLPClassifier, Y_CLF), (MLPRegressor, Y_REG),
                                    (MLPClassifier, Y_CLF == 1)],
                         ids=["multiclass", "regressor", "binary"])
@pytest.mark.parametrize("rows", [1, 7, 64, 300])
def test_lean_path_equals_full_path(Est, y, dtype, rows, full_checks):
    model = fitted(Est, y, dtype)
    X_rows = X[:rows].astype(dtype)
    for method in methods(model):
        first = method(X_rows)  # the full path, recording the checks
        checked = len(full_checks)
        again = method(X_rows)  # the lean path
        assert len(full_checks) == checked, "the lean path ran validate_data"
        np.testing.assert_array_equal(again, first)
        assert again.dtype == first.dtype
        # the full path again, for an input it does not serve (read-only)
        read_only = X_rows.copy()
        read_only.flags.writeable = False
        np.testing.assert_array_equal(method(read_only), first)
        assert len(full_checks) == checked + 1
    if rows > 1:  # (R^2 of one row is undefined)
        assert model.score(X_rows, y[:rows]) == model.score(read_only, y[:rows])


@pytest.mark.parametrize("model_dtype, X_dtype", [(np.float32, np.float64),
                                                  (np.float64, np.float32)])
def test_other_float_dtype_converts_as_the_full_path(model_dtype, X_dtype, full_checks):
    model = fitted(dtype=model_dtype)
    X_rows = X[:5].astype(X_dtype)
    model.predict_proba(X_rows)
    checked = len(full_checks)
    lean = model.predict_proba(X_rows)
    assert len(full_checks) == checked
    full = model.predict_proba(X_rows.tolist() if X_dtype == np.float64 else X_rows.copy(order="F"))
    np.testing.assert_array_equal(lean, full)
    assert lean.dtype == np.float64


@pytest.mark.parametrize("layout", ["fortran", "strided", "read-only"])
def test_unusual_layouts_take_the_full_path(layout, full_checks):
    model = fitted()
    expected = model.predict_proba(X[:9])
    X_odd = {"fortran": np.asfortranarray(X[:9]),
             "strided": np.repeat(X[:9], 2, axis=1)[:, ::2],
             "read-only": X[:9].copy()}[layout]
    X_odd.flags.writeable = layout != "read-only"
    checked = len(full_checks)
    np.testing.assert_array_equal(model.predict_proba(X_odd), expected)
    assert len(full_checks) == checked + 1


@pytest.mark.parametrize("rows", [3, 300])
@pytest.mark.parametrize("bad, message", [(np.nan, "Input X contains NaN"),
                                          (np.inf, "Input X contains infinity")])
def test_non_finite_values_raise_after_the_checks_were_recorded(bad, message, rows):
    model = fitted()
    X_bad = X[:rows].copy()
    model.predict(X_bad)
    X_bad[rows - 1, 2] = bad
    for method in methods(model):
        with pytest.raises(ValueError, match=message):
            method(X_bad)


def test_wrong_width_raises_after_the_checks_were_recorded():
    model = fitted()
    model.predict(X[:3])
    with pytest.raises(ValueError, match="X has 5 features, but MLPClassifier is expecting 6"):
        model.predict(X[:3, :5])
    with pytest.raises(ValueError, match="Expected 2D array"):
        model.predict(X[0])


# ===================================================== the records go stale
def test_replaced_coefs_are_validated_again():
    model = fitted()
    model.predict_proba(X[:4])  # the checks are recorded
    coefs = [W.copy() for W in model.coefs_]
    coefs[0][:] = 0.5
    reference = fitted()
    reference.coefs_ = coefs
    model.coefs_ = [W.copy() for W in coefs]  # a new, valid list
    np.testing.assert_array_equal(model.predict_proba(X[:4]), reference.predict_proba(X[:4]))
    model.coefs_ = [model.coefs_[0], np.ones((9, 8)), model.coefs_[2]]  # does not chain
    with pytest.raises(ValueError, match=r"coefs_\[1\] must have shape \(16, n\)"):
        model.predict_proba(X[:4])


@pytest.mark.parametrize("edit, match", [
    (lambda m: m.coefs_.__setitem__(1, np.ones((9, 8))), r"coefs_\[1\] must have shape"),
    (lambda m: m.intercepts_.__setitem__(0, np.zeros(3)), r"intercepts_\[0\] must have shape"),
    (lambda m: m.intercepts_.pop(), r"intercepts_ must have one array per layer"),
    (lambda m: setattr(m.coefs_[2], "shape", (24, 1)), r"coefs_\[2\] must have shape"),
    (lambda m: setattr(m, "n_features_in_", 5), r"is expecting 5 features"),
], ids=["item-replaced", "intercept-replaced", "intercept-removed", "view-reshaped",
        "n_features_in_"])
def test_edits_in_place_are_noticed(edit, match):
    model = fitted()
    model.predict(X[:4])
    edit(model)
    for method in methods(model):
        with pytest.raises(ValueError, match=match):
            method(X[:4])


def test_values_edited_in_place_are_used():
    """coefs_ are the network's parameters: editing them changes predictions
    at once, on the lean path too."""
    model = fitted(MLPRegressor, Y_REG)
    model.predict(X[:4])
    model.intercepts_[-1][:] = 100.0
    model.coefs_[-1][:] = 0.0
    np.testing.assert_array_equal(model.predict(X[:4]), np.full((4, 2), 100.0))


def test_activation_set_after_fit_is_read_again():
    model = fitted()
    before = model.predict_proba(X[:5])
    model.set_params(activation="tanh")
    after = model.predict_proba(X[:5])
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(after, model.predict_proba(X[:5].tolist()))


def test_refit_and_partial_fit_publish_new_records():
    model = fitted(max_iter=3)
    first = model.predict_proba(X[:5])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.partial_fit(X, Y_CLF)
    np.testing.assert_array_equal(model.predict_proba(X[:5]),
                                  model.predict_proba(X[:5].tolist()))
    assert not np.array_equal(model.predict_proba(X[:5]), first)


def test_records_are_not_pickled():
    model = fitted()
    model.predict_proba(X[:5])
    assert model._network.serving is not None
    loaded = pickle.loads(pickle.dumps(model))
    assert getattr(loaded._network, "serving", None) is None
    np.testing.assert_array_equal(loaded.predict_proba(X[:5]), model.predict_proba(X[:5]))


# ========================================================= pandas DataFrames
def test_dataframe_of_the_fitted_names(full_checks):
    columns = list("abcdef")
    model = fitted(X_fit=pd.DataFrame(X, columns=columns))
    frame = pd.DataFrame(X[:5], columns=columns)
    first = model.predict_proba(frame)
    checked = len(full_checks)
    np.testing.assert_array_equal(model.predict_proba(frame), first)
    assert len(full_checks) == checked
    with pytest.raises(ValueError, match="feature names should match"):
        model.predict_proba(frame[columns[::-1]])
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        np.testing.assert_array_equal(model.predict_proba(X[:5]), first)


# ========================================================== decoding classes
@pytest.mark.parametrize("y", [np.array(["b", "a", "c"])[Y_CLF], Y_CLF == 1,
                               np.array([7, -2])[(Y_CLF == 1).astype(int)]],
                         ids=["multiclass-str", "binary-bool", "binary-int"])
def test_decode_classes_is_the_binarizer(y):
    model = fitted(y=y)
    binarizer = model._label_binarizer
    output = model._forward(X[:50])
    if output.shape[1] == 1:
        output = output.ravel()
    output[:3] = np.nan  # the first maximum / not above the threshold
    got, expected = decode_classes(binarizer, output), binarizer.inverse_transform(output)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == expected.dtype


def test_cross_over_is_read_at_call_time(monkeypatch):
    """The lean path picks the kernel by ``config.PREDICT_ROWS_MACS`` and
    ``PREDICT_LOOP_ROWS`` on every call, and each finds a value that is not
    finite (the loops as they read, the blocks' caller before)."""
    model = fitted()
    for rows in (1, 3):
        monkeypatch.setattr(config, "PREDICT_ROWS_MACS", 0)
        monkeypatch.setattr(config, "PREDICT_LOOP_ROWS", 0)
        blocks = model.predict_proba(X[:rows])
        monkeypatch.setattr(config, "PREDICT_ROWS_MACS", 10 ** 12)
        loops = model.predict_proba(X[:rows])
        np.testing.assert_allclose(loops, blocks, rtol=1e-12, atol=1e-15)
        X_nan = X[:rows].copy()
        X_nan[-1, -1] = np.nan
        for macs in (0, 10 ** 12):
            monkeypatch.setattr(config, "PREDICT_ROWS_MACS", macs)
            with pytest.raises(ValueError, match="Input X contains NaN"):
                model.predict_proba(X_nan)
