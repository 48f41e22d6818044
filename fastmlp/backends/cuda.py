"""CUDA backend: drives the numba.cuda kernels of ``kernels/cuda_layers.py``.

The interface is the CPU backend's (``backends/cpu.py``): ``Trainer`` and
``predict``. What differs is where the data lives:

- ``Trainer`` copies X, the targets, the sample weights and the parameters to the
  device once, allocates every scratch buffer once, and keeps the optimizer state
  on the device between epochs. Per epoch it uploads the shuffled row order
  (batches are gathered on the device); the ``Solver``'s hyperparameters and
  device state travel as launch arguments; it copies back one scalar, the
  epoch loss, accumulated on the device. ``pull_params`` copies
  the parameters (and the optimizer state) back to the host.
- The epoch is a Python loop of asynchronous kernel launches per mini-batch
  (gather, forward per layer, output delta + loss, backward per layer, fused
  gradient finish + optimizer step, loss bookkeeping: 3 x n_layers + 3 launches, plus
  the gather when shuffled); nothing in it waits for the device. Adam's per-batch
  step size is computed on the host and passed as a launch argument. The Python
  cost of each launch (tens of microseconds) is what bounds small-batch speed.
- For L-BFGS, ``loss_grad`` uploads scipy's float64 point (cast to the training
  dtype), runs the full-data pass in chunks of ``config.CUDA_CHUNK_ROWS`` rows,
  and returns the loss and the gradient to scipy on the host.
- ``predict`` uploads the parameters, then X in chunks of ``config.CUDA_CHUNK_ROWS``
  rows through pinned host buffers on two streams, so that the host's copy of one
  chunk overlaps the upload, forward pass and download of the other.

Sparse input is densified on the host before upload (``X.toarray()``): the CUDA
path has no CSR kernel, so training on a sparse X needs n_samples x n_features
of host and device memory (prediction densifies one chunk at a time).
"""

from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import numpy as np
import scipy.sparse as sp
from numba import cuda

from .. import compile_notice, config
from ..kernels import cuda_layers as kern
from ..kernels.bundles import Block, Solver, Targets, loss_spec
from ..kernels.cuda_layers import Operand
from ..kernels.dropout import epoch_dropout
from ..kernels.optimizers import NO_HYPER, advance_step, step_epsilon
from ..spec import NO_UPDATE, SOFTMAX
from .arrays import canonical_csr, check_data, dense_rows

compile_notice.install()

THREADED_COPY_MIN = 1 << 20
"""Fewest elements per chunk for which ``predict`` copies X on several threads."""


def dense_input(X, dtype):
    """X as a C-contiguous dense host array of ``dtype`` (CSR/CSC are checked and
    densified; ``arrays.canonical_csr``)."""
    if sp.issparse(X):
        X = canonical_csr(X, dtype).toarray()
    return dense_rows(X, dtype)


def device_net(network):
    """The network as the CUDA launchers take it: its ``Net`` with the
    parameters uploaded to the device (the layout stays in host memory, where
    the launchers read it)."""
    net = network.bundle()
    return net._replace(params=cuda.to_device(net.params))


