"""Every CUDA kernel against its NumPy twin, on shapes that span several thread
blocks of the shrunk test tile (4 x 4, and 3 x 3 where reductions meet a block
size that is not a power of two). Buffers carry offsets and sentinels so that
the flat-layout index arithmetic is checked too."""

import zlib
from collections import namedtuple

import numpy as np
import pytest

from fastmlp import config, spec
from fastmlp.kernels import cuda_layers as kern
from fastmlp.kernels import optimizers
from fastmlp.kernels.bundles import (
    Block,
    DeviceScratch,
    Hyper,
    Net,
    Solver,
    Targets,
    loss_spec,
)
from fastmlp.kernels.cuda_layers import Operand

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
NEEDS_PRE = tuple(kind.code for kind in spec.ACTIVATIONS.values() if kind.needs_pre)
LOSSES = ref.LOSS_CODES


@pytest.fixture
def tile3(monkeypatch):
    monkeypatch.setattr(config, "CUDA_TILE", 3)
    return 3


def rng_for(*keys):
    """A generator seeded from the test's parameters (stable across processes)."""
    return np.random.default_rng(zlib.crc32(repr(keys).encode()))


def random(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def device_net(params, units, coef_off, inter_off, n_coef, hidden_code, out_code):
    """A ``Net`` as the launchers take it: the host buffer ``params`` on the device,
    the layout (any offsets into it) as host int64 arrays."""
    return Net(to_device(params), np.asarray(units, dtype=np.int64),
               np.asarray(coef_off, dtype=np.int64), np.asarray(inter_off, dtype=np.int64),
               int(n_coef), hidden_code, out_code)


def packed_net(params, units, hidden_code, out_code):
    """A ``Net`` of the packed layout of ``units`` (``reference.layout``)."""
    coef_slices, _, inter_slices, n_coef, n_params = ref.layout(units)
    assert params.size == n_params
    return device_net(params, units, [s.start for s in coef_slices],
                      [s.start for s in inter_slices], n_coef, hidden_code, out_code)


def other_code(code):
    """An activation code other than ``code``: the code of a layer the launcher
    must not read it for."""
    return ref.TANH if code == ref.RELU else ref.RELU


def scratch_at(acts, deltas, act_off, capacity):
    """A ``DeviceScratch`` built by hand: the host buffers ``acts`` / ``deltas``
    (sentinels where nothing is expected) on the device, layer ``i`` at
    ``act_off[i]`` (the total last), and a one-slot ``xbuf`` no launcher here reads."""
    assert acts.shape == deltas.shape and len(acts) >= act_off[-1]
    return DeviceScratch(to_device(acts), to_device(deltas),
                         to_device(flat_buffer({}, acts.dtype, 1)), tuple(act_off), capacity)


LossSums = namedtuple("LossSums", "total weight_sum epoch batch")
"""The loss-sums slots (``kern.TOTAL`` ... ``kern.BATCH``), on the host."""
SLOTS = (kern.TOTAL, kern.WEIGHT_SUM, kern.EPOCH, kern.BATCH)


def loss_sums(total=0.0, weight_sum=0.0, epoch=0.0, batch=0.0):
    """The loss-sums device array holding the given values in their slots."""
    values = np.zeros(kern.N_SUMS)
    values[list(SLOTS)] = (total, weight_sum, epoch, batch)
    return to_device(values)


def host_sums(sums):
    """The slots of a device loss-sums array, as a ``LossSums`` of floats."""
    values = sums.copy_to_host()
    return LossSums(*(float(values[slot]) for slot in SLOTS))


def run_forward(dtype, code, rng):
    A = random(rng, (ROWS, N_IN), dtype)
    W = random(rng, (N_IN, N_OUT), dtype)
    b = random(rng, N_OUT, dtype)
    a_off, w_off, c_off = 3, 5, 2
    b_off = w_off + W.size + 1
    A_buf = flat_buffer({a_off: A}, dtype, a_off + A.size + 4)
    # a one-layer network whose W and b sit at offsets of its parameter buffer
    net = device_net(flat_buffer({w_off: W, b_off: b}, dtype, b_off + N_OUT + 2),
                     [N_IN, N_OUT], [w_off], [b_off], W.size, other_code(code), code)
    size = c_off + ROWS * N_OUT + 5
    scratch = scratch_at(flat_buffer({}, dtype, size), flat_buffer({}, dtype, size),
                         (c_off, c_off + ROWS * N_OUT), ROWS)
    kern.forward_layer(net, 0, Operand(to_device(A_buf), a_off, N_IN, False), ROWS, scratch)
    C = scratch.acts.copy_to_host()
    assert untouched(C, c_off, ROWS * N_OUT)
    assert untouched(scratch.deltas.copy_to_host(), 0, 0)  # no pre-activations kept
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
    """With ``keep_pre``, Z = A @ W + b of a hidden layer is also written to the
    deltas buffer at the layer's offset (and nowhere else)."""
    rng = rng_for("forward-pre", np.dtype(dtype).name)
    A = random(rng, (ROWS, N_IN), dtype)
    units = [N_IN, N_OUT, 2]
    params = random(rng, ref.n_params_of(units), dtype)
    # layer 0 is a GELU hidden layer; the output layer's code must not be used for it
    net = packed_net(params, units, ref.GELU, ref.IDENTITY)
    (W, _), (b, _) = ref.unpack(params, units)
    act_off = (1, 1 + ROWS * N_OUT, 1 + ROWS * N_OUT + ROWS * 2)
    scratch = scratch_at(flat_buffer({}, dtype, act_off[-1]), flat_buffer({}, dtype, act_off[-1]),
                         act_off, ROWS)
    kern.forward_layer(net, 0, Operand(to_device(A.ravel()), 0, N_IN, False), ROWS, scratch,
                       keep_pre=True)
    Z = A.astype(np.float64) @ W + b
    got_pre, got_C = scratch.deltas.copy_to_host(), scratch.acts.copy_to_host()
    assert untouched(got_pre, 1, ROWS * N_OUT)
    assert untouched(got_C, 1, ROWS * N_OUT)
    assert_close(got_pre[1 : 1 + ROWS * N_OUT].reshape(ROWS, N_OUT), Z, dtype)
    assert_close(got_C[1 : 1 + ROWS * N_OUT].reshape(ROWS, N_OUT), ref.activate(Z, ref.GELU),
                 dtype)


def run_weight_grad(dtype, accumulate, rng):
    A = random(rng, (ROWS, N_IN), dtype)
    D = random(rng, (ROWS, N_OUT), dtype)
    gW0 = random(rng, (N_IN, N_OUT), dtype)
    gb0 = random(rng, N_OUT, dtype)
    w_off, b_off = 1, 1 + N_IN * N_OUT + 3
    size = b_off + N_OUT + 2
    grad = to_device(flat_buffer({w_off: gW0, b_off: gb0}, dtype, size))
    # one layer, its coefficients and intercepts at w_off / b_off of the flat vector
    net = device_net(flat_buffer({}, dtype, size), [N_IN, N_OUT], [w_off], [b_off],
                     gW0.size, ref.TANH, ref.IDENTITY)
    d_off = 4
    deltas = flat_buffer({d_off: D}, dtype, d_off + D.size)
    scratch = scratch_at(flat_buffer({}, dtype, deltas.size), deltas, (d_off, deltas.size),
                         ROWS)
    kern.weight_grad(net, 0, Operand(to_device(flat_buffer({2: A}, dtype, 2 + A.size)), 2,
                                     N_IN, False),
                     ROWS, scratch, grad, accumulate)
    grad = grad.copy_to_host()
    gW = A.T.astype(np.float64) @ D + (gW0 if accumulate else 0)
    gb = D.sum(axis=0, dtype=np.float64) + (gb0 if accumulate else 0)
    assert_close(grad[w_off : w_off + gW.size].reshape(N_IN, N_OUT), gW, dtype)
    assert_close(grad[b_off : b_off + N_OUT], gb, dtype)
    assert grad[0] == twin.SENTINEL and np.all(grad[w_off + gW.size : b_off] == twin.SENTINEL)
    assert np.all(grad[b_off + N_OUT :] == twin.SENTINEL)
    np.testing.assert_array_equal(scratch.deltas.copy_to_host(), deltas)  # read only
    assert untouched(scratch.acts.copy_to_host(), 0, 0)  # the input is ``source``


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("accumulate", [False, True])
def test_weight_grad(dtype, accumulate):
    """dW = A.T @ D and db = sum_rows D, written or added into the flat gradient."""
    run_weight_grad(dtype, accumulate, rng_for("wgrad", accumulate, np.dtype(dtype).name))


def test_weight_grad_accumulates_tile3(tile3):
    run_weight_grad(np.float64, True, rng_for("wgrad3"))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("code", HIDDEN)
def test_backprop_delta(dtype, code):
    """D_prev = (D @ W.T) * f'(A_prev), with A_prev = f(Z) a real activation output
    (and Z waiting in D_prev's slot for the activations whose f' needs it)."""
    rng = rng_for("backprop", code, np.dtype(dtype).name)
    D = random(rng, (ROWS, N_OUT), dtype)
    W = random(rng, (N_IN, N_OUT), dtype)
    W0 = random(rng, (2, N_IN), dtype)
    Z = random(rng, (ROWS, N_IN), dtype)
    A_prev = ref.activate(Z.astype(np.float64), code).astype(dtype)
    # layer 1 of a network of widths (2, N_IN, N_OUT): its W at offset 5, layer 0's
    # coefficients (which it must not read) after it
    w0_off = 5 + W.size
    b_off = w0_off + W0.size
    params = flat_buffer({5: W, w0_off: W0}, dtype, b_off + N_IN + N_OUT)
    net = device_net(params, [2, N_IN, N_OUT], [w0_off, 5], [b_off, b_off + N_IN],
                     W.size + W0.size, code, other_code(code))
    prev_off = 3
    d_off = prev_off + A_prev.size + 2
    acts = flat_buffer({prev_off: A_prev}, dtype, d_off + D.size)
    blocks = {d_off: D}
    if code in NEEDS_PRE:
        blocks[prev_off] = Z
    deltas = flat_buffer(blocks, dtype, d_off + D.size)
    scratch = scratch_at(acts, deltas, (prev_off, d_off, d_off + D.size), ROWS)
    kern.backprop_delta(net, 1, ROWS, scratch)
    got_deltas = scratch.deltas.copy_to_host()
    got = got_deltas[prev_off : prev_off + A_prev.size].reshape(ROWS, N_IN)
    expected = (D.astype(np.float64) @ W.T) * ref.derivative(A_prev.astype(np.float64), code,
                                                             Z.astype(np.float64))
    assert_close(got, expected, dtype)
    np.testing.assert_array_equal(got_deltas[d_off:], D.ravel())  # read only
    assert untouched(got_deltas[:d_off], prev_off, A_prev.size)
    np.testing.assert_array_equal(scratch.acts.copy_to_host(), acts)


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
    n, rows, cols, start = 45, 37, 3, 5
    Y = make_targets(rng, loss_code, n, cols, dtype)
    sw = rng.uniform(0.5, 2.0, n) if weighted else None
    order = rng.permutation(n).astype(np.int64)
    idx = np.arange(start, start + rows) if contiguous else order[start : start + rows]
    P = make_outputs(rng, loss_code, rows, cols, dtype)
    softmax = loss_code == ref.LOG_LOSS
    # a network of widths (N_IN, 2, cols): the output layer is layer 1, its block
    # at off = act_off[1] (after the hidden layer's, which stays untouched)
    units = [N_IN, 2, cols]
    net = packed_net(np.zeros(ref.n_params_of(units), dtype), units, ref.TANH,
                     ref.OUTPUT_OF_LOSS[loss_code])
    off = 1 + rows * 2 + 1
    act_off = (1, off, off + P.size)
    scratch = scratch_at(flat_buffer({off: P}, dtype, off + P.size + 3),
                         flat_buffer({}, dtype, off + P.size + 3), act_off, rows)
    assert kern.output_offset(net, scratch) == off
    sums0 = LossSums(1.5, 2.5, -3.0, -4.0)
    sums = loss_sums(*sums0)
    targets = Targets(to_device(Y), to_device(sw if weighted else np.ones(1)), weighted)
    loss = loss_spec(loss_code, dtype, 0.0)
    kern.output_delta(net, scratch, targets,
                      Block(to_device(order), start, start + rows, contiguous), loss, sums,
                      accumulate)
    P_ref = ref.activate(P.astype(np.float64), ref.SOFTMAX).astype(dtype) if softmax else P
    delta, total, weight_sum = ref.output_delta(P_ref, Y[idx], None if sw is None else sw[idx],
                                                loss_code, loss.eps)
    got_P = scratch.acts.copy_to_host()
    got_D = scratch.deltas.copy_to_host()
    assert_close(got_P[off : off + P.size].reshape(rows, cols), P_ref, dtype)
    assert untouched(got_P, off, P.size)
    assert_close(got_D[off : off + P.size].reshape(rows, cols), delta, dtype)
    assert untouched(got_D, off, P.size)
    got_sums = host_sums(sums)
    base = sums0 if accumulate else LossSums(0.0, 0.0, 0.0, 0.0)
    assert_close([got_sums.total, got_sums.weight_sum],
                 [base.total + total, base.weight_sum + weight_sum], dtype)
    assert (got_sums.epoch, got_sums.batch) == (sums0.epoch, sums0.batch)  # not its own


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
           "none": (ref.NO_UPDATE, 0.0)}
