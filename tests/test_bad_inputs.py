"""Bad and odd inputs, table-driven, against scikit-learn's MLPs.

``BAD``: inputs a user may pass to ``fit`` / ``partial_fit`` / ``predict`` /
``predict_proba`` / ``score`` of an already fitted model. Each must raise the
listed exception with a message naming the problem, and leave the model bitwise
unchanged (weights, predictions, training record). The ``sklearn`` column says
how scikit-learn treats the same input:

- ``SAME``: the same exception type and a message matching the same pattern;
- ``TYPE``: the same exception type, where fastmlp's message is more specific;
- ``OTHER``: scikit-learn fails too, with another exception from deep inside
  (fastmlp's is a ValueError naming the input);
- ``STRICTER``: scikit-learn accepts it; fastmlp deliberately rejects it (listed
  in docs/guide/dropin.md, "Where fastmlp deliberately differs");
- ``SKIP``: not run in scikit-learn (it would try to allocate the memory).

``ACCEPTED``: inputs scikit-learn accepts; fastmlp accepts them too and trains
the same model (float64, same random_state). ``LAYOUTS``: Fortran-ordered,
strided, read-only and memory-mapped X train and predict exactly like a
C-contiguous copy.
"""

import warnings
from collections import namedtuple

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor

from fastmlp import MLPClassifier, MLPRegressor
from fastmlp.estimators import _memory

SAME, TYPE, OTHER, STRICTER, SKIP = "same", "type", "other", "stricter", "skip"

SKLEARN = tuple(int(part) for part in sklearn.__version__.split(".")[:2])
# all-zero sample weights: scikit-learn's own check (1.9 on), else the mini-batch's
ALL_ZERO_WEIGHTS = ((ValueError, "Sample weights must contain at least one non-zero number")
                    if SKLEARN >= (1, 9) else (ZeroDivisionError, "Weights sum to zero"))
N, F = 40, 5
RNG = np.random.default_rng(0)
X0 = RNG.standard_normal((N, F))
Y_CLF = np.arange(N) % 3
Y_REG = X0 @ np.linspace(-1, 1, F)
COLUMNS = list("abcde")
PARAMS = dict(hidden_layer_sizes=(4,), solver="sgd", max_iter=3, random_state=0)
ESTIMATORS = {"clf": (MLPClassifier, SkMLPClassifier, Y_CLF),
              "reg": (MLPRegressor, SkMLPRegressor, Y_REG)}


def with_nan(X, value=np.nan):
    X = X.copy()
    X[3, 1] = value
    return X


def sparse_with_nan(fmt):
    S = sp.csr_matrix(X0)
    S.data[7] = np.nan
    return S.asformat(fmt)


def zero_batch_weights():
    sw = np.ones(N)
    sw[:10] = 0
    return sw


Case = namedtuple("Case", "id est method call error match sklearn fit_on params memory",
                  defaults=("array", None, None))
"""``call(X, y)`` returns the call's (args, kwargs); ``params`` are set first
(on the fitted model); ``fit_on='frame'`` fits on a DataFrame; ``memory`` patches
the machine's memory size (bytes) for the call."""

