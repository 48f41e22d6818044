"""CPU backend: builds the kernels' argument bundles once per call and drives the
njit kernels (``kernels.training``, ``kernels.rows``, ``kernels.prediction``, and
their data-parallel twins in ``kernels.pieces`` on the threads that
``fastmlp.threads`` grants)."""

import numpy as np
import scipy.sparse as sp

from .. import compile_notice, config
from ..kernels import pieces, prediction, rows, training
from ..kernels.bundles import (
    Batches,
    PieceScratch,
    Scratch,
    Targets,
    csr_inputs,
    dense_inputs,
    loss_spec,
)
from ..kernels.dropout import epoch_dropout
from ..threads import ThreadShare
from .arrays import check_data, dense_rows, host_inputs
from .kernel_cache import load_without_refresh

compile_notice.install()
load_without_refresh()


def inputs_of(X, dtype):
    """X (ndarray or sparse matrix) as the kernels' ``Inputs`` in ``dtype``: dense
    rows C-contiguous and writeable, CSR canonical and in bounds (``arrays``)."""
    X = host_inputs(X, dtype)
    if sp.issparse(X):
        return csr_inputs(dense_rows(X.indptr, X.indptr.dtype),
                          dense_rows(X.indices, X.indices.dtype), dense_rows(X.data, dtype))
    return dense_inputs(X)


def targets_of(Y, sample_weight, dtype):
    """Targets and optional sample weights as the kernels' ``Targets``."""
    weighted = sample_weight is not None
    sw = (dense_rows(sample_weight, np.float64) if weighted
          else np.empty(0, dtype=np.float64))
    return Targets(Y=dense_rows(Y, dtype), sw=sw, weighted=weighted)


def block_scratch(network, max_rows, gather_rows, grad):
    """Scratch for blocks of at most ``max_rows`` rows (none for the per-sample
    path, ``max_rows == 0``); an input-row buffer only when dense rows must be
    gathered; ``grad`` receives the blocks' gradient sums."""
    dtype = network.dtype
    width = max_rows * int(network.units[1:].sum())
    x_shape = (max_rows, int(network.units[0])) if gather_rows else (0, 0)
    return Scratch(acts=np.empty(width, dtype=dtype), deltas=np.empty(width, dtype=dtype),
                   xbuf=np.empty(x_shape, dtype=dtype), grad=grad)


def piece_scratch(network, n_slots, rows, gather_rows, grad):
    """``PieceScratch`` of ``n_slots`` slots of ``block_scratch(network, rows,
    gather_rows)`` each, plus their gradient rows; ``grad`` receives the sum.
    Its extra memory over the serial kernels' scratch is about ``(n_slots - 1)``
    gradients, and the slots' rounding up of ``rows``."""
    dtype = network.dtype
    width = rows * int(network.units[1:].sum())
    x_shape = (n_slots, rows, int(network.units[0])) if gather_rows else (n_slots, 0, 0)
    n_chunks = config.step_chunks(grad.shape[0])
    return PieceScratch(acts=np.empty((n_slots, width), dtype=dtype),
                        deltas=np.empty((n_slots, width), dtype=dtype),
                        xbuf=np.empty(x_shape, dtype=dtype),
                        grads=np.empty((n_slots, grad.shape[0]), dtype=dtype), grad=grad,
                        sums=np.empty((n_slots, 2)), partial=np.empty(n_chunks),
                        squares=np.empty(n_chunks))


def kernels_for(share):
    """The ``kernels.pieces`` variant for the threads ``share`` grants now."""
    return pieces.PARALLEL if share.threads() > 1 else pieces.SERIAL


