"""W1: per-sample SGD (batch_size=1) regression, 1-32-1 ReLU, y = 3 sin(20 x).

``MLPRegressor(hidden_layer_sizes=(32,), solver='sgd', batch_size=1,
learning_rate_init=0.01, momentum=0, max_iter=1)`` -- one shuffled epoch.
"limit" is the hand-fused Numba loop in ``_limit.py`` doing the same
arithmetic; fastmlp should be within 2x of it, >=300x scikit-learn and
>=1000x a PyTorch batch-1 loop (compare through ``track_samples_per_second``:
scikit-learn and PyTorch are timed on fewer rows, see ``N_ROWS``).
"""
from . import _limit
from . import _workloads as wl

N_ROWS = {"fastmlp": 20_000, "limit": 20_000, "sklearn": 1_000, "torch": 200}


def _prepare(library, dtype):
    """Data plus a warm-up run (compilation, imports, torch initialisation)."""
    X, y = wl.sin_data(N_ROWS[library], dtype)
    if library == "limit":
        _limit.fit(X[:64], y[:64])
    else:
        wl.warm_up(library, "regressor", wl.W1_PARAMS, X, y)
    return X, y


class PerSampleSGD:
    params = (["fastmlp", "limit", "sklearn", "torch"], wl.DTYPES)
    param_names = ["library", "dtype"]
    timeout = 180

    def setup(self, library, dtype):
        if library == "torch" and not wl.torch_available():
            raise NotImplementedError("torch is not installed")
        self.X, self.y = X, y = wl.memo(("W1", library, dtype), lambda: _prepare(library, dtype))
        if library == "limit":
            self.fit = lambda: _limit.fit(X, y)
        elif library == "torch":
            self.fit = lambda: wl.torch_fit_sgd_per_sample(X, y)
        else:
            self.fit = lambda: wl.quiet_fit(
                wl.make_estimator(library, "regressor", wl.W1_PARAMS), X, y)

    def time_epoch(self, library, dtype):
        """One epoch over N_ROWS[library] rows (differs per library)."""
        self.fit()

    def track_samples_per_second(self, library, dtype):
        repeat = 5 if library in ("fastmlp", "limit") else 1
        seconds, _ = wl.measure(self.fit, repeat)
        return len(self.X) / seconds

    track_samples_per_second.unit = "samples/s"
