import os
import sys

import numpy as np
import pytest

# tests/ holds helper modules (reference.py, kernel_harness.py) imported by name.
sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture
def classification_data():
    """A small binary problem: (X, y) with 80 rows and 6 standardised features."""
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=80, n_features=6, n_informative=4, random_state=0)
    return X, y


@pytest.fixture
def multiclass_data():
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=90, n_features=6, n_informative=4, n_classes=3,
                               random_state=1)
    return X, y


@pytest.fixture
def regression_data():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((70, 5))
    y = X @ rng.standard_normal(5) + 0.1 * rng.standard_normal(70)
    return X, y


def pytest_addoption(parser):
    parser.addoption("--corruptions", type=int, default=1400,
                     help="model-file corruptions tried by tests/test_corruption.py")
