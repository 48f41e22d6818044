"""fastmlp: scikit-learn's MLPClassifier / MLPRegressor, trained by Numba kernels.

>>> from fastmlp import MLPClassifier   # instead of sklearn.neural_network
"""

from .estimators import MLPClassifier, MLPRegressor

__version__ = "0.1.0"

__all__ = ["MLPClassifier", "MLPRegressor", "__version__"]
