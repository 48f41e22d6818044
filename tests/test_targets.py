"""The kinds of target ``fit`` accepts and what ``predict`` returns for each:
binary, multiclass and multilabel-indicator classification (probabilities,
``classes_``, output activation), integer, string and object labels, column
vector ``y`` (``DataConversionWarning``), multi-output regression and the
Poisson loss (same loss as scikit-learn, rejects negative targets)."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.neural_network import MLPRegressor as SkMLPRegressor

from fastmlp import MLPClassifier, MLPRegressor

from estimator_helpers import SOLVERS, fit_quietly, quiet


# ========================================================== classification
def test_binary_classification(classification_data):
    X, y = classification_data
    clf = fit_quietly(MLPClassifier(**quiet(solver="lbfgs", max_iter=200)), X, y)
    assert clf.out_activation_ == "logistic"
    assert clf.n_outputs_ == 1 and clf.n_layers_ == 3
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    proba = clf.predict_proba(X)
    assert proba.shape == (80, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    with np.errstate(divide="ignore"):  # saturated probabilities: log(0) = -inf, as sklearn
        np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))
    assert clf.score(X, y) > 0.9


def test_multiclass_classification(multiclass_data):
    X, y = multiclass_data
    clf = fit_quietly(MLPClassifier(**quiet(solver="lbfgs", max_iter=300)), X, y)
    assert clf.out_activation_ == "softmax"
    assert clf.n_outputs_ == 3
    proba = clf.predict_proba(X)
    assert proba.shape == (90, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(X), proba.argmax(axis=1))
    assert clf.score(X, y) > 0.9


@pytest.mark.parametrize("solver", SOLVERS)
def test_multilabel_indicator_classification(solver):
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(n_samples=80, n_features=6, n_classes=3,
                                          random_state=0)
    clf = fit_quietly(MLPClassifier(**quiet(solver=solver, max_iter=200,
                                            hidden_layer_sizes=(20,),
                                            learning_rate_init=0.01)), X, Y)
    assert clf.out_activation_ == "logistic"
    assert clf.n_outputs_ == 3
    pred = clf.predict(X)
    assert pred.shape == (80, 3)
    assert set(np.unique(pred)) <= {0, 1}
    proba = clf.predict_proba(X)
    assert proba.shape == (80, 3)
    assert not np.allclose(proba.sum(axis=1), 1.0)  # independent logistic outputs
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(int))
    assert clf.score(X, Y) > 0.5  # subset accuracy


def test_string_and_integer_labels_give_the_same_model(multiclass_data):
    X, y = multiclass_data
    names = np.array(["cat", "dog", "eel"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf_int = MLPClassifier(**quiet()).fit(X, y + 10)
        clf_str = MLPClassifier(**quiet()).fit(X, names[y])
        clf_obj = MLPClassifier(**quiet()).fit(X, names[y].astype(object))
    np.testing.assert_array_equal(clf_int.classes_, [10, 11, 12])
    np.testing.assert_array_equal(clf_str.classes_, names)
    np.testing.assert_array_equal(clf_str.predict(X), names[clf_int.predict(X) - 10])
    np.testing.assert_array_equal(clf_obj.predict(X), clf_str.predict(X))
    np.testing.assert_allclose(clf_str.predict_proba(X), clf_int.predict_proba(X))
    assert clf_str.predict(X).dtype.kind == "U"


def test_binary_string_labels(classification_data):
    X, y = classification_data
    labels = np.array(["no", "yes"])
    clf = fit_quietly(MLPClassifier(**quiet()), X, labels[y])
    assert set(clf.predict(X)) <= {"no", "yes"}
    assert clf.predict_proba(X).shape == (80, 2)


def test_column_vector_y_warns(classification_data):
    X, y = classification_data
    with pytest.warns(DataConversionWarning):
        fit_quietly(MLPClassifier(**quiet(max_iter=2)), X, y.reshape(-1, 1))
    with pytest.warns(DataConversionWarning):
        fit_quietly(MLPRegressor(**quiet(max_iter=2)), X, y.reshape(-1, 1).astype(float))


# ============================================================== regression
@pytest.mark.parametrize("solver", SOLVERS)
def test_multi_output_regression(solver, regression_data):
    X, y = regression_data
    Y = np.column_stack([y, -2 * y, X[:, 0]])
    reg = fit_quietly(MLPRegressor(**quiet(solver=solver, max_iter=300,
                                           hidden_layer_sizes=(16,),
                                           learning_rate_init=0.01)), X, Y)
    assert reg.n_outputs_ == 3 and reg.out_activation_ == "identity"
    pred = reg.predict(X)
    assert pred.shape == (70, 3)
    assert reg.score(X, Y) > 0.8
    single = fit_quietly(MLPRegressor(**quiet(solver=solver)), X, y)
    assert single.predict(X).shape == (70,)


@pytest.mark.parametrize("solver", SOLVERS)
def test_poisson_loss(solver):
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, (150, 3))
    y = rng.poisson(np.exp(0.5 + X[:, 0] - X[:, 1]))
    reg = fit_quietly(MLPRegressor(**quiet(loss="poisson", solver=solver, max_iter=200,
                                           learning_rate_init=0.01)), X, y)
    assert reg.out_activation_ == "exp"
    pred = reg.predict(X)
    assert (pred > 0).all()
    from sklearn.metrics import mean_poisson_deviance

    baseline = mean_poisson_deviance(y, np.full(len(y), y.mean()))
    assert mean_poisson_deviance(y, pred) < 0.8 * baseline
    # Same model and loss as scikit-learn (one epoch, same seed).
    ours = fit_quietly(MLPRegressor(**quiet(loss="poisson", solver=solver, max_iter=3)), X, y)
    theirs = fit_quietly(SkMLPRegressor(**quiet(loss="poisson", solver=solver, max_iter=3)),
                         X, y)
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-9)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-8)


def test_poisson_rejects_negative_targets(regression_data):
    X, y = regression_data
    with pytest.raises(ValueError, match="non-negative y"):
        MLPRegressor(loss="poisson").fit(X, y)
