"""CUDA backend: drives the numba.cuda kernels of ``kernels/cuda_dense.py``.

The interface is the CPU backend's (``backends/cpu.py``): ``Trainer`` and
``predict``. What differs is where the data lives:

- ``Trainer`` copies X, the targets, the sample weights and the parameters to the
  device once, allocates every scratch buffer once, and keeps the optimizer state
  on the device between epochs. Per epoch it uploads the shuffled row order
  (batches are gathered on the device) and, only when a schedule changed them,
  the 8 optimizer hyperparameters; it copies back one scalar, the epoch loss,
  accumulated on the device. ``pull_params`` copies the parameters (and the
  optimizer state) back to the host.
- The epoch is a Python loop of asynchronous kernel launches per mini-batch
  (gather, forward per layer, output delta + loss, backward per layer, fused
  finalize + optimizer step, loss bookkeeping: 3 x n_layers + 3 launches, plus
  the gather when shuffled); nothing in it waits for the device. Adam's per-batch
  step size is computed on the host and passed as a launch argument. The Python
  cost of each launch (tens of microseconds) is what bounds small-batch speed.
- For L-BFGS, ``loss_grad`` uploads scipy's float64 point (cast to the training
  dtype), runs the full-data pass in chunks of ``CHUNK_ROWS`` rows on the device,
  and returns the loss and the gradient to scipy on the host.
- ``predict`` uploads the parameters and X in chunks of ``CHUNK_ROWS`` rows.

Sparse input is densified on the host before upload (``X.toarray()``): the CUDA
path has no CSR kernel, so training on a sparse X needs n_samples x n_features
of host and device memory (prediction densifies one chunk at a time).
"""

import numpy as np
import scipy.sparse as sp
from numba import cuda

from ..kernels import cuda_dense as kern
from ..kernels.activations import SOFTMAX
from ..kernels.updates import ADAM

# Rows per block of the full-data passes (L-BFGS, prediction): bounds device scratch.
CHUNK_ROWS = 16384


def dense_input(X, dtype):
    """X as a C-contiguous dense host array of ``dtype`` (CSR/CSC are densified)."""
    if sp.issparse(X):
        X = X.toarray()
    return np.ascontiguousarray(X, dtype=dtype)


class DeviceNetwork:
    """A network's layout on the host and its flat parameter vector on the device.

    Parameters
    ----------
    network : Network
        Its ``params`` are uploaded once; ``units``, offsets and activation codes
        are kept as Python ints for the launchers.
    """

    def __init__(self, network):
        self.units = [int(u) for u in network.units]
        self.coef_off = [int(o) for o in network.coef_off]
        self.inter_off = [int(o) for o in network.inter_off]
        self.n_coef = int(network.n_coef)
        self.hidden_code = network.hidden_code
        self.out_code = network.out_code
        self.dtype = network.dtype
        self.params = cuda.to_device(network.params)

    @property
    def n_layers(self):
        return len(self.units) - 1

    def code(self, i):
        """Activation code of layer ``i``."""
        return self.out_code if i == self.n_layers - 1 else self.hidden_code

    def forward(self, scratch, A, a_off, rows):
        """Layer outputs of ``rows`` input rows (flat ``A`` at ``a_off``) into
        ``scratch.acts``; a softmax output is left un-normalised (see
        ``cuda_dense.forward_layer``)."""
        u, off = self.units, scratch.act_off
        for i in range(self.n_layers):
            src, src_off = (A, a_off) if i == 0 else (scratch.acts, off[i - 1])
            kern.forward_layer(src, src_off, rows, u[i], self.params, self.coef_off[i],
                               self.inter_off[i], u[i + 1], self.code(i), scratch.acts,
                               off[i])

    def backward(self, scratch, A, a_off, rows, grad, accumulate):
        """Back-propagate the output delta in ``scratch.deltas``; gradient sums of
        every layer go to ``grad`` (added to it when ``accumulate``)."""
        u, off = self.units, scratch.act_off
        for i in range(self.n_layers - 1, -1, -1):
            src, src_off = (A, a_off) if i == 0 else (scratch.acts, off[i - 1])
            kern.weight_grad(src, src_off, rows, u[i], scratch.deltas, off[i], u[i + 1],
                             grad, self.coef_off[i], self.inter_off[i], accumulate)
            if i > 0:
                kern.backprop_delta(scratch.deltas, off[i], rows, u[i + 1], self.params,
                                    self.coef_off[i], u[i], scratch.acts, off[i - 1],
                                    self.hidden_code, scratch.deltas)


