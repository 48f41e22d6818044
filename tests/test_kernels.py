"""Every Numba kernel against its plain-NumPy twin in ``reference.py``."""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from numba import njit

from fastmlp import config
from fastmlp.kernels import (
    activations,
    layers,
    losses,
    optimizers,
    prediction,
    products,
    rows,
    training,
)
from fastmlp.kernels.bundles import Batches, Block, LossSpec, Net

import reference as ref
from kernel_harness import (
    DTYPES,
    act_offsets,
    assert_close,
    input_args,
    layer_block,
    make_params,
    make_sw,
    make_X,
    make_Y,
    n_outputs_for,
    network_args,
    rows_of,
    scratch,
    solver_args,
    targets_args,
)

HIDDEN = list(ref.HIDDEN_ACTIVATIONS.items())
HIDDEN_IDS = list(ref.HIDDEN_ACTIVATIONS)
LOSSES = ref.LOSS_CODES
LOSS_IDS = [ref.LOSS_NAMES[c] for c in LOSSES]
DTYPE_IDS = ["float64", "float32"]


# ------------------------------------------------------------------ scalar
@pytest.mark.parametrize("code", list(ref.HIDDEN_ACTIVATIONS.values()) + [ref.EXP],
                         ids=list(ref.HIDDEN_ACTIVATIONS) + ["exp"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_activate_and_derivative_scalar(code, dtype):
    """Compiled f and f' (from the output, or from z where ``needs_pre``) against
    the twins, on both sides of 0 and of softplus's threshold."""
    z = np.array([-30.0, -3.0, -0.5, -1e-3, 0.0, 0.25, 2.0, 19.5, 20.5, 30.0]).astype(dtype)

    @njit
    def compiled(z, code):
        a = np.empty_like(z)
        d = np.empty(z.shape[0])
        for k in range(z.shape[0]):
            a[k] = activations.activate(z[k], code)
            d[k] = activations.derivative(a[k], z[k], code)
        return a, d

    a, d = compiled(z, code)
    assert a.dtype == dtype
    assert_close(a, ref.activate(z.astype(np.float64), code), dtype)
    if code != ref.EXP:
        expected = ref.derivative(ref.activate(z.astype(np.float64), code), code,
                                  z.astype(np.float64))
        assert_close(d, expected, dtype)


@pytest.mark.parametrize("code", [ref.LOGISTIC, ref.SOFTPLUS, ref.SILU, ref.ELU, ref.GELU])
def test_activations_do_not_overflow(code):
    z = np.array([-1000.0, 1000.0])
    a = np.array([activations.activate(v, code) for v in z])
    assert np.isfinite(a).all()
    assert_close(a, ref.activate(z, code), np.float64)


def test_needs_pre_only_where_the_output_cannot_give_the_derivative():
    assert [c for c in range(11) if activations.needs_pre(c)] == [ref.GELU, ref.SILU]


# -------------------------------------------------------------------- gemm
GEMM_SHAPES = {
    "blas": [(1, 1, 1), (3, 5, 4), (7, 13, 11), (10, 20, 15), (30, 40, 20), (64, 50, 33),
             (200, 11, 17), (20, 25, 40)],
    "pieces": [(300, 40, 50), (64, 300, 30), (513, 33, 37), (2, 700, 400)],
    "whole": [(300, 200, 150)],
}


def gemm_branch(n, k, m):
    """Which way ``products.gemm`` computes an (n, k) x (k, m) product."""
    macs = n * k * m
    if macs <= config.BLAS_SERIAL_MACS:
        return "blas"
    return "pieces" if macs <= config.SERIAL_GEMM_MACS else "whole"


def gemm_operands(rng, n, k, m, dtype, transpose_a, transpose_b):
    A = rng.standard_normal((k, n) if transpose_a else (n, k)).astype(dtype)
    A[rng.random(A.shape) < 0.3] = 0.0
    B = rng.standard_normal((m, k) if transpose_b else (k, m)).astype(dtype)
    return (A.T if transpose_a else A), (B.T if transpose_b else B)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("branch", list(GEMM_SHAPES))
@pytest.mark.parametrize("transpose_a, transpose_b",
                         [(False, False), (True, False), (False, True), (True, True)])
def test_gemm(branch, dtype, transpose_a, transpose_b):
    rng = np.random.default_rng(0)
    for n, k, m in GEMM_SHAPES[branch]:
        # Make sure the shape really selects the branch under test.
        assert gemm_branch(n, k, m) == branch
        A, B = gemm_operands(rng, n, k, m, dtype, transpose_a, transpose_b)
        out = np.full((n, m), np.nan, dtype=dtype)
        products.gemm(A, B, out)
        assert_close(out, ref.gemm(A.astype(np.float64), B.astype(np.float64)), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("transpose_a, transpose_b", [(False, False), (True, False),
                                                      (False, True)])
def test_gemm_pieces_ignore_blas_threads(dtype, transpose_a, transpose_b):
    """Products in pieces run on the calling thread: the process's BLAS thread
    setting does not change a bit of them."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(1)
    for n, k, m in GEMM_SHAPES["pieces"]:
        A, B = gemm_operands(rng, n, k, m, dtype, transpose_a, transpose_b)
        default, single = np.empty((n, m), dtype=dtype), np.empty((n, m), dtype=dtype)
        products.gemm(A, B, default)
        with threadpool_limits(1, user_api="blas"):
            products.gemm(A, B, single)
        np.testing.assert_array_equal(default, single)


# ----------------------------------------------------------- bias_activate
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("code", list(ref.HIDDEN_ACTIVATIONS.values()) + [ref.SOFTMAX, ref.EXP])
@pytest.mark.parametrize("keep_pre", [False, True], ids=["predict", "train"])
def test_bias_activate(code, dtype, keep_pre):
    """f(Z + b) in place; with rows in ``pre``, Z + b is kept there as well
    (for the activations whose derivative needs it)."""
    rng = np.random.default_rng(1)
    Z = (3 * rng.standard_normal((9, 5))).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)
    if code == ref.SOFTMAX:
        Z[0] += 700  # exp would overflow without subtracting the row maximum
        Z[1, 2] = -700
    if code == ref.LOGISTIC:
        Z[0, 0] = -700
    expected = ref.bias_activate(Z.astype(np.float64), b.astype(np.float64), code)
    pre = np.full((9 if keep_pre else 0, 5), np.nan, dtype=dtype)
    Z_plus_b = Z + b
    layers.bias_activate(Z, b, code, pre)
    if keep_pre and code in (ref.GELU, ref.SILU):
        np.testing.assert_array_equal(pre, Z_plus_b)
    assert Z.dtype == dtype
    assert np.isfinite(Z).all()
    assert_close(Z, expected, dtype)
    if code == ref.SOFTMAX:
        assert_close(Z.sum(axis=1), np.ones(9), dtype)


# ------------------------------------------------------------ output_delta
def make_outputs(rng, rows, cols, loss_code, dtype):
    """Predictions in the range of the output activation, including values the
    log-losses must clip (exact 0 and 1)."""
    Z = rng.standard_normal((rows, cols))
    if loss_code == ref.SQUARED_ERROR:
        P = Z
    elif loss_code == ref.POISSON:
        P = np.exp(Z)
    elif loss_code == ref.LOG_LOSS:
        P = ref.activate(Z, ref.SOFTMAX)
        P[0] = np.eye(cols)[0]  # p exactly 0 and 1
    else:
        P = ref.activate(Z, ref.LOGISTIC)
        P[0, 0], P[1, 0] = 0.0, 1.0
    return np.ascontiguousarray(P, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("loss_code", LOSSES, ids=LOSS_IDS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("contiguous", [True, False], ids=["contiguous", "shuffled"])
def test_output_delta(loss_code, dtype, weighted, contiguous):
    rng = np.random.default_rng(2)
    n, cols, start, stop = 20, n_outputs_for(loss_code), 5, 13
    rows = stop - start
    order = rng.permutation(n).astype(np.int64)
    Y = make_Y(rng, n, cols, loss_code, dtype)
    sw = make_sw(rng, n) if weighted else np.empty(0)
    P = make_outputs(rng, rows, cols, loss_code, dtype)
    idx = rows_of(order, start, stop, contiguous)
    if loss_code in (ref.LOG_LOSS, ref.BINARY_LOG_LOSS):
        # A row whose true class sits on a clipped probability.
        Y[idx[0]] = 1.0 - P[0] if loss_code == ref.BINARY_LOG_LOSS else np.eye(cols)[1]
    eps = float(np.finfo(dtype).eps)
    delta = np.full((rows, cols), np.nan, dtype=dtype)
    total, weight_sum = layers.output_delta(P, targets_args(Y, sw if weighted else None),
                                            Block(order, start, stop, contiguous),
                                            LossSpec(loss_code, eps, 0.0), delta)
    exp_delta, exp_total, exp_ws = ref.output_delta(P, Y[idx], sw[idx] if weighted else None,
                                                    loss_code, eps)
    assert np.isfinite(total)
    assert_close(delta, exp_delta, dtype)
    assert_close(total, exp_total, dtype)
    assert_close(weight_sum, exp_ws, np.float64)
    # The normalised loss is scikit-learn's own loss function on the block.
    loss = losses.data_loss(total, weight_sum, loss_code, cols)
    assert_close(loss, ref.data_loss(exp_total, exp_ws, loss_code, cols), dtype)
    assert_close(loss, ref.sklearn_loss(Y[idx], P, sw[idx] if weighted else None, loss_code),
                 dtype)


@pytest.mark.parametrize("loss_code, n_outputs",
                         [(c, k) for c in LOSSES for k in (1, 3) if (c, k) != (ref.LOG_LOSS, 1)])
def test_data_loss(loss_code, n_outputs):
    total, weight_sum = 7.25, 2.5
    assert losses.data_loss(total, weight_sum, loss_code, n_outputs) == pytest.approx(
        ref.data_loss(total, weight_sum, loss_code, n_outputs), rel=1e-15)


# ----------------------------------------------------------------- forward
def forward_case(rng, hidden_code, loss_code, dtype, sparse, n=23, n_features=6,
                 hidden=(5, 4)):
    units = [n_features, *hidden, n_outputs_for(loss_code)]
    X = make_X(rng, n, n_features, dtype, sparse)
    Y = make_Y(rng, n, units[-1], loss_code, dtype)
    params = make_params(rng, units, dtype)
    return units, X, Y, params


def run_forward(X, params, units, order, start, stop, contiguous, hidden_code, out_code,
                dtype, sparse, max_rows):
    off, sc = scratch(units, max_rows, units[0], dtype, sparse)
    block = layers.forward(input_args(X, dtype), Block(order, start, stop, contiguous),
                           network_args(params, units, hidden_code, out_code), off, sc, None)
    return block, off, sc


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("hidden_name, hidden_code", HIDDEN, ids=HIDDEN_IDS)
@pytest.mark.parametrize("loss_code", LOSSES, ids=LOSS_IDS)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("contiguous", [True, False], ids=["contiguous", "shuffled"])
def test_forward(hidden_name, hidden_code, loss_code, dtype, sparse, contiguous):
    rng = np.random.default_rng(3)
    units, X, _, params = forward_case(rng, hidden_code, loss_code, dtype, sparse)
    n = X.shape[0]
    order = rng.permutation(n).astype(np.int64)
    out_code = ref.OUTPUT_OF_LOSS[loss_code]
    start, stop, max_rows = 6, 17, 12
    block, off, sc = run_forward(X, params, units, order, start, stop, contiguous,
                                 hidden_code, out_code, dtype, sparse, max_rows)
    idx = rows_of(order, start, stop, contiguous)
    expected = ref.forward(X[idx], params, units, hidden_code, out_code)
    rows = stop - start
    for i, exp in enumerate(expected):
        assert_close(layer_block(sc.acts, off, i, rows, units[i + 1]), exp, dtype,
                     err_msg=f"layer {i}")
    if not sparse:
        assert_close(block, X[idx], dtype)


# ---------------------------------------------------------------- backward
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("hidden_name, hidden_code", HIDDEN, ids=HIDDEN_IDS)
@pytest.mark.parametrize("loss_code", LOSSES, ids=LOSS_IDS)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("contiguous", [True, False], ids=["contiguous", "shuffled"])
def test_backward(hidden_name, hidden_code, loss_code, dtype, sparse, contiguous):
    rng = np.random.default_rng(4)
    units, X, Y, params = forward_case(rng, hidden_code, loss_code, dtype, sparse)
    n = X.shape[0]
    order = rng.permutation(n).astype(np.int64)
    out_code = ref.OUTPUT_OF_LOSS[loss_code]
    start, stop, max_rows = 3, 15, 12
    rows = stop - start
    block, off, sc = run_forward(X, params, units, order, start, stop, contiguous,
                                 hidden_code, out_code, dtype, sparse, max_rows)
    last = len(units) - 2
    D = layer_block(sc.deltas, off, last, rows, units[-1])
    D[...] = rng.standard_normal(D.shape)
    delta_out = D.copy()
    layers.backward(input_args(X, dtype), Block(order, start, stop, contiguous), block,
                    network_args(params, units, hidden_code, out_code), off, sc, None)
    grad = sc.grad
    idx = rows_of(order, start, stop, contiguous)
    ref_acts = ref.forward(X[idx], params, units, hidden_code, out_code)
    exp_grad, exp_deltas = ref.backward(X[idx], params, units, ref_acts, delta_out, hidden_code)
    assert grad.dtype == dtype
    assert_close(grad, exp_grad, dtype)
    for i in range(last):
        assert_close(layer_block(sc.deltas, off, i, rows, units[i + 1]), exp_deltas[i], dtype,
                     err_msg=f"delta of layer {i}")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("hidden_name, hidden_code", HIDDEN, ids=HIDDEN_IDS)
@pytest.mark.parametrize("loss_code", LOSSES, ids=LOSS_IDS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_block_loss_grad(hidden_name, hidden_code, loss_code, dtype, weighted):
    rng = np.random.default_rng(5)
    units, X, Y, params = forward_case(rng, hidden_code, loss_code, dtype, False)
    n = X.shape[0]
    sw = make_sw(rng, n) if weighted else np.empty(0)
    order = rng.permutation(n).astype(np.int64)
    start, stop, max_rows = 4, 14, 10
    off, sc = scratch(units, max_rows, units[0], dtype, False)
    eps = float(np.finfo(dtype).eps)
    total, weight_sum = layers.block_loss_grad(
        input_args(X, dtype), targets_args(Y, sw if weighted else None),
        Block(order, start, stop, False),
        network_args(params, units, hidden_code, ref.OUTPUT_OF_LOSS[loss_code]),
        LossSpec(loss_code, eps, 0.0), off, sc, None)
    grad = sc.grad
    idx = order[start:stop]
    exp_grad, exp_total, exp_ws = ref.block_loss_grad(
        X[idx], Y[idx], sw[idx] if weighted else None, params, units, hidden_code, loss_code,
        eps)
    assert_close(grad, exp_grad, dtype)
    assert_close(total, exp_total, dtype)
    assert_close(weight_sum, exp_ws, np.float64)


# -------------------------------------------------------- finish_and_step
def flat_net(params, n_coef):
    """A Net with only what ``finish_and_step`` reads: the vector and n_coef."""
    empty = np.empty(0, dtype=np.int64)
    return Net(params, empty, empty, empty, n_coef, 0, 0)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("alpha", [0.0, 0.37])
def test_finish_without_step(dtype, alpha):
    """NO_UPDATE (the L-BFGS objective): the finished gradient, no step."""
    rng = np.random.default_rng(6)
    units = [4, 3, 2]
    params = make_params(rng, units, dtype)
    before = params.copy()
    grad = rng.standard_normal(params.shape).astype(dtype)
    n_coef = ref.n_coef_of(units)
    exp_grad, exp_squares = ref.finished_gradient(params, grad, n_coef, alpha, 3.5)
    squares = optimizers.finish_and_step(flat_net(params, n_coef), grad, alpha, 3.5,
                                         optimizers.no_update(params), 0.0)
    assert_close(grad, exp_grad, dtype)
    assert_close(squares, exp_squares, dtype)
    np.testing.assert_array_equal(params, before)


# ----------------------------------------------------------------- updates
def sgd_hyper(lr, momentum, nesterov):
    return (lr, momentum, nesterov, 0.9, 0.999, 1e-8)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("momentum", [0.0, 0.9])
@pytest.mark.parametrize("nesterov", [False, True], ids=["classic", "nesterov"])
def test_sgd_update(dtype, momentum, nesterov):
    rng = np.random.default_rng(7)
    params = rng.standard_normal(17).astype(dtype)
    state = rng.standard_normal((1, 17)).astype(dtype)
    exp_params, exp_velocity = params.copy(), state[0].copy()
    for _ in range(3):
        grad = rng.standard_normal(17).astype(dtype)
        exp_params, exp_velocity = ref.sgd_update(exp_params, grad, exp_velocity, 0.05,
                                                  momentum, nesterov)
        solver = solver_args(ref.SGD, sgd_hyper(0.05, momentum, nesterov), state, None)
        optimizers.finish_and_step(flat_net(params, 0), grad, 0.0, 1.0, solver, 0.05)
    assert_close(params, exp_params, dtype)
    assert_close(state[0], exp_velocity, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_adam_update(dtype):
    rng = np.random.default_rng(8)
    params = rng.standard_normal(17).astype(dtype)
    state = np.zeros((2, 17), dtype=dtype)
    solver = solver_args(ref.ADAM, (0.01, 0.0, 0.0, 0.8, 0.95, 1e-6), state,
                         np.zeros(1, dtype=np.int64))
    exp = (params.copy(), state[0].copy(), state[1].copy())
    for step in range(1, 5):
        grad = rng.standard_normal(17).astype(dtype)
        exp = ref.adam_update(exp[0], grad, exp[1], exp[2], step, 0.01, 0.8, 0.95, 1e-6)
        lr_t = optimizers.advance_step(solver)
        assert solver.step[0] == step
        optimizers.finish_and_step(flat_net(params, 0), grad, 0.0, 1.0, solver, lr_t)
        assert_close(lr_t,
                     0.01 * np.sqrt(1 - 0.95**step) / (1 - 0.8**step), np.float64)
    for got, want in zip((params, state[0], state[1]), exp, strict=True):
        assert_close(got, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("solver, nesterov", [(ref.SGD, False), (ref.SGD, True), (ref.ADAM, False)],
                         ids=["sgd", "sgd-nesterov", "adam"])
def test_finish_and_step(dtype, solver, nesterov):
    """Finish a summed gradient (+ alpha W on coefficients, / weight sum) and
    take one optimizer step: ``finished_gradient`` followed by the update."""
    rng = np.random.default_rng(15)
    units = [4, 3, 2]
    n_coef = ref.n_coef_of(units)
    params = make_params(rng, units, dtype)
    grad = rng.standard_normal(params.shape).astype(dtype)
    state = (0.1 * rng.standard_normal((ref.STATE_ROWS[solver], params.size))).astype(dtype)
    if solver == ref.ADAM:
        state[1] = np.abs(state[1])
    bundle = solver_args(solver, (0.03, 0.7, nesterov, 0.8, 0.95, 1e-3), state, None)
    alpha, weight_sum, step = 0.2, 3.5, 4
    lr_t = optimizers.adam_step_size(bundle.hyper, step) if solver == ref.ADAM else 0.03
    exp_grad, exp_squares = ref.finished_gradient(params, grad, n_coef, alpha, weight_sum)
    if solver == ref.ADAM:
        exp_params, m, v = ref.adam_update(params, exp_grad, state[0], state[1], step, 0.03,
                                           0.8, 0.95, 1e-3)
        exp_state = [m, v]
    else:
        exp_params, vel = ref.sgd_update(params, exp_grad, state[0], 0.03, 0.7, nesterov)
        exp_state = [vel]
    squares = optimizers.finish_and_step(flat_net(params, n_coef), grad, alpha, weight_sum,
                                         bundle, lr_t)
    assert_close(squares, exp_squares, dtype)
    assert_close(params, exp_params, dtype)
    for k, s in enumerate(exp_state):
        assert_close(state[k], s, dtype)


# --------------------------------------------------------------- run_epoch
def epoch_case(rng, hidden_code, loss_code, dtype, sparse, weighted, n=29):
    units = [6, 5, 4, n_outputs_for(loss_code)]
    X = make_X(rng, n, units[0], dtype, sparse)
    Y = make_Y(rng, n, units[-1], loss_code, dtype)
    params = make_params(rng, units, dtype)
    sw = make_sw(rng, n) if weighted else None
    return units, X, Y, params, sw


def check_run_epoch(units, X, Y, params, sw, order, contiguous, batch_size, hidden_code,
                    loss_code, dtype, solver, path, n_epochs=2, momentum=(0.9, True)):
    sparse = sp.issparse(X)
    n = X.shape[0]
    alpha = 0.01
    eps = float(np.finfo(dtype).eps)
    if solver in (ref.ADAM, ref.ADAMW):
        # A float32 Adam step is sign(g)-like where |g| is tiny; a larger epsilon
        # keeps the update smooth so rounding cannot flip it. adamw's alpha is its
        # decoupled decay.
        hyper = (0.01, 0.0, 0.0, 0.9, 0.999, 1e-8 if dtype == np.float64 else 1e-3,
                 alpha if solver == ref.ADAMW else 0.0)
        state = np.zeros((2, params.size), dtype=dtype)
    else:
        hyper = (0.05, momentum[0], momentum[1], 0.9, 0.999, 1e-8)
        state = np.zeros((1, params.size), dtype=dtype)
    step = np.zeros(1, dtype=np.int64)
    _, sc = scratch(units, batch_size, units[0], dtype, sparse)
    kparams = params.copy()
    exp_params, exp_state, exp_step = params.copy(), list(state.copy()), 0
    args = (input_args(X, dtype), targets_args(Y, sw), Batches(order, contiguous, batch_size),
            network_args(kparams, units, hidden_code, ref.OUTPUT_OF_LOSS[loss_code]),
            LossSpec(loss_code, eps, alpha), solver_args(solver, hyper, state, step), sc, None)
    for _ in range(n_epochs):
        if path == "rows":
            got = rows.run_epoch_rows(*args)
        else:
            got = training.run_epoch(*args)
        walk = np.arange(n) if contiguous else order
        exp_acc, exp_params, exp_state, exp_step = ref.run_epoch(
            X, Y, sw, walk, batch_size, exp_params, units, hidden_code, loss_code, alpha, eps,
            solver, hyper, exp_state, exp_step)
        assert np.isfinite(got)
        assert_close(got, exp_acc, dtype, err_msg="accumulated loss")
        assert_close(kparams, exp_params, dtype, err_msg="parameters")
        # sgd without momentum never reads its velocity: the per-sample path keeps none
        if not (solver == ref.SGD and momentum[0] == 0):
            for k, s in enumerate(exp_state):
                assert_close(state[k], s, dtype, err_msg=f"optimizer state row {k}")
        assert step[0] == exp_step
    assert kparams.dtype == dtype
    assert not np.allclose(kparams, params)  # training moved the parameters
    n_batches = -(-n // batch_size)
    assert step[0] == (n_batches * n_epochs if solver in (ref.ADAM, ref.ADAMW) else 0)


SOLVERS = list(ref.STOCHASTIC.values())
SOLVER_IDS = list(ref.STOCHASTIC)
# training.run_epoch (mini-batch blocks through gemm) and rows.run_epoch_rows (the
# per-sample loop path, fused update at batch size 1) must give the same epoch.
PATHS = ["blocks", "rows"]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("hidden_name, hidden_code", HIDDEN, ids=HIDDEN_IDS)
@pytest.mark.parametrize("loss_code", LOSSES, ids=LOSS_IDS)
@pytest.mark.parametrize("solver", SOLVERS, ids=SOLVER_IDS)
@pytest.mark.parametrize("path", PATHS)
def test_run_epoch_activation_loss(hidden_name, hidden_code, loss_code, dtype, solver, path):
    """Every hidden activation x loss x dtype x solver: shuffled order, weights,
    a batch size that does not divide n."""
    rng = np.random.default_rng(9)
    units, X, Y, params, sw = epoch_case(rng, hidden_code, loss_code, dtype, False, True)
    order = rng.permutation(X.shape[0]).astype(np.int64)
    check_run_epoch(units, X, Y, params, sw, order, False, 8, hidden_code, loss_code, dtype,
                    solver, path)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("contiguous", [True, False], ids=["contiguous", "shuffled"])
@pytest.mark.parametrize("batch_size", [1, 7, 29], ids=["batch1", "batch7", "fullbatch"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("solver", SOLVERS, ids=SOLVER_IDS)
@pytest.mark.parametrize("path", PATHS)
def test_run_epoch_layouts(dtype, sparse, contiguous, batch_size, weighted, solver, path):
    """Dense / CSR input, rows in order / shuffled, per-sample, ragged and
    full batches, with and without sample weights."""
    rng = np.random.default_rng(10)
    loss_code = ref.LOG_LOSS if solver == ref.SGD else ref.BINARY_LOG_LOSS
    units, X, Y, params, sw = epoch_case(rng, ref.TANH, loss_code, dtype, sparse, weighted)
    order = rng.permutation(X.shape[0]).astype(np.int64)
    check_run_epoch(units, X, Y, params, sw, order, contiguous, batch_size, ref.TANH,
                    loss_code, dtype, solver, path)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("momentum", [(0.0, False), (0.9, False), (0.9, True)],
                         ids=["plain", "classic", "nesterov"])
@pytest.mark.parametrize("batch_size", [1, 7], ids=["batch1", "batch7"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("path", PATHS)
def test_run_epoch_sgd_momentum_variants(dtype, momentum, batch_size, weighted, path):
    """sgd without momentum (its own per-sample kernel), with classic and with
    Nesterov momentum, each with the L2 term, against the twin."""
    rng = np.random.default_rng(17)
    units, X, Y, params, sw = epoch_case(rng, ref.RELU, ref.SQUARED_ERROR, dtype, False,
                                         weighted)
    order = rng.permutation(X.shape[0]).astype(np.int64)
    check_run_epoch(units, X, Y, params, sw, order, False, batch_size, ref.RELU,
                    ref.SQUARED_ERROR, dtype, ref.SGD, path, momentum=momentum)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("hidden_name, hidden_code", HIDDEN, ids=HIDDEN_IDS)
@pytest.mark.parametrize("loss_code", LOSSES, ids=LOSS_IDS)
def test_predict_rows(dtype, hidden_name, hidden_code, loss_code):
    """The latency path (plain loops over a few dense rows) against the twin and
    the BLAS blocks; a value of X that is not finite is reported."""
    rng = np.random.default_rng(18)
    units = [6, 5, 4, n_outputs_for(loss_code)]
    X = np.ascontiguousarray(make_X(rng, 9, units[0], dtype))
    params = make_params(rng, units, dtype)
    out_code = ref.OUTPUT_OF_LOSS[loss_code]
    net = network_args(params, units, hidden_code, out_code)
    X[::3] = 0  # whole zero rows, and the zeros layer_row skips
    X[1, ::2] = 0
    got = np.full((X.shape[0], units[-1]), np.nan, dtype=dtype)
    assert prediction.predict_rows(X, *net, got)
    assert_close(got, ref.predict(X, params, units, hidden_code, out_code), dtype)
    blocks = np.empty_like(got)
    prediction.predict_blocks(X, *net, 4, blocks)
    assert_close(blocks, got, dtype)
    for bad in (np.nan, np.inf, -np.inf):  # reported, not raised
        X_bad = X.copy()
        X_bad[-1, -1] = bad
        assert not prediction.predict_rows(X_bad, *net, got)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("units", [[5, 1, 4, 1], [5, 3, 1, 1], [1, 4, 1]],
                         ids=["1-unit-hidden", "1-unit-last-hidden", "1-in-1-out"])
@pytest.mark.parametrize("loss_code", [ref.SQUARED_ERROR, ref.POISSON, ref.BINARY_LOG_LOSS],
                         ids=["squared_error", "poisson", "binary_log_loss"])
@pytest.mark.parametrize("batch_size", [1, 6], ids=["batch1", "batch6"])
@pytest.mark.parametrize("solver", SOLVERS, ids=SOLVER_IDS)
@pytest.mark.parametrize("path", PATHS)
def test_run_epoch_single_unit_layers(dtype, units, loss_code, batch_size, solver, path):
    """Layers of width one (a single output, a one-unit hidden layer, one
    input feature) — the shapes where loops special-case a lone delta."""
    rng = np.random.default_rng(16)
    n = 17
    X = make_X(rng, n, units[0], dtype)
    if units[0] == 1:
        X[X == 0] = 0.5
    Y = make_Y(rng, n, units[-1], loss_code, dtype)
    params = make_params(rng, units, dtype)
    order = rng.permutation(n).astype(np.int64)
    check_run_epoch(units, X, Y, params, make_sw(rng, n), order, False, batch_size,
                    ref.LOGISTIC, loss_code, dtype, solver, path)


@pytest.mark.parametrize("solver", SOLVERS, ids=SOLVER_IDS)
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("batch_size", [1, 5])
@pytest.mark.parametrize("case", ["overflow", "poisson_underflow"])
def test_run_epoch_nonfinite_returns_nan(solver, path, batch_size, case):
    """A non-finite batch loss ends the epoch with NaN (never an exception such
    as ZeroDivisionError): huge inputs overflow the squared error; an exp
    output that underflows to exactly 0 makes the Poisson loss y log(y / 0)
    infinite."""
    rng = np.random.default_rng(11)
    loss_code = ref.SQUARED_ERROR if case == "overflow" else ref.POISSON
    units, X, Y, params, _ = epoch_case(rng, ref.RELU, loss_code, np.float64, False, False)
    Y[:] = 2.0
    if case == "overflow":
        X = X * 1e200
        lr = 1e10
    else:
        params[ref.layout(units)[2][-1]] = -1000.0  # output intercepts: exp(-1000) == 0
        lr = 1e-3
    _, sc = scratch(units, batch_size, units[0], np.float64, False)
    state = np.zeros((ref.STATE_ROWS[solver], params.size))
    args = (input_args(X, np.float64), targets_args(Y, None),
            Batches(np.arange(X.shape[0]), True, batch_size),
            network_args(params, units, ref.RELU, ref.OUTPUT_OF_LOSS[loss_code]),
            LossSpec(loss_code, 1e-16, 0.0),
            solver_args(solver, (lr, 0.9, True, 0.9, 0.999, 1e-8), state,
                        np.zeros(1, dtype=np.int64)), sc, None)
    run = rows.run_epoch_rows if path == "rows" else training.run_epoch
    got = run(*args)
    assert np.isnan(got)


def test_output_delta_poisson_zero_prediction_is_infinite_not_an_error():
    P = np.array([[0.0, 1.0], [0.0, 2.0]])
    Y = np.array([[2.0, 1.0], [0.0, 1.0]])
    delta = np.empty_like(P)
    total, weight_sum = layers.output_delta(P, targets_args(Y, None),
                                            Block(np.empty(0, np.int64), 0, 2, True),
                                            LossSpec(ref.POISSON, 1e-16, 0.0), delta)
    assert total == np.inf and weight_sum == 2.0
    np.testing.assert_array_equal(delta, P - Y)


# --------------------------------------------------------------- loss_grad
def call_loss_grad(X, Y, sw, params, units, hidden_code, loss_code, alpha, dtype, chunk_rows):
    _, sc = scratch(units, chunk_rows, units[0], dtype, True)
    grad = np.full(params.shape, np.nan, dtype=dtype)
    eps = float(np.finfo(dtype).eps)
    loss = training.loss_grad(
        input_args(X, dtype), targets_args(Y, sw),
        network_args(params, units, hidden_code, ref.OUTPUT_OF_LOSS[loss_code]),
        LossSpec(loss_code, eps, alpha), chunk_rows, sc, grad)
    return loss, grad


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("hidden_name, hidden_code", HIDDEN, ids=HIDDEN_IDS)
@pytest.mark.parametrize("loss_code", LOSSES, ids=LOSS_IDS)
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("chunk_rows", [29, 6], ids=["one_chunk", "ragged_chunks"])
def test_loss_grad(hidden_name, hidden_code, loss_code, dtype, sparse, chunk_rows):
    rng = np.random.default_rng(12)
    units, X, Y, params, sw = epoch_case(rng, hidden_code, loss_code, dtype, sparse,
                                         weighted=chunk_rows == 6)
    alpha = 0.3
    loss, grad = call_loss_grad(X, Y, sw, params, units, hidden_code, loss_code, alpha, dtype,
                                chunk_rows)
    eps = float(np.finfo(dtype).eps)
    exp_loss, exp_grad = ref.loss_grad(X, Y, sw, params, units, hidden_code, loss_code, alpha,
                                       eps)
    assert_close(loss, exp_loss, dtype)
    assert_close(grad, exp_grad, dtype)
    # The loss is scikit-learn's objective (its LOSS_FUNCTIONS + L2 term).
    P = ref.predict(X, params, units, hidden_code, ref.OUTPUT_OF_LOSS[loss_code])
    W = params[: ref.n_coef_of(units)].astype(np.float64)
    sk = ref.sklearn_loss(Y, P, sw, loss_code) + 0.5 * alpha * W @ W / (
        X.shape[0] if sw is None else sw.sum())
    assert_close(loss, sk, dtype)


# ----------------------------------------------------------------- predict
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("hidden_name, hidden_code", HIDDEN, ids=HIDDEN_IDS)
@pytest.mark.parametrize("out_code", [ref.IDENTITY, ref.LOGISTIC, ref.SOFTMAX, ref.EXP],
                         ids=["identity", "logistic", "softmax", "exp"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
@pytest.mark.parametrize("chunk_rows", [31, 4], ids=["one_chunk", "ragged_chunks"])
def test_predict(hidden_name, hidden_code, out_code, dtype, sparse, chunk_rows):
    rng = np.random.default_rng(13)
    units = [5, 6, 3]
    n = 31
    X = make_X(rng, n, units[0], dtype, sparse)
    params = make_params(rng, units, dtype)
    out = np.full((n, units[-1]), np.nan, dtype=dtype)
    prediction.predict(input_args(X, dtype), network_args(params, units, hidden_code, out_code),
                       chunk_rows, out)
    assert_close(out, ref.predict(X, params, units, hidden_code, out_code), dtype)


def test_activation_offsets():
    units = np.array([7, 5, 4, 3], dtype=np.int64)
    np.testing.assert_array_equal(layers.activation_offsets(units, 6), act_offsets(units, 6))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_reference_matches_sklearn_backprop():
    """The reference itself reproduces scikit-learn's ``_backprop`` (loss and
    packed gradient) so that agreeing with it means agreeing with scikit-learn."""
    from sklearn.neural_network import MLPClassifier as SkMLP

    rng = np.random.default_rng(14)
    X = rng.standard_normal((15, 4))
    y = rng.integers(0, 3, 15)
    sw = make_sw(rng, 15)
    sk = SkMLP(hidden_layer_sizes=(5, 3), activation="tanh", alpha=0.2, max_iter=1,
               solver="lbfgs").fit(X, y)
    units = [4, 5, 3, 3]
    params = make_params(rng, units, np.float64)
    Y = np.eye(3)[y]
    n_layers = len(units)
    acts = [X] + [None] * (n_layers - 1)
    sk_loss, sk_grad = sk._loss_grad_lbfgs(
        params, X, Y, sw, acts, [None] * (n_layers - 1),
        [np.empty((a, b)) for a, b in itertools.pairwise(units)],
        [np.empty(b) for b in units[1:]])
    loss, grad = ref.loss_grad(X, Y, sw, params, units, ref.TANH, ref.LOG_LOSS, 0.2,
                               float(np.finfo(np.float64).eps))
    assert_close(loss, sk_loss, np.float64)
    assert_close(grad, sk_grad, np.float64)
