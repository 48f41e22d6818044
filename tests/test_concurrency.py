"""Fits and predictions in threads: the process's BLAS settings are never
changed, and every result is bitwise the same whichever thread computes it and
however many fits run at once."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_info

from fastmlp import MLPClassifier, MLPRegressor, config


@pytest.fixture(autouse=True)
def _no_convergence_noise():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def blas_threads():
    return [(lib["filepath"], lib["num_threads"]) for lib in threadpool_info()
            if lib["user_api"] == "blas"]


def make_data(n_rows, n_features, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_rows, n_features))
    return X, (X[:, 0] + X[:, 1] ** 2 > 1).astype(int)


# Products of every size: per-sample rows, a BLAS call on the calling thread, BLAS
# in pieces, and one BLAS call above config.SERIAL_GEMM_MACS (200 x 300 x 160).
CASES = {
    "rows": (dict(hidden_layer_sizes=(16,), batch_size=1), (300, 8)),
    "blas": (dict(hidden_layer_sizes=(16,), batch_size=64), (300, 8)),
    "pieces": (dict(hidden_layer_sizes=(64,), batch_size=200), (600, 64)),
    "whole": (dict(hidden_layer_sizes=(160,), batch_size=200), (600, 300)),
}


def test_cases_cover_every_product_size():
    params, (n_rows, n_features) = CASES["whole"]
    assert params["batch_size"] * n_features * params["hidden_layer_sizes"][0] \
        > config.SERIAL_GEMM_MACS
    params, (n_rows, n_features) = CASES["pieces"]
    assert config.BLAS_SERIAL_MACS < params["batch_size"] * n_features * 64 \
        <= config.SERIAL_GEMM_MACS


def fitted(est):
    return [a.copy() for a in est.coefs_ + est.intercepts_]


@pytest.mark.parametrize("case", list(CASES))
def test_fits_in_threads_equal_sequential_fits(case):
    """Two models fitted at once in two threads (and four in four) equal the same
    models fitted one after the other, bitwise."""
    params, shape = CASES[case]
    X, y = make_data(*shape)
    makers = [lambda seed=seed: MLPClassifier(**params, max_iter=3, random_state=seed)
              for seed in range(4)]
    sequential = [fitted(make().fit(X, y)) for make in makers]
    for workers in (2, 4):
        with ThreadPoolExecutor(max_workers=workers) as pool:
            threaded = list(pool.map(lambda make: fitted(make().fit(X, y)), makers))
        for seq, thr in zip(sequential, threaded, strict=True):
            for a, b in zip(seq, thr, strict=True):
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_regressor_fits_in_threads_equal_sequential_fits(solver):
    X, _ = make_data(500, 40, seed=3)
    y = X[:, 0] - 2 * X[:, 1]
    make = [MLPRegressor(hidden_layer_sizes=(64,), solver=solver, max_iter=5, random_state=s)
            for s in range(2)]
    sequential = [fitted(m.fit(X, y)) for m in make]
    with ThreadPoolExecutor(max_workers=2) as pool:
        threaded = list(pool.map(lambda m: fitted(m.fit(X, y)), make))
    for seq, thr in zip(sequential, threaded, strict=True):
        for a, b in zip(seq, thr, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", ["pieces", "whole"])
@pytest.mark.parametrize("n_rows", [1, 500, 5000])
def test_predictions_from_threads_equal_main_thread(case, n_rows):
    """predict_proba from four threads at once equals the main thread's, bitwise."""
    params, (_, n_features) = CASES[case]
    X, y = make_data(max(n_rows, 300), n_features)
    model = MLPClassifier(**params, max_iter=2, random_state=0).fit(X, y)
    X = X[:n_rows]
    expected = model.predict_proba(X)

    def predict(_):
        return [model.predict_proba(X) for _ in range(3)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        for results in pool.map(predict, range(4)):
            for got in results:
                np.testing.assert_array_equal(got, expected)


def test_blas_settings_untouched_by_overlapping_fits():
    """The process's BLAS thread counts are never changed: not while fits of
    every size overlap in threads, and not after they end."""
    before = blas_threads()
    seen = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            seen.append(blas_threads())

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        jobs = []
        for params, shape in CASES.values():
            X, y = make_data(*shape)
            jobs += [(MLPClassifier(**params, max_iter=20, random_state=s), X, y)
                     for s in range(2)]
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda job: job[0].fit(job[1], job[2]).predict(job[1]), jobs))
    finally:
        stop.set()
        watcher.join()
    assert blas_threads() == before
    assert seen and all(s == before for s in seen)
