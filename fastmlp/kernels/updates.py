"""Optimizer updates over the flat parameter vector.

``updated`` is the update rule for one parameter, on scalars only (so it inlines
into hot loops with no array bookkeeping); the loop below and the per-sample
path, which updates each weight as soon as its gradient is known, share it:

    sgd:  v = mu v - lr g;   p += mu v - lr g  (Nesterov)  or  p += v
    adam: m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2;
          p -= lr_t m / (sqrt(v) + eps),  lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)
          (Kingma & Ba, Algorithm 1, bias correction folded into lr_t)

``hyper`` = (learning_rate, momentum, nesterov, beta_1, beta_2, epsilon);
``state`` row 0 = velocity (sgd) or m (adam), row 1 = v (adam only).
"""

import math

from numba import njit

SGD = 0
ADAM = 1


@njit(cache=True, nogil=True)
def adam_step_size(hyper, step):
    """Adam's bias-corrected step size lr_t for update number ``step`` (t >= 1)."""
    return hyper[0] * math.sqrt(1.0 - hyper[4] ** step) / (1.0 - hyper[3] ** step)


@njit(cache=True, nogil=True, inline="always")
def updated(p, s0, s1, g, solver, lr_t, momentum, nesterov, beta_1, beta_2, epsilon):
    """New (parameter, state 0, state 1) after one step with gradient ``g``.

    For sgd ``lr_t`` is the learning rate and both state values returned are the
    new velocity (sgd keeps a single state row, which is then row 0 and row -1).
    """
    if solver == ADAM:
        m = beta_1 * s0 + (1.0 - beta_1) * g
        v = beta_2 * s1 + (1.0 - beta_2) * g * g
        return p - lr_t * m / (math.sqrt(v) + epsilon), m, v
    v = momentum * s0 - lr_t * g
    if nesterov:
        return p + (momentum * v - lr_t * g), v, v
    return p + v, v, v


@njit(cache=True, nogil=True)
def update_all(params, grad, state, solver, hyper, lr_t):
    """One optimizer step over the whole flat vector."""
    momentum, nesterov = hyper[1], hyper[2] != 0
    beta_1, beta_2, epsilon = hyper[3], hyper[4], hyper[5]
    last = state.shape[0] - 1  # adam's v; sgd has one row
    for k in range(params.shape[0]):
        params[k], state[0, k], state[last, k] = updated(
            params[k], state[0, k], state[last, k], grad[k], solver, lr_t,
            momentum, nesterov, beta_1, beta_2, epsilon)


@njit(cache=True, nogil=True)
def sgd_update(params, grad, state, hyper):
    """SGD step with momentum (Nesterov if hyper[2]) at learning rate hyper[0]."""
    update_all(params, grad, state, SGD, hyper, hyper[0])


@njit(cache=True, nogil=True)
def adam_update(params, grad, state, hyper, step):
    """Adam step number ``step`` (t after this update)."""
    update_all(params, grad, state, ADAM, hyper, adam_step_size(hyper, step))
