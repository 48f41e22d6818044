"""Dropout: the counter-based mask against its published equation, the kernels
against NumPy twins and finite differences, both CPU paths against each other,
and the estimators' parameter (determinism, continuation, errors, export)."""

import io
import pickle

import numpy as np
import pytest
from numba import njit
from sklearn.base import clone
from sklearn.datasets import load_digits, make_classification, make_regression
from sklearn.utils._param_validation import InvalidParameterError

import fastmlp
from fastmlp import MLPClassifier, MLPRegressor
from fastmlp.kernels import dropout as drop
from fastmlp.kernels import layers, rows, training
from fastmlp.kernels.bundles import Batches, Block, LossSpec

import reference as ref
from kernel_harness import (
    DTYPES,
    assert_close,
    input_args,
    make_params,
    make_sw,
    make_X,
    make_Y,
    n_outputs_for,
    network_args,
    scratch,
    solver_args,
    targets_args,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

HIDDEN = list(ref.HIDDEN_ACTIVATIONS.items())
UNITS = [6, 5, 4]  # two hidden layers, widths 5 and 4, before the outputs


def units_for(loss_code):
    return UNITS + [n_outputs_for(loss_code)]


# ------------------------------------------------------------------ the mask
@njit
def kept_counts(dropout, n_rows, n_units):
    """(kept, kept in both this and the next unit) over n_rows x n_units draws."""
    kept = both = 0
    for row in range(n_rows):
        lo, hi = drop.row_keys(dropout.key_lo, dropout.key_hi, row)
        previous = False
        for unit in range(n_units):
            k = drop.unit_kept(lo, hi, unit, dropout.threshold[0])
            kept += k
            both += k and previous
            previous = k
    return kept, both


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.9])
def test_keep_rate_is_one_minus_p_within_three_standard_errors(p):
    dropout = drop.epoch_dropout([p], seed=12345, epoch=3)
    n_rows, n_units = 4000, 250
    n = n_rows * n_units
    kept, both = kept_counts(dropout, n_rows, n_units)
    q = 1 - p
    assert abs(kept / n - q) < 3 * np.sqrt(q * p / n)
    # neighbouring units independent: both kept with probability q^2
    pairs = n_rows * (n_units - 1)
    assert abs(both / pairs - q * q) < 3 * np.sqrt(q * q * (1 - q * q) / pairs)


def test_mask_is_fresh_per_epoch_and_row_and_the_same_for_a_seed():
    rows_ = np.arange(64)
    units = [8, 50, 50, 2]
    masks = {}
    for seed in (1, 2):
        for epoch in (0, 1):
            f = ref.dropout_factors(drop.epoch_dropout([0.5, 0.5], seed, epoch), rows_, units)
            masks[seed, epoch] = f[0] > 0
    assert np.array_equal(
        masks[1, 0], ref.dropout_factors(drop.epoch_dropout([0.5, 0.5], 1, 0), rows_,
                                         units)[0] > 0)
    for a, b in [((1, 0), (1, 1)), ((1, 0), (2, 0))]:
        agree = np.mean(masks[a] == masks[b])
        assert 0.4 < agree < 0.6  # independent masks agree half the time at p = 0.5
    first = masks[1, 0]
    assert not any(np.array_equal(first[r], first[r + 1]) for r in range(63))


def test_the_kernels_hash_is_the_published_equation():
    """``dropout.unit_kept`` (compiled) against the NumPy twin of the equation in
    the module docstring, rows beyond 2^32 included."""

    @njit
    def kept(dropout, rows_, unit0, n_units):
        out = np.zeros((rows_.shape[0], n_units), dtype=np.bool_)
        for r in range(rows_.shape[0]):
            lo, hi = drop.row_keys(dropout.key_lo, dropout.key_hi, rows_[r])
            for j in range(n_units):
                out[r, j] = drop.unit_kept(lo, hi, unit0 + j, dropout.threshold[0])
        return out

    units = [3, 7, 2]
    dropout = drop.epoch_dropout([0.4], seed=2**31 - 2, epoch=2**40 + 5)
    rows_ = np.array([0, 1, 5, 2**32 - 1, 2**32, 2**33 + 17, 2**62], dtype=np.int64)
    unit0 = ref.layout(units)[2][0].start
    expected = ref.dropout_factors(dropout, rows_, units)[0] > 0
    assert np.array_equal(kept(dropout, rows_, unit0, units[1]), expected)


