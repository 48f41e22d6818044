"""Optimizer steps over the flat parameter vector, and the gradient they consume.

Equations (``lr_t`` the step size, ``g`` the finished gradient):

    (G)  g = (sum over rows of dL/dp + alpha p) / sum of row weights
         (alpha = 0 on intercepts; per-row sums come from the layers)
    (S)  sgd:  v = mu v - lr g;   p += mu v - lr g  (Nesterov)  or  p += v
    (A)  adam: m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2;
               p -= lr_t m / (sqrt(v) + eps),  lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)
               (Kingma & Ba, Algorithm 1, bias correction folded into lr_t)
    (W)  adamw: (A) with alpha = 0 in (G), on p (1 - lr alpha) for coefficients
               (decoupled weight decay, Loshchilov & Hutter, Algorithm 2) and with
               eps_t = eps sqrt(1 - b2^t) for eps: PyTorch's AdamW adds eps after
               the bias correction, lr/(1 - b1^t) m / (sqrt(v / (1 - b2^t)) + eps),
               which is (A)'s lr_t m / (sqrt(v) + eps_t)
    (C)  clipping (max_grad_norm c > 0): g *= min(1, c / (||g|| + 1e-6)) over the
         whole finished gradient before the step (``clip_grad_norm_``'s rule)

``finished_gradient`` (G), ``sgd_updated`` (S), ``adam_updated`` (A, W) are
inlined scalar helpers (``updated`` picks one by solver code, the codes of
``fastmlp.spec.SOLVERS``),
so the per-sample path can update each weight the moment its gradient is known
and the CUDA kernel runs the same code per thread; ``step_range`` applies (G)
and one step to a range of the vector (``finish_and_step`` to the whole of it;
the data-parallel kernels of ``pieces.py`` chunk by chunk). Hot loops call them with scalars only:
an inlined helper that takes arrays costs reference counting on every call,
which made the per-sample path 10x slower when the step took the arrays.

To add an optimizer: its entry in ``spec.SOLVERS`` (code, state rows,
parameters, schedules); here its ``*_updated`` step, a branch in ``updated``
and in ``advance_step``, and a loop in ``step_range`` that calls the step
directly (so the loop has no branch per element); its twin in
``tests/reference.py``. Every branch names its code: an unknown code takes no
step, and never reaches a kernel (``spec.solver`` rejects it when the
``Solver`` bundle is built).
"""

import math
from collections import namedtuple

import numpy as np
from numba.extending import overload

from ..spec import ADAM, ADAMW, NO_UPDATE, SGD
from . import kernel
from .bundles import Hyper, Solver
from .losses import sum_of_squares

NO_HYPER = Hyper(learning_rate=0.0, momentum=0.0, nesterov=False, beta_1=0.0, beta_2=0.0,
                 epsilon=0.0, weight_decay=0.0, max_grad_norm=0.0)
"""Hyperparameters that NO_UPDATE never reads."""

TypedHyper = namedtuple(
    "TypedHyper",
    "momentum nesterov beta_1 one_minus_beta_1 beta_2 one_minus_beta_2 epsilon decay one")
"""What ``updated`` reads: the hyperparameters in the parameters' dtype;
``epsilon`` is the step's (eps_t for adamw), ``decay`` the coefficients'
factor 1 - lr alpha of adamw (1 for every other solver), ``one`` the
intercepts' factor."""


def cast_like(like, x):
    """``x`` as a scalar of the dtype of the array ``like``."""
    return like.dtype.type(x)


@overload(cast_like, inline="always")
def _cast_like(like, x):
    to = like.dtype
    return lambda like, x: to(x)


@kernel(inline="always")
def typed_hyper(hyper, like, epsilon):
    """``hyper`` (float64) as a TypedHyper in the dtype of ``like``, so float32
    training runs in float32 arithmetic (float64 training is unchanged);
    ``epsilon`` the step's (``step_epsilon``)."""
    return TypedHyper(cast_like(like, hyper.momentum), hyper.nesterov,
                      cast_like(like, hyper.beta_1), cast_like(like, 1.0 - hyper.beta_1),
                      cast_like(like, hyper.beta_2), cast_like(like, 1.0 - hyper.beta_2),
                      cast_like(like, epsilon),
                      cast_like(like, 1.0 - hyper.learning_rate * hyper.weight_decay),
                      cast_like(like, 1.0))


@kernel(inline="always")
def step_epsilon(code, hyper, step):
    """The epsilon of update number ``step``: (W)'s eps_t for adamw, eps otherwise."""
    if code == ADAMW:
        return hyper.epsilon * math.sqrt(1.0 - hyper.beta_2 ** step)
    return hyper.epsilon


