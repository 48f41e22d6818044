"""numba.cuda kernels mirroring ``dense.py``, ``updates.py`` and ``epoch.py``.

Same flat layouts as the CPU kernels: the parameter vector holds every coefficient
matrix (row-major) and then every intercept (``coef_off`` / ``inter_off``); the
activations and deltas of a block of at most ``capacity`` rows live in flat
buffers, layer ``i`` at ``act_off[i] : act_off[i] + rows * units[i + 1]``
(row-major, leading dimension ``units[i + 1]``). Every array argument is a flat
1-D device array except the targets ``Y`` (2-D) and the optimizer ``state``.

The scalar math is written once as plain Python and compiled here with
``cuda.jit(device=True)``: the activations and their derivatives come from
``activations.py``; ``row_index``, ``loss_term`` and ``data_loss`` from
``dense.py``; the optimizer step ``updated`` from ``updates.py``.

Each kernel has a host-side launcher (same name without ``_kernel``) that computes
the launch configuration from the shapes and the current tile size. The tile is a
knob: ``TILE`` x ``TILE`` threads per block for the matrix products and
``TILE ** 2`` threads for the 1-D kernels. It defaults to 16, is read from the
environment variable ``FASTMLP_CUDA_TILE`` at import, and ``set_tile`` changes it
at run time without recompiling (kernels read it from ``blockDim``; shared memory
is sized for the largest tile, ``TILE_MAX``). Tests shrink it so that tiny shapes
still span several thread blocks.

Nothing is compiled at import; kernels compile on first launch and are cached on
disk (``cache=True``).
"""

import math
import os

import numpy as np
from numba import cuda, float64

from . import dense, updates
from .activations import IDENTITY, SOFTMAX, activate_scalar, derivative_from_output

TILE_MAX = 32
"""Largest tile: 32 x 32 = 1024 threads, CUDA's limit per block."""

MAX_THREADS = TILE_MAX * TILE_MAX
# Row length of the shared tiles: one padding column keeps column-wise writes
# free of bank conflicts (a module constant, as shared-array shapes must be).
TILE_ROW = TILE_MAX + 1

TILE = 16

NO_UPDATE = -1
"""Solver code for ``finalize_update``: finalize the gradient only (L-BFGS)."""

# Epilogues of the tiled matrix product.
FORWARD = 0  # C = f(op(A) @ op(B) + b)
WEIGHT_GRAD = 1  # C = op(A) @ op(B), plus a row of ones in op(A) for the bias gradient
BACKPROP = 2  # C = (op(A) @ op(B)) * f'(aux)

# Slots of the float64 scalar buffer ``scal`` (length N_SCALARS).
TOTAL = 0  # sum_rows w * loss_row of the current block(s)
WEIGHT_SUM = 1  # sum_rows w of the current block(s)
EPOCH_LOSS = 2  # sum over batches of batch_loss * batch_rows (NaN once non-finite)
BATCH_LOSS = 3  # regularised mean loss of the last finished batch (L-BFGS objective)
N_SCALARS = 4


def set_tile(tile):
    """Set the tile size used by every later launch.

    Parameters
    ----------
    tile : int
        Threads per block side, 1 <= tile <= ``TILE_MAX``: matrix products run
        ``tile x tile`` blocks and the 1-D kernels ``tile ** 2`` threads per block.

    Returns
    -------
    int
        The previous tile size.
    """
    global TILE
    tile = int(tile)
    if not 1 <= tile <= TILE_MAX:
        raise ValueError(f"tile must be in [1, {TILE_MAX}], got {tile}.")
    previous, TILE = TILE, tile
    return previous


set_tile(os.environ.get("FASTMLP_CUDA_TILE", TILE))


def threads_per_block():
    """Threads per block of the 1-D kernels: ``TILE ** 2``."""
    return TILE * TILE


