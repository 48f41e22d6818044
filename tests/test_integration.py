"""fastmlp inside the scikit-learn ecosystem (pipelines, model selection,
cloning, persistence) and two classic end-to-end problems."""

import io
import pickle
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from fastmlp import MLPClassifier, MLPRegressor


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.RandomState(0)
    idx = rng.permutation(len(y))[:240]
    return X[idx], y[idx]


def flat(est):
    return np.concatenate([a.ravel() for a in est.coefs_ + est.intercepts_])


@pytest.fixture(autouse=True)
def _no_convergence_noise():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


PARAMS = dict(hidden_layer_sizes=(10,), max_iter=30, random_state=0, learning_rate_init=0.01)


# ============================================================== ecosystem
def test_pipeline(cancer):
    X, y = cancer
    pipe = Pipeline([("scale", StandardScaler()), ("mlp", MLPClassifier(**PARAMS))]).fit(X, y)
    sk_pipe = make_pipeline(StandardScaler(), SkMLPClassifier(**PARAMS)).fit(X, y)
    assert pipe.score(X, y) > 0.95
    np.testing.assert_allclose(pipe.predict_proba(X), sk_pipe.predict_proba(X), rtol=1e-8,
                               atol=1e-10)
    np.testing.assert_array_equal(pipe.predict(X), sk_pipe.predict(X))
    pipe.set_params(mlp__alpha=0.5)
    assert pipe.named_steps["mlp"].alpha == 0.5


def test_cross_val_score(cancer):
    X, y = cancer
    ours = cross_val_score(make_pipeline(StandardScaler(), MLPClassifier(**PARAMS)), X, y, cv=3)
    theirs = cross_val_score(make_pipeline(StandardScaler(), SkMLPClassifier(**PARAMS)), X, y,
                             cv=3)
    np.testing.assert_allclose(ours, theirs)
    assert ours.mean() > 0.9


def test_grid_search_parallel(cancer):
    X, y = cancer
    X = StandardScaler().fit_transform(X)
    grid = {"alpha": [1e-4, 1.0], "hidden_layer_sizes": [(3,), (12,)]}
    ours = GridSearchCV(MLPClassifier(**PARAMS), grid, cv=3, n_jobs=2).fit(X, y)
    theirs = GridSearchCV(SkMLPClassifier(**PARAMS), grid, cv=3, n_jobs=1).fit(X, y)
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"],
                               theirs.cv_results_["mean_test_score"])
    assert ours.best_params_ == theirs.best_params_
    assert isinstance(ours.best_estimator_, MLPClassifier)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-8,
                               atol=1e-10)


def test_clone(cancer):
    X, y = cancer
    est = MLPClassifier(**PARAMS, device="cpu", warm_start=True).fit(X, y)
    copy = clone(est)
    assert copy is not est
    assert copy.get_params() == est.get_params()
    assert not hasattr(copy, "coefs_") and not hasattr(copy, "_optimizer")
    copy.fit(X, y)
    np.testing.assert_array_equal(flat(copy), flat(est))
    reg = clone(MLPRegressor(loss="poisson", hidden_layer_sizes=[4, 2]))
    assert reg.loss == "poisson" and reg.hidden_layer_sizes == [4, 2]


# ============================================================ persistence
def roundtrip(est, how):
    if how == "pickle":
        return pickle.loads(pickle.dumps(est))
    buf = io.BytesIO()
    joblib.dump(est, buf)
    buf.seek(0)
    return joblib.load(buf)


@pytest.mark.parametrize("how", ["pickle", "joblib"])
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_persistence_roundtrip(how, solver, cancer):
    X, y = cancer
    X = StandardScaler().fit_transform(X)
    for est in (MLPClassifier(**PARAMS, solver=solver),
                MLPRegressor(**PARAMS, solver=solver)):
        est.fit(X, y)
        loaded = roundtrip(est, how)
        np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
        if hasattr(est, "predict_proba"):
            np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
        assert loaded.get_params() == est.get_params()
        assert loaded.n_iter_ == est.n_iter_ and loaded.loss_ == est.loss_
        # Still one flat vector with per-layer views after loading ...
        arrays = loaded.coefs_ + loaded.intercepts_
        assert all(a.base is arrays[0].base for a in arrays)
        loaded.coefs_[-1][...] = 0
        loaded.intercepts_[-1][...] = 0
        out = "predict_proba" if hasattr(est, "predict_proba") else "predict"
        np.testing.assert_array_equal(getattr(loaded, out)(X),
                                      0.5 if out == "predict_proba" else 0.0)
        # ... and the original is independent of the copy.
        assert np.abs(est.coefs_[-1]).max() > 0


