"""numba.cuda kernels mirroring ``layers.py`` and ``optimizers.py``, their
launchers, and the per-layer loops of a network's forward and backward pass.

The launchers take the CPU's bundles: a ``Net`` (its ``params`` on the
device, its layout the host network's int64 arrays, read for launch
configurations), ``Targets``, ``Block``, ``LossSpec`` and ``Solver`` holding
device arrays, and the CUDA path's own ``DeviceScratch`` (``bundles.py``), and
the loss sums array (``loss_sums``). The kernels take arrays, scalars and
bundles of scalars: a bundle holding a device array is typed in Python on
every launch (a structured dtype costs 19 us per launch to type), and launch
cost is what bounds the GPU path at small batches -- so ``finish_and_step``
passes the ``Solver``'s fields, and the loss sums are one float64 array.

Same flat layouts as the CPU kernels: the parameter vector holds every coefficient
matrix (row-major) and then every intercept (``coef_off`` / ``inter_off``); the
activations and deltas of a block of at most ``capacity`` rows live in flat
buffers, layer ``i`` at ``act_off[i] : act_off[i] + rows * units[i + 1]``
(row-major, leading dimension ``units[i + 1]``). Every array argument of a
kernel is a flat 1-D device array except the targets ``Y`` (2-D) and the
optimizer ``state``.

The math is the CPU kernels' own: activations, ``softmax_row``,
``delta_and_loss``, ``accumulated_loss``, ``finished_gradient``,
``updated`` and the rest are the CPU helpers' Python source compiled as
device functions (``_device``); ``finish_and_step`` is the CPU's
``optimizers.finish_and_step`` with one thread per parameter.

Each kernel has a host-side launcher (same name without ``_kernel``) that computes
the launch configuration from the shapes and ``config.CUDA_TILE``: ``TILE`` x
``TILE`` threads per block for the matrix products and ``TILE ** 2`` threads for
the 1-D kernels. Kernels read the tile from ``blockDim`` and shared memory is
sized for the largest tile, so changing it needs no recompilation. Tests shrink
it so that tiny shapes still span several thread blocks.

Nothing is compiled at import; kernels compile on first launch and are cached on
disk (``cache=True``).
"""

import math
from collections import namedtuple
from types import FunctionType

import numba
import numpy as np
from numba import cuda, float64
from numba.core.dispatcher import Dispatcher

from .. import config
from ..spec import IDENTITY, NO_UPDATE, SOFTMAX
from . import activations, dropout, inputs, losses, optimizers
from .bundles import DeviceScratch
from .optimizers import cast_like


def _python(function):
    """A jitted helper as plain Python, the jitted helpers it calls included."""
    code = function.py_func.__code__
    names = dict(function.py_func.__globals__)
    for name in code.co_names:
        if isinstance(names.get(name), Dispatcher):
            names[name] = _python(names[name])
    return FunctionType(code, names, code.co_name, function.py_func.__defaults__)


def _device(function):
    """A CPU helper as a CUDA device function. Under the simulator it runs as
    Python all the way down: simulated threads must not call compiled CPU
    functions, whose dispatch depends on what was compiled before (a float32
    call can reuse a float64 specialisation)."""
    return cuda.jit(device=True)(_python(function) if numba.config.ENABLE_CUDASIM
                                 else function.py_func)


activate = _device(activations.activate)
derivative = _device(activations.derivative)
needs_pre = _device(activations.needs_pre)
softmax_row = _device(activations.softmax_row)
row_index = _device(inputs.row_index)
delta_and_loss = _device(losses.delta_and_loss)
accumulated_loss = _device(losses.accumulated_loss)
batch_loss = _device(losses.batch_loss)
finished_gradient = _device(optimizers.finished_gradient)
typed_hyper = _device(optimizers.typed_hyper)
updated = _device(optimizers.updated)
row_keys = _device(dropout.row_keys)
unit_kept = _device(dropout.unit_kept)

