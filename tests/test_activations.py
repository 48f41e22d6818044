"""The activations and initialisations beyond scikit-learn's, seen from the estimators.

Kernel-level checks (every activation against its NumPy twin, finite-difference
gradients, CPU against CUDA) run with the other kernel tests, which loop over
``reference.HIDDEN_ACTIVATIONS``; here: parameters, initial weights,
persistence, and against PyTorch (when installed; CI installs its CPU build):
one SGD step of every activation and loss, and the tutorial network's accuracy.
"""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from fastmlp import MLPClassifier, MLPRegressor, spec
from fastmlp.network import Network

from optional import optional

NEW_ACTIVATIONS = ["elu", "leaky_relu", "gelu", "softplus", "silu"]
INITS = ["glorot_uniform", "he_normal", "he_uniform", "lecun_normal"]


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0,
                                                        stratify=y)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


@pytest.mark.parametrize("activation", NEW_ACTIVATIONS)
@pytest.mark.parametrize("solver, batch_size", [("sgd", 1), ("adam", 32), ("lbfgs", "auto")])
def test_new_activations_learn(cancer, activation, solver, batch_size):
    X_train, X_test, y_train, y_test = cancer
    clf = MLPClassifier((16, 8), activation=activation, solver=solver, batch_size=batch_size,
                        max_iter=30, random_state=0, init="he_normal")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    assert clf.score(X_test, y_test) > 0.93
    assert np.isfinite(clf.loss_)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("activation", NEW_ACTIVATIONS)
def test_new_activations_in_a_regressor(activation):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (300, 1))
    y = 3 * np.sin(3 * X[:, 0])
    reg = MLPRegressor(hidden_layer_sizes=(32, 32), activation=activation, solver="lbfgs",
                       max_iter=500, random_state=0).fit(X, y)
    assert reg.score(X, y) > 0.98


@pytest.mark.parametrize("init", INITS)
def test_init_is_deterministic_for_a_random_state(init):
    units = [30, 20, 3]
    a = Network.initialize(units, "relu", "softmax", np.float64, np.random.RandomState(3), init)
    b = Network.initialize(units, "relu", "softmax", np.float64, np.random.RandomState(3), init)
    np.testing.assert_array_equal(a.params, b.params)
    c = Network.initialize(units, "relu", "softmax", np.float64, np.random.RandomState(4), init)
    assert not np.array_equal(a.params, c.params)


@pytest.mark.parametrize("init, kind, var", [("he_normal", "normal", 2.0),
                                             ("he_uniform", "uniform", 2.0),
                                             ("lecun_normal", "normal", 1.0)])
def test_fan_in_initialisations(init, kind, var):
    """Coefficients with variance var / fan_in (He: 2, LeCun: 1), intercepts zero."""
    fan_in = 400
    net = Network.initialize([fan_in, 300, 2], "relu", "logistic", np.float64,
                             np.random.RandomState(0), init)
    W = net.coefs[0]
    assert W.std() == pytest.approx(np.sqrt(var / fan_in), rel=0.02)
    assert abs(W.mean()) < 0.05 * W.std()
    if kind == "uniform":
        assert np.abs(W).max() <= np.sqrt(6.0 / fan_in)
        assert np.abs(W).max() > 0.99 * np.sqrt(6.0 / fan_in)
    for b in net.intercepts:
        np.testing.assert_array_equal(b, 0.0)


