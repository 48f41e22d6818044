"""Checks that a network's layout agrees with itself and with the arrays it meets.

The compiled kernels index the flat parameter vector and the input rows with
the layout's integers (``units``, ``coef_off``, ``inter_off``) and never check
bounds, so a layout that disagrees with its arrays -- ``coefs_`` replaced by a
user with the wrong shapes, an edited ``n_features_in_``, a tampered pickle --
would read (or write) outside them. Everything here runs once per call, before
any kernel, costs microseconds, and raises ``ValueError`` naming the
inconsistent attribute and what was expected.

- ``check_layers(coefs, intercepts)``: per-layer arrays (``coefs_`` /
  ``intercepts_`` as a user may assign them) chain into one network.
- ``validate_network(network, n_features=None, n_outputs=None)``: a
  ``Network``'s units, offsets, parameter vector and activations, and the widths
  of the data it is given.
- ``validate_fitted_state(estimator)``: a fitted estimator's attributes
  (``n_features_in_``, ``n_outputs_``, ``n_layers_``, ``out_activation_``,
  ``classes_``, feature names, optimizer state) against its network.
"""

from numbers import Integral

import numpy as np

from . import spec

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _fail(message):
    raise ValueError(message)


def _int_vector(value, name, length=None):
    """``value`` as a list of ints if it is a 1-D int64 ndarray (of ``length``)."""
    if not (type(value) is np.ndarray and value.ndim == 1 and value.dtype == np.int64):
        _fail(f"{name} must be a 1-D int64 array, got {type(value).__name__} "
              f"{getattr(value, 'shape', '')} {getattr(value, 'dtype', '')}.")
    if length is not None and value.shape[0] != length:
        _fail(f"{name} must have shape ({length},), got {value.shape}.")
    return value.tolist()


def expected_offsets(units):
    """(coef_off, inter_off, n_coef, n_params) of the flat layout for ``units``
    (a list of ints): every coefficient matrix, then every intercept vector."""
    coef_off, inter_off = [], []
    total = 0
    for n_in, n_out in zip(units[:-1], units[1:], strict=True):
        coef_off.append(total)
        total += n_in * n_out
    n_coef = total
    for n_out in units[1:]:
        inter_off.append(total)
        total += n_out
    return coef_off, inter_off, n_coef, total


def check_activation(name, attribute, output):
    """``name`` is an activation a hidden (or, with ``output``, the output) layer
    may have (``spec.ACTIVATIONS``)."""
    allowed = spec.OUTPUT_ACTIVATIONS if output else spec.HIDDEN_ACTIVATIONS
    if not isinstance(name, str) or name not in allowed:
        _fail(f"{attribute} must be one of {sorted(allowed)}, got {name!r}.")


def _layout_unchanged(network):
    """Whether the network still holds the layout objects that last passed
    ``validate_network`` (arrays by identity, names and counts by value)."""
    last = network.__dict__.get("_validated_layout")
    if last is None:
        return False
    d = network.__dict__
    return (d.get("units") is last[0] and d.get("coef_off") is last[1]
            and d.get("inter_off") is last[2] and d.get("params") is last[3]
            and last[3].shape == last[4] and d.get("n_coef") == last[5]
            and d.get("activation") == last[6] and d.get("out_activation") == last[7])