def test_deepcopy_and_float32_roundtrip(cancer):
    import copy

    X, y = cancer
    X = StandardScaler().fit_transform(X).astype(np.float32)
    est = MLPClassifier(**PARAMS).fit(X, y)
    for loaded in (copy.deepcopy(est), roundtrip(est, "pickle")):
        assert all(a.dtype == np.float32 for a in loaded.coefs_ + loaded.intercepts_)
        assert loaded.predict_proba(X).dtype == np.float32
        np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
        arrays = loaded.coefs_ + loaded.intercepts_
        assert all(a.base is arrays[0].base for a in arrays)
        assert not np.shares_memory(arrays[0], est.coefs_[0])


def test_pickle_keeps_user_assigned_coefs(cancer):
    """Arrays a user assigned to coefs_ / intercepts_ (no longer views of the
    flat vector) are what a pickled model predicts with."""
    X, y = cancer
    X = StandardScaler().fit_transform(X)
    est = MLPRegressor(**PARAMS).fit(X, y)
    est.coefs_ = [np.zeros_like(c) for c in est.coefs_]
    est.intercepts_ = [np.zeros_like(b) for b in est.intercepts_[:-1]] + [np.array([0.25])]
    loaded = roundtrip(est, "pickle")
    np.testing.assert_allclose(loaded.predict(X), 0.25)


def test_pickle_stores_parameters_once(cancer):
    X, y = cancer
    est = MLPClassifier(hidden_layer_sizes=(300,), max_iter=2, random_state=0).fit(X, y)
    n_bytes = flat(est).nbytes
    size = len(pickle.dumps(est))
    # parameters + Adam's two moment vectors, never a second copy of the parameters
    assert size < 3.3 * n_bytes + 50_000, (size, n_bytes)


@pytest.mark.parametrize("how", ["pickle", "joblib"])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_training_continues_identically_after_roundtrip(how, solver, cancer):
    """warm_start and partial_fit after unpickling pick up the weights AND the
    optimizer state, exactly as the original model would."""
    X, y = cancer
    X = StandardScaler().fit_transform(X)
    est = MLPClassifier(**PARAMS, solver=solver, warm_start=True).fit(X, y)
    loaded = roundtrip(est, how)
    est.fit(X, y)
    loaded.fit(X, y)
    np.testing.assert_array_equal(flat(loaded), flat(est))
    assert loaded.loss_curve_ == est.loss_curve_
    np.testing.assert_array_equal(loaded._optimizer.state, est._optimizer.state)
    loaded2 = roundtrip(est, how)
    est.partial_fit(X[:100], y[:100])
    loaded2.partial_fit(X[:100], y[:100])
    np.testing.assert_array_equal(flat(loaded2), flat(est))
    np.testing.assert_array_equal(loaded2._optimizer.step, est._optimizer.step)
    np.testing.assert_array_equal(loaded2.predict_proba(X), est.predict_proba(X))


def test_regressor_partial_fit_after_roundtrip(cancer):
    X, y = cancer
    X = StandardScaler().fit_transform(X)
    est = MLPRegressor(**PARAMS)
    est.partial_fit(X, y)
    loaded = roundtrip(est, "pickle")
    for model in (est, loaded):
        model.partial_fit(X, y)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


# ========================================================= toy problems
@pytest.mark.parametrize("random_state", [0, 1, 2, 3])
def test_xor(random_state):
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([0, 1, 1, 0])
    clf = MLPClassifier(hidden_layer_sizes=(4,), activation="tanh", solver="sgd",
                        learning_rate_init=0.1, momentum=0.9, max_iter=1000,
                        n_iter_no_change=100, random_state=random_state).fit(X, y)
    assert clf.score(X, y) == 1.0
    assert clf.predict_proba(X)[np.arange(4), y].min() > 0.9


def test_sine_per_sample_sgd():
    """3 sin(20 x) on [0, 1] (about three periods) by a 1-32-1 ReLU network
    trained with per-sample SGD (batch_size=1), 400 rows x 2000 epochs."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (400, 1))
    x_test = np.linspace(0, 1, 500)[:, None]
    model = make_pipeline(
        StandardScaler(),
        MLPRegressor(hidden_layer_sizes=(32,), activation="relu", solver="sgd", batch_size=1,
                     learning_rate_init=0.002, momentum=0.0, max_iter=2000, tol=0.0,
                     n_iter_no_change=2000, random_state=0))
    model.fit(x, 3 * np.sin(20 * x[:, 0]))
    assert model.score(x_test, 3 * np.sin(20 * x_test[:, 0])) > 0.9
    assert model[-1].n_iter_ == 2000
