"""A block of rows through the network: forward, output delta + loss, backward.

Notation (for layer ``i`` with input ``A`` of shape (rows, n_in)):

    (F)  Z = A @ W + b,  A_next = f(Z)                forward, fused with bias + f
    (O)  delta_out = w (p - y)                        canonical link (``losses.py``)
    (B)  dW = A.T @ delta,  db = sum_rows(delta)      unnormalised gradient sums
         delta_prev = (delta @ W.T) * f'(A)           derivative from the output A
                                                      (or from Z, see below)

The network is a ``Net`` bundle (see ``bundles.py`` for the flat parameter
layout). Activations and deltas of a block of at most ``max_rows`` rows live in
the flat ``Scratch`` buffers; layer ``i`` occupies ``act_off[i] : act_off[i] +
rows * units[i+1]``. Nothing here allocates per block (``products.gemm`` does,
one output-sized buffer, when it sums a gradient in several pieces).

Activations whose f' needs the pre-activation Z (``activations.needs_pre``:
GELU, SiLU) cost no extra memory: while training, the forward pass keeps each
hidden layer's Z in that layer's slot of ``deltas`` (unused until the backward
pass reaches it), and the backward pass computes ``delta @ W.T`` into the
layer's slot of ``acts`` (no longer needed once dW is known) before writing
``delta_prev = (delta @ W.T) * f'(Z)`` over Z. Other activations run exactly
as before.

Why BLAS and a separate elementwise pass, not one fused loop: on every product
shape of the mid-size regime (16 x 32 x 32 to 100 x 100 x 100, float32 and
float64) OpenBLAS ran 2-11x faster than Numba loops (row-axpy order, and four
rows at a time sharing each load of W), so (F) and (B) call ``products.gemm``
and then make one pass over the block while it is in cache. What made that pass
cost as much as the products was reading the activation code per element; ReLU,
tanh, logistic and identity therefore get loops with a constant code
(``bias_activate``, ``scale_by_derivative``), which vectorise, and the other
codes call ``activate_any`` / ``derivative_any``.

Dropout (``dropout.py``) multiplies each hidden layer's outputs by the mask
after (F); while it drops, every hidden layer keeps the value its f' reads --
Z for the codes above, the undropped output A otherwise -- in its slot of
``deltas``, and (B) takes the ``needs_pre`` route with the mask applied to
``delta_prev`` (``drop_units``, ``dropped_derivative``).

Helpers called from one place are inlined (``inline="always"``): each
separately compiled function adds a fixed cost to a cold first fit.
"""

import numpy as np

from ..spec import IDENTITY, LOGISTIC, RELU, SOFTMAX, TANH
from . import kernel
from .activations import (
    activate_any,
    derivative_any,
    logistic_derivative,
    needs_pre,
    relu,
    relu_derivative,
    softmax_row,
    tanh_derivative,
)
from .dropout import row_keys, unit_kept
from .inputs import input_gradient, input_product, row_index
from .losses import delta_and_loss
from .products import gemm


@kernel
def layer_view(buf, off, rows, cols):
    """Row-major (rows, cols) view of ``buf`` starting at ``off``."""
    return buf[off : off + rows * cols].reshape((rows, cols))


@kernel
def coef_view(params, net, i):
    """Layer ``i``'s coefficients in ``params`` (the parameters or a gradient of
    the same layout), a (units[i], units[i+1]) view."""
    return layer_view(params, net.coef_off[i], net.units[i], net.units[i + 1])


@kernel
def intercept_view(params, net, i):
    """Layer ``i``'s intercepts in ``params`` (or a gradient of the same layout)."""
    return params[net.inter_off[i] : net.inter_off[i] + net.units[i + 1]]


@kernel
def activation_offsets(units, max_rows):
    """Offsets of each layer's (max_rows, units[i+1]) block in the scratch buffers."""
    n_layers = units.shape[0] - 1
    off = np.empty(n_layers + 1, dtype=np.int64)
    off[0] = 0
    for i in range(n_layers):
        off[i + 1] = off[i] + max_rows * units[i + 1]
    return off


