"""fastmlp: scikit-learn's MLPClassifier / MLPRegressor, trained by Numba kernels.

>>> from fastmlp import MLPClassifier   # instead of sklearn.neural_network

Public API (``__all__``): ``MLPClassifier``, ``MLPRegressor``,
``compile_kernels`` (fill the kernel cache ahead of the first fit) and
``__version__``. Everything else is internal and may change.
"""

from .aot import compile_kernels
from .estimators import MLPClassifier, MLPRegressor

__version__ = "0.1.0"

__all__ = ["MLPClassifier", "MLPRegressor", "compile_kernels", "__version__"]
