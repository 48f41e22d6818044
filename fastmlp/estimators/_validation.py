"""The validation data of a fit: the loss ``validation_loss_curve_`` records, and
the checks of a validation set given to ``fit`` (``X_val``, ``y_val``,
``sample_weight_val``)."""

import numpy as np
from scipy.special import xlogy

from .. import spec


def data_loss(Y, output, sample_weight, loss_code):
    """Weighted mean loss of the output activations ``output`` for the targets
    ``Y`` (both of shape (n_samples, n_outputs)), without the L2 term: the
    formulas of the kernels (``kernels.losses.loss_term`` and ``data_loss``),
    which are scikit-learn's ``LOSS_FUNCTIONS``, summed in float64. The
    log-losses clip probabilities to ``[eps, 1 - eps]`` of the output's dtype."""
    eps = np.finfo(output.dtype).eps
    P, Y = output.astype(np.float64), np.asarray(Y, dtype=np.float64)
    if loss_code == spec.SQUARED_ERROR:
        terms = (Y - P) ** 2
    elif loss_code == spec.POISSON:
        terms = xlogy(Y, Y / P) - Y + P
    elif loss_code in (spec.LOG_LOSS, spec.BINARY_LOG_LOSS):
        P = np.clip(P, eps, 1 - eps)
        terms = -xlogy(Y, P)
        if loss_code == spec.BINARY_LOG_LOSS:
            terms -= xlogy(1 - Y, 1 - P)
    else:
        raise ValueError(f"loss code must be one of the codes of spec.LOSSES, got {loss_code!r}.")
    per_row = terms.sum(axis=1)
    if sample_weight is None:
        total, weight_sum = per_row.sum(), float(per_row.shape[0])
    else:
        total, weight_sum = per_row @ sample_weight, float(np.sum(sample_weight))
    if loss_code == spec.SQUARED_ERROR:
        return float(0.5 * total / weight_sum / Y.shape[1])
    return float(total / weight_sum)


def check_validation_args(estimator, X_val, y_val, sample_weight_val):
    """ValueError for a validation set given in part, or to a fit that cannot use
    it; True when one is given."""
    if X_val is None and y_val is None:
        if sample_weight_val is not None:
            raise ValueError("sample_weight_val is provided, but X_val and y_val were not.")
        return False
    if y_val is None:
        raise ValueError("X_val is provided, but y_val was not provided.")
    if X_val is None:
        raise ValueError("y_val is provided, but X_val was not provided.")
    if estimator.solver not in spec.STOCHASTIC_SOLVERS:
        raise ValueError(
            f"X_val and y_val are scored after each epoch, so they need one of the "
            f"stochastic solvers {list(spec.STOCHASTIC_SOLVERS)}; solver="
            f"{estimator.solver!r} has no epochs.")
    return True
