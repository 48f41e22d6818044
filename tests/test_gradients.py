"""The gradient of ``training.loss_grad`` against central finite differences of the
loss it returns (float64, 2 hidden layers, alpha > 0, sample weights)."""

import numpy as np
import pytest
import scipy.sparse as sp

from fastmlp import config
from fastmlp.backends import cpu
from fastmlp.kernels import training
from fastmlp.kernels.bundles import LossSpec
from fastmlp.network import Network

import reference as ref
from kernel_harness import (
    input_args,
    make_params,
    make_sw,
    make_X,
    network_args,
    scratch,
    targets_args,
)

HIDDEN = list(ref.HIDDEN_ACTIVATIONS.items())
ALPHA = 0.05
STEP = 1e-6

# (loss code, n_outputs, targets): squared error FD-checked with ONE output (its
# loss is a mean over outputs but its gradient that of the sum; see below).
CASES = {
    "squared_error": (ref.SQUARED_ERROR, 1, "real"),
    "poisson": (ref.POISSON, 2, "counts"),
    "log_loss_softmax": (ref.LOG_LOSS, 4, "onehot"),
    "binary_log_loss": (ref.BINARY_LOG_LOSS, 1, "binary"),
    "multilabel_log_loss": (ref.BINARY_LOG_LOSS, 3, "binary"),
}


def targets(rng, n, n_outputs, kind):
    if kind == "real":
        return rng.standard_normal((n, n_outputs))
    if kind == "counts":
        return rng.poisson(2.0, (n, n_outputs)).astype(float)
    if kind == "onehot":
        return np.eye(n_outputs)[rng.integers(0, n_outputs, n)]
    return (rng.random((n, n_outputs)) < 0.5).astype(float)


class Objective:
    """``training.loss_grad`` at a flat parameter vector, with its own scratch."""

    def __init__(self, X, Y, sw, units, hidden_code, loss_code, alpha, chunk_rows):
        self.args = (X, Y, sw, units, hidden_code, loss_code, alpha, chunk_rows)

    def __call__(self, params):
        X, Y, sw, units, hidden_code, loss_code, alpha, chunk_rows = self.args
        _, sc = scratch(units, chunk_rows, units[0], np.float64, True)
        grad = np.empty_like(params)
        loss = training.loss_grad(
            input_args(X, np.float64), targets_args(Y, sw),
            network_args(params, units, hidden_code, ref.OUTPUT_OF_LOSS[loss_code]),
            LossSpec(loss_code, float(np.finfo(np.float64).eps), alpha), chunk_rows, sc, grad)
        return loss, grad


def central_differences(f, params, step=STEP):
    fd = np.empty_like(params)
    for k in range(params.size):
        plus, minus = params.copy(), params.copy()
        plus[k] += step
        minus[k] -= step
        fd[k] = (f(plus)[0] - f(minus)[0]) / (2 * step)
    return fd


def relative_error(grad, fd):
    return np.linalg.norm(grad - fd) / np.linalg.norm(fd)


def problem(seed, n_outputs, kind, n=24, sparse=False):
    rng = np.random.default_rng(seed)
    units = [5, 6, 4, n_outputs]
    X = make_X(rng, n, units[0], np.float64, sparse)
    Y = targets(rng, n, n_outputs, kind)
    sw = make_sw(rng, n)
    params = make_params(rng, units, np.float64, scale=0.8)
    return units, X, Y, sw, params


@pytest.mark.parametrize("hidden_name, hidden_code", HIDDEN, ids=list(ref.HIDDEN_ACTIVATIONS))
@pytest.mark.parametrize("case", list(CASES))
def test_gradient_matches_finite_differences(hidden_name, hidden_code, case):
    loss_code, n_outputs, kind = CASES[case]
    units, X, Y, sw, params = problem(20, n_outputs, kind)
    f = Objective(X, Y, sw, units, hidden_code, loss_code, ALPHA, chunk_rows=10)
    loss, grad = f(params)
    assert np.isfinite(loss) and loss > 0
    fd = central_differences(f, params)
    assert relative_error(grad, fd) < 1e-6
    # Every parameter group (coefficients and intercepts) takes part.
    n_coef = ref.n_coef_of(units)
    assert np.abs(grad[:n_coef]).max() > 0 and np.abs(grad[n_coef:]).max() > 0


@pytest.mark.parametrize("case", ["squared_error", "log_loss_softmax"])
def test_gradient_matches_finite_differences_sparse_input(case):
    loss_code, n_outputs, kind = CASES[case]
    units, X, Y, sw, params = problem(21, n_outputs, kind, sparse=True)
    assert sp.issparse(X)
    f = Objective(X, Y, sw, units, ref.TANH, loss_code, ALPHA, chunk_rows=7)
    _, grad = f(params)
    assert relative_error(grad, central_differences(f, params)) < 1e-6


