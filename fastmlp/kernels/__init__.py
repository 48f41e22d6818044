"""Numba kernels: pure functions of arrays and integer codes, no Python objects.

Every kernel is compiled by ``kernel`` below: cached on disk, compiled lazily on
first call (nothing at import), GIL released, and with NumPy's error model --
a division by zero gives inf/nan as in NumPy instead of raising, which keeps the
check out of hot loops and lets them vectorise. Non-finite results are caught
where scikit-learn catches them: the loss of each batch.
"""

from numba import njit


def kernel(function=None, *, inline="never"):
    """``numba.njit`` with fastmlp's settings; usable bare or with ``inline=``."""
    decorator = njit(cache=True, nogil=True, error_model="numpy", inline=inline)
    return decorator if function is None else decorator(function)
