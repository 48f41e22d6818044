"""W8: ``GridSearchCV`` of ``MLPClassifier((64,), max_iter=100)`` over four alphas
(cv=3) on load_digits, in two threads of joblib's threading backend against the
same search one fit after another. Target: the threaded search faster than the
sequential one, with the same ``cv_results_`` scores.

``track_speedup`` is sequential time / threaded time (best of 3 each,
interleaved); ``track_thread_scaling`` is the same ratio for a pure-compute
loop, the control: about 2 with a free second core, 1 on a saturated machine.
"""
from . import _workloads as wl


class ThreadedSearch:
    params = (wl.DTYPES,)
    param_names = ["dtype"]
    timeout = 600
    repeat = (1, 3, 60.0)

    def setup(self, dtype):
        wl.memo(("W8 warm", dtype), lambda: wl.w8_search(dtype, 2))

    def time_sequential(self, dtype):
        wl.w8_search(dtype)

    def time_threading_n_jobs_2(self, dtype):
        wl.w8_search(dtype, n_jobs=2)

    def track_speedup(self, dtype):
        seq, thr = [], []
        for _ in range(3):
            t, scores_seq = wl.w8_search(dtype)
            seq.append(t)
            t, scores_thr = wl.w8_search(dtype, n_jobs=2)
            thr.append(t)
            if (scores_seq != scores_thr).any():
                raise AssertionError("threaded search scores differ from sequential ones")
        return min(seq) / min(thr)

    track_speedup.unit = "ratio"

    def track_thread_scaling(self, dtype):
        return max(wl.thread_scaling() for _ in range(3))

    track_thread_scaling.unit = "ratio"
