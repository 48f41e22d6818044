"""Dropout on the CUDA path: the kernels drop the units the CPU drops (the same
counter-based mask), and epochs with dropout equal the NumPy twin and the CPU."""

import numpy as np
import pytest

from fastmlp import MLPClassifier
from fastmlp.backends import cuda as backend
from fastmlp.kernels import cuda_layers as kern
from fastmlp.kernels import dropout as drop

import reference as ref
from cuda_twins import DTYPES, assert_close, to_device
from kernel_harness import hyper_tuple
from test_cuda_backend import UNITS, make_problem, network, optimizer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_row_keys_and_dropout_kernels_match_the_twin():
    dropout = drop.epoch_dropout([0.45], seed=77, epoch=3)
    order = np.array([9, 2, 2**33 + 1, 40, 7, 0, 13], dtype=np.int64)
    rows, cols, unit0 = 5, 6, 31
    keys = to_device(np.zeros(2 * rows, dtype=np.int64))
    kern.block_row_keys(kern_block(order, 1, rows), (dropout, keys))
    host_keys = keys.copy_to_host()
    for r in range(rows):
        assert tuple(host_keys[2 * r : 2 * r + 2]) == drop.row_keys.py_func(
            dropout.key_lo, dropout.key_hi, int(order[1 + r]))
    values = np.arange(1.0, 1.0 + rows * cols).reshape(rows, cols)
    M = to_device(values.ravel().copy())
    kept_value = to_device(np.zeros(rows * cols))
    kern.dropout_kernel[kern.linear_blocks(rows * cols), kern.threads_per_block()](
        M, 0, rows, cols, kept_value, True, keys, int(dropout.threshold[0]),
        float(dropout.scale[0]), unit0)
    expected = np.array([[values[r, j] * dropout.scale[0]
                          if drop.unit_kept.py_func(*host_keys[2 * r : 2 * r + 2], unit0 + j,
                                                    int(dropout.threshold[0])) else 0.0
                          for j in range(cols)] for r in range(rows)])
    assert 0 < np.count_nonzero(expected) < rows * cols
    np.testing.assert_array_equal(M.copy_to_host().reshape(rows, cols), expected)
    np.testing.assert_array_equal(kept_value.copy_to_host().reshape(rows, cols), values)


def kern_block(order, start, rows):
    from fastmlp.kernels.bundles import Block

    return Block(to_device(order), start, start + rows, False)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver, hidden", [("sgd", ref.TANH), ("adam", ref.RELU),
                                            ("adamw", ref.GELU)])
def test_epochs_with_dropout_match_the_twin(dtype, solver, hidden):
    """Two shuffled epochs of 7-row batches with dropout on both hidden layers."""
    loss_code = ref.LOG_LOSS
    X, Y, sw, params = make_problem(dtype, loss_code, n=13)
    net = network(params, hidden, loss_code)
    opt = optimizer(solver, params.size, dtype)
    opt.dropout_seed = 1234
    rates = np.array([0.3, 0.5])
    alpha, eps = 0.01, float(np.finfo(dtype).eps)
    trainer = backend.Trainer(net, X, Y, sw, loss_code, alpha, 7, rates)
    state, step, expected_params = list(opt.state.copy()), 0, params
    for epoch in range(2):
        order = np.random.default_rng(epoch).permutation(len(X))
        dropout = drop.epoch_dropout(rates, opt.dropout_seed, opt.epoch)
        got = trainer.run_epoch(order, opt)
        expected, expected_params, state, step = ref.run_epoch(
            X, Y, sw, order, 7, expected_params, UNITS, hidden, loss_code, alpha, eps,
            opt.code, hyper_tuple(opt.hyper()), state, step, dropout)
        assert_close(got, expected, dtype)
        opt.iteration_ends(0)
    trainer.pull_params()
    assert_close(net.params, expected_params, dtype)


@pytest.mark.parametrize("activation, batch_size, n_rows", [("gelu", 1, 8), ("tanh", 8, 24)])
def test_a_dropout_fit_on_cuda_equals_the_cpu_fit(activation, batch_size, n_rows):
    """(Batch size 1 on few rows: the simulator runs every launch in Python.)"""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_rows, 5))
    y = np.arange(n_rows) % 3
    params = dict(hidden_layer_sizes=(6, 5), activation=activation, dropout=[0.3, 0.4],
                  batch_size=batch_size, max_iter=3, random_state=0, learning_rate_init=0.05)
    cpu = MLPClassifier(**params).fit(X, y)
    gpu = MLPClassifier(device="cuda", **params).fit(X, y)
    for a, b in zip(cpu.coefs_ + cpu.intercepts_, gpu.coefs_ + gpu.intercepts_, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-10)
