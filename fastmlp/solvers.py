"""Optimizer state and learning-rate schedules for the stochastic solvers, and the
L-BFGS driver. The arithmetic of an update lives in ``kernels/optimizers.py``;
this module holds what persists between epochs and between ``partial_fit`` calls."""

import math
import warnings
from contextlib import nullcontext

import numpy as np
import scipy.optimize
from sklearn.exceptions import ConvergenceWarning

from . import spec
from .kernels.bundles import Hyper, Solver


class StochasticOptimizer:
    """State of a stochastic solver (sgd, adam, adamw) over a flat parameter vector.

    What the solver is -- its kernel code, state rows and schedules -- comes
    from ``spec.SOLVERS``; this class holds what persists between epochs and
    between ``partial_fit`` calls.

    Parameters
    ----------
    solver : str
        A name of ``spec.STOCHASTIC_SOLVERS``; ValueError otherwise.
    n_params : int
        Length of the flat parameter vector.
    dtype : numpy dtype
        Dtype of the parameters (and of the moment buffers).
    learning_rate_init : float
    lr_schedule : {'constant', 'invscaling', 'adaptive', 'cosine'}
        Followed where the solver lists it in ``SolverKind.schedules`` (sgd all
        of them, adam and adamw 'constant' and 'cosine'); any other solver
        keeps a constant rate, as in scikit-learn.
    momentum, nesterov, power_t : sgd hyperparameters.
    beta_1, beta_2, epsilon : adam and adamw hyperparameters.
    weight_decay : float, default=0.0
        adamw's decoupled decay of the coefficients (ignored by the others).
    max_grad_norm : float or None, default=None
        Clip each finished gradient to this L2 norm; None for no clipping.
    max_iter : int, default=1
        Epochs of the 'cosine' schedule.
    warmup_iter : int, default=0
        Epochs of linear warm-up before a 'constant' or 'cosine' schedule.
    """

    def __init__(self, solver, n_params, dtype, *, learning_rate_init, lr_schedule,
                 momentum, nesterov, power_t, beta_1, beta_2, epsilon, max_iter=1,
                 warmup_iter=0, weight_decay=0.0, max_grad_norm=None):
        kind = spec.solver(solver)
        if not kind.stochastic:
            raise ValueError(f"solver must be one of {list(spec.STOCHASTIC_SOLVERS)}, "
                             f"got {solver!r}.")
        self.solver = solver
        self.code = kind.code
        self.learning_rate_init = learning_rate_init
        self.lr_schedule = lr_schedule if lr_schedule in kind.schedules else "constant"
        self.max_iter = max_iter
        self.warmup_iter = warmup_iter
        self.epoch = 0  # epochs trained on this schedule
        self.learning_rate = scheduled_rate(self.lr_schedule, learning_rate_init, 0,
                                            max_iter, warmup_iter)
        self.momentum = momentum
        self.nesterov = nesterov
        self.power_t = power_t
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.weight_decay = weight_decay if solver in spec.DECOUPLED_DECAY else 0.0
        self.max_grad_norm = max_grad_norm
        self.dropout_seed = None  # drawn by the first fit that drops units
        # sgd: row 0 = velocity; adam: rows 0, 1 = first and second moments.
        self.state = np.zeros((kind.state_rows, n_params), dtype=dtype)
        self.step = np.zeros(1, dtype=np.int64)

    def __getstate__(self):
        """Plain data: names, numbers and the state and step arrays."""
        return dict(self.__dict__)

    def hyper(self):
        """The current hyperparameters as the kernels read them (``Hyper``)."""
        return Hyper(learning_rate=float(self.learning_rate), momentum=float(self.momentum),
                     nesterov=bool(self.nesterov), beta_1=float(self.beta_1),
                     beta_2=float(self.beta_2), epsilon=float(self.epsilon),
                     weight_decay=float(self.weight_decay),
                     max_grad_norm=float(self.max_grad_norm or 0.0))

    def bundle(self):
        """The optimizer as the kernels take it (``Solver``): code, hyperparameters,
        and the state and step arrays, which the kernels update in place."""
        return Solver(code=self.code, hyper=self.hyper(), state=self.state, step=self.step)

    def __setstate__(self, state):
        # optimizers pickled before the epoch-based schedules (no warm-up, epoch 0),
        # decoupled decay, clipping and dropout
        self.__dict__.update({"max_iter": 1, "warmup_iter": 0, "epoch": 0,
                              "weight_decay": 0.0, "max_grad_norm": None,
                              "dropout_seed": None, **state})

    def iteration_ends(self, time_step):
        """End-of-epoch schedule: 'invscaling' sets lr = lr_init / (t + 1)^power_t;
        warm-up and 'cosine' the rate of the next epoch (``scheduled_rate``)."""
        self.epoch += 1
        if self.lr_schedule == "invscaling":
            self.learning_rate = float(self.learning_rate_init) / (time_step + 1) ** self.power_t
        elif self.lr_schedule == "cosine" or self.epoch <= self.warmup_iter:
            self.learning_rate = scheduled_rate(self.lr_schedule, self.learning_rate_init,
                                                self.epoch, self.max_iter, self.warmup_iter)

    def trigger_stopping(self, msg, verbose):
        """Called after n_iter_no_change epochs without improvement: returns True to
        stop; 'adaptive' divides the learning rate by 5 instead, until it is 1e-6."""
        if self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(f"{msg} Setting learning rate to {self.learning_rate:f}")
        return False


