"""Setup of the CUDA tests: where they run, the small tile, the CPU/CUDA summary.

The CUDA tests need an NVIDIA GPU or Numba's CUDA simulator, which must be
switched on before numba is imported, so they run as their own pytest call::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda

Without either, every test here is skipped except those marked ``without_gpu``
(which check what a user without a GPU sees). Under the simulator each CUDA
thread is a Python thread; the tests use tiny data and a 4 x 4 tile so that
shapes still span several thread blocks and the run stays short.
"""

import os
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

SIMULATOR = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")
TEST_TILE = 4
HERE = Path(__file__).parent

# Largest |CPU - CUDA| seen by the fit tests, per (quantity, dtype): printed at the end.
MAX_DIFFS = {}


def gpu_or_simulator():
    """Whether numba.cuda can run kernels here (a GPU, or the simulator)."""
    try:
        from numba import cuda

        return bool(cuda.is_available())
    except Exception:
        return False


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "without_gpu: runs even where neither a GPU nor the CUDA simulator is present")
    # Under the simulator the dropout hash runs on NumPy int64 scalars, whose
    # multiplication wraps (as the compiled kernels' does) but warns.
    config.addinivalue_line(
        "filterwarnings", "ignore:overflow encountered in scalar multiply:RuntimeWarning")


def pytest_collection_modifyitems(config, items):
    if gpu_or_simulator():
        return
    skip = pytest.mark.skip(
        reason="no NVIDIA GPU and the CUDA simulator is off: run "
               "'NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda'")
    for item in items:
        if HERE in Path(str(item.fspath)).parents and "without_gpu" not in item.keywords:
            item.add_marker(skip)


def thread_safe_shared_arrays():
    """Make the simulator's ``cuda.shared.array`` allocation thread-safe.

    The simulator creates a block's shared array when the first of its threads
    reaches the line, with an unlocked look-up-then-store: two threads that
    interleave there get two different arrays, and a reduction or a tiled
    product then silently sums the wrong values (seen on a loaded machine).
    This does the same allocation under a lock, keyed as the simulator keys it
    (file and line of the caller).
    """
    from numba.core import types
    from numba.cuda.simulator import kernelapi
    from numba.np import numpy_support

    original = kernelapi.FakeCUDAShared.array
    lock = threading.Lock()

    def array(self, shape, dtype):
        if shape == 0:  # dynamic shared memory: one buffer, no allocation
            return original(self, shape, dtype)
        if isinstance(dtype, types.Type):
            dtype = numpy_support.as_dtype(dtype)
        caller = sys._getframe(1)
        key = (caller.f_code.co_filename, caller.f_lineno)
        with lock:
            res = self._allocations.get(key)
            if res is None:
                res = self._allocations[key] = np.empty(shape, dtype)
        return res

    kernelapi.FakeCUDAShared.array = array


def thread_safe_module_swap():
    """Make the simulator's swap of the ``cuda`` global around device-function
    calls safe against a globals dict that grows meanwhile.

    Raising a warning adds ``__warningregistry__`` to the calling function's
    globals; when that happens in one simulated thread while another iterates
    the same globals to swap ``cuda``, the simulator fails with "dictionary
    changed size during iteration". This takes a snapshot of the items first.
    """
    from contextlib import contextmanager

    from numba import cuda
    from numba.cuda.simulator import kernel

    @contextmanager
    def swapped_cuda_module(fn, fake_cuda_module):
        fn_globs = fn.__globals__
        orig = {k: v for k, v in list(fn_globs.items()) if v is cuda}
        fn_globs.update({k: fake_cuda_module for k in orig})
        try:
            yield
        finally:
            fn_globs.update(orig)

    kernel.swapped_cuda_module = swapped_cuda_module


if SIMULATOR:
    thread_safe_shared_arrays()
    thread_safe_module_swap()


@pytest.fixture(scope="session", autouse=True)
def small_tile():
    """Shrink the tile (and, under the simulator, the interpreter's thread switch
    interval, which its busy-polling scheduler is very sensitive to)."""
    from fastmlp import config

    previous_tile, config.CUDA_TILE = config.CUDA_TILE, TEST_TILE
    previous_switch = sys.getswitchinterval()
    if SIMULATOR:
        sys.setswitchinterval(1e-4)
    yield TEST_TILE
    sys.setswitchinterval(previous_switch)
    config.CUDA_TILE = previous_tile


@pytest.fixture
def record_diff():
    """``record(quantity, dtype, value)``: keep the largest CPU/CUDA difference seen."""

    def record(quantity, dtype, value):
        key = (quantity, np.dtype(dtype).name)
        MAX_DIFFS[key] = max(MAX_DIFFS.get(key, 0.0), float(value))

    return record


def pytest_sessionfinish(session):
    """Under pytest-xdist, a worker hands its largest differences to the controller."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["cuda_max_diffs"] = [[*key, value] for key, value in MAX_DIFFS.items()]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """(pytest-xdist, in the controller) merge a finished worker's differences."""
    for quantity, dtype, value in getattr(node, "workeroutput", {}).get("cuda_max_diffs", []):
        key = (quantity, dtype)
        MAX_DIFFS[key] = max(MAX_DIFFS.get(key, 0.0), value)


def pytest_terminal_summary(terminalreporter):
    if not MAX_DIFFS:
        return
    terminalreporter.write_sep("-", "max |CPU - CUDA| over the fit tests")
    for (quantity, dtype), value in sorted(MAX_DIFFS.items()):
        terminalreporter.write_line(f"{quantity:<24} {dtype:<8} {value:.3e}")
