"""``device='cuda'`` fits equal ``device='cpu'`` fits: same data, same random_state,
3 epochs; weights within 1e-9 (float64) / 1e-4 (float32), same predictions.

The grid covers every solver x problem (binary, multiclass, multilabel,
squared_error, poisson) x dtype, with the hidden activation cycling so that every
solver meets every activation, and one or two hidden layers. Summation order
differs between the GPU reductions and the CPU loops, so equality is up to the
tolerances; the largest differences are printed at the end of the run."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from fastmlp import MLPClassifier, MLPRegressor, config

N_ROWS, N_FEATURES = 20, 3
TOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-4}
SOLVERS = ["sgd", "adam", "lbfgs"]
PROBLEMS = ["binary", "multiclass", "multilabel", "squared_error", "poisson"]
ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]


def make_data(problem, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_ROWS, N_FEATURES)).astype(dtype)
    if problem == "binary":
        y = (X[:, 0] + 0.5 * rng.standard_normal(N_ROWS) > 0).astype(int)
    elif problem == "multiclass":
        y = np.array(["a", "b", "c"])[rng.integers(0, 3, N_ROWS)]
    elif problem == "multilabel":
        y = (rng.random((N_ROWS, 3)) < 0.5).astype(int)
    elif problem == "squared_error":
        y = np.column_stack([X @ [1.0, -2.0, 0.5], np.sin(X[:, 1])])
    else:
        y = rng.poisson(np.exp(0.3 * X[:, 0]))
    return X, y


def estimator(problem, **params):
    if problem in ("squared_error", "poisson"):
        return MLPRegressor(loss=problem, **params)
    return MLPClassifier(**params)


def fit_both(problem, X, y, fit=None, **params):
    """The same estimator fitted on each device (warnings of the 3-epoch fits muted)."""
    fitted = {}
    for device in ("cpu", "cuda"):
        est = estimator(problem, device=device, random_state=0, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fitted[device] = fit(est) if fit else est.fit(X, y)
    return fitted["cpu"], fitted["cuda"]


def weight_diff(a, b):
    return max(float(np.max(np.abs(np.asarray(p, np.float64) - np.asarray(q, np.float64))))
               for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True))


def assert_same_model(cpu, gpu, X, dtype, record_diff):
    """Weights, losses and predictions agree; fitted arrays are host NumPy arrays."""
    tol = TOL[np.dtype(dtype)]
    for arr in gpu.coefs_ + gpu.intercepts_:
        assert type(arr) is np.ndarray and arr.dtype == dtype
    diff = weight_diff(cpu, gpu)
    record_diff("weights", dtype, diff)
    assert diff <= tol, diff
    assert cpu.n_iter_ == gpu.n_iter_
    np.testing.assert_allclose(gpu.loss_, cpu.loss_, rtol=tol, atol=tol)
    if hasattr(cpu, "loss_curve_"):
        np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=tol, atol=tol)
    if hasattr(cpu, "predict_proba"):
        p_cpu, p_gpu = cpu.predict_proba(X), gpu.predict_proba(X)
        record_diff("predict_proba", dtype, np.max(np.abs(p_cpu - p_gpu)))
        np.testing.assert_allclose(p_gpu, p_cpu, rtol=0, atol=tol)
        np.testing.assert_array_equal(gpu.predict(X), cpu.predict(X))
    else:
        y_cpu, y_gpu = cpu.predict(X), gpu.predict(X)
        record_diff("predict", dtype, np.max(np.abs(y_cpu - y_gpu)))
        np.testing.assert_allclose(y_gpu, y_cpu, rtol=tol, atol=tol)


def grid():
    for si, solver in enumerate(SOLVERS):
        for pi, problem in enumerate(PROBLEMS):
            activation = ACTIVATIONS[(si + pi) % len(ACTIVATIONS)]
            hidden = (5,) if (si + pi) % 2 == 0 else (4, 3)
            yield solver, problem, activation, hidden


def dtype_grid():
    """Every grid case in float64 (the tight comparison), and a third of them in
    float32: those with (solver + problem) % 3 == 0, which still meet every
    solver, every problem and both hidden layouts (the simulator is slow)."""
    for si, solver in enumerate(SOLVERS):
        for pi, problem in enumerate(PROBLEMS):
            case = next(c for c in grid() if c[:2] == (solver, problem))
            yield pytest.param(*case, np.float64, id="-".join(map(str, case)) + "-f64")
            if (si + pi) % 3 == 0:
                yield pytest.param(*case, np.float32, id="-".join(map(str, case)) + "-f32")


def test_float32_cases_cover_every_solver_and_problem():
    cases = [p.values for p in dtype_grid() if p.values[-1] is np.float32]
    assert {c[0] for c in cases} == set(SOLVERS) and {c[1] for c in cases} == set(PROBLEMS)
    assert {c[3] for c in cases} == {(5,), (4, 3)}


@pytest.mark.parametrize("solver,problem,activation,hidden,dtype", list(dtype_grid()))
def test_fit_matches_cpu(solver, problem, activation, hidden, dtype, record_diff):
    X, y = make_data(problem, dtype)
    params = dict(solver=solver, activation=activation, hidden_layer_sizes=hidden,
                  max_iter=3, learning_rate_init=0.05, alpha=1e-3)
    if solver != "lbfgs":
        params["batch_size"] = 12  # one full batch and a tail of 8 rows per epoch
    cpu, gpu = fit_both(problem, X, y, **params)
    assert_same_model(cpu, gpu, X, dtype, record_diff)


def test_grid_covers_every_solver_activation_pair():
    pairs = {(solver, activation) for solver, _, activation, _ in grid()}
    assert len(pairs) == len(SOLVERS) * len(ACTIVATIONS)


# Every activation beyond scikit-learn's at least once, every solver with at
# least two of them, GELU and SiLU (which keep z between the passes) on a
# stochastic solver and on lbfgs; test_fit_matches_cpu covers the solvers'
# paths with scikit-learn's activations.
NEW_ACTIVATION_CASES = [("elu", "sgd"), ("leaky_relu", "adam"), ("softplus", "lbfgs"),
                        ("gelu", "adam"), ("gelu", "lbfgs"), ("silu", "sgd"),
                        ("silu", "lbfgs")]


@pytest.mark.parametrize("activation,solver", NEW_ACTIVATION_CASES)
def test_new_activations_match_cpu(solver, activation, record_diff):
    """The activations beyond scikit-learn's, with two hidden layers and He
    initialisation."""
    X, y = make_data("multiclass", np.float64)
    params = dict(solver=solver, activation=activation, hidden_layer_sizes=(4, 3),
                  max_iter=3, learning_rate_init=0.05, alpha=1e-3, init="he_normal")
    if solver != "lbfgs":
        params["batch_size"] = 12
    cpu, gpu = fit_both("multiclass", X, y, **params)
    assert_same_model(cpu, gpu, X, np.float64, record_diff)


def test_sample_weight_unshuffled_plain_momentum(record_diff):
    """sgd without Nesterov, invscaling schedule, weighted rows in their own order."""
    X, y = make_data("multiclass", np.float64, seed=1)
    sw = np.random.default_rng(1).uniform(0.5, 2.0, N_ROWS)
    cpu, gpu = fit_both("multiclass", X, y, fit=lambda est: est.fit(X, y, sample_weight=sw),
                        solver="sgd", nesterovs_momentum=False, learning_rate="invscaling",
                        shuffle=False, batch_size=7, max_iter=3, learning_rate_init=0.1,
                        activation="tanh", hidden_layer_sizes=(5,))
    assert_same_model(cpu, gpu, X, np.float64, record_diff)


def test_early_stopping(record_diff):
    """Validation scoring pulls the parameters every epoch and predicts on the device."""
    X, y = make_data("binary", np.float64, seed=2)
    cpu, gpu = fit_both("binary", X, y, solver="adam", early_stopping=True,
                        validation_fraction=0.25, max_iter=3, learning_rate_init=0.05,
                        hidden_layer_sizes=(5,), activation="relu", batch_size=8)
    assert gpu.validation_scores_ == cpu.validation_scores_
    assert_same_model(cpu, gpu, X, np.float64, record_diff)


def test_partial_fit_carries_optimizer_state(record_diff):
    """Three partial_fit calls: the Adam moments and step go back to the host and up again."""
    X, y = make_data("squared_error", np.float64, seed=3)

    def three_calls(est):
        for _ in range(3):
            est.partial_fit(X, y)
        return est

    cpu, gpu = fit_both("squared_error", X, y, fit=three_calls, solver="adam",
                        learning_rate_init=0.05, hidden_layer_sizes=(4, 3), batch_size=10)
    np.testing.assert_allclose(gpu._optimizer.state, cpu._optimizer.state, rtol=0, atol=1e-9)
    assert gpu._optimizer.step[0] == cpu._optimizer.step[0] == 6
    assert_same_model(cpu, gpu, X, np.float64, record_diff)


def test_sparse_input_lbfgs_in_chunks(monkeypatch, record_diff):
    """CSR input (densified for the device) and the L-BFGS objective in 3 chunks."""
    monkeypatch.setattr(config, "CUDA_CHUNK_ROWS", 7)
    X, y = make_data("multiclass", np.float64, seed=4)
    X[np.abs(X) < 0.5] = 0.0
    Xs = sp.csr_matrix(X)
    cpu, gpu = fit_both("multiclass", Xs, y, solver="lbfgs", max_iter=5,
                        hidden_layer_sizes=(5,), activation="logistic")
    assert_same_model(cpu, gpu, Xs, np.float64, record_diff)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_non_finite_loss_raises():
    X, y = make_data("squared_error", np.float64)
    for device in ("cpu", "cuda"):
        est = MLPRegressor(device=device, solver="sgd", learning_rate_init=1e10,
                           hidden_layer_sizes=(5,), max_iter=3, random_state=0)
        with pytest.raises(ValueError, match="non-finite"):
            est.fit(X * 1e150, y)
        assert not hasattr(est, "coefs_")


def test_pickle_and_clone_of_cuda_model_predict_on_cpu(record_diff):
    X, y = make_data("multiclass", np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gpu = MLPClassifier(device="cuda", hidden_layer_sizes=(5,), max_iter=3,
                            random_state=0, learning_rate_init=0.05).fit(X, y)
    restored = pickle.loads(pickle.dumps(gpu))
    assert restored.device == "cuda"
    restored.set_params(device="cpu")
    p_gpu, p_cpu = gpu.predict_proba(X), restored.predict_proba(X)
    assert p_cpu.dtype == np.float32
    record_diff("predict_proba (pickle)", np.float32, np.max(np.abs(p_gpu - p_cpu)))
    np.testing.assert_allclose(p_cpu, p_gpu, atol=1e-6)
    np.testing.assert_array_equal(restored.predict(X), gpu.predict(X))
    assert clone(gpu).get_params()["device"] == "cuda"
    assert not hasattr(clone(gpu), "coefs_")
