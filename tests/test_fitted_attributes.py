"""The attributes of a fitted model: ``coefs_`` and ``intercepts_`` are views of
one parameter vector in scikit-learn's layout (editing or assigning them changes
predictions and the starting point of further training), and a fitted model has
scikit-learn's public fitted attributes with the same values and types."""


import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier as SkMLPClassifier

from fastmlp import MLPClassifier, MLPRegressor

from estimator_helpers import SOLVERS, fit_quietly, quiet


@pytest.mark.parametrize("solver", SOLVERS)
def test_coefs_and_intercepts_are_views_of_one_vector(solver, regression_data):
    X, y = regression_data
    reg = fit_quietly(MLPRegressor(**quiet(solver=solver, hidden_layer_sizes=(4, 3))), X, y)
    arrays = reg.coefs_ + reg.intercepts_
    base = arrays[0].base
    assert base is not None and base.ndim == 1
    assert all(a.base is base for a in arrays)
    assert base.size == sum(a.size for a in arrays)
    # Layout is scikit-learn's _pack: all coefficient matrices, then all intercepts.
    np.testing.assert_array_equal(base, np.hstack([a.ravel() for a in arrays]))
    assert [c.shape for c in reg.coefs_] == [(5, 4), (4, 3), (3, 1)]
    # Editing the views in place changes predictions.
    reg.coefs_[-1][...] = 0.0
    reg.intercepts_[-1][...] = 2.5
    np.testing.assert_allclose(reg.predict(X), 2.5)
    reg.intercepts_[-1][0] = -1.0
    np.testing.assert_allclose(reg.predict(X), -1.0)


def test_assigned_coefs_are_used(regression_data):
    X, y = regression_data
    reg = fit_quietly(MLPRegressor(**quiet()), X, y)
    reg.coefs_ = [np.zeros_like(c) for c in reg.coefs_]
    reg.intercepts_ = [np.zeros_like(b) for b in reg.intercepts_[:-1]] + [np.array([3.0])]
    np.testing.assert_allclose(reg.predict(X), 3.0)
    # and training continues from them
    reg.set_params(warm_start=True, max_iter=1)
    fit_quietly(reg, X, y)
    assert np.abs(reg.predict(X) - 3.0).max() < 0.5


def test_fitted_attributes(classification_data):
    X, y = classification_data
    clf = fit_quietly(MLPClassifier(**quiet(hidden_layer_sizes=(5, 4), max_iter=3)), X, y)
    sk = fit_quietly(SkMLPClassifier(**quiet(hidden_layer_sizes=(5, 4), max_iter=3)), X, y)
    public = {k for k in vars(sk) if k.endswith("_") and not k.startswith("_")}
    assert public <= set(vars(clf)) | {"coefs_", "intercepts_"}
    for name in ["n_layers_", "n_outputs_", "out_activation_", "n_iter_", "t_",
                 "n_features_in_"]:
        assert getattr(clf, name) == getattr(sk, name), name
    assert isinstance(clf.loss_curve_, list) and isinstance(clf.loss_, float)
    assert isinstance(clf.coefs_, list) and isinstance(clf.intercepts_, list)


def test_set_params_activation_after_fit_is_used_at_predict():
    """scikit-learn reads ``activation`` at every prediction; so does fastmlp."""
    from sklearn.neural_network import MLPRegressor as SkMLPRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4))
    y = X @ [1.0, -2.0, 0.5, 0.0]
    ours = fit_quietly(MLPRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0), X, y)
    theirs = fit_quietly(SkMLPRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0),
                         X, y)
    for activation in ("tanh", "identity", "relu"):
        ours.set_params(activation=activation)
        theirs.set_params(activation=activation)
        np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9, atol=1e-12)
    ours.set_params(activation="tanh")
    before = ours.predict(X)
    ours.coefs_ = [c.copy() for c in ours.coefs_]  # equal copies: the same model
    np.testing.assert_array_equal(ours.predict(X), before)
