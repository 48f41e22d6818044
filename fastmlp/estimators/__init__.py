"""The scikit-learn face of fastmlp."""

from .classifier import MLPClassifier
from .regressor import MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
