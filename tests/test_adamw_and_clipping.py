"""solver='adamw' (decoupled weight decay, as ``torch.optim.AdamW``) and
``max_grad_norm`` (the gradient clipping of ``torch.nn.utils.clip_grad_norm_``).

Fits from the same weights, in float64 on full batches of unshuffled rows,
against PyTorch's optimizers step for step, and against the NumPy twins of
``tests/reference.py`` (mini-batches and the per-sample path); the errors;
and the round trips of the parameters through get_params / clone / pickle /
``fastmlp.save``. Each fit runs on both CPU paths, the mini-batch blocks
(gemm) and the row-by-row loops, chosen through ``config.ROWS_PATH_MACS``.
"""

import io
import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

import fastmlp
from fastmlp import MLPClassifier, MLPRegressor, config
from fastmlp.solvers import scheduled_rate

import reference as ref
from optional import optional

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)

N, N_FEATURES = 30, 4
EPOCHS = 8
ATOL = 1e-9  # PyTorch: the same arithmetic in another order (lerp, its clip norm)
TWIN_ATOL = 1e-10  # the NumPy twins
LOSS_EPS = float(np.finfo(np.float64).eps)  # the log-losses' clip of probabilities
PATHS = ["blocks", "rows"]


@pytest.fixture(params=PATHS)
def path(request, monkeypatch):
    """The CPU path of the mini-batch fits: 'blocks' (training.run_epoch) or
    'rows' (rows.run_epoch_rows, non-fused above batch size 1)."""
    monkeypatch.setattr(config, "ROWS_PATH_MACS", 10**9 if request.param == "rows" else 0)
    return request.param


# ------------------------------------------------------------------ problems
def make_data(task, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, N_FEATURES))
    if task == "regression":
        y = X @ rng.standard_normal(N_FEATURES) + 0.3 * rng.standard_normal(N)
    elif task == "regression2":  # two outputs
        y = np.column_stack([X @ rng.standard_normal(N_FEATURES), np.sin(X[:, 1])])
    elif task == "binary":
        y = (X[:, 0] - X[:, 2] + 0.5 * rng.standard_normal(N) > 0).astype(int)
    else:
        y = rng.integers(0, 3, N)
    return X, y


def n_outputs(task):
    return {"regression": 1, "regression2": 2, "binary": 1, "multiclass": 3}[task]


def units_of(task, hidden):
    return [N_FEATURES, *hidden, n_outputs(task)]


def initial_weights(units, seed=1, scale=0.6):
    """Weights of our choosing (the same for fastmlp, PyTorch and the twins)."""
    rng = np.random.default_rng(seed)
    pairs = list(zip(units[:-1], units[1:], strict=True))
    coefs = [scale * rng.standard_normal(shape) for shape in pairs]
    intercepts = [scale * rng.standard_normal(n) for n in units[1:]]
    return coefs, intercepts


def estimator(task, **params):
    """Full batches of unshuffled rows, no early stop (tol=0)."""
    Est = MLPRegressor if task.startswith("regression") else MLPClassifier
    base = dict(batch_size=N, shuffle=False, tol=0.0, n_iter_no_change=10_000,
                random_state=0, max_iter=EPOCHS)
    return Est(**{**base, **params})