TILE_MAX = config.CUDA_TILE_MAX
MAX_THREADS = TILE_MAX * TILE_MAX
# Row length of the shared tiles: one padding column keeps column-wise writes
# free of bank conflicts (a module constant, as shared-array shapes must be).
TILE_ROW = TILE_MAX + 1

# Epilogues of the tiled matrix product.
FORWARD = 0  # C = f(op(A) @ op(B) + b)
WEIGHT_GRAD = 1  # C = op(A) @ op(B), plus a row of ones in op(A) for the bias gradient
BACKPROP = 2  # C = (op(A) @ op(B)) * f'(aux)

Operand = namedtuple("Operand", "M off ld trans")
"""A matrix in a flat buffer: ``op(M)[r, c] = M[off + r * ld + c]``, or
``M[off + c * ld + r]`` when ``trans``."""

Epilogue = namedtuple("Epilogue", "kind extra_off aux code accumulate keep_pre")
"""What ``gemm_kernel`` does with each product element (see ``gemm``)."""

# Named slots of the float64 loss-sums array (``loss_sums``).
TOTAL = 0  # sum_rows w * loss_row of the current block(s)
WEIGHT_SUM = 1  # sum_rows w of the current block(s)
EPOCH = 2  # sum over batches of batch loss x batch rows (NaN once not finite)
BATCH = 3  # regularised mean loss of the last finished batch (the L-BFGS objective)
CLIP = 4  # the factor min(1, c / (||g|| + 1e-6)) of gradient clipping
N_SUMS = 5


def threads_per_block():
    """Threads per block of the 1-D kernels: ``config.CUDA_TILE ** 2``."""
    return config.CUDA_TILE * config.CUDA_TILE


