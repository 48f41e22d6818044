"""Plain-NumPy twins of every Numba kernel in ``fastmlp.kernels``.

Written independently of the kernels: whole-array NumPy following
scikit-learn's formulas (``sklearn/neural_network/_base.py``,
``_multilayer_perceptron.py`` and ``_stochastic_optimizers.py``), with no loops
over rows or parameters. They return new arrays instead of writing in place.

Conventions shared with the kernels:

- the vocabulary of ``fastmlp.spec``: its activation, loss and solver codes
  (the names below), and each loss's canonical output activation -- the math
  is written here anew, the names are not;
- the flat parameter vector holds every coefficient matrix (row-major, layer by
  layer) and then every intercept vector (scikit-learn's ``_pack``);
- ``units`` are the layer widths, input features first and outputs last;
- ``X`` may be a dense array or a scipy sparse matrix.
"""

import numpy as np
import scipy.sparse as sp
from scipy.special import erf, expit, xlogy

from fastmlp import spec
from fastmlp.spec import (  # noqa: F401  (the codes, for the tests)
    ADAM,
    ADAMW,
    BINARY_LOG_LOSS,
    ELU,
    EXP,
    GELU,
    IDENTITY,
    LEAKY_RELU,
    LOG_LOSS,
    LOGISTIC,
    NO_UPDATE,
    POISSON,
    RELU,
    SGD,
    SILU,
    SOFTMAX,
    SOFTPLUS,
    SQUARED_ERROR,
    TANH,
)

HIDDEN_ACTIVATIONS = {name: spec.ACTIVATIONS[name].code for name in spec.HIDDEN_ACTIVATIONS}
"""Hidden activation name -> code: the test grids' activations."""
LOSS_CODES = [kind.code for kind in spec.LOSSES.values()]
LOSS_NAMES = {kind.code: kind.name for kind in spec.LOSSES.values()}
OUTPUT_OF_LOSS = {kind.code: spec.ACTIVATIONS[kind.output].code for kind in spec.LOSSES.values()}
"""Canonical output activation code of each loss code."""
STOCHASTIC = {name: spec.SOLVERS[name].code for name in spec.STOCHASTIC_SOLVERS}
"""Stochastic solver name -> code: the test grids' optimizers."""
STATE_ROWS = {kind.code: kind.state_rows for kind in spec.SOLVERS.values()}
"""Solver code -> rows of optimizer state."""


# ----------------------------------------------------------------- layout
def layout(units):
    """``(coef_slices, coef_shapes, inter_slices, n_coef, n_params)`` of the flat vector."""
    units = [int(u) for u in units]
    pairs = list(zip(units[:-1], units[1:], strict=True))
    coef_slices, inter_slices = [], []
    pos = 0
    for a, b in pairs:
        coef_slices.append(slice(pos, pos + a * b))
        pos += a * b
    n_coef = pos
    for _, b in pairs:
        inter_slices.append(slice(pos, pos + b))
        pos += b
    return coef_slices, pairs, inter_slices, n_coef, pos


def unpack(params, units):
    """Per-layer ``(coefs, intercepts)`` of a flat vector (copies)."""
    coef_slices, shapes, inter_slices, _, _ = layout(units)
    coefs = [params[s].reshape(shape).copy() for s, shape in zip(coef_slices, shapes, strict=True)]
    intercepts = [params[s].copy() for s in inter_slices]
    return coefs, intercepts


def pack(coefs, intercepts):
    """scikit-learn's ``_pack``."""
    return np.hstack([np.ravel(a) for a in list(coefs) + list(intercepts)])


def n_coef_of(units):
    return layout(units)[3]


def n_params_of(units):
    return layout(units)[4]


