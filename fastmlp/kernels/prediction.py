"""Prediction kernels: the output layer's activations for many rows (blocks
through BLAS) or for a few dense rows (plain loops, the latency path)."""

import numpy as np

from . import kernel
from .bundles import Block, Scratch
from .layers import activation_offsets, forward, layer_view
from .rows import forward_row, row_offsets


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
def predict_rows(X, net):
    """Output activations of a few dense rows, without BLAS or block scratch: the
    low-latency path of ``predict`` (one row costs about as much as a call)."""
    n_layers = net.units.shape[0] - 1
    lay_off = row_offsets(net.units)
    acts = np.empty(lay_off[n_layers + 1], dtype=net.params.dtype)
    pre = np.empty_like(acts)
    out = np.empty((X.shape[0], net.units[n_layers]), dtype=net.params.dtype)
    for row in range(X.shape[0]):
        for k in range(net.units[0]):
            acts[k] = X[row, k]
        forward_row(net, lay_off, acts, pre, None, 0, 0, pre)
        for j in range(net.units[n_layers]):
            out[row, j] = acts[lay_off[n_layers] + j]
    return out
