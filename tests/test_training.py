"""How a fit runs and ends: ``ConvergenceWarning`` when ``max_iter`` is reached
(and none when the fit converges), the adaptive learning rate, Ctrl-C keeping
the epochs done so far, early stopping (best weights restored, stratified
validation split, the validation attributes and their errors) and the
``verbose`` output of every solver."""

import re
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkMLPClassifier

from fastmlp import MLPClassifier, MLPRegressor

from estimator_helpers import (
    EST_IDS,
    ESTIMATORS,
    SOLVERS,
    fit_quietly,
    flat,
    interrupt_third_epoch,
    quiet,
)


# ========================================================== convergence
@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_max_iter_reached_warns(Est, solver, classification_data):
    X, y = classification_data
    with pytest.warns(ConvergenceWarning,
                      match=r"Stochastic Optimizer: Maximum iterations \(3\) reached"):
        est = Est(**quiet(solver=solver, max_iter=3)).fit(X, y)
    assert est.n_iter_ == 3 and len(est.loss_curve_) == 3


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_warnings_name_the_callers_line(method, classification_data):
    """Warnings raised deep inside a fit point at the line that called it."""
    X, y = classification_data
    est = MLPRegressor(batch_size=10**6, max_iter=2)
    with pytest.warns(UserWarning, match="batch_size") as record:
        getattr(est, method)(X, y)
    assert {w.filename for w in record} == {__file__}


@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
def test_lbfgs_not_converged_warns(Est, classification_data):
    X, y = classification_data
    with pytest.warns(ConvergenceWarning, match=r"lbfgs failed to converge after 2 iteration"):
        est = Est(**quiet(solver="lbfgs", max_iter=2)).fit(X, y)
    assert est.n_iter_ == 2


@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_converged_fit_does_not_warn(Est, solver, classification_data):
    X, y = classification_data
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = Est(**quiet(solver=solver, tol=10.0, max_iter=200, n_iter_no_change=2)).fit(X, y)
    assert est.n_iter_ < 200
    if solver != "lbfgs":
        # Stopped after n_iter_no_change + 1 epochs without improvement by tol.
        assert est.n_iter_ == 4


def test_adaptive_learning_rate_divides_by_five(classification_data):
    X, y = classification_data
    clf = fit_quietly(MLPClassifier(**quiet(solver="sgd", learning_rate="adaptive", tol=10.0,
                                            n_iter_no_change=1, max_iter=8,
                                            learning_rate_init=0.1)), X, y)
    # No epoch improves by tol=10: after the first, lr is divided by 5 every
    # n_iter_no_change + 1 = 2 epochs (epochs 3, 5, 7), as in scikit-learn.
    assert clf._optimizer.learning_rate == pytest.approx(0.1 / 5**3, rel=1e-12)
    assert clf.n_iter_ == 8
    sk = fit_quietly(SkMLPClassifier(**quiet(solver="sgd", learning_rate="adaptive", tol=10.0,
                                             n_iter_no_change=1, max_iter=8,
                                             learning_rate_init=0.1)), X, y)
    assert sk._optimizer.learning_rate == pytest.approx(clf._optimizer.learning_rate, rel=1e-12)
    # ... and it stops once the rate is at most 1e-6.
    clf = fit_quietly(MLPClassifier(**quiet(solver="sgd", learning_rate="adaptive", tol=10.0,
                                            n_iter_no_change=1, max_iter=100,
                                            learning_rate_init=0.1)), X, y)
    assert clf.n_iter_ < 100
    assert clf._optimizer.learning_rate <= 1e-6


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_keyboard_interrupt_keeps_epochs_done(solver, classification_data, monkeypatch):
    """Ctrl-C during training ends it with a warning and the epochs done so far,
    as in scikit-learn."""
    X, y = classification_data
    interrupt_third_epoch(monkeypatch)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        clf = MLPClassifier(**quiet(solver=solver)).fit(X, y)
    assert clf.n_iter_ == 2 and len(clf.loss_curve_) == 2
    assert clf.predict(X).shape == (80,)


# ========================================================== early stopping
def record_validation(est, monkeypatch):
    """Wrap ``est``'s class's ``_score_output`` to record (parameters, validation
    y, score) per epoch (of the draft a fit trains, which holds the parameters)."""
    records = []
    original = type(est)._score_output

    def recording_score(model, output, y, sample_weight=None):
        score = original(model, output, y, sample_weight)
        records.append((flat(model).copy(), np.array(y), score))
        return score

    monkeypatch.setattr(type(est), "_score_output", recording_score)
    return records