def validate_network(network, n_features=None, n_outputs=None):
    """Check a ``Network``'s layout, and optionally the data widths it meets.

    The full check runs once per layout: a network remembers the arrays and
    names that passed, so later calls with the same objects cost a few
    identity comparisons plus the width checks. (Unpickling always runs the
    full check; a layout array edited in place is not noticed.)

    Parameters
    ----------
    network : Network
        Its ``units`` (1-D int64, at least two layers, all >= 1), ``coef_off``,
        ``inter_off`` and ``n_coef`` (equal to what ``units`` implies), ``params``
        (1-D, C-contiguous, float32 or float64, of the implied length) and its
        activation names are checked.
    n_features : int, optional
        Number of columns of the input data: must equal ``units[0]``.
    n_outputs : int, optional
        Number of target columns: must equal ``units[-1]``.

    Raises
    ------
    ValueError
        Naming the inconsistent attribute and the expected value or shape.
    """
    if _layout_unchanged(network):
        _check_widths(network.units, n_features, n_outputs)
        return
    units = _int_vector(getattr(network, "units", None), "Network.units")
    if len(units) < 2:
        _fail(f"Network.units must list at least an input and an output layer, got {units}.")
    if min(units) < 1:
        _fail(f"Network.units must all be >= 1, got {units}.")
    coef_off, inter_off, n_coef, n_params = expected_offsets(units)
    n_layers = len(units) - 1
    if _int_vector(getattr(network, "coef_off", None), "Network.coef_off",
                   n_layers) != coef_off:
        _fail(f"Network.coef_off must be {coef_off} for units {units}, "
              f"got {list(network.coef_off)}.")
    if _int_vector(getattr(network, "inter_off", None), "Network.inter_off",
                   n_layers) != inter_off:
        _fail(f"Network.inter_off must be {inter_off} for units {units}, "
              f"got {list(network.inter_off)}.")
    if getattr(network, "n_coef", None) != n_coef:
        _fail(f"Network.n_coef must be {n_coef} for units {units}, "
              f"got {getattr(network, 'n_coef', None)!r}.")
    params = getattr(network, "params", None)
    if type(params) is not np.ndarray or params.shape != (n_params,):
        _fail(f"Network.params must have shape ({n_params},) for units {units}, got "
              f"{getattr(params, 'shape', type(params).__name__)}.")
    if params.dtype not in FLOAT_DTYPES:
        _fail(f"Network.params must be float32 or float64, got {params.dtype}.")
    if not params.flags.c_contiguous:
        _fail("Network.params must be C-contiguous.")
    check_activation(getattr(network, "activation", None), "Network.activation", False)
    check_activation(getattr(network, "out_activation", None), "Network.out_activation",
                     True)
    network.__dict__["_validated_layout"] = (
        network.units, network.coef_off, network.inter_off, params, params.shape, n_coef,
        network.activation, network.out_activation)
    _check_widths(network.units, n_features, n_outputs)


def _check_widths(units, n_features, n_outputs):
    """The data's widths agree with the first and last layers."""
    if n_features is not None and n_features != units[0]:
        _fail(f"X has {n_features} features, but the network's input layer has "
              f"{units[0]} units (coefs_[0].shape[0]).")
    if n_outputs is not None and n_outputs != units[-1]:
        _fail(f"The targets have {n_outputs} columns, but the network's output layer has "
              f"{units[-1]} units (coefs_[-1].shape[1]).")


def check_layers(coefs, intercepts):
    """Check per-layer arrays (``coefs_``, ``intercepts_``) before they are packed.

    Parameters
    ----------
    coefs : list of ndarray
        ``coefs[i]`` of shape (units[i], units[i + 1]), chained layer to layer.
    intercepts : list of ndarray
        ``intercepts[i]`` of shape (units[i + 1],).

    Returns
    -------
    units : list of int
        The layer widths the arrays describe.

    Raises
    ------
    ValueError
        Naming the first array whose type, dimension or shape does not fit.
    """
    for name, arrays in (("coefs_", coefs), ("intercepts_", intercepts)):
        if not isinstance(arrays, (list, tuple)) or len(arrays) == 0:
            _fail(f"{name} must be a non-empty list of arrays, got {type(arrays).__name__}.")
    if len(intercepts) != len(coefs):
        _fail(f"intercepts_ must have one array per layer ({len(coefs)}, as coefs_), "
              f"got {len(intercepts)}.")
    units = []
    for i, (coef, intercept) in enumerate(zip(coefs, intercepts, strict=True)):
        for name, a, ndim in ((f"coefs_[{i}]", coef, 2), (f"intercepts_[{i}]", intercept, 1)):
            if not isinstance(a, np.ndarray) or a.ndim != ndim:
                _fail(f"{name} must be a {ndim}-D ndarray, got "
                      f"{type(a).__name__} {getattr(a, 'shape', '')}.")
            if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
                _fail(f"{name} must hold real numbers, got dtype {a.dtype}.")
        if i == 0:
            units.append(coef.shape[0])
        elif coef.shape[0] != units[-1]:
            _fail(f"coefs_[{i}] must have shape ({units[-1]}, n) to follow coefs_[{i - 1}] "
                  f"of shape {coefs[i - 1].shape}, got {coef.shape}.")
        units.append(coef.shape[1])
        if intercept.shape != (coef.shape[1],):
            _fail(f"intercepts_[{i}] must have shape ({coef.shape[1]},) to match "
                  f"coefs_[{i}] of shape {coef.shape}, got {intercept.shape}.")
    if min(units) < 1:
        _fail(f"coefs_ and intercepts_ describe layers of widths {units}; all must be >= 1.")
    return units