@kernel(inline="always")
def coupled_alpha(code, alpha):
    """The L2 penalty that enters the gradient (G): none for adamw, whose
    ``alpha`` is the decoupled decay (W)."""
    return 0.0 if code == ADAMW else alpha


@kernel(inline="always")
def adam_step_size(hyper, step):
    """Adam's bias-corrected step size lr_t for update number ``step`` (t >= 1)."""
    return (hyper.learning_rate * math.sqrt(1.0 - hyper.beta_2 ** step)
            / (1.0 - hyper.beta_1 ** step))


@kernel(inline="always")
def advance_step(solver):
    """Count one more update in ``solver.step[0]`` (Adam's t) and return the
    step size lr_t of that update."""
    if solver.code == ADAM or solver.code == ADAMW:
        solver.step[0] += 1
        return adam_step_size(solver.hyper, solver.step[0])
    if solver.code == SGD:
        return solver.hyper.learning_rate
    return 0.0


@kernel(inline="always")
def finished_gradient(g, p, alpha, weight_sum, divide):
    """(G): ``(g + alpha p) / weight_sum``; without ``divide`` (a weight sum of
    exactly 1) the division is skipped."""
    penalised = g + alpha * p
    return penalised / weight_sum if divide else penalised


@kernel(inline="always")
def adam_updated(p, m, v, g, lr_t, th):
    """(A): new (parameter, first moment, second moment)."""
    m = th.beta_1 * m + th.one_minus_beta_1 * g
    v = th.beta_2 * v + th.one_minus_beta_2 * g * g
    return p - lr_t * m / (math.sqrt(v) + th.epsilon), m, v


@kernel(inline="always")
def adamw_updated(p, m, v, g, lr_t, decay, th):
    """(W): (A) on the decayed parameter ``p * decay`` (``th.decay`` for a
    coefficient, ``th.one`` for an intercept)."""
    m = th.beta_1 * m + th.one_minus_beta_1 * g
    v = th.beta_2 * v + th.one_minus_beta_2 * g * g
    return p * decay - lr_t * m / (math.sqrt(v) + th.epsilon), m, v


@kernel(inline="always")
def sgd_updated(p, velocity, g, lr_t, th):
    """(S): new (parameter, velocity)."""
    v = th.momentum * velocity - lr_t * g
    if th.nesterov:
        return p + (th.momentum * v - lr_t * g), v
    return p + v, v


@kernel(inline="always")
def updated(p, s0, s1, g, code, lr_t, th, decay):
    """New (parameter, state 0, state 1) after one step (S, A or W) with gradient
    ``g``; ``th`` a TypedHyper, ``decay`` adamw's factor of this parameter
    (``th.decay`` or ``th.one``). For sgd both state values returned are the new
    velocity (sgd keeps one state row, which is then row 0 and row -1). Any
    other code (NO_UPDATE) returns the values unchanged."""
    if code == ADAM:
        return adam_updated(p, s0, s1, g, lr_t, th)
    if code == ADAMW:
        return adamw_updated(p, s0, s1, g, lr_t, decay, th)
    if code == SGD:
        p, v = sgd_updated(p, s0, g, lr_t, th)
        return p, v, v
    return p, s0, s1


@kernel(inline="always")
def finished_norm2(grad, params, n_coef, alpha, weight_sum, lo, hi):
    """(G) into ``grad[lo:hi]``; returns the sum of its squares (float64), the
    part of ``||g||^2`` that (C) needs."""
    zero = cast_like(params, 0.0)
    norm2 = 0.0
    p, gr = params[lo:hi], grad[lo:hi]  # (views: see ``step_range``)
    for k in range(hi - lo):
        g = finished_gradient(gr[k], p[k], alpha if k < n_coef - lo else zero, weight_sum,
                              True)
        gr[k] = g
        norm2 += float(g) * float(g)
    return norm2


@kernel(inline="always")
def clip_factor(norm2, like, max_norm):
    """(C)'s factor ``min(1, c / (||g|| + 1e-6))`` in the dtype of ``like``."""
    return cast_like(like, min(1.0, max_norm / (math.sqrt(norm2) + 1e-6)))


@kernel
def clip_finished(grad, params, n_coef, alpha, weight_sum, max_norm):
    """(G) into ``grad``, then (C): scale it to an L2 norm of at most ``max_norm``
    (the norm summed in float64; the factor applied in the parameters' dtype)."""
    norm2 = finished_norm2(grad, params, n_coef, alpha, weight_sum, 0, params.shape[0])
    scale = clip_factor(norm2, params, max_norm)
    for k in range(params.shape[0]):
        grad[k] *= scale


StepConstants = namedtuple("StepConstants", "th lr alpha weight_sum clips")
"""What ``step_range`` reads besides the arrays, in the parameters' dtype:
``th`` (TypedHyper), the step size, the penalty that enters (G) and the weight
sum; ``clips`` whether (C) applies (the caller then clips first, and passes the
constants of ``clipped``)."""