@kernel(inline="always")
def bias_activate(Z, b, code, pre):
    """In place: ``Z = f(Z + b)`` row by row; SOFTMAX normalises each row. When
    ``pre`` has rows (training an activation of ``needs_pre``), ``Z + b`` is
    also kept there. The common codes get loops of their own: with a constant
    code the loop has no branch per element and vectorises."""
    rows, cols = Z.shape
    keep = pre.shape[0] > 0
    for r in range(rows):
        if code == SOFTMAX:
            for j in range(cols):
                Z[r, j] += b[j]
            softmax_row(Z[r], 0, cols)
        elif code == RELU:
            for j in range(cols):
                Z[r, j] = relu(Z[r, j] + b[j])
        elif code == IDENTITY:
            for j in range(cols):
                Z[r, j] += b[j]
        else:
            for j in range(cols):
                z = Z[r, j] + b[j]
                if keep:
                    pre[r, j] = z
                Z[r, j] = activate_any(z, code)


@kernel(inline="always")
def scale_by_derivative(D, A, code):
    """In place: ``D *= f'(A)`` from the outputs ``A = f(Z)`` (codes whose f' is
    written from the output). ReLU, tanh and logistic get loops with a constant
    code, which vectorise; a code read per element costs as much as the matrix
    products of a mid-size layer."""
    rows, cols = D.shape
    for r in range(rows):
        if code == RELU:
            for j in range(cols):
                D[r, j] *= relu_derivative(A[r, j])
        elif code == TANH:
            for j in range(cols):
                D[r, j] *= tanh_derivative(A[r, j])
        elif code == LOGISTIC:
            for j in range(cols):
                D[r, j] *= logistic_derivative(A[r, j])
        else:
            for j in range(cols):
                D[r, j] *= derivative_any(A[r, j], A[r, j], code)


@kernel(inline="always")
def drop_units(A, kept_value, block, dropout, layer, unit0, store):
    """Dropout of hidden layer ``layer`` on its block of outputs ``A``: each unit
    times ``scale`` if kept, else 0; with ``store``, ``kept_value`` first receives
    the undropped outputs (f' reads them in ``dropped_derivative``). Units are
    numbered from ``unit0`` (the layer's intercept offset)."""
    rows, cols = A.shape
    threshold = dropout.threshold[layer]
    scale = A.dtype.type(dropout.scale[layer])
    zero = A.dtype.type(0.0)
    for r in range(rows):
        lo, hi = row_keys(dropout.key_lo, dropout.key_hi,
                          row_index(block.order, block.start, r, block.contiguous))
        if store:
            for j in range(cols):
                kept_value[r, j] = A[r, j]
        for j in range(cols):  # (the hash vectorises: 32-bit lanes)
            A[r, j] *= scale if unit_kept(lo, hi, unit0 + j, threshold) else zero


@kernel(inline="always")
def dropped_derivative(D, P, block, dropout, layer, unit0, code):
    """(B) under dropout: ``D = P * f'(v) * m / (1 - p)``, with ``v`` the value
    f' reads (kept in ``D`` by the forward pass) and ``P = delta @ W.T``. ReLU,
    tanh and logistic get loops with a constant code, as in
    ``scale_by_derivative``."""
    rows, cols = D.shape
    threshold = dropout.threshold[layer]
    scale = D.dtype.type(dropout.scale[layer])
    zero = D.dtype.type(0.0)
    for r in range(rows):
        lo, hi = row_keys(dropout.key_lo, dropout.key_hi,
                          row_index(block.order, block.start, r, block.contiguous))
        if code == RELU:
            for j in range(cols):
                D[r, j] = P[r, j] * relu_derivative(D[r, j])
        elif code == TANH:
            for j in range(cols):
                D[r, j] = P[r, j] * tanh_derivative(D[r, j])
        elif code == LOGISTIC:
            for j in range(cols):
                D[r, j] = P[r, j] * logistic_derivative(D[r, j])
        else:
            for j in range(cols):
                v = D[r, j]
                D[r, j] = P[r, j] * derivative_any(v, v, code)
        for j in range(cols):
            D[r, j] *= scale if unit_kept(lo, hi, unit0 + j, threshold) else zero


