"""Dense-layer kernels: forward, output delta + loss, backward, for one block of rows.

Notation (for layer ``i`` with input ``A`` of shape (rows, n_in)):

    Z = A @ W + b,  A_next = f(Z)                     (forward, fused with bias + f)
    delta_out = w * (p - y)                           (canonical link: softmax/log-loss,
                                                       logistic/binary log-loss,
                                                       identity/squared, exp/poisson)
    dW = A.T @ delta,  db = sum_rows(delta)           (unnormalised gradient sums)
    delta_prev = (delta @ W.T) * f'(A)                (derivative from the output A)

All parameters live in one flat vector ``params``: every coefficient matrix first
(layer by layer, row-major), then every intercept vector, exactly as
scikit-learn's ``_pack``. ``coef_off[i]`` / ``inter_off[i]`` index into it.

Activations and deltas of a block of at most ``max_rows`` rows live in flat
scratch buffers; layer ``i`` occupies ``act_off[i] : act_off[i] + rows * units[i+1]``.
Nothing here allocates per block.
"""

import math

import numpy as np
from . import kernel

from .activations import (
    BINARY_LOG_LOSS,
    POISSON,
    RELU,
    SOFTMAX,
    SQUARED_ERROR,
    activate,
    derivative,
)

# Below this many multiply-adds a plain loop beats the BLAS call overhead.
SMALL_GEMM = 4_000


@kernel
def gemm(A, B, out):
    """``out = A @ B`` for 2-D arrays of one dtype (any of A, B may be transposed views)."""
    n, k = A.shape
    m = B.shape[1]
    if n * k * m <= SMALL_GEMM:
        for i in range(n):
            for j in range(m):
                out[i, j] = 0
            for p in range(k):
                a = A[i, p]
                if a != 0:
                    for j in range(m):
                        out[i, j] += a * B[p, j]
    else:
        np.dot(A, B, out)


@kernel
def layer_view(buf, off, rows, cols):
    """Row-major (rows, cols) view of ``buf`` starting at ``off``."""
    return buf[off : off + rows * cols].reshape((rows, cols))


@kernel
def coef_view(params, units, coef_off, i):
    """Coefficient matrix of layer ``i`` as a (units[i], units[i+1]) view of ``params``."""
    return layer_view(params, coef_off[i], units[i], units[i + 1])


@kernel
def activation_offsets(units, max_rows):
    """Offsets of each layer's (max_rows, units[i+1]) block in the scratch buffers."""
    n_layers = units.shape[0] - 1
    off = np.empty(n_layers + 1, dtype=np.int64)
    off[0] = 0
    for i in range(n_layers):
        off[i + 1] = off[i] + max_rows * units[i + 1]
    return off


@kernel
def bias_activate(Z, b, code):
    """In place: ``Z = f(Z + b)`` row by row; SOFTMAX normalises each row."""
    rows, cols = Z.shape
    for r in range(rows):
        if code == SOFTMAX:
            zmax = Z[r, 0] + b[0]
            for j in range(cols):
                Z[r, j] += b[j]
                if Z[r, j] > zmax:
                    zmax = Z[r, j]
            total = 0.0
            for j in range(cols):
                e = math.exp(Z[r, j] - zmax)
                Z[r, j] = e
                total += e
            for j in range(cols):
                Z[r, j] /= total
        elif code == RELU:  # constant code: the loop vectorises
            for j in range(cols):
                Z[r, j] = activate(Z[r, j] + b[j], RELU)
        else:
            for j in range(cols):
                Z[r, j] = activate(Z[r, j] + b[j], code)


@kernel
def row_index(order, start, r, contiguous):
    """Data row of the block's row ``r``: ``start + r`` or ``order[start + r]``."""
    if contiguous:
        return start + r
    return order[start + r]


