"""Data-parallel kernels: rows split into a fixed number of pieces, computed in
parallel, and added up in a fixed order.

    (P) A mini-batch (or, for L-BFGS, the whole data) of ``rows`` rows is cut
        into pieces of ``piece_rows`` rows, the last one shorter: piece ``p``
        holds rows ``p piece_rows`` to ``(p + 1) piece_rows``. Each piece runs
        forward, output delta and backward (``layers.block_loss_grad``) into a
        scratch slot and a gradient row of its own.
    (S) The gradient is ``0 + g_0 + g_1 + ...``, element by element in piece
        order; the loss and weight sums likewise.
    (U) The optimizer step runs over ``n_chunks`` fixed chunks of the flat
        parameter vector; each chunk adds up (S) for its elements, then takes
        (G) and the step (``optimizers.step_range``). sum(W^2) and gradient
        clipping's norm are summed per chunk, then over the chunks in order.

How many pieces and chunks there are depends on the batch, the data and the
network only (``config.pieces_of``, ``backends.cpu``), never on the number of
threads; which thread computes a piece or a chunk changes neither what it
computes nor where it goes, so the results are bitwise the same for every
number of threads.

Each kernel is one Python function compiled twice (``SERIAL`` and
``PARALLEL``): the regions -- the functions holding a ``prange`` loop -- with
``prange`` run as ``range`` on the calling thread, and with Numba's
``parallel=True`` on the threading layer ``fastmlp.threads`` chose; the
drivers (an epoch, the L-BFGS objective) call their variant's regions. Numba's
parallel passes make a first compilation slow: a fit whose batches are cut
first compiles in about 17 s instead of 8 on a 2-core machine (once per
machine; ``python -m fastmlp compile`` does it ahead of time), which is one
reason small fits are never cut (``config.PIECE_MIN_SAMPLES``).
A parallel loop costs about 1.2 us of fork and join on the OpenMP layer at
two threads (``benchmarks/pieces_scaling.py``); a mini-batch takes two.
"""

import math
import types

import numpy as np
from numba import njit, prange

from . import kernel
from .bundles import Block, Hyper, Scratch, Solver
from .layers import activation_offsets, block_loss_grad, forward, layer_view
from .losses import accumulated_loss, batch_loss, sum_of_squares
from .optimizers import (
    StepConstants,
    TypedHyper,
    advance_step,
    clip_factor,
    clipped,
    finish_and_step,
    finished_norm2,
    no_update,
    step_constants,
    step_range,
)


@kernel
def piece_loss_grad(inputs, targets, block, net, loss, act_off, pieces, p, dropout):
    """``layers.block_loss_grad`` of piece ``p`` into its slot of ``pieces``,
    its loss and weight sums into ``pieces.sums[p]``. A function of its own,
    so that a parallel loop only calls it: Numba's parallel passes then see a
    call, not the whole forward and backward pass (and they mistreat tuples
    unpacked in a parallel function, which happens here instead)."""
    total, weight_sum = block_loss_grad(inputs, targets, block, net, loss, act_off,
                                        piece_scratch(pieces, p), dropout)
    pieces.sums[p, 0] = total
    pieces.sums[p, 1] = weight_sum


@kernel
def step_chunk(params, n_coef, pieces, used, solver, constants, c):
    """Chunk ``c`` of (S) and (U): the pieces' gradients added up in order into
    ``pieces.grad``, then (G) and the step -- or, when ``constants.clips``, (G)
    only. Writes sum(W^2) of the chunk's coefficients before the step to
    ``pieces.squares[c]`` and its part of (C)'s squared norm (0 without
    clipping) to ``pieces.partial[c]``."""
    grad = pieces.grad
    lo, hi = chunk_bounds(c, params.shape[0], pieces.partial.shape[0])
    grad[lo:hi] = 0
    add_pieces(pieces.grads, used, grad, lo, hi)
    pieces.squares[c] = sum_of_squares(params, lo, max(lo, min(hi, n_coef)))
    pieces.partial[c] = 0.0
    if constants.clips:
        pieces.partial[c] = finished_norm2(grad, params, n_coef, constants.alpha,
                                           constants.weight_sum, lo, hi)
    else:
        step_range(params, n_coef, grad, solver, constants, lo, hi)


@kernel
def add_chunk(pieces, count, grad, c):
    """Chunk ``c`` of (S): ``count`` pieces' gradients added to ``grad``."""
    lo, hi = chunk_bounds(c, grad.shape[0], pieces.partial.shape[0])
    add_pieces(pieces.grads, count, grad, lo, hi)


@kernel
def clipped_step(params, n_coef, grad, scale, solver, constants, lo, hi):
    """Elements ``lo:hi`` of (C)'s scaling of the finished gradient by ``scale``,
    then the step."""
    part = grad[lo:hi]
    for k in range(hi - lo):
        part[k] *= scale
    step_range(params, n_coef, grad, solver, constants, lo, hi)


