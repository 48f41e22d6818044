"""W4: prediction latency (predict_proba on one row) and throughput
(predict on 100,000 rows); classifier 20-64-3 fitted on 2,000 rows of
make_classification.  Targets: one row >=10x faster than scikit-learn,
100,000 rows >=1.5x.  The torch model holds scikit-learn's fitted weights.

asv times a single call per sample when a class has ``setup``, so the
one-row latency is also tracked timeit-style (best of many batched calls) by
``track_predict_proba_one_row_best``, the number compare.py reports.
"""
from . import _workloads as wl


def _prepare(library, dtype):
    X, y, X_big = wl.w4_data(dtype, 2000, 100_000)
    one = X[:1].copy()
    fit_lib = "sklearn" if library == "torch" else library
    est = wl.quiet_fit(wl.make_estimator(fit_lib, "classifier", wl.W4_PARAMS), X, y)
    if library == "torch":
        model = wl.torch_from_estimator(est)

        def proba(X_):
            return wl.torch_predict(model, X_, proba=True)

        def predict(X_):
            return wl.torch_predict(model, X_).argmax(axis=1)
    else:
        proba, predict = est.predict_proba, est.predict
    proba(one)  # compile both paths before timing
    predict(X_big[:10])
    return one, X_big, proba, predict


class Predict:
    params = (["fastmlp", "sklearn", "torch"], wl.DTYPES)
    param_names = ["library", "dtype"]
    timeout = 180

    def setup(self, library, dtype):
        if library == "torch" and not wl.torch_available():
            raise NotImplementedError("torch is not installed")
        self.one, self.X_big, self.proba, self.predict = wl.memo(
            ("W4", library, dtype), lambda: _prepare(library, dtype))

    def time_predict_proba_one_row(self, library, dtype):
        self.proba(self.one)

    # batch calls per sample (asv then re-runs the -- memoised, cheap -- setup
    # between calls and times each call individually)
    time_predict_proba_one_row.number = 200

    def time_predict_100k_rows(self, library, dtype):
        self.predict(self.X_big)

    def track_predict_proba_one_row_best(self, library, dtype):
        """timeit-style: best of 7 batches of n calls (n: >= 0.05 s per batch)."""
        number = wl.autorange_number(lambda: self.proba(self.one), 0.05)
        return wl.measure(lambda: self.proba(self.one), 7, number)[0]

    track_predict_proba_one_row_best.unit = "seconds"
