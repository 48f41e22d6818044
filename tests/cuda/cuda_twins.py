"""Helpers of the CUDA kernel tests: flat device buffers, comparisons, and the
NumPy twins of what only the CUDA kernels compute (the fused gradient finish + optimizer
step and the per-batch loss bookkeeping). Everything else is compared with the
shared twins in ``tests/reference.py``.
"""

import numpy as np
from numba import cuda

import kernel_harness as harness
import reference as ref

DTYPES = (np.float64, np.float32)
RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 2e-5}
SENTINEL = -7.25  # fills buffer slots a kernel must not touch


def assert_close(actual, desired, dtype, err_msg=""):
    """``kernel_harness.assert_close`` with the CUDA tolerances (float32 sums
    run in another order on the device)."""
    harness.assert_close(actual, desired, dtype, RTOL[np.dtype(dtype)], err_msg)


def flat_buffer(blocks, dtype, size):
    """A flat host buffer of ``size`` SENTINELs with ``{offset: array}`` written in."""
    buf = np.full(size, SENTINEL, dtype=dtype)
    for off, a in blocks.items():
        a = np.ravel(a)
        buf[off : off + a.size] = a
    return buf


def untouched(buf, off, n):
    """Whether every slot of ``buf`` outside ``off:off+n`` still holds SENTINEL."""
    outside = np.concatenate([buf[:off], buf[off + n :]])
    return bool(np.all(outside == np.asarray(SENTINEL, dtype=buf.dtype)))


def to_device(a):
    return cuda.to_device(np.ascontiguousarray(a))


def finish_and_step(params, grad, n_coef, alpha, weight_sum, solver, state, hyper, step):
    """Twin of ``finish_and_step_kernel``: ``(params, grad, state, squares)`` after
    the finished gradient and one step of ``solver`` (NO_UPDATE: no step);
    ``step`` is Adam's t of this step."""
    grad, squares = ref.finished_gradient(params, grad, n_coef, alpha, weight_sum)
    params, state, _ = ref.optimizer_step(solver, params, grad, state, hyper, step - 1)
    return params, grad, state, squares


def book_loss(total, weight_sum, squares, loss_code, n_outputs, alpha, rows, previous):
    """Twin of ``book_loss_kernel``: ``(batch_loss, epoch_loss)``."""
    loss = ref.data_loss(total, weight_sum, loss_code, n_outputs)
    loss += 0.5 * alpha * squares / weight_sum
    if not np.isfinite(loss):
        return loss, np.nan
    return loss, previous + loss * rows
