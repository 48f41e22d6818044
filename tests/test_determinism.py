"""Determinism and thread safety.

- Two processes fitting with the same random_state get bitwise-identical
  weights (adam, sgd at batch size 1, lbfgs; float32 and float64).
- Two models fitted in two threads at once equal the same models fitted one
  after the other; predictions from four threads while a fifth fits a clone
  equal the single-threaded predictions.
"""

import json
import os
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from fastmlp import MLPClassifier, MLPRegressor

CONFIGS = [
    dict(solver="adam"),
    dict(solver="sgd", batch_size=1),
    dict(solver="lbfgs"),
    dict(solver="sgd", batch_size=16, momentum=0.5, early_stopping=True),
]

FIT_IN_CHILD = textwrap.dedent("""
    import hashlib, json, sys, warnings
    import numpy as np
    from fastmlp import MLPClassifier, MLPRegressor
    warnings.simplefilter("ignore")
    configs = json.loads(sys.argv[1])
    rng = np.random.default_rng(7)
    X = rng.standard_normal((120, 6))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    digests = []
    for dtype in ("float32", "float64"):
        for Est, target in ((MLPClassifier, y), (MLPRegressor, X @ np.arange(6.0))):
            for params in configs:
                model = Est(hidden_layer_sizes=(7, 5), max_iter=8, random_state=11,
                            **params).fit(X.astype(dtype), target)
                flat = np.concatenate([a.ravel() for a in model.coefs_ + model.intercepts_])
                assert flat.dtype == dtype
                digests.append(hashlib.sha256(flat.tobytes()).hexdigest())
    print(json.dumps(digests))
""")


def fit_in_child(hash_seed):
    env = dict(os.environ, PYTHONHASHSEED=str(hash_seed))
    out = subprocess.run([sys.executable, "-c", FIT_IN_CHILD, json.dumps(CONFIGS)],
                         env=env, capture_output=True, text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_two_processes_give_bitwise_identical_weights():
    first, second = fit_in_child(1), fit_in_child(2)
    assert len(first) == 2 * 2 * len(CONFIGS)
    assert first == second
    assert len(set(first)) == len(first)  # every configuration trained its own model


# ==================================================================== threads
RNG = np.random.default_rng(8)
X = RNG.standard_normal((2000, 12))
Y = (X[:, :3].sum(axis=1) > 0).astype(int)
Y_REG = X @ RNG.standard_normal(12)


def weights(model):
    return np.concatenate([a.ravel() for a in model.coefs_ + model.intercepts_])


def fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def run_together(*functions):
    """Run the functions in threads released at the same moment; re-raise errors."""
    barrier = threading.Barrier(len(functions))
    errors = []

    def run(function):
        try:
            barrier.wait()
            function()
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(f,)) for f in functions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


PAIRS = [
    (MLPClassifier(hidden_layer_sizes=(32,), solver="adam", max_iter=6, random_state=0),
     MLPRegressor(hidden_layer_sizes=(16, 8), solver="sgd", batch_size=1, max_iter=3,
                  random_state=1)),
    (MLPClassifier(hidden_layer_sizes=(64,), solver="lbfgs", max_iter=15, random_state=2),
     MLPClassifier(hidden_layer_sizes=(64,), solver="adam", batch_size=64, max_iter=6,
                   random_state=3)),
]


def target_of(model):
    return Y if isinstance(model, MLPClassifier) else Y_REG


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("pair", PAIRS, ids=["adam+sgd1", "lbfgs+adam"])
def test_two_fits_in_two_threads_equal_sequential_fits(pair):
    """The sequential fits also run in worker threads, one after the other (see
    ``test_lbfgs_in_a_worker_thread_equals_the_main_thread`` for why)."""
    sequential = [clone(m) for m in pair]
    for m in sequential:
        run_together(lambda m=m: fit(m, X, target_of(m)))
    together = [clone(m) for m in pair]
    run_together(*[lambda m=m: fit(m, X, target_of(m)) for m in together])
    for a, b in zip(together, sequential, strict=True):
        np.testing.assert_array_equal(weights(a), weights(b))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_lbfgs_in_a_worker_thread_equals_the_main_thread():
    model = PAIRS[1][0]
    main = fit(clone(model), X, Y)
    worker = clone(model)
    run_together(lambda: fit(worker, X, Y))
    np.testing.assert_array_equal(weights(worker), weights(main))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_predict_from_four_threads_while_a_clone_fits():
    model = fit(MLPClassifier(hidden_layer_sizes=(32,), max_iter=5, random_state=0), X, Y)
    expected_rows = model.predict_proba(X[:5])  # the few-row path
    expected_all = model.predict_proba(X)  # the block path
    results = [[] for _ in range(4)]

    def predict(out):
        for _ in range(20):
            out.append((model.predict_proba(X[:5]), model.predict_proba(X)))

    other = clone(model).set_params(max_iter=10, random_state=1)
    run_together(lambda: fit(other, X, Y), *[lambda r=r: predict(r) for r in results])
    for out in results:
        assert len(out) == 20
        for rows, full in out:
            np.testing.assert_array_equal(rows, expected_rows)
            np.testing.assert_array_equal(full, expected_all)
    np.testing.assert_array_equal(weights(other),
                                  weights(fit(clone(other), X, Y)))