# ------------------------------------------------------------ activations
def activate(Z, code):
    """``f(Z)`` (row-wise softmax for SOFTMAX), as scikit-learn's ACTIVATIONS."""
    Z = np.asarray(Z)
    if code == IDENTITY:
        return Z.copy()
    if code == LOGISTIC:
        return expit(Z)
    if code == TANH:
        return np.tanh(Z)
    if code == RELU:
        return np.maximum(Z, 0)
    if code == EXP:
        return np.exp(Z)
    if code == SOFTMAX:
        e = np.exp(Z - Z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if code == ELU:
        return np.where(Z > 0, Z, np.expm1(np.minimum(Z, 0)))
    if code == LEAKY_RELU:
        return np.where(Z > 0, Z, 0.01 * Z)
    if code == GELU:
        return 0.5 * Z * (1 + erf(Z / np.sqrt(2)))
    if code == SOFTPLUS:
        return np.where(Z > 20, Z, np.logaddexp(0, np.minimum(Z, 20)))
    if code == SILU:
        return Z * expit(Z)
    raise ValueError(code)


def derivative(A, code, Z=None):
    """``f'(Z)``: scikit-learn's DERIVATIVES written from ``A = f(Z)`` for its four
    activations, and from ``Z`` itself for the others."""
    A = np.asarray(A)
    if code == IDENTITY:
        return np.ones_like(A)
    if code == LOGISTIC:
        return A * (1 - A)
    if code == TANH:
        return 1 - A**2
    if code == RELU:
        return (A != 0).astype(A.dtype)
    Z = np.asarray(Z, dtype=np.float64)
    if code == ELU:
        return np.where(Z > 0, 1.0, np.exp(np.minimum(Z, 0)))
    if code == LEAKY_RELU:
        return np.where(Z > 0, 1.0, 0.01)
    if code == GELU:
        return 0.5 * (1 + erf(Z / np.sqrt(2))) + Z * np.exp(-Z**2 / 2) / np.sqrt(2 * np.pi)
    if code == SOFTPLUS:
        return np.where(Z > 20, 1.0, expit(Z))
    if code == SILU:
        return expit(Z) * (1 + Z * (1 - expit(Z)))
    raise ValueError(code)


# ---------------------------------------------------------- dense kernels
def gemm(A, B):
    """``A @ B``."""
    return np.asarray(A) @ np.asarray(B)


def bias_activate(Z, b, code):
    """``f(Z + b)`` row by row."""
    return activate(np.asarray(Z) + np.asarray(b)[None, :], code)


def _weights(sw, n):
    return np.ones(n) if sw is None else np.asarray(sw, dtype=np.float64)


def output_delta(P, Y, sw, loss_code, eps):
    """``(delta, total, weight_sum)``: ``delta = w (P - Y)``, ``total`` the weighted sum
    over rows of the per-row loss (squared error: sum_j (y - p)^2 unscaled; poisson:
    sum_j y log(y/p) - y + p; log-loss: -sum_j y log p; binary log-loss:
    -sum_j y log p + (1 - y) log(1 - p); p clipped to [eps, 1 - eps] in the log-losses)."""
    P = np.asarray(P)
    Y = np.asarray(Y)
    w = _weights(sw, P.shape[0])
    delta = (P - Y) * w[:, None]
    Pf = P.astype(np.float64)
    Yf = Y.astype(np.float64)
    if loss_code == SQUARED_ERROR:
        per_row = ((Yf - Pf) ** 2).sum(axis=1)
    elif loss_code == POISSON:
        per_row = (xlogy(Yf, Yf / Pf) - Yf + Pf).sum(axis=1)
    else:
        Pc = np.clip(Pf, eps, 1 - eps)
        if loss_code == LOG_LOSS:
            per_row = -xlogy(Yf, Pc).sum(axis=1)
        else:
            per_row = -(xlogy(Yf, Pc) + xlogy(1 - Yf, 1 - Pc)).sum(axis=1)
    return delta.astype(P.dtype), float(np.dot(w, per_row)), float(w.sum())


def data_loss(total, weight_sum, loss_code, n_outputs):
    """Weighted mean loss (scikit-learn's LOSS_FUNCTIONS; squared error is half the
    mean over outputs)."""
    if loss_code == SQUARED_ERROR:
        return 0.5 * total / weight_sum / n_outputs
    return total / weight_sum


def sklearn_loss(Y, P, sw, loss_code):
    """The same data loss, computed by scikit-learn's own loss functions."""
    from sklearn.neural_network._base import LOSS_FUNCTIONS

    return float(LOSS_FUNCTIONS[LOSS_NAMES[loss_code]](Y, P, sw))


def forward(X, params, units, hidden_code, out_code, factors=None):
    """Activations of every layer after the input: a list of ``len(units) - 1`` arrays;
    hidden layer ``i``'s outputs times ``factors[i]`` when given (dropout)."""
    coefs, intercepts = unpack(params, units)
    acts = []
    A = X
    for i, (W, b) in enumerate(zip(coefs, intercepts, strict=True)):
        Z = A @ W if not sp.issparse(A) else np.asarray(A @ W)
        code = out_code if i == len(coefs) - 1 else hidden_code
        A = bias_activate(Z, b, code).astype(params.dtype, copy=False)
        if factors is not None and i < len(coefs) - 1:
            A = (A * factors[i]).astype(params.dtype, copy=False)
        acts.append(A)
    return acts


def backward(X, params, units, acts, delta_out, hidden_code, factors=None):
    """Unnormalised gradient sums (flat) from the output delta: for each layer
    ``dW = A_prev.T @ delta``, ``db = delta.sum(0)``, ``delta_prev = (delta @ W.T) f'(A_prev)``
    (times ``factors[i - 1]`` under dropout, f' then of the undropped outputs).
    Returns ``(grad, deltas)`` with ``deltas[i]`` the delta of layer ``i``'s output."""
    coefs, intercepts = unpack(params, units)
    n_layers = len(coefs)
    deltas = [None] * n_layers
    coef_grads = [None] * n_layers
    inter_grads = [None] * n_layers
    deltas[-1] = np.asarray(delta_out)
    for i in range(n_layers - 1, -1, -1):
        A_prev = X if i == 0 else acts[i - 1]
        g = A_prev.T @ deltas[i]
        coef_grads[i] = np.asarray(g.toarray() if sp.issparse(g) else g)
        inter_grads[i] = deltas[i].sum(axis=0)
        if i > 0:
            A_in = X if i == 1 else acts[i - 2]
            Z = np.asarray(A_in @ coefs[i - 1], dtype=np.float64) + intercepts[i - 1]
            if factors is None:
                deltas[i - 1] = (deltas[i] @ coefs[i].T) * derivative(acts[i - 1], hidden_code, Z)
            else:
                A = activate(Z, hidden_code)
                deltas[i - 1] = ((deltas[i] @ coefs[i].T) * derivative(A, hidden_code, Z)
                                 * factors[i - 1])
    return pack(coef_grads, inter_grads).astype(params.dtype, copy=False), deltas


def finished_gradient(params, grad, n_coef, alpha, weight_sum):
    """``((grad + alpha W) / weight_sum on coefficients, grad / weight_sum on intercepts,
    sum(W^2))``."""
    grad = np.asarray(grad, dtype=np.float64).copy()
    W = np.asarray(params[:n_coef], dtype=np.float64)
    grad[:n_coef] += alpha * W
    grad /= weight_sum
    return grad.astype(params.dtype), float(np.dot(W, W))


def block_loss_grad(X, Y, sw, params, units, hidden_code, loss_code, eps, factors=None):
    """``(grad_sums, total, weight_sum)`` of one block (forward, output delta, backward),
    with ``factors`` the hidden layers' dropout factors or None."""
    out_code = OUTPUT_OF_LOSS[loss_code]
    acts = forward(X, params, units, hidden_code, out_code, factors)
    delta, total, weight_sum = output_delta(acts[-1], Y, sw, loss_code, eps)
    grad, _ = backward(X, params, units, acts, delta, hidden_code, factors)
    return grad, total, weight_sum


# ----------------------------------------------------------------- dropout
MASK32 = 0xFFFFFFFF
GOLDEN = 0x9E3779B9


def lowbias32(x):
    """Wellons' lowbias32 on an array of integers in [0, 2^32)."""
    x = np.asarray(x, dtype=np.uint64) & np.uint64(MASK32)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & np.uint64(MASK32)
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & np.uint64(MASK32)
    x ^= x >> np.uint64(16)
    return x


def dropout_factors(dropout, rows, units):
    """The dropout factors (``m / (1 - p)``) of data rows ``rows`` for each hidden
    layer of a network of widths ``units``, from ``dropout.py``'s equation:
    ``bits = h(((lo + u G) mod 2^32) xor hi)`` with the row keys (lo, hi) and
    unit ``u`` the intercept index; kept when ``bits < threshold``."""
    h, m = lowbias32, np.uint64(MASK32)
    rows = np.asarray(rows, dtype=np.uint64)
    low, high = rows & m, rows >> np.uint64(32)
    lo = h(np.uint64(dropout.key_lo) ^ h(low ^ h(high)))
    hi = h(np.uint64(dropout.key_hi) ^ h(low ^ h(high ^ np.uint64(GOLDEN))))
    _, _, inter_slices, _, _ = layout(units)
    factors = []
    for i in range(len(units) - 2):
        unit = np.arange(inter_slices[i].start, inter_slices[i].stop, dtype=np.uint64)
        bits = h(((lo[:, None] + unit[None, :] * np.uint64(GOLDEN)) & m) ^ hi[:, None])
        factors.append(np.where(bits < np.uint64(dropout.threshold[i]), dropout.scale[i], 0.0))
    return factors


def objective(X, Y, sw, params, units, hidden_code, loss_code, alpha, eps):
    """scikit-learn's ``_backprop`` loss: data loss + 0.5 alpha sum(W^2) / sum(w)."""
    out_code = OUTPUT_OF_LOSS[loss_code]
    P = forward(X, params, units, hidden_code, out_code)[-1]
    _, total, weight_sum = output_delta(P, Y, sw, loss_code, eps)
    W = np.asarray(params[: n_coef_of(units)], dtype=np.float64)
    return (data_loss(total, weight_sum, loss_code, units[-1])
            + 0.5 * alpha * np.dot(W, W) / weight_sum)


def loss_grad(X, Y, sw, params, units, hidden_code, loss_code, alpha, eps, factors=None):
    """Full-data ``(loss, gradient)`` as scikit-learn's ``_loss_grad_lbfgs`` (with the
    hidden layers' dropout ``factors`` when given)."""
    grad, total, weight_sum = block_loss_grad(X, Y, sw, params, units, hidden_code,
                                              loss_code, eps, factors)
    grad, squares = finished_gradient(params, grad, n_coef_of(units), alpha, weight_sum)
    loss = data_loss(total, weight_sum, loss_code, units[-1]) + 0.5 * alpha * squares / weight_sum
    return loss, grad


def predict(X, params, units, hidden_code, out_code):
    """Output-layer activations."""
    return forward(X, params, units, hidden_code, out_code)[-1]


# -------------------------------------------------------------- optimizers
def sgd_update(params, grad, velocity, lr, momentum, nesterov):
    """scikit-learn's SGDOptimizer: ``(new_params, new_velocity)``."""
    update = momentum * velocity - lr * grad
    velocity = update
    if nesterov:
        update = momentum * velocity - lr * grad
    return params + update, velocity


def adam_update(params, grad, m, v, step, lr, beta_1, beta_2, epsilon):
    """scikit-learn's AdamOptimizer with ``t = step``: ``(new_params, m, v)``."""
    m = beta_1 * m + (1 - beta_1) * grad
    v = beta_2 * v + (1 - beta_2) * grad**2
    lr_t = lr * np.sqrt(1 - beta_2**step) / (1 - beta_1**step)
    return params - lr_t * m / (np.sqrt(v) + epsilon), m, v


def adamw_update(params, grad, m, v, step, lr, beta_1, beta_2, epsilon, weight_decay,
                 n_coef):
    """PyTorch's ``AdamW`` (Loshchilov & Hutter's Algorithm 2 as ``torch.optim``
    writes it) with ``t = step``, the decay on the first ``n_coef`` entries only:
    ``(new_params, m, v)``."""
    params = params.copy()
    params[:n_coef] *= 1 - lr * weight_decay
    m = beta_1 * m + (1 - beta_1) * grad
    v = beta_2 * v + (1 - beta_2) * grad**2
    denom = np.sqrt(v) / np.sqrt(1 - beta_2**step) + epsilon
    return params - lr / (1 - beta_1**step) * m / denom, m, v


def clip_grad_norm(grad, max_norm):
    """``torch.nn.utils.clip_grad_norm_`` on one flat gradient (no-op for
    ``max_norm`` 0)."""
    if not max_norm:
        return grad
    norm = np.sqrt(np.sum(np.asarray(grad, dtype=np.float64) ** 2))
    return grad * np.asarray(min(1.0, max_norm / (norm + 1e-6)), dtype=grad.dtype)


def hyper_fields(hyper):
    """``hyper`` padded to ``(lr, momentum, nesterov, beta_1, beta_2, epsilon,
    weight_decay, max_grad_norm)`` (the last two default to 0)."""
    return tuple(hyper) + (0.0, 0.0)[len(hyper) - 6:]


def optimizer_step(solver, params, grad, state, hyper, step, n_coef=0):
    """One step of solver code ``solver`` with the finished gradient ``grad``:
    ``(params, state, step)`` (new arrays; ``step`` = Adam's t before the step,
    advanced for Adam and AdamW). ``hyper = (lr, momentum, nesterov, beta_1,
    beta_2, epsilon[, weight_decay, max_grad_norm])``, the gradient clipped to
    ``max_grad_norm`` first when that is not 0; ``state`` = [velocity] (sgd)
    or [m, v] (adam, adamw); adamw decays the first ``n_coef`` parameters.
    NO_UPDATE: no step."""
    lr, momentum, nesterov, beta_1, beta_2, epsilon, weight_decay, max_norm = \
        hyper_fields(hyper)
    state = [s.copy() for s in state]
    if solver != NO_UPDATE:
        grad = clip_grad_norm(grad, max_norm)
    if solver == ADAM:
        step += 1
        params, state[0], state[1] = adam_update(params, grad, state[0], state[1], step, lr,
                                                 beta_1, beta_2, epsilon)
    elif solver == ADAMW:
        step += 1
        params, state[0], state[1] = adamw_update(params, grad, state[0], state[1], step, lr,
                                                  beta_1, beta_2, epsilon, weight_decay,
                                                  n_coef)
    elif solver == SGD:
        params, state[0] = sgd_update(params, grad, state[0], lr, momentum, bool(nesterov))
    elif solver != NO_UPDATE:
        raise ValueError(f"no twin for solver code {solver!r}")
    return params, state, step


# ------------------------------------------------------------------- epoch
def run_epoch(X, Y, sw, order, batch_size, params, units, hidden_code, loss_code,
              alpha, eps, solver, hyper, state, step, dropout=None):
    """One epoch of mini-batch training over ``order`` (scikit-learn's ``_fit_stochastic``
    inner loop). ``hyper = (lr, momentum, nesterov, beta_1, beta_2, epsilon)``;
    ``state`` = [velocity] (sgd) or [m, v] (adam); ``step`` = Adam's t before the epoch.
    adamw's gradient has no L2 term (its ``alpha`` is the decay in ``hyper``);
    the loss has it, as for every solver. ``dropout``: the epoch's ``Dropout``
    bundle (``dropout_factors``), or None.

    Returns ``(accumulated_loss, params, state, step)`` (new arrays)."""
    params = params.copy()
    state = [s.copy() for s in state]
    order = np.asarray(order)
    n = order.shape[0]
    accumulated = 0.0
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        Xb = X[idx]
        Yb = Y[idx]
        swb = None if sw is None else sw[idx]
        factors = None if dropout is None else dropout_factors(dropout, idx, units)
        loss, grad = loss_grad(Xb, Yb, swb, params, units, hidden_code, loss_code, alpha, eps,
                               factors)
        if solver == ADAMW:
            grad = loss_grad(Xb, Yb, swb, params, units, hidden_code, loss_code, 0.0, eps,
                             factors)[1]
        if not np.isfinite(loss):
            return np.nan, params, state, step
        accumulated += loss * len(idx)
        params, state, step = optimizer_step(solver, params, grad, state, hyper, step,
                                             n_coef_of(units))
        params = params.astype(state[0].dtype, copy=False)
    return accumulated, params, state, step
