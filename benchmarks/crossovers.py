#!/usr/bin/env python
"""Measure the path cross-overs of ``fastmlp.config`` on this machine.

    python benchmarks/crossovers.py training [--dtype float64]
    python benchmarks/crossovers.py prediction [--dtype float32]

``training``: epoch time of the per-sample path (``kernels.rows``) against the
mini-batch path (``kernels.training``) for small networks and batch sizes, by
setting ``config.ROWS_PATH_MACS`` to force each; the cross-over (ratio 1) sits
near the product batch x coefficients that ``ROWS_PATH_MACS`` should hold.

``prediction``: ``predict_proba`` time of the loop path (``predict_rows``)
against the BLAS path for a few rows, forcing each with
``config.PREDICT_ROWS_MACS`` and ``PREDICT_LOOP_ROWS``; the cross-over is in
rows x coefficients.

Times are the best of a few runs; the ratios are what counts on a shared machine.
"""
import argparse
import os
import sys
import time
import warnings

if __package__ in (None, ""):  # run as a script: make fastmlp importable from the checkout
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

NETWORKS = [(2, (8,)), (4, (16,)), (10, (32,)), (20, (64,)), (40, (100,))]
BATCHES = (2, 4, 8, 16, 32, 64, 128)
PREDICT_ROWS = (1, 2, 4, 8, 16, 64)
EPOCHS = 5


def best_time(fn, repeat, *args):
    """Best wall time over ``repeat`` calls of ``fn(*args)``."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best


def data(n_features, n_rows, dtype):
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=n_rows, n_features=n_features,
                               n_informative=min(n_features, 10), n_redundant=0,
                               n_classes=4 if n_features > 2 else 2, random_state=0)
    return X.astype(dtype), y


def n_coef(model):
    return sum(c.size for c in model.coefs_)


def training(dtype):
    from fastmlp import MLPClassifier, config

    def fit(params, X, y):
        return MLPClassifier(**params).fit(X, y)

    print("network          batch  batch x coef  per-sample (ms/epoch)  mini-batch  ratio")
    for n_features, hidden in NETWORKS:
        X, y = data(n_features, 4000, dtype)
        for batch in BATCHES:
            params = dict(hidden_layer_sizes=hidden, batch_size=batch, max_iter=EPOCHS,
                          random_state=0, tol=0.0, n_iter_no_change=EPOCHS)
            times = {}
            for path, limit in (("rows", 10 ** 12), ("blocks", 0)):
                config.ROWS_PATH_MACS = limit
                MLPClassifier(**dict(params, max_iter=1)).fit(X[:300], y[:300])  # compile
                times[path] = best_time(fit, 3, params, X, y)
            model = MLPClassifier(**dict(params, max_iter=1)).fit(X[:300], y[:300])
            units = [n_features, *hidden, model.n_outputs_]
            print(f"{'-'.join(map(str, units)):<16} {batch:5d}  {batch * n_coef(model):12d}  "
                  f"{times['rows'] / EPOCHS * 1e3:21.2f}  {times['blocks'] / EPOCHS * 1e3:10.2f}"
                  f"  {times['blocks'] / times['rows']:5.2f}", flush=True)


def prediction(dtype):
    from fastmlp import MLPClassifier, config

    def calls(model, X):
        for _ in range(200):
            model.predict_proba(X)

    print("coefficients  rows  rows x coef  loops (us)  BLAS (us)  ratio")
    for n_features, hidden in NETWORKS + [(784, (64,)), (784, (256, 128))]:
        X, y = data(n_features, 3000, dtype)
        model = MLPClassifier(hidden_layer_sizes=hidden, max_iter=2, random_state=0).fit(X, y)
        for rows in PREDICT_ROWS:
            few = X[:rows].copy()
            times = {}
            for path, limit in (("loops", 10 ** 12), ("blas", 0)):
                config.PREDICT_ROWS_MACS = config.PREDICT_LOOP_ROWS = limit
                model.predict_proba(few)
                times[path] = best_time(calls, 5, model, few) / 200
            print(f"{n_coef(model):12d}  {rows:4d}  {rows * n_coef(model):11d}  "
                  f"{times['loops'] * 1e6:10.1f}  {times['blas'] * 1e6:9.1f}  "
                  f"{times['blas'] / times['loops']:5.2f}", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["training", "prediction"],
                   help="which cross-over to measure")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float64",
                   help="data dtype (default: float64)")
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")
    (training if args.what == "training" else prediction)(np.dtype(args.dtype))
    return 0


if __name__ == "__main__":
    sys.exit(main())
