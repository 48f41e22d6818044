"""The per-sample path: one row at a time through plain loops, no BLAS.

At batch size 1, or when layers are so small that a BLAS call costs more than
its arithmetic, the mini-batch kernels' matrix calls are pure overhead. Here a
row's values live in two small vectors, ``acts`` and ``deltas``, holding the
input row followed by every layer's outputs (offsets ``lay_off``), and each
layer is a loop over the flat parameter vector:

    forward   a_next[j] = f(b[j] + sum_k a[k] W[k, j])
    backward  gW[k, j] += a[k] delta[j];  gb[j] += delta[j]
              delta_prev[k] = f'(a[k]) sum_j W[k, j] delta[j]     (one pass over W)

With ``batch_size == 1`` the gradient is never stored: each weight is updated
by the optimizer as soon as its gradient ``(a delta + alpha W) / w`` is known,
right after its old value has been used for ``delta_prev`` -- the hand-fused
per-sample SGD loop, for any depth, activation, loss and optimizer.

The epoch is one function on purpose: helpers that take arrays cost reference
counting on every call, which at ~100 ns per sample is most of the budget; the
scalar helpers (activate, derivative, loss_term, updated) inline for free.
"""

import math

import numpy as np
from . import kernel

from .activations import IDENTITY, RELU, SOFTMAX, activate, derivative
from .dense import batch_loss, loss_term
from .updates import ADAM, adam_step_size, in_dtype, step_all, typed_hyper, unpack, updated


@kernel(inline="always")
def sum_of_squares(x, n):
    """sum(x[:n] ** 2) in float64, with four partial sums so the additions do
    not wait on each other (a single running sum is a serial chain)."""
    a0 = a1 = a2 = a3 = 0.0
    m = n - n % 4
    for k in range(0, m, 4):
        a0 += x[k] * x[k]
        a1 += x[k + 1] * x[k + 1]
        a2 += x[k + 2] * x[k + 2]
        a3 += x[k + 3] * x[k + 3]
    for k in range(m, n):
        a0 += x[k] * x[k]
    return (a0 + a1) + (a2 + a3)


@kernel
def row_offsets(units):
    """Offsets of the input and of each layer's outputs in a row vector."""
    lay_off = np.zeros(units.shape[0] + 1, dtype=np.int64)
    for i in range(units.shape[0]):
        lay_off[i + 1] = lay_off[i] + units[i]
    return lay_off


@kernel(inline="always")
def forward_row(params, units, coef_off, inter_off, lay_off, hidden_code, out_code, acts):
    """Forward pass of the row in ``acts[:units[0]]``; layer i's outputs go to
    ``acts[lay_off[i + 1]:]``."""
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
        code = out_code if i == n_layers - 1 else hidden_code
        if code == SOFTMAX:
            zmax = acts[oa]
            for j in range(n_out):
                zmax = max(zmax, acts[oa + j])
            norm = 0.0
            for j in range(n_out):
                e = math.exp(acts[oa + j] - zmax)
                acts[oa + j] = e
                norm += e
            for j in range(n_out):
                acts[oa + j] /= norm
        elif code == RELU:  # the common case, with a constant code: vectorises
            for j in range(n_out):
                acts[oa + j] = activate(acts[oa + j], RELU)
        elif code != IDENTITY:
            for j in range(n_out):
                acts[oa + j] = activate(acts[oa + j], code)