@kernel
def input_times_weights(X, indptr, indices, data, sparse, order, start, stop,
                        contiguous, xbuf, W, Z):
    """``Z = X[rows] @ W`` for the block's rows; dense rows are gathered into ``xbuf``
    unless contiguous, CSR rows are multiplied in place. Returns the dense block
    used (a view of X or xbuf; unused for CSR)."""
    rows = stop - start
    if sparse:
        Z[:, :] = 0
        for r in range(rows):
            row = row_index(order, start, r, contiguous)
            for k in range(indptr[row], indptr[row + 1]):
                v = data[k]
                feat = indices[k]
                for j in range(Z.shape[1]):
                    Z[r, j] += v * W[feat, j]
        return xbuf[:rows]
    if contiguous:
        block = X[start:stop]
    else:
        block = xbuf[:rows]
        for r in range(rows):
            block[r, :] = X[order[start + r], :]
    gemm(block, W, Z)
    return block


@kernel
def input_weight_grad(indptr, indices, data, sparse, order, start, stop, contiguous,
                      block, delta, gW):
    """``gW = X[rows].T @ delta`` (dense block from ``input_times_weights``, or CSR)."""
    if sparse:
        gW[:, :] = 0
        for r in range(stop - start):
            row = row_index(order, start, r, contiguous)
            for k in range(indptr[row], indptr[row + 1]):
                v = data[k]
                feat = indices[k]
                for j in range(delta.shape[1]):
                    gW[feat, j] += v * delta[r, j]
    else:
        gemm(block.T, delta, gW)


@kernel
def forward(X, indptr, indices, data, sparse, order, start, stop, contiguous, xbuf,
            params, units, coef_off, inter_off, act_off, acts, hidden_code, out_code):
    """Forward pass of the block; layer outputs go to ``acts``. Returns the input block."""
    rows = stop - start
    n_layers = units.shape[0] - 1
    Z = layer_view(acts, act_off[0], rows, units[1])
    block = input_times_weights(X, indptr, indices, data, sparse, order, start, stop,
                                contiguous, xbuf, coef_view(params, units, coef_off, 0), Z)
    for i in range(n_layers):
        Z = layer_view(acts, act_off[i], rows, units[i + 1])
        if i > 0:
            A = layer_view(acts, act_off[i - 1], rows, units[i])
            gemm(A, coef_view(params, units, coef_off, i), Z)
        b = params[inter_off[i] : inter_off[i] + units[i + 1]]
        bias_activate(Z, b, out_code if i == n_layers - 1 else hidden_code)
    return block


@kernel(inline="always")
def loss_term(p, y, loss_code, eps):
    """One output's loss before weighting and normalisation (see ``data_loss``):
    squared error (y - p)^2, poisson y log(y/p) - y + p, log-loss -y log p,
    binary log-loss -(y log p + (1 - y) log(1 - p)); ``x log z`` is 0 where
    x == 0 (scipy's xlogy) and, for the log-losses, p is clipped to
    [eps, 1 - eps] as scikit-learn does. Call-free and without builtins, so the
    CUDA kernels compile this same function for the device."""
    if loss_code == SQUARED_ERROR:
        return (y - p) * (y - p)
    if loss_code == POISSON:
        return (y * math.log(y / p) if y != 0 else 0.0) - y + p
    pc = eps if eps > p else p
    pc = 1 - eps if 1 - eps < pc else pc
    loss = y * math.log(pc) if y != 0 else 0.0
    if loss_code == BINARY_LOG_LOSS:
        loss += (1 - y) * math.log(1 - pc) if y != 1 else 0.0
    return -loss


@kernel
def output_delta(P, Y, sw, weighted, order, start, contiguous, loss_code, eps, delta):
    """``delta = w * (P - Y)``; returns (sum_rows w * sum_j loss_term, sum_rows w)."""
    rows, cols = P.shape
    total = 0.0
    weight_sum = 0.0
    for r in range(rows):
        row = row_index(order, start, r, contiguous)
        w = sw[row] if weighted else 1.0
        row_loss = 0.0
        for j in range(cols):
            p = P[r, j]
            y = Y[row, j]
            row_loss += loss_term(p, y, loss_code, eps)
            delta[r, j] = (p - y) * w
        total += w * row_loss
        weight_sum += w
    return total, weight_sum


