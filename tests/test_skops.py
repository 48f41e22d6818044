"""skops.io round trips of fastmlp models, and the types a user must trust."""

import copy
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastmlp.io import skops_trusted_types

from io_helpers import KINDS, assert_same_model, assert_views_of_one_vector, fitted
from optional import optional

sio = optional("skops.io")

TYPES = {
    "classifier": "fastmlp.estimators.classifier.MLPClassifier",
    "regressor": "fastmlp.estimators.regressor.MLPRegressor",
}


@pytest.mark.parametrize("kind", KINDS)
def test_skops_round_trip(kind, tmp_path):
    model, X, y = fitted(kind)
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    untrusted = sio.get_untrusted_types(file=path)
    # exactly the fastmlp types of this model; everything else skops trusts itself
    assert sorted(untrusted) == sorted(skops_trusted_types(model))
    assert set(untrusted) <= set(skops_trusted_types())
    loaded = sio.load(path, trusted=untrusted)
    assert_same_model(model, loaded)
    for method in ("predict", "predict_proba"):
        if hasattr(model, method):
            assert np.array_equal(getattr(loaded, method)(X), getattr(model, method)(X))
    # coefs_ are views of the loaded parameter vector again (no rebuild per predict)
    assert_views_of_one_vector(loaded)
    if model.solver != "lbfgs" and not model.early_stopping:
        original = copy.deepcopy(model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            original.partial_fit(X, y)
            loaded.partial_fit(X, y)
        assert_same_model(original, loaded)


def test_trusted_type_names():
    assert skops_trusted_types() == list(TYPES.values())
    model, _, _ = fitted("binary-lbfgs-f32")
    assert skops_trusted_types(model) == [TYPES["classifier"]]
    model, _, _ = fitted("regressor-adam")
    assert skops_trusted_types(model) == [TYPES["regressor"]]


def test_skops_refuses_untrusted_fastmlp_types(tmp_path):
    model, _, _ = fitted("binary-adam")
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    from skops.io.exceptions import UntrustedTypesFoundException

    with pytest.raises(UntrustedTypesFoundException, match="Untrusted types found"):
        sio.load(path)