@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_early_stopping_restores_best_weights(Est, solver, multiclass_data, monkeypatch):
    X, y = multiclass_data
    est = Est(**quiet(solver=solver, early_stopping=True, max_iter=60, n_iter_no_change=3,
                      validation_fraction=0.2, learning_rate_init=0.05))
    records = record_validation(est, monkeypatch)
    fit_quietly(est, X, y)
    scores = [r[2] for r in records]
    assert est.validation_scores_ == scores
    assert len(scores) == est.n_iter_ == len(est.loss_curve_)
    assert est.best_validation_score_ == max(scores)
    assert est.best_loss_ is None
    best = int(np.argmax(scores))
    assert best < len(scores) - 1  # the last epoch was not the best: restoring matters
    np.testing.assert_array_equal(flat(est), records[best][0])
    assert len(records[0][1]) == 18  # 20% of 90 rows held out


def test_early_stopping_split_is_stratified(monkeypatch):
    rng = np.random.default_rng(4)
    y = np.repeat([0, 1, 2], [120, 60, 20])
    X = rng.standard_normal((200, 4)) + y[:, None]
    for seed in range(3):
        clf = MLPClassifier(**quiet(early_stopping=True, max_iter=2, random_state=seed))
        records = record_validation(clf, monkeypatch)
        fit_quietly(clf, X, y)
        np.testing.assert_array_equal(np.bincount(records[0][1], minlength=3), [12, 6, 2])


@pytest.mark.parametrize("case", ["fewer held-out rows than classes", "one-member class"])
def test_early_stopping_fits_what_sklearn_fits(case):
    """Where stratification is impossible the split is unstratified, as
    scikit-learn's for multiclass targets: both libraries fit."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    if case == "fewer held-out rows than classes":
        X, y = X[:60] / 16, y[:60]  # 6 held-out rows, 10 classes
    else:
        rows = np.r_[np.flatnonzero(y != 9)[:200], np.flatnonzero(y == 9)[:1]]
        X, y = X[rows] / 16, y[rows]
    params = quiet(early_stopping=True, max_iter=3, random_state=0)
    fit_quietly(SkMLPClassifier(**params), X, y)
    clf = fit_quietly(MLPClassifier(**params), X, y)
    assert len(clf.validation_scores_) == clf.n_iter_ > 0


def test_early_stopping_multilabel_and_sample_weight():
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(n_samples=60, n_features=5, random_state=0)
    clf = fit_quietly(MLPClassifier(**quiet(early_stopping=True, max_iter=5)), X, Y,
                      sample_weight=np.linspace(0.5, 2, 60))
    assert len(clf.validation_scores_) == clf.n_iter_


def test_no_early_stopping_attributes(classification_data):
    clf = fit_quietly(MLPClassifier(**quiet(max_iter=3)), *classification_data)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    assert clf.best_loss_ == min(clf.loss_curve_)


def test_early_stopping_validation_set_too_small(classification_data):
    X, y = classification_data
    with pytest.raises(ValueError, match="The validation set is too small"):
        MLPRegressor(early_stopping=True, validation_fraction=0.01).fit(X[:20], y[:20])


def test_partial_fit_rejects_early_stopping(regression_data):
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        MLPRegressor(early_stopping=True).partial_fit(*regression_data)


# ================================================================= verbose
@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_verbose_prints_iterations(Est, solver, classification_data, capsys):
    X, y = classification_data
    est = fit_quietly(Est(**quiet(solver=solver, max_iter=4, verbose=True)), X, y)
    out = capsys.readouterr().out
    lines = re.findall(r"^Iteration (\d+), loss = (\d+\.\d{8})$", out, flags=re.M)
    assert [int(n) for n, _ in lines] == list(range(1, est.n_iter_ + 1))
    if solver != "lbfgs":
        np.testing.assert_allclose([float(v) for _, v in lines], est.loss_curve_, atol=1e-8)
    else:
        assert float(lines[-1][1]) == pytest.approx(est.loss_, abs=1e-8)


def test_verbose_early_stopping_prints_validation_scores(classification_data, capsys):
    X, y = classification_data
    fit_quietly(MLPClassifier(**quiet(max_iter=3, verbose=True, early_stopping=True)), X, y)
    out = capsys.readouterr().out
    assert len(re.findall(r"^Validation score: \d\.\d+$", out, flags=re.M)) == 3


def test_not_verbose_prints_nothing(classification_data, capsys):
    for solver in SOLVERS:
        fit_quietly(MLPClassifier(**quiet(solver=solver, max_iter=3)), *classification_data)
    assert capsys.readouterr().out == ""
