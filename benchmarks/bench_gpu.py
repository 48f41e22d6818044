"""GPU: W2 and W3 fits with ``device='cuda'`` (fastmlp only).

Skipped (``setup`` raises NotImplementedError, asv's skip) unless
``numba.cuda.is_available()``.  Full compare.py sizes: the GPU is fast.
"""
from . import _workloads as wl


class CudaFit:
    params = (["W2", "W3"], wl.DTYPES)
    param_names = ["workload", "dtype"]
    timeout = 600
    warmup_time = 0.0
    repeat = (1, 3, 30.0)
    number = 1

    def setup(self, workload, dtype):
        if not wl.cuda_available():
            raise NotImplementedError("no usable GPU: numba.cuda.is_available() is False "
                                      "(or NUMBA_ENABLE_CUDASIM=1)")
        self.params_ = wl.W2_PARAMS if workload == "W2" else wl.W3_PARAMS
        self.Xtr, self.ytr, self.Xva, self.yva = wl.memo(
            ("GPU", workload, dtype), lambda: self._prepare(workload, dtype))

    def _prepare(self, workload, dtype):
        if workload == "W2":
            data = wl.w2_data(dtype, wl.mnist_dir_from_env())[:4]
        else:
            data = wl.w3_data(60_000, 5_000, dtype)
        wl.warm_up("fastmlp", "classifier", self.params_, data[0], data[1], device="cuda")
        return data

    def _fit(self):
        est = wl.make_estimator("fastmlp", "classifier", self.params_, device="cuda")
        return wl.quiet_fit(est, self.Xtr, self.ytr)

    def time_fit_cuda(self, workload, dtype):
        self._fit()

    def track_val_accuracy_cuda(self, workload, dtype):
        return wl.accuracy(self.yva, self._fit().predict(self.Xva))

    track_val_accuracy_cuda.unit = "accuracy"
