"""CUDA backend: drives the numba.cuda kernels of ``kernels/cuda_layers.py``.

The interface is the CPU backend's (``backends/cpu.py``): ``Trainer`` and
``predict``. What differs is where the data lives:

- ``Trainer`` copies X, the targets, the sample weights and the parameters to the
  device once, allocates every scratch buffer once, and keeps the optimizer state
  on the device between epochs. Per epoch it uploads the shuffled row order
  (batches are gathered on the device); the hyperparameters travel as launch
  arguments; it copies back one scalar, the epoch loss, accumulated on the
  device. ``pull_params`` copies the parameters (and the optimizer state) back
  to the host.
- The epoch is a Python loop of asynchronous kernel launches per mini-batch
  (gather, forward per layer, output delta + loss, backward per layer, fused
  finalize + optimizer step, loss bookkeeping: 3 x n_layers + 3 launches, plus
  the gather when shuffled); nothing in it waits for the device. Adam's per-batch
  step size is computed on the host and passed as a launch argument. The Python
  cost of each launch (tens of microseconds) is what bounds small-batch speed.
- For L-BFGS, ``loss_grad`` uploads scipy's float64 point (cast to the training
  dtype), runs the full-data pass in chunks of ``config.CUDA_CHUNK_ROWS`` rows,
  and returns the loss and the gradient to scipy on the host.
- ``predict`` uploads the parameters and X in chunks of ``config.CUDA_CHUNK_ROWS`` rows.

Sparse input is densified on the host before upload (``X.toarray()``): the CUDA
path has no CSR kernel, so training on a sparse X needs n_samples x n_features
of host and device memory (prediction densifies one chunk at a time).
"""

import numpy as np
import scipy.sparse as sp
from numba import cuda

from .. import compile_notice, config
from ..kernels import cuda_layers as kern
from ..kernels.activations import SOFTMAX
from ..kernels.bundles import Block, LossSpec, Net, Targets
from ..kernels.optimizers import NO_HYPER, NO_UPDATE, next_step_size
from .arrays import canonical_csr, check_data, dense_rows

compile_notice.install()


def dense_input(X, dtype):
    """X as a C-contiguous dense host array of ``dtype`` (CSR/CSC are checked and
    densified; ``arrays.canonical_csr``)."""
    if sp.issparse(X):
        X = canonical_csr(X, dtype).toarray()
    return dense_rows(X, dtype)


def device_net(network):
    """The network as the CUDA launchers take it: a ``Net`` whose parameters are
    uploaded to the device and whose layout is Python ints."""
    return Net(cuda.to_device(network.params), [int(u) for u in network.units],
               [int(o) for o in network.coef_off], [int(o) for o in network.inter_off],
               int(network.n_coef), network.hidden_code, network.out_code)


