"""BLAS thread count around compiled calls.

The mini-batch kernels call BLAS (through Numba's ``np.dot``) once per layer and
batch. Below a few million multiply-adds per call, waking a second BLAS thread
costs more than it saves, and on a busy machine (or inside ``GridSearchCV``
workers) spinning BLAS threads slow small products by an order of magnitude.
So small problems run with one BLAS thread, large ones with the library's own
setting.
"""

import threading
from contextlib import contextmanager

from .. import config

_lock = threading.Lock()
_libraries = None
_users = 0
_saved = []


def _blas_libraries():
    global _libraries
    if _libraries is None:
        import scipy.linalg.cython_blas  # noqa: F401  (the BLAS Numba's np.dot calls)
        from threadpoolctl import ThreadpoolController

        _libraries = ThreadpoolController().select(user_api="blas").lib_controllers
    return _libraries


def largest_product(units, rows):
    """Multiply-adds of the largest per-layer matrix product for ``rows`` rows."""
    return rows * max(int(a) * int(b) for a, b in zip(units[:-1], units[1:]))


@contextmanager
def blas_threads_for(macs):
    """Run the block with one BLAS thread when the largest product has at most
    ``config.SINGLE_THREAD_MACS`` multiply-adds; otherwise leave BLAS as configured.
    Nested and concurrent uses are counted, and the first setting is restored
    when the last one leaves."""
    global _users, _saved
    if macs > config.SINGLE_THREAD_MACS:
        yield
        return
    with _lock:
        if _users == 0:
            libraries = _blas_libraries()
            _saved = [lib.get_num_threads() for lib in libraries]
            for lib in libraries:
                lib.set_num_threads(1)
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                for lib, n in zip(_blas_libraries(), _saved):
                    lib.set_num_threads(n)
