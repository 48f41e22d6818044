"""Helpers shared by the estimator tests (test_parameters, test_targets,
test_inputs, test_training, test_continued_training, test_failed_fits,
test_fitted_attributes, test_device_selection): the estimators and solvers to
parametrize over, small fast estimator parameters, a fit that hides
``ConvergenceWarning``, all weights of a fitted model as one flat vector, and a
Ctrl-C during the third epoch.
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from fastmlp import MLPClassifier, MLPRegressor

SOLVERS = ["sgd", "adam", "lbfgs"]
ESTIMATORS = [MLPClassifier, MLPRegressor]
EST_IDS = ["classifier", "regressor"]


def quiet(**params):
    """Small, fast estimator parameters: ``params`` override the defaults."""
    base = dict(hidden_layer_sizes=(7,), max_iter=20, random_state=0)
    base.update(params)
    return base


def fit_quietly(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(*args, **kwargs)


def flat(est):
    return np.concatenate([a.ravel() for a in est.coefs_ + est.intercepts_])


def interrupt_third_epoch(monkeypatch):
    """Make the CPU trainer's third epoch raise KeyboardInterrupt (as Ctrl-C
    during training would); the first two train as usual."""
    from fastmlp.backends import cpu

    original = cpu.Trainer.run_epoch
    calls = []

    def interrupted(self, order, optimizer):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, order, optimizer)

    monkeypatch.setattr(cpu.Trainer, "run_epoch", interrupted)
