"""W10: the activations beyond scikit-learn's (ELU, leaky ReLU, GELU, softplus,
SiLU, He-normal init), fastmlp against the same PyTorch CPU loop.

Batch size 1: W1's 1-32-1 regressor (sgd, one epoch of y = 3 sin(20 x));
batch 200: W2's 784-128-10 classifier (adam, one epoch). Targets: >= 5x
PyTorch's samples/s at batch 1, >= 1x at batch 200 (compare through
``track_samples_per_second``; PyTorch trains fewer rows at batch 1).
"""
from . import _workloads as wl

ACTIVATIONS = ["elu", "leaky_relu", "gelu", "softplus", "silu"]
ROWS_BATCH1 = {"fastmlp": 20_000, "torch": 500}
ROWS_BATCH200 = 2_000


class NewActivations:
    params = (["fastmlp", "torch"], ACTIVATIONS, [1, 200], wl.DTYPES)
    param_names = ["library", "activation", "batch_size", "dtype"]
    timeout = 300

    def setup(self, library, activation, batch_size, dtype):
        if library == "torch" and not wl.torch_available():
            raise NotImplementedError("torch is not installed")
        if batch_size == 1:
            X, y = wl.sin_data(ROWS_BATCH1[library], dtype)
            params = dict(wl.W1_PARAMS, activation=activation, init="he_normal")
            kind = "regressor"
        else:
            X, y, _, _, _ = wl.w2_data(dtype, None, ROWS_BATCH200, 10)
            params = dict(wl.W2_PARAMS, activation=activation, init="he_normal", max_iter=1)
            kind = "classifier"
        self.n = len(X)
        if library == "torch":
            if batch_size == 1:
                self.fit = lambda: wl.torch_fit_sgd_per_sample(X, y, activation=activation)
            else:
                self.fit = lambda: wl.torch_fit_minibatch(X, y, params["hidden_layer_sizes"],
                                                          200, 1, activation=activation)
        else:
            wl.warm_up("fastmlp", kind, params, X, y)
            self.fit = lambda: wl.quiet_fit(wl.make_estimator("fastmlp", kind, params), X, y)
        self.fit()  # warm-up: compilation / torch initialisation

    def time_epoch(self, library, activation, batch_size, dtype):
        self.fit()

    def track_samples_per_second(self, library, activation, batch_size, dtype):
        seconds, _ = wl.measure(self.fit, 3)
        return self.n / seconds

    track_samples_per_second.unit = "samples/s"