BAD = [
    # --- X content
    Case("fit-X-nan", "clf", "fit", lambda X, y: ((with_nan(X), y), {}), ValueError,
         "Input X contains NaN", SAME),
    Case("fit-X-inf", "reg", "fit", lambda X, y: ((with_nan(X, np.inf), y), {}), ValueError,
         "Input X contains infinity", SAME),
    Case("predict-X-nan", "clf", "predict", lambda X, y: ((with_nan(X),), {}), ValueError,
         "Input X contains NaN", SAME),
    Case("predict_proba-X-inf", "clf", "predict_proba",
         lambda X, y: ((with_nan(X, -np.inf),), {}), ValueError, "Input X contains infinity",
         SAME),
    Case("fit-X-1e30", "reg", "fit", lambda X, y: ((X * 1e30, y), {}), ValueError,
         "Solver produced non-finite parameter weights", SAME),
    # --- y content
    Case("fit-y-nan", "reg", "fit", lambda X, y: ((X, np.r_[np.nan, y[1:]]), {}), ValueError,
         "Input y contains NaN", SAME),
    Case("fit-y-inf", "reg", "fit", lambda X, y: ((X, np.r_[y[:-1], np.inf]), {}),
         ValueError, "Input y contains infinity", SAME),
    Case("fit-y-nan-labels", "clf", "fit", lambda X, y: ((X, np.r_[np.nan, y[1:]]), {}),
         ValueError, "Input y contains NaN", SAME),
    Case("fit-y-strings-regression", "reg", "fit",
         lambda X, y: ((X, np.array(["a"] * N)), {}), ValueError,
         "could not convert|Unknown label|numeric", OTHER),
    # --- shapes
    Case("fit-X-empty", "clf", "fit", lambda X, y: ((X[:0], y[:0]), {}), ValueError,
         r"Found array with 0 sample\(s\)", SAME),
    Case("fit-X-no-features", "reg", "fit", lambda X, y: ((X[:, :0], y), {}), ValueError,
         r"Found array with 0 feature\(s\)", SAME),
    Case("predict-X-empty", "reg", "predict", lambda X, y: ((X[:0],), {}), ValueError,
         r"Found array with 0 sample\(s\)", SAME),
    Case("fit-X-1d", "clf", "fit", lambda X, y: ((X[:, 0], y), {}), ValueError,
         "Expected 2D array, got 1D array", SAME),
    Case("predict-X-1d", "reg", "predict", lambda X, y: ((X[0],), {}), ValueError,
         "Expected 2D array, got 1D array", SAME),
    Case("fit-X-3d", "reg", "fit", lambda X, y: ((X[:, :, None], y), {}), ValueError,
         "Found array with dim 3", SAME),
    Case("fit-lengths-differ", "clf", "fit", lambda X, y: ((X, y[:-1]), {}), ValueError,
         "inconsistent numbers of samples", SAME),
    Case("score-lengths-differ", "reg", "score", lambda X, y: ((X, y[:-1]), {}), ValueError,
         "inconsistent numbers of samples", SAME),
    Case("fit-X-ragged", "clf", "fit", lambda X, y: (([[1.0, 2.0], [3.0]], [0, 1]), {}),
         ValueError, "inhomogeneous|sequence", SAME),
    # --- X dtype
    Case("fit-X-strings", "clf", "fit",
         lambda X, y: ((np.full((N, F), "a", dtype=object), y), {}), ValueError,
         "could not convert string to float", SAME),
    Case("fit-X-complex", "reg", "fit", lambda X, y: ((X + 1j, y), {}), ValueError,
         "Complex data not supported", SAME),
    Case("predict-X-complex", "clf", "predict", lambda X, y: ((X + 1j,), {}), ValueError,
         "Complex data not supported", SAME),
    # --- width at predict / continuation
    Case("predict-wrong-width", "clf", "predict", lambda X, y: ((X[:, :4],), {}), ValueError,
         "X has 4 features, but MLPClassifier is expecting 5 features", SAME),
    Case("predict_proba-wrong-width", "clf", "predict_proba",
         lambda X, y: ((np.c_[X, X],), {}), ValueError,
         "X has 10 features, but MLPClassifier is expecting 5 features", SAME),
    Case("score-wrong-width", "reg", "score", lambda X, y: ((X[:, :3], y), {}), ValueError,
         "X has 3 features, but MLPRegressor is expecting 5 features", SAME),
    Case("partial_fit-wrong-width", "reg", "partial_fit", lambda X, y: ((X[:, :4], y), {}),
         ValueError, "X has 4 features, but MLPRegressor is expecting 5 features", SAME),
    Case("warm_start-wrong-width", "clf", "fit", lambda X, y: ((X[:, :4], y), {}), ValueError,
         "X has 4 features, but MLPClassifier is expecting 5 features", SAME,
         params=dict(warm_start=True)),
    Case("partial_fit-more-outputs", "reg", "partial_fit",
         lambda X, y: ((X, np.c_[y, y]), {}), ValueError,
         "layer sizes .* same architecture", TYPE),
    # --- DataFrames
    Case("predict-frame-reordered", "clf", "predict",
         lambda X, y: ((pd.DataFrame(X, columns=COLUMNS)[COLUMNS[::-1]],), {}), ValueError,
         "Feature names must be in the same order", SAME, fit_on="frame"),
    Case("predict_proba-frame-renamed", "clf", "predict_proba",
         lambda X, y: ((pd.DataFrame(X, columns=["z"] + COLUMNS[1:]),), {}), ValueError,
         "Feature names unseen at fit time", SAME, fit_on="frame"),
    Case("score-frame-renamed", "reg", "score",
         lambda X, y: ((pd.DataFrame(X, columns=COLUMNS[:4] + ["q"]), y), {}), ValueError,
         "Feature names unseen at fit time", SAME, fit_on="frame"),
    # --- sparse
    Case("fit-csr-nan", "clf", "fit", lambda X, y: ((sparse_with_nan("csr"), y), {}),
         ValueError, "Input X contains NaN", SAME),
    Case("predict-csc-nan", "clf", "predict", lambda X, y: ((sparse_with_nan("csc"),), {}),
         ValueError, "Input X contains NaN", SAME),
    Case("fit-coo-nan", "reg", "fit", lambda X, y: ((sparse_with_nan("coo"), y), {}),
         ValueError, "Input X contains NaN", SAME),
    # --- sample_weight
    Case("fit-sw-negative", "reg", "fit",
         lambda X, y: ((X, y), {"sample_weight": np.r_[-1.0, np.ones(N - 1)]}), ValueError,
         "Negative values in data passed to `sample_weight`", STRICTER),
    Case("fit-sw-nan", "reg", "fit",
         lambda X, y: ((X, y), {"sample_weight": np.r_[np.nan, np.ones(N - 1)]}), ValueError,
         "Input sample_weight contains NaN", SAME),
    Case("fit-sw-wrong-length", "clf", "fit",
         lambda X, y: ((X, y), {"sample_weight": np.ones(N - 1)}), ValueError,
         r"sample_weight.shape == \(39,\), expected \(40,\)", SAME),
    Case("fit-sw-2d", "reg", "fit",
         lambda X, y: ((X, y), {"sample_weight": np.ones((N, 1))}), ValueError,
         "Sample weights must be 1D array or scalar", SAME),
    Case("fit-sw-all-zero", "clf", "fit",
         lambda X, y: ((X, y), {"sample_weight": np.zeros(N)}), *ALL_ZERO_WEIGHTS, SAME),
    Case("fit-sw-zero-batch", "clf", "fit",
         lambda X, y: ((X, y), {"sample_weight": zero_batch_weights()}), ZeroDivisionError,
         "Weights sum to zero", SAME, params=dict(batch_size=10, shuffle=False)),
    Case("partial_fit-sw-zero-batch", "reg", "partial_fit",
         lambda X, y: ((X, y), {"sample_weight": zero_batch_weights()}), ZeroDivisionError,
         "Weights sum to zero", SAME, params=dict(batch_size=5, shuffle=False)),
    # --- labels in partial_fit
    Case("partial_fit-unseen-label", "clf", "partial_fit", lambda X, y: ((X, y + 1), {}),
         ValueError, "`y` has classes not in `self.classes_`", SAME),
    Case("partial_fit-other-classes", "clf", "partial_fit",
         lambda X, y: ((X, y), {"classes": [0, 1, 2, 3]}), ValueError,
         "is not the same as on last call to partial_fit", SAME),
    # --- hidden_layer_sizes and max_iter
    Case("hidden-zero", "clf", "fit", lambda X, y: ((X, y), {}), ValueError,
         "'hidden_layer_sizes' parameter of MLPClassifier must be", SAME,
         params=dict(hidden_layer_sizes=0)),
    Case("hidden-negative", "reg", "fit", lambda X, y: ((X, y), {}), ValueError,
         r"hidden_layer_sizes must be > 0, got \[3, -1\]", SAME,
         params=dict(hidden_layer_sizes=(3, -1))),
    Case("hidden-float", "clf", "fit", lambda X, y: ((X, y), {}), TypeError,
         "'float' object cannot be interpreted as an integer", SAME,
         params=dict(hidden_layer_sizes=(10.5,))),
    Case("hidden-integral-float", "reg", "fit", lambda X, y: ((X, y), {}), TypeError,
         "cannot be interpreted as an integer", SAME,
         params=dict(hidden_layer_sizes=(4, np.float64(2.0)))),
    Case("hidden-absurd", "clf", "fit", lambda X, y: ((X, y), {}), MemoryError,
         r"needs about [\d,.]+ GiB .* more than this machine's", SKIP,
         params=dict(hidden_layer_sizes=(10**9,))),
    Case("hidden-absurd-small-machine", "reg", "fit", lambda X, y: ((X, y), {}), MemoryError,
         r"hidden_layer_sizes=\[10000000\] .* needs about [\d,.]+ GiB .* 4.0 GiB of memory",
         SKIP, params=dict(hidden_layer_sizes=(10**7,), solver="adam"), memory=4 * 2**30),
    Case("max_iter-zero", "reg", "fit", lambda X, y: ((X, y), {}), ValueError,
         "'max_iter' parameter of MLPRegressor must be an int in the range", SAME,
         params=dict(max_iter=0)),
]


