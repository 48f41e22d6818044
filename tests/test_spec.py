"""The vocabulary (``fastmlp.spec``): the tables agree with themselves, every
table the package derives from them says the same, and the kernels dispatch on
exactly the codes they declare -- an unknown code is rejected when a bundle is
built and gives NaN (never another activation's or loss's value) in a kernel."""

import math

import numpy as np
import pytest
from sklearn.utils._param_validation import StrOptions

from fastmlp import MLPClassifier, MLPRegressor, spec
from fastmlp.estimators._memory import fit_bytes
from fastmlp.kernels import activations, losses, optimizers
from fastmlp.kernels.bundles import Hyper, Solver, loss_spec
from fastmlp.network import Network
from fastmlp.solvers import StochasticOptimizer

UNKNOWN = 99


def options(estimator, name):
    (constraint,) = [c for c in estimator._parameter_constraints[name]
                     if isinstance(c, StrOptions)]
    return constraint.options


@pytest.mark.parametrize("table", [spec.ACTIVATIONS, spec.LOSSES, spec.SOLVERS],
                         ids=["activations", "losses", "solvers"])
def test_names_and_codes_are_unique(table):
    assert all(name == kind.name for name, kind in table.items())
    codes = [kind.code for kind in table.values()]
    assert len(set(codes)) == len(codes)
    assert all(type(code) is int for code in codes)


def test_one_loss_per_output_activation():
    outputs = [kind.output for kind in spec.LOSSES.values()]
    assert sorted(outputs) == sorted(spec.OUTPUT_ACTIVATIONS)
    label_types = [t for kind in spec.losses_of("classifier") for t in kind.label_types]
    assert len(set(label_types)) == len(label_types)


def test_solver_state_fits_the_kernels():
    """The optimizer kernels keep at most two state rows (``optimizers.updated``)."""
    for kind in spec.SOLVERS.values():
        assert 0 <= kind.state_rows <= 2
        assert kind.stochastic == (kind.state_rows > 0)
        assert set(kind.schedules) <= set(spec.SCHEDULES)


def test_estimator_constraints_derive_from_the_tables():
    for est in (MLPClassifier, MLPRegressor):
        assert options(est, "activation") == set(spec.HIDDEN_ACTIVATIONS)
        assert options(est, "solver") == set(spec.SOLVERS)
        assert options(est, "learning_rate") == set(spec.SCHEDULES)
    assert options(MLPRegressor, "loss") == {k.param for k in spec.losses_of("regressor")}
    for name in spec.HIDDEN_ACTIVATIONS:
        assert f"- {name!r}: " in MLPClassifier.__doc__


@pytest.mark.parametrize("name", list(spec.ACTIVATIONS))
def test_needs_pre_agrees_with_the_table(name):
    kind = spec.ACTIVATIONS[name]
    assert activations.needs_pre(kind.code) == kind.needs_pre


def test_unknown_codes_give_nan_in_kernels():
    assert math.isnan(activations.activate_any(0.5, UNKNOWN))
    assert math.isnan(activations.derivative_any(0.5, 0.5, UNKNOWN))
    assert math.isnan(losses.loss_term(0.5, 1.0, UNKNOWN, 1e-7))


def test_unknown_codes_and_names_are_rejected_when_bundles_are_built():
    with pytest.raises(ValueError, match="loss code must be one of"):
        loss_spec(UNKNOWN, np.float64, 0.0)
    network = Network([2, 3, 1], "relu", "identity", np.zeros(13))
    network.activation = "swish"
    with pytest.raises(ValueError, match="activation must be one of"):
        network.bundle()
    for solver in ("lbfgs", "rmsprop"):
        with pytest.raises(ValueError, match="solver must be one of"):
            StochasticOptimizer(solver, 4, np.float64, learning_rate_init=0.1,
                                lr_schedule="constant", momentum=0.9, nesterov=True,
                                power_t=0.5, beta_1=0.9, beta_2=0.999, epsilon=1e-8)


def test_no_update_takes_no_step():
    """NO_UPDATE advances no step count and leaves parameters and state alone;
    no solver is taken for another by elimination."""
    hyper = Hyper(0.1, 0.9, True, 0.9, 0.999, 1e-8)
    step = np.zeros(1, dtype=np.int64)
    assert optimizers.advance_step(Solver(spec.NO_UPDATE, hyper, np.zeros((1, 1)), step)) == 0
    assert step[0] == 0
    th = optimizers.typed_hyper(hyper, np.zeros(1), hyper.epsilon)
    assert optimizers.updated(1.0, 2.0, 3.0, 0.5, spec.NO_UPDATE, 0.1, th, 1.0) == (1.0, 2.0,
                                                                                   3.0)


@pytest.mark.parametrize("solver", list(spec.SOLVERS))
def test_state_rows_drive_optimizer_and_memory(solver):
    kind = spec.SOLVERS[solver]
    if kind.stochastic:
        opt = StochasticOptimizer(solver, 7, np.float32, learning_rate_init=0.1,
                                  lr_schedule="invscaling", momentum=0.9, nesterov=True,
                                  power_t=0.5, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
        assert opt.state.shape == (kind.state_rows, 7) and opt.code == kind.code
        assert opt.lr_schedule == ("invscaling" if "invscaling" in kind.schedules
                                   else "constant")
    assert fit_bytes([3, 4, 2], np.float64, solver, 10, "auto") > 0


def test_classifier_and_regressor_losses():
    assert spec.classifier_loss("multiclass").output == "softmax"
    assert spec.classifier_loss("binary").output == "logistic"
    assert spec.classifier_loss("multilabel-indicator").output == "logistic"
    with pytest.raises(ValueError, match="target type"):
        spec.classifier_loss("continuous")
    assert spec.regressor_loss("poisson").non_negative
    with pytest.raises(ValueError, match="loss must be one of"):
        spec.regressor_loss("huber")
