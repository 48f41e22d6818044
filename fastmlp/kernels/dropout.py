"""Inverted dropout with counter-based random numbers: no stored mask, the same
mask on every path and device.

Whether hidden unit ``u`` of data row ``r`` is kept in epoch ``e`` is a pure
function of (seed, e, r, u): the 32-bit hash

    bits = h(((lo + u G) mod 2^32) xor hi),   (lo, hi) = (h(k_lo xor h(r)), h(k_hi xor h(r')))

with ``h`` Wellons' lowbias32 (a bijection of 32-bit integers with low bias),
``G`` the golden-ratio constant, (k_lo, k_hi) the epoch's keys from the seed
and ``u`` the unit's intercept index in the flat parameter vector (unique in
the network). The unit is kept when ``bits < floor((1 - p) 2^32)`` and then
scaled by ``1 / (1 - p)`` (PyTorch's ``nn.Dropout``):

    forward   a = f(z) * m / (1 - p),   m = [bits < threshold]
    backward  delta_prev = (delta @ W.T) * f'(v) * m / (1 - p)

where ``v`` (the undropped output, or z where f' needs it) is kept in the
layer's slot of the deltas while training, and ``m`` is hashed again rather
than stored. The integer arithmetic is int64 masked to 32 bits, the same on
the CPU and in CUDA kernels (``cuda_layers`` compiles these functions as
device functions), and independent of threads, batch size and path: the
per-sample path, the mini-batch path and the GPU drop the same units.

Cost: the hash is two multiplications and three shifts per unit and pass;
masked to 32 bits, LLVM keeps the loops in 32-bit lanes (see the module's
benchmarks in ``benchmarks/``).
"""

import numpy as np

from . import kernel
from .bundles import NO_DROPOUT, Dropout

MASK32 = 0xFFFFFFFF
GOLDEN = 0x9E3779B9  # 2^32 / golden ratio: spreads consecutive units over the hash


@kernel(inline="always")
def hash32(x):
    """Wellons' lowbias32 of the low 32 bits of ``x`` (an int64 in [0, 2^32))."""
    x = x & MASK32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & MASK32
    x ^= x >> 15
    x = (x * 0x846CA68B) & MASK32
    x ^= x >> 16
    return x


@kernel(inline="always")
def row_keys(key_lo, key_hi, row):
    """The two 32-bit keys of data row ``row`` in the epoch of (key_lo, key_hi)."""
    low = row & MASK32
    high = (row >> 32) & MASK32
    return (hash32(key_lo ^ hash32(low ^ hash32(high))),
            hash32(key_hi ^ hash32(low ^ hash32(high ^ GOLDEN))))


@kernel(inline="always")
def unit_kept(lo, hi, unit, threshold):
    """Whether ``unit`` of the row with keys (lo, hi) is kept."""
    return hash32(((lo + unit * GOLDEN) & MASK32) ^ hi) < threshold


def epoch_dropout(rates, seed, epoch):
    """The ``Dropout`` of epoch ``epoch`` (from 0) for per-hidden-layer ``rates``
    (drop probabilities in [0, 1)) and an integer ``seed``; ``no_dropout()``
    when every rate is 0."""
    rates = np.asarray(rates, dtype=np.float64)
    if not rates.any():
        return no_dropout()
    keep = 1.0 - rates
    h = hash32.py_func
    seed, epoch = int(seed) & MASK32, int(epoch)
    e = h(epoch & MASK32 ^ h(epoch >> 32))
    return Dropout(threshold=np.floor(keep * 2.0**32).astype(np.int64), scale=1.0 / keep,
                   key_lo=h(seed ^ e), key_hi=h(seed ^ h(e ^ GOLDEN)))


def no_dropout():
    """A ``Dropout`` that drops nothing (``bundles.NO_DROPOUT``)."""
    return NO_DROPOUT


@kernel(inline="always")
def no_dropout_kernel():
    """``no_dropout()`` inside a kernel."""
    return Dropout(np.empty(0, dtype=np.int64), np.empty(0), 0, 0)


@kernel(inline="always")
def dropping(dropout):
    """Whether ``dropout`` drops anything."""
    return dropout.threshold.shape[0] > 0
