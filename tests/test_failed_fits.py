"""Fits that fail: training that overflows to non-finite weights raises
scikit-learn's ``ValueError`` (also for the Poisson loss), and a failed fit
changes nothing: a new estimator stays unfitted, and a fitted one, whether
refitted cold, warm-started or given a ``partial_fit``, keeps its weights,
predictions, loss curve, counters and optimizer state."""


import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.utils.validation import check_is_fitted

from fastmlp import MLPClassifier, MLPRegressor

from estimator_helpers import fit_quietly, flat, quiet


def huge(X):
    return X * 1e300


# Configurations whose training overflows, in scikit-learn as in fastmlp (a logistic /
# softmax output bounds the output delta, and Adam bounds the step, so only these do).
NON_FINITE = [
    (MLPClassifier, SkMLPClassifier, "sgd", "huge_X"),
    (MLPRegressor, SkMLPRegressor, "sgd", "huge_X"),
    (MLPRegressor, SkMLPRegressor, "sgd", "huge_lr"),
    (MLPRegressor, SkMLPRegressor, "adam", "huge_X"),
]
NON_FINITE_IDS = ["classifier-sgd-huge_X", "regressor-sgd-huge_X", "regressor-sgd-huge_lr",
                  "regressor-adam-huge_X"]


def non_finite_problem(how, X, y):
    lr = 1e10 if how == "huge_lr" else 0.001
    return lr, (huge(X) if how == "huge_X" else X), y


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # scikit-learn's overflow warnings
@pytest.mark.parametrize("Est, SkEst, solver, how", NON_FINITE, ids=NON_FINITE_IDS)
def test_non_finite_fit_raises_and_leaves_unfitted(Est, SkEst, solver, how,
                                                   classification_data):
    lr, X, y = non_finite_problem(how, *classification_data)
    est = Est(**quiet(solver=solver, learning_rate_init=lr))
    before = dict(est.__dict__)
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights"):
        fit_quietly(est, X, y)
    assert est.__dict__.keys() == before.keys()
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    with pytest.raises(NotFittedError):
        est.predict(X)
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights"):
        fit_quietly(SkEst(**quiet(solver=solver, learning_rate_init=lr)), X, y)


def test_poisson_divergence_raises_non_finite_error():
    """sgd on counts with a large step: exp(z) overflows / underflows to 0, which
    must surface as the non-finite ValueError (not e.g. ZeroDivisionError from
    the compiled kernels). scikit-learn here finishes with a NaN loss curve."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((120, 8)) + 1
    y = rng.poisson(3.0, 120)
    est = MLPRegressor(**quiet(loss="poisson", solver="sgd", learning_rate_init=0.1,
                               hidden_layer_sizes=(9,)))
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights"):
        fit_quietly(est, X, y)
    assert not hasattr(est, "coefs_")


def snapshot(est, X):
    pred = est.predict_proba(X) if hasattr(est, "predict_proba") else est.predict(X)
    return (flat(est).copy(), pred, list(est.loss_curve_), est.n_iter_, est.t_,
            est._optimizer.state.copy(), est._optimizer.step.copy())


def assert_same_snapshot(a, b):
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2:5] == b[2:5]
    np.testing.assert_array_equal(a[5], b[5])
    np.testing.assert_array_equal(a[6], b[6])


@pytest.mark.parametrize("Est, SkEst, solver, how", [c for c in NON_FINITE if c[3] == "huge_X"],
                         ids=[i for i in NON_FINITE_IDS if i.endswith("huge_X")])
@pytest.mark.parametrize("method", ["warm_start", "partial_fit"])
def test_non_finite_continuation_leaves_model_unchanged(Est, SkEst, solver, how, method,
                                                        classification_data):
    X, y = classification_data
    est = fit_quietly(Est(**quiet(solver=solver, max_iter=5, batch_size=10)), X, y)
    coefs_objects = est.coefs_
    before = snapshot(est, X)
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights"):
        if method == "warm_start":
            est.set_params(warm_start=True)
            fit_quietly(est, huge(X), y)
        else:
            est.partial_fit(huge(X), y)
    assert est.coefs_ is coefs_objects
    assert_same_snapshot(snapshot(est, X), before)
    # The model still trains normally afterwards, from where it was.
    est.partial_fit(X, y)
    assert est.n_iter_ == 1 and len(est.loss_curve_) == 6


def test_failed_fit_on_fitted_estimator_keeps_model(classification_data):
    """A cold refit that fails leaves the previous model (not a half-trained one)."""
    X, y = classification_data
    est = fit_quietly(MLPRegressor(**quiet(solver="sgd", max_iter=5)), X, y)
    before = snapshot(est, X)
    est.set_params(learning_rate_init=1e10)
    with pytest.raises(ValueError, match="non-finite"):
        fit_quietly(est, X, y)
    assert_same_snapshot(snapshot(est, X), before)