class Trainer:
    """Training data, parameters, optimizer state and scratch of one fit, on the device.

    Parameters
    ----------
    network : Network
        Trained on the device; ``pull_params`` copies the result into its ``params``.
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        Densified on the host if sparse.
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
        Drop probability of each hidden layer in ``run_epoch``; None for none.
    threads : fastmlp.threads.ThreadShare or None
        Unused: the GPU runs the fit (the CPU backend's signature).
    """

    def __init__(self, network, X, Y, sample_weight, loss_code, alpha, batch_size=None,
                 dropout=None, threads=None):
        dtype = network.dtype
        check_data(network, X, Y, sample_weight)
        self.loss = loss_spec(loss_code, dtype, alpha)
        self.network = network
        self.net = device_net(network)
        self.n_samples, self.n_features = X.shape
        self.X = cuda.to_device(dense_input(X, dtype).reshape(-1))
        weighted = sample_weight is not None
        sw = sample_weight if weighted else np.ones(1)
        self.targets = Targets(Y=cuda.to_device(dense_rows(Y, dtype)),
                               sw=cuda.to_device(dense_rows(sw, np.float64)),
                               weighted=weighted)
        self.batch_size = batch_size
        self.dropout = np.zeros(len(network.units) - 2) if dropout is None else dropout
        self.row_keys = None  # the dropout keys of a block's rows, allocated on first use
        self.order = cuda.device_array(self.n_samples, dtype=np.int64)
        self.scratch = None
        n_params = network.params.shape[0]
        self.grad = cuda.device_array(n_params, dtype=dtype)
        self.partial = cuda.device_array(kern.linear_blocks(n_params), dtype=np.float64)
        self.sums = kern.loss_sums()
        # the L-BFGS objective's solver: finish the gradient, no step, no state
        self.no_update = Solver(code=NO_UPDATE, hyper=NO_HYPER,
                                state=cuda.device_array((1, 1), dtype=dtype), step=None)
        self.optimizer = None
        self.state = None

    def _scratch(self, capacity, input_rows):
        """The fit's ``DeviceScratch``, allocated on first use (a trainer serves
        either epochs or the L-BFGS objective)."""
        if self.scratch is None:
            self.scratch = kern.device_scratch(self.network.units, self.network.dtype,
                                               capacity, input_rows)
        return self.scratch

    def _device_state(self, optimizer):
        """The optimizer's state on the device, uploaded the first time it is seen."""
        if optimizer is not self.optimizer:
            self.optimizer = optimizer
            self.state = cuda.to_device(np.ascontiguousarray(optimizer.state))
        return self.state

    def _block_loss_grad(self, scratch, block, accumulate, drop=None):
        """Forward + output delta + backward over the rows of ``block`` (a
        ``Block`` of the data): gradient sums to ``grad``, loss sums to ``sums``
        (both added to when ``accumulate``); ``drop`` a ``Dropout`` and its
        row-key buffer, or None."""
        rows = block.stop - block.start
        if block.contiguous:
            x = Operand(self.X, block.start * self.n_features, self.n_features, False)
        else:
            kern.gather_rows(self.X, self.n_features, block.order, block.start, rows,
                             scratch.xbuf)
            x = Operand(scratch.xbuf, 0, self.n_features, False)
        if drop is not None:
            kern.block_row_keys(block, drop)
        kern.forward(self.net, x, rows, scratch, training=True, drop=drop)
        kern.output_delta(self.net, scratch, self.targets, block, self.loss, self.sums,
                          accumulate)
        kern.backward(self.net, x, rows, scratch, self.grad, accumulate, drop)

    def _finish(self, solver, lr_t, rows, first, epsilon=None):
        """Finish the gradient, take the optimizer step, book the block's loss."""
        n_partial = kern.finish_and_step(self.net, self.grad, self.loss, self.sums, solver,
                                         lr_t, self.partial, epsilon)
        kern.book_loss(self.partial, n_partial, self.sums, self.loss,
                       self.network.units.item(-1), rows, first)

    def run_epoch(self, order, optimizer):
        """One epoch over ``order`` (row indices; None means rows in order).
        Returns scikit-learn's accumulated loss (sum of batch loss x batch rows),
        NaN when a batch loss was not finite. One scalar comes back per epoch."""
        contiguous = order is None
        if not contiguous:
            self.order.copy_to_device(np.ascontiguousarray(order, dtype=np.int64))
        host_solver = optimizer.bundle()  # its step count advances here, on the host
        solver = host_solver._replace(state=self._device_state(optimizer))
        scratch = self._scratch(self.batch_size, True)
        drop = None
        dropout = epoch_dropout(self.dropout, optimizer.dropout_seed, optimizer.epoch)
        if dropout is not None:
            if self.row_keys is None:
                self.row_keys = cuda.device_array(2 * self.batch_size, dtype=np.int64)
            drop = (dropout, self.row_keys)
        for b, start in enumerate(range(0, self.n_samples, self.batch_size)):
            block = Block(self.order, start, min(start + self.batch_size, self.n_samples),
                          contiguous)
            lr_t = advance_step(host_solver)
            epsilon = step_epsilon.py_func(solver.code, solver.hyper, host_solver.step.item(0))
            self._block_loss_grad(scratch, block, False, drop)
            self._finish(solver, lr_t, block.stop - block.start, b == 0, epsilon)
        return float(self.sums.copy_to_host()[kern.EPOCH])

    def loss_grad(self, x):
        """Loss and float64 gradient at the flat parameters ``x`` (L-BFGS objective)."""
        scratch = self._scratch(max(1, min(config.CUDA_CHUNK_ROWS, self.n_samples)), False)
        self.net.params.copy_to_device(np.ascontiguousarray(x, dtype=self.network.dtype))
        for c, start in enumerate(range(0, self.n_samples, scratch.capacity)):
            block = Block(self.order, start, min(start + scratch.capacity, self.n_samples),
                          True)
            self._block_loss_grad(scratch, block, c > 0)
        self._finish(self.no_update, 0.0, self.n_samples, True)
        grad = self.grad.copy_to_host().astype(np.float64)
        return float(self.sums.copy_to_host()[kern.BATCH]), grad

    def pull_params(self):
        """Copy the device parameters into ``network.params`` (and the optimizer
        state into the optimizer last passed to ``run_epoch``)."""
        self.net.params.copy_to_host(self.network.params)
        if self.optimizer is not None:
            self.state.copy_to_host(self.optimizer.state)


