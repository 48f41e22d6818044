"""Losses: one output's loss and delta, and the normalised batch loss.

Each loss code (``fastmlp.spec.LOSSES``) is paired with its canonical output
activation, so the output delta is always ``w (p - y)`` (softmax + log-loss,
logistic + binary log-loss, identity + squared error, exp + poisson). Written
once on scalars (``kernel(inline="always")``) for the CPU and the CUDA kernels.
An unknown code gives a NaN loss (codes are checked where bundles are built).
"""

import math

from ..spec import BINARY_LOG_LOSS, LOG_LOSS, POISSON, SQUARED_ERROR
from . import kernel


@kernel(inline="always")
def loss_term(p, y, loss_code, eps):
    """One output's loss before weighting and normalisation (see ``data_loss``):
    squared error (y - p)^2, poisson y log(y/p) - y + p, log-loss -y log p,
    binary log-loss -(y log p + (1 - y) log(1 - p)); ``x log z`` is 0 where
    x == 0 (scipy's xlogy) and, for the log-losses, p is clipped to
    [eps, 1 - eps] as scikit-learn does. Without builtins (min, max), so the CUDA
    kernels compile this same function."""
    if loss_code == SQUARED_ERROR:
        return (y - p) * (y - p)
    if loss_code == POISSON:
        return (y * math.log(y / p) if y != 0 else 0.0) - y + p
    if loss_code != LOG_LOSS and loss_code != BINARY_LOG_LOSS:
        return math.nan
    pc = eps if eps > p else p
    pc = 1 - eps if 1 - eps < pc else pc
    loss = y * math.log(pc) if y != 0 else 0.0
    if loss_code == BINARY_LOG_LOSS:
        loss += (1 - y) * math.log(1 - pc) if y != 1 else 0.0
    return -loss


@kernel(inline="always")
def delta_and_loss(p, y, w, loss_code, eps):
    """The output delta ``(p - y) w`` of one output (gradient of the loss with
    respect to the pre-activation, thanks to the canonical link) and its
    unweighted loss term. ``w`` is the row's weight in the output's dtype."""
    return (p - y) * w, loss_term(p, y, loss_code, eps)


@kernel(inline="always")
def data_loss(total, weight_sum, loss_code, n_outputs):
    """Weighted mean loss as scikit-learn's LOSS_FUNCTIONS (squared error is
    half the mean over outputs; the others sum over outputs)."""
    if loss_code == SQUARED_ERROR:
        return 0.5 * total / weight_sum / n_outputs
    return total / weight_sum


@kernel(inline="always")
def batch_loss(total, weight_sum, squares, alpha, loss_code, n_outputs):
    """scikit-learn's loss of a batch: ``data_loss`` + 0.5 alpha sum(W^2) / weight sum."""
    return (data_loss(total, weight_sum, loss_code, n_outputs)
            + 0.5 * alpha * squares / weight_sum)



@kernel(inline="always")
def accumulated_loss(accumulated, total, weight_sum, squares, alpha, loss_code, n_outputs,
                     rows):
    """scikit-learn's ``accumulated_loss`` after one more batch of ``rows`` rows:
    ``accumulated + batch_loss * rows``, or NaN (for good) once a batch loss is
    not finite."""
    loss = batch_loss(total, weight_sum, squares, alpha, loss_code, n_outputs)
    return accumulated + loss * rows if math.isfinite(loss) else math.nan


@kernel(inline="always")
def sum_of_squares(x, lo, hi):
    """sum(x[lo:hi] ** 2) in float64, with four partial sums so the additions do
    not wait on each other (a single running sum is a serial chain). Not BLAS:
    a dot product of more than about 10,000 elements wakes BLAS threads."""
    a0 = a1 = a2 = a3 = 0.0
    x = x[lo:hi]  # indices from 0: no negative-index wraparound per element
    n = hi - lo
    m = n - n % 4
    for k in range(0, m, 4):
        a0 += x[k] * x[k]
        a1 += x[k + 1] * x[k + 1]
        a2 += x[k + 2] * x[k + 2]
        a3 += x[k + 3] * x[k + 3]
    for k in range(m, n):
        a0 += x[k] * x[k]
    return (a0 + a1) + (a2 + a3)