class Scratch:
    """Device buffers for blocks of at most ``capacity`` rows, allocated once.

    ``acts`` / ``deltas``: every layer's outputs / deltas, layer ``i`` at
    ``act_off[i]``; ``xbuf``: a block of input rows (gathered or uploaded), only
    when ``input_rows``.
    """

    def __init__(self, net, capacity, input_rows):
        widths = net.units[1:]
        self.capacity = capacity
        self.act_off = [capacity * sum(widths[:i]) for i in range(len(widths) + 1)]
        self.acts = cuda.device_array(max(1, self.act_off[-1]), dtype=net.dtype)
        self.deltas = cuda.device_array_like(self.acts)
        n_x = capacity * net.units[0] if input_rows else 1
        self.xbuf = cuda.device_array(n_x, dtype=net.dtype)

    def output_offset(self, net):
        """Offset of the output layer's block in ``acts`` / ``deltas``."""
        return self.act_off[net.n_layers - 1]


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
    batch_size : int
        Rows per mini-batch (for L-BFGS, ignored: blocks of ``CHUNK_ROWS``).
    loss_code : int
        One of the loss codes in ``kernels.activations``.
    alpha : float
        L2 penalty.
    """

    def __init__(self, network, X, Y, sample_weight, batch_size, loss_code, alpha):
        dtype = network.dtype
        self.network = network
        self.net = DeviceNetwork(network)
        self.n_samples, self.n_features = X.shape
        self.X = cuda.to_device(dense_input(X, dtype).reshape(-1))
        self.Y = cuda.to_device(np.ascontiguousarray(Y, dtype=dtype))
        self.weighted = sample_weight is not None
        sw = sample_weight if self.weighted else np.ones(1)
        self.sw = cuda.to_device(np.ascontiguousarray(sw, dtype=np.float64))
        self.loss_code = loss_code
        self.alpha = float(alpha)
        self.eps = float(np.finfo(dtype).eps)
        self.batch_size = batch_size
        self.order = cuda.device_array(self.n_samples, dtype=np.int64)
        self.batch = Scratch(self.net, batch_size, input_rows=True)
        self.chunk = None
        n_params = network.params.shape[0]
        self.grad = cuda.device_array(n_params, dtype=dtype)
        self.partial = cuda.device_array(kern.linear_blocks(n_params), dtype=np.float64)
        self.scal = cuda.device_array(kern.N_SCALARS, dtype=np.float64)
        self.no_state = cuda.device_array((1, 1), dtype=dtype)
        self.optimizer = None
        self.state = None
        self.hyper = None  # host copy of what the device array ``h`` holds
        self.h = cuda.to_device(np.zeros(8, dtype=dtype))

    def _device_state(self, optimizer):
        """The optimizer's state on the device, uploaded the first time it is seen."""
        if optimizer is not self.optimizer:
            self.optimizer = optimizer
            self.state = cuda.to_device(np.ascontiguousarray(optimizer.state))
        return self.state

    def _device_hyper(self, optimizer):
        """The optimizer's typed hyperparameters on the device, uploaded only when
        they changed (a learning-rate schedule changes them between epochs)."""
        hyper = optimizer.hyper()
        if self.hyper is None or not np.array_equal(hyper, self.hyper):
            self.hyper = hyper
            self.h.copy_to_device(kern.typed_hyper(hyper, self.network.params))
        return hyper

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
        net.forward(scratch, A, a_off, rows)
        kern.output_delta(scratch.acts, scratch.deltas, scratch.output_offset(net), rows,
                          net.units[-1], self.Y, self.sw, self.weighted, self.order, start,
                          contiguous, self.loss_code, self.eps, net.out_code == SOFTMAX,
                          self.scal, accumulate)
        net.backward(scratch, A, a_off, rows, self.grad, accumulate)

    def _finish(self, solver, state, lr_t, rows, first):
        """Finalize the gradient, apply the optimizer step, book the block's loss."""
        net = self.net
        n_partial = kern.finalize_update(net.params, self.grad, net.n_coef, self.alpha,
                                         self.scal, solver, state, self.h, lr_t, self.partial)
        kern.finish_batch(self.partial, n_partial, self.scal, self.loss_code,
                          net.units[-1], self.alpha, rows, first)

    def run_epoch(self, order, optimizer):
        """One epoch over ``order`` (row indices; None means rows in order).
        Returns scikit-learn's accumulated loss (sum of batch loss x batch rows),
        NaN when a batch loss was not finite. One scalar comes back per epoch."""
        contiguous = order is None
        if not contiguous:
            self.order.copy_to_device(np.ascontiguousarray(order, dtype=np.int64))
        state = self._device_state(optimizer)
        hyper = self._device_hyper(optimizer)
        step = int(optimizer.step[0])
        for b, start in enumerate(range(0, self.n_samples, self.batch_size)):
            rows = min(self.batch_size, self.n_samples - start)
            lr_t = hyper[0]
            if optimizer.code == ADAM:
                step += 1
                lr_t = kern.adam_step_size(hyper, step)
            self._block_loss_grad(self.batch, start, rows, contiguous, False)
            self._finish(optimizer.code, state, lr_t, rows, b == 0)
        optimizer.step[0] = step
        return float(self.scal.copy_to_host()[kern.EPOCH_LOSS])

    def loss_grad(self, x):
        """Loss and float64 gradient at the flat parameters ``x`` (L-BFGS objective)."""
        if self.chunk is None:
            self.chunk = Scratch(self.net, max(1, min(CHUNK_ROWS, self.n_samples)),
                                 input_rows=False)
        self.net.params.copy_to_device(np.ascontiguousarray(x, dtype=self.net.dtype))
        capacity = self.chunk.capacity
        for c, start in enumerate(range(0, self.n_samples, capacity)):
            rows = min(capacity, self.n_samples - start)
            self._block_loss_grad(self.chunk, start, rows, True, c > 0)
        self._finish(kern.NO_UPDATE, self.no_state, 0.0, self.n_samples, True)
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
    network's dtype. X goes to the device ``CHUNK_ROWS`` rows at a time (a sparse
    X is densified one chunk at a time)."""
    net = DeviceNetwork(network)
    n_rows, n_in, n_out = X.shape[0], net.units[0], net.units[-1]
    out = np.empty((n_rows, n_out), dtype=net.dtype)
    capacity = max(1, min(CHUNK_ROWS, n_rows))
    scratch = Scratch(net, capacity, input_rows=True)
    off = scratch.output_offset(net)
    for start in range(0, n_rows, capacity):
        rows = min(capacity, n_rows - start)
        block = dense_input(X[start : start + rows], net.dtype)
        scratch.xbuf[: rows * n_in].copy_to_device(block.reshape(-1))
        net.forward(scratch, scratch.xbuf, 0, rows)
        if net.out_code == SOFTMAX:
            kern.softmax_rows(scratch.acts, off, rows, n_out)
        out[start : start + rows] = scratch.acts[off : off + rows * n_out].copy_to_host(
        ).reshape(rows, n_out)
    return out
