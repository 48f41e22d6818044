"""Scalar activation functions and their derivatives, selected by integer code.

The functions are written once as plain Python (``kernel(inline="always")``) and
compiled into both the CPU and the CUDA kernels. Kernels receive the integer
codes below, never Python callables (callables defeat Numba's on-disk cache).

To add an activation: give it a code here, a branch in ``activate`` and in
``derivative``, a name in ``ACTIVATION_CODES``, and a twin in
``tests/reference.py``; every CPU and CUDA kernel picks it up from these.
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


@kernel(inline="always")
def activate(z, code):
    """Return ``f(z)`` for the elementwise activation ``code``.

    SOFTMAX is not elementwise (see ``softmax_row``); here it returns ``exp(z)``.
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


@kernel(inline="always")
def derivative(a, code):
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

