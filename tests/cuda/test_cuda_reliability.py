"""The reliability checks on the CUDA path: the layout is checked before any
device kernel runs, duplicate CSR entries are summed, a diverging fit with early
stopping keeps its best weights, zero-weight batches and non-integer hidden
sizes raise as on the CPU, odd memory layouts train like C-contiguous X."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from fastmlp import MLPClassifier, MLPRegressor
from fastmlp.backends import cuda as backend

RNG = np.random.default_rng(6)
X = RNG.standard_normal((24, 4))
Y = np.arange(24) % 3


def fit(est, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kwargs)


def small(**params):
    return MLPClassifier(**dict(dict(hidden_layer_sizes=(5,), max_iter=3, random_state=0,
                                     device="cuda"), **params))


def test_replaced_coefs_raise_before_the_device():
    model = fit(small(), X, Y)
    model.coefs_ = [np.ones((40, 5)), model.coefs_[1]]
    with pytest.raises(ValueError, match="n_features_in_ is 4 but the network's input width"):
        model.predict_proba(X)
    model = fit(small(), X, Y)
    model.intercepts_ = [np.zeros(6), np.zeros(2)]
    with pytest.raises(ValueError, match=r"intercepts_\[0\] must have shape \(5,\)"):
        model.partial_fit(X, Y)


def test_backend_checks_widths():
    network = fit(small(), X, Y)._network
    with pytest.raises(ValueError, match="X has 3 features, but the network's input layer"):
        backend.predict(network, X[:, :3])
    with pytest.raises(ValueError, match="The targets have 2 columns"):
        backend.Trainer(network, X, np.zeros((24, 2)), None, 2, 0.0, 8)


def test_tampered_pickle_of_cuda_model_raises_at_load():
    model = fit(small(), X, Y)
    model._network.params = model._network.params[:-2]
    with pytest.raises(ValueError, match="Network.params must have shape"):
        pickle.loads(pickle.dumps(model))


def with_duplicates(X):
    """CSR equal to X with each row's entries stored twice, halves of the value."""
    S = sp.csr_matrix(X)
    counts = np.diff(S.indptr)
    data = np.concatenate([np.r_[d, d] * 0.5 for d in np.split(S.data, S.indptr[1:-1])])
    cols = np.concatenate([np.r_[c, c] for c in np.split(S.indices, S.indptr[1:-1])])
    D = sp.csr_matrix((data, cols, np.r_[0, np.cumsum(2 * counts)]), shape=S.shape)
    assert not D.has_canonical_format
    return D


def test_csr_with_duplicates_reaches_the_device_summed():
    """The device gets the dense matrix scipy defines (duplicates summed); the
    caller's matrix is not modified. (Fits on equal device data are compared
    with the CPU in ``test_cuda_fit.py``.)"""
    D = with_duplicates(X)
    data = D.data.copy()
    np.testing.assert_array_equal(backend.dense_input(D, np.float64), X)
    np.testing.assert_array_equal(D.data, data)
    model = fit(small(), X, Y)
    np.testing.assert_allclose(model.predict_proba(D), model.predict_proba(X), rtol=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_with_early_stopping_matches_cpu():
    rng = np.random.default_rng(0)
    Xr = rng.uniform(0, 8, (40, 4))
    y = Xr @ np.ones(4)
    models = {}
    for device in ("cpu", "cuda"):
        est = MLPRegressor(hidden_layer_sizes=(6,), activation="identity", solver="sgd",
                           learning_rate_init=1, max_iter=20, early_stopping=True,
                           random_state=0, device=device)
        with pytest.warns(ConvergenceWarning, match="Training diverged"):
            models[device] = est.fit(Xr, y)
    cpu, gpu = models["cpu"], models["cuda"]
    assert np.isnan(gpu.validation_scores_[-1]) and gpu.n_iter_ == cpu.n_iter_
    assert all(np.isfinite(c).all() for c in gpu.coefs_)
    for a, b in zip(cpu.coefs_, gpu.coefs_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-8)


def test_zero_weight_batch_and_float_sizes_raise():
    sw = np.ones(24)
    sw[:8] = 0
    with pytest.raises(ZeroDivisionError, match="Weights sum to zero"):
        fit(small(solver="sgd", batch_size=8, shuffle=False), X, Y, sample_weight=sw)
    with pytest.raises(TypeError, match="hidden_layer_sizes must contain integers"):
        fit(small(hidden_layer_sizes=(5.5,)), X, Y)


@pytest.mark.parametrize("layout", ["fortran", "strided", "read_only"])
def test_odd_layouts_reach_the_device_as_c_contiguous(layout):
    if layout == "fortran":
        odd = np.asfortranarray(X)
    elif layout == "strided":
        odd = np.repeat(X, 2, axis=1)[:, ::2]
    else:
        odd = X.copy()
        odd.flags.writeable = False
    host = backend.dense_input(odd, np.float64)
    assert host.flags.c_contiguous and host.flags.writeable
    np.testing.assert_array_equal(host, X)
    assert backend.dense_input(X, np.float64) is X  # no copy when none is needed
    model = fit(small(), X, Y)
    np.testing.assert_array_equal(model.predict_proba(odd), model.predict_proba(X))
