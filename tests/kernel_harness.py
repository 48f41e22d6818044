"""Builds random problems and the argument bundles of the Numba kernels.

Kept separate from ``reference.py`` (which must not know the kernels' calling
conventions) and from the backends (so a backend bug cannot hide a kernel bug).
"""

import numpy as np
import scipy.sparse as sp

from fastmlp.kernels.bundles import (
    Hyper,
    Net,
    Scratch,
    Solver,
    Targets,
    csr_inputs,
    dense_inputs,
)

import reference as ref

DTYPES = (np.float64, np.float32)
# Relative tolerance per dtype; comparisons scale it by the largest magnitude of
# the expected array so values near zero do not demand impossible relative accuracy.
RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}


def assert_close(actual, desired, dtype, rtol=None, err_msg=""):
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    assert actual.shape == desired.shape, (actual.shape, desired.shape, err_msg)
    rtol = RTOL[np.dtype(dtype)] if rtol is None else rtol
    scale = max(float(np.abs(desired).max(initial=0.0)), 1e-300)
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale, err_msg=err_msg)


def make_X(rng, n, n_features, dtype, sparse=False):
    """Random inputs with some exact zeros; CSR when ``sparse``."""
    X = rng.standard_normal((n, n_features))
    X[rng.random((n, n_features)) < 0.4] = 0.0
    X = X.astype(dtype)
    if sparse:
        X = sp.csr_matrix(X)
        assert X.indptr.dtype == np.int32
    return X


def make_Y(rng, n, n_outputs, loss_code, dtype):
    """Targets that make sense for the loss (one-hot for log-loss, 0/1 columns
    for binary log-loss, counts for poisson, reals for squared error)."""
    if loss_code == ref.SQUARED_ERROR:
        Y = rng.standard_normal((n, n_outputs))
    elif loss_code == ref.POISSON:
        Y = rng.poisson(1.5, size=(n, n_outputs)).astype(float)
    elif loss_code == ref.LOG_LOSS:
        Y = np.eye(n_outputs)[rng.integers(0, n_outputs, n)]
    else:
        Y = (rng.random((n, n_outputs)) < 0.5).astype(float)
    return np.ascontiguousarray(Y, dtype=dtype)


def n_outputs_for(loss_code):
    # log-loss needs >= 3 classes (softmax); binary log-loss with 2 columns is multilabel.
    return {ref.SQUARED_ERROR: 2, ref.POISSON: 2, ref.LOG_LOSS: 3, ref.BINARY_LOG_LOSS: 2}[
        loss_code]


def make_params(rng, units, dtype, scale=0.5):
    return (scale * rng.uniform(-1, 1, ref.n_params_of(units))).astype(dtype)


def make_sw(rng, n):
    return rng.uniform(0.2, 3.0, n).astype(np.float64)


# -------------------------------------------------------- kernel arguments
def input_args(X, dtype):
    """X as the kernels' ``Inputs`` bundle (dense, or CSR with int32 indices)."""
    if sp.issparse(X):
        X = sp.csr_matrix(X)
        return csr_inputs(X.indptr.astype(np.int32), X.indices.astype(np.int32),
                          np.ascontiguousarray(X.data, dtype=dtype))
    return dense_inputs(np.ascontiguousarray(X, dtype=dtype))


def network_args(params, units, hidden_code, out_code):
    """The kernels' ``Net`` bundle, its layout computed from the layer widths."""
    coef_slices, _, inter_slices, n_coef, _ = ref.layout(units)
    return Net(params, np.asarray(units, dtype=np.int64),
               np.array([s.start for s in coef_slices], dtype=np.int64),
               np.array([s.start for s in inter_slices], dtype=np.int64), n_coef,
               hidden_code, out_code)


def targets_args(Y, sw):
    """The kernels' ``Targets`` bundle (``sw`` None for unweighted rows)."""
    if sw is None:
        return Targets(Y, np.empty(0), False)
    return Targets(Y, sw, True)


def solver_args(code, hyper, state, step):
    """The kernels' ``Solver`` bundle; ``hyper`` = (lr, momentum, nesterov,
    beta_1, beta_2, epsilon[, weight_decay, max_grad_norm]); ``step`` None for
    a fresh count."""
    step = np.zeros(1, dtype=np.int64) if step is None else step
    lr, momentum, nesterov, beta_1, beta_2, epsilon, weight_decay, max_grad_norm = \
        ref.hyper_fields(hyper)
    return Solver(code=code, state=state, step=step,
                  hyper=Hyper(learning_rate=float(lr), momentum=float(momentum),
                              nesterov=bool(nesterov), beta_1=float(beta_1),
                              beta_2=float(beta_2), epsilon=float(epsilon),
                              weight_decay=float(weight_decay),
                              max_grad_norm=float(max_grad_norm)))


def hyper_tuple(hyper):
    """A ``Hyper`` bundle as the twins' ``(lr, momentum, nesterov, beta_1, beta_2,
    epsilon, weight_decay, max_grad_norm)``, its fields read by name."""
    return (hyper.learning_rate, hyper.momentum, hyper.nesterov, hyper.beta_1, hyper.beta_2,
            hyper.epsilon, hyper.weight_decay, hyper.max_grad_norm)


def act_offsets(units, max_rows):
    return np.concatenate(([0], np.cumsum(max_rows * np.asarray(units[1:])))).astype(np.int64)


def scratch(units, max_rows, n_features, dtype, sparse):
    """``(act_off, Scratch)`` for blocks of at most ``max_rows`` rows, with the
    buffers filled with garbage so a kernel that reads before writing is caught."""
    off = act_offsets(units, max_rows)
    acts = np.full(off[-1], 1e3, dtype=dtype)
    deltas = np.full(off[-1], -1e3, dtype=dtype)
    xbuf = np.full((0 if sparse else max_rows, 0 if sparse else n_features), 7.0, dtype=dtype)
    grad = np.full(ref.n_params_of(units), np.nan, dtype=dtype)
    return off, Scratch(acts, deltas, xbuf, grad)


def layer_block(buf, off, i, rows, cols):
    return buf[off[i] : off[i] + rows * cols].reshape(rows, cols)


def rows_of(order, start, stop, contiguous):
    return np.arange(start, stop) if contiguous else np.asarray(order[start:stop])
