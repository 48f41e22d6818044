"""Scalar activation functions and their derivatives, selected by integer code.

The functions are written once as plain Python on scalars and compiled twice:
here with ``numba.njit`` for the CPU kernels and, in ``cuda_dense.py``, with
``numba.cuda.jit(device=True)`` for the GPU kernels. Kernels receive the integer
codes below, never Python callables (callables defeat Numba's on-disk cache).
"""

import math

from . import kernel

# Hidden and output activation codes. SOFTMAX and EXP only appear as outputs.
IDENTITY = 0
LOGISTIC = 1
TANH = 2
RELU = 3
SOFTMAX = 4
EXP = 5

ACTIVATION_CODES = {
    "identity": IDENTITY,
    "logistic": LOGISTIC,
    "tanh": TANH,
    "relu": RELU,
    "softmax": SOFTMAX,
    "exp": EXP,
}

# Loss codes; each is paired with its canonical output activation so that the
# output delta is always ``p - y`` (see ``dense.output_delta``).
SQUARED_ERROR = 0  # identity output
POISSON = 1  # exp output
LOG_LOSS = 2  # softmax output (multiclass)
BINARY_LOG_LOSS = 3  # logistic output (binary and multilabel)


def activate_scalar(z, code):
    """Return ``f(z)`` for the elementwise activation ``code``.

    SOFTMAX is not elementwise; callers normalise rows themselves and pass
    SOFTMAX only after subtracting the row maximum, so this returns ``exp(z)``.
    """
    if code == RELU:
        return z if z > 0 else z * 0
    if code == TANH:
        return math.tanh(z)
    if code == LOGISTIC:
        # 1 / (1 + e^-z), split by sign so exp never overflows.
        if z >= 0:
            return 1 / (1 + math.exp(-z))
        e = math.exp(z)
        return e / (1 + e)
    if code == EXP or code == SOFTMAX:
        return math.exp(z)
    return z


def derivative_from_output(a, code):
    """Return ``f'(z)`` written in terms of the activation's output ``a = f(z)``.

    logistic: a (1 - a); tanh: 1 - a^2; relu: 1 if a > 0 else 0; identity: 1.
    """
    if code == RELU:
        return a * 0 + 1 if a > 0 else a * 0
    if code == TANH:
        return 1 - a * a
    if code == LOGISTIC:
        return a * (1 - a)
    return a * 0 + 1


activate = kernel(activate_scalar, inline="always")
derivative = kernel(derivative_from_output, inline="always")