def scheduled_rate(schedule, learning_rate_init, epoch, max_iter, warmup_iter):
    """Learning rate of epoch ``epoch`` (from 0) under a linear warm-up and the
    'constant' or 'cosine' schedule (any other schedule: ``learning_rate_init``).

    Warm-up, epochs ``e < W`` (``W = warmup_iter``): ``lr_init (e + 1) / W``
    (PyTorch's ``LinearLR(start_factor=1 / W, total_iters=W - 1)``). Then cosine
    annealing to 0 over the remaining ``T = max_iter - W`` epochs,
    ``lr_init (1 + cos(pi (e - W) / T)) / 2`` (``CosineAnnealingLR(T_max=T,
    eta_min=0)``'s closed form, periodic past ``T`` as there), or
    ``lr_init`` for 'constant'.
    """
    lr = float(learning_rate_init)
    if epoch < warmup_iter:
        return lr * (epoch + 1) / warmup_iter
    if schedule == "cosine":
        return lr * (1 + math.cos(math.pi * (epoch - warmup_iter) / (max_iter - warmup_iter))) / 2
    return lr


def minimize_lbfgs(loss_grad, x0, *, max_iter, max_fun, tol, verbose, bar=None):
    """Run scipy's L-BFGS-B on the flat parameter vector.

    ``loss_grad(x)`` returns ``(loss, gradient)`` from one compiled call. scipy
    works in float64; the gradient is returned in that precision. ``verbose``
    prints a line per iteration; ``bar``, an enabled ``fastmlp.progress.ProgressBar``
    or None, advances one step per iteration with the loss. Neither changes the
    result: scipy's callback only reads it.
    """
    iteration = [0]
    bar = bar if bar is not None and bar.enabled else None

    def report(intermediate_result):
        iteration[0] += 1
        with bar.paused(verbose) if bar is not None else nullcontext():
            if verbose:
                print(f"Iteration {iteration[0]}, loss = {intermediate_result.fun:.8f}")
            if bar is not None:
                bar.update(loss=float(intermediate_result.fun))

    return scipy.optimize.minimize(
        loss_grad,
        x0,
        method="L-BFGS-B",
        jac=True,
        callback=report if verbose or bar is not None else None,
        options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol},
    )


def check_lbfgs_result(result, max_iter):
    """Number of L-BFGS iterations; warns ConvergenceWarning as scikit-learn does
    when scipy reports anything but convergence."""
    n_iter = min(result.nit, max_iter)
    if result.status != 0:
        message = (
            f"lbfgs failed to converge after {n_iter} iteration(s) "
            f"(status={result.status}):\n{result.message}\n"
        )
        if n_iter == max_iter:
            message += (
                "\nIncrease the number of iterations to improve the "
                f"convergence (max_iter={max_iter})."
            )
        message += (
            "\nYou might also want to scale the data as shown in:\n"
            "    https://scikit-learn.org/stable/modules/"
            "preprocessing.html"
        )
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
    return n_iter
