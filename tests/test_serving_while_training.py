"""A model serves predictions while it retrains: a fit publishes its new state in
one step at the end, so a prediction (or a save) running meanwhile in another
thread uses the whole old model or the whole new one, never a mix."""

import io
import threading

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning

import fastmlp
from fastmlp import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)

ROUNDS = 8


def _serve(calls, stop, results):
    """Call each of ``calls`` in turn until ``stop`` is set; keep what they give
    (or the exception they raise)."""
    while not stop.is_set():
        for name, call in calls.items():
            try:
                results.append((name, call()))
            except Exception as error:  # every one is a failure of the test
                results.append((name, error))


def _hammer(model, calls, retrain, n_threads=3):
    """Run ``calls`` in ``n_threads`` threads while ``retrain()`` runs here."""
    stop, results = threading.Event(), []
    threads = [threading.Thread(target=_serve, args=(calls, stop, results))
               for _ in range(n_threads)]
    for thread in threads:
        thread.start()
    try:
        retrain()
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    return results


def _which(value, expected):
    """Index of the entry of ``expected`` that ``value`` equals exactly (shape,
    dtype and bits), or None."""
    for i, candidate in enumerate(expected):
        if (isinstance(value, np.ndarray) and value.shape == candidate.shape
                and value.dtype == candidate.dtype and np.array_equal(value, candidate)):
            return i
    return None


@pytest.mark.parametrize("early_stopping", [False, True])
def test_predict_while_refitting_sees_the_old_or_the_new_model(early_stopping):
    # refits alternate between 2 and 4 classes: a mixed state would have the
    # wrong shape or the wrong labels
    X2, y2 = make_classification(n_samples=300, n_features=8, n_informative=5, n_classes=2,
                                 random_state=0)
    X4, y4 = make_classification(n_samples=300, n_features=8, n_informative=5, n_classes=4,
                                 random_state=1)
    y4 = y4 + 10  # other labels too
    query = X2[:50]
    model = MLPClassifier((32,), max_iter=30, tol=0, early_stopping=early_stopping,
                          random_state=0)
    data = [(X2, y2), (X4, y4)]
    expected = {"predict_proba": [], "predict": [], "save": []}
    for X, y in data:
        fitted = clone(model).fit(X, y)
        expected["predict_proba"].append(fitted.predict_proba(query))
        expected["predict"].append(fitted.predict(query))
        expected["save"].append(fitted.predict_proba(query))

    def saved_and_loaded():
        buffer = io.BytesIO()
        fastmlp.save(model, buffer)
        return fastmlp.load(io.BytesIO(buffer.getvalue())).predict_proba(query)

    def retrain():
        for i in range(ROUNDS):
            model.fit(*data[(i + 1) % 2])

    model.fit(*data[0])
    results = _hammer(model, {"predict_proba": lambda: model.predict_proba(query),
                              "predict": lambda: model.predict(query),
                              "save": saved_and_loaded}, retrain)
    bad = [(name, value) for name, value in results if _which(value, expected[name]) is None]
    seen = {_which(value, expected[name]) for name, value in results} - {None}
    assert not bad, f"{len(bad)} of {len(results)} calls mixed two models, first: {bad[0]}"
    assert seen == {0, 1}, "the serving threads saw only one model: the test proved nothing"


def test_predict_while_partial_fitting_sees_one_of_the_published_models():
    X, y = make_regression(n_samples=400, n_features=6, n_targets=2, random_state=0)
    query = X[:40]
    model = MLPRegressor(hidden_layer_sizes=(16, 16), solver="sgd", batch_size=20, random_state=0)
    model.partial_fit(X, y)
    # the models partial_fit publishes, one after another (training is deterministic)
    replay, expected = clone(model).partial_fit(X, y), []
    for _ in range(ROUNDS + 1):
        expected.append(replay.predict(query))
        replay.partial_fit(X, y)

    def retrain():
        for _ in range(ROUNDS):
            model.partial_fit(X, y)

    results = _hammer(model, {"predict": lambda: model.predict(query)}, retrain)
    bad = [value for _, value in results if _which(value, expected) is None]
    assert not bad, f"{len(bad)} of {len(results)} predictions match no published model"
    assert _which(model.predict(query), expected) == ROUNDS
    assert len(model.loss_curve_) == ROUNDS + 1


def test_a_failed_refit_publishes_nothing():
    X, y = make_classification(n_samples=100, n_features=5, random_state=0)
    model = MLPClassifier((8,), max_iter=5, random_state=0).fit(X, y)
    attributes = dict(model.__dict__)
    with pytest.raises(ValueError):
        model.fit(X[:, :3], y + 0.5)  # continuous labels
    with pytest.raises(ValueError, match="features"):
        model.partial_fit(X[:, :3], y)
    assert model.__dict__.keys() == attributes.keys()
    assert all(model.__dict__[name] is value for name, value in attributes.items())
