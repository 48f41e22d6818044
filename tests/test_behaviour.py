"""The scikit-learn face of fastmlp: parameters, errors, targets, dtypes, input
types, sample weights, warnings, early stopping, warm_start / partial_fit,
verbose output, failure handling, parameter views and the device switch."""

import inspect
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning, NotFittedError
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted

import fastmlp.backends
from fastmlp import MLPClassifier, MLPRegressor

PAIRS = [(MLPClassifier, SkMLPClassifier), (MLPRegressor, SkMLPRegressor)]
PAIR_IDS = ["classifier", "regressor"]
SOLVERS = ["sgd", "adam", "lbfgs"]
ESTIMATORS = [MLPClassifier, MLPRegressor]
EST_IDS = ["classifier", "regressor"]


def quiet(**params):
    """Small, fast defaults for the tests below."""
    base = dict(hidden_layer_sizes=(7,), max_iter=20, random_state=0)
    base.update(params)
    return base


def fit_quietly(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


def flat(est):
    return np.concatenate([a.ravel() for a in est.coefs_ + est.intercepts_])


# ============================================================== parameters
@pytest.mark.parametrize("ours, theirs", PAIRS, ids=PAIR_IDS)
def test_default_parameters_match_sklearn(ours, theirs):
    params = ours().get_params()
    assert params.pop("device") == "cpu"
    assert params.pop("init") == "glorot_uniform"  # scikit-learn's own initialisation
    assert params == theirs().get_params()


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=PAIR_IDS)
def test_constructor_signature_matches_sklearn(ours, theirs):
    """Same names, order, kinds (positional / keyword-only) and defaults, plus
    the keyword-only ``device`` and ``init`` at the end."""
    sig = list(inspect.signature(ours).parameters.values())
    sk_sig = list(inspect.signature(theirs).parameters.values())
    assert [p.name for p in sig[-2:]] == ["device", "init"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in sig[-2:])
    assert [(p.name, p.kind, p.default) for p in sig[:-2]] == [
        (p.name, p.kind, p.default) for p in sk_sig]


INVALID = [
    dict(hidden_layer_sizes=-1),
    dict(hidden_layer_sizes=[0]),
    dict(hidden_layer_sizes=[3, -1]),
    dict(hidden_layer_sizes="a"),
    dict(activation="softmax"),
    dict(solver="newton"),
    dict(alpha=-1.0),
    dict(batch_size=0),
    dict(batch_size="big"),
    dict(learning_rate="optimal"),
    dict(learning_rate_init=0.0),
    dict(power_t=-0.5),
    dict(max_iter=0),
    dict(shuffle="yes"),
    dict(random_state="seed"),
    dict(tol=-1e-3),
    dict(momentum=1.5),
    dict(nesterovs_momentum=None),
    dict(early_stopping=1),
    dict(validation_fraction=1.0),
    dict(beta_1=1.0),
    dict(beta_2=-0.1),
    dict(epsilon=0.0),
    dict(n_iter_no_change=0),
    dict(n_iter_no_change=2.5),
    dict(max_fun=0),
    dict(early_stopping=True, validation_fraction=0.0),
]


def normalise(message):
    """Sort the items of ``{...}`` sets in a message (set order varies per process)."""
    return re.sub(r"\{([^{}]*)\}",
                  lambda m: "{" + ", ".join(sorted(m.group(1).split(", "))) + "}", message)


def error_of(est, X, y, **fit_params):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y, **fit_params)
    except Exception as exc:  # noqa: BLE001 - the exception is the result
        return type(exc), normalise(str(exc))
    return None


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize("params", INVALID, ids=lambda p: "-".join(f"{k}={v}" for k, v in
                                                                   p.items()))
def test_invalid_parameters_raise_like_sklearn(ours, theirs, params, classification_data):
    X, y = classification_data
    params = {"max_iter": 2, **params}
    ours_error = error_of(ours(**params), X, y)
    assert ours_error is not None
    theirs_error = error_of(theirs(**params), X, y)
    if "activation" in params:
        # fastmlp allows more activations: same error, longer list of options
        assert ours_error[0] is theirs_error[0]
        for name in ("'identity'", "'logistic'", "'tanh'", "'relu'", "'gelu'"):
            assert name in ours_error[1]
        return
    assert ours_error == theirs_error


