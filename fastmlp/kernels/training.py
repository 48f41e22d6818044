"""Whole-data training kernels on the mini-batch (BLAS) path: one epoch of sgd /
adam, and the full-data objective of L-BFGS. Each is one compiled call."""

import math

import numpy as np

from . import kernel
from .bundles import Block
from .layers import activation_offsets, block_loss_grad
from .losses import accumulated_loss, batch_loss
from .optimizers import advance_step, finish_and_step, no_update


@kernel
def run_epoch(inputs, targets, batches, net, loss, solver, scratch, dropout):
    """Train one epoch: walk ``batches.order`` in mini-batches and, for each, run
    forward, backward and the optimizer update, with the epoch's ``Dropout``
    (None: none).

    Returns the sum over batches of batch loss x batch rows (scikit-learn's
    ``accumulated_loss``), or NaN as soon as a batch loss is not finite.
    ``solver.state`` and ``solver.step`` are updated in place, as ``net.params``.
    """
    n = batches.order.shape[0]
    n_outputs = net.units[net.units.shape[0] - 1]
    act_off = activation_offsets(net.units, batches.size)
    accumulated = 0.0
    for start in range(0, n, batches.size):
        stop = min(start + batches.size, n)
        block = Block(batches.order, start, stop, batches.contiguous)
        total, weight_sum = block_loss_grad(inputs, targets, block, net, loss, act_off,
                                            scratch, dropout)
        squares = finish_and_step(net, scratch.grad, loss.alpha, weight_sum, solver,
                                  advance_step(solver))
        accumulated = accumulated_loss(accumulated, total, weight_sum, squares, loss.alpha,
                                       loss.code, n_outputs, stop - start)
        if math.isnan(accumulated):
            return accumulated
    return accumulated


@kernel
def loss_grad(inputs, targets, net, loss, chunk_rows, scratch, grad):
    """Full-data objective for L-BFGS: returns the loss and writes its finished
    gradient to ``grad`` (through ``finish_and_step``, as training does),
    processing ``chunk_rows`` rows at a time so scratch stays small."""
    n = targets.Y.shape[0]
    n_outputs = net.units[net.units.shape[0] - 1]
    act_off = activation_offsets(net.units, chunk_rows)
    order = np.empty(0, dtype=np.int64)
    chunk_grad = scratch.grad
    grad[:] = 0
    total = 0.0
    weight_sum = 0.0
    for start in range(0, n, chunk_rows):  # (no dropout: the objective is deterministic)
        block = Block(order, start, min(start + chunk_rows, n), True)
        t, w = block_loss_grad(inputs, targets, block, net, loss, act_off, scratch, None)
        total += t
        weight_sum += w
        for k in range(grad.shape[0]):
            grad[k] += chunk_grad[k]
    squares = finish_and_step(net, grad, loss.alpha, weight_sum, no_update(net.params), 0.0)
    return batch_loss(total, weight_sum, squares, loss.alpha, loss.code, n_outputs)
