"""W11: the training toolbox -- dropout and solver='adamw' -- against the same
fastmlp fit without it.

Mini-batch: W2's 784-128-10 classifier, adam, batch 200, reduced as in
``bench_minibatch.MNISTAdam`` (3,000 rows, 5 epochs; real MNIST t10k images
when FASTMLP_MNIST_DIR points at the IDX .gz files), with no dropout, with
dropout 0.2 on the hidden layer, or with solver='adamw' (alpha 0.01).
Per-sample: W1's 1-32-1 regressor (sgd, batch_size=1, one epoch of 20,000
rows), with and without dropout 0.2. compare.py's W11 targets: a dropout fit
within 1.3x of the plain one at batch 200, 1.5x at batch size 1. Every fit
runs all its epochs; compilation happens in ``setup``. PyTorch's nn.Dropout
and optim.AdamW are left to compare.py.
"""
from . import _workloads as wl

MINIBATCH = {
    "none": dict(wl.W2_PARAMS, max_iter=5, n_iter_no_change=5),
    "dropout": dict(wl.W2_PARAMS, max_iter=5, n_iter_no_change=5, dropout=wl.W11_DROPOUT),
    "adamw": dict(wl.W2_PARAMS, max_iter=5, n_iter_no_change=5, solver="adamw",
                  alpha=wl.W11_ADAMW_ALPHA),
}
PER_SAMPLE = {
    "none": wl.W1_PARAMS,
    "dropout": dict(wl.W1_PARAMS, dropout=wl.W11_DROPOUT),
}
PER_SAMPLE_ROWS = 20_000


def _prepare(kind, params, load):
    """Data plus a warm-up fit (compilation / cache load of this variant's kernels)."""
    X, y = load()
    wl.warm_up("fastmlp", kind, params, X, y)
    return X, y


class MiniBatchToolbox:
    """W2, reduced: 3,000 rows, 5 epochs, without dropout / with dropout 0.2 /
    solver='adamw'."""
    params = (list(MINIBATCH), wl.DTYPES)
    param_names = ["variant", "dtype"]
    timeout = 300
    warmup_time = 0.0      # fits take tenths of a second; setup already compiled
    repeat = (1, 3, 30.0)
    number = 1

    def setup(self, variant, dtype):
        params = MINIBATCH[variant]
        X, y = wl.memo(("W11 minibatch", variant, dtype), lambda: _prepare(
            "classifier", params,
            lambda: wl.w2_data(dtype, wl.mnist_dir_from_env(), 3000, 10)[:2]))
        self.fit = lambda: wl.quiet_fit(wl.make_estimator("fastmlp", "classifier", params),
                                        X, y)

    def time_fit(self, variant, dtype):
        self.fit()


class PerSampleToolbox:
    """W1 at batch size 1: one epoch of 20,000 rows, without / with dropout 0.2."""
    params = (list(PER_SAMPLE), wl.DTYPES)
    param_names = ["variant", "dtype"]
    timeout = 180

    def setup(self, variant, dtype):
        params = PER_SAMPLE[variant]
        X, y = wl.memo(("W11 per-sample", variant, dtype), lambda: _prepare(
            "regressor", params, lambda: wl.sin_data(PER_SAMPLE_ROWS, dtype)))
        self.fit = lambda: wl.quiet_fit(wl.make_estimator("fastmlp", "regressor", params),
                                        X, y)

    def time_epoch(self, variant, dtype):
        self.fit()