@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
def test_invalid_device(Est, classification_data):
    with pytest.raises(InvalidParameterError, match="'device' parameter"):
        Est(device="gpu").fit(*classification_data)


def test_invalid_loss_raises_like_sklearn(regression_data):
    X, y = regression_data
    assert error_of(MLPRegressor(loss="huber"), X, y) == error_of(
        SkMLPRegressor(loss="huber"), X, y)
    assert error_of(MLPRegressor(loss="huber"), X, y)[0] is InvalidParameterError


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=PAIR_IDS)
def test_invalid_inputs_raise_like_sklearn(ours, theirs, classification_data):
    X, y = classification_data
    cases = [
        (X[:, :, None], y),  # 3-D X
        (X, y[:-1]),  # inconsistent lengths
        (np.where(X > 2, np.nan, X), y),  # NaN in X
        (X[:0], y[:0]),  # no samples
    ]
    for Xc, yc in cases:
        ours_error = error_of(ours(max_iter=2), Xc, yc)
        assert ours_error is not None
        assert ours_error == error_of(theirs(max_iter=2), Xc, yc)
    sw_error = error_of(ours(max_iter=2), X, y, sample_weight=np.ones(3))
    assert sw_error is not None
    assert sw_error == error_of(theirs(max_iter=2), X, y, sample_weight=np.ones(3))


@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
def test_predict_before_fit_raises(Est, classification_data):
    with pytest.raises(NotFittedError):
        Est().predict(classification_data[0])


@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
def test_wrong_number_of_features_at_predict(Est, classification_data):
    X, y = classification_data
    est = fit_quietly(Est(**quiet()), X, y)
    with pytest.raises(ValueError, match="X has 5 features, but .* is expecting 6 features"):
        est.predict(X[:, :5])


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


# ================================================================== dtypes
@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(Est, solver, dtype, multiclass_data):
    X, y = multiclass_data
    X = X.astype(dtype)
    est = fit_quietly(Est(**quiet(solver=solver, max_iter=5)), X, y)
    for a in est.coefs_ + est.intercepts_:
        assert a.dtype == dtype
    assert est.predict(X).dtype == (dtype if Est is MLPRegressor else y.dtype)
    if Est is MLPClassifier:
        assert est.predict_proba(X).dtype == dtype
    assert np.isfinite(est.loss_)


def test_float32_predictions_close_to_float64(classification_data):
    X, y = classification_data
    p64 = fit_quietly(MLPClassifier(**quiet()), X, y).predict_proba(X)
    p32 = fit_quietly(MLPClassifier(**quiet()), X.astype(np.float32), y).predict_proba(
        X.astype(np.float32))
    np.testing.assert_allclose(p32, p64, atol=1e-4)


def test_integer_input_trains_float64(classification_data):
    X, y = classification_data
    clf = fit_quietly(MLPClassifier(**quiet(max_iter=3)), (X * 10).astype(np.int64), y)
    assert clf.coefs_[0].dtype == np.float64


# ============================================================ sparse input
@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_input_equals_dense(Est, solver, fmt, classification_data):
    X, y = classification_data
    X = np.where(np.abs(X) < 0.5, 0.0, X)
    Xs = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
    dense_est = fit_quietly(Est(**quiet(solver=solver, max_iter=10)), X, y)
    sparse_est = fit_quietly(Est(**quiet(solver=solver, max_iter=10)), Xs, y)
    np.testing.assert_allclose(flat(sparse_est), flat(dense_est), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sparse_est.predict(Xs), dense_est.predict(X), rtol=1e-9)
    np.testing.assert_allclose(dense_est.predict(Xs), dense_est.predict(X), rtol=1e-12)
    if Est is MLPClassifier:
        np.testing.assert_allclose(sparse_est.predict_proba(Xs), dense_est.predict_proba(X),
                                   rtol=1e-9)


