"""Training that continues from an earlier fit: ``warm_start=True`` and
``partial_fit`` carry on from the previous weights *and* optimizer state (so
two fits of 5 epochs equal one of 10), ``warm_start=False`` refits from scratch,
lbfgs has no ``partial_fit``, and the ``classes`` checks of the classifier's
``partial_fit`` and of a warm start with different classes."""


import numpy as np
import pytest

from fastmlp import MLPClassifier

from estimator_helpers import EST_IDS, ESTIMATORS, fit_quietly, flat, quiet


@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_warm_start_continues_weights_and_optimizer_state(Est, solver, multiclass_data):
    """fit(5 epochs) then warm fit(5 epochs) == fit(10 epochs): the second fit
    starts from the weights AND the optimizer state (momentum / Adam moments and
    step) the first one ended with."""
    X, y = multiclass_data
    params = quiet(solver=solver, shuffle=False, n_iter_no_change=100, learning_rate_init=0.01)
    del params["max_iter"]
    warm = fit_quietly(Est(max_iter=5, warm_start=True, **params), X, y)
    first_coefs = flat(warm).copy()
    first_state = warm._optimizer.state.copy()
    first_step = int(warm._optimizer.step[0])
    assert np.abs(first_state).max() > 0
    fit_quietly(warm, X, y)
    full = fit_quietly(Est(max_iter=10, **params), X, y)
    np.testing.assert_allclose(flat(warm), flat(full), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(warm.loss_curve_, full.loss_curve_, rtol=1e-12)
    np.testing.assert_allclose(warm._optimizer.state, full._optimizer.state, rtol=1e-12,
                               atol=1e-14)
    assert warm.t_ == full.t_ == 10 * len(y)
    assert warm.n_iter_ == 5
    n_batches = 1  # 90 rows < 200: one batch per epoch
    if solver == "adam":
        assert first_step == 5 * n_batches
        assert int(warm._optimizer.step[0]) == int(full._optimizer.step[0]) == 10 * n_batches
    assert not np.allclose(flat(warm), first_coefs)
    # A cold restart would not match.
    cold = fit_quietly(Est(max_iter=5, **params), X, y)
    fit_quietly(cold, X, y)
    assert not np.allclose(flat(cold), flat(full))


def test_warm_start_lbfgs_starts_from_previous_weights(classification_data):
    X, y = classification_data
    est = fit_quietly(MLPClassifier(**quiet(solver="lbfgs", max_iter=50, warm_start=True)), X, y)
    loss1 = est.loss_
    fit_quietly(est, X, y)
    assert est.loss_ < loss1
    cold = fit_quietly(MLPClassifier(**quiet(solver="lbfgs", max_iter=50)), X, y)
    assert est.loss_ < cold.loss_


def test_warm_start_different_classes_raises(multiclass_data):
    X, y = multiclass_data
    clf = fit_quietly(MLPClassifier(**quiet(warm_start=True, max_iter=2)), X, y)
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same "
                                         "classes as in the previous call to fit"):
        clf.fit(X[y < 2], y[y < 2])


def test_warm_start_false_refits_from_scratch(classification_data):
    X, y = classification_data
    a = fit_quietly(MLPClassifier(**quiet(max_iter=5)), X, y)
    first = flat(a).copy()
    fit_quietly(a, X, y)
    np.testing.assert_array_equal(flat(a), first)


@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_partial_fit_continues_optimizer_state(Est, solver, multiclass_data):
    X, y = multiclass_data
    params = quiet(solver=solver, shuffle=False, batch_size=32, learning_rate_init=0.01)
    del params["max_iter"]
    inc = Est(**params)
    kwargs = {"classes": np.unique(y)} if Est is MLPClassifier else {}
    steps = []
    for _ in range(4):
        inc.partial_fit(X, y, **kwargs)
        steps.append(int(inc._optimizer.step[0]))
    full = fit_quietly(Est(max_iter=4, n_iter_no_change=100, **params), X, y)
    np.testing.assert_allclose(flat(inc), flat(full), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(inc.loss_curve_, full.loss_curve_, rtol=1e-12)
    np.testing.assert_allclose(inc._optimizer.state, full._optimizer.state, rtol=1e-12,
                               atol=1e-14)
    assert inc.t_ == 4 * len(y) and inc.n_iter_ == 1
    assert steps == ([3, 6, 9, 12] if solver == "adam" else [0, 0, 0, 0])


def test_partial_fit_after_fit_uses_existing_model(classification_data):
    X, y = classification_data
    clf = fit_quietly(MLPClassifier(**quiet(max_iter=5)), X, y)
    before = flat(clf).copy()
    clf.partial_fit(X, y)
    assert clf.n_iter_ == 1 and len(clf.loss_curve_) == 6
    assert not np.allclose(flat(clf), before)
    assert np.abs(flat(clf) - before).max() < 0.05  # one small step, not a re-init


@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
def test_lbfgs_has_no_partial_fit(Est):
    assert not hasattr(Est(solver="lbfgs"), "partial_fit")
    assert hasattr(Est(solver="sgd"), "partial_fit")
    assert hasattr(Est(solver="adam"), "partial_fit")
    with pytest.raises(AttributeError, match="partial_fit"):
        _ = Est(solver="lbfgs").partial_fit  # the access itself must raise


def test_classifier_partial_fit_requires_classes(classification_data):
    X, y = classification_data
    with pytest.raises(ValueError, match="classes must be passed on the first call to "
                                         "partial_fit"):
        MLPClassifier().partial_fit(X, y)


def test_classifier_partial_fit_classes(multiclass_data):
    X, y = multiclass_data
    clf = MLPClassifier(**quiet())
    clf.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])  # not all classes in a batch
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.predict_proba(X).shape == (90, 3)
    with pytest.raises(ValueError, match="is not the same as on last call"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="`y` has classes not in `self.classes_`"):
        clf.partial_fit(X, np.where(y == 2, 5, y))