@kernel
def run_epoch_rows(X, indptr, indices, data, sparse, Y, sw, weighted, order, contiguous,
                   batch_size, params, units, coef_off, inter_off, grad, n_coef,
                   hidden_code, out_code, loss_code, eps, alpha, solver, hyper, state, step):
    """``epoch.run_epoch`` computed row by row (same arguments without the block
    scratch, same result): the path for batch size 1 and small layers."""
    n = order.shape[0]
    n_layers = units.shape[0] - 1
    n_outputs = units[n_layers]
    lay_off = row_offsets(units)
    acts = np.empty(lay_off[n_layers + 1], dtype=params.dtype)
    deltas = np.empty_like(acts)
    out_a = lay_off[n_layers]
    fused = batch_size == 1
    h = typed_hyper(hyper, params)
    alpha_c = in_dtype(h, alpha)
    hs = unpack(h)
    # sgd without momentum needs no velocity (p -= lr g); the per-sample path
    # then leaves the velocity untouched instead of storing -lr g in it.
    plain_sgd = solver != ADAM and hyper[1] == 0
    s0 = state[0]
    s1 = state[state.shape[0] - 1]  # adam's v; sgd has one state row
    accumulated = 0.0
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        lr_t = hyper[0]
        if solver == ADAM:
            step[0] += 1
            lr_t = adam_step_size(hyper, step[0])
        lr_c = in_dtype(h, lr_t)
        if not fused:
            grad[:] = 0
        total = 0.0
        weight_sum = 0.0
        squares = 0.0
        for r in range(start, stop):
            row = r if contiguous else order[r]
            w = sw[row] if weighted else 1.0
            w_c = in_dtype(h, w)
            # input row -> acts[0 : n_features]
            if sparse:
                acts[: units[0]] = 0
                for k in range(indptr[row], indptr[row + 1]):
                    acts[indices[k]] = data[k]
            else:
                for k in range(units[0]):
                    acts[k] = X[row, k]
            forward_row(params, units, coef_off, inter_off, lay_off, hidden_code, out_code,
                        acts)
            # output delta w (p - y) and loss
            row_loss = 0.0
            for j in range(n_outputs):
                p = acts[out_a + j]
                y = Y[row, j]
                row_loss += loss_term(p, y, loss_code, eps)
                deltas[out_a + j] = (p - y) * w_c
            total += w * row_loss
            weight_sum += w
            if fused:  # sum(W^2) before this row's update, for the L2 loss
                squares = sum_of_squares(params, n_coef)
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
                            deltas[ia + k] = wk * d * derivative(a, hidden_code)
                        if fused:
                            g = a * d + alpha_c * wk
                            if weighted:  # (unweighted rows divide by 1: skip it)
                                g /= w_c
                            if plain_sgd:
                                params[w0 + k] = wk - lr_c * g
                            else:
                                params[w0 + k], s0[w0 + k], s1[w0 + k] = updated(
                                    wk, s0[w0 + k], s1[w0 + k], g, solver, lr_c, hs)
                        else:
                            grad[w0 + k] += a * d
                else:
                    for k in range(n_in):
                        a = acts[ia + k]
                        back = 0.0
                        base = w0 + k * n_out
                        if fused:
                            for j in range(n_out):
                                d = deltas[oa + j]
                                wk = params[base + j]
                                back += wk * d
                                g = a * d + alpha_c * wk
                                if weighted:
                                    g /= w_c
                                if plain_sgd:
                                    params[base + j] = wk - lr_c * g
                                else:
                                    params[base + j], s0[base + j], s1[base + j] = updated(
                                        wk, s0[base + j], s1[base + j], g, solver, lr_c, hs)
                        else:
                            for j in range(n_out):
                                d = deltas[oa + j]
                                back += params[base + j] * d
                                grad[base + j] += a * d
                        if i > 0:
                            deltas[ia + k] = back * derivative(a, hidden_code)
                for j in range(n_out):  # intercepts
                    if not fused:
                        grad[b0 + j] += deltas[oa + j]
                    elif plain_sgd:
                        params[b0 + j] -= lr_c * (deltas[oa + j] / w_c)
                    else:
                        params[b0 + j], s0[b0 + j], s1[b0 + j] = updated(
                            params[b0 + j], s0[b0 + j], s1[b0 + j],
                            deltas[oa + j] / w_c, solver, lr_c, hs)
        if not fused:
            squares = step_all(params, grad, state, solver, hyper, lr_t, n_coef, alpha,
                               weight_sum)
        loss = batch_loss(total, weight_sum, squares, alpha, loss_code, n_outputs)
        if not math.isfinite(loss):
            return math.nan
        accumulated += loss * (stop - start)
    return accumulated


@kernel
def predict_rows(X, params, units, coef_off, inter_off, hidden_code, out_code):
    """Output activations of a few dense rows, without BLAS or block scratch: the
    low-latency path of ``predict`` (one row costs about as much as a call)."""
    n_layers = units.shape[0] - 1
    lay_off = row_offsets(units)
    acts = np.empty(lay_off[n_layers + 1], dtype=params.dtype)
    out = np.empty((X.shape[0], units[n_layers]), dtype=params.dtype)
    for row in range(X.shape[0]):
        for k in range(units[0]):
            acts[k] = X[row, k]
        forward_row(params, units, coef_off, inter_off, lay_off, hidden_code, out_code, acts)
        for j in range(units[n_layers]):
            out[row, j] = acts[lay_off[n_layers] + j]
    return out
