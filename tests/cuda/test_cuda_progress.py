"""``progress=True`` on ``device='cuda'``: the same Python epoch loop as the CPU
(one bar step per epoch or lbfgs iteration, on stderr), and bitwise the same
weights as ``progress=False`` on the device."""

import io
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastmlp.progress as progress_module
from fastmlp import MLPClassifier


class SysWithStderr:
    """``sys`` as ``fastmlp.progress`` sees it, with a stderr of the test's own."""

    def __init__(self, stderr):
        self.stderr = stderr

    def __getattr__(self, name):
        return getattr(sys, name)


# the stochastic solvers share one epoch loop; lbfgs reports through scipy's callback
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_cuda_fit_shows_progress_and_keeps_its_weights(solver, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # the plain line, whatever is installed
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    log = io.StringIO()
    monkeypatch.setattr(progress_module, "sys", SysWithStderr(log))
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3))
    y = (X[:, 0] > 0).astype(int)
    fits = []
    for progress in (False, True):
        est = MLPClassifier(hidden_layer_sizes=(5,), solver=solver, max_iter=3, batch_size=8,
                            random_state=0, device="cuda", progress=progress)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits.append(est.fit(X, y))
    off, on = fits
    for a, b in zip(off.coefs_ + off.intercepts_, on.coefs_ + on.intercepts_, strict=True):
        np.testing.assert_array_equal(a, b)
    unit = "iteration" if solver == "lbfgs" else "epoch"
    assert log.getvalue() == log.getvalue().splitlines()[0] + "\n"  # one final line
    assert log.getvalue().startswith(f"MLPClassifier {unit} {on.n_iter_}/3 | loss ")
