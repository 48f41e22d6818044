"""Read-only inputs reuse the kernels compiled for writeable arrays.

Numba types a read-only array (a memory map that joblib hands to a worker, or
``np.load(..., mmap_mode="r")``) differently from a writeable one; without care
every kernel compiles a second copy for it. These tests count the compiled
overloads of every kernel in ``fastmlp.kernels``.
"""

import importlib
import os
import pkgutil
import warnings

import joblib
import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from numba import types
from numba.core.dispatcher import Dispatcher
from sklearn.datasets import make_classification

import fastmlp.kernels
from fastmlp import MLPClassifier, MLPRegressor


def compiled_signatures():
    """``{kernel name: set of compiled signatures}`` of the CPU kernels."""
    found = {}
    for info in pkgutil.iter_modules(fastmlp.kernels.__path__):
        if "cuda" in info.name:
            continue
        module = importlib.import_module(f"fastmlp.kernels.{info.name}")
        for name, obj in vars(module).items():
            if isinstance(obj, Dispatcher) and obj.py_func.__module__ == module.__name__:
                found[f"{info.name}.{name}"] = set(obj.signatures)
    return found


def read_only_signatures(signatures):
    """Signatures with at least one read-only array argument."""
    return [sig for sigs in signatures.values() for sig in sigs
            if any(isinstance(t, types.Array) and not t.mutable for t in sig)]


def frozen(a):
    a = np.array(a, copy=True)
    a.flags.writeable = False
    return a


def exercise(X, y, y_reg, sw, X_csr):
    """Fit and predict through every CPU path the tests below compare."""
    small = dict(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = MLPClassifier(**small).fit(X, y, sample_weight=sw)   # per-sample epochs
        out = [clf.predict_proba(X), clf.predict_proba(X[:5])]      # blocked / latency
        clf = MLPClassifier(hidden_layer_sizes=(64,), batch_size=200, max_iter=2,
                            random_state=0).fit(X, y)               # BLAS epochs
        out.append(clf.predict_proba(X))
        out.append(MLPClassifier(solver="lbfgs", **small).fit(X, y).predict_proba(X))
        out.append(MLPRegressor(**small).fit(X, y_reg).predict(X))
        out.append(MLPClassifier(**small).fit(X_csr, y).predict_proba(X_csr))
    return out


def test_read_only_inputs_compile_no_second_copy(tmp_path):
    X, y = make_classification(n_samples=600, n_features=8, random_state=0)
    y_reg = X[:, 0] - 2 * X[:, 1]
    sw = np.linspace(0.5, 1.5, len(y))
    X_csr = sp.csr_matrix(np.where(np.abs(X) > 1, X, 0))
    expected = exercise(X, y, y_reg, sw, X_csr)
    before = compiled_signatures()

    np.save(tmp_path / "X.npy", X)
    X_map = np.load(tmp_path / "X.npy", mmap_mode="r")
    ro_csr = sp.csr_matrix((frozen(X_csr.data), frozen(X_csr.indices),
                            frozen(X_csr.indptr)), shape=X_csr.shape)
    got = exercise(X_map, frozen(y), frozen(y_reg), frozen(sw), ro_csr)

    after = compiled_signatures()
    assert after == before
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(X_map, X)  # inputs untouched


def test_memory_mapped_models_compile_no_second_copy(tmp_path):
    """A model loaded with ``mmap_mode="r"`` (or handed to joblib workers) comes
    with read-only parameter and layout arrays, which unpickling replaces."""
    X, y = make_classification(n_samples=600, n_features=8, random_state=0)
    model = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y).partial_fit(X, y)
        expected = [model.predict_proba(X), model.predict_proba(X[:5])]
        before = compiled_signatures()
        joblib.dump(model, tmp_path / "model.joblib")
        loaded = joblib.load(tmp_path / "model.joblib", mmap_mode="r")
        # unpickling gives the network plain writeable arrays again
        assert loaded._network.units.flags.writeable and loaded._network.params.flags.writeable
        got = [loaded.predict_proba(X), loaded.predict_proba(X[:5])]
        loaded.partial_fit(X, y)
        loaded.set_params(warm_start=True, max_iter=2).fit(X, y)
    assert compiled_signatures() == before
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)


def _fit_twice_in_worker(X, y):
    """In a joblib worker: how X arrived and the compiled signatures after two fits."""
    first = MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first.fit(X, y).predict(X)
        after_first = compiled_signatures()
        MLPClassifier(hidden_layer_sizes=(5,), max_iter=2, random_state=1).fit(X, y).predict(X)
    after_second = compiled_signatures()
    return {"pid": os.getpid(), "read_only_input": not X.flags.writeable,
            "n_read_only": len(read_only_signatures(after_second)),
            "same_after_second_fit": after_first == after_second,
            "n_signatures": sum(map(len, after_second.values()))}


def test_joblib_workers_fit_memory_maps_without_second_copy():
    X, y = make_classification(n_samples=2000, n_features=20, random_state=0)
    # max_nbytes=1: every array reaches the workers as a read-only memory map
    reports = Parallel(n_jobs=2, max_nbytes=1)(
        delayed(_fit_twice_in_worker)(X, y) for _ in range(4))
    for report in reports:
        assert report["read_only_input"]
        assert report["n_read_only"] == 0
        assert report["same_after_second_fit"]
    by_worker = {}
    for report in reports:  # a worker's later tasks compile nothing either
        by_worker.setdefault(report["pid"], set()).add(report["n_signatures"])
    assert all(len(counts) == 1 for counts in by_worker.values())
