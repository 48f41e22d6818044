"""Whole-data kernels: one training epoch, full-batch loss + gradient, prediction.

Each is one compiled call from Python. Argument groups shared by all three:

- input ``X, indptr, indices, data, sparse``: a dense C-contiguous block, or a
  CSR matrix (``X`` is then an unused (0, 0) array of the same dtype);
- network ``params, units, coef_off, inter_off, hidden_code, out_code``
  (see ``dense.py`` for the flat layout).
"""

import math

import numpy as np
from . import kernel

from .dense import (
    activation_offsets,
    block_loss_grad,
    batch_loss,
    finalize_gradient,
    forward,
    layer_view,
)
from .updates import ADAM, adam_step_size, step_all


@kernel
def run_epoch(X, indptr, indices, data, sparse, Y, sw, weighted, order, contiguous,
              batch_size, params, units, coef_off, inter_off, grad, n_coef,
              hidden_code, out_code, loss_code, eps, alpha, acts, deltas, xbuf,
              solver, hyper, state, step):
    """Train one epoch: walk ``order`` in mini-batches of ``batch_size`` rows, and
    for each batch run forward, backward and the optimizer update.

    hyper = (learning_rate, momentum, nesterov, beta_1, beta_2, epsilon);
    state = velocity (sgd) or (m, v) rows (adam); step[0] = Adam's t (updated).
    Returns sum over batches of batch_loss * batch_rows (scikit-learn's
    ``accumulated_loss``), or NaN as soon as a batch loss is not finite.
    """
    n = order.shape[0]
    n_outputs = units[units.shape[0] - 1]
    act_off = activation_offsets(units, batch_size)
    lr = hyper[0]
    accumulated = 0.0
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        total, weight_sum = block_loss_grad(
            X, indptr, indices, data, sparse, Y, sw, weighted, order, start, stop,
            contiguous, params, grad, units, coef_off, inter_off, act_off,
            hidden_code, out_code, loss_code, eps, acts, deltas, xbuf)
        lr_t = lr
        if solver == ADAM:
            step[0] += 1
            lr_t = adam_step_size(hyper, step[0])
        squares = step_all(params, grad, state, solver, hyper, lr_t, n_coef, alpha,
                           weight_sum)
        loss = batch_loss(total, weight_sum, squares, alpha, loss_code, n_outputs)
        if not math.isfinite(loss):
            return math.nan
        accumulated += loss * (stop - start)
    return accumulated


@kernel
def loss_grad(X, indptr, indices, data, sparse, Y, sw, weighted, params, units,
              coef_off, inter_off, grad, n_coef, hidden_code, out_code, loss_code,
              eps, alpha, chunk_rows, acts, deltas, xbuf, grad_chunk):
    """Full-data objective for L-BFGS: returns the loss and writes its gradient to
    ``grad``, processing ``chunk_rows`` rows at a time (scratch stays small)."""
    n = Y.shape[0]
    n_outputs = units[units.shape[0] - 1]
    act_off = activation_offsets(units, chunk_rows)
    order = np.empty(0, dtype=np.int64)
    grad[:] = 0
    total = 0.0
    weight_sum = 0.0
    for start in range(0, n, chunk_rows):
        stop = min(start + chunk_rows, n)
        t, w = block_loss_grad(
            X, indptr, indices, data, sparse, Y, sw, weighted, order, start, stop,
            True, params, grad_chunk, units, coef_off, inter_off, act_off,
            hidden_code, out_code, loss_code, eps, acts, deltas, xbuf)
        total += t
        weight_sum += w
        for k in range(grad.shape[0]):
            grad[k] += grad_chunk[k]
    squares = finalize_gradient(params, grad, n_coef, alpha, weight_sum)
    return batch_loss(total, weight_sum, squares, alpha, loss_code, n_outputs)


@kernel
def predict(X, indptr, indices, data, sparse, n_rows, params, units, coef_off,
            inter_off, hidden_code, out_code, chunk_rows, out):
    """Forward pass over all rows, ``chunk_rows`` at a time; writes the output
    layer's activations to ``out`` (n_rows, n_outputs)."""
    n_layers = units.shape[0] - 1
    act_off = activation_offsets(units, chunk_rows)
    acts = np.empty(act_off[n_layers], dtype=params.dtype)
    xbuf = np.empty((0, 0), dtype=params.dtype)
    order = np.empty(0, dtype=np.int64)
    last = n_layers - 1
    for start in range(0, n_rows, chunk_rows):
        stop = min(start + chunk_rows, n_rows)
        forward(X, indptr, indices, data, sparse, order, start, stop, True, xbuf,
                params, units, coef_off, inter_off, act_off, acts, hidden_code, out_code)
        out[start:stop] = layer_view(acts, act_off[last], stop - start, units[last + 1])
