"""W2 (MNIST-sized) and W3 (large) mini-batch Adam fits.

W2: 784-128-10, batch 200 (real MNIST t10k images when the environment
variable FASTMLP_MNIST_DIR points at the IDX .gz files, otherwise a synthetic
stand-in of the same shape).  W3: 784-256-128-10, batch 256, 2 epochs.
Sizes are reduced from compare.py's (see the class attributes) so that
``asv run --quick`` stays short; compilation happens in ``setup``.  PyTorch
is left to compare.py here (it is slow on small CPUs and not a target).
"""
from . import _workloads as wl

LIBRARIES = ["fastmlp", "sklearn"]


class _AdamFit:
    params = (LIBRARIES, wl.DTYPES)
    param_names = ["library", "dtype"]
    timeout = 300
    warmup_time = 0.0      # fits take seconds; setup already compiled
    repeat = (1, 3, 30.0)
    number = 1
    fit_params = None

    def load(self, dtype):  # -> X_train, y_train, X_val, y_val
        raise NotImplementedError

    def _prepare(self, library, dtype):
        data = self.load(dtype)
        wl.warm_up(library, "classifier", self.fit_params, data[0], data[1])
        return data

    def setup(self, library, dtype):
        key = (type(self).__name__, library, dtype)
        self.Xtr, self.ytr, self.Xva, self.yva = wl.memo(key, lambda: self._prepare(library, dtype))
        p = self.fit_params
        self.fit = lambda: wl.quiet_fit(
            wl.make_estimator(library, "classifier", p), self.Xtr, self.ytr)

    def time_fit(self, library, dtype):
        self.fit()

    def track_val_accuracy(self, library, dtype):
        return wl.accuracy(self.yva, self.fit().predict(self.Xva))

    track_val_accuracy.unit = "accuracy"


class MNISTAdam(_AdamFit):
    """W2, reduced: 3,000 train / 1,000 validation rows, 5 epochs."""
    fit_params = dict(wl.W2_PARAMS, max_iter=5)

    def load(self, dtype):
        return wl.w2_data(dtype, wl.mnist_dir_from_env(), 3000, 1000)[:4]


class LargeAdam(_AdamFit):
    """W3, reduced: 6,000 x 784 rows, 2 epochs; also achieved GFLOP/s."""
    fit_params = wl.W3_PARAMS
    n_rows = 6_000

    def load(self, dtype):
        return wl.w3_data(self.n_rows, 1000, dtype)

    def track_gflops(self, library, dtype):
        """2*rows*(784*256+256*128+128*10) flops x3 (fwd+bwd) per epoch / fit time."""
        seconds, model = wl.measure(self.fit, 1)
        epochs = getattr(model, "n_iter_", self.fit_params["max_iter"])
        return wl.mlp_flops(self.n_rows, 784, self.fit_params["hidden_layer_sizes"], 10,
                            epochs) / seconds / 1e9

    track_gflops.unit = "GFLOP/s"


def track_gemm_gflops(dtype):
    """This machine's GEMM rate (np.dot 2048x2048, best of 5): W3's yardstick
    (fastmlp's LargeAdam.track_gflops should reach >= 70% of it)."""
    return wl.gemm_gflops(dtype, 2048, 5)


track_gemm_gflops.params = (wl.DTYPES,)
track_gemm_gflops.param_names = ["dtype"]
track_gemm_gflops.unit = "GFLOP/s"
