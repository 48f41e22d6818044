"""W6: peak memory while fitting W3 (784-256-128-10, adam, batch 256, 2 epochs),
reduced to N_ROWS rows.  Target: fastmlp <= scikit-learn.

* ``SubprocessPeakRSS.track_peak_rss_mb``: each library in a fresh
  subprocess (started from a tiny launcher so ru_maxrss is the child's own);
  ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` after the fit, in MB.  The
  fastmlp configuration is compiled into a Numba cache by an earlier
  subprocess, so LLVM's memory is not counted.
* ``InProcessPeakMem.peakmem_fit``: asv's own peak-memory measurement of the
  benchmark process (includes setup: data and the warm-up fit).
"""
import os
import tempfile

from . import _workloads as wl

N_ROWS = 6_000
CACHE = os.path.join(tempfile.gettempdir(), "fastmlp-asv-numba-cache")
LIBRARIES = ["fastmlp", "sklearn"]  # PyTorch: see compare.py (W6)


class SubprocessPeakRSS:
    params = (LIBRARIES, wl.DTYPES)
    param_names = ["library", "dtype"]
    timeout = 300

    def setup(self, library, dtype):
        if library == "fastmlp":
            wl.run_json(wl.memory_script(library, dtype, N_ROWS, warmup_only=True), CACHE)

    def track_peak_rss_mb(self, library, dtype):
        res = wl.run_json(wl.memory_script(library, dtype, N_ROWS), CACHE, clean_rss=True)
        return res["peak_rss_mb"]

    track_peak_rss_mb.unit = "MB"


class InProcessPeakMem:
    params = (LIBRARIES, wl.DTYPES)
    param_names = ["library", "dtype"]
    timeout = 300

    def setup(self, library, dtype):
        self.X, self.y = wl.prototype_classification(N_ROWS, dtype=dtype, seed=2)
        wl.warm_up(library, "classifier", wl.W3_PARAMS, self.X, self.y)

    def peakmem_fit(self, library, dtype):
        wl.quiet_fit(wl.make_estimator(library, "classifier", wl.W3_PARAMS), self.X, self.y)