def test_sparse_array_input(classification_data):
    X, y = classification_data
    est = fit_quietly(MLPClassifier(**quiet()), sp.csr_array(X), y)
    np.testing.assert_allclose(est.predict_proba(sp.csr_array(X)), est.predict_proba(X))


# ================================================================== pandas
@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
def test_dataframe_feature_names(Est, classification_data):
    pd = pytest.importorskip("pandas")
    X, y = classification_data
    columns = [f"f{i}" for i in range(X.shape[1])]
    df = pd.DataFrame(X, columns=columns)
    est = fit_quietly(Est(**quiet()), df, pd.Series(y))
    np.testing.assert_array_equal(est.feature_names_in_, columns)
    assert est.n_features_in_ == 6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expected = est.predict(df)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        np.testing.assert_allclose(est.predict(X), expected)
    renamed = df.rename(columns={"f0": "g0"})
    with pytest.raises(ValueError, match="The feature names should match"):
        est.predict(renamed)
    plain = fit_quietly(Est(**quiet()), X, y)
    assert not hasattr(plain, "feature_names_in_")
    with pytest.warns(UserWarning, match="X has feature names, but"):
        plain.predict(df)


def test_dataframe_early_stopping_no_feature_name_warning(classification_data):
    pd = pytest.importorskip("pandas")
    X, y = classification_data
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        fit_quietly(MLPClassifier(**quiet(early_stopping=True, validation_fraction=0.2)), df, y)


