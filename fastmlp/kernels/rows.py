"""The per-sample path: one row at a time through plain loops, no BLAS.

At batch size 1, or when layers are so small that a BLAS call costs more than
its arithmetic, the mini-batch kernels' matrix calls are pure overhead. Here a
row's values live in two small vectors, ``acts`` and ``deltas``, holding the
input row followed by every layer's outputs (offsets ``lay_off``), and each
layer is a loop over the flat parameter vector (``deltas`` keeps a hidden
unit's pre-activation z until its delta replaces it, for the activations whose
f' needs z):

    forward   a_next[j] = f(b[j] + sum_k a[k] W[k, j])
    backward  gW[k, j] += a[k] delta[j];  gb[j] += delta[j]
              delta_prev[k] = f'(a[k]) sum_j W[k, j] delta[j]     (one pass over W)

With ``batch_size == 1`` the gradient is never stored: each weight is updated
by the optimizer as soon as its gradient ``(a delta + alpha W) / w`` is known,
right after its old value has been used for ``delta_prev`` -- the hand-fused
per-sample SGD loop, for any depth, activation, loss and optimizer. The L2
loss's sum(W^2) before the row's update is summed from those old values.

Three switches are tested inside the update loops: batch size 1 without
gradient clipping (fused; clipping needs the row's whole gradient first),
plain sgd (no momentum: no velocity) and sample weights. ``epoch_rows`` takes
them as arguments; ``run_epoch_rows`` passes them computed at run time, while
per-sample sgd without momentum on unweighted rows calls ``epoch_rows`` without
them, which compiles a version where they are constants and the loops carry no
tests (each version is compiled on first use).

The epoch is one function on purpose: helpers that take arrays cost reference
counting on every call, which at ~100 ns per sample is most of the budget; the
scalar helpers (activate, derivative, delta_and_loss, finished_gradient,
updated) inline for free. The optimizer step is spelled out at its three
sites (each weight of a single-output layer, of a wider layer, each
intercept) for the same reason: plain sgd must not touch the velocity, and a
helper taking the arrays costs reference counting per weight (measured: 10x).
"""

import math

import numpy as np

from ..spec import ADAMW, IDENTITY, RELU, SGD, SOFTMAX
from . import kernel
from .activations import activate, derivative, needs_pre, softmax_row
from .dropout import row_keys, unit_kept
from .inputs import load_row, row_index
from .losses import accumulated_loss, delta_and_loss
from .optimizers import (
    advance_step,
    cast_like,
    coupled_alpha,
    finish_and_step,
    finished_gradient,
    step_epsilon,
    typed_hyper,
    updated,
)


@kernel
def row_offsets(units):
    """Offsets of the input and of each layer's outputs in a row vector."""
    lay_off = np.zeros(units.shape[0] + 1, dtype=np.int64)
    for i in range(units.shape[0]):
        lay_off[i + 1] = lay_off[i] + units[i]
    return lay_off


@kernel(inline="always")
def forward_row(net, lay_off, acts, pre, dropout, lo, hi, factors):
    """Forward pass of the row in ``acts[:units[0]]``; layer i's outputs go to
    ``acts[lay_off[i + 1]:]``. For an activation of ``needs_pre``, hidden
    pre-activations go to the same offsets of ``pre`` (the row's deltas, unused
    until the backward pass reaches them). When ``dropout`` drops, the hidden
    outputs are dropped with the row's keys (lo, hi) (``dropout.py``), ``pre``
    keeps the value f' reads (z, or the undropped output) and ``factors`` the
    units' dropout factors (scale or 0), at the same offsets. ``dropout`` None:
    no dropout (and no dropout code compiled)."""
    params, units, coef_off, inter_off = net.params, net.units, net.coef_off, net.inter_off
    n_layers = units.shape[0] - 1
    for i in range(n_layers):
        n_in, n_out = units[i], units[i + 1]
        ia, oa, w0, b0 = lay_off[i], lay_off[i + 1], coef_off[i], inter_off[i]
        if n_out == 1:  # a dot product: W's single column is contiguous
            z = params[b0]
            for k in range(n_in):
                z += acts[ia + k] * params[w0 + k]
            acts[oa] = z
        else:
            for j in range(n_out):
                acts[oa + j] = params[b0 + j]
            for k in range(n_in):
                a = acts[ia + k]
                if a != 0:
                    base = w0 + k * n_out
                    for j in range(n_out):
                        acts[oa + j] += a * params[base + j]
        code = net.out_code if i == n_layers - 1 else net.hidden_code
        if code == SOFTMAX:
            softmax_row(acts, oa, n_out)
        elif code == RELU:  # the common case, with a constant code: vectorises
            for j in range(n_out):
                acts[oa + j] = activate(acts[oa + j], RELU)
        elif needs_pre(code) and i < n_layers - 1:
            for j in range(n_out):
                pre[oa + j] = acts[oa + j]
                acts[oa + j] = activate(pre[oa + j], code)
        elif code != IDENTITY:
            for j in range(n_out):
                acts[oa + j] = activate(acts[oa + j], code)
        if dropout is not None and i < n_layers - 1:
            threshold = dropout.threshold[i]
            scale = cast_like(acts, dropout.scale[i])
            zero = cast_like(acts, 0.0)
            store = not needs_pre(code)
            if store:
                for j in range(n_out):
                    pre[oa + j] = acts[oa + j]
            for j in range(n_out):  # the factors are kept: the backward pass needs them
                factors[oa + j] = scale if unit_kept(lo, hi, b0 + j, threshold) else zero
                acts[oa + j] *= factors[oa + j]