def fitted(kind, fit_on="array", sklearn=False):
    Est, SkEst, y = ESTIMATORS[kind]
    X = pd.DataFrame(X0, columns=COLUMNS) if fit_on == "frame" else X0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return (SkEst if sklearn else Est)(**PARAMS).fit(X, y)


def snapshot(est):
    """Everything a failed call must leave as it was."""
    X = pd.DataFrame(X0, columns=COLUMNS) if hasattr(est, "feature_names_in_") else X0
    out = est.predict_proba(X) if hasattr(est, "predict_proba") else est.predict(X)
    weights = np.concatenate([a.ravel() for a in est.coefs_ + est.intercepts_])
    optimizer = np.r_[est._optimizer.state.ravel(), est._optimizer.step]
    return (weights.copy(), out, optimizer.copy(), list(est.loss_curve_), est.n_iter_, est.t_,
            sorted(vars(est)), est.get_params())


def assert_same(a, b):
    for i in range(3):  # weights, predictions, optimizer state, bitwise
        np.testing.assert_array_equal(a[i], b[i])
    assert a[3:] == b[3:]


def call(est, case):
    args, kwargs = case.call(X0, ESTIMATORS[case.est][2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(est, case.method)(*args, **kwargs)


@pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
def test_bad_input_raises_and_leaves_model_unchanged(case, monkeypatch):
    est = fitted(case.est, case.fit_on)
    if case.params:
        est.set_params(**case.params)
    if case.memory:
        monkeypatch.setattr(_memory, "physical_memory", lambda: case.memory)
    before = snapshot(est)
    with pytest.raises(case.error, match=case.match):
        call(est, case)
    assert_same(snapshot(est), before)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("case", [c for c in BAD if c.sklearn != SKIP],
                         ids=[c.id for c in BAD if c.sklearn != SKIP])
def test_bad_input_against_sklearn(case):
    est = fitted(case.est, case.fit_on, sklearn=True)
    if case.params:
        est.set_params(**case.params)
    if case.sklearn == STRICTER:
        call(est, case)  # scikit-learn accepts it: a deliberate difference
        return
    with pytest.raises(Exception if case.sklearn == OTHER else case.error) as info:
        call(est, case)
    if case.sklearn == SAME:
        assert info.match(case.match)


def test_bad_input_matrix_size():
    assert len(BAD) + len(ACCEPTED) + len(LAYOUTS) >= 40
    assert {c.method for c in BAD} == {"fit", "partial_fit", "predict", "predict_proba",
                                       "score"}


# ============================================ inputs scikit-learn accepts too
Accepted = namedtuple("Accepted", "id est X y params", defaults=(None,))

ACCEPTED = [
    Accepted("X-bool", "clf", X0 > 0, Y_CLF),
    Accepted("X-float16", "clf", X0.astype(np.float16), Y_CLF),
    Accepted("X-int8", "reg", (X0 * 10).astype(np.int8), Y_REG),
    Accepted("X-object-floats", "reg", X0.astype(object), Y_REG),
    Accepted("X-coo", "clf", sp.coo_matrix(X0), Y_CLF),
    Accepted("one-row-regression", "reg", X0[:1], Y_REG[:1]),
    Accepted("one-row-one-class", "clf", X0[:1], Y_CLF[:1]),
    Accepted("hidden-empty", "clf", X0, Y_CLF, dict(hidden_layer_sizes=())),
    Accepted("X-1e30-classifier", "clf", X0 * 1e30, Y_CLF, dict(solver="adam")),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("case", ACCEPTED, ids=[c.id for c in ACCEPTED])
def test_accepted_input_trains_like_sklearn(case):
    Est, SkEst, _ = ESTIMATORS[case.est]
    params = dict(PARAMS, **(case.params or {}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = Est(**params).fit(case.X, case.y)
        theirs = SkEst(**params).fit(case.X, case.y)
    assert ours.coefs_[0].dtype == theirs.coefs_[0].dtype
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_,
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)
    if case.est == "clf":
        np.testing.assert_array_equal(ours.predict(case.X), theirs.predict(case.X))
    else:  # same model to rounding
        np.testing.assert_allclose(ours.predict(case.X), theirs.predict(case.X), rtol=1e-12)


def test_large_values_predict_like_sklearn():
    """1e30 inputs at predict: finite or saturated outputs, no error, as scikit-learn."""
    ours, theirs = fitted("clf"), fitted("clf", sklearn=True)
    np.testing.assert_array_equal(ours.predict(X0 * 1e30), theirs.predict(X0 * 1e30))


# ======================================================== odd memory layouts
def fortran(X):
    return np.asfortranarray(X)


def strided(X):
    wide = np.zeros((X.shape[0], 2 * X.shape[1]), dtype=X.dtype)
    wide[:, ::2] = X
    return wide[:, ::2]


def read_only(X):
    X = X.copy()
    X.flags.writeable = False
    return X


def memory_mapped(X, path):
    mm = np.memmap(path, dtype=X.dtype, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    return np.memmap(path, dtype=X.dtype, mode="r", shape=X.shape)


LAYOUTS = ["fortran", "strided", "read_only", "memmap", "csr-read-only"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_odd_layouts_train_like_c_contiguous(layout, solver, dtype, tmp_path):
    X = X0.astype(dtype)
    if layout == "memmap":
        odd = memory_mapped(X, tmp_path / "X.dat")
    elif layout == "csr-read-only":
        odd = sp.csr_matrix(X)
        for a in (odd.data, odd.indices, odd.indptr):
            a.flags.writeable = False
    else:
        odd = {"fortran": fortran, "strided": strided, "read_only": read_only}[layout](X)
    params = dict(PARAMS, solver=solver, batch_size=1 if solver == "sgd" else "auto")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(**params).fit(odd, Y_CLF)
        X = sp.csr_matrix(X) if sp.issparse(odd) else np.ascontiguousarray(X)
        plain = MLPClassifier(**params).fit(X, Y_CLF)
    for a, b in zip(ours.coefs_ + ours.intercepts_, plain.coefs_ + plain.intercepts_,
                    strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ours.predict_proba(odd), plain.predict_proba(X))
    if not sp.issparse(odd):
        assert odd.flags.writeable == (layout not in ("read_only", "memmap"))


@pytest.mark.parametrize("layout", ["fortran", "strided", "read_only"])
def test_odd_layouts_predict_few_rows(layout):
    """The few-row latency path takes the same arrays."""
    est = fitted("reg")
    X = {"fortran": fortran, "strided": strided, "read_only": read_only}[layout](X0[:3])
    np.testing.assert_array_equal(est.predict(X), est.predict(np.ascontiguousarray(X)))


def test_failed_call_on_clone_leaves_unfitted():
    """A failing first fit leaves an unfitted clone unfitted."""
    est = clone(fitted("clf"))
    with pytest.raises(ValueError):
        est.fit(with_nan(X0), Y_CLF)
    assert not hasattr(est, "coefs_")
