"""fit(X, y, *, X_val, y_val, sample_weight_val): a validation set of your own, and
validation_loss_curve_, the loss on the validation data after each epoch."""

import io
import warnings

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network._base import LOSS_FUNCTIONS
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import fastmlp
from fastmlp import MLPClassifier, MLPRegressor

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)


def split_data(kind, n_classes=3):
    if kind == "regressor":
        X, y = make_regression(n_samples=300, n_features=6, noise=5.0, random_state=0)
        y = y / 100
    else:
        X, y = make_classification(n_samples=300, n_features=6, n_informative=4,
                                   n_classes=n_classes, random_state=0)
    return X[:200], y[:200], X[200:], y[200:]


def model(kind, **params):
    Est = MLPRegressor if kind == "regressor" else MLPClassifier
    return Est(**{"hidden_layer_sizes": (16,), "max_iter": 40, "learning_rate_init": 0.01,
                  "random_state": 0, **params})


def recomputed_loss(est, X, y, sample_weight=None):
    """scikit-learn's own loss function (without the L2 term) on the model's output."""
    if isinstance(est, MLPRegressor):
        out = est.predict(X).reshape(len(X), -1)
        name = "squared_error"
        Y = np.asarray(y).reshape(len(X), -1)
    else:
        out = est.predict_proba(X)
        Y = est._label_binarizer.transform(y)
        if Y.shape[1] == 1:
            out = out[:, 1:]
            name = "binary_log_loss"
        else:
            name = "log_loss"
    return LOSS_FUNCTIONS[name](Y, out, sample_weight)


@pytest.mark.parametrize("kind", ["classifier", "binary", "regressor"])
@pytest.mark.parametrize("weighted", [False, True])
def test_early_stopping_on_a_given_set(kind, weighted):
    X, y, X_val, y_val = split_data(kind, n_classes=2 if kind == "binary" else 3)
    sw_val = np.random.default_rng(1).uniform(0.2, 2, len(y_val)) if weighted else None
    est = model(kind, early_stopping=True, n_iter_no_change=5)
    est.fit(X, y, X_val=X_val, y_val=y_val, sample_weight_val=sw_val)
    score = (r2_score if kind == "regressor" else accuracy_score)(
        y_val, est.predict(X_val), sample_weight=sw_val)
    assert est.best_validation_score_ == pytest.approx(score, rel=1e-12, abs=1e-12)
    assert len(est.validation_scores_) == len(est.validation_loss_curve_) == est.n_iter_
    assert est.t_ == est.n_iter_ * len(X)  # every training row trained: no split
    best = int(np.argmax(est.validation_scores_))
    assert est.validation_loss_curve_[best] == pytest.approx(
        recomputed_loss(est, X_val, y_val, sw_val), rel=1e-9)


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_a_given_set_without_early_stopping_is_recorded_and_changes_nothing(kind, solver):
    X, y, X_val, y_val = split_data(kind)
    plain = model(kind, solver=solver).fit(X, y)
    watched = model(kind, solver=solver).fit(X, y, X_val=X_val, y_val=y_val)
    for a, b in zip(plain.coefs_ + plain.intercepts_, watched.coefs_ + watched.intercepts_,
                    strict=True):
        np.testing.assert_array_equal(a, b)
    assert watched.loss_curve_ == plain.loss_curve_
    assert plain.validation_scores_ is None and plain.validation_loss_curve_ is None
    assert len(watched.validation_loss_curve_) == watched.n_iter_ == plain.n_iter_
    assert watched.best_validation_score_ is None
    assert watched.validation_loss_curve_[-1] == pytest.approx(
        recomputed_loss(watched, X_val, y_val), rel=1e-9)
    assert watched.validation_scores_[-1] == pytest.approx(watched.score(X_val, y_val),
                                                           rel=1e-12)


def test_the_internal_split_records_its_loss_too():
    X, y, _, _ = split_data("classifier")
    est = model("classifier", early_stopping=True).fit(X, y)
    assert len(est.validation_loss_curve_) == est.n_iter_
    assert all(np.isfinite(est.validation_loss_curve_))
    assert est.t_ == est.n_iter_ * 180  # 10% held out