def test_default_init_is_scikit_learns(cancer):
    """Glorot-uniform stays the default: the same seed, scikit-learn's first epoch."""
    from sklearn.neural_network import MLPClassifier as SkMLP

    X_train, _, y_train, _ = cancer
    kwargs = dict(hidden_layer_sizes=(8,), max_iter=1, random_state=0, solver="sgd",
                  shuffle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(**kwargs).fit(X_train, y_train)
        theirs = SkMLP(**kwargs).fit(X_train, y_train)
    assert ours.get_params()["init"] == "glorot_uniform"
    for a, b in zip(ours.coefs_, theirs.coefs_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("param, value, allowed", [("activation", "swish2", "'gelu'"),
                                                   ("init", "zeros", "'he_normal'")])
def test_bad_values_raise_and_change_nothing(cancer, param, value, allowed):
    X_train, X_test, y_train, _ = cancer
    clf = MLPClassifier((4,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    before = [a.copy() for a in clf.coefs_ + clf.intercepts_]
    proba = clf.predict_proba(X_test)
    original = clf.get_params()[param]
    clf.set_params(**{param: value})
    with pytest.raises(InvalidParameterError,
                       match=f"'{param}' parameter .* must be a str among .*{allowed}"):
        clf.fit(X_train, y_train)
    for a, b in zip(clf.coefs_ + clf.intercepts_, before, strict=True):
        np.testing.assert_array_equal(a, b)
    if param == "activation":  # read at predict, as scikit-learn reads it
        with pytest.raises(ValueError, match="activation must be one of"):
            clf.predict_proba(X_test)
    clf.set_params(**{param: original})
    np.testing.assert_array_equal(clf.predict_proba(X_test), proba)


def test_parameters_travel_through_clone_set_params_and_search(cancer):
    X_train, _, y_train, _ = cancer
    clf = MLPClassifier((8,), activation="gelu", init="he_uniform", max_iter=20,
                        random_state=0)
    copy = clone(clf)
    assert copy.get_params()["activation"] == "gelu"
    assert copy.get_params()["init"] == "he_uniform"
    search = GridSearchCV(clf, {"activation": ["elu", "silu"], "init": ["he_normal",
                                                                        "lecun_normal"]},
                          cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X_train, y_train)
    assert search.best_params_["activation"] in ("elu", "silu")
    assert search.best_estimator_.init in ("he_normal", "lecun_normal")


def test_pickle_round_trip_and_models_pickled_before_init_existed(cancer):
    X_train, X_test, y_train, _ = cancer
    clf = MLPClassifier((8,), activation="softplus", init="he_normal", max_iter=10,
                        random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    loaded = pickle.loads(pickle.dumps(clf))
    assert loaded.init == "he_normal" and loaded.activation == "softplus"
    np.testing.assert_array_equal(loaded.predict_proba(X_test), clf.predict_proba(X_test))
    # A model pickled before ``init`` existed has no such attribute in its state.
    state = clf.__getstate__()
    del state["init"]
    old = MLPClassifier.__new__(MLPClassifier)
    old.__setstate__(state)
    assert old.get_params()["init"] == "glorot_uniform"
    np.testing.assert_array_equal(old.predict_proba(X_test), clf.predict_proba(X_test))


def _tutorial_network(**params):
    """The network of the NumPy tutorials: two ELU hidden layers, He-normal
    weights, a sigmoid output trained on binary cross-entropy."""
    return MLPClassifier(hidden_layer_sizes=(32, 16), activation="elu", init="he_normal",
                         solver="adam", learning_rate_init=1e-3, alpha=0.0, batch_size=32,
                         max_iter=30, shuffle=False, random_state=0, **params)


def test_tutorial_network_matches_pytorch(cancer):
    """The same network, initial weights, data order and optimizer in PyTorch
    reaches the same test accuracy (within 1 point)."""
    torch = optional("torch")
    X_train, X_test, y_train, y_test = cancer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = _tutorial_network().fit(X_train, y_train)
    ours_acc = ours.score(X_test, y_test)

    init = Network.initialize([X_train.shape[1], 32, 16, 1], "elu", "logistic", np.float64,
                              np.random.RandomState(0), "he_normal")
    torch.manual_seed(0)
    layers = []
    for i, (W, b) in enumerate(zip(init.coefs, init.intercepts, strict=True)):
        linear = torch.nn.Linear(*W.shape, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.T.copy()))
            linear.bias.copy_(torch.from_numpy(b.copy()))
        layers += [linear] + ([torch.nn.ELU()] if i < 2 else [])
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    Xt = torch.from_numpy(X_train)
    yt = torch.from_numpy(y_train.astype(np.float64)).reshape(-1, 1)
    for _ in range(30):
        for start in range(0, len(Xt), 32):
            optimizer.zero_grad()
            loss_fn(model(Xt[start:start + 32]), yt[start:start + 32]).backward()
            optimizer.step()
    with torch.no_grad():
        logits = model(torch.from_numpy(X_test)).numpy().ravel()
    torch_acc = float(np.mean((logits > 0) == y_test))
    assert torch_acc > 0.93
    assert abs(ours_acc - torch_acc) <= 0.01


def _torch_activation(torch, name):
    """PyTorch's function of each hidden activation, with its default constants."""
    F = torch.nn.functional
    return {"identity": lambda z: z, "logistic": torch.sigmoid, "tanh": torch.tanh,
            "relu": F.relu, "elu": F.elu, "leaky_relu": F.leaky_relu, "gelu": F.gelu,
            "softplus": F.softplus, "silu": F.silu}[name]


@pytest.mark.parametrize("task", ["regression", "binary", "multiclass"])
@pytest.mark.parametrize("activation", spec.HIDDEN_ACTIVATIONS)
def test_one_sgd_step_matches_pytorch(activation, task):
    """From the same weights, one full-batch SGD step (with L2 penalty) gives the
    weights PyTorch's autograd gives for the same network and loss: the
    activations' values, derivatives and constants are PyTorch's."""
    torch = optional("torch")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5))
    units, lr, alpha = [5, 7, 6], 0.1, 0.01
    if task == "regression":
        y = rng.standard_normal(40)
        est = MLPRegressor(hidden_layer_sizes=(7, 6))
    else:
        y = rng.integers(0, 2 if task == "binary" else 3, 40)
        est = MLPClassifier(hidden_layer_sizes=(7, 6))
    est.set_params(activation=activation, solver="sgd", momentum=0.0, alpha=alpha,
                   learning_rate_init=lr, batch_size=40, shuffle=False, max_iter=1,
                   random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)  # the architecture; then weights of our choosing
    sizes = units + [est.coefs_[-1].shape[1]]
    coefs = [rng.standard_normal((m, n)) for m, n in zip(sizes[:-1], sizes[1:], strict=True)]
    intercepts = [rng.standard_normal(n) for n in sizes[1:]]
    est.coefs_, est.intercepts_ = [c.copy() for c in coefs], [b.copy() for b in intercepts]
    est.partial_fit(X, y)

    f = _torch_activation(torch, activation)
    W = [torch.tensor(c, requires_grad=True) for c in coefs]
    b = [torch.tensor(v, requires_grad=True) for v in intercepts]
    a = torch.from_numpy(X)
    for i in range(len(W)):
        a = a @ W[i] + b[i]
        if i < len(W) - 1:
            a = f(a)
    F = torch.nn.functional
    if task == "regression":  # scikit-learn's squared error: half the mean square
        loss = 0.5 * torch.mean((a.ravel() - torch.from_numpy(y)) ** 2)
    elif task == "binary":
        loss = F.binary_cross_entropy_with_logits(a.ravel(), torch.from_numpy(y * 1.0))
    else:
        loss = F.cross_entropy(a, torch.from_numpy(y))
    # scikit-learn's L2 term: alpha / (2 n) times the squared weights (not biases)
    loss = loss + alpha / (2 * len(X)) * sum((w ** 2).sum() for w in W)
    loss.backward()
    for ours, theirs, grad in zip(est.coefs_ + est.intercepts_, coefs + intercepts,
                                  [w.grad for w in W] + [v.grad for v in b], strict=True):
        np.testing.assert_allclose(ours, theirs - lr * grad.numpy(), rtol=0, atol=1e-13)