def test_gradient_without_weights_or_penalty():
    units, X, Y, _, params = problem(22, 3, "onehot")
    f = Objective(X, Y, None, units, ref.LOGISTIC, ref.LOG_LOSS, 0.0, chunk_rows=24)
    _, grad = f(params)
    assert relative_error(grad, central_differences(f, params)) < 1e-6


def test_penalty_gradient_is_alpha_w_over_weight_sum():
    """d/dW of 0.5 alpha |W|^2 / sum(w) — the part the L2 term adds — and no
    penalty on intercepts."""
    units, X, Y, sw, params = problem(23, 1, "real")
    _, g0 = Objective(X, Y, sw, units, ref.RELU, ref.SQUARED_ERROR, 0.0, 24)(params)
    _, g1 = Objective(X, Y, sw, units, ref.RELU, ref.SQUARED_ERROR, 0.7, 24)(params)
    n_coef = ref.n_coef_of(units)
    np.testing.assert_allclose(g1[:n_coef] - g0[:n_coef], 0.7 * params[:n_coef] / sw.sum(),
                               rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(g1[n_coef:], g0[n_coef:])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("hidden_name, hidden_code", HIDDEN, ids=list(ref.HIDDEN_ACTIVATIONS))
def test_squared_error_multi_output_convention(hidden_name, hidden_code):
    """scikit-learn's squared_error loss is 0.5 * the MEAN over outputs of the
    weighted mean squared error, while its gradient (delta = p - y) is that of
    the SUM over outputs. fastmlp copies both, so for k outputs the data part of
    the gradient is k times the finite-difference gradient of the loss."""
    n_outputs = 3
    units, X, Y, sw, params = problem(24, n_outputs, "real")
    f = Objective(X, Y, sw, units, hidden_code, ref.SQUARED_ERROR, 0.0, chunk_rows=24)
    _, grad = f(params)
    fd = central_differences(f, params)
    assert relative_error(grad, n_outputs * fd) < 1e-6
    assert relative_error(grad, fd) > 0.5  # really not the gradient of the loss itself
    if hidden_name not in ("identity", "logistic", "tanh", "relu"):
        return  # scikit-learn has only these four
    # The same holds in scikit-learn itself.
    from sklearn.neural_network import MLPRegressor as SkMLP

    sk = SkMLP(hidden_layer_sizes=units[1:-1], activation=hidden_name, solver="lbfgs",
               alpha=0.0, max_iter=1).fit(X, Y)
    n_layers = len(units)
    sk_loss, sk_grad = sk._loss_grad_lbfgs(
        params.copy(), X, Y, sw, [X] + [None] * (n_layers - 1), [None] * (n_layers - 1),
        [np.empty((a, b)) for a, b in zip(units[:-1], units[1:], strict=True)],
        [np.empty(b) for b in units[1:]])
    np.testing.assert_allclose(grad, sk_grad, rtol=1e-10, atol=1e-13)
    assert f(params)[0] == pytest.approx(sk_loss, rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_lbfgs_objective_of_cpu_backend(dtype):
    """The objective L-BFGS sees (``cpu.Trainer.loss_grad``, chunked over rows)
    is the reference loss, with a float64 gradient equal to the reference's."""
    rng = np.random.default_rng(25)
    units = [5, 6, 4, 3]
    n = 37
    X = make_X(rng, n, 5, dtype)
    Y = np.eye(3)[rng.integers(0, 3, n)].astype(dtype)
    sw = make_sw(rng, n)
    params = make_params(rng, units, np.float64)
    net = Network(units, "tanh", "softmax", params.astype(dtype))
    trainer = cpu.Trainer(net, X, Y, sw, ref.LOG_LOSS, ALPHA)
    old_chunk = config.CPU_CHUNK_ROWS
    try:
        config.CPU_CHUNK_ROWS = 8  # several chunks, the last one ragged
        loss, grad = trainer.loss_grad(params)
    finally:
        config.CPU_CHUNK_ROWS = old_chunk
    assert grad.dtype == np.float64
    exp_loss, exp_grad = ref.loss_grad(X, Y, sw, params.astype(dtype), units, ref.TANH,
                                       ref.LOG_LOSS, ALPHA, float(np.finfo(dtype).eps))
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(loss, exp_loss, rtol=rtol)
    np.testing.assert_allclose(grad, exp_grad, rtol=rtol, atol=rtol * np.abs(exp_grad).max())
    if dtype == np.float64:
        f = trainer.loss_grad
        assert relative_error(grad, central_differences(lambda p: f(p.copy()), params)) < 1e-6
