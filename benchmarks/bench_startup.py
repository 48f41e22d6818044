"""W5: start-up cost -- a fresh interpreter imports the library and fits
``MLPClassifier(max_iter=20)`` on load_digits (warnings silenced).

* ``StartupWarm.timeraw_import_and_fit``: Numba cache populated first (setup);
  fastmlp should stay within 1.5x of scikit-learn.
* ``Startup.track_cold_start_seconds``: fastmlp with NUMBA_CACHE_DIR pointing
  at a fresh empty directory, whole subprocess wall time (target <= 15 s).
* ``Startup.track_warm_ratio_vs_sklearn``: fastmlp / scikit-learn wall time of
  the whole subprocess, warm cache, best of 3 each (interleaved).
"""
import os
import tempfile

from . import _workloads as wl

# Persistent on purpose: it is the "warm" cache (Numba revalidates it
# against the sources, and setup re-populates it).
WARM_CACHE = os.path.join(tempfile.gettempdir(), "fastmlp-asv-numba-cache")


class StartupWarm:
    params = (["fastmlp", "sklearn"], wl.DTYPES)
    param_names = ["library", "dtype"]
    timeout = 300
    repeat = (1, 3, 30.0)

    def setup(self, library, dtype):
        wl.memo(("W5", library, dtype),  # once per process, not per sample
                lambda: wl.run_python(wl.startup_script(library, dtype), WARM_CACHE))

    def timeraw_import_and_fit(self, library, dtype):
        setup = (f"import os, sys; os.environ['NUMBA_CACHE_DIR'] = {WARM_CACHE!r}; "
                 f"sys.path.append({wl.REPO_ROOT!r})")
        return wl.startup_script(library, dtype, report=False), setup


class Startup:
    params = (wl.DTYPES,)
    param_names = ["dtype"]
    timeout = 300

    def track_cold_start_seconds(self, dtype):
        with tempfile.TemporaryDirectory(prefix="fastmlp-asv-cold-") as cache:
            seconds, _ = wl.run_python(wl.startup_script("fastmlp", dtype), cache)
        return seconds

    track_cold_start_seconds.unit = "seconds"

    def track_warm_ratio_vs_sklearn(self, dtype):
        runs = {lib: (lambda lib=lib: wl.run_python(wl.startup_script(lib, dtype), WARM_CACHE))
                for lib in ("fastmlp", "sklearn")}
        wl.race(runs, 1)  # populate
        res = wl.race(runs, 3)
        for r in res.values():
            if isinstance(r, BaseException):
                raise r
        return res["fastmlp"][0] / res["sklearn"][0]

    track_warm_ratio_vs_sklearn.unit = "ratio"