def chunk_bounds(c, n, n_chunks):
    """Elements ``lo:hi`` of chunk ``c`` when ``n`` elements are cut into
    ``n_chunks`` chunks of equal length (the last one shorter)."""
    size = (n + n_chunks - 1) // n_chunks
    return min(c * size, n), min((c + 1) * size, n)


def piece_scratch(pieces, p):
    """Scratch slot ``p`` of ``PieceScratch`` as the ``Scratch`` that
    ``layers.block_loss_grad`` fills."""
    return Scratch(pieces.acts[p], pieces.deltas[p], pieces.xbuf[p], pieces.grads[p])


def flat_hyper(h):
    """A copy of the ``Hyper`` ``h``, built in the calling kernel (see
    ``step_region``)."""
    return Hyper(h.learning_rate, h.momentum, h.nesterov, h.beta_1, h.beta_2, h.epsilon,
                 h.weight_decay, h.max_grad_norm)


def flat_typed(th):
    """A copy of the ``TypedHyper`` ``th``, built in the calling kernel."""
    return TypedHyper(th.momentum, th.nesterov, th.beta_1, th.one_minus_beta_1, th.beta_2,
                      th.one_minus_beta_2, th.epsilon, th.decay, th.one)


def add_pieces(grads, count, out, lo, hi):
    """(S) on elements ``lo:hi``: ``out += grads[0]``, ``+= grads[1]``, ... for
    ``count`` rows, in order."""
    total = out[lo:hi]  # (views from lo: see ``optimizers.step_range``)
    for p in range(count):
        piece = grads[p, lo:hi]
        for k in range(hi - lo):
            total[k] += piece[k]


def pieces_region(inputs, targets, order, contiguous, start, stop, piece_rows, used, net,
                  loss, act_off, pieces, dropout):
    """(P) on rows ``start:stop`` (of ``order``, or in order when
    ``contiguous``): ``used`` pieces of ``piece_rows`` rows, each into its slot
    of ``pieces``, its loss and weight sums into ``pieces.sums``."""
    for p in prange(used):
        first = start + p * piece_rows
        block = Block(order, first, min(first + piece_rows, stop), contiguous)
        piece_loss_grad(inputs, targets, block, net, loss, act_off, pieces, p, dropout)


def step_region(params, n_coef, pieces, used, solver, constants):
    """(S) and (U) over the chunks of the parameters (see ``step_chunk``)."""
    n_chunks = pieces.partial.shape[0]
    # a parallel loop cannot capture a bundle that holds a bundle of scalars: those
    # it reads are taken apart here (one name each: Numba's parallel passes
    # mistreat tuples unpacked in a parallel function) and put together inside
    code = solver.code
    state = solver.state
    step = solver.step
    hyper = flat_hyper(solver.hyper)
    th = flat_typed(constants.th)
    lr = constants.lr
    alpha = constants.alpha
    weight = constants.weight_sum
    clips = constants.clips
    for c in prange(n_chunks):
        step_chunk(params, n_coef, pieces, used, Solver(code, hyper, state, step),
                   StepConstants(th, lr, alpha, weight, clips), c)


def add_region(pieces, count, grad):
    """(S) of ``count`` pieces' gradients into ``grad``, over the chunks."""
    for c in prange(pieces.partial.shape[0]):
        add_chunk(pieces, count, grad, c)