class Scratch:
    """Device buffers for blocks of at most ``capacity`` rows, allocated once.

    ``acts`` / ``deltas``: every layer's outputs / deltas, layer ``i`` at
    ``act_off[i]``; ``xbuf``: a block of input rows (gathered or uploaded), only
    when ``input_rows``.
    """

    def __init__(self, net, dtype, capacity, input_rows):
        widths = net.units[1:]
        self.capacity = capacity
        self.act_off = [capacity * sum(widths[:i]) for i in range(len(widths) + 1)]
        self.acts = cuda.device_array(max(1, self.act_off[-1]), dtype=dtype)
        self.deltas = cuda.device_array_like(self.acts)
        n_x = capacity * net.units[0] if input_rows else 1
        self.xbuf = cuda.device_array(n_x, dtype=dtype)
        self.out_off = self.act_off[len(widths) - 1]
        """Offset of the output layer's block in ``acts`` / ``deltas``."""


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
        One of the codes in ``kernels.losses``.
    alpha : float
        L2 penalty.
    batch_size : int or None
        Rows per mini-batch for ``run_epoch``; None for a trainer that only
        serves the full-data objective ``loss_grad`` (L-BFGS).
    """

    def __init__(self, network, X, Y, sample_weight, loss_code, alpha, batch_size=None):
        dtype = network.dtype
        check_data(network, X, Y, sample_weight)
        self.network = network
        self.net = device_net(network)
        self.n_samples, self.n_features = X.shape
        self.X = cuda.to_device(dense_input(X, dtype).reshape(-1))
        weighted = sample_weight is not None
        sw = sample_weight if weighted else np.ones(1)
        self.targets = Targets(cuda.to_device(dense_rows(Y, dtype)),
                               cuda.to_device(dense_rows(sw, np.float64)),
                               weighted)
        self.loss = LossSpec(loss_code, float(np.finfo(dtype).eps), float(alpha))
        self.batch_size = batch_size
        self.order = cuda.device_array(self.n_samples, dtype=np.int64)
        self.scratch = None
        n_params = network.params.shape[0]
        self.grad = cuda.device_array(n_params, dtype=dtype)
        self.partial = cuda.device_array(kern.linear_blocks(n_params), dtype=np.float64)
        self.scal = cuda.device_array(kern.N_SCALARS, dtype=np.float64)
        self.no_state = cuda.device_array((1, 1), dtype=dtype)
        self.optimizer = None
        self.state = None

    def _scratch(self, capacity, input_rows):
        """The fit's device scratch, allocated on first use (a trainer serves
        either epochs or the L-BFGS objective)."""
        if self.scratch is None:
            self.scratch = Scratch(self.net, self.network.dtype, capacity, input_rows)
        return self.scratch

    def _device_state(self, optimizer):
        """The optimizer's state on the device, uploaded the first time it is seen."""
        if optimizer is not self.optimizer:
            self.optimizer = optimizer
            self.state = cuda.to_device(np.ascontiguousarray(optimizer.state))
        return self.state

    def _block_loss_grad(self, scratch, start, rows, contiguous, accumulate):
        """Forward + output delta + backward over rows ``start:start+rows`` of the
        data (``order[start:start+rows]`` unless contiguous): gradient sums to
        ``grad``, loss sums to ``scal`` (both added to when ``accumulate``)."""
        net = self.net
        if contiguous:
            A, a_off = self.X, start * self.n_features
        else:
            kern.gather_rows(self.X, self.n_features, self.order, start, rows, scratch.xbuf)
            A, a_off = scratch.xbuf, 0
        kern.forward(net, A, a_off, rows, scratch.acts, scratch.act_off, scratch.deltas)
        kern.output_delta(scratch.acts, scratch.deltas, scratch.out_off, net.units[-1],
                          self.targets, Block(self.order, start, start + rows, contiguous),
                          self.loss, net.out_code == SOFTMAX, self.scal, accumulate)
        kern.backward(net, A, a_off, rows, scratch.acts, scratch.deltas, scratch.act_off,
                      self.grad, accumulate)

    def _finish(self, code, hyper, state, lr_t, rows, first):
        """Finalize the gradient, apply the optimizer step, book the block's loss."""
        n_partial = kern.finalize_update(self.net.params, self.grad, self.net.n_coef,
                                         self.loss.alpha, self.scal, code, hyper, state, lr_t,
                                         self.partial)
        kern.finish_batch(self.partial, n_partial, self.scal, self.loss, self.net.units[-1],
                          rows, first)

    def run_epoch(self, order, optimizer):
        """One epoch over ``order`` (row indices; None means rows in order).
        Returns scikit-learn's accumulated loss (sum of batch loss x batch rows),
        NaN when a batch loss was not finite. One scalar comes back per epoch."""
        contiguous = order is None
        if not contiguous:
            self.order.copy_to_device(np.ascontiguousarray(order, dtype=np.int64))
        state = self._device_state(optimizer)
        solver = optimizer.bundle()  # host copy: Adam's step count advances here
        scratch = self._scratch(self.batch_size, True)
        for b, start in enumerate(range(0, self.n_samples, self.batch_size)):
            rows = min(self.batch_size, self.n_samples - start)
            lr_t = next_step_size(solver)
            self._block_loss_grad(scratch, start, rows, contiguous, False)
            self._finish(solver.code, solver.hyper, state, lr_t, rows, b == 0)
        return float(self.scal.copy_to_host()[kern.EPOCH_LOSS])

    def loss_grad(self, x):
        """Loss and float64 gradient at the flat parameters ``x`` (L-BFGS objective)."""
        scratch = self._scratch(max(1, min(config.CUDA_CHUNK_ROWS, self.n_samples)), False)
        self.net.params.copy_to_device(np.ascontiguousarray(x, dtype=self.network.dtype))
        for c, start in enumerate(range(0, self.n_samples, scratch.capacity)):
            rows = min(scratch.capacity, self.n_samples - start)
            self._block_loss_grad(scratch, start, rows, True, c > 0)
        self._finish(NO_UPDATE, NO_HYPER, self.no_state, 0.0, self.n_samples, True)
        grad = self.grad.copy_to_host().astype(np.float64)
        return float(self.scal.copy_to_host()[kern.BATCH_LOSS]), grad

    def pull_params(self):
        """Copy the device parameters into ``network.params`` (and the optimizer
        state into the optimizer last passed to ``run_epoch``)."""
        self.net.params.copy_to_host(self.network.params)
        if self.optimizer is not None:
            self.state.copy_to_host(self.optimizer.state)


def predict(network, X):
    """Output-layer activations, shape (n_samples, n_outputs), as a host array in the
    network's dtype. X goes to the device ``config.CUDA_CHUNK_ROWS`` rows at a time
    (a sparse X is densified one chunk at a time)."""
    check_data(network, X)
    if sp.issparse(X):
        X = canonical_csr(X, network.dtype)
    net = device_net(network)
    n_rows, n_in, n_out = X.shape[0], net.units[0], net.units[-1]
    out = np.empty((n_rows, n_out), dtype=network.dtype)
    scratch = Scratch(net, network.dtype, max(1, min(config.CUDA_CHUNK_ROWS, n_rows)), True)
    off = scratch.out_off
    for start in range(0, n_rows, scratch.capacity):
        rows = min(scratch.capacity, n_rows - start)
        block = dense_input(X[start : start + rows], network.dtype)
        scratch.xbuf[: rows * n_in].copy_to_device(block.reshape(-1))
        kern.forward(net, scratch.xbuf, 0, rows, scratch.acts, scratch.act_off)
        if net.out_code == SOFTMAX:
            kern.softmax_rows(scratch.acts, off, rows, n_out)
        out[start : start + rows] = scratch.acts[off : off + rows * n_out].copy_to_host(
        ).reshape(rows, n_out)
    return out
