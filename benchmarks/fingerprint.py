#!/usr/bin/env python
"""Fingerprint fastmlp's results, to show that a refactor changed none of them bitwise.

Fits small networks over a grid -- solver (with adamw, dropout and gradient clipping
as solvers of their own) x hidden activation x input (dense, CSR) x batch size x
training path x task x dtype, plus a sample-weighted subset -- and writes
one line per case, sorted: the case id (every grid coordinate), a tab, and a SHA-256
prefix of everything the case produced: the parameters, loss curve (or final loss)
and predictions on 9 rows after ``fit``; for sgd / adam, the parameters after a
``partial_fit`` continuation and after a first ``partial_fit`` of a fresh estimator;
for adam, the parameters after a ``warm_start=True`` refit. A case that raises records
``error:TypeName:message`` instead. Only the public API is used, so the same script
fingerprints any version; ``fastmlp`` comes from wherever ``sys.path`` finds it first
(its file is printed on stderr), so run it from a directory without a checkout::

    cd /tmp && PYTHONPATH=/path/to/old python /path/to/fingerprint.py --out old.txt
    cd /tmp && python /path/to/fingerprint.py --out new.txt
    diff old.txt new.txt

Batch size 16 runs on the per-sample and on the mini-batch path, each forced through
``fastmlp.config.ROWS_PATH_MACS`` (batch size 1 always takes the per-sample path).
``--device cuda`` fingerprints a small subset with ``device='cuda'`` instead, without
forcing a path and with ``config.CUDA_TILE`` 4 (as fastmlp's CUDA tests: tiny shapes
still span several thread blocks); set ``NUMBA_ENABLE_CUDASIM=1`` before launching to
run it on Numba's CUDA simulator, which the script then makes deterministic (see
``fix_cuda_simulator``).
``--match TEXT`` keeps only the cases whose id contains every given TEXT.
"""

import argparse
import hashlib
import itertools
import os
import sys
import time
import warnings
import zlib
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

import fastmlp
from fastmlp import MLPClassifier, MLPRegressor, config

SOLVERS = {
    "sgd": {"solver": "sgd", "momentum": 0.9, "nesterovs_momentum": True},
    "sgd-plain": {"solver": "sgd", "momentum": 0.0},
    "sgd-classic-momentum": {"solver": "sgd", "momentum": 0.9, "nesterovs_momentum": False},
    "adam": {"solver": "adam"},
    "lbfgs": {"solver": "lbfgs"},
    "adamw": {"solver": "adamw", "alpha": 0.01},
    "adam-dropout": {"solver": "adam", "dropout": 0.3},
    "sgd-clipped": {"solver": "sgd", "momentum": 0.9, "max_grad_norm": 0.5},
}
ACTIVATIONS = ("identity", "logistic", "tanh", "relu", "elu", "leaky_relu", "gelu",
               "softplus", "silu")
TASKS = ("multiclass", "binary", "regressor")
DTYPES = ("float32", "float64")
PATH_CONFIG = {
    "per-sample": {"ROWS_PATH_MACS": sys.maxsize},
    "mini-batch": {"ROWS_PATH_MACS": 0},
    "pieces": {"ROWS_PATH_MACS": 0, "PIECE_MACS": 1, "PIECE_ROWS": 1, "PIECE_MIN_SAMPLES": 1,
               "CPU_CHUNK_ROWS": 4,
               "PREDICT_LOOP_ROWS": 0, "PREDICT_ROWS_MACS": 0},
}
"""``fastmlp.config`` settings that force each training path: for batch size 16 the
per-sample or the mini-batch path; "pieces" cuts every mini-batch (and L-BFGS's
rows) into the most pieces (``config.MAX_PIECES``) and predicts in blocks of 4
rows, so that the data-parallel kernels run on these tiny cases (a version
without them ignores the names it does not have)."""
PREDICT_ROWS = 9
N_JOBS = None
"""The estimators' ``n_jobs`` (``--n-jobs``); None leaves the parameter out, for
versions without it."""
CUDA_TILE = 4


class Case(NamedTuple):
    """One grid point; ``str(case)`` is its id."""

    device: str
    solver: str
    activation: str
    input: str
    batch: str
    path: str
    task: str
    dtype: str
    weighted: bool

    def __str__(self):
        return " ".join(f"{name}={value}" for name, value in self._asdict().items())


