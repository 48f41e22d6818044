"""CPU backend: converts inputs once per call and drives the njit kernels."""

import numpy as np
import scipy.sparse as sp

from ..kernels import epoch, rows
from .threads import blas_threads_for, largest_product

# Rows per block for full-data passes (prediction, L-BFGS): bounds scratch memory.
CHUNK_ROWS = 4096
# Mini-batches with at most this many multiply-adds (batch rows x coefficients)
# train on the per-sample path (loops, no BLAS); batch size 1 always does.
ROWS_PATH_MACS = 100_000


def input_arrays(X, dtype):
    """``(dense, indptr, indices, data, is_sparse)`` as the kernels take an input."""
    if sp.issparse(X):
        X = X.tocsr()
        return (np.empty((0, 0), dtype=dtype), np.ascontiguousarray(X.indptr),
                np.ascontiguousarray(X.indices), np.ascontiguousarray(X.data, dtype=dtype), True)
    empty_index = np.empty(0, dtype=np.int32)
    return (np.ascontiguousarray(X, dtype=dtype), empty_index, empty_index,
            np.empty(0, dtype=dtype), False)


def network_arrays(network):
    """``(params, units, coef_off, inter_off)`` as the kernels take a network."""
    return network.params, network.units, network.coef_off, network.inter_off


class Trainer:
    """Training data and scratch buffers of one fit, allocated once.

    Parameters
    ----------
    network : Network
        Trained in place (its flat ``params``).
    X : ndarray or CSR matrix of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_outputs)
        Targets (indicator matrix for classifiers).
    sample_weight : ndarray of shape (n_samples,) or None
    batch_size : int
        Rows per mini-batch (for L-BFGS, ignored: blocks of CHUNK_ROWS).
    loss_code : int
        One of the loss codes in ``kernels.activations``.
    alpha : float
        L2 penalty.
    """

    def __init__(self, network, X, Y, sample_weight, batch_size, loss_code, alpha):
        dtype = network.dtype
        self.network = network
        self.inputs = input_arrays(X, dtype)
        self.Y = np.ascontiguousarray(Y, dtype=dtype)
        self.weighted = sample_weight is not None
        self.sw = (np.ascontiguousarray(sample_weight, dtype=np.float64) if self.weighted
                   else np.empty(0, dtype=np.float64))
        self.loss_code = loss_code
        self.alpha = float(alpha)
        self.eps = float(np.finfo(dtype).eps)
        self.batch_size = batch_size
        sparse_wide = self.inputs[4] and network.units[0] > 1000
        self.use_rows_path = batch_size == 1 or (
            batch_size * network.n_coef <= ROWS_PATH_MACS and not sparse_wide)
        self.grad = np.empty_like(network.params)

    def _block_scratch(self):
        """Activations, deltas and gathered-input buffers of one mini-batch."""
        if not hasattr(self, "_block"):
            dtype = self.network.dtype
            width = int(self.network.units[1:].sum())
            n_features = 0 if self.inputs[4] else int(self.network.units[0])
            self._block = (np.empty(self.batch_size * width, dtype=dtype),
                           np.empty(self.batch_size * width, dtype=dtype),
                           np.empty((self.batch_size if n_features else 0, n_features),
                                    dtype=dtype))
        return self._block

    @property
    def n_samples(self):
        return self.Y.shape[0]

    def _codes(self):
        net = self.network
        return net.n_coef, net.hidden_code, net.out_code, self.loss_code, self.eps, self.alpha

    def run_epoch(self, order, optimizer):
        """One epoch over ``order`` (row indices; None means rows in order).
        Returns scikit-learn's accumulated loss (sum of batch loss x batch rows)."""
        contiguous = order is None
        if contiguous:
            order = np.arange(self.n_samples, dtype=np.int64)
        n_coef, hidden, out, loss, eps, alpha = self._codes()
        common = (*self.inputs, self.Y, self.sw, self.weighted, order, contiguous,
                  self.batch_size, *network_arrays(self.network), self.grad, n_coef,
                  hidden, out, loss, eps, alpha)
        solver = (optimizer.code, optimizer.hyper(), optimizer.state, optimizer.step)
        if self.use_rows_path:
            return rows.run_epoch_rows(*common, *solver)
        with blas_threads_for(largest_product(self.network.units, self.batch_size)):
            return epoch.run_epoch(*common, *self._block_scratch(), *solver)

    def loss_grad(self, x):
        """Loss and float64 gradient at the flat parameters ``x`` (L-BFGS objective)."""
        if not hasattr(self, "_chunk_scratch"):
            rows = min(CHUNK_ROWS, self.n_samples)
            width = int(self.network.units[1:].sum())
            dtype = self.network.dtype
            self._chunk_scratch = (rows, np.empty(rows * width, dtype=dtype),
                                   np.empty(rows * width, dtype=dtype),
                                   np.empty((0, 0), dtype=dtype), np.empty_like(self.grad))
        rows, acts, deltas, xbuf, grad_chunk = self._chunk_scratch
        self.network.params[:] = x
        n_coef, hidden, out, loss, eps, alpha = self._codes()
        with blas_threads_for(largest_product(self.network.units, rows)):
            value = epoch.loss_grad(
                *self.inputs, self.Y, self.sw, self.weighted, *network_arrays(self.network),
                self.grad, n_coef, hidden, out, loss, eps, alpha, rows, acts, deltas, xbuf,
                grad_chunk)
        return value, self.grad.astype(np.float64)

    def pull_params(self):
        """Parameters are already in host memory on the CPU."""


def predict(network, X):
    """Output-layer activations, shape (n_samples, n_outputs), in the network's dtype."""
    if isinstance(X, np.ndarray) and X.shape[0] * network.n_coef <= ROWS_PATH_MACS:
        # few rows: plain loops, no BLAS, no chunk scratch (the latency path)
        return rows.predict_rows(np.ascontiguousarray(X, dtype=network.dtype),
                                 *network_arrays(network), network.hidden_code,
                                 network.out_code)
    inputs = input_arrays(X, network.dtype)
    n_rows = X.shape[0]
    out = np.empty((n_rows, network.units[-1]), dtype=network.dtype)
    chunk = max(1, min(CHUNK_ROWS, n_rows))
    with blas_threads_for(largest_product(network.units, chunk)):
        epoch.predict(*inputs, n_rows, *network_arrays(network), network.hidden_code,
                      network.out_code, chunk, out)
    return out