# 38 coefficients and 12 intercepts: 50 parameters, 4 blocks of 16 threads
STEP_UNITS = [9, 2, 10]


def run_finish_and_step(dtype, solver_name, rng):
    code, nesterov = SOLVERS[solver_name]
    n_params, n_coef = ref.n_params_of(STEP_UNITS), ref.n_coef_of(STEP_UNITS)
    assert (n_params, n_coef) == (50, 38)
    weight_sum, alpha, step = 7.5, 0.01, 3
    hyper = (0.05, 0.9, nesterov, 0.9, 0.999, 1e-8)
    bundle_hyper = Hyper(*hyper[:2], bool(nesterov), *hyper[3:])
    params = random(rng, n_params, dtype)
    grad = random(rng, n_params, dtype)
    state = [random(rng, n_params, dtype) for _ in range(max(1, ref.STATE_ROWS[code]))]
    if code == ref.ADAM:
        state[1] = np.abs(state[1])
    # the step size as the backend computes it: on the host, counting update `step`
    host_solver = Solver(code, bundle_hyper, np.array(state), np.array([step - 1]))
    lr_t = optimizers.advance_step(host_solver)
    if code == ref.ADAM:
        assert host_solver.step[0] == step
        assert lr_t == optimizers.adam_step_size(bundle_hyper, step)
    net = packed_net(params, STEP_UNITS, ref.TANH, ref.IDENTITY)
    d_grad = to_device(grad)
    d_state = to_device(np.array(state))
    sums0 = LossSums(12.5, weight_sum, 3.25, 1.5)
    sums = loss_sums(*sums0)
    partial = to_device(np.zeros(kern.linear_blocks(n_params)))
    blocks = kern.finish_and_step(net, d_grad, loss_spec(ref.SQUARED_ERROR, dtype, alpha), sums,
                                  Solver(code, bundle_hyper, d_state, None), lr_t, partial)
    assert blocks == kern.linear_blocks(n_params) >= 4
    e_params, e_grad, e_state, squares = twin.finish_and_step(
        params, grad, n_coef, alpha, weight_sum, code, state, hyper, step)
    assert_close(d_grad.copy_to_host(), e_grad, dtype)
    assert_close(net.params.copy_to_host(), e_params, dtype)
    assert_close(d_state.copy_to_host(), np.array(e_state), dtype)
    assert_close(partial.copy_to_host().sum(), squares, dtype)
    assert host_sums(sums) == sums0  # read only


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver_name", list(SOLVERS))
def test_finish_and_step(dtype, solver_name):
    """grad = (grad + alpha W) / sum w (coefficients), grad / sum w (intercepts), then
    the optimizer step; per-block sums of W^2."""
    run_finish_and_step(dtype, solver_name, rng_for("update", solver_name,
                                                    np.dtype(dtype).name))


