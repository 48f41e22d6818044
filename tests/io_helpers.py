"""Fitted models of every kind, and a deep comparison of two models' state.

Shared by the model-file, skops and ONNX tests.
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from fastmlp import MLPClassifier, MLPRegressor


def _data(n=60, d=5, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(dtype)


def fitted(kind):
    """``(model, X, y)`` for a named kind of fitted model."""
    X = _data()
    labels3 = np.array(["cat", "dog", "emu"])[np.arange(60) % 3]
    binary = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    multilabel = np.stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 2] > 0.5], axis=1).astype(int)
    y_reg = X @ np.arange(1.0, 6.0)
    cases = {
        "binary-adam": (MLPClassifier((7,), random_state=0), X, binary),
        "multiclass-str-sgd": (MLPClassifier((6, 4), solver="sgd", activation="tanh",
                                             learning_rate="adaptive", random_state=1),
                               X, labels3),
        "multilabel-logistic": (MLPClassifier((5,), activation="logistic", random_state=2),
                                X, multilabel),
        "binary-lbfgs-f32": (MLPClassifier((4,), solver="lbfgs", random_state=3),
                             X.astype(np.float32), np.where(binary == 1, "yes", "no")),
        "multiclass-early-stopping": (MLPClassifier((6,), early_stopping=True,
                                                    n_iter_no_change=2, random_state=4),
                                      X, labels3),
        "multiclass-toolbox": (MLPClassifier((6, 4), solver="adamw", alpha=0.01,
                                             dropout=[0.2, 0.3], max_grad_norm=1.0,
                                             class_weight={"cat": 2.0}, learning_rate="cosine",
                                             warmup_iter=2, random_state=9), X, labels3),
        "regressor-adam": (MLPRegressor(hidden_layer_sizes=(6,), random_state=5), X, y_reg),
        "regressor-multi-f32-identity": (MLPRegressor(hidden_layer_sizes=(5, 3),
                                                      activation="identity",
                                                      solver="sgd", random_state=6),
                                         X.astype(np.float32),
                                         np.stack([y_reg, -y_reg], 1).astype(np.float32)),
        "regressor-poisson-randomstate": (MLPRegressor(loss="poisson", hidden_layer_sizes=(4,),
                                                       random_state=np.random.RandomState(7)),
                                          X, np.exp(X[:, 0] / 2)),
        "regressor-lbfgs": (MLPRegressor(hidden_layer_sizes=[5], solver="lbfgs",
                                         n_iter_no_change=np.inf, random_state=8), X, y_reg),
    }
    model, X, y = cases[kind]
    model.set_params(max_iter=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    return model, X, y


KINDS = ["binary-adam", "multiclass-str-sgd", "multilabel-logistic", "binary-lbfgs-f32",
         "multiclass-early-stopping", "multiclass-toolbox", "regressor-adam",
         "regressor-multi-f32-identity", "regressor-poisson-randomstate", "regressor-lbfgs"]


def assert_same_value(a, b, where):
    """Bitwise equality of two attribute values, dtypes included."""
    if isinstance(a, np.random.RandomState):
        assert isinstance(b, np.random.RandomState), where
        for x, y in zip(a.get_state(), b.get_state(), strict=True):
            assert_same_value(x, y, where)
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape, where
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), where
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_value(x, y, f"{where}[{i}]")
    elif hasattr(a, "__dict__") and not isinstance(a, type):
        assert type(a) is type(b), where
        state_a, state_b = (set(vars(x)) - PROCESS_CACHES for x in (a, b))
        assert state_a == state_b, where
        for key in state_a:
            assert_same_value(vars(a)[key], vars(b)[key], f"{where}.{key}")
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b), where
    else:
        assert a == b and type(a) is type(b), f"{where}: {a!r} != {b!r}"


# Records of checks already made in this process (a network's validated layout).
PROCESS_CACHES = {"_validated_layout"}

# Attributes a loaded model does not restore: fit and partial_fit draw it afresh.
NOT_STORED = {"_random_state"}


def assert_same_model(original, loaded, skip=()):
    """Every attribute of ``original`` is in ``loaded``, bitwise equal."""
    skip = NOT_STORED | set(skip)
    assert type(original) is type(loaded)
    assert set(vars(original)) - skip == set(vars(loaded)) - skip
    for key in set(vars(original)) - skip:
        assert_same_value(vars(original)[key], vars(loaded)[key], key)


def assert_views_of_one_vector(model):
    """coefs_ / intercepts_ are views of one flat parameter vector (as after fit),
    so predict uses the network as it is instead of rebuilding it."""
    arrays = model.coefs_ + model.intercepts_
    vector = arrays[0].base
    assert vector.ndim == 1 and vector.dtype == arrays[0].dtype
    assert vector.size == sum(a.size for a in arrays)
    assert all(a.base is vector for a in arrays)