@kernel
def epoch_rows(inputs, targets, batches, net, loss, solver, scratch, dropout, fused=True,
               plain_sgd=True, weighted=False):
    """The body of ``run_epoch_rows`` with its three switches as arguments:
    ``fused`` (batch size 1: each parameter stepped as soon as its gradient is
    known), ``plain_sgd`` (sgd without momentum: p -= lr g, the velocity left
    untouched instead of storing -lr g in it) and ``weighted`` (sample weights).

    Left out, the switches are compile-time constants (Numba lowers an omitted
    argument as its default), so this kernel called with the eight bundles alone
    is the classic per-sample SGD loop -- batch size 1, no momentum, unweighted
    rows -- with the other branches dropped and the update loops free of tests;
    ``run_epoch_rows`` passes them, computed at run time, for every other case.
    Each version is compiled only by the fits that use it.
    """
    order = batches.order
    n = order.shape[0]
    params, units = net.params, net.units
    n_layers = units.shape[0] - 1
    n_outputs = units[n_layers]
    lay_off = row_offsets(units)
    acts = np.empty(lay_off[n_layers + 1], dtype=params.dtype)
    deltas = np.empty_like(acts)
    factors = np.empty_like(acts)  # hidden units' dropout factors (when dropping)
    out_a = lay_off[n_layers]
    Y, sw = targets.Y, targets.sw
    coef_off, inter_off, hidden_code = net.coef_off, net.inter_off, net.hidden_code
    keep_pre = needs_pre(hidden_code)  # deltas[...] holds z until overwritten
    relu = hidden_code == RELU  # the common case, with a constant code (as forward_row)
    code = solver.code
    th = typed_hyper(solver.hyper, params, solver.hyper.epsilon)
    alpha_c = cast_like(params, coupled_alpha(code, loss.alpha))
    zero = cast_like(params, 0.0)
    s0 = solver.state[0]
    s1 = solver.state[solver.state.shape[0] - 1]  # adam's v; sgd has one state row
    grad = scratch.grad
    lo = hi = 0  # the row's dropout keys
    accumulated = 0.0
    for start in range(0, n, batches.size):
        stop = min(start + batches.size, n)
        lr_t = advance_step(solver)
        lr_c = cast_like(params, lr_t)
        if code == ADAMW:  # its epsilon changes with the step
            th = typed_hyper(solver.hyper, params,
                             step_epsilon(code, solver.hyper, solver.step[0]))
        if not fused:
            grad[:] = 0
        total = 0.0
        weight_sum = 0.0
        # fused: sum(W^2) before the row's update, for the L2 loss (from the old
        # values the updates read, in the parameters' dtype)
        w_squares = zero
        for r in range(start, stop):
            row = row_index(order, 0, r, batches.contiguous)
            w = sw[row] if weighted else 1.0
            w_c = cast_like(params, w)
            load_row(inputs, row, units[0], acts)
            if dropout is not None:
                lo, hi = row_keys(dropout.key_lo, dropout.key_hi, row)
            forward_row(net, lay_off, acts, deltas, dropout, lo, hi, factors)
            row_loss = 0.0
            for j in range(n_outputs):
                deltas[out_a + j], term = delta_and_loss(acts[out_a + j], Y[row, j], w_c,
                                                         loss.code, loss.eps)
                row_loss += term
            total += w * row_loss
            weight_sum += w
            # backward (fused: update each parameter once its gradient is known)
            for i in range(n_layers - 1, -1, -1):
                n_in, n_out = units[i], units[i + 1]
                ia, oa, w0, b0 = lay_off[i], lay_off[i + 1], coef_off[i], inter_off[i]
                if n_out == 1:  # one delta: no inner loop over outputs
                    d = deltas[oa]
                    for k in range(n_in):
                        a = acts[ia + k]
                        wk = params[w0 + k]
                        if i > 0:
                            if dropout is not None:  # f' of the kept value, times its factor
                                v = deltas[ia + k]
                                f_prime = (derivative(v, v, RELU) if relu else derivative(
                                    v, v, hidden_code)) * factors[ia + k]
                            else:
                                f_prime = derivative(a, a, RELU) if relu else derivative(
                                    a, deltas[ia + k] if keep_pre else a, hidden_code)
                            deltas[ia + k] = wk * d * f_prime
                        if fused:  # (unweighted rows divide by 1: skipped)
                            g = finished_gradient(a * d, wk, alpha_c, w_c, weighted)
                            w_squares += wk * wk
                            if plain_sgd:
                                params[w0 + k] = wk - lr_c * g
                            else:
                                params[w0 + k], s0[w0 + k], s1[w0 + k] = updated(
                                    wk, s0[w0 + k], s1[w0 + k], g, code, lr_c, th, th.decay)
                        else:
                            grad[w0 + k] += a * d
                else:
                    for k in range(n_in):
                        a = acts[ia + k]
                        base = w0 + k * n_out
                        if i > 0:  # delta_prev[k], from W's row k before its update
                            back = 0.0
                            for j in range(n_out):
                                back += params[base + j] * deltas[oa + j]
                            if dropout is not None:
                                v = deltas[ia + k]
                                deltas[ia + k] = back * (derivative(v, v, RELU) if relu else
                                                         derivative(v, v, hidden_code)
                                                         ) * factors[ia + k]
                            else:
                                deltas[ia + k] = back * (
                                    derivative(a, a, RELU) if relu else derivative(
                                        a, deltas[ia + k] if keep_pre else a, hidden_code))
                        if fused:
                            for j in range(n_out):
                                wk = params[base + j]
                                w_squares += wk * wk
                                g = finished_gradient(a * deltas[oa + j], wk, alpha_c, w_c,
                                                      weighted)
                                if plain_sgd:
                                    params[base + j] = wk - lr_c * g
                                else:
                                    params[base + j], s0[base + j], s1[base + j] = updated(
                                        wk, s0[base + j], s1[base + j], g, code, lr_c, th,
                                        th.decay)
                        else:
                            for j in range(n_out):
                                grad[base + j] += a * deltas[oa + j]
                for j in range(n_out):  # intercepts
                    if fused:
                        b = params[b0 + j]
                        g = finished_gradient(deltas[oa + j], b, zero, w_c, True)
                        if plain_sgd:
                            params[b0 + j] = b - lr_c * g
                        else:
                            params[b0 + j], s0[b0 + j], s1[b0 + j] = updated(
                                b, s0[b0 + j], s1[b0 + j], g, code, lr_c, th, th.one)
                    else:
                        grad[b0 + j] += deltas[oa + j]
        squares = float(w_squares)
        if not fused:
            squares = finish_and_step(net, grad, loss.alpha, weight_sum, solver, lr_t)
        accumulated = accumulated_loss(accumulated, total, weight_sum, squares, loss.alpha,
                                       loss.code, n_outputs, stop - start)
        if math.isnan(accumulated):
            return accumulated
    return accumulated


def run_epoch_rows(inputs, targets, batches, net, loss, solver, scratch, dropout):
    """``training.run_epoch`` computed row by row (same arguments and result;
    only ``scratch.grad`` is used, and only when not fused): the
    path for batch size 1 and small layers.

    Works out ``epoch_rows``'s three switches and leaves them out when they
    equal its defaults (per-sample sgd without momentum on unweighted rows), so
    that case runs the version compiled with them as constants."""
    # clipping (C) needs the row's whole gradient before any update: not fused
    fused = batches.size == 1 and solver.hyper.max_grad_norm == 0
    plain_sgd = solver.code == SGD and solver.hyper.momentum == 0
    args = (inputs, targets, batches, net, loss, solver, scratch, dropout)
    if fused and plain_sgd and not targets.weighted:
        return epoch_rows(*args)
    return epoch_rows(*args, fused, plain_sgd, targets.weighted)
