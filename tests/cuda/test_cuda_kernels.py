"""Every CUDA kernel against its NumPy twin, on shapes that span several thread
blocks of the shrunk test tile (4 x 4, and 3 x 3 where reductions meet a block
size that is not a power of two). Buffers carry offsets and sentinels so that
the flat-layout index arithmetic is checked too."""

import zlib

import numpy as np
import pytest

from fastmlp import config
from fastmlp.kernels import cuda_layers as kern
from fastmlp.kernels import optimizers
from fastmlp.kernels.bundles import Block, Hyper, LossSpec, Targets

import cuda_twins as twin
import reference as ref
from cuda_twins import (
    DTYPES,
    assert_close,
    flat_buffer,
    to_device,
    untouched,
)

ROWS, N_IN, N_OUT = 9, 7, 6  # with tile 4: 3 x 2 output blocks, 2-3 tiles along k
HIDDEN = list(ref.HIDDEN_ACTIVATIONS.values())
NEEDS_PRE = (ref.GELU, ref.SILU)
LOSSES = [ref.SQUARED_ERROR, ref.POISSON, ref.LOG_LOSS, ref.BINARY_LOG_LOSS]


@pytest.fixture
def tile3(monkeypatch):
    monkeypatch.setattr(config, "CUDA_TILE", 3)
    return 3


def rng_for(*keys):
    """A generator seeded from the test's parameters (stable across processes)."""
    return np.random.default_rng(zlib.crc32(repr(keys).encode()))