def batches_and_paths(solver, device):
    """(batch_size, path) pairs that apply to ``solver``: L-BFGS has neither."""
    if solver == "lbfgs":
        return [("auto", "none")] + ([("auto", "pieces")] if device == "cpu" else [])
    if device == "cuda":
        return [("1", "default"), ("16", "default")]
    return [("1", "per-sample"), ("16", "per-sample"), ("16", "mini-batch"),
            ("16", "pieces")]


def cpu_cases():
    """The CPU grid: every valid combination, poisson regression for relu / tanh, and
    a weighted subset (relu / tanh, dense, multiclass and regressor)."""
    for solver, activation, input_, task, dtype in itertools.product(
            SOLVERS, ACTIVATIONS, ("dense", "csr"), (*TASKS, "poisson"), DTYPES):
        if task == "poisson" and activation not in ("relu", "tanh"):
            continue
        for batch, path in batches_and_paths(solver, "cpu"):
            yield Case("cpu", solver, activation, input_, batch, path, task, dtype, False)
            if (activation in ("relu", "tanh") and input_ == "dense"
                    and task in ("multiclass", "regressor")):
                yield Case("cpu", solver, activation, input_, batch, path, task, dtype, True)


def cuda_cases():
    """The small ``device='cuda'`` subset."""
    for solver, activation, task, dtype in itertools.product(
            ("sgd", "sgd-plain", "adam", "lbfgs", "adamw", "adam-dropout", "sgd-clipped"),
            ("relu", "tanh", "gelu"),
            ("multiclass", "regressor"), DTYPES):
        for batch, path in batches_and_paths(solver, "cuda"):
            yield Case("cuda", solver, activation, "dense", batch, path, task, dtype, False)


def make_data(case, n_rows, n_features):
    """X, y and sample weights (or None) of ``case``, from a seed derived from its id."""
    rng = np.random.default_rng(zlib.crc32(str(case).encode()))
    X = rng.standard_normal((n_rows, n_features))
    if case.input == "csr":
        X[rng.random(X.shape) < 0.5] = 0.0
        X = sp.csr_matrix(X)
    X = X.astype(case.dtype)
    if case.task == "multiclass":
        y = rng.permutation(np.arange(n_rows) % 3)
    elif case.task == "binary":
        y = rng.permutation(np.arange(n_rows) % 2)
    elif case.task == "regressor":
        y = rng.standard_normal((n_rows, 2))
    else:
        y = rng.poisson(2.0, n_rows).astype(np.float64)
    weights = rng.uniform(0.5, 2.0, n_rows) if case.weighted else None
    return X, y, weights


def make_estimator(case, hidden_layer_sizes, max_iter):
    """The unfitted estimator of ``case``."""
    params = dict(SOLVERS[case.solver], hidden_layer_sizes=hidden_layer_sizes,
                  activation=case.activation, max_iter=max_iter, random_state=0,
                  learning_rate_init=0.01, device=case.device,
                  batch_size=case.batch if case.batch == "auto" else int(case.batch),
                  **({} if N_JOBS is None else {"n_jobs": N_JOBS}))
    if case.task in ("multiclass", "binary"):
        return MLPClassifier(**params)
    return MLPRegressor(loss="poisson" if case.task == "poisson" else "squared_error",
                        **params)


def update(digest, *arrays):
    """Feed each array's dtype, shape and bytes to ``digest``."""
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())


def update_params(digest, estimator):
    """Feed the fitted ``coefs_`` and ``intercepts_`` of ``estimator`` to ``digest``."""
    update(digest, *estimator.coefs_, *estimator.intercepts_)


