"""A fitted estimator as plain data, and back.

``export_state`` turns a fitted MLPClassifier / MLPRegressor into a JSON-able
dict and a dict of plain NumPy arrays (numbers and unicode strings only);
``import_state`` validates such a pair and rebuilds the estimator. The file
format (``fastmlp.io``) and the ONNX converter (``fastmlp.onnx``) sit on top.

This module is the ONLY place outside the estimators that knows their private
attributes; the comment above ``_SCALARS`` lists every one it reads or writes.
"""

import math

import numpy as np
from sklearn.utils._param_validation import validate_parameter_constraints
from sklearn.utils.validation import check_is_fitted

from . import spec
from .estimators import MLPClassifier, MLPRegressor
from .network import Network

# Estimator types a file may name. Loading never imports anything else.
ESTIMATORS = {"MLPClassifier": MLPClassifier, "MLPRegressor": MLPRegressor}

# Private estimator attributes and methods this module depends on:
#   _network            fastmlp.network.Network (units, activation, out_activation, params)
#   _set_network(net)   installs a network: _network, coefs_ / intercepts_ views, _views
#   _current_network()  the network predict uses (rebuilt if coefs_ were replaced)
#   _label_binarizer    sklearn LabelBinarizer (classes_, y_type_, sparse_input_)
#   _optimizer          optimizer of sgd / adam (solver, learning_rate, state, step)
#   _optimizer_for(network, incremental)  builds an optimizer from the hyperparameters
#   _no_improvement_count                 early-stopping counter
# Not kept: _random_state (every fit / partial_fit draws it afresh from random_state).

# Public fitted scalars: name -> (kind, required). Kinds: "count" (int >= 0),
# "str", "float", "float?" (float or None).
_SCALARS = {
    "n_features_in_": ("count", True),
    "n_outputs_": ("count", True),
    "n_layers_": ("count", True),
    "out_activation_": ("str", True),
    "n_iter_": ("count", True),
    "t_": ("count", True),
    "loss_": ("float", False),
    "best_loss_": ("float?", False),
    "best_validation_score_": ("float?", False),
    "_no_improvement_count": ("count", False),
}
# Fitted float lists, stored as float64 arrays (None is recorded in the header).
_CURVES = {"loss_curve_": "loss_curve", "validation_scores_": "validation_scores",
           "validation_loss_curve_": "validation_loss_curve"}

_OUTPUT_ACTIVATIONS = {
    cls: tuple(kind.output for kind in spec.losses_of(role))
    for cls, role in ((MLPClassifier, "classifier"), (MLPRegressor, "regressor"))}
_Y_TYPES = tuple(t for kind in spec.losses_of("classifier") for t in kind.label_types)
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_MT19937_KEYS = 624


class StateError(ValueError):
    """A model's stored state is invalid; the message names the field."""


# ---------------------------------------------------------------- helpers
def predict_network(model):
    """The network ``model.predict`` evaluates (layers, activations, parameters)."""
    return model._current_network()


def label_type(model):
    """The classifier's target type: 'binary', 'multiclass' or 'multilabel-indicator'."""
    return model._label_binarizer.y_type_


def skops_trusted_types(model=None):
    """Names of the fastmlp types ``skops.io.load`` needs to be told to trust.

    Parameters
    ----------
    model : MLPClassifier or MLPRegressor, optional
        A fitted model: its class is listed. Default: both estimator classes.
        Nothing else of fastmlp needs trusting: the estimators store their
        network and optimizer as plain arrays, numbers and strings.

    Returns
    -------
    list of str
    """

    def name(cls):
        return f"{cls.__module__}.{cls.__qualname__}"

    # the estimators hand their network and optimizer to skops as plain data
    classes = list(ESTIMATORS.values()) if model is None else [type(model)]
    return [name(cls) for cls in classes]


def _encode_float(value):
    value = float(value)
    return value if math.isfinite(value) else {"float": repr(value)}


