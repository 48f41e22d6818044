"""Parity with scikit-learn's MLPs at identical hyperparameters.

1. Quality: fastmlp's held-out score is at least scikit-learn's - 0.01 (mean
   of 3 seeds) on digits, breast cancer, diabetes and Friedman #1, per solver.
2. Exactness: in float64 with the same random_state, fastmlp draws the same
   initial weights, shuffles the same way and does the same arithmetic, so
   coefs_, intercepts_, loss_curve_, n_iter_ (and the early-stopping record)
   equal scikit-learn's to ~1e-8, on both CPU training paths (mini-batch
   blocks through gemm, and the per-sample loop path).
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.preprocessing import StandardScaler

from fastmlp import MLPClassifier, MLPRegressor, config

SOLVERS = ["adam", "sgd", "lbfgs"]


def fit(est, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kwargs)


# ======================================================== held-out quality
def _split(X, y):
    return train_test_split(X, y, test_size=0.3, random_state=0)


def digits():
    X, y = load_digits(return_X_y=True)
    return _split(X / 16.0, y)


def breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X_tr, X_te, y_tr, y_te = _split(X, y)
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_te), y_tr, y_te


def diabetes():
    X, y = load_diabetes(return_X_y=True)
    X_tr, X_te, y_tr, y_te = _split(X, y)
    xs = StandardScaler().fit(X_tr)
    mu, sd = y_tr.mean(), y_tr.std()
    return xs.transform(X_tr), xs.transform(X_te), (y_tr - mu) / sd, (y_te - mu) / sd


def friedman1():
    X, y = make_friedman1(n_samples=400, noise=0.5, random_state=0)
    return _split(X, y)


DATASETS = {
    "digits": (digits, MLPClassifier, SkMLPClassifier),
    "breast_cancer": (breast_cancer, MLPClassifier, SkMLPClassifier),
    "diabetes": (diabetes, MLPRegressor, SkMLPRegressor),
    "friedman1": (friedman1, MLPRegressor, SkMLPRegressor),
}
# Modest sizes keep the module fast (the same hyperparameters go to both libraries).
HYPER = {
    "adam": dict(max_iter=40, learning_rate_init=0.01),
    "sgd": dict(max_iter=40, learning_rate_init=0.01),
    "lbfgs": dict(max_iter=60),
}


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("dataset", list(DATASETS))
def test_held_out_score_not_worse_than_sklearn(dataset, solver):
    load, Ours, Theirs = DATASETS[dataset]
    X_tr, X_te, y_tr, y_te = load()
    ours, theirs = [], []
    for seed in range(3):
        params = dict(HYPER[solver], solver=solver, random_state=seed, alpha=1.0,
                      hidden_layer_sizes=(16,))
        ours.append(fit(Ours(**params), X_tr, y_tr).score(X_te, y_te))
        theirs.append(fit(Theirs(**params), X_tr, y_tr).score(X_te, y_te))
    assert np.mean(ours) >= np.mean(theirs) - 0.01, (ours, theirs)
    # and both really learned something
    assert np.mean(ours) > (0.85 if Ours is MLPClassifier else 0.15)


# ============================================================== exactness
@pytest.fixture(params=["blocks", "rows"])
def cpu_path(request, monkeypatch):
    """Force the CPU backend's mini-batch path: 'blocks' (training.run_epoch, gemm
    over a gathered block) or 'rows' (rows.run_epoch_rows, per-sample loops).
    Batch size 1 always takes the rows path."""
    monkeypatch.setattr(config, "ROWS_PATH_MACS", 0 if request.param == "blocks" else 10**12)
    return request.param


def assert_same_fit(ours, theirs, rtol=1e-8):
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.t_ == theirs.t_
    assert ours.n_layers_ == theirs.n_layers_
    assert ours.out_activation_ == theirs.out_activation_
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_,
                    strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2)
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=rtol)
    if hasattr(theirs, "loss_curve_"):
        assert len(ours.loss_curve_) == len(theirs.loss_curve_)
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=rtol)
        if theirs.best_loss_ is None:
            assert ours.best_loss_ is None
        else:
            np.testing.assert_allclose(ours.best_loss_, theirs.best_loss_, rtol=rtol)
        if theirs.validation_scores_ is None:
            assert ours.validation_scores_ is None
        else:
            np.testing.assert_allclose(ours.validation_scores_, theirs.validation_scores_,
                                       rtol=rtol)
            np.testing.assert_allclose(ours.best_validation_score_,
                                       theirs.best_validation_score_, rtol=rtol)


def small_multiclass():
    X, y = load_digits(return_X_y=True)
    return X[:240] / 16.0, y[:240]


def small_binary():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return X[:200], y[:200]


def small_regression():
    X, y = make_friedman1(n_samples=150, n_features=6, random_state=1)
    return X, (y - y.mean()) / y.std()


PROBLEMS = {
    "multiclass": (small_multiclass, MLPClassifier, SkMLPClassifier),
    "binary": (small_binary, MLPClassifier, SkMLPClassifier),
    "regression": (small_regression, MLPRegressor, SkMLPRegressor),
}


def check_exact(problem, params, sample_weight=None, X_transform=None, rtol=1e-8):
    load, Ours, Theirs = PROBLEMS[problem]
    X, y = load()
    base = dict(hidden_layer_sizes=(12, 7), random_state=3, max_iter=12)
    base.update(params)
    kwargs = {} if sample_weight is None else {"sample_weight": sample_weight(len(y))}
    theirs = fit(Theirs(**base), X, y, **kwargs)
    Xo = X if X_transform is None else X_transform(X)
    ours = fit(Ours(**base), Xo, y, **kwargs)
    assert_same_fit(ours, theirs, rtol=rtol)
    np.testing.assert_allclose(ours.predict(Xo), theirs.predict(X), rtol=rtol, atol=rtol)
    return ours, theirs


@pytest.mark.parametrize("problem", list(PROBLEMS))
@pytest.mark.parametrize("solver", SOLVERS)
def test_same_fit_as_sklearn(problem, solver, cpu_path):
    ours, theirs = check_exact(problem, dict(solver=solver, learning_rate_init=0.01))
    if problem != "regression":
        X = PROBLEMS[problem][0]()[0]
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-8,
                                   atol=1e-10)


SGD_VARIANTS = {
    "invscaling": dict(learning_rate="invscaling", learning_rate_init=0.1, power_t=0.3),
    "adaptive": dict(learning_rate="adaptive", learning_rate_init=0.1, tol=0.05,
                     n_iter_no_change=1, max_iter=15),
    "nesterov": dict(nesterovs_momentum=True, momentum=0.8),
    "classic_momentum": dict(nesterovs_momentum=False, momentum=0.8),
    "no_momentum": dict(momentum=0.0),
    "batch_1": dict(batch_size=1, max_iter=3),
    "ragged_batches": dict(batch_size=37),
    "no_shuffle": dict(shuffle=False),
}


@pytest.mark.parametrize("variant", list(SGD_VARIANTS))
@pytest.mark.parametrize("problem", ["multiclass", "regression"])
def test_same_sgd_schedule_and_momentum_as_sklearn(variant, problem, cpu_path):
    params = dict(solver="sgd", learning_rate_init=0.05)
    params.update(SGD_VARIANTS[variant])
    ours, theirs = check_exact(problem, params)
    np.testing.assert_allclose(ours._optimizer.learning_rate, theirs._optimizer.learning_rate,
                               rtol=1e-12)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_same_early_stopping_as_sklearn(solver, cpu_path):
    ours, theirs = check_exact("binary", dict(solver=solver, early_stopping=True, max_iter=40,
                                              learning_rate_init=0.01, n_iter_no_change=3,
                                              validation_fraction=0.2))
    assert len(ours.validation_scores_) == ours.n_iter_ < 40  # it did stop early


@pytest.mark.parametrize("problem", list(PROBLEMS))
@pytest.mark.parametrize("solver", SOLVERS)
def test_same_weighted_fit_as_sklearn(problem, solver, cpu_path):
    def weights(n):
        return np.random.default_rng(0).uniform(0.1, 3.0, n)

    check_exact(problem, dict(solver=solver, learning_rate_init=0.01, alpha=0.01),
                sample_weight=weights)


@pytest.mark.parametrize("solver", SOLVERS)
def test_same_fit_as_sklearn_on_sparse_input(solver):
    check_exact("multiclass", dict(solver=solver, learning_rate_init=0.01),
                X_transform=sp.csr_matrix)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_same_partial_fit_as_sklearn(solver):
    X, y = small_multiclass()
    params = dict(hidden_layer_sizes=(10,), solver=solver, random_state=0,
                  learning_rate_init=0.01)
    ours, theirs = MLPClassifier(**params), SkMLPClassifier(**params)
    for start in range(0, 240, 80):
        ours.partial_fit(X[start:start + 80], y[start:start + 80], classes=np.arange(10))
        theirs.partial_fit(X[start:start + 80], y[start:start + 80], classes=np.arange(10))
    assert_same_fit(ours, theirs)


def test_same_multilabel_and_poisson_fits_as_sklearn():
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(n_samples=120, n_features=8, n_classes=4,
                                          random_state=0)
    for solver in SOLVERS:
        params = dict(hidden_layer_sizes=(9,), solver=solver, random_state=1, max_iter=10,
                      learning_rate_init=1e-4 if solver == "sgd" else 1e-3)
        assert_same_fit(fit(MLPClassifier(**params), X, Y), fit(SkMLPClassifier(**params), X, Y))
        y = Y.sum(axis=1)
        params["loss"] = "poisson"
        assert_same_fit(fit(MLPRegressor(**params), X, y), fit(SkMLPRegressor(**params), X, y))


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_same_fit_for_every_activation(activation):
    for solver in SOLVERS:
        check_exact("multiclass", dict(solver=solver, activation=activation, max_iter=6))


def test_float32_close_to_sklearn():
    """float32 cannot be bit-exact (different summation order) but stays close."""
    X, y = small_multiclass()
    X = X.astype(np.float32)
    params = dict(hidden_layer_sizes=(12,), random_state=3, max_iter=10)
    ours, theirs = fit(MLPClassifier(**params), X, y), fit(SkMLPClassifier(**params), X, y)
    assert ours.coefs_[0].dtype == theirs.coefs_[0].dtype == np.float32
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-4)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-4)


@pytest.mark.parametrize("hidden", [(), (6, 5, 4)], ids=["no_hidden_layer", "three_hidden"])
@pytest.mark.parametrize("batch_size", ["auto", 1])
def test_same_fit_for_other_architectures(hidden, batch_size):
    for solver in SOLVERS:
        for problem in ("multiclass", "regression"):
            check_exact(problem, dict(solver=solver, hidden_layer_sizes=hidden, max_iter=4,
                                      batch_size=batch_size))