# =========================================================== sample weight
@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_sample_weight_is_used(Est, solver, classification_data):
    X, y = classification_data
    rng = np.random.default_rng(0)
    sw = rng.uniform(0.1, 3, len(y))
    base = fit_quietly(Est(**quiet(solver=solver, max_iter=10)), X, y)
    ones = fit_quietly(Est(**quiet(solver=solver, max_iter=10)), X, y, sample_weight=np.ones(80))
    weighted = fit_quietly(Est(**quiet(solver=solver, max_iter=10)), X, y, sample_weight=sw)
    np.testing.assert_allclose(flat(ones), flat(base), rtol=1e-12, atol=1e-14)
    assert not np.allclose(flat(weighted), flat(base))
    # Same as scikit-learn with the same weights.
    sk_est = (SkMLPClassifier if Est is MLPClassifier else SkMLPRegressor)
    sk = fit_quietly(sk_est(**quiet(solver=solver, max_iter=10)), X, y, sample_weight=sw)
    np.testing.assert_allclose(flat(weighted), flat(sk), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
def test_lbfgs_zero_weight_equals_dropping_rows(Est, classification_data):
    X, y = classification_data
    sw = np.ones(len(y))
    sw[::3] = 0
    keep = sw > 0
    weighted = fit_quietly(Est(**quiet(solver="lbfgs", max_iter=30)), X, y, sample_weight=sw)
    dropped = fit_quietly(Est(**quiet(solver="lbfgs", max_iter=30)), X[keep], y[keep])
    np.testing.assert_allclose(flat(weighted), flat(dropped), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(weighted.predict(X), dropped.predict(X), rtol=1e-6, atol=1e-8)
    assert weighted.loss_ == pytest.approx(dropped.loss_, rel=1e-8)


@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_integer_weights_equal_repeated_rows(Est, solver, classification_data):
    """lbfgs always; sgd / adam with one full batch per epoch, where the
    weighted and the repeated problems take identical steps."""
    X, y = classification_data
    rng = np.random.default_rng(1)
    sw = rng.integers(1, 4, len(y))
    Xr, yr = np.repeat(X, sw, axis=0), np.repeat(y, sw)
    params = quiet(solver=solver, max_iter=15, batch_size=len(yr), shuffle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # batch_size clipped for the weighted fit
        weighted = fit_quietly(Est(**params), X, y, sample_weight=sw.astype(float))
    repeated = fit_quietly(Est(**params), Xr, yr)
    np.testing.assert_allclose(flat(weighted), flat(repeated), rtol=1e-6, atol=1e-8)
    assert weighted.loss_ == pytest.approx(repeated.loss_, rel=1e-8)


# ========================================================== convergence
@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_max_iter_reached_warns(Est, solver, classification_data):
    X, y = classification_data
    with pytest.warns(ConvergenceWarning,
                      match=r"Stochastic Optimizer: Maximum iterations \(3\) reached"):
        est = Est(**quiet(solver=solver, max_iter=3)).fit(X, y)
    assert est.n_iter_ == 3 and len(est.loss_curve_) == 3


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
    from fastmlp.backends import cpu

    X, y = classification_data
    original = cpu.Trainer.run_epoch
    calls = []

    def interrupted(self, order, optimizer):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, order, optimizer)

    monkeypatch.setattr(cpu.Trainer, "run_epoch", interrupted)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        clf = MLPClassifier(**quiet(solver=solver)).fit(X, y)
    assert clf.n_iter_ == 2 and len(clf.loss_curve_) == 2
    assert clf.predict(X).shape == (80,)


# ========================================================== early stopping
def record_validation(est):
    """Wrap ``_score`` to record (parameters, validation y, score) per epoch."""
    records = []
    original = est._score

    def recording_score(X, y, sample_weight=None):
        score = original(X, y, sample_weight=sample_weight)
        records.append((flat(est).copy(), np.array(y), score))
        return score

    est._score = recording_score
    return records


@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_early_stopping_restores_best_weights(Est, solver, multiclass_data):
    X, y = multiclass_data
    est = Est(**quiet(solver=solver, early_stopping=True, max_iter=60, n_iter_no_change=3,
                      validation_fraction=0.2, learning_rate_init=0.05))
    records = record_validation(est)
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


def test_early_stopping_split_is_stratified():
    rng = np.random.default_rng(4)
    y = np.repeat([0, 1, 2], [120, 60, 20])
    X = rng.standard_normal((200, 4)) + y[:, None]
    for seed in range(3):
        clf = MLPClassifier(**quiet(early_stopping=True, max_iter=2, random_state=seed))
        records = record_validation(clf)
        fit_quietly(clf, X, y)
        np.testing.assert_array_equal(np.bincount(records[0][1], minlength=3), [12, 6, 2])


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


# =============================================== warm_start / partial_fit
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
        Est(solver="lbfgs").partial_fit


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


# ====================================================== non-finite training
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


# ============================================================ param views
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


# ================================================================== device
def test_device_cuda_without_gpu_raises(monkeypatch, classification_data):
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    monkeypatch.setattr(fastmlp.backends, "cuda_available", lambda: False)
    X, y = classification_data
    for Est in ESTIMATORS:
        est = Est(device="cuda", max_iter=2)
        with pytest.raises(RuntimeError) as info:
            est.fit(X, y)
        message = str(info.value)
        assert "NVIDIA" in message and "driver" in message
        assert 'pip install "fastmlp[cuda]"' in message
        assert not hasattr(est, "coefs_")


def test_device_auto_falls_back_to_cpu(monkeypatch, classification_data):
    monkeypatch.setattr(fastmlp.backends, "cuda_available", lambda: False)
    X, y = classification_data
    auto = fit_quietly(MLPClassifier(**quiet(device="auto")), X, y)
    cpu = fit_quietly(MLPClassifier(**quiet(device="cpu")), X, y)
    np.testing.assert_array_equal(flat(auto), flat(cpu))
    np.testing.assert_array_equal(auto.predict_proba(X), cpu.predict_proba(X))
    assert isinstance(auto.coefs_[0], np.ndarray)


def test_device_cpu_never_asks_for_cuda(monkeypatch, classification_data):
    def boom():
        raise AssertionError("device='cpu' must not probe CUDA")

    monkeypatch.setattr(fastmlp.backends, "cuda_available", boom)
    fit_quietly(MLPClassifier(**quiet(max_iter=2)), *classification_data)


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