class Trainer:
    """Training data and scratch buffers of one fit, allocated once.

    Parameters
    ----------
    network : Network
        Trained in place (its flat ``params``).
    X : ndarray or sparse matrix of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples, n_outputs)
        Targets (indicator matrix for classifiers).
    sample_weight : ndarray of shape (n_samples,) or None
    loss_code : int
        A loss code of ``spec.LOSSES``.
    alpha : float
        L2 penalty.
    batch_size : int or None
        Rows per mini-batch for ``run_epoch``; None for a trainer that only
        serves the full-data objective ``loss_grad`` (L-BFGS).
    dropout : ndarray of shape (n_hidden_layers,) or None
        Drop probability of each hidden layer in ``run_epoch`` (with the
        optimizer's ``dropout_seed`` and ``epoch``); None for none.
    threads : fastmlp.threads.ThreadShare or None
        The fit's claim on the cores, asked before every data-parallel kernel
        call; None for a one-thread share (``n_jobs=1``).

    Mini-batches of more than one piece (``config.pieces_of``) train on the
    data-parallel kernels of ``kernels.pieces``, as does an L-BFGS objective
    of more than one piece; the others on the serial kernels.
    """

    def __init__(self, network, X, Y, sample_weight, loss_code, alpha, batch_size=None,
                 dropout=None, threads=None):
        dtype = network.dtype
        check_data(network, X, Y, sample_weight)
        self.network = network
        self.inputs = inputs_of(X, dtype)
        self.targets = targets_of(Y, sample_weight, dtype)
        self.loss = loss_spec(loss_code, dtype, alpha)
        self.batch_size = batch_size
        self.dropout = np.zeros(len(network.units) - 2) if dropout is None else dropout
        sparse_wide = (self.inputs.sparse
                       and network.units[0] > config.ROWS_PATH_MAX_SPARSE_FEATURES)
        self.use_rows_path = batch_size is not None and (batch_size == 1 or (
            batch_size * network.n_coef <= config.ROWS_PATH_MACS and not sparse_wide))
        self.threads = ThreadShare(1) if threads is None else threads
        self.n_pieces = (config.pieces_of(batch_size, network.n_coef, self.n_samples)
                         if batch_size is not None and not self.use_rows_path else 1)
        self.grad = np.empty_like(network.params)
        self._scratch = None  # allocated on first use: a trainer serves either epochs
        # or the L-BFGS objective, never both

    @property
    def n_samples(self):
        return self.targets.Y.shape[0]

    def run_epoch(self, order, optimizer):
        """One epoch over ``order`` (row indices; None means rows in order).
        Returns scikit-learn's accumulated loss (sum of batch loss x batch rows)."""
        contiguous = order is None
        if contiguous:
            order = np.arange(self.n_samples, dtype=np.int64)
        batches = Batches(order=order, contiguous=contiguous, size=self.batch_size)
        if self._scratch is None:  # the per-sample path needs only the gradient
            if self.n_pieces > 1:
                self._scratch = piece_scratch(self.network, self.n_pieces,
                                              -(-self.batch_size // self.n_pieces),
                                              not self.inputs.sparse, self.grad)
            else:
                self._scratch = block_scratch(self.network,
                                              0 if self.use_rows_path else self.batch_size,
                                              not self.inputs.sparse, self.grad)
        args = (self.inputs, self.targets, batches, self.network.bundle(), self.loss,
                optimizer.bundle(), self._scratch,
                epoch_dropout(self.dropout, optimizer.dropout_seed, optimizer.epoch))
        if self.use_rows_path:
            return rows.run_epoch_rows(*args)
        if self.n_pieces > 1:
            return kernels_for(self.threads)["run_epoch_pieces"](*args)
        return training.run_epoch(*args)

    def loss_grad(self, x):
        """Loss and float64 gradient at the flat parameters ``x`` (L-BFGS objective)."""
        if self._scratch is None:  # sized once: pieces of a fixed number of rows
            self._chunk_rows, n_slots = config.objective_pieces(self.n_samples,
                                                                self.network.n_coef)
            if self._chunk_rows < self.n_samples:
                self._scratch = piece_scratch(self.network, n_slots, self._chunk_rows, False,
                                              self.grad)
            else:
                self._scratch = block_scratch(self.network, self._chunk_rows, False,
                                              np.empty_like(self.grad))
        self.network.params[:] = x
        if isinstance(self._scratch, PieceScratch):
            value = kernels_for(self.threads)["loss_grad_pieces"](
                self.inputs, self.targets, self.network.bundle(), self.loss, self._chunk_rows,
                self._scratch, self.grad)
        else:
            value = training.loss_grad(self.inputs, self.targets, self.network.bundle(),
                                       self.loss, self._chunk_rows, self._scratch, self.grad)
        return value, self.grad.astype(np.float64)

    def pull_params(self):
        """Parameters are already in host memory on the CPU."""


def predict(network, X, n_jobs=None):
    """Output-layer activations, shape (n_samples, n_outputs), in the network's
    dtype; blocks of ``config.CPU_CHUNK_ROWS`` rows run in parallel on the
    threads ``n_jobs`` grants (``fastmlp.threads``)."""
    check_data(network, X)
    out = np.empty((X.shape[0], network.units[-1]), dtype=network.dtype)
    if isinstance(X, np.ndarray):
        predict_dense(network.bundle(), dense_rows(X, network.dtype), out, n_jobs=n_jobs)
        return out
    chunk_rows = max(1, min(config.CPU_CHUNK_ROWS, X.shape[0]))
    inputs = inputs_of(X, network.dtype)
    if X.shape[0] > chunk_rows:
        with ThreadShare(n_jobs) as share:
            kernels_for(share)["predict_pieces"](inputs, network.bundle(), chunk_rows, out)
    else:
        prediction.predict(inputs, network.bundle(), chunk_rows, out)
    return out


def predict_dense(net, X, out, check_finite=False, n_jobs=None):
    """Output-layer activations of the ``Net`` bundle ``net`` for X into ``out``.

    X must be a C-contiguous, writeable ndarray of the network's dtype whose
    width is the network's input width (``check_data``). Rows that
    ``row_loops`` chooses run ``prediction.predict_rows``, others the BLAS
    blocks (in parallel when there are several, on the threads ``n_jobs``
    grants). Returns False, instead of predicting, when X holds a value that is
    not finite: the row loops always tell as they read, the blocks' caller
    looks first when ``check_finite`` (a caller that validated X need not).
    """
    n_rows = X.shape[0]
    if row_loops(n_rows, net.n_coef):
        return prediction.predict_rows(X, *net, out)
    if check_finite and not np.isfinite(X).all():
        return False
    chunk_rows = max(1, min(config.CPU_CHUNK_ROWS, n_rows))
    if n_rows > chunk_rows:
        with ThreadShare(n_jobs) as share:
            kernels_for(share)["predict_pieces"](dense_inputs(X), net, chunk_rows, out)
    else:
        prediction.predict_blocks(X, *net, chunk_rows, out)
    return True


def row_loops(n_rows, n_coef):
    """Whether a prediction of ``n_rows`` dense rows runs the row loops:
    at most ``config.PREDICT_LOOP_ROWS`` rows, or at most
    ``config.PREDICT_ROWS_MACS`` multiply-adds."""
    return n_rows <= config.PREDICT_LOOP_ROWS or n_rows * n_coef <= config.PREDICT_ROWS_MACS
