"""ONNX export of fitted fastmlp models, through skl2onnx.

Importing this module registers converters for :class:`~fastmlp.MLPClassifier`
and :class:`~fastmlp.MLPRegressor` with skl2onnx, so that
``skl2onnx.to_onnx(model, X[:1])`` works on them, alone or inside a
scikit-learn ``Pipeline``. The graphs follow skl2onnx's conventions for
scikit-learn's own MLPs: a classifier has a ``label`` output and a
``probabilities`` output (a list of ``{class: probability}`` maps unless the
option ``zipmap=False`` is given); a regressor has one ``variable`` output of
shape ``(n_samples, n_outputs)``. Each layer is one ``Gemm`` followed by its
activation; the graph computes in the input's precision (float or double).

Needs the ``export`` extra: ``pip install "fastmlp[export]"``.

Examples
--------
>>> import numpy as np
>>> import onnxruntime as ort
>>> from fastmlp import MLPClassifier
>>> from fastmlp.onnx import to_onnx
>>> X = np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32)
>>> clf = MLPClassifier((8,), max_iter=300, random_state=0).fit(X, X[:, 0] > 0)
>>> onx = to_onnx(clf, options={"zipmap": False})
>>> session = ort.InferenceSession(onx.SerializeToString())
>>> label, proba = session.run(None, {"X": X})
>>> bool(np.allclose(proba, clf.predict_proba(X), atol=1e-5))
True
"""

import math

import numpy as np

try:
    from onnx import TensorProto
    from skl2onnx import update_registered_converter
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )
    from skl2onnx.common.utils import check_input_and_output_numbers
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ModuleNotFoundError(
        "fastmlp.onnx needs skl2onnx and onnx (and onnxruntime to run the models): "
        'pip install "fastmlp[export]"', name=exc.name) from exc

from . import _state, spec
from .estimators import MLPClassifier, MLPRegressor

__all__ = ["FORMS", "HIDDEN_ACTIVATIONS", "OUTPUT_ACTIVATIONS", "to_onnx"]

_SQRT_HALF = math.sqrt(0.5)


# ------------------------------------------------------------------ activations
# Each entry builds ``f(x)`` in the graph ``g`` and returns the result's name.
# Definitions are PyTorch's: ELU alpha 1, leaky ReLU slope 0.01, exact (erf) GELU,
# softplus log(1 + exp(x)), SiLU x * sigmoid(x). float graphs use the ONNX
# operators of those names; double graphs use equivalent expressions, because
# onnxruntime implements Elu, LeakyRelu, Softplus, Erf and Gelu for float only.
def _identity(g, x):
    return x


def _single(op, **attrs):
    def build(g, x):
        return g.node(op, [x], **attrs)
    return build


def _elu(g, x):
    if not g.double:
        return g.node("Elu", [x], alpha=1.0)
    # max(x, 0) + exp(min(x, 0)) - 1
    negative = g.node("Exp", [g.node("Min", [x, g.constant("zero", 0.0)])])
    return g.node("Add", [g.node("Relu", [x]),
                          g.node("Sub", [negative, g.constant("one", 1.0)])])


def _leaky_relu(g, x):
    if not g.double:
        return g.node("LeakyRelu", [x], alpha=0.01)
    return g.node("Max", [x, g.node("Mul", [x, g.constant("slope", 0.01)])])


def _erf(g, x):
    if not g.double:
        return g.node("Erf", [x])
    as_float = g.node("Cast", [x], to=TensorProto.FLOAT)
    return g.node("Cast", [g.node("Erf", [as_float])], to=TensorProto.DOUBLE)


def _gelu(g, x):
    if g.opset >= 20 and not g.double:  # Gelu joined the standard operators in opset 20
        return g.node("Gelu", [x])
    # x * 0.5 * (1 + erf(x / sqrt(2)))
    erf = _erf(g, g.node("Mul", [x, g.constant("sqrt_half", _SQRT_HALF)]))
    half = g.node("Mul", [x, g.constant("half", 0.5)])
    return g.node("Mul", [half, g.node("Add", [erf, g.constant("one", 1.0)])])


def _softplus(g, x):
    if not g.double:
        return g.node("Softplus", [x])
    # max(x, 0) + log(1 + exp(-|x|)): no overflow for large |x|
    tail = g.node("Exp", [g.node("Neg", [g.node("Abs", [x])])])
    tail = g.node("Log", [g.node("Add", [tail, g.constant("one", 1.0)])])
    return g.node("Add", [g.node("Relu", [x]), tail])


def _silu(g, x):
    return g.node("Mul", [x, g.node("Sigmoid", [x])])