def test_finish_and_step_tile3(tile3):
    run_finish_and_step(np.float64, "adam", rng_for("update3"))


def test_finish_and_step_refuses_a_short_partial(monkeypatch):
    """``partial`` sized for the test tile is too short once the tile shrinks."""
    net = packed_net(np.zeros(ref.n_params_of(STEP_UNITS)), STEP_UNITS, ref.TANH,
                     ref.IDENTITY)
    partial = to_device(np.zeros(kern.linear_blocks(net.params.shape[0])))
    monkeypatch.setattr(config, "CUDA_TILE", 3)
    solver = Solver(ref.NO_UPDATE, optimizers.NO_HYPER, to_device(np.zeros((1, 1))), None)
    with pytest.raises(ValueError, match="partial has 4 slots, the launch needs 6"):
        kern.finish_and_step(net, to_device(np.zeros(net.params.shape[0])),
                             loss_spec(ref.SQUARED_ERROR, np.float64, 0.0), loss_sums(1.0, 1.0),
                             solver, 0.0, partial)


@pytest.mark.parametrize("first", [True, False])
@pytest.mark.parametrize("loss_code", [ref.SQUARED_ERROR, ref.LOG_LOSS])
def test_book_loss(first, loss_code):
    """Batch loss = data loss + alpha/2 sum W^2 / sum w; the epoch sum adds loss * rows."""
    rng = rng_for("finish", first, loss_code)
    partial = rng.uniform(0, 1, 40)  # more partial sums than threads
    total, weight_sum, previous, alpha, rows, n_outputs = 12.5, 9.0, 3.25, 0.01, 9, 2
    sums = loss_sums(total, weight_sum, previous, -1.0)
    kern.book_loss(to_device(partial), partial.size, sums, loss_spec(loss_code, np.float64, alpha),
                   n_outputs, rows, first)
    loss, epoch = twin.book_loss(total, weight_sum, partial.sum(), loss_code, n_outputs,
                                 alpha, rows, 0.0 if first else previous)
    got = host_sums(sums)
    assert_close(got.batch, loss, np.float64)
    assert_close(got.epoch, epoch, np.float64)
    assert (got.total, got.weight_sum) == (total, weight_sum)  # read only


