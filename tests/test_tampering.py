"""Edited and tampered models never reach the kernels with a layout that
disagrees with their arrays: user-replaced ``coefs_`` / ``intercepts_``, edited
fitted attributes and edited pickles raise a ValueError naming the attribute --
at load, or at the first predict -- instead of reading outside an array."""

import copy
import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastmlp import MLPClassifier, MLPRegressor
from fastmlp.backends import cpu
from fastmlp.layout import check_layers, validate_network
from fastmlp.network import Network

RNG = np.random.default_rng(0)
X = RNG.standard_normal((60, 5))
Y = np.arange(60) % 3


def fitted(Est=MLPClassifier, y=Y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return Est(hidden_layer_sizes=(8,), solver="sgd", max_iter=5, random_state=0,
                   **params).fit(X, y)


# ============================================= arrays replaced in the process
REPLACED = [
    ("coefs-too-wide", lambda m: setattr(m, "coefs_", [np.ones((50, 8)), m.coefs_[1]]),
     r"n_features_in_ is 5 but the network's input width \(coefs_\[0\].shape\[0\]\) is 50"),
    ("intercepts-shifted", lambda m: setattr(m, "intercepts_", [np.zeros(9), np.zeros(2)]),
     r"intercepts_\[0\] must have shape \(8,\) to match coefs_\[0\] of shape \(5, 8\)"),
    ("coefs-do-not-chain", lambda m: setattr(m, "coefs_", [m.coefs_[0], np.ones((9, 3))]),
     r"coefs_\[1\] must have shape \(8, n\) to follow coefs_\[0\]"),
    ("coefs-3d", lambda m: setattr(m, "coefs_", [m.coefs_[0][None], m.coefs_[1]]),
     r"coefs_\[0\] must be a 2-D ndarray"),
    ("one-intercept-missing", lambda m: setattr(m, "intercepts_", m.intercepts_[:1]),
     r"intercepts_ must have one array per layer \(2, as coefs_\), got 1"),
    ("output-too-narrow", lambda m: (setattr(m, "coefs_", [m.coefs_[0], m.coefs_[1][:, :2]]),
                                     setattr(m, "intercepts_", [m.intercepts_[0],
                                                                m.intercepts_[1][:2]])),
     r"n_outputs_ is 3 but the network's output width \(coefs_\[-1\].shape\[1\]\) is 2"),
    ("coefs-strings", lambda m: setattr(m, "coefs_", [m.coefs_[0].astype(str), m.coefs_[1]]),
     r"coefs_\[0\] must hold real numbers"),
]


@pytest.mark.parametrize("edit, match", [r[1:] for r in REPLACED], ids=[r[0] for r in REPLACED])
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score", "partial_fit"])
def test_replaced_arrays_raise_before_any_kernel(edit, match, method):
    model = fitted()
    edit(model)
    args = (X, Y) if method in ("score", "partial_fit") else (X,)
    with pytest.raises(ValueError, match=match):
        getattr(model, method)(*args)


def test_edited_n_features_in_raises_at_predict():
    model = fitted()
    model.n_features_in_ = 3
    with pytest.raises(ValueError, match="n_features_in_ is 3 but the network's input width"):
        model.predict_proba(X[:3, :3])
    with pytest.raises(ValueError, match="n_features_in_ is 3"):
        model.predict(X[:, :3])


def test_valid_replacement_still_predicts():
    model = fitted()
    model.coefs_ = [c * 2 for c in model.coefs_]
    model.intercepts_ = [b * 0 for b in model.intercepts_]
    assert model.predict_proba(X).shape == (60, 3)


def test_backend_checks_widths_itself():
    """The backends check the layout against the arrays they are given, whoever calls."""
    network = fitted()._network
    with pytest.raises(ValueError, match="X has 4 features, but the network's input layer "
                                         r"has 5 units"):
        cpu.predict(network, X[:, :4])
    with pytest.raises(ValueError, match="The targets have 2 columns, but the network's "
                                         "output layer has 3 units"):
        cpu.Trainer(network, X, np.zeros((60, 2)), None, 2, 0.0, 10)
    with pytest.raises(ValueError, match=r"sample_weight must have shape \(60,\)"):
        cpu.Trainer(network, X, np.zeros((60, 3)), np.ones(59), 2, 0.0, 10)


def test_validate_network_names_the_attribute():
    network = fitted()._network.copy()
    validate_network(network, n_features=5, n_outputs=3)
    network.inter_off = network.inter_off + 1
    with pytest.raises(ValueError, match=r"Network.inter_off must be \[64, 72\]"):
        validate_network(network)
    with pytest.raises(ValueError, match="coefs_ must be a non-empty list"):
        check_layers([], [])


# ======================================================== tampered pickles
def net(model):
    return model._network


TAMPERED = [
    ("n_features_in_", lambda m: setattr(m, "n_features_in_", 3), "n_features_in_ is 3"),
    ("n_outputs_", lambda m: setattr(m, "n_outputs_", 2), "n_outputs_ is 2"),
    ("n_layers_", lambda m: setattr(m, "n_layers_", 5), "n_layers_ is 5"),
    ("out_activation_", lambda m: setattr(m, "out_activation_", "identity"),
     "out_activation_ is 'identity' but the network's output activation is 'softmax'"),
    ("units", lambda m: setattr(net(m), "units", np.array([5, 50, 3])),
     r"Network.coef_off must be \[0, 250\]"),
    ("units-float", lambda m: setattr(net(m), "units", net(m).units.astype(float)),
     "Network.units must be a 1-D int64 array"),
    ("units-int32", lambda m: setattr(net(m), "units", net(m).units.astype(np.int32)),
     "Network.units must be a 1-D int64 array"),
    ("coef_off", lambda m: setattr(net(m), "coef_off", np.array([0, 41])),
     r"Network.coef_off must be \[0, 40\]"),
    ("inter_off", lambda m: setattr(net(m), "inter_off", np.array([64, 70])),
     r"Network.inter_off must be \[64, 72\]"),
    ("n_coef", lambda m: setattr(net(m), "n_coef", 75), "Network.n_coef must be 64"),
    ("params-missing-one", lambda m: setattr(net(m), "params", net(m).params[:-1]),
     r"Network.params must have shape \(75,\)"),
    ("params-extra", lambda m: setattr(net(m), "params", np.r_[net(m).params, 1.0]),
     r"Network.params must have shape \(75,\)"),
    ("params-dtype", lambda m: setattr(net(m), "params", net(m).params.astype(np.float16)),
     "Network.params must be float32 or float64, got float16"),
    ("params-int", lambda m: setattr(net(m), "params", net(m).params.astype(np.int64)),
     "Network.params must be float32 or float64, got int64"),
    ("activation", lambda m: setattr(net(m), "activation", "bogus"),
     "Network.activation must be one of"),
    ("out_activation", lambda m: setattr(net(m), "out_activation", "relu"),
     "Network.out_activation must be one of"),
    ("classes_", lambda m: setattr(m, "classes_", np.arange(4)), "classes_ must equal"),
    ("label-binarizer", lambda m: setattr(m._label_binarizer, "classes_", np.arange(5)),
     "classes_ must equal"),
    ("feature_names_in_", lambda m: setattr(m, "feature_names_in_", np.array(["a", "b"])),
     r"feature_names_in_ must have shape \(5,\)"),
    ("optimizer-state", lambda m: setattr(m._optimizer, "state", m._optimizer.state[:, :10]),
     r"optimizer state must have shape \(1, 75\)"),
    ("optimizer-step", lambda m: setattr(m._optimizer, "step", np.zeros(0, np.int64)),
     "optimizer step must be an int64 array of shape"),
    ("coefs_-stored", lambda m: setattr(m, "coefs_", [np.ones((50, 8)), m.coefs_[1]]),
     "n_features_in_ is 5 but the network's input width"),
    ("intercepts_-removed", lambda m: (setattr(m, "coefs_", list(m.coefs_)),
                                       delattr(m, "intercepts_")),
     "intercepts_ must be a non-empty list"),
]


def tampered_pickle(edit, model):
    """The pickle of a copy of ``model`` whose state was edited without checks."""
    model = copy.deepcopy(model)
    edit(model)
    return pickle.dumps(model)


@pytest.mark.parametrize("edit, match", [t[1:] for t in TAMPERED], ids=[t[0] for t in TAMPERED])
def test_tampered_pickle_raises_at_load(edit, match):
    data = tampered_pickle(edit, fitted())
    with pytest.raises(ValueError, match=match):
        pickle.loads(data)


def test_tampered_regressor_output_activation():
    model = fitted(MLPRegressor, y=X @ np.ones(5))
    data = tampered_pickle(lambda m: setattr(net(m), "out_activation", "softmax"), model)
    with pytest.raises(ValueError, match="out_activation_ is 'identity' but the network's "
                                         "output activation is 'softmax'"):
        pickle.loads(data)


def test_untampered_pickle_round_trips():
    model = fitted()
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert all(c.base is loaded._network.params for c in loaded.coefs_)
    unfitted = pickle.loads(pickle.dumps(MLPClassifier()))
    assert not hasattr(unfitted, "coefs_")


def test_network_pickle_checks_layout():
    network = Network([5, 4, 1], "relu", "identity", np.zeros(29))
    assert pickle.loads(pickle.dumps(network)).params.shape == (29,)
    network.units = np.array([5, 4, 2])
    with pytest.raises(ValueError, match=r"Network.inter_off must be \[28, 32\]"):
        pickle.loads(pickle.dumps(network))


@pytest.mark.skipif(not __import__("numba").config.BOUNDSCHECK,
                    reason="only where NUMBA_BOUNDSCHECK=1 (a CI step)")
def test_kernels_check_bounds_when_asked():
    """Under NUMBA_BOUNDSCHECK=1 a kernel handed a layout wider than its input
    raises IndexError: what the unchecked kernels would read past the array."""
    from fastmlp.kernels import prediction

    network = fitted()._network
    with pytest.raises(IndexError):
        prediction.predict_rows(np.ascontiguousarray(X[:2, :3]), *network.bundle(),
                                np.empty((2, network.units[-1]), dtype=network.dtype))