FORMS = {
    "Identity": _identity,
    "Sigmoid": _single("Sigmoid"),
    "Tanh": _single("Tanh"),
    "Relu": _single("Relu"),
    "Softmax": _single("Softmax", axis=1),
    "Exp": _single("Exp"),
    "Elu": _elu,
    "LeakyRelu": _leaky_relu,
    "Gelu": _gelu,
    "Softplus": _softplus,
    "SiLU": _silu,
}
"""ONNX form (``spec.ActivationKind.onnx``) -> builder of it."""

HIDDEN_ACTIVATIONS = {kind.name: FORMS[kind.onnx] for kind in spec.ACTIVATIONS.values()
                      if kind.hidden and kind.onnx in FORMS}
"""Hidden activation name -> builder of its ONNX form."""

OUTPUT_ACTIVATIONS = {kind.name: FORMS[kind.onnx] for kind in spec.ACTIVATIONS.values()
                      if kind.output and kind.onnx in FORMS}
"""Output activation name -> builder of its ONNX form."""


def _builder(table, name, where):
    if name not in table:
        raise ValueError(
            f"the {where} activation {name!r} has no ONNX form in fastmlp.onnx; "
            f"exportable {where} activations: {', '.join(sorted(table))}.")
    return table[name]


# ------------------------------------------------------------------ graph helper
class _Graph:
    """Adds uniquely named nodes and constants of one float type to a graph."""

    def __init__(self, scope, operator, container):
        self.scope, self.container = scope, container
        self.opset = container.target_opset
        self.double = double = isinstance(operator.inputs[0].type, DoubleTensorType)
        self.dtype = np.float64 if double else np.float32
        self.proto = TensorProto.DOUBLE if double else TensorProto.FLOAT

    def node(self, op, inputs, output=None, **attrs):
        output = output or self.scope.get_unique_variable_name(op.lower())
        self.container.add_node(op, inputs, output,
                                name=self.scope.get_unique_operator_name(op), **attrs)
        return output

    def constant(self, name, value, proto=None, dtype=None):
        value = np.asarray(value, dtype=dtype or self.dtype)
        unique = self.scope.get_unique_variable_name(name)
        self.container.add_initializer(unique, proto or self.proto, list(value.shape),
                                       value.ravel().tolist())
        return unique

    def float_input(self, variable):
        """The input in the graph's float type (cast when it is not already)."""
        if isinstance(variable.type, (FloatTensorType, DoubleTensorType)):
            return variable.full_name
        return self.node("Cast", [variable.full_name], to=self.proto)


def _forward(g, model, x):
    """Output-layer activations of ``model`` for the graph input ``x``."""
    network = _state.predict_network(model)
    hidden = _builder(HIDDEN_ACTIVATIONS, network.activation, "hidden")
    out = _builder(OUTPUT_ACTIVATIONS, network.out_activation, "output")
    last = network.n_layers - 1
    for i, (coef, intercept) in enumerate(zip(network.coefs, network.intercepts, strict=True)):
        z = g.node("Gemm", [x, g.constant("coef", coef), g.constant("intercept", intercept)])
        x = out(g, z) if i == last else hidden(g, z)
    return x


# ------------------------------------------------------------------ classifier
def _class_labels(model, options):
    """``(labels, kind)``: class labels as int64 or str arrays, kind 'int' or 'str'."""
    if options.get("nocl"):
        return np.arange(len(model.classes_), dtype=np.int64), "int"
    classes = np.asarray(model.classes_)
    if classes.dtype.kind in "iub":
        return classes.astype(np.int64), "int"
    if classes.dtype.kind == "f":
        if np.array_equal(classes, np.round(classes)):
            return classes.astype(np.int64), "int"
        raise ValueError(f"class labels {classes.tolist()} are not integers; ONNX "
                         "labels are integers or strings.")
    if classes.dtype.kind == "U" or all(isinstance(c, str) for c in classes):
        return classes.astype(str), "str"
    raise ValueError(f"class labels of dtype {classes.dtype} cannot be exported; "
                     "ONNX labels are integers or strings.")


def _classifier_options(scope, model):
    return scope.get_options(model, dict(nocl=False))


def _classifier_shapes(operator):
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=2)
    model = operator.raw_operator
    zipmap = operator.scope_inst.get_options(model, dict(zipmap=True))["zipmap"]
    if zipmap is not False and isinstance(operator.inputs[0].type, DoubleTensorType):
        raise ValueError(
            "ONNX's ZipMap takes float32 probabilities only: convert with float32 input, "
            "or pass options={'zipmap': False} for a double probability matrix.")
    n = operator.inputs[0].get_first_dimension()
    labels, kind = _class_labels(model, _classifier_options(operator.scope_inst, model))
    label_type = StringTensorType if kind == "str" else Int64TensorType
    if _state.label_type(model).startswith("multilabel"):
        operator.outputs[0].type = Int64TensorType([n, len(labels)])
    else:
        operator.outputs[0].type = label_type([n])
    float_type = (DoubleTensorType if isinstance(operator.inputs[0].type, DoubleTensorType)
                  else FloatTensorType)
    n_columns = max(2, model.n_outputs_)
    operator.outputs[1].type = float_type([n, n_columns])


