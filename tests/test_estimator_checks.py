"""scikit-learn's estimator contract (``sklearn.utils.estimator_checks``).

Every solver of both estimators, and activations / initialisations beyond
scikit-learn's, with ``max_iter=100`` as scikit-learn's own test suite uses for
its MLPs. No check is expected to fail.

Two checks report "skipped" from inside scikit-learn itself, not from us:
``check_array_api_input`` (skips unless ``SCIPY_ARRAY_API=1``; scikit-learn's
MLPs do not support the array API either) and
``check_classifiers_multilabel_output_format_decision_function`` (MLPClassifier
has no ``decision_function``, as in scikit-learn).
"""

import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from fastmlp import MLPClassifier, MLPRegressor

ESTIMATORS = [
    MLPClassifier(max_iter=100),
    MLPRegressor(max_iter=100),
    MLPClassifier(solver="lbfgs", max_iter=100),
    MLPRegressor(solver="lbfgs", max_iter=100),
    MLPClassifier(solver="sgd", max_iter=100),
    MLPRegressor(solver="sgd", max_iter=100),
    MLPClassifier(activation="gelu", init="he_normal", max_iter=100),
    MLPRegressor(activation="elu", init="he_uniform", solver="lbfgs", max_iter=100),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_tags_match_sklearn(Est):
    from sklearn.neural_network import MLPClassifier as SkC
    from sklearn.neural_network import MLPRegressor as SkR

    theirs = (SkC if Est is MLPClassifier else SkR)().__sklearn_tags__()
    assert Est().__sklearn_tags__() == theirs
