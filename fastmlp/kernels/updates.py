"""Optimizer updates over the flat parameter vector.

``updated`` is the update rule for one parameter, on scalars only (so it inlines
into hot loops with no array bookkeeping); ``step_all`` and the per-sample path,
which updates each weight as soon as its gradient is known, share it:

    sgd:  v = mu v - lr g;   p += mu v - lr g  (Nesterov)  or  p += v
    adam: m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2;
          p -= lr_t m / (sqrt(v) + eps),  lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)
          (Kingma & Ba, Algorithm 1, bias correction folded into lr_t)

``hyper`` = (learning_rate, momentum, nesterov, beta_1, beta_2, epsilon), float64;
``typed_hyper`` turns it into the parameters' dtype so float32 training runs in
float32 arithmetic (float64 training is unchanged). ``state`` row 0 = velocity
(sgd) or m (adam), row 1 = v (adam only).
"""

import math

import numpy as np
from . import kernel

SGD = 0
ADAM = 1


@kernel
def adam_step_size(hyper, step):
    """Adam's bias-corrected step size lr_t for update number ``step`` (t >= 1)."""
    return hyper[0] * math.sqrt(1.0 - hyper[4] ** step) / (1.0 - hyper[3] ** step)


@kernel
def typed_hyper(hyper, like):
    """(lr, momentum, nesterov, b1, 1 - b1, b2, 1 - b2, eps) in ``like``'s dtype.
    Slot 0 is scratch for casting a step size (see ``in_dtype``)."""
    h = np.empty(8, dtype=like.dtype)
    h[0] = hyper[0]
    h[1] = hyper[1]
    h[2] = hyper[2]
    h[3] = hyper[3]
    h[4] = 1.0 - hyper[3]
    h[5] = hyper[4]
    h[6] = 1.0 - hyper[4]
    h[7] = hyper[5]
    return h


@kernel(inline="always")
def updated(p, s0, s1, g, solver, lr_t, h):
    """New (parameter, state 0, state 1) after one step with gradient ``g``;
    ``h`` = ``unpack(typed_hyper(...))``. For sgd ``lr_t`` is the learning rate
    and both state values returned are the new velocity (sgd keeps one state
    row, which is then row 0 and row -1)."""
    momentum, nesterov, beta_1, one_minus_beta_1, beta_2, one_minus_beta_2, epsilon = h
    if solver == ADAM:
        m = beta_1 * s0 + one_minus_beta_1 * g
        v = beta_2 * s1 + one_minus_beta_2 * g * g
        return p - lr_t * m / (math.sqrt(v) + epsilon), m, v
    v = momentum * s0 - lr_t * g
    if nesterov:
        return p + (momentum * v - lr_t * g), v, v
    return p + v, v, v


@kernel(inline="always")
def unpack(h):
    """The hyperparameters of ``typed_hyper`` as a tuple of scalars (momentum,
    nesterov, beta_1, 1 - beta_1, beta_2, 1 - beta_2, epsilon), so hot loops
    see loop-invariant values and vectorise."""
    return h[1], h[2] != 0, h[3], h[4], h[5], h[6], h[7]


@kernel
def in_dtype(h, x):
    """``x`` as a scalar of ``h``'s dtype."""
    h[0] = x
    return h[0]


@kernel
def step_all(params, grad, state, solver, hyper, lr_t, n_coef, alpha, weight_sum):
    """Finish a summed gradient and take one optimizer step, in one pass:
    ``g = (grad + alpha W) / weight_sum`` on coefficients, ``grad / weight_sum``
    on intercepts. Returns ``sum(W ** 2)`` (before the step) for the L2 loss."""
    h = typed_hyper(hyper, params)
    lr_c = in_dtype(h, lr_t)
    alpha_c = in_dtype(h, alpha)
    zero = in_dtype(h, 0.0)
    sw_c = in_dtype(h, weight_sum)
    hs = unpack(h)
    s0 = state[0]
    s1 = state[state.shape[0] - 1]
    # sum(W^2) through BLAS (as scikit-learn's np.dot(s, s)): a plain loop would be
    # a serial chain of additions, slower than the whole update below
    coefs = params[:n_coef]
    squares = float(np.dot(coefs, coefs)) if n_coef > 0 else 0.0
    # one loop per solver (the solver argument is then a constant and the loop vectorises)
    if solver == ADAM:
        for k in range(params.shape[0]):
            w = params[k]
            g = (grad[k] + (alpha_c if k < n_coef else zero) * w) / sw_c
            params[k], s0[k], s1[k] = updated(w, s0[k], s1[k], g, ADAM, lr_c, hs)
    else:
        for k in range(params.shape[0]):
            w = params[k]
            g = (grad[k] + (alpha_c if k < n_coef else zero) * w) / sw_c
            params[k], s0[k], s0[k] = updated(w, s0[k], s0[k], g, SGD, lr_c, hs)
    return squares