class _PredictSlot:
    """One of prediction's two in-flight chunks: a stream, pinned host buffers for
    its input rows and its outputs, and the device scratch it computes in."""

    def __init__(self, net, dtype, capacity, overlapped):
        n_in, n_out = int(net.units[0]), int(net.units[-1])
        # one chunk (a small X): plain buffers on the default stream, no pinned
        # allocation or stream creation in the way of prediction latency
        self.stream = cuda.stream() if overlapped else None
        host = cuda.pinned_array if overlapped else np.empty
        self.x_host = host((capacity, n_in), dtype=dtype)
        self.out_host = host((capacity, n_out), dtype=dtype)
        self.scratch = kern.device_scratch(net.units, dtype, capacity, True)
        self.pending = None  # (start, rows) of the chunk whose outputs are in flight

    def collect(self, out):
        """Wait for the chunk in flight and copy its outputs into ``out``."""
        if self.pending is not None:
            start, rows = self.pending
            if self.stream is not None:
                self.stream.synchronize()
            out[start : start + rows] = self.out_host[:rows]
            self.pending = None


def predict(network, X, n_jobs=None):
    """Output-layer activations, shape (n_samples, n_outputs), as a host array in the
    network's dtype. X goes to the device ``config.CUDA_CHUNK_ROWS`` rows at a time
    (a sparse X is densified one chunk at a time); ``n_jobs``, the CPU backend's
    thread cap, is unused.

    Chunks alternate between two streams, each with pinned host buffers: while
    chunk c is uploaded, computed and its outputs copied back (all asynchronous
    on its stream), the host fills the other pinned buffer with chunk c + 1, so a
    large prediction is bound by the slower of the host copy and the device
    work, not by their sum; the host's copy runs on ``config.CUDA_COPY_THREADS``
    threads for large chunks. Two chunk-sized scratch buffers on the device. A
    single chunk (a small X) goes as before: plain host buffers, the default
    stream, no pinned allocation."""
    check_data(network, X)
    if sp.issparse(X):
        X = canonical_csr(X, network.dtype)
    dtype = network.dtype
    net = device_net(network)
    n_rows, n_in, n_out = X.shape[0], int(net.units[0]), int(net.units[-1])
    out = np.empty((n_rows, n_out), dtype=dtype)
    capacity = max(1, min(config.CUDA_CHUNK_ROWS, n_rows))
    starts = range(0, n_rows, capacity)
    overlapped = len(starts) > 1
    slots = [_PredictSlot(net, dtype, capacity, overlapped) for _ in range(1 + overlapped)]
    threads = (config.CUDA_COPY_THREADS if overlapped and capacity * n_in >= THREADED_COPY_MIN
               else 1)
    with ThreadPoolExecutor(threads) if threads > 1 else nullcontext() as pool:
        _predict_chunks(X, net, slots, starts, capacity, overlapped, out, pool, threads)
    return out


def _copy_rows(dst, src, pool, bands):
    """``dst[...] = src`` (cast as ``dense_rows`` would), in ``bands`` row bands on
    the threads of ``pool`` when given: NumPy copies without the GIL, and one
    thread's copy bandwidth is what bounds a large prediction."""
    if pool is None or bands < 2:
        np.copyto(dst, src, casting="unsafe")
        return
    n = dst.shape[0]
    edges = [n * i // bands for i in range(bands + 1)]
    done = [pool.submit(np.copyto, dst[a:b], src[a:b], casting="unsafe")
            for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]
    for future in done:
        future.result()


def _predict_chunks(X, net, slots, starts, capacity, overlapped, out, pool, threads):
    """The chunk loop of ``predict`` (see there)."""
    dtype = out.dtype
    n_rows, n_in, n_out = X.shape[0], int(net.units[0]), int(net.units[-1])
    for c, start in enumerate(starts):
        slot = slots[c % len(slots)]
        slot.collect(out)  # its previous chunk (two chunks ago) is done
        rows = min(capacity, n_rows - start)
        block = X[start : start + rows]
        if overlapped:  # into the pinned buffer (the upload is asynchronous from it)
            if sp.issparse(block):
                block = block.toarray()
            _copy_rows(slot.x_host[:rows], np.asarray(block), pool, threads)
            block = slot.x_host[:rows]
        else:
            block = dense_input(block, dtype)
        scratch = slot.scratch
        stream = slot.stream if overlapped else 0
        off = kern.output_offset(net, scratch)
        scratch.xbuf[: rows * n_in].copy_to_device(block.reshape(-1), stream=stream)
        kern.forward(net, Operand(scratch.xbuf, 0, n_in, False), rows, scratch, stream=stream)
        if net.out_code == SOFTMAX:
            kern.softmax_rows(scratch.acts, off, rows, n_out, stream=stream)
        scratch.acts[off : off + rows * n_out].copy_to_host(
            slot.out_host[:rows].reshape(-1), stream=stream)
        slot.pending = (start, rows)
    for slot in slots:
        slot.collect(out)
