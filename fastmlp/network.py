"""The network: layer sizes, activation codes, dtype and one flat parameter vector."""

import numpy as np

from . import spec
from .kernels.bundles import Net
from .layout import check_layers, validate_network

_CODES = {name: kind.code for name, kind in spec.ACTIVATIONS.items()}
"""Activation name -> kernel code (``spec.ACTIVATIONS``), for the bundle built per call."""

INITIALIZERS = ("glorot_uniform", "he_normal", "he_uniform", "lecun_normal")
"""Names of the weight initialisations (see ``Network.initialize``)."""


class Network:
    """A fully connected network whose parameters live in one flat vector.

    The vector holds every coefficient matrix (layer by layer, row-major) and then
    every intercept vector, the order of scikit-learn's ``_pack``; ``coefs`` and
    ``intercepts`` are reshaped views into it, so an optimizer step over the flat
    vector updates them in place.

    Parameters
    ----------
    units : sequence of int
        Layer widths, input features first and outputs last.
    activation : str
        Hidden activation name (``spec.HIDDEN_ACTIVATIONS``).
    out_activation : str
        Output activation name (``spec.OUTPUT_ACTIVATIONS``).
    params : ndarray of shape (n_params,)
        The flat parameter vector; its dtype is the network's dtype.

    Notes
    -----
    An estimator records the checks of its lean prediction path on its network
    as ``serving`` (``estimators._serving.ServingState``); like the record of
    ``layout.validate_network``, it is never pickled.
    """

    def __init__(self, units, activation, out_activation, params):
        self.units = np.asarray(units, dtype=np.int64)
        self.activation = activation
        self.out_activation = out_activation
        fan_in, fan_out = self.units[:-1], self.units[1:]
        sizes = fan_in * fan_out
        self.n_coef = int(sizes.sum())
        self.coef_off = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
        self.inter_off = (self.n_coef
                          + np.concatenate(([0], np.cumsum(fan_out)[:-1]))).astype(np.int64)
        n_params = self.n_coef + int(fan_out.sum())
        if params.shape != (n_params,):
            raise ValueError(
                f"params must have shape ({n_params},) for layers {list(units)}, "
                f"got {params.shape}."
            )
        self.params = params

    @classmethod
    def initialize(cls, units, activation, out_activation, dtype, random_state,
                   init="glorot_uniform"):
        """Initial weights drawn from ``random_state``, layer by layer.

        'glorot_uniform' draws coefficients then intercepts from U(-b, b),
        b = sqrt(factor / (fan_in + fan_out)) with factor 2 for 'logistic' and 6
        otherwise, in scikit-learn's order, so the same seed gives scikit-learn's
        initial weights. 'he_normal' N(0, 2 / fan_in), 'he_uniform'
        U(-sqrt(6 / fan_in), sqrt(6 / fan_in)) and 'lecun_normal' N(0, 1 / fan_in)
        draw the coefficients only; their intercepts start at zero.
        """
        net = cls(units, activation, out_activation,
                  np.empty(int(np.sum(np.multiply(units[:-1], units[1:])) + np.sum(units[1:])),
                           dtype=dtype))
        for coef, intercept in zip(net.coefs, net.intercepts, strict=True):
            fan_in, fan_out = coef.shape
            if init == "glorot_uniform":
                factor = 2.0 if activation == "logistic" else 6.0
                bound = np.sqrt(factor / (fan_in + fan_out))
                coef[...] = random_state.uniform(-bound, bound, coef.shape)
                intercept[...] = random_state.uniform(-bound, bound, intercept.shape)
                continue
            if init == "he_uniform":
                bound = np.sqrt(6.0 / fan_in)
                coef[...] = random_state.uniform(-bound, bound, coef.shape)
            elif init in ("he_normal", "lecun_normal"):
                scale = np.sqrt((2.0 if init == "he_normal" else 1.0) / fan_in)
                coef[...] = random_state.normal(0.0, scale, coef.shape)
            else:
                raise ValueError(f"init must be one of {INITIALIZERS}, got {init!r}.")
            intercept[...] = 0
        return net

    @classmethod
    def from_arrays(cls, coefs, intercepts, activation, out_activation):
        """Pack per-layer arrays (e.g. assigned by a user) into a new Network;
        ValueError (``layout.check_layers``) when their shapes do not chain."""
        units = check_layers(coefs, intercepts)
        dtype = np.result_type(*coefs, *intercepts)
        if dtype not in (np.float32, np.float64):
            dtype = np.dtype(np.float64)  # integer arrays, float16: as scikit-learn computes
        params = np.concatenate([np.ravel(a) for a in list(coefs) + list(intercepts)]).astype(
            dtype, copy=False)
        return cls(units, activation, out_activation, params)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_validated_layout", None)  # records of this process's checks
        state.pop("serving", None)
        return state

    def __setstate__(self, state):
        """Unpickling checks the restored layout (``layout.validate_network``).
        Arrays restored as read-only memory maps (joblib) become plain writeable
        arrays: the kernels train the parameters in place."""
        state = dict(state)
        state.pop("_validated_layout", None)
        state.pop("serving", None)
        for name in ("units", "coef_off", "inter_off", "params"):
            value = state.get(name)
            if isinstance(value, np.ndarray) and (type(value) is not np.ndarray
                                                  or not value.flags.writeable):
                state[name] = np.array(value, order="C")
        self.__dict__.update(state)
        validate_network(self)

    def check(self, n_features=None, n_outputs=None):
        """``layout.validate_network(self, n_features, n_outputs)``: ValueError when
        the layout disagrees with itself or with the given data widths."""
        validate_network(self, n_features, n_outputs)

    def bundle(self):
        """The network as the kernels take it (a ``kernels.bundles.Net``)."""
        # positional, in Net's field order: prediction of one row builds one per
        # call, and keywords cost a third of a microsecond more
        return Net(self.params, self.units, self.coef_off, self.inter_off, self.n_coef,
                   self.hidden_code, self.out_code)

    def copy(self):
        """A network with the same layout and a copy of the parameters."""
        return Network(self.units, self.activation, self.out_activation, self.params.copy())

    @property
    def dtype(self):
        return self.params.dtype

    @property
    def n_layers(self):
        """Number of weight layers (scikit-learn's ``n_layers_ - 1``)."""
        return len(self.units) - 1

    @property
    def hidden_code(self):
        """The hidden activation's kernel code; ValueError for an unknown name."""
        try:
            return _CODES[self.activation]
        except (KeyError, TypeError):  # ValueError naming the known activations
            return spec.activation(self.activation).code

    @property
    def out_code(self):
        """The output activation's kernel code; ValueError for an unknown name."""
        try:
            return _CODES[self.out_activation]
        except (KeyError, TypeError):  # ValueError naming the known activations
            return spec.activation(self.out_activation).code

    @property
    def coefs(self):
        """Per-layer coefficient matrices, views into ``params``."""
        return [
            self.params[o : o + a * b].reshape(a, b)
            for o, a, b in zip(self.coef_off, self.units[:-1], self.units[1:], strict=True)
        ]

    @property
    def intercepts(self):
        """Per-layer intercept vectors, views into ``params``."""
        return [self.params[o : o + b] for o, b in zip(self.inter_off, self.units[1:], strict=True)]
