"""Scalar activation functions and their derivatives, selected by integer code.

The functions are written once as plain Python (``kernel(inline="always")``) and
compiled into both the CPU and the CUDA kernels. Kernels receive the integer
codes of ``fastmlp.spec``, never Python callables (callables defeat Numba's
on-disk cache). An unknown code gives NaN: codes are checked where the
bundles are built (``spec.activation``), so none reaches a kernel.

The definitions and constants are PyTorch's (``torch.nn.ELU``, ``LeakyReLU``,
``GELU`` in its exact erf form, ``Softplus``, ``SiLU``).

To add an activation: its entry in ``spec.ACTIVATIONS``, a branch in
``activate`` and in ``derivative`` here, and a twin in ``tests/reference.py``;
every CPU and CUDA kernel picks it up from these (the recipe in ``spec``).
"""

import math

from ..spec import (
    ACTIVATIONS,
    ELU,
    EXP,
    GELU,
    IDENTITY,
    LEAKY_RELU,
    LOGISTIC,
    RELU,
    SILU,
    SOFTMAX,
    SOFTPLUS,
    TANH,
)
from . import kernel

NEEDS_PRE = tuple(kind.code for kind in ACTIVATIONS.values() if kind.needs_pre)
"""Codes whose f' needs the pre-activation z (``spec.ActivationKind.needs_pre``)."""

# PyTorch's constants: ELU(alpha=1), LeakyReLU(negative_slope=0.01),
# Softplus(beta=1, threshold=20) (linear above the threshold).
ELU_ALPHA = 1.0
LEAKY_SLOPE = 0.01
SOFTPLUS_THRESHOLD = 20.0
INV_SQRT_2 = 0.7071067811865476  # 1 / sqrt(2)
INV_SQRT_2PI = 0.3989422804014327  # 1 / sqrt(2 pi)


@kernel(inline="always")
def activate(z, code):
    """Return ``f(z)`` for the elementwise activation ``code``.

    SOFTMAX is not elementwise (see ``softmax_row``); here it returns ``exp(z)``.
    """
    if code == RELU:
        return relu(z)
    if code == TANH:
        return math.tanh(z)
    if code == LOGISTIC:
        return sigmoid(z)
    if code == EXP or code == SOFTMAX:
        return math.exp(z)
    if code == ELU:  # alpha (e^z - 1) below 0
        return z if z > 0 else ELU_ALPHA * math.expm1(z)
    if code == LEAKY_RELU:
        return z if z > 0 else LEAKY_SLOPE * z
    if code == GELU:  # exact: z Phi(z), Phi the standard normal CDF
        return 0.5 * z * (1.0 + math.erf(z * INV_SQRT_2))
    if code == SOFTPLUS:  # log(1 + e^z); exp cannot overflow below the threshold
        return z if z > SOFTPLUS_THRESHOLD else math.log1p(math.exp(z))
    if code == SILU:  # z sigmoid(z)
        return z * sigmoid(z)
    if code == IDENTITY:
        return z
    return z * math.nan


@kernel(inline="always")
def relu(z):
    """max(z, 0), in z's type."""
    return z if z > 0 else z * 0


@kernel(inline="always")
def relu_derivative(a):
    """ReLU's f' from its output: 1 where a > 0, else 0."""
    return a * 0 + 1 if a > 0 else a * 0


@kernel(inline="always")
def tanh_derivative(a):
    """tanh's f' from its output: 1 - a^2."""
    return 1 - a * a


@kernel(inline="always")
def logistic_derivative(a):
    """The logistic function's f' from its output: a (1 - a)."""
    return a * (1 - a)


@kernel(inline="always")
def sigmoid(z):
    """1 / (1 + e^-z), split by sign so exp never overflows."""
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


@kernel(inline="always")
def needs_pre(code):
    """Whether ``derivative`` needs the pre-activation ``z`` (``NEEDS_PRE``):
    these keep z while training; every other activation's f' is written from
    its output ``a = f(z)`` alone."""
    for pre_code in NEEDS_PRE:
        if code == pre_code:
            return True
    return False


@kernel(inline="always")
def derivative(a, z, code):
    """Return ``f'(z)`` from the output ``a = f(z)``, or from ``z`` for the codes
    of ``needs_pre`` (for the others ``z`` is not read).

    logistic: a (1 - a); tanh: 1 - a^2; relu: 1 if a > 0 else 0; identity: 1;
    elu: 1 if a > 0 else a + alpha; leaky relu: 1 if a > 0 else slope;
    softplus: sigmoid(z) = 1 - e^-a (1 above the threshold);
    gelu: Phi(z) + z phi(z); silu: s (1 + z (1 - s)), s = sigmoid(z).
    """
    if code == RELU:
        return relu_derivative(a)
    if code == TANH:
        return tanh_derivative(a)
    if code == LOGISTIC:
        return logistic_derivative(a)
    if code == ELU:
        return a * 0 + 1 if a > 0 else a + ELU_ALPHA
    if code == LEAKY_RELU:
        return a * 0 + 1 if a > 0 else a * 0 + LEAKY_SLOPE
    if code == SOFTPLUS:
        return a * 0 + 1 if a > SOFTPLUS_THRESHOLD else -math.expm1(-a)
    if code == GELU:
        return (0.5 * (1.0 + math.erf(z * INV_SQRT_2))
                + z * INV_SQRT_2PI * math.exp(-0.5 * z * z))
    if code == SILU:
        s = sigmoid(z)
        return s * (1 + z * (1 - s))
    if code == IDENTITY:
        return a * 0 + 1
    return a * math.nan


@kernel(inline="always")
def softmax_row(z, off, cols):
    """In place: ``z[off:off+cols] = exp(z - max z) / sum exp(z - max z)``.

    Subtracting the row maximum keeps exp from overflowing. ``z`` is any 1-D
    array; the CPU kernels pass a row of a block, the CUDA kernels a flat buffer.
    """
    zmax = z[off]
    for j in range(1, cols):
        if z[off + j] > zmax:
            zmax = z[off + j]
    total = 0.0
    for j in range(cols):
        e = math.exp(z[off + j] - zmax)
        z[off + j] = e
        total += e
    for j in range(cols):
        z[off + j] /= total



activate_any = kernel(activate.py_func)
"""``activate`` compiled once as a function of its own rather than inlined: for
the mini-batch loops whose code is only known at run time (those loops call
tanh, exp or erf per element and cannot vectorise anyway). Inlining every
branch at every such site made a cold first fit measurably slower to compile."""

derivative_any = kernel(derivative.py_func)
"""``derivative`` compiled once as a function of its own (see ``activate_any``)."""
