"""learning_rate='cosine' and the linear warm-up (warmup_iter): the rate of each
epoch against the published equations and PyTorch's schedulers, and fits equal
to the same epochs run one by one at those rates."""

import io
import math
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

import fastmlp
from fastmlp import MLPClassifier, MLPRegressor
from fastmlp.solvers import scheduled_rate

from optional import optional

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)


def published(schedule, lr, epoch, max_iter, warmup):
    """Linear warm-up, then cosine annealing (Loshchilov & Hutter, SGDR, eq. 5 with
    one period and eta_min = 0) or a constant rate."""
    if epoch < warmup:
        return lr * (epoch + 1) / warmup
    if schedule == "constant":
        return lr
    return 0.5 * lr * (1 + math.cos(math.pi * (epoch - warmup) / (max_iter - warmup)))


@pytest.mark.parametrize("schedule, warmup", [("cosine", 0), ("cosine", 3), ("constant", 4)])
def test_rates_follow_the_published_equations(schedule, warmup):
    rates = [scheduled_rate(schedule, 0.1, e, 20, warmup) for e in range(20)]
    np.testing.assert_allclose(rates, [published(schedule, 0.1, e, 20, warmup)
                                       for e in range(20)], rtol=1e-15, atol=0)
    if schedule == "cosine":
        assert scheduled_rate(schedule, 0.1, 20, 20, warmup) == 0.0  # annealed to 0


@pytest.mark.parametrize("warmup", [0, 1, 3])
def test_rates_equal_pytorchs_schedulers(warmup):
    torch = optional("torch")
    max_iter, lr = 12, 0.05
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=lr)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max_iter - warmup,
                                                        eta_min=0)
    if warmup:  # (one epoch of warm-up is one epoch at the full rate)
        ramp = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1 / warmup, end_factor=1,
                                                 total_iters=max(warmup - 1, 1))
        scheduler = torch.optim.lr_scheduler.SequentialLR(opt, [ramp, cosine], [warmup])
    else:
        scheduler = cosine
    theirs = []
    for _ in range(max_iter):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    ours = [scheduled_rate("cosine", lr, e, max_iter, warmup) for e in range(max_iter)]
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


def epoch_by_epoch(model, X, y, rates):
    """The same training as one fit, as warm-started one-epoch fits at the given
    constant rates (warm_start keeps the optimizer state)."""
    model = clone(model).set_params(learning_rate="constant", warmup_iter=0, max_iter=1,
                                    warm_start=True)
    for rate in rates:
        model.set_params(learning_rate_init=rate).fit(X, y)
    return model


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("solver, batch_size", [("sgd", 1), ("sgd", 16), ("adam", 16)])
@pytest.mark.parametrize("schedule, warmup", [("cosine", 0), ("cosine", 2), ("constant", 3)])
def test_a_scheduled_fit_is_its_epochs_at_the_scheduled_rates(Est, solver, batch_size,
                                                              schedule, warmup):
    X, y = make_classification(n_samples=64, n_features=5, random_state=0)
    max_iter = 6
    model = Est(hidden_layer_sizes=(6,), solver=solver, batch_size=batch_size,
                learning_rate=schedule, warmup_iter=warmup, learning_rate_init=0.01,
                max_iter=max_iter, tol=0, n_iter_no_change=100, shuffle=False,
                random_state=0)
    fitted = clone(model).fit(X, y)
    rates = [published(schedule, 0.01, e, max_iter, warmup) for e in range(max_iter)]
    stepwise = epoch_by_epoch(model, X, y, rates)
    for a, b in zip(fitted.coefs_ + fitted.intercepts_, stepwise.coefs_ + stepwise.intercepts_,
                    strict=True):
        np.testing.assert_array_equal(a, b)
    # and the schedule changed the fit: not the constant-rate one
    constant = clone(model).set_params(learning_rate="constant", warmup_iter=0).fit(X, y)
    assert not np.array_equal(constant.coefs_[0], fitted.coefs_[0])


def test_partial_fit_goes_on_along_the_schedule_through_a_model_file():
    X, y = make_classification(n_samples=60, n_features=4, random_state=1)
    model = MLPClassifier((5,), solver="sgd", learning_rate="cosine", warmup_iter=2,
                          max_iter=8, random_state=0)
    straight = clone(model)
    for _ in range(6):
        straight.partial_fit(X, y, classes=[0, 1])
    halfway = clone(model)
    for _ in range(3):
        halfway.partial_fit(X, y, classes=[0, 1])
    buffer = io.BytesIO()
    fastmlp.save(halfway, buffer)
    resumed = fastmlp.load(io.BytesIO(buffer.getvalue()))
    for _ in range(3):
        resumed.partial_fit(X, y)
    np.testing.assert_array_equal(resumed.coefs_[0], straight.coefs_[0])
    rates = [published("cosine", 0.001, e, 8, 2) for e in range(7)]
    assert resumed._optimizer.learning_rate == pytest.approx(rates[6], rel=1e-15)


@pytest.mark.parametrize("params, match", [
    (dict(learning_rate="invscaling", warmup_iter=2), "warmup_iter=2 needs learning_rate"),
    (dict(learning_rate="adaptive", warmup_iter=1), "warmup_iter=1 needs learning_rate"),
    (dict(learning_rate="cosine", warmup_iter=5, max_iter=5), "must be less than max_iter"),
])
def test_a_warm_up_the_schedule_cannot_take_raises_and_changes_nothing(params, match):
    X, y = make_classification(n_samples=40, n_features=4, random_state=0)
    model = MLPClassifier((4,), solver="sgd", max_iter=3, random_state=0).fit(X, y)
    before = [a.copy() for a in model.coefs_]
    with pytest.raises(ValueError, match=match):
        model.set_params(**params).fit(X, y)
    for a, b in zip(model.coefs_, before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_cosine_with_lbfgs_is_accepted_and_ignored_as_other_schedules_are():
    X, y = make_classification(n_samples=40, n_features=4, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = MLPClassifier((4,), solver="lbfgs", max_iter=20, random_state=0).fit(X, y)
        b = MLPClassifier((4,), solver="lbfgs", learning_rate="cosine", max_iter=20,
                          random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
