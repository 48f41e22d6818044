"""Data-parallel fits and predictions (``kernels.pieces``) and the thread budget
(``fastmlp.threads``): results bitwise independent of the number of threads,
the budget's shares, and the cases that must fall back to one thread."""

import multiprocessing
import os
import subprocess
import sys
import threading

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning

from fastmlp import MLPClassifier, MLPRegressor, config, threads
from fastmlp.backends import cpu
from fastmlp.kernels import pieces, prediction

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)

TWO_THREADS = numba.config.NUMBA_NUM_THREADS >= 2 and threads.parallel_layer() != ""


@pytest.fixture
def small_pieces(monkeypatch):
    """Cut the tests' small batches into several pieces and predict in small blocks."""
    monkeypatch.setattr(config, "PIECE_MACS", 500)
    monkeypatch.setattr(config, "PIECE_ROWS", 4)
    monkeypatch.setattr(config, "PIECE_MIN_SAMPLES", 1)
    monkeypatch.setattr(config, "CPU_CHUNK_ROWS", 32)
    monkeypatch.setattr(config, "STEP_CHUNK_PARAMS", 64)


def classification(n=150, features=8, dtype=np.float64, sparse=False):
    X, y = make_classification(n, features, n_informative=5, n_classes=3, random_state=0)
    X = X.astype(dtype)
    if sparse:
        X[np.abs(X) < 0.7] = 0
        X = sp.csr_matrix(X)
    return X, y


def fitted_state(model):
    arrays = [*model.coefs_, *model.intercepts_,
              np.asarray(getattr(model, "loss_curve_", [model.loss_]))]
    return [a.copy() for a in arrays]