def linear_blocks(n):
    """Blocks of ``threads_per_block()`` threads that cover ``n`` elements (at least 1)."""
    tpb = threads_per_block()
    return max(1, (n + tpb - 1) // tpb)


# --------------------------------------------------------------------------
# Plain-Python scalar math, compiled for the device below (and njit-able).

def adam_step_size(hyper, step):
    """Adam's bias-corrected step size for update number ``step``, on the host:
    ``updates.adam_step_size`` run as plain Python, once per batch."""
    return updates.adam_step_size.py_func(hyper, step)


def typed_hyper(hyper, like):
    """``updates.typed_hyper`` on the host: the hyperparameter vector the device
    step reads, in the dtype of ``like``."""
    return updates.typed_hyper.py_func(np.asarray(hyper, dtype=np.float64), like)


activate = cuda.jit(device=True)(activate_scalar)
derivative = cuda.jit(device=True)(derivative_from_output)
row_index = cuda.jit(device=True)(dense.row_index.py_func)
data_loss = cuda.jit(device=True)(dense.data_loss.py_func)
loss_of = cuda.jit(device=True)(dense.loss_term.py_func)
updated = cuda.jit(device=True)(updates.updated.py_func)
unpack_hyper = cuda.jit(device=True)(updates.unpack.py_func)


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
def in_dtype(like, x):
    """``x`` rounded to the dtype of the array ``like`` (as ``updates.in_dtype``)."""
    cast = cuda.local.array(1, dtype=like.dtype)
    cast[0] = x
    return cast[0]


@cuda.jit(device=True)
def load_tile(tile, M, off, ld, trans, r0, c0, n_r, n_c, ones_row):
    """Load the tile of ``op(M)`` at (r0, c0) into shared memory, zero-padded
    outside n_r x n_c; with ``ones_row`` row ``n_r`` reads as ones.

    ``op(M)[r, c]`` is ``M[off + r * ld + c]``, or ``M[off + c * ld + r]`` when
    ``trans``; either way consecutive threads read consecutive addresses.
    """
    a = cuda.threadIdx.x if trans else cuda.threadIdx.y
    b = cuda.threadIdx.y if trans else cuda.threadIdx.x
    r = r0 + a
    c = c0 + b
    if r < n_r and c < n_c:
        tile[a, b] = M[off + (c * ld + r if trans else r * ld + c)]
    elif ones_row and r == n_r and c < n_c:
        tile[a, b] = 1
    else:
        tile[a, b] = 0


@cuda.jit(device=True)
def store_product(C, c_off, i, j, n, m, value, epilogue, B, extra_off, aux, code,
                  accumulate):
    """Epilogue of ``gemm_kernel`` for output element (i, j); see ``gemm``."""
    if epilogue == FORWARD:
        C[c_off + i * m + j] = activate(value + B[extra_off + j], code)
    elif epilogue == BACKPROP:
        idx = c_off + i * m + j
        C[idx] = value * derivative(aux[idx], code)
    else:
        idx = c_off + i * m + j if i < n else extra_off + j
        if accumulate:
            C[idx] += value
        else:
            C[idx] = value


@cuda.jit(device=True)
def softmax_row(Z, off, cols):
    """In place: ``Z[off:off+cols] = exp(z - max z) / sum exp(z - max z)``."""
    zmax = Z[off]
    for j in range(1, cols):
        if Z[off + j] > zmax:
            zmax = Z[off + j]
    total = 0.0
    for j in range(cols):
        e = activate(Z[off + j] - zmax, SOFTMAX)
        Z[off + j] = e
        total += e
    for j in range(cols):
        Z[off + j] /= total


# --------------------------------------------------------------------------
# Kernels.

@cuda.jit(cache=True)
def gemm_kernel(A, a_off, a_ld, a_trans, B, b_off, b_ld, b_trans, C, c_off, n, m, k,
                epilogue, extra_off, aux, code, accumulate):
    """Shared-memory tiled ``op(A) @ op(B)`` (n x k times k x m) with a fused
    epilogue; one thread per output element, tile = blockDim.x = blockDim.y."""
    sA = cuda.shared.array((TILE_MAX, TILE_ROW), dtype=C.dtype)
    sB = cuda.shared.array((TILE_MAX, TILE_ROW), dtype=C.dtype)
    t = cuda.blockDim.x
    ty = cuda.threadIdx.y
    tx = cuda.threadIdx.x
    i0 = cuda.blockIdx.y * t
    j0 = cuda.blockIdx.x * t
    # WEIGHT_GRAD appends a row of ones to op(A): row n of the product is the
    # column sum of op(B), i.e. the bias gradient db = sum_rows(delta).
    ones_row = epilogue == WEIGHT_GRAD
    acc = in_dtype(C, 0)
    for p0 in range(0, k, t):
        load_tile(sA, A, a_off, a_ld, a_trans, i0, p0, n, k, ones_row)
        load_tile(sB, B, b_off, b_ld, b_trans, p0, j0, k, m, False)
        cuda.syncthreads()
        for q in range(t):
            acc += sA[ty, q] * sB[q, tx]
        cuda.syncthreads()
    i = i0 + ty
    j = j0 + tx
    if (i < n or (ones_row and i == n)) and j < m:
        store_product(C, c_off, i, j, n, m, acc, epilogue, B, extra_off, aux, code,
                      accumulate)


@cuda.jit(cache=True)
def gather_rows_kernel(X, n_features, order, start, rows, xbuf):
    """``xbuf[r, :] = X[order[start + r], :]`` (flat row-major), one thread per element."""
    idx = cuda.grid(1)
    if idx < rows * n_features:
        r = idx // n_features
        c = idx - r * n_features
        xbuf[idx] = X[order[start + r] * n_features + c]


@cuda.jit(cache=True)
def softmax_rows_kernel(Z, off, rows, cols):
    """Row-wise softmax of the (rows, cols) block at ``off``, one thread per row."""
    r = cuda.grid(1)
    if r < rows:
        softmax_row(Z, off + r * cols, cols)


@cuda.jit(cache=True)
def output_delta_kernel(P, D, off, rows, cols, Y, sw, weighted, order, start, contiguous,
                        loss_code, eps, softmax, scal, accumulate):
    """``delta = w (p - y)`` and the block's loss sums (``dense.output_delta``).

    One block; threads stride over the rows. With ``softmax`` the rows of P are
    first normalised in place (softmax fused with the cross-entropy gradient).
    scal[TOTAL] = sum_rows w * loss_row, scal[WEIGHT_SUM] = sum_rows w (added to
    the previous values when ``accumulate``)."""
    sh = cuda.shared.array(MAX_THREADS, dtype=float64)
    tid = cuda.threadIdx.x
    total = 0.0
    weight_sum = 0.0
    for r in range(tid, rows, cuda.blockDim.x):
        base = off + r * cols
        if softmax:
            softmax_row(P, base, cols)
        row = row_index(order, start, r, contiguous)
        w = sw[row] if weighted else 1.0
        row_loss = 0.0
        for j in range(cols):
            p = P[base + j]
            y = Y[row, j]
            row_loss += loss_of(p, y, loss_code, eps)
            D[base + j] = (p - y) * w
        total += w * row_loss
        weight_sum += w
    total = block_sum(sh, total)
    weight_sum = block_sum(sh, weight_sum)
    if tid == 0:
        if accumulate:
            scal[TOTAL] += total
            scal[WEIGHT_SUM] += weight_sum
        else:
            scal[TOTAL] = total
            scal[WEIGHT_SUM] = weight_sum


@cuda.jit(cache=True)
def finalize_update_kernel(params, grad, n_coef, alpha, scal, solver, state, lr_t, h,
                           partial):
    """One thread per parameter: ``g = (g + alpha W) / sum w`` on coefficients and
    ``g / sum w`` on intercepts, stored in ``grad``; then the sgd or adam step
    ``updates.updated`` (none for NO_UPDATE) with ``h = updates.typed_hyper``; as
    ``updates.step_all``, in the parameters' dtype. Per-block sums of W^2 (before
    the step, float64) go to ``partial``."""
    sh = cuda.shared.array(MAX_THREADS, dtype=float64)
    k = cuda.grid(1)
    squares = 0.0
    if k < params.shape[0]:
        w = params[k]
        weight_sum = in_dtype(params, scal[WEIGHT_SUM])
        if k < n_coef:
            squares = w * w
            grad[k] = (grad[k] + in_dtype(params, alpha) * w) / weight_sum
        else:
            grad[k] = grad[k] / weight_sum
        if solver != NO_UPDATE:
            last = state.shape[0] - 1  # adam's v; sgd has one state row
            params[k], state[0, k], state[last, k] = updated(
                w, state[0, k], state[last, k], grad[k], solver, in_dtype(params, lr_t),
                unpack_hyper(h))
    squares = block_sum(sh, squares)
    if cuda.threadIdx.x == 0:
        partial[cuda.blockIdx.x] = squares


@cuda.jit(cache=True)
def finish_batch_kernel(partial, n_partial, scal, loss_code, n_outputs, alpha, rows, first):
    """One block: ``loss = data_loss + alpha/2 sum(W^2) / sum w`` (``epoch.run_epoch``);
    scal[BATCH_LOSS] = loss; scal[EPOCH_LOSS] (re)starts at ``first`` and adds
    ``loss * rows``, becoming NaN for good once a batch loss is not finite."""
    sh = cuda.shared.array(MAX_THREADS, dtype=float64)
    tid = cuda.threadIdx.x
    squares = 0.0
    for b in range(tid, n_partial, cuda.blockDim.x):
        squares += partial[b]
    squares = block_sum(sh, squares)
    if tid == 0:
        weight_sum = scal[WEIGHT_SUM]
        loss = data_loss(scal[TOTAL], weight_sum, loss_code, n_outputs)
        loss += 0.5 * alpha * squares / weight_sum
        scal[BATCH_LOSS] = loss
        previous = 0.0 if first else scal[EPOCH_LOSS]
        scal[EPOCH_LOSS] = previous + loss * rows if math.isfinite(loss) else math.nan


# --------------------------------------------------------------------------
# Launchers: launch configuration from the shapes and the current tile.

def gemm(A, a_off, a_ld, a_trans, B, b_off, b_ld, b_trans, C, c_off, n, m, k,
         epilogue, extra_off=0, aux=None, code=IDENTITY, accumulate=False):
    """Launch the tiled product ``P = op(A) @ op(B)`` (n x k by k x m) with an epilogue.

    Parameters
    ----------
    A, B, C : flat device arrays of one dtype
        ``op(A)[i, p] = A[a_off + i * a_ld + p]`` (or ``A[a_off + p * a_ld + i]``
        when ``a_trans``); likewise ``op(B)``. C is written row-major (ld ``m``)
        at ``c_off``.
    n, m, k : int
        Shape of the product.
    epilogue : {FORWARD, WEIGHT_GRAD, BACKPROP}
        FORWARD: ``C = f(P + B[extra_off:extra_off+m])`` (``code`` = f, bias read
        from the parameter vector B). WEIGHT_GRAD: ``C = P`` and
        ``C[extra_off:extra_off+m] = sum_p op(B)[p, :]`` (bias gradient), both
        added to C when ``accumulate``. BACKPROP: ``C = P * f'(aux)`` with
        ``aux`` read at C's indices (the layer's activations).
    """
    t = TILE
    rows = n + 1 if epilogue == WEIGHT_GRAD else n
    grid = ((m + t - 1) // t, (rows + t - 1) // t)
    gemm_kernel[grid, (t, t)](A, a_off, a_ld, a_trans, B, b_off, b_ld, b_trans, C, c_off,
                              n, m, k, epilogue, extra_off, C if aux is None else aux,
                              code, accumulate)


def forward_layer(A, a_off, rows, n_in, params, w_off, b_off, n_out, code, C, c_off):
    """``C = f(A @ W + b)`` for a (rows, n_in) input block; W, b in ``params``.

    SOFTMAX layers get only ``A @ W + b`` here: normalise them afterwards with
    ``softmax_rows`` (or ``output_delta(softmax=True)``).
    """
    gemm(A, a_off, n_in, False, params, w_off, n_out, False, C, c_off, rows, n_out, n_in,
         FORWARD, b_off, None, IDENTITY if code == SOFTMAX else code)


def weight_grad(A, a_off, rows, n_in, D, d_off, n_out, grad, w_off, b_off, accumulate):
    """``dW = A.T @ D`` and ``db = sum_rows(D)`` into ``grad`` (added when ``accumulate``)."""
    gemm(A, a_off, n_in, True, D, d_off, n_out, False, grad, w_off, n_in, n_out, rows,
         WEIGHT_GRAD, b_off, None, IDENTITY, accumulate)


def backprop_delta(D, d_off, rows, n_out, params, w_off, n_in, acts, prev_off, code, D_prev):
    """``D_prev = (D @ W.T) * f'(A_prev)``; A_prev and D_prev sit at ``prev_off``."""
    gemm(D, d_off, n_out, False, params, w_off, n_out, True, D_prev, prev_off, rows, n_in,
         n_out, BACKPROP, 0, acts, code)


def gather_rows(X, n_features, order, start, rows, xbuf):
    """Copy rows ``order[start:start+rows]`` of the flat X into ``xbuf``."""
    gather_rows_kernel[linear_blocks(rows * n_features), threads_per_block()](
        X, n_features, order, start, rows, xbuf)


def softmax_rows(Z, off, rows, cols):
    """Row-wise softmax, in place, of the (rows, cols) block of Z at ``off``."""
    softmax_rows_kernel[linear_blocks(rows), threads_per_block()](Z, off, rows, cols)


def output_delta(P, D, off, rows, cols, Y, sw, weighted, order, start, contiguous,
                 loss_code, eps, softmax, scal, accumulate):
    """Launch ``output_delta_kernel`` (one block of ``threads_per_block()`` threads)."""
    output_delta_kernel[1, threads_per_block()](
        P, D, off, rows, cols, Y, sw, weighted, order, start, contiguous, loss_code, eps,
        softmax, scal, accumulate)


def finalize_update(params, grad, n_coef, alpha, scal, solver, state, h, lr_t, partial):
    """Launch ``finalize_update_kernel`` over the flat vector.

    ``solver`` is ``updates.SGD``, ``updates.ADAM`` or NO_UPDATE; ``h`` the device
    copy of ``typed_hyper(hyper)``; ``lr_t`` the step size (sgd: the learning rate,
    adam: ``adam_step_size``); ``state`` the optimizer's state rows on the device.
    ``partial`` needs ``linear_blocks(params.size)`` slots; returns that count.
    """
    blocks = linear_blocks(params.shape[0])
    if partial.shape[0] < blocks:
        raise ValueError(f"partial has {partial.shape[0]} slots, the launch needs {blocks} "
                         "(was the tile shrunk after the buffers were allocated?)")
    finalize_update_kernel[blocks, threads_per_block()](
        params, grad, n_coef, float(alpha), scal, solver, state, float(lr_t), h, partial)
    return blocks


def finish_batch(partial, n_partial, scal, loss_code, n_outputs, alpha, rows, first):
    """Launch ``finish_batch_kernel`` (one block)."""
    finish_batch_kernel[1, threads_per_block()](
        partial, n_partial, scal, loss_code, n_outputs, alpha, rows, first)