def linear_blocks(n):
    """Blocks of ``threads_per_block()`` threads that cover ``n`` elements (at least 1)."""
    tpb = threads_per_block()
    return max(1, (n + tpb - 1) // tpb)


def device_scratch(units, dtype, capacity, input_rows):
    """A ``DeviceScratch`` for blocks of at most ``capacity`` rows of a network of
    layer widths ``units``; ``xbuf`` holds ``capacity`` input rows only when
    ``input_rows`` (else one element)."""
    widths = [int(u) for u in units[1:]]
    act_off = tuple(capacity * sum(widths[:i]) for i in range(len(widths) + 1))
    acts = cuda.device_array(max(1, act_off[-1]), dtype=dtype)
    xbuf = cuda.device_array(capacity * int(units[0]) if input_rows else 1, dtype=dtype)
    return DeviceScratch(acts=acts, deltas=cuda.device_array_like(acts), xbuf=xbuf,
                         act_off=act_off, capacity=capacity)


def loss_sums():
    """The loss sums' device array (slots TOTAL ... BATCH), zeros."""
    return cuda.to_device(np.zeros(N_SUMS))


def output_offset(net, scratch):
    """Offset of the output layer's block in ``scratch.acts`` / ``scratch.deltas``."""
    return scratch.act_off[len(net.units) - 2]


# --------------------------------------------------------------------------
# Device helpers.

@cuda.jit(device=True)
def block_sum(sh, value):
    """Sum of ``value`` over the threads of a 1-D block (tree reduction in the
    shared array ``sh``; any block size). Every thread must call it."""
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    sh[tid] = value
    cuda.syncthreads()
    stride = 1
    while stride < nt:
        if tid % (2 * stride) == 0 and tid + stride < nt:
            sh[tid] += sh[tid + stride]
        cuda.syncthreads()
        stride *= 2
    total = sh[0]
    cuda.syncthreads()
    return total


@cuda.jit(device=True)
def load_tile(tile, op, r0, c0, n_r, n_c, ones_row):
    """Load the tile of ``op`` (an Operand) at (r0, c0) into shared memory,
    zero-padded outside n_r x n_c; with ``ones_row`` row ``n_r`` reads as ones.
    Either layout, consecutive threads read consecutive addresses."""
    a = cuda.threadIdx.x if op.trans else cuda.threadIdx.y
    b = cuda.threadIdx.y if op.trans else cuda.threadIdx.x
    r = r0 + a
    c = c0 + b
    if r < n_r and c < n_c:
        tile[a, b] = op.M[op.off + (c * op.ld + r if op.trans else r * op.ld + c)]
    elif ones_row and r == n_r and c < n_c:
        tile[a, b] = 1
    else:
        tile[a, b] = 0


@cuda.jit(device=True)
def store_product(c, i, j, n, m, value, bias, epi):
    """Epilogue of ``gemm_kernel`` for output element (i, j); see ``gemm``."""
    C = c.M
    if epi.kind == FORWARD:
        idx = c.off + i * m + j
        z = value + bias[epi.extra_off + j]
        if epi.keep_pre:
            epi.aux[idx] = z
        C[idx] = activate(z, epi.code)
    elif epi.kind == BACKPROP:
        idx = c.off + i * m + j
        if epi.keep_pre:  # under dropout C holds the value f' reads (z or the output)
            a = C[idx]
            z = a
        else:
            a = epi.aux[idx]
            z = C[idx] if needs_pre(epi.code) else a  # C holds z where f' needs it
        C[idx] = value * derivative(a, z, epi.code)
    else:
        idx = c.off + i * m + j if i < n else epi.extra_off + j
        if epi.accumulate:
            C[idx] += value
        else:
            C[idx] = value


# --------------------------------------------------------------------------
# Kernels.

@cuda.jit(cache=True)
def gemm_kernel(a, b, c, n, m, k, epi):
    """Shared-memory tiled ``op(A) @ op(B)`` (n x k times k x m) with a fused
    epilogue; one thread per output element, tile = blockDim.x = blockDim.y."""
    sA = cuda.shared.array((TILE_MAX, TILE_ROW), dtype=c.M.dtype)
    sB = cuda.shared.array((TILE_MAX, TILE_ROW), dtype=c.M.dtype)
    t = cuda.blockDim.x
    ty = cuda.threadIdx.y
    tx = cuda.threadIdx.x
    i0 = cuda.blockIdx.y * t
    j0 = cuda.blockIdx.x * t
    # WEIGHT_GRAD appends a row of ones to op(A): row n of the product is the
    # column sum of op(B), i.e. the bias gradient db = sum_rows(delta).
    ones_row = epi.kind == WEIGHT_GRAD
    acc = cast_like(c.M, 0)
    for p0 in range(0, k, t):
        load_tile(sA, a, i0, p0, n, k, ones_row)
        load_tile(sB, b, p0, j0, k, m, False)
        cuda.syncthreads()
        for q in range(t):
            acc += sA[ty, q] * sB[q, tx]
        cuda.syncthreads()
    i = i0 + ty
    j = j0 + tx
    if (i < n or (ones_row and i == n)) and j < m:
        store_product(c, i, j, n, m, acc, b.M, epi)


@cuda.jit(cache=True)
def gather_rows_kernel(X, n_features, order, start, rows, xbuf):
    """``xbuf[r, :] = X[order[start + r], :]`` (flat row-major), one thread per element."""
    idx = cuda.grid(1)
    if idx < rows * n_features:
        r = idx // n_features
        c = idx - r * n_features
        xbuf[idx] = X[order[start + r] * n_features + c]


@cuda.jit(cache=True)
def row_keys_kernel(order, start, rows, contiguous, key_lo, key_hi, keys):
    """``keys[2 r], keys[2 r + 1]``: the dropout keys of the block's row ``r``
    (``dropout.row_keys``), one thread per row."""
    r = cuda.grid(1)
    if r < rows:
        keys[2 * r], keys[2 * r + 1] = row_keys(key_lo, key_hi,
                                                row_index(order, start, r, contiguous))


@cuda.jit(cache=True)
def dropout_kernel(M, off, rows, cols, kept_value, store, keys, threshold, scale, unit0):
    """Dropout of the (rows, cols) block of M at ``off``: each element times
    ``scale`` if its unit is kept (``dropout.unit_kept``, units numbered from
    ``unit0``), else 0; with ``store`` the old value first goes to
    ``kept_value`` at the same index. One thread per element."""
    idx = cuda.grid(1)
    if idx < rows * cols:
        r = idx // cols
        v = M[off + idx]
        if store:
            kept_value[off + idx] = v
        if unit_kept(keys[2 * r], keys[2 * r + 1], unit0 + idx - r * cols, threshold):
            M[off + idx] = v * cast_like(M, scale)
        else:
            M[off + idx] = cast_like(M, 0.0)


@cuda.jit(cache=True)
def softmax_rows_kernel(Z, off, rows, cols):
    """Row-wise softmax of the (rows, cols) block at ``off``, one thread per row."""
    r = cuda.grid(1)
    if r < rows:
        softmax_row(Z, off + r * cols, cols)


@cuda.jit(cache=True)
def output_delta_kernel(P, D, off, cols, targets, block, loss, softmax, sums, accumulate):
    """``delta = w (p - y)`` and the block's loss sums (``layers.output_delta``).

    One block; threads stride over the rows. With ``softmax`` the rows of P are
    first normalised in place (softmax fused with the cross-entropy gradient).
    sums[TOTAL] = sum_rows w * loss_row, sums[WEIGHT_SUM] = sum_rows w (added to
    the previous values when ``accumulate``)."""
    sh = cuda.shared.array(MAX_THREADS, dtype=float64)
    tid = cuda.threadIdx.x
    total = 0.0
    weight_sum = 0.0
    for r in range(tid, block.stop - block.start, cuda.blockDim.x):
        base = off + r * cols
        if softmax:
            softmax_row(P, base, cols)
        row = row_index(block.order, block.start, r, block.contiguous)
        w = targets.sw[row] if targets.weighted else 1.0
        row_loss = 0.0
        for j in range(cols):
            D[base + j], term = delta_and_loss(P[base + j], targets.Y[row, j], w, loss.code,
                                               loss.eps)
            row_loss += term
        total += w * row_loss
        weight_sum += w
    total = block_sum(sh, total)
    weight_sum = block_sum(sh, weight_sum)
    if tid == 0:
        if accumulate:
            sums[TOTAL] += total
            sums[WEIGHT_SUM] += weight_sum
        else:
            sums[TOTAL] = total
            sums[WEIGHT_SUM] = weight_sum


@cuda.jit(cache=True)
def finish_and_step_kernel(params, grad, n_coef, alpha, sums, code, hyper, epsilon, state,
                           lr_t, partial, clipped):
    """One thread per parameter: ``optimizers.finished_gradient`` (stored in
    ``grad``), then the step ``optimizers.updated`` of solver ``code`` (none for
    NO_UPDATE), in the parameters' dtype, as ``optimizers.finish_and_step``;
    ``epsilon`` the step's (``optimizers.step_epsilon``). When ``clipped``,
    ``grad`` is finished already and is scaled by sums[CLIP] instead.
    Per-block sums of W^2 (before the step, float64) go to ``partial``."""
    sh = cuda.shared.array(MAX_THREADS, dtype=float64)
    k = cuda.grid(1)
    squares = 0.0
    if k < params.shape[0]:
        w = params[k]
        if k < n_coef:
            squares = w * w
        if clipped:
            grad[k] *= cast_like(params, sums[CLIP])
        else:
            grad[k] = finished_gradient(grad[k], w,
                                        cast_like(params, alpha if k < n_coef else 0.0),
                                        cast_like(params, sums[WEIGHT_SUM]), True)
        if code != NO_UPDATE:  # (its state has no column per parameter)
            last = state.shape[0] - 1  # adam's v; sgd has one state row
            th = typed_hyper(hyper, params, epsilon)
            params[k], state[0, k], state[last, k] = updated(
                w, state[0, k], state[last, k], grad[k], code, cast_like(params, lr_t), th,
                th.decay if k < n_coef else th.one)
    squares = block_sum(sh, squares)
    if cuda.threadIdx.x == 0:
        partial[cuda.blockIdx.x] = squares


@cuda.jit(cache=True)
def clip_factor_kernel(grad, max_norm, sums):
    """One block: sums[CLIP] = min(1, max_norm / (||grad|| + 1e-6)) (the norm in
    float64), ``optimizers.clip_finished``'s factor."""
    sh = cuda.shared.array(MAX_THREADS, dtype=float64)
    norm2 = 0.0
    for k in range(cuda.threadIdx.x, grad.shape[0], cuda.blockDim.x):
        g = float64(grad[k])
        norm2 += g * g
    norm2 = block_sum(sh, norm2)
    if cuda.threadIdx.x == 0:
        factor = max_norm / (math.sqrt(norm2) + 1e-6)
        sums[CLIP] = factor if factor < 1.0 else 1.0


@cuda.jit(cache=True)
def book_loss_kernel(partial, n_partial, sums, loss, n_outputs, rows, first):
    """One block: the batch loss ``data_loss + alpha/2 sum(W^2) / sum w`` into
    sums[BATCH], and ``losses.accumulated_loss`` into sums[EPOCH] ((re)started at
    ``first``; NaN for good once a batch loss is not finite)."""
    sh = cuda.shared.array(MAX_THREADS, dtype=float64)
    tid = cuda.threadIdx.x
    squares = 0.0
    for b in range(tid, n_partial, cuda.blockDim.x):
        squares += partial[b]
    squares = block_sum(sh, squares)
    if tid == 0:
        previous = 0.0 if first else sums[EPOCH]
        sums[EPOCH] = accumulated_loss(previous, sums[TOTAL], sums[WEIGHT_SUM], squares,
                                       loss.alpha, loss.code, n_outputs, rows)
        sums[BATCH] = batch_loss(sums[TOTAL], sums[WEIGHT_SUM], squares, loss.alpha,
                                 loss.code, n_outputs)


# --------------------------------------------------------------------------
# Launchers: launch configuration from the shapes and the current tile.

def gemm(a, b, c, n, m, k, epi):
    """Launch the tiled product ``P = op(A) @ op(B)`` (n x k by k x m) with an epilogue.

    Parameters
    ----------
    a, b, c : Operand
        Flat device arrays of one dtype with offset, leading dimension and
        transposition; C is written row-major (ld ``m``) at ``c.off``.
    n, m, k : int
        Shape of the product.
    epi : Epilogue
        FORWARD: ``C = f(P + bias)`` (f = ``epi.code``, the bias read from B's
        buffer at ``epi.extra_off``: B is the parameter vector). WEIGHT_GRAD:
        ``C = P`` and ``C[extra_off:extra_off+m] = sum_p op(B)[p, :]`` (bias
        gradient), both added to C when ``accumulate``. BACKPROP: ``C = P *
        f'(aux)`` with ``aux`` read at C's indices (the layer's activations).
    """
    t = config.CUDA_TILE
    rows = n + 1 if epi.kind == WEIGHT_GRAD else n
    grid = ((m + t - 1) // t, (rows + t - 1) // t)
    gemm_kernel[grid, (t, t)](a, b, c, n, m, k, epi)


def layer_source(net, i, x, scratch):
    """The input of layer ``i`` as an Operand: the input rows ``x`` (an Operand)
    for the first layer, else layer ``i - 1``'s outputs in ``scratch.acts``."""
    if i == 0:
        return x
    return Operand(scratch.acts, scratch.act_off[i - 1], net.units.item(i), False)


def forward_layer(net, i, source, rows, scratch, keep_pre=False):
    """Layer ``i``: ``f(A @ W_i + b_i)`` for ``rows`` rows of ``source`` (an
    Operand) into ``scratch.acts`` at ``act_off[i]``; with ``keep_pre``,
    ``A @ W_i + b_i`` also into ``scratch.deltas`` at the same offset.

    A SOFTMAX layer gets only ``A @ W + b`` here: normalise it afterwards with
    ``softmax_rows`` (or ``output_delta``, which fuses it).
    """
    n_in, n_out = net.units.item(i), net.units.item(i + 1)
    code = net.hidden_code if i < len(net.units) - 2 else net.out_code
    gemm(source, Operand(net.params, net.coef_off.item(i), n_out, False),
         Operand(scratch.acts, scratch.act_off[i], n_out, False), rows, n_out, n_in,
         Epilogue(FORWARD, net.inter_off.item(i), scratch.deltas if keep_pre else scratch.acts,
                  IDENTITY if code == SOFTMAX else code, False, keep_pre))


def weight_grad(net, i, source, rows, scratch, grad, accumulate):
    """Layer ``i``'s ``dW = A.T @ D`` and ``db = sum_rows(D)`` into ``grad`` (added
    when ``accumulate``); A is ``source``, D layer ``i``'s block of ``scratch.deltas``."""
    n_in, n_out = net.units.item(i), net.units.item(i + 1)
    gemm(Operand(source.M, source.off, source.ld, True),
         Operand(scratch.deltas, scratch.act_off[i], n_out, False),
         Operand(grad, net.coef_off.item(i), n_out, False), n_in, n_out, rows,
         Epilogue(WEIGHT_GRAD, net.inter_off.item(i), grad, IDENTITY, accumulate, False))


def backprop_delta(net, i, rows, scratch, drop=None):
    """Layer ``i - 1``'s deltas ``D_prev = (D_i @ W_i.T) * f'(A_prev)`` in ``scratch``.
    For an activation of ``activations.needs_pre``, D_prev holds Z on entry
    (``forward_layer(keep_pre=True)``) and f' is taken from it; under dropout
    (``drop``, see ``forward``) D_prev holds the value f' reads and the
    mask is applied after."""
    n_in, n_out = net.units.item(i), net.units.item(i + 1)
    gemm(Operand(scratch.deltas, scratch.act_off[i], n_out, False),
         Operand(net.params, net.coef_off.item(i), n_out, True),
         Operand(scratch.deltas, scratch.act_off[i - 1], n_in, False), rows, n_in, n_out,
         Epilogue(BACKPROP, 0, scratch.acts, net.hidden_code, False, drop is not None))
    if drop is not None:
        drop_layer(net, i - 1, scratch.deltas, scratch.act_off[i - 1], rows, scratch.deltas,
                   False, drop)


def drop_layer(net, i, M, off, rows, kept_value, store, drop):
    """Launch ``dropout_kernel`` on hidden layer ``i``'s block of M at ``off``."""
    cols = net.units.item(i + 1)
    dropout_, keys = drop
    dropout_kernel[linear_blocks(rows * cols), threads_per_block()](
        M, off, rows, cols, kept_value, store, keys, int(dropout_.threshold[i]),
        float(dropout_.scale[i]), net.inter_off.item(i))


def block_row_keys(block, drop):
    """Launch ``row_keys_kernel``: the dropout keys of ``block``'s rows into
    ``drop``'s key buffer (``drop = (Dropout, keys)``, see ``forward``)."""
    dropout_, keys = drop
    rows = block.stop - block.start
    row_keys_kernel[linear_blocks(rows), threads_per_block()](
        block.order, block.start, rows, block.contiguous, dropout_.key_lo, dropout_.key_hi,
        keys)


def forward(net, x, rows, scratch, training=False, drop=None):
    """Every layer's outputs for ``rows`` input rows (the Operand ``x``) into
    ``scratch.acts``; a softmax output is left un-normalised (see
    ``forward_layer``). When ``training`` with an activation of
    ``activations.needs_pre``, hidden pre-activations go to ``scratch.deltas``
    for ``backward``. ``drop``: None, or ``(Dropout, keys)`` with the block's
    row keys on the device (``block_row_keys``): the hidden layers' outputs
    are dropped, and the value f' reads is kept in ``scratch.deltas``."""
    n_layers = len(net.units) - 1
    keep_pre = training and net.hidden_code in activations.NEEDS_PRE
    for i in range(n_layers):
        hidden = i < n_layers - 1
        forward_layer(net, i, layer_source(net, i, x, scratch), rows, scratch,
                      keep_pre and hidden)
        if drop is not None and hidden:
            off = scratch.act_off[i]
            drop_layer(net, i, scratch.acts, off, rows, scratch.deltas, not keep_pre, drop)


def backward(net, x, rows, scratch, grad, accumulate, drop=None):
    """Back-propagate the output delta in ``scratch.deltas``; the gradient sums of
    every layer go to ``grad`` (added to it when ``accumulate``). ``drop``
    what ``forward`` was given."""
    for i in range(len(net.units) - 2, -1, -1):
        weight_grad(net, i, layer_source(net, i, x, scratch), rows, scratch, grad, accumulate)
        if i > 0:
            backprop_delta(net, i, rows, scratch, drop)


def gather_rows(X, n_features, order, start, rows, xbuf):
    """Copy rows ``order[start:start+rows]`` of the flat X into ``xbuf``."""
    gather_rows_kernel[linear_blocks(rows * n_features), threads_per_block()](
        X, n_features, order, start, rows, xbuf)


def softmax_rows(Z, off, rows, cols):
    """Row-wise softmax, in place, of the (rows, cols) block of Z at ``off``."""
    softmax_rows_kernel[linear_blocks(rows), threads_per_block()](Z, off, rows, cols)


def output_delta(net, scratch, targets, block, loss, sums, accumulate):
    """The output layer's deltas ``w (p - y)`` in ``scratch.deltas`` and the loss
    sums of ``block`` (a ``Block``) into ``sums`` (``loss_sums``; added to when
    ``accumulate``); a softmax output is normalised first. One thread block of
    ``threads_per_block()`` threads."""
    output_delta_kernel[1, threads_per_block()](
        scratch.acts, scratch.deltas, output_offset(net, scratch), net.units.item(-1),
        targets, block, loss, net.out_code == SOFTMAX, sums, accumulate)


def finish_and_step(net, grad, loss, sums, solver, lr_t, partial, epsilon=None):
    """Launch ``finish_and_step_kernel`` over the flat parameter vector.

    ``solver`` a ``Solver`` whose state is on the device (its code NO_UPDATE for
    the L-BFGS objective; its step count is the host's and not passed);
    ``lr_t`` the step size (``optimizers.advance_step``) and ``epsilon`` the
    step's (``optimizers.step_epsilon``; default the solver's); the weight sum
    is read from ``sums``. When the solver clips (``max_grad_norm``), the
    gradient is finished, its clipping factor computed (``clip_factor_kernel``)
    and then the step taken: three launches instead of one. ``partial`` needs
    ``linear_blocks(n_params)`` slots; returns that count.
    """
    blocks = linear_blocks(net.params.shape[0])
    if partial.shape[0] < blocks:
        raise ValueError(f"partial has {partial.shape[0]} slots, the launch needs {blocks} "
                         "(was the tile shrunk after the buffers were allocated?)")
    hyper = solver.hyper
    epsilon = hyper.epsilon if epsilon is None else epsilon
    alpha = optimizers.coupled_alpha.py_func(solver.code, float(loss.alpha))
    clipped = hyper.max_grad_norm > 0 and solver.code != NO_UPDATE
    launch = finish_and_step_kernel[blocks, threads_per_block()]
    if clipped:
        launch(net.params, grad, net.n_coef, alpha, sums, NO_UPDATE, hyper, epsilon,
               solver.state, 0.0, partial, False)
        clip_factor_kernel[1, threads_per_block()](grad, float(hyper.max_grad_norm), sums)
    launch(net.params, grad, net.n_coef, alpha, sums, solver.code, hyper, float(epsilon),
           solver.state, float(lr_t), partial, clipped)
    return blocks


def book_loss(partial, n_partial, sums, loss, n_outputs, rows, first):
    """Launch ``book_loss_kernel`` (one block): the batch and epoch losses."""
    book_loss_kernel[1, threads_per_block()](partial, n_partial, sums, loss, n_outputs, rows,
                                             first)