def assert_bitwise(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()


CASES = {
    "adam": dict(solver="adam"),
    "sgd nesterov": dict(solver="sgd", momentum=0.9),
    "adamw": dict(solver="adamw", alpha=0.01),
    "sgd clipped": dict(solver="sgd", max_grad_norm=0.05),
    "adam dropout": dict(solver="adam", dropout=0.3),
    "lbfgs": dict(solver="lbfgs"),
}


# every case in float64; float32 for a stochastic solver and L-BFGS (each kernel
# signature costs its compilation, twice: one thread and parallel)
CASE_DTYPES = [(case, np.float64) for case in CASES] + [("adam", np.float32),
                                                         ("lbfgs", np.float32)]


@pytest.mark.skipif(not TWO_THREADS, reason="needs two Numba threads on a thread-safe layer")
@pytest.mark.parametrize("case, dtype", CASE_DTYPES)
def test_fit_is_bitwise_the_same_for_one_and_two_threads(small_pieces, case, dtype):
    X, y = classification(dtype=dtype)
    params = dict(CASES[case], hidden_layer_sizes=(12, 9), batch_size=40, max_iter=4,
                  random_state=0, learning_rate_init=0.01)
    one = MLPClassifier(n_jobs=1, **params).fit(X, y)
    two = MLPClassifier(n_jobs=2, **params).fit(X, y)
    driver = "loss_grad_pieces" if case == "lbfgs" else "run_epoch_pieces"
    assert pieces.SERIAL[driver].signatures and pieces.PARALLEL[driver].signatures
    assert_bitwise(fitted_state(one), fitted_state(two))
    assert one.predict_proba(X).tobytes() == two.predict_proba(X).tobytes()


@pytest.mark.skipif(not TWO_THREADS, reason="needs two Numba threads on a thread-safe layer")
@pytest.mark.parametrize("sparse", [False, True])
def test_weighted_and_sparse_fits_are_bitwise_the_same(small_pieces, sparse):
    X, y = make_regression(130, 7, n_targets=2, random_state=1)
    if sparse:
        X[np.abs(X) < 0.5] = 0
        X = sp.csr_matrix(X)
    weights = np.random.default_rng(0).uniform(0.5, 2.0, X.shape[0])
    params = dict(hidden_layer_sizes=(10,), batch_size=33, max_iter=3, random_state=0)
    one = MLPRegressor(n_jobs=1, **params).fit(X, y, sample_weight=weights)
    two = MLPRegressor(n_jobs=-1, **params).fit(X, y, sample_weight=weights)
    assert_bitwise(fitted_state(one), fitted_state(two))


def test_pieces_change_the_path_not_the_model(monkeypatch):
    """The data-parallel path computes what the serial one does, up to rounding:
    a fit cut into pieces stays within float64 rounding of the uncut fit."""
    X, y = classification()
    params = dict(hidden_layer_sizes=(12,), batch_size=50, max_iter=5, random_state=0,
                  n_jobs=1)
    whole = MLPClassifier(**params).fit(X, y)
    monkeypatch.setattr(config, "PIECE_MACS", 100)
    monkeypatch.setattr(config, "PIECE_ROWS", 1)
    monkeypatch.setattr(config, "PIECE_MIN_SAMPLES", 1)
    cut = MLPClassifier(**params).fit(X, y)
    for a, b in zip(whole.coefs_, cut.coefs_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(whole.loss_curve_, cut.loss_curve_, rtol=1e-12)


def test_a_mini_batch_is_cut_by_its_size_and_the_network_only():
    n = config.PIECE_MIN_SAMPLES
    assert config.pieces_of(1, 10**9, n) == 1
    assert config.pieces_of(2 * config.PIECE_ROWS - 1, 10**9, n) == 1  # pieces of enough rows
    assert config.pieces_of(100, 100, n) == 1  # too little work to share
    rows = 8 * config.PIECE_ROWS
    assert config.pieces_of(rows, -(-3 * config.PIECE_MACS // rows), n) == 2  # a power of 2
    assert config.pieces_of(rows, -(-4 * config.PIECE_MACS // rows), n) == 4
    assert config.pieces_of(10**6, 10**6, n) == config.MAX_PIECES
    assert config.pieces_of(10**6, 10**6, n - 1) == 1  # too few rows in all
    assert config.step_chunks(1) == 1
    assert config.step_chunks(config.STEP_CHUNK_PARAMS + 1) == 2


@pytest.mark.skipif(not TWO_THREADS, reason="needs two Numba threads on a thread-safe layer")
@pytest.mark.parametrize("sparse", [False, True])
def test_parallel_prediction_is_the_serial_kernel_bitwise(small_pieces, sparse):
    X, y = classification(n=300, sparse=sparse)
    model = MLPClassifier((16,), max_iter=3, random_state=0, n_jobs=1).fit(X, y)
    network = model._network
    serial = np.empty((X.shape[0], 3))
    prediction.predict(cpu.inputs_of(X, np.float64), network.bundle(), 32, serial)
    for n_jobs in (1, 2):
        assert cpu.predict(network, X, n_jobs=n_jobs).tobytes() == serial.tobytes()
        variant = pieces.PARALLEL if n_jobs > 1 else pieces.SERIAL
        assert variant["predict_pieces"].signatures
        model.set_params(n_jobs=n_jobs)
        assert model.predict_proba(X).tobytes() == model.predict_proba(X.copy()).tobytes()


FINGERPRINT = """
import hashlib, warnings, numpy as np
from sklearn.datasets import make_classification
from fastmlp import MLPClassifier, config
warnings.simplefilter("ignore")
config.PIECE_MACS = 500
config.PIECE_ROWS = 4
config.PIECE_MIN_SAMPLES = 1
X, y = make_classification(200, 8, n_informative=5, n_classes=3, random_state=0)
m = MLPClassifier((12, 9), batch_size=40, max_iter=3, random_state=0, n_jobs={n_jobs},
                  max_grad_norm=0.1).fit(X, y)
print(hashlib.sha256(b"".join(c.tobytes() for c in m.coefs_ + m.intercepts_)).hexdigest())
"""


def run_fingerprint(n_jobs, numba_threads):
    env = dict(os.environ, NUMBA_NUM_THREADS=str(numba_threads))
    out = subprocess.run([sys.executable, "-c", FINGERPRINT.format(n_jobs=n_jobs)],
                         capture_output=True, text=True, env=env, check=True)
    return out.stdout.strip()


@pytest.mark.skipif(threads.parallel_layer() == "", reason="no thread-safe threading layer")
def test_four_threads_give_the_one_thread_weights_even_oversubscribed():
    """1, 2 and 4 threads, in fresh processes (4 threads on a 2-core machine too)."""
    digests = {run_fingerprint(1, 1), run_fingerprint(2, 2), run_fingerprint(4, 4)}
    assert len(digests) == 1


# ------------------------------------------------------------------ the budget


@pytest.fixture
def four_cores(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    monkeypatch.setattr(threads, "parallel_layer", lambda: "omp")
    monkeypatch.setattr(threads, "thread_cap", lambda: 4)
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 4)
    monkeypatch.setattr(numba, "set_num_threads", lambda n: None)


def test_a_fit_alone_gets_every_core(four_cores):
    with threads.ThreadShare() as share:
        assert share.threads() == 4


def test_fits_in_parallel_threads_share_the_cores(four_cores):
    with threads.ThreadShare() as a, threads.ThreadShare() as b:
        assert a.threads() == b.threads() == 2
        with threads.ThreadShare() as c:
            assert c.threads() == 1  # 4 // 3
        assert a.threads() == 2  # re-read on every call
    with threads.ThreadShare() as d:
        assert d.threads() == 4


def test_n_jobs_asks_for_threads(four_cores):
    with threads.ThreadShare(1) as one, threads.ThreadShare(3) as three:
        assert one.threads() == 1
        assert three.threads() == 3  # asked for, whatever else runs
    with threads.ThreadShare(-1) as all_, threads.ThreadShare(-2) as but_one:
        assert all_.threads() == 4
        assert but_one.threads() == 3
    with threads.ThreadShare(16) as many, threads.ThreadShare(-9) as few:
        assert many.threads() == 4  # within Numba's thread count
        assert few.threads() == 1


def test_no_thread_safe_layer_means_one_thread(monkeypatch):
    monkeypatch.setattr(threads, "parallel_layer", lambda: "")
    with threads.ThreadShare(4) as share:
        assert share.threads() == 1


@pytest.mark.parametrize("n_jobs", [0, 1.5, "2", True])
def test_bad_n_jobs_is_a_value_error_naming_it(n_jobs):
    X, y = classification(n=30)
    with pytest.raises(ValueError, match="n_jobs"):
        MLPClassifier((4,), max_iter=1, n_jobs=n_jobs).fit(X, y)
    with pytest.raises(ValueError, match="n_jobs"):
        threads.ThreadShare(n_jobs)


def test_shares_are_released_when_a_fit_fails():
    X, y = classification(n=30)
    before = threads._running
    with pytest.raises(ValueError):
        MLPClassifier((4,), max_iter=1).fit(X, y, sample_weight=-np.ones(30))
    with pytest.raises(ValueError):
        MLPClassifier((4,), max_iter=1, solver="lbfgs").fit(X * np.nan, y)
    assert threads._running == before


@pytest.mark.skipif(not TWO_THREADS, reason="needs two Numba threads on a thread-safe layer")
def test_fits_in_threads_at_once_match_fits_one_by_one(small_pieces):
    """The layer is entered from several threads at once (the workqueue layer
    would abort): each fit is bitwise its sequential twin."""
    X, y = classification()
    params = [dict(hidden_layer_sizes=(12,), batch_size=40, max_iter=4, random_state=seed)
              for seed in range(4)]
    expected = [fitted_state(MLPClassifier(n_jobs=1, **p).fit(X, y)) for p in params]
    got = [None] * 4

    def fit(i):
        got[i] = fitted_state(MLPClassifier(n_jobs=2, **params[i]).fit(X, y))

    workers = [threading.Thread(target=fit, args=(i,)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    for a, b in zip(expected, got, strict=True):
        assert_bitwise(a, b)


def _child_fit(queue):
    config.PIECE_MACS = 500
    config.PIECE_ROWS = 4
    config.PIECE_MIN_SAMPLES = 1
    X, y = classification()
    model = MLPClassifier((12,), batch_size=40, max_iter=3, random_state=0, n_jobs=2)
    queue.put(fitted_state(model.fit(X, y))[0].tobytes())


@pytest.mark.skipif(not TWO_THREADS or sys.platform != "linux", reason="fork, two threads")
def test_a_forked_child_fits_on_one_thread(small_pieces):
    """GNU OpenMP aborts a forked child that enters it after its parent did: the
    child runs the serial kernels instead, with the same result."""
    X, y = classification()
    parent = MLPClassifier((12,), batch_size=40, max_iter=3, random_state=0, n_jobs=2)
    expected = fitted_state(parent.fit(X, y))[0].tobytes()  # the parent used the layer
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_fit, args=(queue,))
    child.start()
    result = queue.get(timeout=120)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert result == expected


def test_memory_estimate_counts_the_pieces(monkeypatch):
    from fastmlp.estimators import _memory

    units = [40, 100, 100, 10]
    n_params = 40 * 100 + 100 * 100 + 100 * 10 + 210
    n_pieces = config.pieces_of(100, n_params - 210, 4000)
    assert n_pieces > 1
    cut = _memory.fit_bytes(units, np.float64, "adam", 4000, 100)
    monkeypatch.setattr(config, "PIECE_MACS", 10**12)  # no batch is cut
    whole = _memory.fit_bytes(units, np.float64, "adam", 4000, 100)
    assert cut - whole == n_pieces * n_params * 8  # a gradient per piece


@pytest.mark.skipif(threads.parallel_layer() != "omp", reason="OpenMP layer only")
def test_openmp_limits_cap_the_default_budget(monkeypatch):
    from threadpoolctl import threadpool_limits

    monkeypatch.setattr(threads, "usable_cores", lambda: 64)
    with threadpool_limits(1, user_api="openmp"), threads.ThreadShare() as share:
        assert share.threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "1,1")
    with threads.ThreadShare() as share:
        assert share.threads() == 1
    with threads.ThreadShare(2) as asked:  # n_jobs asks past it
        assert asked.threads() == min(2, numba.config.NUMBA_NUM_THREADS)
