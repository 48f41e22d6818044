"""Inverted dropout with counter-based random numbers: no stored mask, the same
mask on every path and device.

Whether hidden unit ``u`` of data row ``r`` is kept in epoch ``e`` is a pure
function of (seed, e, r, u): the 32-bit hash

    bits = h(((lo + u G) mod 2^32) xor hi),
    lo = h(k_lo xor h(r_lo xor h(r_hi))),   hi = h(k_hi xor h(r_lo xor h(r_hi xor G)))

with ``h`` Wellons' lowbias32 (a bijection of 32-bit integers with low bias),
``G`` the golden-ratio constant, (k_lo, k_hi) the epoch's keys (``epoch_dropout``:
hashes of the seed and the epoch), r_lo and r_hi the low and high 32 bits of
the row index, and ``u`` the unit's intercept index in the flat parameter
vector (unique in the network). The unit is kept when ``bits < floor((1 - p) 2^32)`` and then
scaled by ``1 / (1 - p)`` (PyTorch's ``nn.Dropout``):

    forward   a = f(z) * m / (1 - p),   m = [bits < threshold]
    backward  delta_prev = (delta @ W.T) * f'(v) * m / (1 - p)

where ``v`` (the undropped output, or z where f' needs it) is kept in the
layer's slot of the deltas while training. The mini-batch kernels hash ``m``
again in the backward pass; the per-sample path keeps one row's factors in a
vector of the row's width. The integer arithmetic is int64 masked to 32 bits,
the same on the CPU and in CUDA kernels (``cuda_layers`` compiles these
functions as device functions), and independent of threads, batch size and
path: the per-sample path, the mini-batch path and the GPU drop the same units.

The kernels take the epoch's ``Dropout`` as an argument of its own, None when
nothing drops: Numba prunes the ``dropout is not None`` branches of a None
argument, so a fit without dropout compiles and runs none of this.

Cost: the hash is two 32-bit multiplications and three shifts per unit;
LLVM vectorises it (about 0.3 ns per unit and pass on a 2-core AMD EPYC), and
dropout 0.2 made the fits of ``benchmarks/compare.py --only W11`` 1.08-1.15x
slower on mini-batches and 1.38x at batch size 1.
"""

import numpy as np

from . import kernel
from .bundles import Dropout

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
    (drop probabilities in [0, 1)) and an integer ``seed``; None when every
    rate is 0."""
    rates = np.asarray(rates, dtype=np.float64)
    if not rates.any():
        return None
    keep = 1.0 - rates
    h = hash32.py_func
    seed, epoch = int(seed) & MASK32, int(epoch)
    e = h(epoch & MASK32 ^ h(epoch >> 32))
    return Dropout(threshold=np.floor(keep * 2.0**32).astype(np.int64), scale=1.0 / keep,
                   key_lo=h(seed ^ e), key_hi=h(seed ^ h(e ^ GOLDEN)))