def test_no_dropout_when_every_rate_is_zero():
    assert drop.epoch_dropout([0.0, 0.0], None, 7) is None


# --------------------------------------------------------------- the kernels
def dropout_block_case(rng, hidden_code, loss_code, dtype, rates=(0.3, 0.5)):
    units = units_for(loss_code)
    n = 23
    X = make_X(rng, n, units[0], dtype)
    Y = make_Y(rng, n, units[-1], loss_code, dtype)
    params = make_params(rng, units, dtype)
    dropout = drop.epoch_dropout(list(rates), seed=int(rng.integers(2**31 - 1)), epoch=4)
    return units, X, Y, params, dropout


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("hidden_name, hidden_code", HIDDEN, ids=[h for h, _ in HIDDEN])
@pytest.mark.parametrize("loss_code", [ref.LOG_LOSS, ref.SQUARED_ERROR])
def test_block_loss_grad_with_dropout_matches_the_twin(hidden_name, hidden_code, loss_code,
                                                       dtype):
    rng = np.random.default_rng(21)
    units, X, Y, params, dropout = dropout_block_case(rng, hidden_code, loss_code, dtype)
    order = rng.permutation(X.shape[0]).astype(np.int64)
    start, stop = 3, 19
    sw = make_sw(rng, X.shape[0])
    off, sc = scratch(units, 16, units[0], dtype, False)
    eps = float(np.finfo(dtype).eps)
    total, weight_sum = layers.block_loss_grad(
        input_args(X, dtype), targets_args(Y, sw), Block(order, start, stop, False),
        network_args(params, units, hidden_code, ref.OUTPUT_OF_LOSS[loss_code]),
        LossSpec(loss_code, eps, 0.0), off, sc, dropout)
    idx = order[start:stop]
    factors = ref.dropout_factors(dropout, idx, units)
    assert all(0 < np.mean(f > 0) < 1 for f in factors)  # units were dropped and kept
    exp_grad, exp_total, exp_ws = ref.block_loss_grad(
        X[idx], Y[idx], sw[idx], params, units, hidden_code, loss_code, eps, factors)
    assert_close(total, exp_total, dtype)
    assert_close(weight_sum, exp_ws, dtype)
    assert_close(sc.grad, exp_grad, dtype)


def block_objective(X, Y, params, units, hidden_code, loss_code, dropout):
    """(loss, gradient) of all rows of X in one block, with ``dropout``; the
    loss whose gradient the kernels compute (squared error: half the sum over
    outputs, see ``tests/test_gradients.py``)."""
    off, sc = scratch(units, X.shape[0], units[0], np.float64, False)
    total, weight_sum = layers.block_loss_grad(
        input_args(X, np.float64), targets_args(Y, None),
        Block(np.arange(X.shape[0]), 0, X.shape[0], True),
        network_args(params, units, hidden_code, ref.OUTPUT_OF_LOSS[loss_code]),
        LossSpec(loss_code, float(np.finfo(np.float64).eps), 0.0), off, sc, dropout)
    half = 0.5 if loss_code == ref.SQUARED_ERROR else 1.0
    return half * total / weight_sum, sc.grad / weight_sum


@pytest.mark.parametrize("hidden_name, hidden_code",
                         [(h, c) for h, c in HIDDEN if h in ("tanh", "logistic", "gelu",
                                                            "softplus", "silu")])
