"""One log line when fastmlp's kernels take long to compile.

Numba compiles a kernel the first time it runs with new argument types and keeps
the result in its on-disk cache, so only the first fit on a machine (or after an
upgrade) compiles; that takes 10-20 seconds. Once the kernels of a process have
been compiling for more than ``DELAY`` seconds in all, one WARNING goes to the
logger ``"fastmlp"``::

    fastmlp: compiling kernels for first use (once; cached on disk afterwards) ...

Without logging configured, Python's last-resort handler prints it on stderr.
``logging.getLogger("fastmlp").setLevel(logging.ERROR)`` silences it.

It says nothing when kernels load from the cache: Numba fires its
``"numba:compile"`` event only on a cache miss, and that event is what starts the
clock (a timer thread, cancelled when the outermost compilation ends). The line
is logged at most once per process, from whichever thread is compiling. Nothing
runs on calls to compiled kernels. ``compile_kernels`` switches it off: compiling
is what it was asked to do.

Logging rather than ``warnings``: it is progress information, not advice to
change the calling code; warnings filters turned into errors (``-W error``,
pytest's ``filterwarnings = error``) would make it an exception, and warnings
filters are process-wide state that threads race on.
"""

import logging
import threading
import time

from numba.core import event

DELAY = 2.0  # seconds of compilation before the line is logged
MESSAGE = ("fastmlp: compiling kernels for first use (once; cached on disk afterwards) "
           "... `python -m fastmlp compile` does it ahead of time")

logger = logging.getLogger("fastmlp")


def _is_fastmlp_kernel(ev):
    """Whether a "numba:compile" event compiles one of fastmlp's kernels."""
    data = ev.data if isinstance(ev.data, dict) else {}
    py_func = getattr(data.get("dispatcher"), "py_func", None)
    return getattr(py_func, "__module__", "").startswith("fastmlp.")


class CompileNotice(event.Listener):
    """Listener of "numba:compile" that logs ``MESSAGE`` once.

    Nested compilations (a kernel compiling the kernels it calls) count once:
    the clock runs while at least one of fastmlp's kernels is compiling, and
    adds up over the process's compilations until the line is logged.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._depth = 0  # fastmlp compilations in progress (nested ones included)
        self._spent = 0.0  # seconds of finished outermost compilations
        self._since = 0.0  # start of the outermost compilation in progress
        self._timer = None
        self.done = False  # logged, or switched off: never again

    def on_start(self, ev):
        if self.done or not _is_fastmlp_kernel(ev):
            return
        with self._lock:
            self._depth += 1
            if self._depth == 1 and not self.done:
                self._since = time.perf_counter()
                self._timer = threading.Timer(max(DELAY - self._spent, 0.0), self._fire)
                self._timer.daemon = True
                self._timer.start()

    def on_end(self, ev):
        if self.done or not _is_fastmlp_kernel(ev):
            return
        with self._lock:
            if self._depth == 0:  # began before the listener was registered
                return
            self._depth -= 1
            if self._depth == 0:
                self._spent += time.perf_counter() - self._since
                self._stop_timer()

    def switch_off(self):
        """Never log (the caller is compiling on purpose)."""
        with self._lock:
            self.done = True
            self._stop_timer()

    def _stop_timer(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self):
        with self._lock:
            if self.done or self._depth == 0:
                return
            self.done = True
            self._timer = None
        logger.warning(MESSAGE)


NOTICE = CompileNotice()
_installed = False
_install_lock = threading.Lock()


def install():
    """Register ``NOTICE`` for Numba's "numba:compile" events (idempotent)."""
    global _installed
    with _install_lock:
        if not _installed:
            event.register("numba:compile", NOTICE)
            _installed = True
