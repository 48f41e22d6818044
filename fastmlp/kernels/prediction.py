"""Prediction kernels: the output layer's activations for many rows (blocks
through BLAS) or for a few dense rows (plain loops, the latency path).

Both take the network as the fields of a ``Net`` bundle, spelled out as
arguments (``predict_rows(X, *net, out)``): a call with plain arrays and
integers is typed by Numba's dispatcher in C, a call with a tuple of arrays
costs about a microsecond more -- the whole arithmetic of a small network.
"""

import numpy as np

from ..spec import IDENTITY, RELU, SOFTMAX
from . import kernel
from .activations import activate, softmax_row
from .bundles import Block, Inputs, Net, Scratch
from .layers import activation_offsets, forward, layer_view


@kernel
def predict(inputs, net, chunk_rows, out):
    """Forward pass over all rows, ``chunk_rows`` at a time; writes the output
    layer's activations to ``out`` (n_rows, n_outputs)."""
    n_rows = out.shape[0]
    last = net.units.shape[0] - 2
    act_off = activation_offsets(net.units, chunk_rows)
    empty = np.empty(0, dtype=net.params.dtype)
    scratch = Scratch(np.empty(act_off[last + 1], dtype=net.params.dtype), empty,
                      np.empty((0, 0), dtype=net.params.dtype), empty)
    order = np.empty(0, dtype=np.int64)
    for start in range(0, n_rows, chunk_rows):  # (prediction never drops)
        stop = min(start + chunk_rows, n_rows)
        forward(inputs, Block(order, start, stop, True), net, act_off, scratch, None)
        P = layer_view(scratch.acts, act_off[last], stop - start, net.units[last + 1])
        for r in range(stop - start):  # loops: a slice assignment compiles an error message
            for j in range(P.shape[1]):
                out[start + r, j] = P[r, j]


@kernel
def predict_blocks(X, params, units, coef_off, inter_off, n_coef, hidden_code, out_code,
                   chunk_rows, out):
    """``predict`` of a dense, C-contiguous X, the network as ``Net``'s fields."""
    predict(Inputs(X, None, None, None, False),
            Net(params, units, coef_off, inter_off, n_coef, hidden_code, out_code),
            chunk_rows, out)


@kernel
def predict_rows(X, params, units, coef_off, inter_off, n_coef, hidden_code, out_code, out):
    """Output activations of a few dense rows into ``out``, row by row, without
    BLAS or block scratch: the low-latency path. Returns whether every value of
    X is finite (when one is not, ``out`` holds whatever it computed).

    Each layer is ``a_next = f(b + sum_k a[k] W[k, :])`` over the nonzero a[k]
    in order of k (``layer_row``), so the sums are the ones a loop over k adds
    up one by one, whatever the vector width."""
    n_layers = units.shape[0] - 1
    widest = 0
    for width in units:
        widest = max(widest, width)
    ping_pong = np.empty(2 * widest, dtype=params.dtype)
    nonzero_at = np.empty(widest, dtype=np.int64)
    nonzero = np.empty(widest, dtype=params.dtype)
    finite = True
    for row in range(X.shape[0]):
        a = ping_pong[:units[0]]
        for k in range(units[0]):
            value = X[row, k]
            finite &= np.isfinite(value)
            a[k] = value
        for i in range(n_layers):
            n_out = units[i + 1]
            z = ping_pong[widest:widest + n_out] if i % 2 == 0 else ping_pong[:n_out]
            layer_row(a, params, coef_off[i], inter_off[i], n_out, nonzero_at, nonzero, z)
            code = out_code if i == n_layers - 1 else hidden_code
            if code == SOFTMAX:
                softmax_row(z, 0, n_out)
            elif code == RELU:  # the common case, with a constant code: vectorises
                for j in range(n_out):
                    z[j] = activate(z[j], RELU)
            elif code != IDENTITY:
                for j in range(n_out):
                    z[j] = activate(z[j], code)
            a = z
        for j in range(a.shape[0]):
            out[row, j] = a[j]
    return finite


@kernel(inline="always")
def layer_row(a, params, w0, b0, n_out, nonzero_at, nonzero, z):
    """``z = b + sum_k a[k] W[k, :]`` (W = params[w0:] row-major, b = params[b0:])
    over the nonzero a[k] in order of k, four rows of W per pass over z.

    Four at a time, each z[j] still adds its terms one by one in order of k, so
    the result is bitwise that of one pass per k; but z is loaded and stored a
    quarter as often, and the loops over j are long and over slices (Numba
    vectorises a loop over a slice, not one indexing ``z[offset + j]``)."""
    m = 0
    for k in range(a.shape[0]):  # a ReLU layer's zeros cost nothing
        if a[k] != 0:
            nonzero_at[m] = w0 + k * n_out
            nonzero[m] = a[k]
            m += 1
    bias = params[b0:b0 + n_out]
    for j in range(n_out):
        z[j] = bias[j]
    q = 0
    while q + 4 <= m:
        a0, a1, a2, a3 = nonzero[q], nonzero[q + 1], nonzero[q + 2], nonzero[q + 3]
        w0_row = params[nonzero_at[q]:nonzero_at[q] + n_out]
        w1_row = params[nonzero_at[q + 1]:nonzero_at[q + 1] + n_out]
        w2_row = params[nonzero_at[q + 2]:nonzero_at[q + 2] + n_out]
        w3_row = params[nonzero_at[q + 3]:nonzero_at[q + 3] + n_out]
        for j in range(n_out):
            s = z[j]
            s += a0 * w0_row[j]
            s += a1 * w1_row[j]
            s += a2 * w2_row[j]
            s += a3 * w3_row[j]
            z[j] = s
        q += 4
    for p in range(q, m):
        w_row = params[nonzero_at[p]:nonzero_at[p] + n_out]
        for j in range(n_out):
            z[j] += nonzero[p] * w_row[j]