@pytest.mark.parametrize("loss_code", [ref.LOG_LOSS, ref.BINARY_LOG_LOSS, ref.SQUARED_ERROR])
def test_dropout_gradient_matches_finite_differences(hidden_name, hidden_code, loss_code):
    """With the mask fixed (the same seed, epoch and rows), the gradient is that
    of the dropped network's loss: central differences agree to 1e-6."""
    rng = np.random.default_rng(22)
    units, X, Y, params, dropout = dropout_block_case(rng, hidden_code, loss_code,
                                                      np.float64, rates=(0.4, 0.25))
    _, grad = block_objective(X, Y, params, units, hidden_code, loss_code, dropout)
    step = 1e-6
    numeric = np.empty_like(params)
    for k in range(params.size):
        up, down = params.copy(), params.copy()
        up[k] += step
        down[k] -= step
        numeric[k] = (block_objective(X, Y, up, units, hidden_code, loss_code, dropout)[0]
                      - block_objective(X, Y, down, units, hidden_code, loss_code,
                                        dropout)[0]) / (2 * step)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)
    plain = block_objective(X, Y, params, units, hidden_code, loss_code, None)[1]
    assert not np.allclose(grad, plain, rtol=1e-3)  # the mask mattered


def run_epochs(path, units, X, Y, sw, params, hidden_code, loss_code, dtype, solver,
               batch_size, rates, n_epochs=2, momentum=0.9):
    """Train with a kernel path; the dropout of each epoch from seed 5."""
    state = np.zeros((ref.STATE_ROWS[solver], params.size), dtype=dtype)
    hyper = (0.05, momentum, True, 0.9, 0.999, 1e-3)
    params = params.copy()
    _, sc = scratch(units, batch_size, units[0], dtype, False)
    order = np.random.default_rng(3).permutation(X.shape[0]).astype(np.int64)
    solver_bundle = solver_args(solver, hyper, state, None)
    net = network_args(params, units, hidden_code, ref.OUTPUT_OF_LOSS[loss_code])
    eps = float(np.finfo(dtype).eps)
    losses = []
    exp = (params.copy(), list(state.copy()), 0)
    for epoch in range(n_epochs):
        dropout = drop.epoch_dropout(rates, 5, epoch)
        args = (input_args(X, dtype), targets_args(Y, sw),
                Batches(order, False, batch_size), net,
                LossSpec(loss_code, eps, 0.01), solver_bundle, sc, dropout)
        run = rows.run_epoch_rows if path == "rows" else training.run_epoch
        losses.append(run(*args))
        expected, *exp = ref.run_epoch(X, Y, sw, order, batch_size, exp[0], units,
                                       hidden_code, loss_code, 0.01, eps, solver, hyper,
                                       exp[1], exp[2], dropout)
        assert_close(losses[-1], expected, dtype, err_msg=f"loss of epoch {epoch}")
    assert_close(net.params, exp[0], dtype, err_msg="parameters")
    return net.params


@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
@pytest.mark.parametrize("solver", list(ref.STOCHASTIC.values()), ids=list(ref.STOCHASTIC))
@pytest.mark.parametrize("batch_size", [1, 6], ids=["batch1", "batch6"])
@pytest.mark.parametrize("hidden_name, hidden_code",
                         [("relu", ref.RELU), ("tanh", ref.TANH), ("gelu", ref.GELU)])
@pytest.mark.parametrize("path", ["blocks", "rows"])
def test_epochs_with_dropout_match_the_twin_on_both_paths(path, hidden_name, hidden_code,
                                                          batch_size, solver, dtype):
    rng = np.random.default_rng(23)
    loss_code = ref.LOG_LOSS
    units, X, Y, params, _ = dropout_block_case(rng, hidden_code, loss_code, dtype)
    sw = make_sw(rng, X.shape[0])
    trained = run_epochs(path, units, X, Y, sw, params, hidden_code, loss_code, dtype, solver,
                         batch_size, [0.3, 0.5])
    assert not np.allclose(trained, params)