@kernel
def backward(indptr, indices, data, sparse, order, start, stop, contiguous, block,
             params, grad, units, coef_off, inter_off, act_off, acts, deltas, hidden_code):
    """Back-propagate the output delta (already in ``deltas``) and write the
    unnormalised gradient sums of every layer into ``grad``."""
    rows = stop - start
    n_layers = units.shape[0] - 1
    for i in range(n_layers - 1, -1, -1):
        D = layer_view(deltas, act_off[i], rows, units[i + 1])
        gW = coef_view(grad, units, coef_off, i)
        if i == 0:
            input_weight_grad(indptr, indices, data, sparse, order, start, stop,
                              contiguous, block, D, gW)
        else:
            gemm(layer_view(acts, act_off[i - 1], rows, units[i]).T, D, gW)
        gb = grad[inter_off[i] : inter_off[i] + units[i + 1]]
        gb[:] = 0
        for r in range(rows):
            for j in range(units[i + 1]):
                gb[j] += D[r, j]
        if i > 0:
            D_prev = layer_view(deltas, act_off[i - 1], rows, units[i])
            A_prev = layer_view(acts, act_off[i - 1], rows, units[i])
            gemm(D, coef_view(params, units, coef_off, i).T, D_prev)
            for r in range(rows):
                for j in range(units[i]):
                    D_prev[r, j] *= derivative(A_prev[r, j], hidden_code)


@kernel
def block_loss_grad(X, indptr, indices, data, sparse, Y, sw, weighted, order, start, stop,
                    contiguous, params, grad, units, coef_off, inter_off, act_off,
                    hidden_code, out_code, loss_code, eps, acts, deltas, xbuf):
    """Forward + backward over one block of rows.

    Writes the block's unnormalised gradient sums to ``grad`` and returns
    (weighted loss sum, weight sum) for ``finalize_gradient`` / ``data_loss``.
    """
    n_layers = units.shape[0] - 1
    rows = stop - start
    block = forward(X, indptr, indices, data, sparse, order, start, stop, contiguous, xbuf,
                    params, units, coef_off, inter_off, act_off, acts, hidden_code, out_code)
    last = n_layers - 1
    P = layer_view(acts, act_off[last], rows, units[last + 1])
    D = layer_view(deltas, act_off[last], rows, units[last + 1])
    total, weight_sum = output_delta(P, Y, sw, weighted, order, start, contiguous,
                                     loss_code, eps, D)
    backward(indptr, indices, data, sparse, order, start, stop, contiguous, block,
             params, grad, units, coef_off, inter_off, act_off, acts, deltas, hidden_code)
    return total, weight_sum


@kernel
def data_loss(total, weight_sum, loss_code, n_outputs):
    """Weighted mean loss as scikit-learn's LOSS_FUNCTIONS (squared error is
    half the mean over outputs; the others sum over outputs)."""
    if loss_code == SQUARED_ERROR:
        return 0.5 * total / weight_sum / n_outputs
    return total / weight_sum


@kernel
def batch_loss(total, weight_sum, squares, alpha, loss_code, n_outputs):
    """scikit-learn's loss of a batch: ``data_loss`` + 0.5 alpha sum(W^2) / weight sum."""
    return data_loss(total, weight_sum, loss_code, n_outputs) + 0.5 * alpha * squares / weight_sum


@kernel
def finalize_gradient(params, grad, n_coef, alpha, weight_sum):
    """In place: ``grad = (grad + alpha * W) / weight_sum`` on coefficients and
    ``grad / weight_sum`` on intercepts. Returns ``sum(W ** 2)`` for the L2 term."""
    squares = 0.0
    for k in range(n_coef):
        w = params[k]
        squares += w * w
        grad[k] = (grad[k] + alpha * w) / weight_sum
    for k in range(n_coef, params.shape[0]):
        grad[k] = grad[k] / weight_sum
    return squares