def fit_from(est, X, y, coefs, intercepts):
    """``est`` fitted from the given weights with a fresh optimizer: a one-step
    L-BFGS fit sets up the architecture (and no optimizer), the weights are then
    replaced, and a warm-started fit with ``est``'s parameters trains from them
    for ``max_iter`` epochs, its schedule starting at epoch 0."""
    params = est.get_params()
    model = clone(est).set_params(solver="lbfgs", max_iter=1, max_grad_norm=None,
                                  learning_rate="constant", warmup_iter=0, warm_start=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    assert not hasattr(model, "_optimizer")
    model.coefs_ = [c.copy() for c in coefs]
    model.intercepts_ = [b.copy() for b in intercepts]
    model.set_params(**{**params, "warm_start": True})
    model.fit(X, y)
    return model


def weights_of(model):
    return [np.asarray(a) for a in model.coefs_ + model.intercepts_]


def max_diff(a, b):
    return max(float(np.max(np.abs(p - q))) for p, q in zip(a, b, strict=True))


def assert_weights(got, expected, atol, err_msg=""):
    for k, (p, q) in enumerate(zip(got, expected, strict=True)):
        np.testing.assert_allclose(p, q, rtol=0, atol=atol, err_msg=f"{err_msg} array {k}")


# ------------------------------------------------------------------- PyTorch
def _torch_activation(torch, name):
    return {"tanh": torch.tanh, "relu": torch.nn.functional.relu}[name]


def torch_fit(torch, task, X, y, coefs, intercepts, *, activation, solver, lr, alpha,
              epochs=EPOCHS, betas=(0.9, 0.999), eps=1e-8, momentum=0.0, nesterov=False,
              max_norm=None, warmup=None):
    """Full-batch training in PyTorch: scikit-learn's losses (for squared error
    the gradient of half the squares summed over outputs, averaged over rows),
    its L2 term alpha / (2 n) sum W^2 in the gradient of sgd and adam; ``AdamW``
    with weight decay alpha on the weights only; ``Adam`` with scikit-learn's
    eps (PyTorch's eps at step t set to ``eps / sqrt(1 - b2^t)``: its
    ``sqrt(v / (1 - b2^t)) + eps'`` is then scikit-learn's ``(sqrt(v) + eps) /
    sqrt(1 - b2^t)``); and ``clip_grad_norm_`` before each step when
    ``max_norm`` is given. ``warmup`` not None: the cosine schedule over
    ``epochs`` epochs after that many epochs of linear warm-up (as
    tests/test_schedules.py builds it).

    Returns ``(weights, objectives, norms)``: the final coefficients then
    intercepts, the objective (data loss + L2 term) before each step, and the
    gradient norm before each clip."""
    W = [torch.tensor(c, requires_grad=True) for c in coefs]
    b = [torch.tensor(v, requires_grad=True) for v in intercepts]
    if solver == "adamw":
        opt = torch.optim.AdamW([{"params": W, "weight_decay": alpha},
                                 {"params": b, "weight_decay": 0.0}],
                                lr=lr, betas=betas, eps=eps)
    elif solver == "adam":
        opt = torch.optim.Adam(W + b, lr=lr, betas=betas, eps=eps)
    else:
        opt = torch.optim.SGD(W + b, lr=lr, momentum=momentum, nesterov=nesterov)
    scheduler = None
    if warmup is not None:
        LR = torch.optim.lr_scheduler
        cosine = LR.CosineAnnealingLR(opt, T_max=epochs - warmup, eta_min=0)
        if warmup:
            ramp = LR.LinearLR(opt, start_factor=1 / warmup, end_factor=1,
                               total_iters=max(warmup - 1, 1))
            scheduler = LR.SequentialLR(opt, [ramp, cosine], [warmup])
        else:
            scheduler = cosine
    f = _torch_activation(torch, activation)
    F = torch.nn.functional
    Xt = torch.from_numpy(X)
    objectives, norms = [], []
    for t in range(1, epochs + 1):
        opt.zero_grad()
        a = Xt
        for i in range(len(W)):
            a = a @ W[i] + b[i]
            if i < len(W) - 1:
                a = f(a)
        reported = None
        if task.startswith("regression"):
            # scikit-learn's squared error: its gradient is that of half the
            # squares summed over the outputs and averaged over the rows; the
            # loss it reports is also averaged over the outputs
            yt = torch.from_numpy(np.asarray(y, dtype=np.float64)).reshape(len(X), -1)
            data = 0.5 * ((a - yt) ** 2).sum() / len(X)
            reported = data / yt.shape[1]
        elif task == "binary":
            data = F.binary_cross_entropy_with_logits(a.ravel(), torch.from_numpy(y * 1.0))
        else:
            data = F.cross_entropy(a, torch.from_numpy(y))
        penalty = alpha / (2 * len(X)) * sum((w ** 2).sum() for w in W)
        objectives.append(float((data if reported is None else reported) + penalty))
        (data if solver == "adamw" else data + penalty).backward()
        if max_norm is not None:
            norms.append(float(torch.nn.utils.clip_grad_norm_(W + b, max_norm)))
        if solver == "adam":  # scikit-learn's eps, before the bias correction of v
            opt.param_groups[0]["eps"] = eps / np.sqrt(1 - betas[1] ** t)
        opt.step()
        if scheduler is not None:
            scheduler.step()
    weights = [w.detach().numpy().copy() for w in W] + [v.detach().numpy().copy() for v in b]
    return weights, objectives, norms


# --------------------------------------------------------------------- twins
def targets(task, y):
    """``(Y, loss_code)`` as the twins take them."""
    if task.startswith("regression"):
        return np.asarray(y, dtype=np.float64).reshape(N, -1), ref.SQUARED_ERROR
    if task == "binary":
        return np.asarray(y, dtype=np.float64).reshape(-1, 1), ref.BINARY_LOG_LOSS
    return np.eye(3)[y], ref.LOG_LOSS


def twin_fit(task, X, y, coefs, intercepts, *, activation, solver, lr, alpha, batch_size,
             epochs=EPOCHS, momentum=0.0, nesterov=False, betas=(0.9, 0.999), eps=1e-8,
             max_norm=None, rates=None):
    """``ref.run_epoch`` over ``epochs`` epochs of the rows in order: ``(weights,
    loss_curve)`` (the weights as coefficient matrices then intercepts).
    ``rates``: the learning rate of each epoch (default: ``lr`` throughout)."""
    Y, loss_code = targets(task, y)
    units = units_of(task, [c.shape[1] for c in coefs[:-1]])
    code = ref.STOCHASTIC[solver]
    params = ref.pack(coefs, intercepts)
    state = [np.zeros_like(params) for _ in range(ref.STATE_ROWS[code])]
    step = 0
    curve = []
    for epoch in range(epochs):
        rate = lr if rates is None else rates[epoch]
        hyper = (rate, momentum, nesterov, betas[0], betas[1], eps,
                 alpha if solver == "adamw" else 0.0, max_norm or 0.0)
        accumulated, params, state, step = ref.run_epoch(
            X, Y, None, np.arange(N), batch_size, params, units,
            ref.HIDDEN_ACTIVATIONS[activation], loss_code, alpha, LOSS_EPS, code, hyper,
            state, step)
        curve.append(accumulated / N)
    coef_list, inter_list = ref.unpack(params, units)
    return coef_list + inter_list, curve


# ---------------------------------------------------------- AdamW vs PyTorch
ADAMW_CASES = [  # task, activation, hidden, lr, alpha, betas, eps
    ("regression", "tanh", (5,), 0.01, 0.1, (0.9, 0.999), 1e-8),
    ("regression", "relu", (5, 3), 0.05, 0.5, (0.8, 0.99), 1e-3),
    ("regression2", "tanh", (5, 3), 0.03, 0.2, (0.9, 0.999), 1e-2),
    ("binary", "tanh", (5, 3), 0.02, 1.0, (0.9, 0.999), 1e-3),
    ("binary", "relu", (5,), 0.1, 0.05, (0.5, 0.9), 1e-8),
    ("multiclass", "tanh", (5,), 0.05, 2.0, (0.9, 0.999), 1e-8),
    ("multiclass", "relu", (5, 3), 0.01, 0.3, (0.7, 0.95), 1e-3),
]


@pytest.mark.parametrize("task, activation, hidden, lr, alpha, betas, eps", ADAMW_CASES)
def test_adamw_matches_pytorch_adamw(task, activation, hidden, lr, alpha, betas, eps, path):
    """Eight full-batch AdamW steps from the same weights: the weights of
    ``torch.optim.AdamW`` (decay alpha on the weights, none on the biases, eps
    after the bias correction) and its objective before each step."""
    torch = optional("torch")
    X, y = make_data(task)
    coefs, intercepts = initial_weights(units_of(task, hidden))
    est = estimator(task, hidden_layer_sizes=hidden, activation=activation, solver="adamw",
                    learning_rate_init=lr, alpha=alpha, beta_1=betas[0], beta_2=betas[1],
                    epsilon=eps)
    ours = fit_from(est, X, y, coefs, intercepts)
    theirs, objectives, _ = torch_fit(torch, task, X, y, coefs, intercepts,
                                      activation=activation, solver="adamw", lr=lr,
                                      alpha=alpha, betas=betas, eps=eps)
    assert ours._optimizer.step[0] == EPOCHS  # a fresh optimizer, one step per epoch
    assert_weights(weights_of(ours), theirs, ATOL)
    # the loss curve reports the L2 term, although it is not in adamw's gradient
    np.testing.assert_allclose(ours.loss_curve_, objectives, rtol=1e-10, atol=0)
    # and the decay mattered: without it PyTorch ends elsewhere
    undecayed, _, _ = torch_fit(torch, task, X, y, coefs, intercepts, activation=activation,
                                solver="adamw", lr=lr, alpha=0.0, betas=betas, eps=eps)
    assert max_diff(undecayed, theirs) > 1e3 * ATOL


@pytest.mark.parametrize("task", ["regression", "multiclass"])
@pytest.mark.parametrize("warmup", [0, 3])
def test_adamw_with_cosine_schedule_matches_pytorch(task, warmup, path):
    """learning_rate='cosine' (with and without warm-up) against AdamW under
    PyTorch's CosineAnnealingLR / LinearLR + SequentialLR: the scheduled rate
    scales both the step and the decay."""
    torch = optional("torch")
    X, y = make_data(task, seed=3)
    hidden, lr, alpha = (5, 3), 0.05, 1.5
    coefs, intercepts = initial_weights(units_of(task, hidden), seed=4)
    est = estimator(task, hidden_layer_sizes=hidden, activation="tanh", solver="adamw",
                    learning_rate_init=lr, alpha=alpha, learning_rate="cosine",
                    warmup_iter=warmup, epsilon=1e-3)
    ours = fit_from(est, X, y, coefs, intercepts)
    theirs, objectives, _ = torch_fit(torch, task, X, y, coefs, intercepts, activation="tanh",
                                      solver="adamw", lr=lr, alpha=alpha, eps=1e-3,
                                      warmup=warmup)
    assert_weights(weights_of(ours), theirs, ATOL)
    np.testing.assert_allclose(ours.loss_curve_, objectives, rtol=1e-10, atol=0)
    constant, _, _ = torch_fit(torch, task, X, y, coefs, intercepts, activation="tanh",
                               solver="adamw", lr=lr, alpha=alpha, eps=1e-3)
    assert max_diff(constant, theirs) > 1e3 * ATOL


# ------------------------------------------------------ AdamW vs the NumPy twin
@pytest.mark.parametrize("task, activation, hidden", [
    ("regression", "tanh", (5,)), ("binary", "relu", (5, 3)), ("multiclass", "tanh", (5, 3)),
    ("regression2", "relu", (5,)),
])
@pytest.mark.parametrize("schedule, warmup", [("constant", 0), ("cosine", 2)])
def test_adamw_matches_the_numpy_twin(task, activation, hidden, schedule, warmup, path):
    """Mini-batches of 8 rows (a tail of 6): weights and loss curve equal
    ``ref.run_epoch`` with solver ADAMW epoch by epoch at the scheduled rates."""
    X, y = make_data(task, seed=5)
    lr, alpha, eps, epochs = 0.02, 0.7, 1e-3, 5
    coefs, intercepts = initial_weights(units_of(task, hidden), seed=6)
    est = estimator(task, hidden_layer_sizes=hidden, activation=activation, solver="adamw",
                    learning_rate_init=lr, alpha=alpha, epsilon=eps, batch_size=8,
                    max_iter=epochs, learning_rate=schedule, warmup_iter=warmup)
    ours = fit_from(est, X, y, coefs, intercepts)
    rates = [scheduled_rate(schedule, lr, e, epochs, warmup) for e in range(epochs)]
    expected, curve = twin_fit(task, X, y, coefs, intercepts, activation=activation,
                               solver="adamw", lr=lr, alpha=alpha, batch_size=8, eps=eps,
                               epochs=epochs, rates=rates)
    assert ours._optimizer.step[0] == 4 * epochs
    assert_weights(weights_of(ours), expected, TWIN_ATOL)
    np.testing.assert_allclose(ours.loss_curve_, curve, rtol=1e-12, atol=0)


def test_twin_of_adamw_is_pytorchs_step():
    """The twin ``ref.adamw_update`` itself against ``torch.optim.AdamW`` over
    a few steps with given gradients (so the twin is checked, not assumed)."""
    torch = optional("torch")
    rng = np.random.default_rng(7)
    n_coef, lr, wd, b1, b2, eps = 6, 0.03, 0.4, 0.8, 0.95, 1e-2
    p = rng.standard_normal(10)
    coef, inter = torch.tensor(p[:n_coef].copy()), torch.tensor(p[n_coef:].copy())
    coef.requires_grad_(True)
    inter.requires_grad_(True)
    opt = torch.optim.AdamW([{"params": [coef], "weight_decay": wd},
                             {"params": [inter], "weight_decay": 0.0}],
                            lr=lr, betas=(b1, b2), eps=eps)
    m, v = np.zeros(10), np.zeros(10)
    for step in range(1, 6):
        g = rng.standard_normal(10)
        coef.grad, inter.grad = torch.tensor(g[:n_coef].copy()), torch.tensor(g[n_coef:].copy())
        opt.step()
        p, m, v = ref.adamw_update(p, g, m, v, step, lr, b1, b2, eps, wd, n_coef)
        np.testing.assert_allclose(p, np.concatenate([coef.detach().numpy(),
                                                      inter.detach().numpy()]),
                                   rtol=0, atol=1e-14)


# ------------------------------------------------------------- adam vs adamw
def _adam_pair(alpha, eps):
    X, y = make_data("multiclass", seed=8)
    coefs, intercepts = initial_weights(units_of("multiclass", (5,)), seed=9)
    fits = {}
    for solver in ("adam", "adamw"):
        est = estimator("multiclass", hidden_layer_sizes=(5,), activation="tanh",
                        solver=solver, learning_rate_init=0.02, alpha=alpha, epsilon=eps)
        fits[solver] = weights_of(fit_from(est, X, y, coefs, intercepts))
    return fits["adam"], fits["adamw"]


def test_adam_and_adamw_differ_with_a_penalty():
    """alpha is an L2 term in adam's gradient, a decoupled decay in adamw's step."""
    adam, adamw = _adam_pair(alpha=0.5, eps=1e-8)
    assert max_diff(adam, adamw) > 1e-4


def test_adamw_without_decay_is_adam_up_to_the_epsilon_placement():
    """With alpha=0 only eps's place differs: adam adds it to sqrt(v), adamw to
    sqrt(v / (1 - b2^t)), a difference of order eps / sqrt(v) in each step. The
    weights move by 0.16 in these 8 steps; the two fits part by about 2e-9 at
    eps=1e-12, 2e-5 at eps=1e-8 (from the parameters of smallest gradient,
    ~1e-3) and by a good part of the whole movement at eps=1e-3."""
    adam, adamw = _adam_pair(alpha=0.0, eps=1e-12)
    assert_weights(adamw, adam, 1e-8)
    adam, adamw = _adam_pair(alpha=0.0, eps=1e-8)
    assert_weights(adamw, adam, 1e-4)
    adam, adamw = _adam_pair(alpha=0.0, eps=1e-3)
    assert max_diff(adam, adamw) > 1e-2


# --------------------------------------------------------- clipping vs PyTorch
CLIP_SOLVERS = [  # solver, momentum, nesterov, lr, alpha
    ("sgd", 0.0, False, 0.1, 0.01),
    ("sgd", 0.9, True, 0.1, 0.01),
    ("sgd", 0.9, False, 0.05, 0.01),
    ("adam", 0.0, False, 0.02, 0.01),
    ("adamw", 0.0, False, 0.02, 0.3),
]
CLIP_IDS = ["sgd", "sgd-nesterov", "sgd-momentum", "adam", "adamw"]
SMALL_NORM, LARGE_NORM = 0.05, 50.0


@pytest.mark.parametrize("task, hidden", [("regression", (5,)), ("multiclass", (5, 3))])
@pytest.mark.parametrize("clipping", ["active", "idle"])
@pytest.mark.parametrize("solver, momentum, nesterov, lr, alpha", CLIP_SOLVERS, ids=CLIP_IDS)
def test_clipping_matches_pytorch(solver, momentum, nesterov, lr, alpha, clipping, task,
                                  hidden, path):
    """``loss.backward(); clip_grad_norm_(params, max_norm); opt.step()`` with
    the gradient fastmlp reports (the L2 term in it for sgd and adam): the same
    weights, with a max_norm that clips every step and one that never does.
    (scikit-learn's momentum, velocity = momentum velocity - lr g, is PyTorch's
    buf = momentum buf + g scaled by -lr at a constant rate.)"""
    torch = optional("torch")
    X, y = make_data(task, seed=10)
    coefs, intercepts = initial_weights(units_of(task, hidden), seed=11)
    max_norm = SMALL_NORM if clipping == "active" else LARGE_NORM
    est = estimator(task, hidden_layer_sizes=hidden, activation="tanh", solver=solver,
                    learning_rate_init=lr, alpha=alpha, momentum=momentum,
                    nesterovs_momentum=nesterov, max_grad_norm=max_norm)
    ours = fit_from(est, X, y, coefs, intercepts)
    theirs, objectives, norms = torch_fit(
        torch, task, X, y, coefs, intercepts, activation="tanh", solver=solver, lr=lr,
        alpha=alpha, momentum=momentum, nesterov=nesterov, max_norm=max_norm)
    unclipped = weights_of(fit_from(est.set_params(max_grad_norm=None), X, y, coefs,
                                    intercepts))
    if clipping == "active":
        assert min(norms) > max_norm  # every step is clipped
        assert max_diff(unclipped, theirs) > 1e3 * ATOL  # and that changed the fit
    else:
        assert max(norms) + 1e-6 < max_norm  # no step is
        assert_weights(unclipped, theirs, ATOL)
    assert_weights(weights_of(ours), theirs, ATOL)
    np.testing.assert_allclose(ours.loss_curve_, objectives, rtol=1e-10, atol=0)


# ------------------------------------------------- clipping vs the NumPy twin
@pytest.mark.parametrize("task", ["regression", "multiclass"])
@pytest.mark.parametrize("solver, momentum, nesterov, lr, alpha", CLIP_SOLVERS, ids=CLIP_IDS)
def test_per_sample_clipping_matches_the_numpy_twin(solver, momentum, nesterov, lr, alpha,
                                                    task):
    """batch_size=1 (the per-sample path, whose fused update clipping turns
    off): three epochs of 30 clipped steps equal ``ref.run_epoch`` at batch
    size 1, and differ from the unclipped fit."""
    X, y = make_data(task, seed=12)
    hidden, max_norm, epochs = (5, 3), 0.1, 3
    coefs, intercepts = initial_weights(units_of(task, hidden), seed=13)
    est = estimator(task, hidden_layer_sizes=hidden, activation="tanh", solver=solver,
                    learning_rate_init=lr, alpha=alpha, momentum=momentum,
                    nesterovs_momentum=nesterov, max_grad_norm=max_norm, batch_size=1,
                    max_iter=epochs)
    ours = fit_from(est, X, y, coefs, intercepts)
    expected, curve = twin_fit(task, X, y, coefs, intercepts, activation="tanh",
                               solver=solver, lr=lr, alpha=alpha, batch_size=1,
                               momentum=momentum, nesterov=nesterov, max_norm=max_norm,
                               epochs=epochs)
    assert_weights(weights_of(ours), expected, TWIN_ATOL)
    np.testing.assert_allclose(ours.loss_curve_, curve, rtol=1e-12, atol=0)
    # the first row's gradient is clipped, and clipping changed the fit
    Y, loss_code = targets(task, y)
    first = ref.loss_grad(X[:1], Y[:1], None, ref.pack(coefs, intercepts),
                          units_of(task, hidden), ref.TANH, loss_code,
                          0.0 if solver == "adamw" else alpha, LOSS_EPS)[1]
    assert np.linalg.norm(first) > max_norm
    unclipped = weights_of(fit_from(est.set_params(max_grad_norm=None), X, y, coefs,
                                    intercepts))
    assert max_diff(unclipped, expected) > 1e3 * TWIN_ATOL


@pytest.mark.parametrize("solver", ["sgd", "adam", "adamw"])
def test_mini_batch_clipping_matches_the_numpy_twin(solver, path):
    """Mini-batches of 7 rows (a tail of 2), momentum sgd, clipped steps."""
    X, y = make_data("binary", seed=14)
    hidden, max_norm, epochs = (5, 3), 0.08, 4
    coefs, intercepts = initial_weights(units_of("binary", hidden), seed=15)
    est = estimator("binary", hidden_layer_sizes=hidden, activation="relu", solver=solver,
                    learning_rate_init=0.05, alpha=0.2, max_grad_norm=max_norm, batch_size=7,
                    max_iter=epochs)
    ours = fit_from(est, X, y, coefs, intercepts)
    expected, curve = twin_fit("binary", X, y, coefs, intercepts, activation="relu",
                               solver=solver, lr=0.05, alpha=0.2, batch_size=7, momentum=0.9,
                               nesterov=True, max_norm=max_norm, epochs=epochs)
    assert_weights(weights_of(ours), expected, TWIN_ATOL)
    np.testing.assert_allclose(ours.loss_curve_, curve, rtol=1e-12, atol=0)
    unclipped = weights_of(fit_from(est.set_params(max_grad_norm=None), X, y, coefs,
                                    intercepts))
    assert max_diff(unclipped, expected) > 1e3 * TWIN_ATOL


# ------------------------------------------------ a clip that never happens
@pytest.mark.parametrize("solver", ["sgd", "adam", "adamw"])
@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_a_clip_that_never_bites_changes_nothing_on_mini_batches(solver, task, path):
    """max_grad_norm=1e12 multiplies every gradient by exactly 1: bitwise the
    fit without clipping."""
    X, y = make_data(task, seed=16)
    fits = [estimator(task, hidden_layer_sizes=(5, 3), solver=solver, batch_size=8,
                      alpha=0.1, learning_rate_init=0.02, max_iter=4, shuffle=True,
                      max_grad_norm=max_norm).fit(X, y)
            for max_norm in (None, 1e12)]
    for a, b in zip(weights_of(fits[0]), weights_of(fits[1]), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(fits[0].loss_curve_, fits[1].loss_curve_)


@pytest.mark.parametrize("solver", ["sgd", "adam", "adamw"])
def test_a_clip_that_never_bites_at_batch_size_one(solver):
    """The per-sample path without its fused update: the same fit up to rounding."""
    X, y = make_data("regression", seed=17)
    fits = [estimator("regression", hidden_layer_sizes=(5,), solver=solver, batch_size=1,
                      alpha=0.1, learning_rate_init=0.01, max_iter=3,
                      max_grad_norm=max_norm).fit(X, y)
            for max_norm in (None, 1e12)]
    assert_weights(weights_of(fits[1]), weights_of(fits[0]), 1e-13)


# -------------------------------------------------------------------- errors
def test_clipping_with_lbfgs_raises_and_fits_nothing():
    X, y = make_data("binary")
    est = MLPClassifier(hidden_layer_sizes=(5,), solver="lbfgs", max_grad_norm=1.0)
    with pytest.raises(ValueError, match="max_grad_norm"):
        est.fit(X, y)
    assert not hasattr(est, "coefs_")


@pytest.mark.parametrize("lr, alpha", [(0.5, 2.0), (0.25, 8.0), (1e-3, 1e4)])
def test_adamw_decay_factor_must_stay_positive(lr, alpha):
    """learning_rate_init * alpha >= 1 would zero or flip the coefficients."""
    X, y = make_data("regression")
    est = MLPRegressor(hidden_layer_sizes=(5,), solver="adamw", learning_rate_init=lr,
                       alpha=alpha, max_iter=2)
    with pytest.raises(ValueError, match="alpha"):
        est.fit(X, y)
    assert not hasattr(est, "coefs_")
    with pytest.raises(ValueError, match="alpha"):
        est.partial_fit(X, y)
    assert not hasattr(est, "coefs_")
    # adam takes the same values (alpha is only a penalty there), and adamw just below 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert hasattr(clone(est).set_params(solver="adam").fit(X, y), "coefs_")
        below = clone(est).set_params(alpha=0.99 / lr).fit(X, y)
    assert np.all(np.isfinite(below.coefs_[0]))


def test_a_refused_adamw_refit_keeps_the_fitted_model():
    X, y = make_data("binary")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier(hidden_layer_sizes=(5,), solver="adamw", alpha=0.1,
                              max_iter=3, random_state=0).fit(X, y)
    before = [a.copy() for a in weights_of(model)]
    with pytest.raises(ValueError, match="alpha"):
        model.set_params(learning_rate_init=0.5, alpha=2.0).fit(X, y)
    for a, b in zip(weights_of(model), before, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("max_norm", [0, 0.0, -1, -1e-3, "1.0"])
@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_max_grad_norm_must_be_positive(Est, max_norm):
    X, y = make_data("binary")
    est = Est(hidden_layer_sizes=(5,), solver="sgd", max_grad_norm=max_norm)
    with pytest.raises(InvalidParameterError, match="max_grad_norm"):
        est.fit(X, y)
    assert not hasattr(est, "coefs_")


# --------------------------------------------------------------- round trips
def _trained(Est, task):
    """A model fitted with adamw and active clipping (3 epochs of 10 rows)."""
    X, y = make_data(task, seed=18)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = Est(hidden_layer_sizes=(5,), solver="adamw", alpha=0.4,
                    learning_rate_init=0.03, max_grad_norm=0.05, batch_size=10, max_iter=3,
                    epsilon=1e-4, random_state=0).fit(X, y)
    return model, X, y


ROUND_TRIP = [(MLPClassifier, "multiclass"), (MLPRegressor, "regression")]


@pytest.mark.parametrize("Est, task", ROUND_TRIP)
def test_parameters_survive_get_set_params_and_clone(Est, task):
    est = Est(solver="adamw", alpha=0.4, max_grad_norm=0.05)
    params = est.get_params()
    assert (params["solver"], params["alpha"], params["max_grad_norm"]) == ("adamw", 0.4, 0.05)
    assert Est().set_params(solver="adamw", max_grad_norm=0.05).get_params()[
        "max_grad_norm"] == 0.05
    assert Est(max_grad_norm=0.05).set_params(max_grad_norm=None).max_grad_norm is None
    assert clone(est).get_params() == params
    model, _, _ = _trained(Est, task)
    copy = clone(model)
    assert not hasattr(copy, "coefs_")
    assert (copy.solver, copy.max_grad_norm, copy.alpha) == ("adamw", 0.05, 0.4)


def _continued(model, X, y):
    return weights_of(model.partial_fit(X, y))


@pytest.mark.parametrize("Est, task", ROUND_TRIP)
def test_pickle_keeps_predictions_and_the_next_partial_fit(Est, task):
    model, X, y = _trained(Est, task)
    restored = pickle.loads(pickle.dumps(model))
    assert restored.max_grad_norm == 0.05 and restored.solver == "adamw"
    predict = "predict_proba" if hasattr(model, "predict_proba") else "predict"
    np.testing.assert_array_equal(getattr(restored, predict)(X), getattr(model, predict)(X))
    unclipped = pickle.loads(pickle.dumps(model)).set_params(max_grad_norm=None)
    for a, b in zip(_continued(restored, X, y), _continued(model, X, y), strict=True):
        np.testing.assert_array_equal(a, b)
    # the next step clips: the same model without clipping goes elsewhere
    assert max_diff(_continued(unclipped, X, y), weights_of(model)) > 1e-8


@pytest.mark.parametrize("Est, task", ROUND_TRIP)
def test_model_file_keeps_predictions_and_the_next_partial_fit(Est, task):
    model, X, y = _trained(Est, task)
    buffer = io.BytesIO()
    fastmlp.save(model, buffer)
    loaded = fastmlp.load(io.BytesIO(buffer.getvalue()))
    for name in ("solver", "alpha", "max_grad_norm", "epsilon", "learning_rate_init"):
        assert getattr(loaded, name) == getattr(model, name), name
    predict = "predict_proba" if hasattr(model, "predict_proba") else "predict"
    np.testing.assert_array_equal(getattr(loaded, predict)(X), getattr(model, predict)(X))
    np.testing.assert_array_equal(loaded._optimizer.state, model._optimizer.state)
    assert loaded._optimizer.step[0] == model._optimizer.step[0] == 9
    for a, b in zip(_continued(loaded, X, y), _continued(model, X, y), strict=True):
        np.testing.assert_array_equal(a, b)
    assert loaded._optimizer.step[0] == 12
    # both the decay and the clip act on that step
    for change in (dict(max_grad_norm=None), dict(alpha=0.0)):
        other = fastmlp.load(io.BytesIO(buffer.getvalue())).set_params(**change)
        assert max_diff(_continued(other, X, y), weights_of(model)) > 1e-8, change