def run_epoch_pieces(inputs, targets, batches, net, loss, solver, pieces, dropout):
    """``training.run_epoch`` with each mini-batch cut into pieces (P), their
    gradients added up in order (S) and the step taken chunk by chunk (U).

    ``pieces`` is a ``PieceScratch`` of ``n_pieces`` slots of
    ``ceil(batches.size / n_pieces)`` rows. Returns the accumulated loss, or
    NaN as soon as a batch loss is not finite.
    """
    n = batches.order.shape[0]
    params = net.params
    n_params = params.shape[0]
    n_coef = net.n_coef
    n_outputs = net.units[net.units.shape[0] - 1]
    n_pieces = pieces.grads.shape[0]
    n_chunks = pieces.partial.shape[0]
    act_off = activation_offsets(net.units, (batches.size + n_pieces - 1) // n_pieces)
    sums = pieces.sums
    partial = pieces.partial
    squares_of = pieces.squares
    accumulated = 0.0
    for start in range(0, n, batches.size):
        stop = min(start + batches.size, n)
        piece_rows = (stop - start + n_pieces - 1) // n_pieces
        used = (stop - start + piece_rows - 1) // piece_rows
        pieces_region(inputs, targets, batches.order, batches.contiguous, start, stop,
                      piece_rows, used, net, loss, act_off, pieces, dropout)
        total = 0.0
        weight_sum = 0.0
        for p in range(used):
            total += sums[p, 0]
            weight_sum += sums[p, 1]
        constants = step_constants(solver, params, loss.alpha, weight_sum,
                                   advance_step(solver))
        step_region(params, n_coef, pieces, used, solver, constants)
        if constants.clips:  # (C), then the step, on this thread (clipping is rare:
            # one more parallel loop would add about 1.7 s to the first compilation)
            norm2 = 0.0
            for c in range(n_chunks):
                norm2 += partial[c]
            clipped_step(params, n_coef, pieces.grad,
                         clip_factor(norm2, params, solver.hyper.max_grad_norm), solver,
                         clipped(constants), np.int64(0), n_params)
        squares = 0.0
        for c in range(n_chunks):
            squares += squares_of[c]
        accumulated = accumulated_loss(accumulated, total, weight_sum, squares, loss.alpha,
                                       loss.code, n_outputs, stop - start)
        if math.isnan(accumulated):
            return accumulated
    return accumulated


def loss_grad_pieces(inputs, targets, net, loss, piece_rows, pieces, grad):
    """``training.loss_grad`` with the rows cut into pieces of ``piece_rows``
    rows (P), computed a wave of ``n_slots`` pieces at a time, and their
    gradients added up in piece order (S). Returns the loss; writes the
    finished gradient to ``grad``."""
    n = targets.Y.shape[0]
    n_outputs = net.units[net.units.shape[0] - 1]
    n_slots = pieces.grads.shape[0]
    act_off = activation_offsets(net.units, piece_rows)
    order = np.empty(0, dtype=np.int64)
    n_pieces = (n + piece_rows - 1) // piece_rows
    sums = pieces.sums
    grad[:] = 0
    total = 0.0
    weight_sum = 0.0
    for wave in range(0, n_pieces, n_slots):  # (no dropout: the objective is deterministic)
        count = min(n_slots, n_pieces - wave)
        pieces_region(inputs, targets, order, True, wave * piece_rows, n, piece_rows, count,
                      net, loss, act_off, pieces, None)
        add_region(pieces, count, grad)
        for p in range(count):
            total += sums[p, 0]
            weight_sum += sums[p, 1]
    squares = finish_and_step(net, grad, loss.alpha, weight_sum, no_update(net.params), 0.0)
    return batch_loss(total, weight_sum, squares, loss.alpha, loss.code, n_outputs)


def predict_pieces(inputs, net, chunk_rows, out):
    """``prediction.predict`` with its blocks of ``chunk_rows`` rows computed in
    parallel, each into scratch of its own: every row's result is the one the
    serial kernel computes (the same blocks, the same products)."""
    n_rows = out.shape[0]
    last = net.units.shape[0] - 2
    act_off = activation_offsets(net.units, chunk_rows)
    dtype = net.params.dtype
    order = np.empty(0, dtype=np.int64)
    for b in prange((n_rows + chunk_rows - 1) // chunk_rows):  # (prediction never drops)
        start = b * chunk_rows
        stop = min(start + chunk_rows, n_rows)
        empty = np.empty(0, dtype=dtype)
        scratch = Scratch(np.empty(act_off[last + 1], dtype=dtype), empty,
                          np.empty((0, 0), dtype=dtype), empty)
        forward(inputs, Block(order, start, stop, True), net, act_off, scratch, None)
        P = layer_view(scratch.acts, act_off[last], stop - start, net.units[last + 1])
        for r in range(stop - start):
            for j in range(P.shape[1]):
                out[start + r, j] = P[r, j]


_HELPERS = (chunk_bounds, piece_scratch, flat_hyper, flat_typed, add_pieces)
_REGIONS = (pieces_region, step_region, add_region, predict_pieces)
_DRIVERS = (run_epoch_pieces, loss_grad_pieces)


def _variant(function, suffix, namespace):
    """``function`` reading its globals from ``namespace`` and named with
    ``suffix`` (a name of its own keeps its on-disk cache entries apart)."""
    copy = types.FunctionType(function.__code__, namespace, function.__name__,
                              function.__defaults__)
    copy.__qualname__ = function.__name__ + suffix
    return copy


def _compile(parallel):
    """The kernels of one variant: its regions (the functions holding a
    parallel loop) compiled with ``parallel``, and the drivers -- the same
    source for both variants -- calling that variant's regions."""
    suffix = "_parallel" if parallel else ""
    options = dict(cache=True, nogil=True, error_model="numpy")
    namespace = dict(globals())
    compiled = {}
    for region in _REGIONS:
        compiled[region.__name__] = njit(parallel=parallel, **options)(
            _variant(region, suffix, namespace))
    namespace.update(compiled)
    for driver in _DRIVERS:
        compiled[driver.__name__] = njit(**options)(_variant(driver, suffix, namespace))
    return compiled


# the helpers are inlined into both variants (they hold no parallel loop)
for _helper in _HELPERS:
    globals()[_helper.__name__] = njit(inline="always", cache=True, error_model="numpy")(
        _helper)

SERIAL = _compile(False)
"""The kernels, one thread: ``prange`` runs as ``range`` on the calling thread."""

PARALLEL = _compile(True)
"""The kernels on Numba's threading layer (``numba.set_num_threads`` threads)."""