def _check_int_attribute(estimator, name, expected, source):
    value = getattr(estimator, name, None)
    if not isinstance(value, Integral) or isinstance(value, bool) or value != expected:
        _fail(f"{name} is {value!r} but {source} is {expected}: the fitted model is "
              "inconsistent (refit it, or restore the fitted attributes).")


def validate_fitted_state(estimator, network):
    """Check a fitted estimator's attributes against its network.

    Parameters
    ----------
    estimator : BaseMLP
        A fitted MLPClassifier / MLPRegressor.
    network : Network
        The network it predicts with (``validate_network`` is run on it).

    Raises
    ------
    ValueError
        Naming the inconsistent attribute: ``n_features_in_``, ``n_outputs_``,
        ``n_layers_``, ``out_activation_``, ``feature_names_in_``, ``classes_``,
        or the optimizer state kept for ``partial_fit``.
    """
    validate_network(network)
    units = network.units.tolist()
    _check_int_attribute(estimator, "n_features_in_", units[0],
                         "the network's input width (coefs_[0].shape[0])")
    _check_int_attribute(estimator, "n_outputs_", units[-1],
                         "the network's output width (coefs_[-1].shape[1])")
    _check_int_attribute(estimator, "n_layers_", len(units),
                         "the network's number of layers (len(coefs_) + 1)")
    if getattr(estimator, "out_activation_", None) != network.out_activation:
        _fail(f"out_activation_ is {getattr(estimator, 'out_activation_', None)!r} but the "
              f"network's output activation is {network.out_activation!r}.")
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None and (not isinstance(names, np.ndarray) or names.shape != (units[0],)):
        _fail(f"feature_names_in_ must have shape ({units[0]},), got "
              f"{getattr(names, 'shape', type(names).__name__)}.")
    classes = getattr(estimator, "classes_", None)
    binarizer = getattr(estimator, "_label_binarizer", None)
    if binarizer is not None:
        _check_classes(classes, binarizer, units[-1], network.out_activation)
    optimizer = getattr(estimator, "_optimizer", None)
    if optimizer is not None:
        _check_optimizer(optimizer, network)


def _check_classes(classes, binarizer, n_outputs, out_activation):
    """``classes_`` agrees with the label binarizer and the output layer."""
    y_type = getattr(binarizer, "y_type_", None)
    bin_classes = getattr(binarizer, "classes_", None)
    if not isinstance(bin_classes, np.ndarray) or bin_classes.ndim != 1:
        _fail("The label binarizer's classes_ must be a 1-D array.")
    if not (isinstance(classes, np.ndarray) and classes.shape == bin_classes.shape
            and np.array_equal(classes, bin_classes)):
        _fail(f"classes_ must equal the fitted labels {bin_classes!r}, got {classes!r}.")
    n_classes = bin_classes.shape[0]
    try:
        activation = spec.classifier_loss(y_type).output
    except ValueError as exc:
        _fail(f"The label binarizer's {exc}")
    expected = 1 if y_type == "binary" else n_classes  # LabelBinarizer's columns
    if n_outputs != expected:
        _fail(f"classes_ has {n_classes} {y_type} labels, which need {expected} outputs, "
              f"but the network's output layer has {n_outputs} units.")
    if out_activation != activation:
        _fail(f"out_activation_ must be {activation!r} for {y_type} targets, "
              f"got {out_activation!r}.")


def _check_optimizer(optimizer, network):
    """The optimizer state kept for ``partial_fit`` / ``warm_start`` fits the network."""
    state, step = getattr(optimizer, "state", None), getattr(optimizer, "step", None)
    try:
        rows = spec.solver(getattr(optimizer, "solver", None)).state_rows
    except ValueError as exc:
        _fail(f"The optimizer's {exc}")
    expected = (rows, network.params.shape[0])
    if not isinstance(state, np.ndarray) or state.shape != expected:
        _fail(f"The optimizer state must have shape {expected}, got "
              f"{getattr(state, 'shape', type(state).__name__)}.")
    if state.dtype != network.params.dtype or not state.flags.c_contiguous:
        _fail(f"The optimizer state must be a C-contiguous {network.params.dtype} array, "
              f"got {state.dtype}.")
    if not (isinstance(step, np.ndarray) and step.shape == (1,) and step.dtype == np.int64):
        _fail("The optimizer step must be an int64 array of shape (1,).")
