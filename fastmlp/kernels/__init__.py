"""Numba kernels: pure functions of arrays, integer codes and the named tuples of
``bundles.py``; no Python objects.

Every kernel is compiled by ``kernel`` below: cached on disk, compiled lazily on
first call (nothing at import), GIL released, and with NumPy's error model --
a division by zero gives inf/nan as in NumPy instead of raising, which keeps the
check out of hot loops and lets them vectorise. Non-finite results are caught
where scikit-learn catches them: the loss of each batch.

Math shared by the CPU and CUDA kernels (activations, losses, optimizer steps)
is written once, as ``kernel(inline="always")`` functions: inlined into the
CPU kernels that call them, and compiled as device functions for the CUDA
kernels (``cuda_layers._device``, which under the CUDA simulator runs them as
plain Python). Hot loops pass them scalars only: an inlined helper that takes
arrays still pays reference counting on every call (it made the per-sample
path 10x slower).

Module map: ``inputs`` (dense / CSR row access), ``products`` (matrix
products on the calling thread), ``layers`` (a block of rows through the
network, forward and backward), ``rows`` (the per-sample path),
``training`` (an epoch; the L-BFGS objective), ``prediction``, ``optimizers``,
``losses``, ``activations``, ``bundles``; ``cuda_layers`` holds the GPU kernels
and the per-layer loops that launch them.
"""

from numba import njit


def kernel(function=None, *, inline="never"):
    """``numba.njit`` with fastmlp's settings; usable bare or with ``inline=``."""
    decorator = njit(cache=True, nogil=True, error_model="numpy", inline=inline)
    return decorator if function is None else decorator(function)

