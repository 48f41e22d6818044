"""MLPClassifier(class_weight=...): weights of the classes, multiplied into
sample_weight as in scikit-learn's other classifiers."""

import io
import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import GridSearchCV
from sklearn.utils import compute_class_weight, compute_sample_weight
from sklearn.utils._param_validation import InvalidParameterError

import fastmlp
from fastmlp import MLPClassifier

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)


def data(n_classes, labels=None):
    X, y = make_classification(n_samples=120, n_features=6, n_informative=4,
                               n_classes=n_classes, weights=None, random_state=0)
    keep = (y != 0) | (np.arange(120) % 4 == 0)  # class 0 rarer: weights matter
    X, y = X[keep], y[keep]
    return X, (np.asarray(labels)[y] if labels is not None else y)


def params(est):
    return [a.copy() for a in est.coefs_ + est.intercepts_]


def assert_same_fit(a, b):
    for p, q in zip(params(a), params(b), strict=True):
        np.testing.assert_array_equal(p, q)
    assert a.loss_curve_ == b.loss_curve_ if hasattr(a, "loss_curve_") else a.loss_ == b.loss_


@pytest.mark.parametrize("solver, batch_size", [("sgd", 1), ("adam", 16), ("lbfgs", "auto")])
@pytest.mark.parametrize("n_classes, labels", [(2, None), (3, None), (3, ["c", "a", "b"])])
@pytest.mark.parametrize("with_sample_weight", [False, True])
def test_balanced_is_the_balanced_sample_weight(solver, batch_size, n_classes, labels,
                                                with_sample_weight):
    X, y = data(n_classes, labels)
    sw = np.random.default_rng(0).uniform(0.5, 2, len(y)) if with_sample_weight else None
    base = MLPClassifier((8,), solver=solver, batch_size=batch_size, max_iter=15,
                         random_state=0)
    ours = clone(base).set_params(class_weight="balanced").fit(X, y, sample_weight=sw)
    expected = compute_sample_weight("balanced", y) * (1 if sw is None else sw)
    theirs = clone(base).fit(X, y, sample_weight=expected)
    assert_same_fit(ours, theirs)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_a_dict_weighs_its_classes_and_leaves_the_others_at_one(early_stopping):
    X, y = data(3, ["c", "a", "b"])
    weights = {"a": 3.0, "c": 0.5}
    base = MLPClassifier((8,), max_iter=10, early_stopping=early_stopping, random_state=0)
    ours = clone(base).set_params(class_weight=weights).fit(X, y)
    theirs = clone(base).fit(X, y, sample_weight=np.array([weights.get(c, 1.0) for c in y]))
    assert_same_fit(ours, theirs)
    if early_stopping:
        assert ours.validation_scores_ == theirs.validation_scores_


def test_class_weights_change_the_fit():
    X, y = data(2)
    plain = MLPClassifier((8,), max_iter=20, random_state=0).fit(X, y)
    heavy = MLPClassifier((8,), max_iter=20, random_state=0,
                          class_weight={0: 50.0, 1: 0.01}).fit(X, y)
    assert (heavy.predict(X) == 0).mean() > (plain.predict(X) == 0).mean()


def test_partial_fit_takes_a_dict_and_refuses_balanced_as_sgdclassifier_does():
    X, y = data(3)
    classes = np.unique(y)
    weights = dict(zip(classes, compute_class_weight("balanced", classes=classes, y=y),
                       strict=True))
    ours = MLPClassifier((8,), random_state=0, class_weight=weights)
    theirs = MLPClassifier((8,), random_state=0)
    for _ in range(3):
        ours.partial_fit(X, y, classes=classes)
        theirs.partial_fit(X, y, classes=classes, sample_weight=compute_sample_weight(
            "balanced", y))
    assert_same_fit(ours, theirs)

    with pytest.raises(ValueError) as sgd_error:
        SGDClassifier(class_weight="balanced").partial_fit(X, y, classes=classes)
    balanced = MLPClassifier((8,), random_state=0, class_weight="balanced")
    with pytest.raises(ValueError) as our_error:
        balanced.partial_fit(X, y, classes=classes)
    assert str(our_error.value) == str(sgd_error.value)
    assert not hasattr(balanced, "coefs_")  # nothing half-fitted


def test_bad_class_weights_raise_and_change_nothing():
    X, y = data(2)
    fitted = MLPClassifier((4,), max_iter=3, random_state=0).fit(X, y)
    before = params(fitted)
    with pytest.raises(InvalidParameterError, match="class_weight"):
        fitted.set_params(class_weight="auto").fit(X, y)
    with pytest.raises(ValueError, match="not in class"):
        fitted.set_params(class_weight={0: 1.0, 7: 2.0}).fit(X, y)
    Y = np.c_[y, 1 - y]
    with pytest.raises(ValueError, match="multilabel"):
        MLPClassifier((4,), class_weight="balanced").fit(X, Y)
    for p, q in zip(params(fitted), before, strict=True):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("weights", ["balanced", {0: 2.0, 1: 0.5}, {"no": 2.0, "yes": 0.5}])
def test_class_weight_round_trips(weights):
    labels = ["no", "yes"] if isinstance(weights, dict) and "no" in weights else None
    X, y = data(2, labels)
    clf = MLPClassifier((4,), max_iter=5, random_state=0, class_weight=weights).fit(X, y)
    assert clone(clf).get_params()["class_weight"] == weights
    buffer = io.BytesIO()
    fastmlp.save(clf, buffer)
    for copy in (pickle.loads(pickle.dumps(clf)), fastmlp.load(io.BytesIO(buffer.getvalue()))):
        assert copy.class_weight == weights
        np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
        copy.set_params(warm_start=True, max_iter=2).fit(X, y)  # training goes on


def test_class_weight_in_a_grid_search():
    X, y = data(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(MLPClassifier((4,), max_iter=5, random_state=0),
                              {"class_weight": [None, "balanced", {0: 3.0}]}, cv=2).fit(X, y)
    assert len(search.cv_results_["params"]) == 3
