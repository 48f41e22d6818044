"""solver='adamw' and max_grad_norm on ``device='cuda'``: fits equal the
``device='cpu'`` fits (same data, same random_state, 3 epochs) within the
tolerances of tests/cuda/test_cuda_fit.py, 1e-9 (float64) / 1e-4 (float32).

The clipped fits use a max_grad_norm that clips the steps (checked: the CPU
fit without clipping ends far from the clipped one), so the device's norm
reduction (``clip_factor_kernel``) and scaled step are what is compared."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastmlp import MLPClassifier, MLPRegressor

N_ROWS, N_FEATURES = 20, 3
TOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-4}


def make_data(problem, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_ROWS, N_FEATURES)).astype(dtype)
    if problem == "binary":
        y = (X[:, 0] + 0.5 * rng.standard_normal(N_ROWS) > 0).astype(int)
    elif problem == "multiclass":
        y = np.array(["a", "b", "c"])[rng.integers(0, 3, N_ROWS)]
    else:  # two squared-error outputs
        y = np.column_stack([X @ [1.0, -2.0, 0.5], np.sin(X[:, 1])])
    return X, y


def fit(problem, X, y, device, **params):
    Est = MLPClassifier if problem in ("binary", "multiclass") else MLPRegressor
    est = Est(device=device, random_state=0, **{"max_iter": 3, **params})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def weights(model):
    return [np.asarray(a, np.float64) for a in model.coefs_ + model.intercepts_]


def weight_diff(a, b):
    return max(float(np.max(np.abs(p - q))) for p, q in zip(weights(a), weights(b),
                                                             strict=True))


def assert_same_model(cpu, gpu, X, dtype, record_diff):
    """Weights, loss curve, optimizer state and predictions agree."""
    tol = TOL[np.dtype(dtype)]
    for arr in gpu.coefs_ + gpu.intercepts_:
        assert type(arr) is np.ndarray and arr.dtype == dtype
    diff = weight_diff(cpu, gpu)
    record_diff("weights (toolbox)", dtype, diff)
    assert diff <= tol, diff
    assert gpu.n_iter_ == cpu.n_iter_
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=tol, atol=tol)
    assert gpu._optimizer.step[0] == cpu._optimizer.step[0]
    np.testing.assert_allclose(gpu._optimizer.state, cpu._optimizer.state, rtol=0,
                               atol=tol * max(1.0, float(np.abs(cpu._optimizer.state).max())))
    if hasattr(cpu, "predict_proba"):
        np.testing.assert_allclose(gpu.predict_proba(X), cpu.predict_proba(X), rtol=0,
                                   atol=tol)
        np.testing.assert_array_equal(gpu.predict(X), cpu.predict(X))
    else:
        np.testing.assert_allclose(gpu.predict(X), cpu.predict(X), rtol=tol, atol=tol)


def fit_both(problem, X, y, **params):
    return fit(problem, X, y, "cpu", **params), fit(problem, X, y, "cuda", **params)


@pytest.mark.parametrize("problem, activation, hidden, epsilon, dtype", [
    ("binary", "relu", (5,), 1e-8, np.float64),
    ("multiclass", "tanh", (4, 3), 1e-3, np.float64),
    ("squared_error", "logistic", (5,), 1e-2, np.float64),
    ("multiclass", "relu", (4, 3), 1e-8, np.float32),
])
def test_adamw_fit_matches_cpu(problem, activation, hidden, epsilon, dtype, record_diff):
    """Batches of 12 rows and a tail of 8; a decay large enough to matter."""
    X, y = make_data(problem, dtype)
    params = dict(solver="adamw", activation=activation, hidden_layer_sizes=hidden,
                  learning_rate_init=0.05, alpha=0.8, epsilon=epsilon, batch_size=12)
    cpu, gpu = fit_both(problem, X, y, **params)
    assert_same_model(cpu, gpu, X, dtype, record_diff)
    # the decay moved the CPU fit far beyond the tolerance
    undecayed = fit(problem, X, y, "cpu", **{**params, "alpha": 0.0})
    assert weight_diff(undecayed, cpu) > 100 * TOL[np.dtype(dtype)]


def test_adamw_with_cosine_warm_up_matches_cpu(record_diff):
    """The scheduled rate scales the decay on the device too."""
    X, y = make_data("multiclass", np.float64, seed=1)
    cpu, gpu = fit_both("multiclass", X, y, solver="adamw", learning_rate="cosine",
                        warmup_iter=1, learning_rate_init=0.05, alpha=1.5, batch_size=8,
                        hidden_layer_sizes=(5,), activation="tanh")
    assert_same_model(cpu, gpu, X, np.float64, record_diff)


@pytest.mark.parametrize("solver, dtype", [("sgd", np.float64), ("adam", np.float64),
                                           ("adamw", np.float64), ("adamw", np.float32)])
def test_clipped_fit_matches_cpu(solver, dtype, record_diff):
    """max_grad_norm=0.05 clips the steps of batches of 12 rows (and a tail of 8)."""
    X, y = make_data("multiclass", dtype, seed=2)
    params = dict(solver=solver, activation="tanh", hidden_layer_sizes=(4, 3),
                  learning_rate_init=0.05, alpha=0.3, batch_size=12, max_grad_norm=0.05)
    cpu, gpu = fit_both("multiclass", X, y, **params)
    assert_same_model(cpu, gpu, X, dtype, record_diff)
    unclipped = fit("multiclass", X, y, "cpu", **{**params, "max_grad_norm": None})
    assert weight_diff(unclipped, cpu) > 100 * TOL[np.dtype(dtype)]


@pytest.mark.parametrize("solver", ["sgd", "adamw"])
def test_clipped_fit_at_batch_size_one_matches_cpu(solver, record_diff):
    """One row per step (6 rows, 2 epochs): the CPU's per-sample path against
    the device's blocks of one row."""
    X, y = make_data("squared_error", np.float64, seed=3)
    X, y = X[:6], y[:6]
    params = dict(solver=solver, activation="relu", hidden_layer_sizes=(5,), max_iter=2,
                  learning_rate_init=0.02, alpha=0.1, batch_size=1, max_grad_norm=0.2)
    cpu, gpu = fit_both("squared_error", X, y, **params)
    assert_same_model(cpu, gpu, X, np.float64, record_diff)
    unclipped = fit("squared_error", X, y, "cpu", **{**params, "max_grad_norm": None})
    assert weight_diff(unclipped, cpu) > 1e-7


def test_partial_fit_carries_the_clipped_adamw_state(record_diff):
    """Three partial_fit calls: the moments and step go back and forth."""
    X, y = make_data("squared_error", np.float64, seed=4)

    def three_calls(device, max_grad_norm=0.1):
        est = MLPRegressor(device=device, solver="adamw", alpha=0.5,
                           max_grad_norm=max_grad_norm, learning_rate_init=0.05,
                           hidden_layer_sizes=(4, 3), batch_size=10, random_state=0)
        for _ in range(3):
            est.partial_fit(X, y)
        return est

    cpu, gpu = three_calls("cpu"), three_calls("cuda")
    assert gpu._optimizer.step[0] == cpu._optimizer.step[0] == 6
    assert_same_model(cpu, gpu, X, np.float64, record_diff)
    assert weight_diff(three_calls("cpu", None), cpu) > 1e-7  # the steps were clipped