@kernel
def forward(inputs, block, net, act_off, scratch, dropout):
    """(F) for every layer; outputs go to ``scratch.acts`` (and, for training
    an activation of ``needs_pre``, hidden pre-activations to
    ``scratch.deltas``: prediction passes an empty ``deltas``), with the hidden
    layers' ``dropout`` applied (see the module docstring; None: no dropout,
    and no dropout code compiled). Returns the
    block's dense input rows (unused for CSR), which ``backward`` needs."""
    rows = block.stop - block.start
    units = net.units
    n_layers = units.shape[0] - 1
    first = np.int64(0)  # not the literal 0: that would compile coef_view once more
    A0 = input_product(inputs, block, coef_view(net.params, net, first),
                       layer_view(scratch.acts, act_off[0], rows, units[1]), scratch.xbuf)
    keep_pre = needs_pre(net.hidden_code) and scratch.deltas.shape[0] > 0
    for i in range(n_layers):
        Z = layer_view(scratch.acts, act_off[i], rows, units[i + 1])
        if i > 0:
            A = layer_view(scratch.acts, act_off[i - 1], rows, units[i])
            gemm(A, coef_view(net.params, net, i), Z)
        hidden = i < n_layers - 1
        pre = layer_view(scratch.deltas, act_off[i], rows if hidden and keep_pre else 0,
                         units[i + 1])
        bias_activate(Z, intercept_view(net.params, net, i),
                      net.hidden_code if hidden else net.out_code, pre)
        if dropout is not None:  # (a literal test: Numba prunes it for None)
            if hidden:
                drop_units(Z, layer_view(scratch.deltas, act_off[i], rows, units[i + 1]),
                           block, dropout, i, net.inter_off[i], not keep_pre)
    return A0


@kernel(inline="always")
def output_delta(P, targets, block, loss, delta):
    """(O) ``delta = w (P - Y)``; returns (sum_rows w * sum_j loss_term, sum_rows w)."""
    rows, cols = P.shape
    Y, sw, weighted = targets
    order, start, contiguous = block.order, block.start, block.contiguous
    total = 0.0
    weight_sum = 0.0
    for r in range(rows):
        row = row_index(order, start, r, contiguous)
        w = sw[row] if weighted else 1.0
        row_loss = 0.0
        for j in range(cols):
            delta[r, j], term = delta_and_loss(P[r, j], Y[row, j], w, loss.code, loss.eps)
            row_loss += term
        total += w * row_loss
        weight_sum += w
    return total, weight_sum


@kernel
def backward(inputs, block, A0, net, act_off, scratch, dropout):
    """(B): back-propagate the output delta (already in ``scratch.deltas``) and
    write the unnormalised gradient sums of every layer into ``scratch.grad``.
    ``A0`` is what ``forward`` returned, ``dropout`` what it was given."""
    rows = block.stop - block.start
    units = net.units
    acts, deltas, grad = scratch.acts, scratch.deltas, scratch.grad
    for i in range(units.shape[0] - 2, -1, -1):
        D = layer_view(deltas, act_off[i], rows, units[i + 1])
        gW = coef_view(grad, net, i)
        if i > 0:
            gemm(layer_view(acts, act_off[i - 1], rows, units[i]).T, D, gW)
        else:
            input_gradient(inputs, block, A0, D, gW)
        gb = intercept_view(grad, net, i)
        gb[:] = 0
        for r in range(rows):
            for j in range(units[i + 1]):
                gb[j] += D[r, j]
        if i > 0:
            D_prev = layer_view(deltas, act_off[i - 1], rows, units[i])
            A_prev = layer_view(acts, act_off[i - 1], rows, units[i])
            code = net.hidden_code
            if dropout is not None:  # D_prev holds f''s argument; the product to A_prev
                gemm(D, coef_view(net.params, net, i).T, A_prev)
                dropped_derivative(D_prev, A_prev, block, dropout, i - 1, net.inter_off[i - 1],
                                   code)
            elif needs_pre(code):  # D_prev holds Z; the product goes to A_prev's slot
                gemm(D, coef_view(net.params, net, i).T, A_prev)
                for r in range(rows):
                    for j in range(units[i]):
                        z = D_prev[r, j]  # f' of these codes reads z only
                        D_prev[r, j] = A_prev[r, j] * derivative_any(z, z, code)
            else:
                gemm(D, coef_view(net.params, net, i).T, D_prev)
                scale_by_derivative(D_prev, A_prev, code)


@kernel(inline="always")
def block_loss_grad(inputs, targets, block, net, loss, act_off, scratch, dropout):
    """Forward, output delta and backward over one block of rows, with the
    hidden layers' ``dropout``.

    Writes the block's unnormalised gradient sums to ``scratch.grad`` and returns
    (weighted loss sum, weight sum) for ``optimizers.finish_and_step`` and
    ``losses.batch_loss``.
    """
    units = net.units
    rows = block.stop - block.start
    A0 = forward(inputs, block, net, act_off, scratch, dropout)
    last = units.shape[0] - 2
    P = layer_view(scratch.acts, act_off[last], rows, units[last + 1])
    D = layer_view(scratch.deltas, act_off[last], rows, units[last + 1])
    total, weight_sum = output_delta(P, targets, block, loss, D)
    backward(inputs, block, A0, net, act_off, scratch, dropout)
    return total, weight_sum
