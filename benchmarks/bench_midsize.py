"""W7 and W13: mid-size tabular fits, the data most scikit-learn users have.

5,000 x 20-40 float64 rows (``make_classification`` with 10 classes, or
``make_regression``), hidden (100, 100) at batch 100 or (64,) at batch 200,
adam. Reduced to 10 epochs here (compare.py runs 50); compilation happens in
``setup``. "fastmlp n_jobs=1" is fastmlp's fit on one thread, next to its
default (every free core).
"""
from . import _workloads as wl

LIBRARIES = ["fastmlp", "fastmlp n_jobs=1", "sklearn"]


def library_and_params(library, params):
    """The estimator library and parameters of a ``LIBRARIES`` entry; asv skips
    the one-thread entry on versions without ``n_jobs``."""
    if library == "fastmlp n_jobs=1":
        if not wl.has_n_jobs():
            raise NotImplementedError("this fastmlp has no n_jobs")
        return "fastmlp", dict(params, n_jobs=1)
    return library, params


class MidSizeTabular:
    params = (LIBRARIES, list(wl.W7_VARIANTS), wl.DTYPES)
    param_names = ["library", "variant", "dtype"]
    timeout = 300
    warmup_time = 0.0
    repeat = (1, 3, 30.0)
    number = 1
    epochs = 10

    def setup(self, library, variant, dtype):
        kind, params = wl.w7_params(variant, self.epochs)
        library, params = library_and_params(library, params)
        key = ("W7", library, variant, dtype)
        data = wl.memo(key, lambda: wl.w7_data(variant, dtype=dtype))
        self.Xtr, self.ytr, self.Xva, self.yva = data
        wl.warm_up(library, kind, params, self.Xtr, self.ytr)
        self.kind = kind
        self.fit = lambda: wl.quiet_fit(wl.make_estimator(library, kind, params),
                                        self.Xtr, self.ytr)

    def time_fit(self, library, variant, dtype):
        self.fit()

    def track_val_score(self, library, variant, dtype):
        """Validation accuracy (classifiers) or R^2 (the regressor)."""
        return self.fit().score(self.Xva, self.yva)

    track_val_score.unit = "score"


class EverydayFit:
    """W13: one fit of 4,000 x 40 float64 rows, 10 classes, (100, 100), batch 100,
    adam at learning rate 0.01 with scikit-learn's stopping rule (seed 0;
    compare.py runs 6 seeds)."""

    params = (LIBRARIES,)
    param_names = ["library"]
    timeout = 300
    warmup_time = 0.0
    repeat = (1, 3, 30.0)
    number = 1

    def setup(self, library):
        self.Xtr, self.ytr, self.Xte, self.yte = wl.memo(("W13",), wl.w13_data)
        library, params = library_and_params(library, dict(wl.W13_PARAMS, random_state=0))
        wl.warm_up(library, "classifier", params, self.Xtr, self.ytr)
        self.fit = lambda: wl.quiet_fit(wl.make_estimator(library, "classifier", params),
                                        self.Xtr, self.ytr)

    def time_fit(self, library):
        self.fit()

    def track_test_score(self, library):
        """Test accuracy."""
        return self.fit().score(self.Xte, self.yte)

    track_test_score.unit = "accuracy"
