"""The vocabulary: what each activation, loss and solver is, declared once as data.

Everything else derives from the three tables below: the estimators' parameter
constraints and docs, the loss of each output activation, the layout and
model-file checks, the memory estimate, the ahead-of-time paths, the ONNX
table, the test grids -- and the integer codes the kernels dispatch on. This
module imports nothing from fastmlp, so every floor (kernels included) may
import it; the estimators take their vocabulary from here, never from
``kernels/``.

Adding one
----------
An activation: an ``ActivationKind`` in ``ACTIVATIONS`` (a new code), its
``f`` and ``f'`` in ``kernels/activations.py`` (``activate``, ``derivative``),
its ONNX form in ``onnx.py`` when it is not a single operator already there,
and its twin in ``tests/reference.py``.

An optimizer: a ``SolverKind`` in ``SOLVERS`` (a new code, its state rows, the
estimator parameters it reads and the schedules it follows), its scalar step in
``kernels/optimizers.py`` (a ``*_updated`` function, a branch in ``updated``
and in ``advance_step``, a loop in ``step_range``), and its twin in
``tests/reference.py``. A new hyperparameter is also a field of
``kernels.bundles.Hyper`` (filled in ``solvers.StochasticOptimizer.hyper``) and
a constructor parameter of the estimators (``estimators/_base.py``,
``classifier.py``, ``regressor.py``), as scikit-learn's API requires.

A loss: a ``LossKind`` in ``LOSSES`` paired with its canonical output
activation (one per output activation, so the output delta stays ``w (p - y)``),
its term in ``kernels/losses.py``, and its twin in ``tests/reference.py``.
"""

from collections import namedtuple

ActivationKind = namedtuple("ActivationKind", "name code hidden output needs_pre onnx doc")
ActivationKind.__doc__ = """One activation function.

name : the ``activation`` parameter's value (hidden) or ``out_activation_`` (output).
code : the integer the kernels dispatch on.
hidden, output : whether a hidden layer / the output layer may use it.
needs_pre : whether f' needs the pre-activation z (it cannot be written from
    a = f(z)); such activations keep z while training.
onnx : the name of its ONNX form in ``fastmlp.onnx.FORMS`` (the ONNX operator
    where one operator computes it).
doc : its formula, for the estimators' docstring.
"""

LossKind = namedtuple("LossKind", "name code output estimator param label_types non_negative")
LossKind.__doc__ = """One loss, paired with its canonical output activation.

name : the loss's own name.
code : the integer the kernels dispatch on.
output : name of its output activation (each output activation has one loss).
estimator : 'classifier' or 'regressor'.
param : the value of the estimator's ``loss`` parameter that selects it.
label_types : for a classifier loss, the target types (scikit-learn's
    ``type_of_target``) it is used for; empty for regression.
non_negative : whether the targets must be >= 0.
"""

SolverKind = namedtuple("SolverKind", "name code state_rows hyper schedules stochastic")
SolverKind.__doc__ = """One solver.

name : the ``solver`` parameter's value.
code : the integer the optimizer kernels dispatch on.
state_rows : rows of optimizer state over the flat parameter vector (0-2).
hyper : the estimator parameters it reads.
schedules : the ``learning_rate`` schedules it follows (any other value
    means 'constant' for it, as in scikit-learn).
stochastic : whether it trains in epochs of mini-batches (``partial_fit``,
    early stopping, ``loss_curve_``) rather than on the full-data objective.
"""

# Activation codes (the kernels import these names).
IDENTITY = 0
LOGISTIC = 1
TANH = 2
RELU = 3
SOFTMAX = 4
EXP = 5
ELU = 6
LEAKY_RELU = 7
GELU = 8
SOFTPLUS = 9
SILU = 10

# Loss codes.
SQUARED_ERROR = 0
POISSON = 1
LOG_LOSS = 2
BINARY_LOG_LOSS = 3

# Solver codes. NO_UPDATE: the kernels finish the gradient and take no step
# (L-BFGS, whose steps scipy takes).
NO_UPDATE = -1
SGD = 0
ADAM = 1
ADAMW = 2

SCHEDULES = ("constant", "invscaling", "adaptive", "cosine")
"""Values of the ``learning_rate`` parameter."""

WARMUP_SCHEDULES = ("constant", "cosine")
"""Schedules a linear warm-up (``warmup_iter``) may precede."""


def _table(*kinds):
    return {kind.name: kind for kind in kinds}