@pytest.mark.parametrize("weighted", [False, True])
def test_plain_per_sample_sgd_with_dropout_matches_the_twin(weighted):
    """The classic per-sample loop (sgd without momentum, batch size 1: the
    kernel compiled with its switches as constants when unweighted)."""
    rng = np.random.default_rng(24)
    units, X, Y, params, _ = dropout_block_case(rng, ref.TANH, ref.SQUARED_ERROR, np.float64)
    sw = make_sw(rng, X.shape[0]) if weighted else None
    run_epochs("rows", units, X, Y, sw, params, ref.TANH, ref.SQUARED_ERROR, np.float64,
               ref.SGD, 1, [0.5, 0.2], momentum=0.0)


def test_a_rate_of_zero_leaves_its_layer_alone():
    """Per-layer rates: the layer with rate 0 keeps every unit."""
    units = [4, 6, 5, 2]
    dropout = drop.epoch_dropout([0.0, 0.6], seed=3, epoch=0)
    factors = ref.dropout_factors(dropout, np.arange(200), units)
    assert np.all(factors[0] == 1.0)
    assert 0.3 < np.mean(factors[1] > 0) < 0.5
    np.testing.assert_allclose(factors[1][factors[1] > 0], 1 / 0.4)


# ------------------------------------------------------------- the estimators
def regression_data():
    X, y = make_regression(n_samples=80, n_features=6, noise=0.1, random_state=0)
    return X / 10, y / 100


@pytest.mark.parametrize("batch_size", [1, 16, 80])
@pytest.mark.parametrize("hidden", [(40, 30), (8,)])
def test_the_same_random_state_gives_bitwise_the_same_fit(batch_size, hidden):
    X, y = regression_data()
    params = dict(hidden_layer_sizes=hidden, dropout=0.3, batch_size=batch_size,
                  max_iter=4, learning_rate_init=0.01)
    a = MLPRegressor(random_state=1, **params).fit(X, y)
    b = MLPRegressor(random_state=1, **params).fit(X, y)
    c = MLPRegressor(random_state=2, **params).fit(X, y)
    plain = MLPRegressor(random_state=1, **{**params, "dropout": 0.0}).fit(X, y)
    for i in range(len(hidden) + 1):
        np.testing.assert_array_equal(a.coefs_[i], b.coefs_[i])
    assert a.loss_curve_ == b.loss_curve_
    assert not np.allclose(a.coefs_[0], c.coefs_[0])
    assert not np.allclose(a.coefs_[-1], plain.coefs_[-1])


@pytest.mark.parametrize("batch_size", [1, 10])
def test_sparse_input_drops_the_same_units_as_dense(batch_size):
    import scipy.sparse as sp

    X, y = regression_data()
    X[X < 0] = 0
    params = dict(hidden_layer_sizes=(12, 8), dropout=0.3, batch_size=batch_size,
                  max_iter=3, random_state=0)
    dense = MLPRegressor(**params).fit(X, y)
    sparse = MLPRegressor(**params).fit(sp.csr_matrix(X), y)
    for a, b in zip(dense.coefs_, sparse.coefs_, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


def test_prediction_never_drops():
    X, y = regression_data()
    model = MLPRegressor(hidden_layer_sizes=(30, 20), dropout=0.5, max_iter=5,
                         random_state=0).fit(X, y)
    expected = ref.predict(X, ref.pack(model.coefs_, model.intercepts_),
                           [6, 30, 20, 1], ref.RELU, ref.IDENTITY).ravel()
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(X), model.predict(X))


def test_partial_fit_and_model_files_go_on_with_the_same_masks():
    """fit of 4 epochs == 4 partial_fit calls == 2 calls, a model file, 2 calls."""
    X, y = regression_data()
    model = MLPRegressor(hidden_layer_sizes=(20, 10), dropout=[0.2, 0.4], shuffle=False,
                         max_iter=4, random_state=0)
    fitted = clone(model).fit(X, y)
    stepped = clone(model)
    for _ in range(4):
        stepped.partial_fit(X, y)
    halfway = clone(model)
    for _ in range(2):
        halfway.partial_fit(X, y)
    buffer = io.BytesIO()
    fastmlp.save(halfway, buffer)
    resumed = fastmlp.load(io.BytesIO(buffer.getvalue()))
    unpickled = pickle.loads(pickle.dumps(halfway))
    for m in (resumed, unpickled):
        for _ in range(2):
            m.partial_fit(X, y)
    for other in (stepped, resumed, unpickled):
        for i in range(3):
            np.testing.assert_array_equal(other.coefs_[i], fitted.coefs_[i])


