"""W12: serving latency of ``predict_proba`` on 1, 8 and 32 rows, fastmlp only.

Two models, each fitted briefly by fastmlp on 1,000 synthetic rows of the
benchmark's dtype: the W3 network (784-256-128-10, 2 epochs) and a tabular
classifier (20-64-32-3, 5 epochs). ``compare.py --only W12`` times the same
calls next to onnxruntime (fastmlp's ONNX export), scikit-learn and PyTorch
holding the same weights.

asv times a single call per sample when a class has ``setup``, so calls are
batched (``number``); the memoised setup keeps the fitted model and re-runs
only the cheap warm-up.
"""
from . import _workloads as wl


class PredictProbaLatency:
    params = (list(wl.W12_MODELS), list(wl.W12_ROWS), wl.DTYPES)
    param_names = ["model", "rows", "dtype"]
    timeout = 180

    def setup(self, model, rows, dtype):
        est, X, _ = wl.memo(("W12", model, dtype), lambda: wl.w12_model(model, dtype, 1000))
        self.X = X[:rows].copy()
        self.proba = est.predict_proba
        for _ in range(20):  # compile / load the kernels, warm the caches
            self.proba(self.X)

    def time_predict_proba(self, model, rows, dtype):
        self.proba(self.X)

    time_predict_proba.number = 200