def _decode_float(value, field):
    if isinstance(value, dict) and set(value) == {"float"} and value["float"] in (
            "inf", "-inf", "nan"):
        return float(value["float"])
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise StateError(f"{field} must be a number, got {value!r}.")


def _encode_param(name, value):
    """A hyperparameter value as JSON (tagged where JSON has no such type)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _encode_float(value)
    if isinstance(value, (tuple, list)):
        items = [_encode_param(name, v) for v in value]
        return {"tuple": items} if isinstance(value, tuple) else items
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "iu":
        return {"ndarray": value.tolist()}
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind == "f":
        return {"float_ndarray": [_encode_float(v) for v in value.tolist()]}  # dropout
    if isinstance(value, dict):  # class_weight: {label: weight}
        return {"dict": [[_encode_param(name, k), _encode_param(name, v)]
                         for k, v in value.items()]}
    if isinstance(value, np.random.RandomState):
        return {"RandomState": "random_state_keys"}
    raise StateError(
        f"hyperparameter {name!r} holds a {type(value).__name__}, which a model file "
        "cannot store; use numbers, strings, tuples, lists or dicts of them.")


def _decode_param(name, value):
    field = f"hyperparameter {name!r}"
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, list):
        return [_decode_param(name, v) for v in value]
    if isinstance(value, dict) and len(value) == 1:
        (tag, content), = value.items()
        if tag == "float":
            return _decode_float(value, field)
        if tag == "tuple" and isinstance(content, list):
            return tuple(_decode_param(name, v) for v in content)
        if tag == "ndarray" and isinstance(content, list) and all(
                type(v) is int for v in content):
            return np.asarray(content, dtype=np.int64)
        if tag == "float_ndarray" and isinstance(content, list):
            return np.asarray([_decode_float(v, field) for v in content], dtype=np.float64)
        if tag == "dict" and isinstance(content, list) and all(
                isinstance(item, list) and len(item) == 2 for item in content):
            items = [(_decode_param(name, k), _decode_param(name, v)) for k, v in content]
            try:
                return dict(items)
            except TypeError:  # a key that is a list: not a label
                raise StateError(f"{field} has a key that is not a label.") from None
        if tag == "RandomState" and content == "random_state_keys":
            return value  # rebuilt by _random_state_from
    raise StateError(f"{field} has a value this format does not know: {value!r}.")


_MAX_INT = 2**63 - 1  # counts are stored as int64
_MAX_UNITS = 2**31 - 1  # a layer width (the product of two must fit an int64)


def _check_count(value, field, minimum=0, maximum=_MAX_INT):
    if type(value) is not int or not minimum <= value <= maximum:
        raise StateError(f"{field} must be an integer in [{minimum}, {maximum}], got "
                         f"{value!r}.")
    return value


def _check_str(value, field, allowed=None):
    if not isinstance(value, str) or (allowed is not None and value not in allowed):
        expected = f"one of {', '.join(map(repr, allowed))}" if allowed else "a string"
        raise StateError(f"{field} must be {expected}, got {value!r}.")
    return value


def _array(arrays, key, *, dtypes=None, ndim=1, shape=None, finite=False, required=True):
    """``arrays[key]`` after checking dtype, dimensions, shape and finiteness."""
    if key not in arrays:
        if required:
            raise StateError(f"array {key!r} is missing.")
        return None
    arr = arrays[key]
    if dtypes is not None and arr.dtype not in dtypes:
        names = " or ".join(str(d) for d in dtypes)
        raise StateError(f"array {key!r} must have dtype {names}, got {arr.dtype}.")
    if arr.ndim != ndim:
        raise StateError(f"array {key!r} must be {ndim}-D, got shape {arr.shape}.")
    if shape is not None and arr.shape != tuple(shape):
        raise StateError(f"array {key!r} must have shape {tuple(shape)}, got {arr.shape}.")
    if finite and not _all_finite(arr):
        raise StateError(f"array {key!r} contains NaN or infinite values.")
    return arr


def _all_finite(arr):
    # Not a sum of squares by BLAS: on a busy machine its threads can stall, and
    # tiny Adam moments make denormal squares.
    return bool(np.isfinite(arr).all())


def _label_array(values, field):
    """Labels / names as a plain array, plus the dtype to restore ('object' or None)."""
    values = np.asarray(values)
    if values.dtype == object:
        if not all(isinstance(v, str) for v in values.ravel()):
            kinds = sorted({type(v).__name__ for v in values.ravel()})
            raise StateError(
                f"{field} holds Python objects of type {', '.join(kinds)}; a model file "
                "stores numbers or strings only.")
        return values.astype(str), "object"
    if values.dtype.kind not in "biufU" or values.dtype.byteorder == ">":
        raise StateError(f"{field} has dtype {values.dtype}; a model file stores "
                         "numbers or strings only.")
    return values, None


_LABEL_DTYPE_KINDS = "biufU"


def _labels(arrays, key, restore):
    arr = _array(arrays, key)
    if arr.dtype.kind not in _LABEL_DTYPE_KINDS:
        raise StateError(f"array {key!r} must hold numbers or strings, got {arr.dtype}.")
    if restore not in (None, "object"):
        raise StateError(f"the dtype recorded for {key!r} must be 'object' or null, "
                         f"got {restore!r}.")
    return arr.astype(object) if restore == "object" else arr


# ------------------------------------------------------------------ export
def export_state(model):
    """``(meta, arrays)``: everything a fitted model needs, as JSON and plain arrays.

    Raises
    ------
    TypeError
        ``model`` is not a fastmlp MLPClassifier / MLPRegressor.
    sklearn.exceptions.NotFittedError
        ``model`` is not fitted.
    ValueError
        A hyperparameter or label cannot be stored without pickle.
    """
    kind = next((k for k, cls in ESTIMATORS.items() if type(model) is cls), None)
    if kind is None:
        raise TypeError(f"model must be a fastmlp MLPClassifier or MLPRegressor, got "
                        f"{type(model).__module__}.{type(model).__qualname__}.")
    model = model._published()  # one model, even while a fit runs in another thread
    check_is_fitted(model, "coefs_")
    arrays = {}
    params = model.get_params(deep=False)
    meta = {"estimator": kind,
            "params": {k: _encode_param(k, v) for k, v in params.items()}}
    if isinstance(params["random_state"], np.random.RandomState):
        # Training continues from the generator's current state, as after pickling.
        name, keys, pos, has_gauss, cached = params["random_state"].get_state()
        arrays["random_state_keys"] = np.asarray(keys, dtype=np.uint32)
        meta["random_state"] = {"pos": int(pos), "has_gauss": int(has_gauss),
                                "cached_gaussian": _encode_float(cached)}

    network = predict_network(model)
    meta["network"] = {"units": [int(u) for u in network.units],
                       "activation": network.activation,
                       "out_activation": network.out_activation}
    arrays["params"] = network.params

    attributes = {}
    for name, (kind_, _) in _SCALARS.items():
        if hasattr(model, name):
            value = getattr(model, name)
            if kind_ == "count":
                value = int(value)
            elif kind_.startswith("float"):
                value = None if value is None else _encode_float(value)
            attributes[name] = value
    meta["attributes"] = attributes
    curves = {}
    for name, key in _CURVES.items():
        if hasattr(model, name):
            value = getattr(model, name)
            curves[name] = value is not None
            if value is not None:
                arrays[key] = np.asarray(value, dtype=np.float64)
    meta["curves"] = curves

    if hasattr(model, "feature_names_in_"):
        arrays["feature_names"], _ = _label_array(model.feature_names_in_, "feature_names_in_")
    if isinstance(model, MLPClassifier):
        binarizer = model._label_binarizer
        arrays["classes"], classes_dtype = _label_array(model.classes_, "classes_")
        binarizer_dtype = classes_dtype
        if binarizer.classes_ is not model.classes_:
            arrays["binarizer_classes"], binarizer_dtype = _label_array(
                binarizer.classes_, "classes_")
        meta["labels"] = {"y_type": binarizer.y_type_,
                          "sparse_input": bool(binarizer.sparse_input_),
                          "classes_dtype": classes_dtype,
                          "binarizer_classes_dtype": binarizer_dtype}

    optimizer = getattr(model, "_optimizer", None)
    if optimizer is not None:
        meta["optimizer"] = {"solver": optimizer.solver,
                             "learning_rate": _encode_float(optimizer.learning_rate),
                             "epoch": int(optimizer.epoch),
                             "dropout_seed": optimizer.dropout_seed,
                             "step": [int(s) for s in np.ravel(optimizer.step)]}
        arrays["optimizer_state"] = optimizer.state
    return meta, arrays


# ------------------------------------------------------------------ import
_META_KEYS = {"estimator", "params", "network", "attributes", "curves", "labels",
              "optimizer", "random_state"}
_ARRAY_KEYS = {"params", "optimizer_state", "loss_curve", "validation_scores",
               "validation_loss_curve", "classes",
               "binarizer_classes", "feature_names", "random_state_keys"}


def _section(meta, key, required=True):
    value = meta.get(key)
    if value is None:
        if required:
            raise StateError(f"header field {key!r} is missing.")
        return None
    if not isinstance(value, dict):
        raise StateError(f"header field {key!r} must be an object, got {value!r}.")
    return value


def import_state(meta, arrays, *, device=None):
    """Validate ``(meta, arrays)`` from ``export_state`` and rebuild the estimator.

    Only the estimator types in ``ESTIMATORS`` can be built; hyperparameters go
    through the estimator's own validation. Raises :class:`StateError` (a
    ValueError) naming the first field that is missing, malformed or
    inconsistent with the rest.
    """
    unknown = sorted(set(meta) - _META_KEYS)
    if unknown:
        raise StateError(f"unknown header field(s) {unknown}.")
    unknown = sorted(set(arrays) - _ARRAY_KEYS)
    if unknown:
        raise StateError(f"unknown array(s) {unknown}.")
    kind = meta.get("estimator")
    if not isinstance(kind, str) or kind not in ESTIMATORS:
        raise StateError(f"header field 'estimator' must be one of {sorted(ESTIMATORS)}, "
                         f"got {kind!r}.")
    cls = ESTIMATORS[kind]
    model = cls()
    _restore_params(model, meta, arrays, device)
    network = _restore_network(model, meta, arrays)
    _restore_attributes(model, meta, arrays, network)
    if cls is MLPClassifier:
        _restore_labels(model, meta, arrays)
    elif "labels" in meta or "classes" in arrays:
        raise StateError("an MLPRegressor has no class labels, but the file has some.")
    _restore_optimizer(model, meta, arrays, network)
    return model


# Hyperparameters added after the file format: a file written before one existed
# loads with its default (each one only shows or hides things, never changes a fit).
_LATER_PARAMS = {"progress": False, "n_jobs": None}


def _restore_params(model, meta, arrays, device):
    stored = {**_LATER_PARAMS, **_section(meta, "params")}
    expected = _param_names(type(model))
    if set(stored) != expected:
        missing, extra = sorted(expected - set(stored)), sorted(set(stored) - expected)
        raise StateError(f"hyperparameters do not match {type(model).__name__}'s: "
                         f"missing {missing}, unknown {extra}.")
    params = {k: _decode_param(k, v) for k, v in stored.items()}
    if isinstance(params["random_state"], dict):
        params["random_state"] = _random_state_from(meta, arrays)
    elif "random_state" in meta or "random_state_keys" in arrays:
        raise StateError("a random generator state is stored, but hyperparameter "
                         "'random_state' does not refer to it.")
    if device is not None:
        params["device"] = device
    # fit's parameter validation, skipping values that are the defaults (same type)
    defaults = _defaults(type(model))
    changed = {k: v for k, v in params.items()
               if type(v) is not type(defaults[k]) or not _equal(v, defaults[k])}
    try:
        validate_parameter_constraints(type(model)._parameter_constraints, changed,
                                       caller_name=type(model).__name__)
    except ValueError as exc:  # sklearn's InvalidParameterError names the parameter
        raise StateError(f"invalid hyperparameter: {exc}") from None
    for name, value in params.items():
        setattr(model, name, value)


_DEFAULTS = {}


def _defaults(cls):
    if cls not in _DEFAULTS:
        _DEFAULTS[cls] = cls().get_params(deep=False)
    return _DEFAULTS[cls]


def _param_names(cls):
    return _defaults(cls).keys()


def _equal(a, b):
    try:
        return bool(a == b)
    except ValueError:  # arrays
        return False


def _random_state_from(meta, arrays):
    state = _section(meta, "random_state")
    keys = _array(arrays, "random_state_keys", dtypes=(np.dtype(np.uint32),),
                  shape=(_MT19937_KEYS,))
    pos = _check_count(state.get("pos"), "random_state.pos")
    has_gauss = _check_count(state.get("has_gauss"), "random_state.has_gauss")
    cached = _decode_float(state.get("cached_gaussian"), "random_state.cached_gaussian")
    if pos > _MT19937_KEYS or has_gauss > 1:
        raise StateError(f"random_state.pos must be <= {_MT19937_KEYS} and "
                         f"random_state.has_gauss 0 or 1, got {pos} and {has_gauss}.")
    generator = np.random.RandomState()
    generator.set_state(("MT19937", keys, pos, has_gauss, cached))
    return generator


def _restore_network(model, meta, arrays):
    section = _section(meta, "network")
    units = section.get("units")
    if (not isinstance(units, list) or len(units) < 2
            or not all(type(u) is int and 1 <= u <= _MAX_UNITS for u in units)):
        raise StateError(f"network.units must be a list of at least two integers in "
                         f"[1, {_MAX_UNITS}], got {units!r}.")
    hidden = _check_str(section.get("activation"), "network.activation",
                        spec.HIDDEN_ACTIVATIONS)
    out = _check_str(section.get("out_activation"), "network.out_activation",
                     _OUTPUT_ACTIVATIONS[type(model)])
    fan_in, fan_out = np.array(units[:-1]), np.array(units[1:])
    n_params = int((fan_in * fan_out).sum() + fan_out.sum())
    params = _array(arrays, "params", dtypes=_FLOATS, shape=(n_params,), finite=True)
    network = Network(units, hidden, out, params)
    model._set_network(network)
    return network


def _restore_attributes(model, meta, arrays, network):
    stored = _section(meta, "attributes")
    unknown = sorted(set(stored) - set(_SCALARS))
    if unknown:
        raise StateError(f"unknown fitted attribute(s) {unknown}.")
    for name, (kind, required) in _SCALARS.items():
        if name not in stored:
            if required:
                raise StateError(f"fitted attribute {name!r} is missing.")
            continue
        value, field = stored[name], f"fitted attribute {name!r}"
        if kind == "count":
            value = _check_count(value, field)
        elif kind == "str":
            value = _check_str(value, field)
        elif value is not None or kind == "float":
            value = _decode_float(value, field)
        setattr(model, name, value)

    units = [int(u) for u in network.units]
    checks = (("n_features_in_", units[0]), ("n_outputs_", units[-1]),
              ("n_layers_", len(units)), ("out_activation_", network.out_activation))
    for name, expected in checks:
        if getattr(model, name) != expected:
            raise StateError(f"fitted attribute {name!r} is {getattr(model, name)!r} but "
                             f"the network says {expected!r}.")

    curves = _section(meta, "curves")
    for name, key in _CURVES.items():
        if name not in curves:
            if key in arrays:
                raise StateError(f"array {key!r} is not announced in the header.")
            continue
        if not isinstance(curves[name], bool):
            raise StateError(f"curves.{name} must be true or false, got {curves[name]!r}.")
        values = _array(arrays, key, dtypes=(np.dtype(np.float64),), required=curves[name])
        setattr(model, name, None if values is None else values.tolist())

    if "feature_names" in arrays:
        names = _array(arrays, "feature_names")
        if names.dtype.kind != "U" or names.shape != (model.n_features_in_,):
            raise StateError(f"array 'feature_names' must hold {model.n_features_in_} "
                             f"strings, got dtype {names.dtype} and shape {names.shape}.")
        model.feature_names_in_ = names.astype(object)


def _restore_labels(model, meta, arrays):
    from sklearn.preprocessing import LabelBinarizer

    section = _section(meta, "labels")
    y_type = _check_str(section.get("y_type"), "labels.y_type", _Y_TYPES)
    if not isinstance(section.get("sparse_input"), bool):
        raise StateError("labels.sparse_input must be true or false, got "
                         f"{section.get('sparse_input')!r}.")
    classes = _labels(arrays, "classes", section.get("classes_dtype"))
    binarizer_classes = classes  # one array unless the two differ (partial_fit's classes)
    if "binarizer_classes" in arrays:
        binarizer_classes = _labels(arrays, "binarizer_classes",
                                    section.get("binarizer_classes_dtype"))
    for key, values in (("classes", classes), ("binarizer_classes", binarizer_classes)):
        if len(np.unique(values)) != len(values) or len(values) == 0:
            raise StateError(f"array {key!r} must hold distinct labels, got {values!r}.")
    n_outputs = 1 if y_type == "binary" else len(binarizer_classes)
    if model.n_outputs_ != n_outputs:
        raise StateError(f"{len(binarizer_classes)} {y_type} class(es) need "
                         f"{n_outputs} output(s), but the network has {model.n_outputs_}.")
    if spec.classifier_loss(y_type).output != model.out_activation_:
        raise StateError(f"labels.y_type {y_type!r} does not go with output activation "
                         f"{model.out_activation_!r}.")
    binarizer = LabelBinarizer()
    binarizer.classes_ = binarizer_classes
    binarizer.y_type_ = y_type
    binarizer.sparse_input_ = section["sparse_input"]
    model._label_binarizer = binarizer
    model.classes_ = classes


def _restore_optimizer(model, meta, arrays, network):
    section = _section(meta, "optimizer", required=False)
    if section is None:
        if "optimizer_state" in arrays:
            raise StateError("array 'optimizer_state' is not announced in the header.")
        return
    solver = _check_str(section.get("solver"), "optimizer.solver", spec.STOCHASTIC_SOLVERS)
    learning_rate = _decode_float(section.get("learning_rate"), "optimizer.learning_rate")
    if not (math.isfinite(learning_rate) and learning_rate >= 0):  # 'cosine' ends at 0
        raise StateError(f"optimizer.learning_rate must be a non-negative number, got "
                         f"{learning_rate!r}.")
    epoch = section.get("epoch", 0)  # files written before the epoch schedules: 0
    _check_count(epoch, "optimizer.epoch")
    dropout_seed = section.get("dropout_seed")  # None: no unit dropped yet
    if dropout_seed is not None:
        _check_count(dropout_seed, "optimizer.dropout_seed", maximum=_MAX_UNITS)
    step = section.get("step")
    if not isinstance(step, list) or not all(type(s) is int and 0 <= s <= _MAX_INT
                                             for s in step):
        raise StateError(f"optimizer.step must be a list of integers in [0, {_MAX_INT}], "
                         f"got {step!r}.")
    # An optimizer built the way training builds one, holding the stored state.
    current = model.solver
    model.solver = solver
    try:
        optimizer = model._optimizer_for(network, incremental=False)
    finally:
        model.solver = current
    state = _array(arrays, "optimizer_state", dtypes=(optimizer.state.dtype,),
                   ndim=optimizer.state.ndim, shape=optimizer.state.shape, finite=True)
    if len(step) != optimizer.step.size:
        raise StateError(f"optimizer.step must hold {optimizer.step.size} value(s), "
                         f"got {step!r}.")
    optimizer.state = state
    optimizer.step[...] = np.asarray(step, dtype=optimizer.step.dtype).reshape(
        optimizer.step.shape)
    optimizer.learning_rate = learning_rate
    optimizer.epoch = epoch
    optimizer.dropout_seed = dropout_seed
    model._optimizer = optimizer