ACTIVATIONS = _table(
    ActivationKind("identity", IDENTITY, True, True, False, "Identity", "x"),
    ActivationKind("logistic", LOGISTIC, True, True, False, "Sigmoid", "1 / (1 + exp(-x))"),
    ActivationKind("tanh", TANH, True, False, False, "Tanh", "tanh(x)"),
    ActivationKind("relu", RELU, True, False, False, "Relu", "max(0, x)"),
    ActivationKind("softmax", SOFTMAX, False, True, False, "Softmax",
                   "exp(x) / sum(exp(x)) over a row"),
    ActivationKind("exp", EXP, False, True, False, "Exp", "exp(x)"),
    ActivationKind("elu", ELU, True, False, False, "Elu", "x if x > 0 else exp(x) - 1 (alpha = 1)"),
    ActivationKind("leaky_relu", LEAKY_RELU, True, False, False, "LeakyRelu",
                   "x if x > 0 else 0.01 x"),
    ActivationKind("gelu", GELU, True, False, True, "Gelu",
                   "x Phi(x), Phi the standard normal CDF (the exact erf form)"),
    ActivationKind("softplus", SOFTPLUS, True, False, False, "Softplus",
                   "log(1 + exp(x)), linear above x = 20"),
    ActivationKind("silu", SILU, True, False, True, "SiLU", "x / (1 + exp(-x))"),
)
"""Every activation, by name. The definitions and constants of the ones beyond
scikit-learn's are PyTorch's (``torch.nn.ELU``, ``LeakyReLU``, ``GELU``,
``Softplus``, ``SiLU``)."""

LOSSES = _table(
    LossKind("squared_error", SQUARED_ERROR, "identity", "regressor", "squared_error", (),
             False),
    LossKind("poisson", POISSON, "exp", "regressor", "poisson", (), True),
    LossKind("log_loss", LOG_LOSS, "softmax", "classifier", "log_loss", ("multiclass",), False),
    LossKind("binary_log_loss", BINARY_LOG_LOSS, "logistic", "classifier", "log_loss",
             ("binary", "multilabel-indicator"), False),
)
"""Every loss, by name."""

SOLVERS = _table(
    SolverKind("lbfgs", NO_UPDATE, 0, ("max_fun",), (), False),
    SolverKind("sgd", SGD, 1,
               ("learning_rate_init", "momentum", "nesterovs_momentum", "power_t"),
               SCHEDULES, True),
    SolverKind("adam", ADAM, 2, ("learning_rate_init", "beta_1", "beta_2", "epsilon"),
               ("constant", "cosine"), True),
    SolverKind("adamw", ADAMW, 2,
               ("learning_rate_init", "beta_1", "beta_2", "epsilon", "alpha"),
               ("constant", "cosine"), True),
)
"""Every solver, by name."""


def _lookup(table, what, name):
    try:
        return table[name]
    except (KeyError, TypeError):  # TypeError: an unhashable name
        raise ValueError(f"{what} must be one of {sorted(table)}, got {name!r}.") from None


def activation(name):
    """The ``ActivationKind`` called ``name``; ValueError naming the known ones."""
    return _lookup(ACTIVATIONS, "activation", name)


def loss(name):
    """The ``LossKind`` called ``name``; ValueError naming the known ones."""
    return _lookup(LOSSES, "loss", name)


def solver(name):
    """The ``SolverKind`` called ``name``; ValueError naming the known ones."""
    return _lookup(SOLVERS, "solver", name)


HIDDEN_ACTIVATIONS = tuple(a.name for a in ACTIVATIONS.values() if a.hidden)
"""Names a hidden layer may use (the ``activation`` parameter's values)."""

OUTPUT_ACTIVATIONS = tuple(a.name for a in ACTIVATIONS.values() if a.output)
"""Names an output layer may use: the output activations of the losses."""

STOCHASTIC_SOLVERS = tuple(s.name for s in SOLVERS.values() if s.stochastic)
"""Solvers that train in epochs (sgd, adam, adamw)."""

DECOUPLED_DECAY = ("adamw",)
"""Solvers whose ``alpha`` decays the coefficients directly (p *= 1 - lr alpha)
instead of entering the gradient as an L2 penalty."""

LOSS_OF_OUTPUT = {kind.output: kind for kind in LOSSES.values()}
"""The loss paired with each output activation."""


def losses_of(estimator):
    """The ``LossKind`` entries of 'classifier' or 'regressor', in table order."""
    return tuple(kind for kind in LOSSES.values() if kind.estimator == estimator)


def classifier_loss(label_type):
    """The classifier loss for targets of scikit-learn's ``type_of_target``
    ``label_type``; ValueError for a type no loss takes."""
    for kind in losses_of("classifier"):
        if isinstance(label_type, str) and label_type in kind.label_types:
            return kind
    known = [t for kind in losses_of("classifier") for t in kind.label_types]
    raise ValueError(f"the target type must be one of {known}, got {label_type!r}.")


def regressor_loss(param):
    """The regressor loss selected by the ``loss`` parameter value ``param``."""
    kinds = {kind.param: kind for kind in losses_of("regressor")}
    return _lookup(kinds, "loss", param)
