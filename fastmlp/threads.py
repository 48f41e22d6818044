"""The thread budget: how many threads one fit or prediction may use.

A fit's data-parallel kernels (``kernels.pieces``) run on Numba's threading
layer. How many threads they get never changes a result (the pieces and their
order are fixed by the data and the network), so the budget is free to follow
the machine:

- ``n_jobs=None`` (the default): the cores free to this fit -- the usable
  cores (the process's CPU affinity) shared evenly among the fits running in
  this process at the same time (threaded ``GridSearchCV``, a Dask worker with
  several threads), re-read every epoch; capped by Numba's thread count
  (``NUMBA_NUM_THREADS``, which joblib's process workers set to their share of
  the cores) and by OpenMP's (``OMP_NUM_THREADS``, ``threadpoolctl``'s
  ``threadpool_limits``) when the OpenMP layer runs them;
- ``n_jobs=k > 0``: ``k`` threads; ``-1``: all of Numba's threads, ``-2`` all
  but one, and so on (scikit-learn's meaning), within Numba's thread count.

The process's BLAS settings stay untouched: the kernels' matrix products are
computed as before (``kernels.products``).

Numba's default ``workqueue`` layer aborts when two threads enter it at once,
and GNU OpenMP aborts in a child forked after its use. fastmlp therefore asks
Numba for a thread-safe layer (``tbb``, else ``omp``) unless the user chose
one, and runs the serial kernels -- the same results -- wherever no
thread-safe layer is loaded, and in a forked child of a process that used one.
"""

import ctypes
import numbers
import os
import threading

import numba

_lock = threading.Lock()
_running = 0
_layer = None  # the threading layer once known: "omp", "tbb", or "" (none usable)
_layer_pid = None
_omp_max_threads = None


def usable_cores():
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # (macOS, Windows)
        return os.cpu_count() or 1


def check_n_jobs(n_jobs):
    """``n_jobs`` as None or a nonzero int, or ValueError naming it."""
    if n_jobs is None:
        return None
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise ValueError(f"n_jobs must be None or a nonzero integer, got {n_jobs!r}.")
    return int(n_jobs)


def parallel_layer():
    """The thread-safe Numba threading layer the parallel kernels run on
    (``"omp"`` or ``"tbb"``), or ``""`` when none can run here; the first call
    starts it."""
    global _layer, _layer_pid, _omp_max_threads
    if _layer is not None:
        return "" if _layer_pid != os.getpid() else _layer
    with _lock:
        if _layer is None:
            from numba.np.ufunc import parallel
            if numba.config.THREADING_LAYER == "default" and not parallel._is_initialized:
                numba.config.THREADING_LAYER = "threadsafe"
            try:
                parallel._launch_threads()
                layer = numba.threading_layer()
            except (ValueError, ImportError, OSError):  # no tbb, no OpenMP runtime
                layer = ""
            if layer == "omp":
                _omp_max_threads = _openmp_max_threads()
            _layer_pid = os.getpid()
            _layer = layer if layer in ("omp", "tbb") else ""
    return parallel_layer()


def _openmp_max_threads():
    """``omp_get_max_threads`` of the OpenMP runtime Numba loaded, or None."""
    for name in ("libgomp.so.1", "libiomp5.so", "libomp.so", "libgomp.1.dylib", "libomp.dylib"):
        try:
            library = ctypes.CDLL(name, mode=getattr(os, "RTLD_NOLOAD", 0))  # if loaded
        except OSError:
            continue
        return library.omp_get_max_threads
    return None


def thread_cap():
    """Threads the process allows a fit by default (``n_jobs=None``): Numba's
    thread count, and OpenMP's limit on this thread when the OpenMP layer
    runs the kernels (``OMP_NUM_THREADS``, ``threadpool_limits``; the number
    of cores otherwise)."""
    cap = numba.config.NUMBA_NUM_THREADS
    if _omp_max_threads is not None:
        # Numba sets the runtime's count to its own when it starts the layer, so
        # the variable is read too; threadpool_limits sets the runtime's count
        cap = min(cap, max(1, _omp_max_threads()), _omp_num_threads() or cap)
    return cap


def _omp_num_threads():
    """``OMP_NUM_THREADS`` (its first level) as an int, or None when unset or
    not a positive number."""
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


class ThreadShare:
    """A fit's (or a prediction's) claim on the cores, held while it runs.

    Parameters
    ----------
    n_jobs : int or None
        The estimator's ``n_jobs`` (see the module docstring).
    """

    def __init__(self, n_jobs=None):
        self.n_jobs = check_n_jobs(n_jobs)

    def __enter__(self):
        global _running
        with _lock:
            _running += 1
        return self

    def __exit__(self, *exc):
        global _running
        with _lock:
            _running -= 1

    def threads(self):
        """Threads for the next kernel call (1: run the serial kernels). Sets
        Numba's thread count of the calling thread (a per-thread setting) when
        more than one."""
        if self.n_jobs == 1 or numba.config.NUMBA_NUM_THREADS == 1:
            return 1
        if not parallel_layer():
            return 1
        if self.n_jobs is None:
            count = min(thread_cap(), max(1, usable_cores() // max(1, _running)))
        else:  # what was asked for, within Numba's thread count
            most = numba.config.NUMBA_NUM_THREADS
            count = max(1, min(most, self.n_jobs if self.n_jobs > 0 else most + 1 + self.n_jobs))
        if count > 1:
            numba.set_num_threads(count)
        return count