def test_book_loss_non_finite_is_sticky(tile3):
    """A non-finite batch loss turns the epoch loss into NaN for the rest of the epoch."""
    sums = loss_sums(np.inf, 2.0, 5.0)
    partial = to_device(np.ones(5))
    loss = loss_spec(ref.SQUARED_ERROR, np.float64, 0.0)
    kern.book_loss(partial, 5, sums, loss, 1, 4, False)
    assert np.isnan(host_sums(sums).epoch)
    sums.copy_to_device(loss_sums(1.0, 2.0, np.nan).copy_to_host())
    kern.book_loss(partial, 5, sums, loss, 1, 4, False)
    got = host_sums(sums)
    assert np.isnan(got.epoch) and np.isfinite(got.batch)


def test_device_scratch_and_loss_sums():
    """``device_scratch`` lays the layers out one after another, ``capacity`` rows
    each; ``loss_sums`` starts at zero; ``output_offset`` is the last layer's."""
    units = np.array([5, 6, 4, 3], dtype=np.int64)
    for dtype in DTYPES:
        for input_rows, xbuf_size in ((True, 7 * 5), (False, 1)):
            scratch = kern.device_scratch(units, dtype, 7, input_rows)
            assert scratch.act_off == (0, 42, 70, 91) and scratch.capacity == 7
            for buf, size in ((scratch.acts, 91), (scratch.deltas, 91),
                              (scratch.xbuf, xbuf_size)):
                assert buf.shape == (size,) and buf.dtype == dtype
            assert scratch.acts is not scratch.deltas
            net = Net(None, units, None, None, 0, ref.TANH, ref.IDENTITY)
            assert kern.output_offset(net, scratch) == 70
    sums = kern.loss_sums()
    assert sums.shape == (kern.N_SUMS,) and sums.dtype == np.float64
    assert host_sums(sums) == LossSums(0.0, 0.0, 0.0, 0.0)


