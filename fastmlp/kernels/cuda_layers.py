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
``TILE`` threads per block for the tiled matrix product and ``TILE ** 2`` threads
for the 1-D kernels. Kernels read the tile from ``blockDim`` and shared memory is
sized for the largest tile, so changing it needs no recompilation. Tests shrink
it so that tiny shapes still span several thread blocks.

Matrix products (``gemm``) run on one of two families, chosen per launch by
shape (``gemm_choice``, ``config.CUDA_GEMM``): products too small to give every
multiprocessor a block keep ``gemm_kernel`` (one output per thread, cheap to
launch: the small-batch path); larger ones run a register-blocked kernel
(``GEMM_TILES`` / ``GEMM_KERNELS``, one compiled kernel per tiling, the tiling
a compile-time constant) in which each thread computes a micro-tile of up to 8
x 8 outputs from double-buffered shared-memory slabs. Both take the same
``Operand``s (any storage order of either operand) and ``Epilogue``s (bias +
activation, bias gradient, ``* f'``), so every launcher uses either.

Nothing is compiled at import; kernels compile on first launch and are cached on
disk (``cache=True``).
"""

import math
import threading
from collections import namedtuple
from types import FunctionType

import numba
import numpy as np
from numba import cuda, float64, int32, uint64
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


@cuda.jit(device=True)
def store_or_park(c, i, j, n, m, value, bias, epi, part, plane):
    """``store_product``, or for a split-K piece (``plane`` >= 0) the partial
    value into ``part`` at ``plane + i * m + j`` (``split_sum_kernel`` finishes)."""
    if plane >= 0:
        part[plane + i * m + j] = value
    else:
        store_product(c, i, j, n, m, value, bias, epi)


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


# --------------------------------------------------------------------------
# Register-blocked products (the wide layers' path).

GemmTile = namedtuple("GemmTile", "bm bn bk tm tn")
"""A register-blocked product's tiling: each block of ``(bm / tm) * (bn / tn)``
threads computes a ``bm`` x ``bn`` tile of C from ``bk``-deep slabs of op(A)
and op(B) in shared memory; each thread a ``tm`` x ``tn`` micro-tile of it in
registers."""

GEMM_TILES = {
    # the shapes for real GPUs (config.CUDA_GEMM_TILES picks among them)
    "r128x128": GemmTile(128, 128, 8, 8, 8),  # 256 threads, 8 x 8 per thread
    "r128x64": GemmTile(128, 64, 8, 8, 4),  # 256 threads, 8 x 4 per thread
    "r64x64": GemmTile(64, 64, 8, 4, 4),  # 256 threads, 4 x 4 per thread
    "r64x32": GemmTile(64, 32, 16, 4, 2),  # 256 threads, 4 x 2 (float64's small one)
    # tiny shapes of the simulator tests (every code path, few Python threads)
    "t8x8": GemmTile(8, 8, 4, 2, 2),  # 16 threads, loads divide evenly
    "t6x4": GemmTile(6, 4, 2, 3, 1),  # 8 threads, A's loads do not divide evenly
}


def _register_blocked(tile):
    """The register-blocked product kernel of ``tile`` (a ``GemmTile``): what
    ``gemm_kernel`` computes, for blocks of ``(bm / tm) * (bn / tn)`` threads
    (1-D) covering ``bm`` x ``bn`` tiles of C.

    - Shared memory holds two ``bk``-deep slabs of op(A) (k-major, i.e.
      transposed) and op(B) (double buffering): the next slab is read from
      global memory into registers while the current one is multiplied, then
      stored into the other buffer; one ``syncthreads`` per slab.
    - Thread (ty, tx) owns rows ``ty + TY * i`` and columns ``tx + TX * j`` of
      the tile (strided micro-tile): the inner loop's shared-memory reads are
      consecutive across a warp (no bank conflicts, no vector loads needed)
      and the epilogue's stores are coalesced.
    - Global reads: consecutive threads read consecutive addresses for either
      layout of each operand; a write that transposes into shared memory
      strides by a row length padded to ``32 // bk`` mod 32, which spreads a
      warp over all 32 banks.
    - Per slab and thread: ``tm + tn`` shared loads for ``tm * tn`` FMAs; the
      k loop is unrolled by hand (``step``) four steps at a time.
    - Split-K (``gridDim.z`` > 1, weight gradients only, see ``split_count``):
      block z multiplies its own range of slabs and parks its partial product
      in ``part`` (plane z of ``(n + 1) x m``); ``split_sum_kernel`` adds the
      planes in order and applies the epilogue. Otherwise ``part`` is unused.

    Static resources per tiling (sm_90): ``benchmarks/gpu_kernels_report.py``.
    """
    BM, BN, BK, TM, TN = tile
    if BM % TM or BN % TN or BK % 2:
        raise ValueError(f"{tile}: tm must divide bm, tn bn, and bk be even")
    TX, TY = BN // TN, BM // TM
    NT = TX * TY
    A_SIZE, B_SIZE = BM * BK, BK * BN
    A_LOADS, B_LOADS = -(-A_SIZE // NT), -(-B_SIZE // NT)
    PAD = max(1, 32 // BK)
    SA, SB = BM + PAD, BN + PAD
    SA_SIZE, SB_SIZE = 2 * BK * SA, 2 * BK * SB
    TMN = TM * TN

    @cuda.jit(device=True, inline=True)
    def step(sA, sB, a_k, b_k, acc, ra, rb):
        """One step of k: a column of op(A)'s slab times a row of op(B)'s,
        added to the micro-tile (``a_k``, ``b_k``: where they start)."""
        for i in range(TM):
            ra[i] = sA[uint64(a_k + TY * i)]
        for j in range(TN):
            rb[j] = sB[uint64(b_k + TX * j)]
        for i in range(TM):
            for j in range(TN):
                acc[i * TN + j] += ra[i] * rb[j]

    def kernel(a, b, c, n, m, k, epi, part):
        # flat (2, BK, SA) / (2, BK, SB) buffers: the inner loop's addresses are
        # one base register per slab plus constant offsets
        sA = cuda.shared.array(SA_SIZE, dtype=c.M.dtype)
        sB = cuda.shared.array(SB_SIZE, dtype=c.M.dtype)
        acc = cuda.local.array(TMN, dtype=c.M.dtype)
        ra = cuda.local.array(TM, dtype=c.M.dtype)
        rb = cuda.local.array(TN, dtype=c.M.dtype)
        pa = cuda.local.array(A_LOADS, dtype=c.M.dtype)
        pb = cuda.local.array(B_LOADS, dtype=c.M.dtype)
        # Per load q of a slab, fixed for the whole product: where it reads in
        # slab 0 (``*_at``, from the block's corner ``*_corner``; -1: the ones
        # row), the first slab start p0 at which it reads nothing (``*_lim``:
        # k - p, 0 outside the operand), and where it writes in a shared
        # buffer (``*_to``); 32-bit, as they are kept in registers throughout.
        a_at = cuda.local.array(A_LOADS, dtype=int32)
        a_lim = cuda.local.array(A_LOADS, dtype=int32)
        a_to = cuda.local.array(A_LOADS, dtype=int32)
        b_at = cuda.local.array(B_LOADS, dtype=int32)
        b_lim = cuda.local.array(B_LOADS, dtype=int32)
        b_to = cuda.local.array(B_LOADS, dtype=int32)
        tid = cuda.threadIdx.x
        tx = tid % TX
        ty = tid // TX
        i0 = cuda.blockIdx.y * BM
        j0 = cuda.blockIdx.x * BN
        zero = cast_like(c.M, 0)
        one = cast_like(c.M, 1)
        # WEIGHT_GRAD: op(A) has a row n of ones (the bias gradient), as gemm_kernel
        ones_row = epi.kind == WEIGHT_GRAD
        for q in range(A_LOADS):
            idx = tid + q * NT
            if a.trans:  # consecutive threads: consecutive rows r of op(A)
                r = idx % BM
                p = idx // BM
            else:  # consecutive threads: consecutive p
                p = idx % BK
                r = idx // BK
            gr = i0 + r
            a_to[q] = p * SA + r
            a_at[q] = p * a.ld + r if a.trans else r * a.ld + p
            a_lim[q] = k - p if idx < A_SIZE and gr < n else 0
            if idx < A_SIZE and ones_row and gr == n:
                a_at[q] = -1
                a_lim[q] = k - p
        for q in range(B_LOADS):
            idx = tid + q * NT
            if b.trans:  # consecutive p
                p = idx % BK
                col = idx // BK
            else:  # consecutive columns
                col = idx % BN
                p = idx // BN
            gc = j0 + col
            b_to[q] = p * SB + col
            b_at[q] = col * b.ld + p if b.trans else p * b.ld + col
            b_lim[q] = k - p if idx < B_SIZE and gc < m else 0
        a_corner = a.off + (i0 if a.trans else i0 * a.ld)
        b_corner = b.off + (j0 * b.ld if b.trans else j0)
        a_step = BK * a.ld if a.trans else BK
        b_step = BK if b.trans else BK * b.ld
        for i in range(TM):
            for j in range(TN):
                acc[i * TN + j] = zero
        # split-K (gridDim.z > 1): block z multiplies slabs s0 ... s0 + n_slabs - 1
        # of k only, and its partial product goes to ``part`` (``split_sum``).
        # Every piece runs n_slabs slabs: those past k load zeros (their p0
        # fails every ``*_lim``); clamping the count instead keeps the
        # compiler from holding the accumulators in registers.
        n_slabs = ((k + BK - 1) // BK + cuda.gridDim.z - 1) // cuda.gridDim.z
        s0 = cuda.blockIdx.z * n_slabs
        for s in range(n_slabs + 1):
            if s < n_slabs:
                # slab s: global -> registers (while the others multiply slab s - 1)
                p0 = (s0 + s) * BK
                a_shift = a_corner + (s0 + s) * a_step
                b_shift = b_corner + (s0 + s) * b_step
                for q in range(A_LOADS):
                    v = zero
                    if p0 < a_lim[q]:
                        at = a_at[q]
                        v = one if at < 0 else a.M[uint64(at + a_shift)]
                    pa[q] = v
                for q in range(B_LOADS):
                    v = zero
                    if p0 < b_lim[q]:
                        v = b.M[uint64(b_at[q] + b_shift)]
                    pb[q] = v
            if s > 0:
                # multiply slab s - 1, in buffer (s - 1) & 1 (indices as uint64:
                # no negative-index wraparound code in the loop)
                cur = (s - 1) & 1
                a_base = cur * (BK * SA) + ty
                b_base = cur * (BK * SB) + tx
                # unrolled by hand, 4 (or 2) steps of k per trip: the compiler
                # leaves a loop with a body this long rolled
                if BK % 4 == 0:
                    for kk in range(0, BK, 4):
                        a_k = a_base + kk * SA
                        b_k = b_base + kk * SB
                        step(sA, sB, a_k, b_k, acc, ra, rb)
                        step(sA, sB, a_k + SA, b_k + SB, acc, ra, rb)
                        step(sA, sB, a_k + 2 * SA, b_k + 2 * SB, acc, ra, rb)
                        step(sA, sB, a_k + 3 * SA, b_k + 3 * SB, acc, ra, rb)
                else:
                    for kk in range(0, BK, 2):
                        a_k = a_base + kk * SA
                        b_k = b_base + kk * SB
                        step(sA, sB, a_k, b_k, acc, ra, rb)
                        step(sA, sB, a_k + SA, b_k + SB, acc, ra, rb)
            if s < n_slabs:
                # registers -> buffer s & 1, the other one (read at s + 1; its
                # last readers finished before the previous syncthreads)
                base = (s & 1) * (BK * SA)
                for q in range(A_LOADS):
                    if A_SIZE % NT == 0 or tid + q * NT < A_SIZE:
                        sA[uint64(base + a_to[q])] = pa[q]
                base = (s & 1) * (BK * SB)
                for q in range(B_LOADS):
                    if B_SIZE % NT == 0 or tid + q * NT < B_SIZE:
                        sB[uint64(base + b_to[q])] = pb[q]
            cuda.syncthreads()
        # split-K: the partial product goes to plane z of ``part`` (-1: not split)
        plane = cuda.blockIdx.z * (n + 1) * m if cuda.gridDim.z > 1 else -1
        for i in range(TM):
            row = i0 + ty + TY * i
            if row < n or (ones_row and row == n):
                for j in range(TN):
                    col = j0 + tx + TX * j
                    if col < m:
                        store_or_park(c, row, col, n, m, acc[i * TN + j], b.M, epi, part,
                                      plane)

    kernel.__name__ = kernel.__qualname__ = f"gemm_{name_of(tile)}_kernel"
    return cuda.jit(cache=True)(kernel)


def name_of(tile):
    """The key of ``tile`` in ``GEMM_TILES``."""
    return next(name for name, t in GEMM_TILES.items() if t == tile)


GEMM_KERNELS = {name: _register_blocked(tile) for name, tile in GEMM_TILES.items()}
# module names too, so that every ``*_kernel`` sweep (PTX compile test, reports) sees them
globals().update({f"gemm_{name}_kernel": k for name, k in GEMM_KERNELS.items()})


@cuda.jit(cache=True)
def split_sum_kernel(part, splits, c, n, m, epi):
    """The epilogue of a split-K product: ``sum_z part[z]`` (in z order, so the
    result does not depend on scheduling) through ``store_product``, one thread
    per output of the ``n + 1`` x ``m`` planes (row n: WEIGHT_GRAD's bias row)."""
    idx = cuda.grid(1)
    rows = n + 1 if epi.kind == WEIGHT_GRAD else n
    if idx < rows * m:
        value = part[idx]
        for z in range(1, splits):
            value += part[z * (n + 1) * m + idx]
        row = idx // m
        store_product(c, row, idx - row * m, n, m, value, part, epi)


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

def gemm(a, b, c, n, m, k, epi, stream=0):
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
    stream : numba.cuda stream or 0
        Where to launch (0: the default stream).

    The kernel is ``gemm_choice``'s: a register-blocked one for products big
    enough to fill the GPU, else ``gemm_kernel``. A register-blocked weight
    gradient may be split along k (``split_count``): then a second launch,
    ``split_sum_kernel``, sums the pieces and applies the epilogue.
    """
    rows = n + 1 if epi.kind == WEIGHT_GRAD else n
    name = gemm_choice(rows, m, c.M.dtype)
    if name == "tiled":
        t = config.CUDA_TILE
        grid = ((m + t - 1) // t, (rows + t - 1) // t)
        gemm_kernel[grid, (t, t), stream](a, b, c, n, m, k, epi)
        return
    tile = GEMM_TILES[name]
    blocks = ((m + tile.bn - 1) // tile.bn, (rows + tile.bm - 1) // tile.bm)
    splits = split_count(name, blocks[0] * blocks[1], k) if epi.kind == WEIGHT_GRAD else 1
    part = _split_workspace(c.M.dtype, splits * (n + 1) * m if splits > 1 else 1)
    GEMM_KERNELS[name][(*blocks, splits), (tile.bm // tile.tm) * (tile.bn // tile.tn), stream](
        a, b, c, n, m, k, epi, part)
    if splits > 1:
        split_sum_kernel[linear_blocks(rows * m), threads_per_block(), stream](
            part, splits, c, n, m, epi)


_WORKSPACES = threading.local()


def _split_workspace(dtype, size):
    """A device buffer of at least ``size`` elements of ``dtype`` for split-K
    partial products, kept between launches (grown when too small). One per
    host thread: a thread's launches run in order on its stream, while two
    fits in two threads could interleave a product and its sum."""
    key = np.dtype(dtype).str
    buffers = _WORKSPACES.__dict__
    buf = buffers.get(key)
    if buf is None or buf.shape[0] < size:
        buf = buffers[key] = cuda.device_array(max(size, 1), dtype=dtype)
    return buf


def split_count(name, blocks, k):
    """Into how many pieces of k a weight-gradient product on tiling ``name`` with
    ``blocks`` output blocks is split (split-K; 1: not split).

    ``config.CUDA_GEMM_SPLIT_K`` an int forces it (at most one piece per slab);
    ``"auto"``: when the blocks fill less than one wave of the GPU (multi-
    processors x ``config.CUDA_GEMM_BLOCKS_PER_SM[name]`` resident blocks), the
    count of at most 8, each piece at least ``config.CUDA_GEMM_SPLIT_MIN_K`` deep,
    whose blocks fill their waves best (the smallest such count on ties). A
    weight gradient at a large batch is short and wide (785 x 1024 outputs, k =
    4096): unsplit it leaves about half of an H100's block slots idle.
    """
    tile = GEMM_TILES[name]
    n_slabs = (k + tile.bk - 1) // tile.bk
    choice = config.CUDA_GEMM_SPLIT_K
    if choice != "auto":
        return max(1, min(int(choice), n_slabs))
    slots = _multiprocessors() * config.CUDA_GEMM_BLOCKS_PER_SM.get(name, 1)
    if blocks >= slots:
        return 1
    best, best_fill = 1, blocks / slots
    for splits in range(2, 9):
        if k < splits * config.CUDA_GEMM_SPLIT_MIN_K:
            break
        total = blocks * splits
        fill = total / (-(-total // slots) * slots)
        if fill > best_fill + 0.05:
            best, best_fill = splits, fill
    return best


_SMS = []


def _multiprocessors():
    """The current GPU's multiprocessor count (132 where it cannot be read: the
    simulator)."""
    if not _SMS:
        try:
            _SMS.append(int(cuda.get_current_device().MULTIPROCESSOR_COUNT))
        except Exception:
            _SMS.append(132)
    return _SMS[0]


def gemm_choice(rows, m, dtype):
    """Which kernel computes a product with ``rows`` x ``m`` outputs: a key of
    ``GEMM_TILES``, or ``"tiled"`` for ``gemm_kernel``.

    ``config.CUDA_GEMM`` names one, or is ``"auto"``: the first tile of
    ``config.CUDA_GEMM_TILES[dtype]`` (largest first) whose grid has at least
    ``config.CUDA_GEMM_MIN_BLOCKS`` blocks, so that the GPU's multiprocessors
    all get work; products too small for any (small batches, narrow layers)
    keep the cheap one-output-per-thread ``gemm_kernel``. Read at launch time;
    one launch per product whichever is chosen.
    """
    choice = config.CUDA_GEMM
    if choice != "auto":
        return choice
    # memoised: a launch at a small batch costs tens of microseconds of Python,
    # the choice must not add to it (one dict look-up)
    key = (rows, m, dtype, config.CUDA_GEMM_MIN_BLOCKS, id(config.CUDA_GEMM_TILES))
    name = _CHOICES.get(key)
    if name is None:
        name = "tiled"
        for candidate in config.CUDA_GEMM_TILES.get(np.dtype(dtype).name, ()):
            tile = GEMM_TILES[candidate]
            blocks = ((rows + tile.bm - 1) // tile.bm) * ((m + tile.bn - 1) // tile.bn)
            if blocks >= config.CUDA_GEMM_MIN_BLOCKS:
                name = candidate
                break
        if len(_CHOICES) > 4096:
            _CHOICES.clear()
        _CHOICES[key] = name
    return name


_CHOICES = {}


def layer_source(net, i, x, scratch):
    """The input of layer ``i`` as an Operand: the input rows ``x`` (an Operand)
    for the first layer, else layer ``i - 1``'s outputs in ``scratch.acts``."""
    if i == 0:
        return x
    return Operand(scratch.acts, scratch.act_off[i - 1], net.units.item(i), False)


def forward_layer(net, i, source, rows, scratch, keep_pre=False, stream=0):
    """Layer ``i``: ``f(A @ W_i + b_i)`` for ``rows`` rows of ``source`` (an
    Operand) into ``scratch.acts`` at ``act_off[i]``; with ``keep_pre``,
    ``A @ W_i + b_i`` also into ``scratch.deltas`` at the same offset. Launched
    on ``stream`` (0: the default stream).

    A SOFTMAX layer gets only ``A @ W + b`` here: normalise it afterwards with
    ``softmax_rows`` (or ``output_delta``, which fuses it).
    """
    n_in, n_out = net.units.item(i), net.units.item(i + 1)
    code = net.hidden_code if i < len(net.units) - 2 else net.out_code
    gemm(source, Operand(net.params, net.coef_off.item(i), n_out, False),
         Operand(scratch.acts, scratch.act_off[i], n_out, False), rows, n_out, n_in,
         Epilogue(FORWARD, net.inter_off.item(i), scratch.deltas if keep_pre else scratch.acts,
                  IDENTITY if code == SOFTMAX else code, False, keep_pre), stream)


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


def forward(net, x, rows, scratch, training=False, drop=None, stream=0):
    """Every layer's outputs for ``rows`` input rows (the Operand ``x``) into
    ``scratch.acts``; a softmax output is left un-normalised (see
    ``forward_layer``). When ``training`` with an activation of
    ``activations.needs_pre``, hidden pre-activations go to ``scratch.deltas``
    for ``backward``. ``drop``: None, or ``(Dropout, keys)`` with the block's
    row keys on the device (``block_row_keys``): the hidden layers' outputs
    are dropped, and the value f' reads is kept in ``scratch.deltas``.
    ``stream``: where the products are launched (prediction overlaps chunks on
    two streams; dropout runs on the default stream only)."""
    n_layers = len(net.units) - 1
    keep_pre = training and net.hidden_code in activations.NEEDS_PRE
    for i in range(n_layers):
        hidden = i < n_layers - 1
        forward_layer(net, i, layer_source(net, i, x, scratch), rows, scratch,
                      keep_pre and hidden, stream)
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


def softmax_rows(Z, off, rows, cols, stream=0):
    """Row-wise softmax, in place, of the (rows, cols) block of Z at ``off``."""
    softmax_rows_kernel[linear_blocks(rows), threads_per_block(), stream](Z, off, rows, cols)


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
