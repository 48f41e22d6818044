"""fastmlp: scikit-learn's MLPClassifier / MLPRegressor, trained by Numba kernels.

>>> from fastmlp import MLPClassifier   # instead of sklearn.neural_network

``fastmlp.save`` / ``fastmlp.load`` keep fitted models in pickle-free files
(see :mod:`fastmlp.io`); :mod:`fastmlp.onnx` exports them to ONNX.

Public API (``__all__``): ``MLPClassifier``, ``MLPRegressor``, ``save`` and
``load``, ``compile_kernels`` (fill the kernel cache ahead of the first fit),
``TrainingCurveDisplay`` (training curves as a matplotlib picture) and
``__version__``; the optional modules ``fastmlp.onnx`` and ``fastmlp.dask``.
Everything else is internal and may change.
"""

from .aot import compile_kernels
from .estimators import MLPClassifier, MLPRegressor

__version__ = "0.1.0"

__all__ = ["MLPClassifier", "MLPRegressor", "TrainingCurveDisplay", "compile_kernels", "load",
           "save", "__version__"]


def __getattr__(name):
    # save / load live in fastmlp.io, imported on first use to keep `import fastmlp` lean.
    if name in ("save", "load", "io"):
        import importlib

        io = importlib.import_module(f"{__name__}.io")
        return io if name == "io" else getattr(io, name)
    if name == "TrainingCurveDisplay":  # needs matplotlib, imported on first use
        from .display import TrainingCurveDisplay

        return TrainingCurveDisplay
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