def test_a_validation_set_round_trips_and_warm_starts():
    X, y, X_val, y_val = split_data("classifier")
    est = model("classifier", max_iter=5).fit(X, y, X_val=X_val, y_val=y_val)
    buffer = io.BytesIO()
    fastmlp.save(est, buffer)
    loaded = fastmlp.load(io.BytesIO(buffer.getvalue()))
    assert loaded.validation_loss_curve_ == est.validation_loss_curve_
    loaded.set_params(warm_start=True).fit(X, y, X_val=X_val, y_val=y_val)
    assert len(loaded.validation_loss_curve_) == 10 == len(loaded.loss_curve_)
    plain = model("classifier", max_iter=5).fit(X, y)  # no validation record, then one
    plain.set_params(warm_start=True, early_stopping=True).fit(X, y, X_val=X_val, y_val=y_val)
    assert len(plain.validation_scores_) == plain.n_iter_


@pytest.mark.parametrize("kind, args, match", [
    ("classifier", dict(X_val="X"), "X_val is provided, but y_val was not"),
    ("classifier", dict(y_val="y"), "y_val is provided, but X_val was not"),
    ("classifier", dict(sample_weight_val="w"), "sample_weight_val is provided"),
    ("classifier", dict(X_val="X", y_val="unseen"), "classes not in"),
    ("classifier", dict(X_val="narrow", y_val="y"), "features"),
    ("regressor", dict(X_val="X", y_val="two outputs"), "1 output"),
    ("classifier", dict(X_val="X", y_val="y", sample_weight_val="short"), "sample_weight"),
])
def test_bad_validation_sets_raise_and_change_nothing(kind, args, match):
    X, y, X_val, y_val = split_data(kind)
    values = {"X": X_val, "y": y_val, "w": np.ones(len(y_val)), "unseen": y_val + 10,
              "narrow": X_val[:, :3], "two outputs": np.c_[y_val, y_val],
              "short": np.ones(5)}
    est = model(kind, max_iter=3).fit(X, y)
    before = [a.copy() for a in est.coefs_]
    with pytest.raises(ValueError, match=match):
        est.fit(X, y, **{k: values[v] for k, v in args.items()})
    for a, b in zip(est.coefs_, before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_lbfgs_refuses_a_validation_set():
    X, y, X_val, y_val = split_data("classifier")
    with pytest.raises(ValueError, match="stochastic solvers"):
        model("classifier", solver="lbfgs").fit(X, y, X_val=X_val, y_val=y_val)


def test_a_pipeline_transforms_x_val_with_metadata_routing():
    X, y, X_val, y_val = split_data("classifier")
    X, X_val = 10 * X + 3, 10 * X_val + 3
    scaler = StandardScaler().fit(X)
    direct = model("classifier", early_stopping=True).fit(
        scaler.transform(X), y, X_val=scaler.transform(X_val), y_val=y_val)
    with sklearn.config_context(enable_metadata_routing=True):
        mlp = model("classifier", early_stopping=True).set_fit_request(X_val=True, y_val=True)
        pipe = Pipeline([("scale", StandardScaler()), ("mlp", mlp)], transform_input=["X_val"])
        pipe.fit(X, y, X_val=X_val, y_val=y_val)
    np.testing.assert_allclose(pipe[-1].validation_scores_, direct.validation_scores_)
    np.testing.assert_allclose(pipe[-1].validation_loss_curve_, direct.validation_loss_curve_,
                               rtol=1e-12)


def test_a_grid_search_passes_the_validation_set_to_every_fit():
    X, y, X_val, y_val = split_data("classifier")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(model("classifier", max_iter=5, early_stopping=True),
                              {"alpha": [1e-4, 1e-2]}, cv=2)
        search.fit(X, y, X_val=X_val, y_val=y_val)
    assert len(search.best_estimator_.validation_loss_curve_) == search.best_estimator_.n_iter_


def test_clone_keeps_no_validation_record():
    X, y, X_val, y_val = split_data("classifier")
    est = model("classifier", max_iter=3).fit(X, y, X_val=X_val, y_val=y_val)
    assert not hasattr(clone(est), "validation_loss_curve_")