@pytest.mark.parametrize("hidden,accumulate,dtype", [(ref.GELU, False, np.float64),
                                                     (ref.TANH, True, np.float32)])
def test_forward_and_backward(hidden, accumulate, dtype):
    """The per-layer loops over a whole network, in a ``device_scratch`` with spare
    capacity, from input rows at an offset: every layer's outputs (and, for an
    activation whose f' needs z, the pre-activations kept by ``training``), then
    the gradient sums of ``backward`` from a given output delta."""
    rng = rng_for("network", hidden, accumulate)
    units, rows, capacity, x_off = [5, 6, 4, 3], ROWS, ROWS + 2, 2
    X = random(rng, (rows, units[0]), dtype)
    params = (0.5 * random(rng, ref.n_params_of(units), dtype)).astype(dtype)
    net = packed_net(params, units, hidden, ref.LOGISTIC)
    scratch = kern.device_scratch(net.units, dtype, capacity, False)
    for buf in (scratch.acts, scratch.deltas):
        buf.copy_to_device(flat_buffer({}, dtype, buf.shape[0]))
    x = Operand(to_device(flat_buffer({x_off: X}, dtype, x_off + X.size + 3)), x_off, units[0],
                False)
    kern.forward(net, x, rows, scratch, training=True)
    expected_acts = ref.forward(X, params, units, hidden, ref.LOGISTIC)
    coefs, intercepts = ref.unpack(params, units)
    acts, deltas = scratch.acts.copy_to_host(), scratch.deltas.copy_to_host()
    for i, expected in enumerate(expected_acts):
        off, width = scratch.act_off[i], units[i + 1]
        block = slice(off, off + rows * width)
        assert_close(acts[block].reshape(rows, width), expected, dtype)
        if hidden in NEEDS_PRE and i < len(expected_acts) - 1:  # z kept for backward
            A_in = X if i == 0 else expected_acts[i - 1]
            Z = A_in.astype(np.float64) @ coefs[i] + intercepts[i]
            assert_close(deltas[block].reshape(rows, width), Z, dtype)
        else:
            assert np.all(deltas[block] == twin.SENTINEL)
        spare = slice(block.stop, scratch.act_off[i + 1])  # rows beyond ``rows``
        assert np.all(acts[spare] == twin.SENTINEL) and np.all(deltas[spare] == twin.SENTINEL)

    delta_out = random(rng, (rows, units[-1]), dtype)
    out = kern.output_offset(net, scratch)
    scratch.deltas[out : out + delta_out.size].copy_to_device(delta_out.ravel())
    grad0 = random(rng, params.size, dtype)
    grad = to_device(grad0)
    kern.backward(net, x, rows, scratch, grad, accumulate)
    expected_grad, _ = ref.backward(X, params, units, expected_acts, delta_out, hidden)
    assert_close(grad.copy_to_host(), expected_grad + (grad0 if accumulate else 0), dtype)


def test_tile_is_validated_and_read_at_launch(tile3):
    with pytest.raises(ValueError, match="tile"):
        config.check_cuda_tile(config.CUDA_TILE_MAX + 1)
    assert kern.threads_per_block() == 9