def test_dropout_as_an_array_round_trips_through_a_model_file():
    X, y = regression_data()
    model = MLPRegressor(hidden_layer_sizes=(5, 4), dropout=np.array([0.1, 0.2]),
                         max_iter=2, random_state=0).fit(X, y)
    buffer = io.BytesIO()
    fastmlp.save(model, buffer)
    loaded = fastmlp.load(io.BytesIO(buffer.getvalue()))
    np.testing.assert_array_equal(loaded.dropout, [0.1, 0.2])
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(clone(model).get_params()["dropout"], model.dropout)


@pytest.mark.parametrize("dropout, error, match", [
    (1.0, InvalidParameterError, "'dropout' parameter"),
    (-0.1, InvalidParameterError, "'dropout' parameter"),
    ("half", InvalidParameterError, "'dropout' parameter"),
    ([0.2], ValueError, r"one such rate per hidden layer \(2\)"),
    ([0.2, 1.0], ValueError, r"in \[0, 1\)"),
    ([[0.2, 0.1]], ValueError, "one such rate per hidden layer"),
    ([0.2, np.nan], ValueError, r"in \[0, 1\)"),
])
def test_bad_rates_raise_and_leave_the_model_unfitted(dropout, error, match):
    X, y = regression_data()
    model = MLPRegressor(hidden_layer_sizes=(5, 4), dropout=dropout, max_iter=2)
    with pytest.raises(error, match=match):
        model.fit(X, y)
    assert not hasattr(model, "coefs_")


def test_lbfgs_with_dropout_raises():
    X, y = regression_data()
    with pytest.raises(ValueError, match="dropout needs a stochastic solver"):
        MLPRegressor(hidden_layer_sizes=(5,), solver="lbfgs", dropout=0.2).fit(X, y)
    # a rate of 0 is no dropout: accepted
    MLPRegressor(hidden_layer_sizes=(5,), solver="lbfgs", dropout=0.0, max_iter=5).fit(X, y)


def test_get_set_params_and_grid_search():
    from sklearn.model_selection import GridSearchCV

    X, y = make_classification(n_samples=90, n_features=5, random_state=0)
    search = GridSearchCV(MLPClassifier((16,), max_iter=20, random_state=0),
                          {"dropout": [0.0, 0.3]}, cv=3, n_jobs=2).fit(X, y)
    assert search.best_params_["dropout"] in (0.0, 0.3)
    assert clone(search.best_estimator_).set_params(dropout=0.1).dropout == 0.1


def test_onnx_export_of_a_dropout_model_is_the_plain_network():
    from optional import optional

    skl2onnx = optional("skl2onnx")
    ort = optional("onnxruntime")
    import fastmlp.onnx  # noqa: F401 (registers the converters)

    X, y = make_classification(n_samples=60, n_features=5, n_classes=3, n_informative=3,
                               random_state=0)
    X = X.astype(np.float32)
    model = MLPClassifier((12, 8), dropout=0.4, max_iter=10, random_state=0).fit(X, y)
    onx = skl2onnx.to_onnx(model, X[:1], options={"zipmap": False})
    assert not any(node.op_type == "Dropout" for node in onx.graph.node)
    session = ort.InferenceSession(onx.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    label, proba = session.run(None, {session.get_inputs()[0].name: X})
    np.testing.assert_allclose(proba, model.predict_proba(X), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(label, model.predict(X))


def test_dropout_trains_a_classifier_on_digits():
    """An end-to-end check that dropout fits learn (the over-fitting experiment
    with five seeds is ``benchmarks/dropout_digits.py``)."""
    X, y = load_digits(return_X_y=True)
    model = MLPClassifier((64,), dropout=0.3, max_iter=30, random_state=0).fit(X / 16, y)
    assert model.score(X / 16, y) > 0.9
