"""Parameters and argument checking, compared with scikit-learn: the defaults and
the constructor signature match scikit-learn's (plus fastmlp's own keyword-only
parameters); invalid parameters, an invalid ``device`` or ``loss`` and invalid
inputs (shapes, NaN, no samples, mismatched sample weights) raise the same
exception with the same message; ``predict`` before ``fit`` raises
``NotFittedError`` and a wrong number of features at ``predict`` a ``ValueError``."""

import inspect
import re
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.utils._param_validation import InvalidParameterError

from fastmlp import MLPClassifier, MLPRegressor

from estimator_helpers import EST_IDS, ESTIMATORS, fit_quietly, quiet

PAIRS = [(MLPClassifier, SkMLPClassifier), (MLPRegressor, SkMLPRegressor)]
PAIR_IDS = ["classifier", "regressor"]

# fastmlp's own parameters: keyword-only, after scikit-learn's, with these defaults
OWN_PARAMETERS = {
    MLPClassifier: {"device": "cpu", "init": "glorot_uniform", "warmup_iter": 0,
                    "dropout": 0.0, "max_grad_norm": None, "progress": False,
                    "n_jobs": None, "class_weight": None},
    MLPRegressor: {"device": "cpu", "init": "glorot_uniform", "warmup_iter": 0,
                   "dropout": 0.0, "max_grad_norm": None, "progress": False,
                   "n_jobs": None},
}


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=PAIR_IDS)
def test_default_parameters_match_sklearn(ours, theirs):
    params = ours().get_params()
    for name, default in OWN_PARAMETERS[ours].items():
        assert params.pop(name) == default  # init: scikit-learn's own initialisation
    assert params == theirs().get_params()


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=PAIR_IDS)
def test_constructor_signature_matches_sklearn(ours, theirs):
    """Same names, order, kinds (positional / keyword-only) and defaults, plus
    fastmlp's own keyword-only parameters at the end."""
    sig = list(inspect.signature(ours).parameters.values())
    sk_sig = list(inspect.signature(theirs).parameters.values())
    n_own = len(OWN_PARAMETERS[ours])
    assert [(p.name, p.default) for p in sig[-n_own:]] == list(OWN_PARAMETERS[ours].items())
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in sig[-n_own:])
    assert [(p.name, p.kind, p.default) for p in sig[:-n_own]] == [
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


WIDER_OPTIONS = {"activation": ("identity", "logistic", "tanh", "relu", "gelu"),
                 "solver": ("lbfgs", "sgd", "adam", "adamw"),
                 "learning_rate": ("constant", "invscaling", "adaptive", "cosine")}


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize("params", INVALID, ids=lambda p: "-".join(f"{k}={v}" for k, v in
                                                                   p.items()))
def test_invalid_parameters_raise_like_sklearn(ours, theirs, params, classification_data):
    X, y = classification_data
    params = {"max_iter": 2, **params}
    ours_error = error_of(ours(**params), X, y)
    assert ours_error is not None
    theirs_error = error_of(theirs(**params), X, y)
    widened = [name for name in WIDER_OPTIONS if name in params]
    if widened:  # fastmlp allows more values here: same error, more options listed
        assert ours_error[0] is theirs_error[0]
        for value in WIDER_OPTIONS[widened[0]]:
            assert f"'{value}'" in ours_error[1]
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