@contextmanager
def forced_path(path):
    """Force the training path ``path`` (a ``PATH_CONFIG`` key; others leave it alone)."""
    settings = PATH_CONFIG.get(path, {})
    saved = {name: getattr(config, name, None) for name in settings}
    for name, value in settings.items():
        setattr(config, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(config, name, value)


def fingerprint(case):
    """The hex SHA-256 prefix of everything ``case`` produces."""
    cuda = case.device == "cuda"
    X, y, weights = make_data(case, 24 if cuda else 40, 4 if cuda else 6)
    hidden, max_iter = ((5,), 2) if cuda else ((7, 5), 3)
    is_classifier = case.task in ("multiclass", "binary")
    extra = {"classes": np.unique(y)} if is_classifier else {}
    digest = hashlib.sha256()
    with forced_path(case.path):
        estimator = make_estimator(case, hidden, max_iter).fit(X, y, sample_weight=weights)
        update_params(digest, estimator)
        update(digest, np.asarray(getattr(estimator, "loss_curve_", estimator.loss_),
                                  dtype=np.float64), estimator.n_iter_)
        update(digest, estimator.predict(X[:PREDICT_ROWS]))
        if is_classifier:
            update(digest, estimator.predict_proba(X[:PREDICT_ROWS]))
        if case.solver != "lbfgs":
            update_params(digest, estimator.partial_fit(X, y, sample_weight=weights, **extra))
            fresh = make_estimator(case, hidden, max_iter)
            update_params(digest, fresh.partial_fit(X, y, sample_weight=weights, **extra))
        if case.solver == "adam":
            estimator.set_params(warm_start=True)
            update_params(digest, estimator.fit(X, y, sample_weight=weights))
    return digest.hexdigest()[:16]


def fix_cuda_simulator():
    """Make Numba's CUDA simulator deterministic and quicker, as fastmlp's CUDA tests do.

    The simulator runs each CUDA thread as a Python thread. Its ``cuda.shared.array``
    is an unlocked look-up-then-store, so two threads of a block can get different
    arrays and a reduction then sums the wrong values; its swap of the ``cuda`` global
    around device-function calls iterates a globals dict that a warning may grow
    meanwhile. Both are replaced by safe equivalents (``dict.setdefault`` is atomic),
    and a short thread switch interval speeds up its busy-polling scheduler.
    """
    from numba import cuda
    from numba.core import types
    from numba.cuda.simulator import kernel, kernelapi
    from numba.np import numpy_support

    dynamic_array = kernelapi.FakeCUDAShared.array

    def shared_array(self, shape, dtype):
        if shape == 0:  # dynamic shared memory: one buffer, nothing to allocate
            return dynamic_array(self, shape, dtype)
        if isinstance(dtype, types.Type):
            dtype = numpy_support.as_dtype(dtype)
        caller = sys._getframe(1)  # keyed as the simulator keys it: file and line
        key = (caller.f_code.co_filename, caller.f_lineno)
        return self._allocations.setdefault(key, np.empty(shape, dtype))

    @contextmanager
    def swapped_cuda_module(fn, fake_cuda_module):
        names = [name for name, value in list(fn.__globals__.items()) if value is cuda]
        fn.__globals__.update(dict.fromkeys(names, fake_cuda_module))
        try:
            yield
        finally:
            fn.__globals__.update(dict.fromkeys(names, cuda))

    kernelapi.FakeCUDAShared.array = shared_array
    kernel.swapped_cuda_module = swapped_cuda_module
    sys.setswitchinterval(1e-4)


def outcome(case):
    """``fingerprint(case)``, or ``error:TypeName:message`` when it raises."""
    try:
        return fingerprint(case)
    except Exception as exc:
        return f"error:{type(exc).__name__}:{' '.join(str(exc).split())}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--out", help="output file (default: stdout)")
    parser.add_argument("--n-jobs", type=int, default=None,
                        help="the estimators' n_jobs (threads per fit; results must not "
                             "depend on it; more than the cores needs NUMBA_NUM_THREADS)")
    parser.add_argument("--match", nargs="+", default=[], metavar="TEXT",
                        help="only the cases whose id contains every TEXT")
    args = parser.parse_args(argv)
    print(f"fastmlp {fastmlp.__version__} from {fastmlp.__file__}", file=sys.stderr)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    global N_JOBS
    N_JOBS = args.n_jobs
    if args.device == "cuda":
        config.CUDA_TILE = CUDA_TILE
        if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
            fix_cuda_simulator()
    cases = [case for case in (cuda_cases() if args.device == "cuda" else cpu_cases())
             if all(text in str(case) for text in args.match)]
    start = time.perf_counter()
    lines = sorted(f"{case}\t{outcome(case)}" for case in cases)
    errors = sum("\terror:" in line for line in lines)
    print(f"{len(lines)} cases, {errors} errors, {time.perf_counter() - start:.0f} s",
          file=sys.stderr)
    text = "".join(line + "\n" for line in lines)
    if args.out:
        with open(args.out, "w") as file:
            file.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