def _convert_classifier(scope, operator, container):
    model = operator.raw_operator
    g = _Graph(scope, operator, container)
    labels, kind = _class_labels(model, _classifier_options(scope, model))
    y_type = _state.label_type(model)
    if len(labels) < 2:
        raise ValueError("a classifier fitted on a single class cannot be exported.")
    label, proba = operator.outputs[0].full_name, operator.outputs[1].full_name
    p = _forward(g, model, g.float_input(operator.inputs[0]))
    if y_type == "binary":  # one logistic output: P(classes_[1])
        g.node("Concat", [g.node("Sub", [g.constant("one", 1.0), p]), p], proba, axis=1)
    else:
        g.node("Identity", [p], proba)
    if y_type.startswith("multilabel"):  # as LabelBinarizer: 1 where p > 0.5
        g.node("Cast", [g.node("Greater", [p, g.constant("threshold", 0.5)])], label,
               to=TensorProto.INT64)
        return
    index = g.node("ArgMax", [proba], axis=1, keepdims=0)
    if kind == "str":
        table = g.scope.get_unique_variable_name("classes")
        container.add_initializer(table, TensorProto.STRING, [len(labels)],
                                  [s.encode("utf-8") for s in labels])
    else:
        table = g.constant("classes", labels, TensorProto.INT64, np.int64)
    g.node("Gather", [table, index], label, axis=0)


# ------------------------------------------------------------------ regressor
def _regressor_shapes(operator):
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    float_type = (DoubleTensorType if isinstance(operator.inputs[0].type, DoubleTensorType)
                  else FloatTensorType)
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = float_type([n, operator.raw_operator.n_outputs_])


def _convert_regressor(scope, operator, container):
    g = _Graph(scope, operator, container)
    y = _forward(g, operator.raw_operator, g.float_input(operator.inputs[0]))
    g.node("Identity", [y], operator.outputs[0].full_name)


update_registered_converter(
    MLPClassifier, "FastmlpMLPClassifier", _classifier_shapes, _convert_classifier,
    options={"zipmap": [True, False, "columns"], "nocl": [True, False],
             "output_class_labels": [False, True]})
update_registered_converter(
    MLPRegressor, "FastmlpMLPRegressor", _regressor_shapes, _convert_regressor)


# ------------------------------------------------------------------ convenience
def to_onnx(model, X=None, *, target_opset=None, options=None):
    """Convert a fitted fastmlp model to an ONNX ``ModelProto``.

    A thin wrapper of ``skl2onnx.to_onnx``: without ``X`` the graph input is
    ``X``, of shape ``(None, n_features_in_)`` and of the model's float type.

    Parameters
    ----------
    model : MLPClassifier or MLPRegressor
        A fitted model (on any device).
    X : array-like, optional
        Sample input; its dtype and width define the graph input.
    target_opset : int, optional
        ONNX opset; default: the latest skl2onnx has tested.
    options : dict, optional
        The skl2onnx converter options, e.g. ``{"zipmap": False}`` for a plain
        probability matrix, ``{"nocl": True}`` for class indices as labels.

    Returns
    -------
    onnx.ModelProto
        The graph: ``label`` and ``probabilities`` outputs for a classifier,
        ``variable`` for a regressor, as skl2onnx names them.

    Raises
    ------
    ValueError
        If the hidden or output activation has no ONNX form (the message names
        it), or the class labels are neither integers nor strings.

    See Also
    --------
    fastmlp.save : The pickle-free model file, which keeps every fitted attribute.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from sklearn.datasets import load_iris
    >>> from fastmlp import MLPClassifier
    >>> from fastmlp.onnx import to_onnx
    >>> X, y = load_iris(return_X_y=True)
    >>> X = X.astype(np.float32)
    >>> model = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs",
    ...                       random_state=0).fit(X, y)
    >>> onx = to_onnx(model, options={"zipmap": False})
    >>> session = ort.InferenceSession(onx.SerializeToString(),
    ...                                providers=["CPUExecutionProvider"])
    >>> labels, probabilities = session.run(None, {"X": X})
    >>> bool((labels == model.predict(X)).all())
    True
    >>> bool(np.allclose(probabilities, model.predict_proba(X), atol=1e-5))
    True
    """
    import skl2onnx

    if X is None:
        dtype = _state.predict_network(model).dtype
        tensor = DoubleTensorType if dtype == np.float64 else FloatTensorType
        return skl2onnx.to_onnx(model, initial_types=[("X", tensor([None, model.n_features_in_]))],
                                target_opset=target_opset, options=options)
    return skl2onnx.to_onnx(model, X, target_opset=target_opset, options=options)
