"""The CUDA backend (``fastmlp.backends.cuda``) against the NumPy twins of a whole
epoch, of the L-BFGS objective and of prediction; and its host <-> device traffic."""

import numpy as np
import pytest
import scipy.sparse as sp

from fastmlp import config, spec
from fastmlp.backends import cuda as backend
from fastmlp.network import Network
from fastmlp.solvers import StochasticOptimizer

import reference as ref
from cuda_twins import DTYPES, assert_close
from kernel_harness import hyper_tuple

UNITS = [5, 6, 4, 3]  # two hidden layers; with tile 4 every layer spans 2 blocks


def make_problem(dtype, loss_code, n=17, seed=0, weighted=True):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, UNITS[0])).astype(dtype)
    if loss_code == ref.LOG_LOSS:
        Y = np.eye(UNITS[-1])[rng.integers(0, UNITS[-1], n)]
    elif loss_code == ref.POISSON:
        Y = rng.poisson(1.0, (n, UNITS[-1])).astype(float)
    elif loss_code == ref.BINARY_LOG_LOSS:
        Y = (rng.random((n, UNITS[-1])) < 0.5).astype(float)
    else:
        Y = rng.standard_normal((n, UNITS[-1]))
    sw = rng.uniform(0.5, 2.0, n) if weighted else None
    params = (0.5 * rng.uniform(-1, 1, ref.n_params_of(UNITS))).astype(dtype)
    return X, Y.astype(dtype), sw, params


def network(params, hidden_code, loss_code):
    names = {kind.code: kind.name for kind in spec.ACTIVATIONS.values()}
    return Network(UNITS, names[hidden_code], names[ref.OUTPUT_OF_LOSS[loss_code]],
                   params.copy())


def optimizer(solver, n_params, dtype):
    return StochasticOptimizer(solver, n_params, dtype, learning_rate_init=0.05,
                               lr_schedule="constant", momentum=0.9, nesterov=True,
                               power_t=0.5, beta_1=0.9, beta_2=0.999, epsilon=1e-8)


CASES = [  # (solver, hidden activation, loss, shuffled)
    ("sgd", ref.TANH, ref.LOG_LOSS, True),
    ("adam", ref.RELU, ref.BINARY_LOG_LOSS, True),
    ("sgd", ref.LOGISTIC, ref.POISSON, False),
    ("adam", ref.IDENTITY, ref.SQUARED_ERROR, False),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver,hidden,loss_code,shuffled", CASES)
def test_run_epoch_matches_reference(dtype, solver, hidden, loss_code, shuffled):
    """Two epochs of 7-row batches (with a 6-row tail) equal the NumPy epoch."""
    X, Y, sw, params = make_problem(dtype, loss_code, n=13)
    net = network(params, hidden, loss_code)
    opt = optimizer(solver, params.size, dtype)
    alpha, eps = 0.01, float(np.finfo(dtype).eps)
    trainer = backend.Trainer(net, X, Y, sw, loss_code, alpha, 7)
    state = list(opt.state.copy())
    step = 0
    expected_params = params
    for epoch in range(2):
        order = np.random.default_rng(epoch).permutation(len(X)) if shuffled else None
        got = trainer.run_epoch(order, opt)
        expected, expected_params, state, step = ref.run_epoch(
            X, Y, sw, np.arange(len(X)) if order is None else order, 7, expected_params,
            UNITS, hidden, loss_code, alpha, eps, opt.code, hyper_tuple(opt.hyper()), state, step)
        assert_close(got, expected, dtype)
    trainer.pull_params()
    assert_close(net.params, expected_params, dtype)
    assert_close(opt.state, np.array(state), dtype)
    assert opt.step[0] == step


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss_code", [ref.LOG_LOSS, ref.SQUARED_ERROR])
def test_loss_grad_matches_reference(dtype, loss_code, monkeypatch):
    """The L-BFGS objective over three chunks (accumulated on the device)."""
    monkeypatch.setattr(config, "CUDA_CHUNK_ROWS", 6)
    X, Y, sw, params = make_problem(dtype, loss_code, seed=1)
    trainer = backend.Trainer(network(params, ref.TANH, loss_code), X, Y, sw, loss_code, 0.01)
    eps = float(np.finfo(dtype).eps)
    for scale in (1.0, 0.5):  # a second point reuses the chunk scratch
        x = scale * params.astype(np.float64)
        loss, grad = trainer.loss_grad(x)
        e_loss, e_grad = ref.loss_grad(X, Y, sw, x.astype(dtype), UNITS, ref.TANH, loss_code,
                                       0.01, eps)
        assert grad.dtype == np.float64 and isinstance(loss, float)
        assert_close(loss, e_loss, dtype)
        assert_close(grad, e_grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss_code", [ref.LOG_LOSS, ref.POISSON])
def test_predict_matches_reference(dtype, loss_code, monkeypatch):
    """Prediction in chunks of 6 rows, dense and CSR (densified on the host)."""
    monkeypatch.setattr(config, "CUDA_CHUNK_ROWS", 6)
    X, _, _, params = make_problem(dtype, loss_code, seed=2)
    net = network(params, ref.RELU, loss_code)
    expected = ref.predict(X, params, UNITS, ref.RELU, ref.OUTPUT_OF_LOSS[loss_code])
    for data in (X, sp.csr_matrix(X)):
        got = backend.predict(net, data)
        assert isinstance(got, np.ndarray) and got.dtype == dtype
        assert_close(got, expected, dtype)


class CountCopies:
    """Counts host <-> device copies made through the device-array class."""

    def __init__(self, monkeypatch, array_type):
        self.to_host = self.to_device = 0
        for name, attr in (("copy_to_host", "to_host"), ("copy_to_device", "to_device")):
            original = getattr(array_type, name)
            monkeypatch.setattr(array_type, name, self._counting(original, attr))

    def _counting(self, original, attr):
        def wrapper(array, *args, **kwargs):
            setattr(self, attr, getattr(self, attr) + 1)
            return original(array, *args, **kwargs)

        return wrapper


@pytest.mark.parametrize("shuffled", [True, False])
def test_one_scalar_per_epoch(shuffled, monkeypatch):
    """An epoch uploads only the row order (when shuffled) and copies back only the
    epoch loss; parameters come back only through pull_params."""
    X, Y, sw, params = make_problem(np.float64, ref.LOG_LOSS, n=20)
    net = network(params, ref.TANH, ref.LOG_LOSS)
    opt = optimizer("adam", params.size, np.float64)
    trainer = backend.Trainer(net, X, Y, sw, ref.LOG_LOSS, 0.01, 8)
    trainer.run_epoch(None, opt)  # uploads the optimizer state once
    counts = CountCopies(monkeypatch, type(trainer.sums))
    order = np.random.default_rng(0).permutation(20) if shuffled else None
    trainer.run_epoch(order, opt)
    assert (counts.to_device, counts.to_host) == (int(shuffled), 1)
    before = net.params.copy()
    trainer.pull_params()
    assert counts.to_host == 3  # parameters and optimizer state
    assert not np.array_equal(before, net.params)