@kernel(inline="always")
def step_constants(solver, params, alpha, weight_sum, lr_t):
    """``StepConstants`` of one step of ``solver`` (update number ``solver.step[0]``,
    step size ``lr_t``) on a gradient summed over rows of total ``weight_sum``."""
    code = solver.code
    th = typed_hyper(solver.hyper, params, step_epsilon(code, solver.hyper, solver.step[0]))
    return StepConstants(th, cast_like(params, lr_t),
                         cast_like(params, coupled_alpha(code, alpha)),
                         cast_like(params, weight_sum),
                         solver.hyper.max_grad_norm > 0 and code != NO_UPDATE)


@kernel(inline="always")
def clipped(constants):
    """The constants after (C): the gradient is finished, so the loops see it as
    a sum of weight 1 without penalty ((g + 0 p) / 1 == g exactly)."""
    th = constants.th
    # (not constants.clips: False, typed as a bool like the field, not as the
    # literal False -- which would compile ``step_range`` once more)
    return StepConstants(th, constants.lr, th.one - th.one, th.one, not constants.clips)


@kernel
def step_range(params, n_coef, grad, solver, constants, lo, hi):
    """(G) and one step of ``solver`` on ``params[lo:hi]`` (``grad[lo:hi]`` the
    summed gradient); with NO_UPDATE the finished gradient is stored in ``grad``
    instead. One loop per solver: the code is then a constant and the loop
    vectorises."""
    code = solver.code
    th, lr_c, alpha_c, sw_c = constants.th, constants.lr, constants.alpha, constants.weight_sum
    zero = cast_like(params, 0.0)
    # views from lo: indices from 0 are known to be non-negative, so Numba needs no
    # negative-index wraparound per element and the loops vectorise (from a runtime
    # lo they ran 4x slower)
    p, gr = params[lo:hi], grad[lo:hi]
    s0 = solver.state[0][lo:hi]
    s1 = solver.state[solver.state.shape[0] - 1][lo:hi]
    n = hi - lo
    coefs = n_coef - lo  # p[k] is a coefficient for k < coefs
    if code == ADAM:
        for k in range(n):
            w = p[k]
            g = finished_gradient(gr[k], w, alpha_c if k < coefs else zero, sw_c, True)
            p[k], s0[k], s1[k] = adam_updated(w, s0[k], s1[k], g, lr_c, th)
    elif code == ADAMW:
        for k in range(n):
            w = p[k]
            g = finished_gradient(gr[k], w, zero, sw_c, True)
            p[k], s0[k], s1[k] = adamw_updated(w, s0[k], s1[k], g, lr_c,
                                               th.decay if k < coefs else th.one, th)
    elif code == SGD:
        for k in range(n):
            w = p[k]
            g = finished_gradient(gr[k], w, alpha_c if k < coefs else zero, sw_c, True)
            p[k], s0[k] = sgd_updated(w, s0[k], g, lr_c, th)
    elif code == NO_UPDATE:
        for k in range(n):
            gr[k] = finished_gradient(gr[k], p[k], alpha_c if k < coefs else zero, sw_c, True)


@kernel
def finish_and_step(net, grad, alpha, weight_sum, solver, lr_t):
    """(G) on the summed gradient ``grad`` (and (C) when the solver clips),
    then one step with ``solver`` in one pass; with NO_UPDATE the finished
    gradient is stored in ``grad`` instead. Returns ``sum(W ** 2)`` (before
    the step) for the L2 loss."""
    params, n_coef = net.params, net.n_coef
    constants = step_constants(solver, params, alpha, weight_sum, lr_t)
    # sum(W^2) with partial sums, not np.dot: OpenBLAS's dot wakes its threads from
    # about 10,000 elements, and on a busy 2-core machine one 15,000-element dot
    # then took 7 ms, 200 times the whole Adam step
    squares = sum_of_squares(params, 0, n_coef)
    if constants.clips:  # (C) needs the whole finished gradient first
        clip_finished(grad, params, n_coef, constants.alpha, constants.weight_sum,
                      solver.hyper.max_grad_norm)
        constants = clipped(constants)
    # (np.int64(0), not the literal 0: that would compile ``step_range`` once more)
    step_range(params, n_coef, grad, solver, constants, np.int64(0), params.shape[0])
    return squares


@kernel(inline="always")
def no_update(like):
    """A Solver that takes no step (NO_UPDATE), for the L-BFGS objective."""
    return Solver(NO_UPDATE, NO_HYPER, np.empty((1, 0), dtype=like.dtype),
                  np.zeros(1, dtype=np.int64))
