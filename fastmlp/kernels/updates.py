"""Fused optimizer updates over the flat parameter vector (one pass each)."""

import math

from numba import njit

SGD = 0
ADAM = 1


@njit(cache=True, nogil=True)
def sgd_update(params, grad, velocity, lr, momentum, nesterov):
    """SGD with momentum: ``v = mu v - lr g``; ``p += mu v - lr g`` (Nesterov) or ``p += v``."""
    for k in range(params.shape[0]):
        g = grad[k]
        v = momentum * velocity[k] - lr * g
        velocity[k] = v
        if nesterov:
            params[k] += momentum * v - lr * g
        else:
            params[k] += v


@njit(cache=True, nogil=True)
def adam_update(params, grad, m, v, step, lr, beta_1, beta_2, epsilon):
    """Adam (Kingma & Ba, Algorithm 1, with the bias correction folded into the step):

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
    p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps).
    ``step`` is t after this update.
    """
    lr_t = lr * math.sqrt(1.0 - beta_2**step) / (1.0 - beta_1**step)
    for k in range(params.shape[0]):
        g = grad[k]
        mk = beta_1 * m[k] + (1.0 - beta_1) * g
        vk = beta_2 * v[k] + (1.0 - beta_2) * g * g
        m[k] = mk
        v[k] = vk
        params[k] -= lr_t * mk / (math.sqrt(vk) + epsilon)