def random(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def run_forward(dtype, code, rng):
    A = random(rng, (ROWS, N_IN), dtype)
    W = random(rng, (N_IN, N_OUT), dtype)
    b = random(rng, N_OUT, dtype)
    a_off, w_off, c_off = 3, 5, 2
    b_off = w_off + W.size + 1
    A_buf = flat_buffer({a_off: A}, dtype, a_off + A.size + 4)
    P_buf = flat_buffer({w_off: W, b_off: b}, dtype, b_off + N_OUT + 2)
    C = to_device(flat_buffer({}, dtype, c_off + ROWS * N_OUT + 5))
    kern.forward_layer(to_device(A_buf), a_off, ROWS, N_IN, to_device(P_buf), w_off, b_off,
                       N_OUT, code, C, c_off)
    C = C.copy_to_host()
    assert untouched(C, c_off, ROWS * N_OUT)
    expected_code = ref.IDENTITY if code == ref.SOFTMAX else code
    expected = ref.bias_activate(A.astype(np.float64) @ W, b, expected_code)
    assert_close(C[c_off : c_off + ROWS * N_OUT].reshape(ROWS, N_OUT), expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("code", HIDDEN + [ref.EXP, ref.SOFTMAX])
def test_forward_layer(dtype, code):
    """C = f(A @ W + b) (softmax layers: A @ W + b, normalised later)."""
    run_forward(dtype, code, rng_for("forward", code, np.dtype(dtype).name))


def test_forward_layer_tile3(tile3):
    run_forward(np.float64, ref.TANH, rng_for("forward3"))


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_layer_keeps_pre_activations(dtype):
    """With ``pre``, Z = A @ W + b is also written there (and nowhere else)."""
    rng = rng_for("forward-pre", np.dtype(dtype).name)
    A = random(rng, (ROWS, N_IN), dtype)
    W = random(rng, (N_IN, N_OUT), dtype)
    b = random(rng, N_OUT, dtype)
    params = to_device(flat_buffer({0: W, W.size: b}, dtype, W.size + N_OUT))
    C = to_device(flat_buffer({}, dtype, 1 + ROWS * N_OUT))
    pre = to_device(flat_buffer({}, dtype, 1 + ROWS * N_OUT))
    kern.forward_layer(to_device(A.ravel()), 0, ROWS, N_IN, params, 0, W.size, N_OUT,
                       ref.GELU, C, 1, pre)
    Z = A.astype(np.float64) @ W + b
    got_pre, got_C = pre.copy_to_host(), C.copy_to_host()
    assert untouched(got_pre, 1, ROWS * N_OUT)
    assert_close(got_pre[1:].reshape(ROWS, N_OUT), Z, dtype)
    assert_close(got_C[1:].reshape(ROWS, N_OUT), ref.activate(Z, ref.GELU), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("accumulate", [False, True])
def test_weight_grad(dtype, accumulate):
    """dW = A.T @ D and db = sum_rows D, written or added into the flat gradient."""
    rng = rng_for("wgrad", accumulate, np.dtype(dtype).name)
    A = random(rng, (ROWS, N_IN), dtype)
    D = random(rng, (ROWS, N_OUT), dtype)
    gW0 = random(rng, (N_IN, N_OUT), dtype)
    gb0 = random(rng, N_OUT, dtype)
    w_off, b_off = 1, 1 + N_IN * N_OUT + 3
    grad = to_device(flat_buffer({w_off: gW0, b_off: gb0}, dtype, b_off + N_OUT + 2))
    kern.weight_grad(to_device(flat_buffer({2: A}, dtype, 2 + A.size)), 2, ROWS, N_IN,
                     to_device(flat_buffer({4: D}, dtype, 4 + D.size)), 4, N_OUT, grad, w_off,
                     b_off, accumulate)
    grad = grad.copy_to_host()
    gW = A.T.astype(np.float64) @ D + (gW0 if accumulate else 0)
    gb = D.sum(axis=0, dtype=np.float64) + (gb0 if accumulate else 0)
    assert_close(grad[w_off : w_off + gW.size].reshape(N_IN, N_OUT), gW, dtype)
    assert_close(grad[b_off : b_off + N_OUT], gb, dtype)
    assert grad[0] == twin.SENTINEL and np.all(grad[w_off + gW.size : b_off] == twin.SENTINEL)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("code", HIDDEN)
def test_backprop_delta(dtype, code):
    """D_prev = (D @ W.T) * f'(A_prev), with A_prev = f(Z) a real activation output
    (and Z waiting in D_prev's slot for the activations whose f' needs it)."""
    rng = rng_for("backprop", code, np.dtype(dtype).name)
    D = random(rng, (ROWS, N_OUT), dtype)
    W = random(rng, (N_IN, N_OUT), dtype)
    Z = random(rng, (ROWS, N_IN), dtype)
    A_prev = ref.activate(Z.astype(np.float64), code).astype(dtype)
    prev_off = 3
    acts = to_device(flat_buffer({prev_off: A_prev}, dtype, prev_off + A_prev.size + 2))
    blocks = {prev_off + A_prev.size + 2: D}
    if code in NEEDS_PRE:
        blocks[prev_off] = Z
    deltas = to_device(flat_buffer(blocks, dtype, prev_off + A_prev.size + 2 + D.size))
    kern.backprop_delta(deltas, prev_off + A_prev.size + 2, ROWS, N_OUT,
                        to_device(flat_buffer({5: W}, dtype, 5 + W.size)), 5, N_IN, acts,
                        prev_off, code, deltas)
    got = deltas.copy_to_host()[prev_off : prev_off + A_prev.size].reshape(ROWS, N_IN)
    expected = (D.astype(np.float64) @ W.T) * ref.derivative(A_prev.astype(np.float64), code,
                                                             Z.astype(np.float64))
    assert_close(got, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gather_rows(dtype):
    rng = rng_for("gather", np.dtype(dtype).name)
    X = random(rng, (15, N_IN), dtype)
    order = rng.permutation(15).astype(np.int64)
    xbuf = to_device(flat_buffer({}, dtype, ROWS * N_IN + 3))
    kern.gather_rows(to_device(X.ravel()), N_IN, to_device(order), 4, ROWS, xbuf)
    got = xbuf.copy_to_host()
    np.testing.assert_array_equal(got[: ROWS * N_IN].reshape(ROWS, N_IN), X[order[4:4 + ROWS]])
    assert untouched(got, 0, ROWS * N_IN)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_rows(dtype):
    rng = rng_for("softmax", np.dtype(dtype).name)
    rows, cols, off = 37, 5, 4  # 37 rows: three blocks of 16 threads
    Z = 3 * random(rng, (rows, cols), dtype)
    buf = to_device(flat_buffer({off: Z}, dtype, off + Z.size + 2))
    kern.softmax_rows(buf, off, rows, cols)
    got = buf.copy_to_host()
    assert_close(got[off : off + Z.size].reshape(rows, cols),
                 ref.activate(Z.astype(np.float64), ref.SOFTMAX), dtype)
    assert untouched(got, off, Z.size)


def make_targets(rng, loss_code, n, cols, dtype):
    if loss_code == ref.SQUARED_ERROR:
        Y = rng.standard_normal((n, cols))
    elif loss_code == ref.POISSON:
        Y = rng.poisson(1.5, (n, cols)).astype(float)
    elif loss_code == ref.LOG_LOSS:
        Y = np.eye(cols)[rng.integers(0, cols, n)]
    else:
        Y = (rng.random((n, cols)) < 0.5).astype(float)
    return Y.astype(dtype)


def make_outputs(rng, loss_code, rows, cols, dtype):
    """Output activations in the loss's range (log-loss: logits, the kernel normalises)."""
    Z = rng.standard_normal((rows, cols))
    if loss_code == ref.POISSON:
        Z = np.exp(Z)
    elif loss_code == ref.BINARY_LOG_LOSS:
        Z = ref.activate(Z, ref.LOGISTIC)
        Z[0, 0] = 1.0  # exercises the clipping at 1 - eps
    return Z.astype(dtype)


def run_output_delta(dtype, loss_code, weighted, contiguous, rng, accumulate=False):
    n, rows, cols, start, off = 45, 37, 3, 5, 2
    Y = make_targets(rng, loss_code, n, cols, dtype)
    sw = rng.uniform(0.5, 2.0, n) if weighted else None
    order = rng.permutation(n).astype(np.int64)
    idx = np.arange(start, start + rows) if contiguous else order[start : start + rows]
    P = make_outputs(rng, loss_code, rows, cols, dtype)
    softmax = loss_code == ref.LOG_LOSS
    eps = float(np.finfo(dtype).eps)
    P_dev = to_device(flat_buffer({off: P}, dtype, off + P.size + 3))
    D_dev = to_device(flat_buffer({}, dtype, off + P.size + 3))
    scal0 = np.array([1.5, 2.5, 0.0, 0.0])
    scal = to_device(scal0)
    targets = Targets(to_device(Y), to_device(sw if weighted else np.ones(1)), weighted)
    kern.output_delta(P_dev, D_dev, off, cols, targets,
                      Block(to_device(order), start, start + rows, contiguous),
                      LossSpec(loss_code, eps, 0.0), softmax, scal, accumulate)
    P_ref = ref.activate(P.astype(np.float64), ref.SOFTMAX).astype(dtype) if softmax else P
    delta, total, weight_sum = ref.output_delta(P_ref, Y[idx], None if sw is None else sw[idx],
                                                loss_code, eps)
    got_P = P_dev.copy_to_host()
    got_D = D_dev.copy_to_host()
    assert_close(got_P[off : off + P.size].reshape(rows, cols), P_ref, dtype)
    assert_close(got_D[off : off + P.size].reshape(rows, cols), delta, dtype)
    assert untouched(got_D, off, P.size)
    got_scal = scal.copy_to_host()
    base = scal0 if accumulate else np.zeros(4)
    assert_close(got_scal[:2], base[:2] + [total, weight_sum], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss_code", LOSSES)
def test_output_delta(dtype, loss_code):
    """delta = w (p - y) and the loss sums; alternately weighted and gathered rows."""
    rng = rng_for("output", loss_code, np.dtype(dtype).name)
    run_output_delta(dtype, loss_code, weighted=loss_code % 2 == 0,
                     contiguous=loss_code < 2, rng=rng)


def test_output_delta_accumulates_tile3(tile3):
    run_output_delta(np.float64, ref.LOG_LOSS, True, False, rng_for("output3"),
                     accumulate=True)


SOLVERS = {"sgd": (ref.SGD, 1.0), "sgd-plain": (ref.SGD, 0.0), "adam": (ref.ADAM, 0.0),
           "none": (optimizers.NO_UPDATE, 0.0)}


def run_finalize_update(dtype, solver_name, rng):
    solver, nesterov = SOLVERS[solver_name]
    n_params, n_coef, weight_sum, alpha, step = 50, 38, 7.5, 0.01, 3  # 4 blocks of 16 threads
    hyper = (0.05, 0.9, nesterov, 0.9, 0.999, 1e-8)
    params = random(rng, n_params, dtype)
    grad = random(rng, n_params, dtype)
    state = [random(rng, n_params, dtype) for _ in range(2 if solver == ref.ADAM else 1)]
    if solver == ref.ADAM:
        state[1] = np.abs(state[1])
    lr_t = (optimizers.adam_step_size(Hyper(*hyper[:2], bool(nesterov), *hyper[3:]), step)
            if solver == ref.ADAM else hyper[0])
    d_params, d_grad = to_device(params), to_device(grad)
    d_state = to_device(np.array(state))
    partial = to_device(np.zeros(kern.linear_blocks(n_params)))
    blocks = kern.finalize_update(d_params, d_grad, n_coef, alpha,
                                  to_device(np.array([0.0, weight_sum, 0.0, 0.0])), solver,
                                  Hyper(*hyper[:2], bool(nesterov), *hyper[3:]), d_state,
                                  lr_t, partial)
    assert blocks == kern.linear_blocks(n_params) >= 4
    e_params, e_grad, e_state, squares = twin.finalize_update(
        params, grad, n_coef, alpha, weight_sum, solver, state, hyper, step)
    assert_close(d_grad.copy_to_host(), e_grad, dtype)
    assert_close(d_params.copy_to_host(), e_params, dtype)
    assert_close(d_state.copy_to_host(), np.array(e_state), dtype)
    assert_close(partial.copy_to_host().sum(), squares, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver_name", list(SOLVERS))
def test_finalize_update(dtype, solver_name):
    """grad = (grad + alpha W) / sum w (coefficients), grad / sum w (intercepts), then
    the optimizer step; per-block sums of W^2."""
    run_finalize_update(dtype, solver_name, rng_for("update", solver_name,
                                                    np.dtype(dtype).name))


def test_finalize_update_tile3(tile3):
    run_finalize_update(np.float64, "adam", rng_for("update3"))


@pytest.mark.parametrize("first", [True, False])
@pytest.mark.parametrize("loss_code", [ref.SQUARED_ERROR, ref.LOG_LOSS])
def test_finish_batch(first, loss_code):
    """Batch loss = data loss + alpha/2 sum W^2 / sum w; the epoch sum adds loss * rows."""
    rng = rng_for("finish", first, loss_code)
    partial = rng.uniform(0, 1, 40)  # more partial sums than threads
    total, weight_sum, previous, alpha, rows, n_outputs = 12.5, 9.0, 3.25, 0.01, 9, 2
    scal = to_device(np.array([total, weight_sum, previous, 0.0]))
    kern.finish_batch(to_device(partial), partial.size, scal, LossSpec(loss_code, 0.0, alpha),
                      n_outputs, rows, first)
    loss, epoch = twin.finish_batch(total, weight_sum, partial.sum(), loss_code, n_outputs,
                                    alpha, rows, 0.0 if first else previous)
    got = scal.copy_to_host()
    assert_close(got[kern.BATCH_LOSS], loss, np.float64)
    assert_close(got[kern.EPOCH_LOSS], epoch, np.float64)


def test_finish_batch_non_finite_is_sticky(tile3):
    """A non-finite batch loss turns the epoch loss into NaN for the rest of the epoch."""
    scal = to_device(np.array([np.inf, 2.0, 5.0, 0.0]))
    partial = to_device(np.ones(5))
    loss = LossSpec(ref.SQUARED_ERROR, 0.0, 0.0)
    kern.finish_batch(partial, 5, scal, loss, 1, 4, False)
    assert np.isnan(scal.copy_to_host()[kern.EPOCH_LOSS])
    scal.copy_to_device(np.array([1.0, 2.0, np.nan, 0.0]))
    kern.finish_batch(partial, 5, scal, loss, 1, 4, False)
    assert np.isnan(scal.copy_to_host()[kern.EPOCH_LOSS])


def test_tile_is_validated_and_read_at_launch(tile3):
    with pytest.raises(ValueError, match="tile"):
        config.check_cuda_tile(config.CUDA_TILE_MAX + 1)
    assert kern.threads_per_block() == 9
