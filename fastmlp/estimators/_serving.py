"""The lean prediction path: the checks of one fitted state made once.

A prediction makes every check scikit-learn makes -- fitted state, feature
names, number of features, dtype, finiteness -- and the layout checks that
keep the kernels in bounds. Most of them give the same answer on every call as
long as the model does not change: the network's layout, that ``coefs_`` and
``intercepts_`` are still its parameters, its ``Net`` bundle. ``ServingState``
records that answer the first time a prediction passes the full path
(``validate_data``, ``_current_network``), and later calls check only that
nothing it recorded has changed (identity comparisons) and what depends on X.

The common case is a NumPy array -- or a pandas DataFrame of the fitted feature
names -- of either float dtype, with rows on the CPU. Everything else (sparse
matrices, lists, other dtypes, read-only or non-contiguous arrays, models on
CUDA, models fitted with feature names given an array) takes the full path,
and so does X with a value that is not finite: the row kernel reports it, and
the full path raises scikit-learn's error. Both paths run the same kernels
(``backends.cpu.predict_dense``), so their results are bitwise the same.
"""

import sys
from operator import attrgetter, is_

import numpy as np

from ..backends import cpu

_FLOAT32, _FLOAT64 = np.dtype(np.float32), np.dtype(np.float64)
_shape = attrgetter("shape")


class ServingState:
    """What a prediction needs of one fitted state, checked once.

    Built from an estimator's attribute dict ``attrs`` right after a prediction
    passed the full path with its network ``network`` (the estimator's own
    ``_network``): the objects recorded here are the ones those checks passed.

    Parameters
    ----------
    attrs : dict
        The estimator's ``__dict__``.
    network : fastmlp.network.Network
        ``attrs["_network"]``, as ``_current_network`` returned it.
    """

    __slots__ = ("network", "coefs", "intercepts", "coef_items", "intercept_items",
                 "arrays", "shapes", "activation",
                 "n_features", "names", "name_list", "device", "n_jobs", "net", "dtype",
                 "n_outputs")

    def __init__(self, attrs, network):
        self.network = network
        self.coefs, self.intercepts = attrs["coefs_"], attrs["intercepts_"]
        self.coef_items, self.intercept_items = tuple(self.coefs), tuple(self.intercepts)
        self.arrays = self.coef_items + self.intercept_items
        self.shapes = tuple(map(_shape, self.arrays))
        self.activation = attrs["activation"]
        self.n_features = attrs["n_features_in_"]
        self.names = attrs.get("feature_names_in_")
        self.name_list = None if self.names is None else list(self.names)
        self.device = attrs["device"]
        self.n_jobs = attrs.get("n_jobs")
        self.net = network.bundle()
        self.dtype = network.dtype
        self.n_outputs = int(network.units[-1])

    def current(self, attrs):
        """Whether ``attrs`` still holds what was checked: the same network, the
        same ``coefs_`` / ``intercepts_`` objects in the same shapes (the
        network's views), the same activation, width, feature names, device
        and ``n_jobs``."""
        coefs, intercepts = attrs.get("coefs_"), attrs.get("intercepts_")
        return (coefs is self.coefs and intercepts is self.intercepts
                and attrs.get("_network") is self.network
                and attrs.get("activation") == self.activation
                and attrs.get("n_features_in_") == self.n_features
                and attrs.get("feature_names_in_") is self.names
                and attrs.get("device") == self.device
                and attrs.get("n_jobs") == self.n_jobs
                and len(coefs) == len(self.coef_items)
                and len(intercepts) == len(self.intercept_items)
                and all(map(is_, coefs, self.coef_items))
                and all(map(is_, intercepts, self.intercept_items))
                and tuple(map(_shape, self.arrays)) == self.shapes)

    def forward(self, X):
        """Output-layer activations of X as the full path computes them, or None
        when X is not the common case (see the module docstring)."""
        if type(X) is not np.ndarray:
            X = self._frame_values(X)
            if X is None:
                return None
        elif self.names is not None:  # scikit-learn warns: no feature names
            return None
        if X.ndim != 2 or X.shape[1] != self.n_features or X.shape[0] == 0:
            return None
        in_dtype = X.dtype
        if in_dtype is not self.dtype:
            if in_dtype is not _FLOAT32 and in_dtype is not _FLOAT64:
                return None
            X = X.astype(self.dtype, order="C")  # as the full path converts it
        else:
            flags = X.flags
            if not (flags.c_contiguous and flags.writeable and flags.aligned):
                return None
        out = np.empty((X.shape[0], self.n_outputs), dtype=self.dtype)
        if not cpu.predict_dense(self.net, X, out, check_finite=True, n_jobs=self.n_jobs):
            return None  # a value that is not finite: the full path raises
        # as scikit-learn: float64 input to a float32 model gives float64 output
        return out.astype(_FLOAT64) if in_dtype is _FLOAT64 and self.dtype is _FLOAT32 else out

    def _frame_values(self, X):
        """A pandas DataFrame's values as a C-contiguous float array when its
        columns are the fitted feature names; None otherwise."""
        pandas = sys.modules.get("pandas")
        if (self.names is None or pandas is None or type(X) is not pandas.DataFrame
                or list(X.columns) != self.name_list):
            return None
        values = X.to_numpy()
        if values.dtype is not _FLOAT32 and values.dtype is not _FLOAT64:
            return None
        return np.array(values, order="C")  # a copy, as the full path's


def serving_state(attrs):
    """The ``ServingState`` recorded on the estimator's network, if it is current."""
    state = getattr(attrs.get("_network"), "serving", None)
    return state if state is not None and state.current(attrs) else None


def decode_classes(binarizer, output):
    """``binarizer.inverse_transform(output)`` -- a fitted ``LabelBinarizer`` --
    computed directly for single-label classes (what scikit-learn computes:
    the first maximum's class, or the positive class above the threshold);
    other targets go through the binarizer."""
    classes = binarizer.classes_
    if not binarizer.sparse_input_ and type(output) is np.ndarray:
        if binarizer.y_type_ == "multiclass" and output.ndim == 2:
            return classes.take(output.argmax(axis=1), mode="clip")
        if (binarizer.y_type_ == "binary" and output.ndim == 1 and classes.shape[0] == 2):
            threshold = (binarizer.pos_label + binarizer.neg_label) / 2.0
            return classes[(output > threshold).astype(np.intp)]
    return binarizer.inverse_transform(output)
