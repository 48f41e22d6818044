"""Workload definitions shared by the asv suite and ``compare.py``.

Everything here is plain functions: data generators, the estimator factory,
the PyTorch reference implementations, the subprocess helpers used by the
start-up (W5) and memory (W6) workloads, and one timing helper.  Heavy
libraries (scikit-learn, fastmlp, torch) are imported lazily so that a
subprocess that only needs one of them does not pay for the others.

Workloads
---------
W1  per-sample SGD regression, 1-32-1, batch_size=1 (samples/s)
W2  MNIST-sized mini-batch Adam, 784-128-10, batch 200, 20 epochs
W3  large mini-batch Adam, 60,000x784, 784-256-128-10, batch 256, 2 epochs
W4  prediction latency (one row) and throughput (100,000 rows)
W5  start-up: fresh interpreter, import + fit load_digits (warm / cold Numba cache)
W6  peak RSS while fitting W3, each library in a fresh subprocess
W7  mid-size tabular: 5,000 x 20-40 float64, hidden (100, 100) or (64,), batch
    100-200, adam, 50 epochs -- classifiers and a regressor
W9  model files of the W3 model: save + load time and size (fastmlp.save /
    pickle / skops), and onnxruntime's one-row latency next to fastmlp's
W11 training toolbox: dropout and solver='adamw' on the W2 network (against
    PyTorch's nn.Dropout / optim.AdamW), dropout at batch size 1 (W1) and on W7
W12 serving latency: predict_proba on 1, 8 and 32 rows of the W3 network and a
    20-64-32-3 tabular classifier, against onnxruntime (fastmlp's ONNX export),
    scikit-learn and PyTorch holding the same weights
W13 one everyday fit: 4,000 x 40 float64, 10 classes, (100, 100), batch 100, adam at
    learning rate 0.01, scikit-learn's stopping rule, 6 seeds fitted one by one
"""
import gzip
import importlib.util
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# --------------------------------------------------------------------------
# Estimator parameters (the same for every library)
# --------------------------------------------------------------------------
W1_PARAMS = dict(hidden_layer_sizes=(32,), solver="sgd", batch_size=1,
                 learning_rate_init=0.01, momentum=0.0, max_iter=1,
                 shuffle=True, random_state=0)
W2_PARAMS = dict(hidden_layer_sizes=(128,), solver="adam", batch_size=200,
                 max_iter=20, random_state=0)
W3_PARAMS = dict(hidden_layer_sizes=(256, 128), solver="adam", batch_size=256,
                 max_iter=2, random_state=0)
W4_PARAMS = dict(hidden_layer_sizes=(64,), max_iter=50, random_state=0)
W5_PARAMS = dict(max_iter=20, random_state=0)
W7_EPOCHS = 50
W7_VARIANTS = {  # name -> (kind, n_features, estimator parameters)
    "clf (100, 100) batch 100": ("classifier", 40, dict(hidden_layer_sizes=(100, 100),
                                                        batch_size=100)),
    "clf (64,) batch 200": ("classifier", 20, dict(hidden_layer_sizes=(64,), batch_size=200)),
    "reg (100, 100) batch 100": ("regressor", 40, dict(hidden_layer_sizes=(100, 100),
                                                       batch_size=100)),
}
"""W7: the data sets most scikit-learn users fit (a few thousand rows, tens of
features, float64 as ``make_*`` and pandas give them). Every fit runs exactly
``max_iter`` epochs (``n_iter_no_change=max_iter``)."""
W13_PARAMS = dict(hidden_layer_sizes=(100, 100), solver="adam", batch_size=100,
                  learning_rate_init=0.01)
W13_SEEDS = 6
"""W13: a single mid-size fit as a published benchmark measures it: 4,000 x 40 float64
rows, 10 classes, (100, 100), batch 100, adam at learning rate 0.01, scikit-learn's
other defaults (up to 200 epochs, stopping after 10 without improvement), one fit per
seed with the libraries alternating fit by fit. The regime where a fit alone in its
process has every core of the machine and fastmlp's mid-size products use one."""
W11_DROPOUT = 0.2
W11_ADAMW_ALPHA = 0.01
"""W11: the dropout rate of the dropout fits, and adamw's decoupled weight decay."""
ALPHA = 1e-4  # scikit-learn's default L2 penalty, used by the torch equivalents
DTYPES = ["float32", "float64"]


_MEMO = {}


def memo(key, build):
    """``build()`` once per process and keep the result.  asv (asv_runner >=
    0.3) re-runs a benchmark's ``setup`` before every timed sample; memoising
    the expensive part (data, fitted models, warm-up) keeps that cheap and
    keeps the timed state warm."""
    if key not in _MEMO:
        _MEMO[key] = build()
    return _MEMO[key]


def ensure_fastmlp_importable():
    """Fall back to the repository checkout when fastmlp is not installed.

    Appended (not prepended) so an installed fastmlp always wins.
    """
    if importlib.util.find_spec("fastmlp") is None and REPO_ROOT not in sys.path:
        sys.path.append(REPO_ROOT)


def torch_available():
    return importlib.util.find_spec("torch") is not None


def cuda_available():
    """``numba.cuda.is_available()`` on a real GPU: False on any error and under
    the CUDA simulator (NUMBA_ENABLE_CUDASIM=1), which is useless for timing."""
    try:
        from numba import config, cuda
        return bool(cuda.is_available()) and not config.ENABLE_CUDASIM
    except Exception:
        return False


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------
def dtype_scalar(dtype, value):
    return np.dtype(dtype).type(value)


def sin_data(n, dtype="float32", seed=0):
    """W1: X ~ U(0, 1) of shape (n, 1), y = 3 sin(20 x)."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, 1), dtype=np.float64).astype(dtype)
    y = (3.0 * np.sin(20.0 * X[:, 0].astype(np.float64))).astype(dtype)
    return X, y


def prototype_classification(n, n_features=784, n_classes=10, noise=0.45,
                             contrast=0.2, dtype="float32", seed=0,
                             chunk=8192):
    """Synthetic MNIST stand-in: ``clip(0.5 + contrast*(P[c]-0.5) + noise*N(0,1), 0, 1)``.

    The class prototypes ``P`` depend only on (n_features, n_classes), so
    train and validation sets drawn with different ``seed`` share them.  Rows
    are generated in chunks, directly in ``dtype``, to keep peak memory close
    to the size of the returned array (this matters for W6).
    """
    protos = np.random.default_rng(12345).random((n_classes, n_features))
    protos = (0.5 + contrast * (protos - 0.5)).astype(dtype)
    rng = np.random.default_rng(seed + 1)
    y = rng.integers(0, n_classes, n)
    X = np.empty((n, n_features), dtype=dtype)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        block = X[start:stop]
        block[...] = rng.standard_normal((stop - start, n_features), dtype=dtype)
        block *= dtype_scalar(dtype, noise)
        block += protos[y[start:stop]]
        np.clip(block, 0, 1, out=block)
    return X, y


def _read_idx(path, header):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read()[header:], dtype=np.uint8)


def load_mnist(folder, dtype="float32"):
    """MNIST t10k split (IDX gz) -> (X / 255 of shape (10000, 784), y)."""
    X = _read_idx(os.path.join(folder, "t10k-images-idx3-ubyte.gz"), 16)
    y = _read_idx(os.path.join(folder, "t10k-labels-idx1-ubyte.gz"), 8)
    X = X.reshape(-1, 784).astype(dtype) / dtype_scalar(dtype, 255)
    return X, y.astype(np.int64)


def mnist_dir_from_env():
    """asv: ``FASTMLP_MNIST_DIR`` if set and holding the files, else None."""
    folder = os.environ.get("FASTMLP_MNIST_DIR")
    if folder and os.path.exists(os.path.join(folder, "t10k-images-idx3-ubyte.gz")):
        return folder
    return None


def w2_data(dtype="float32", mnist_dir=None, n_train=8000, n_val=2000):
    """(X_train, y_train, X_val, y_val, source).  MNIST if ``mnist_dir``."""
    if mnist_dir:
        X, y = load_mnist(mnist_dir, dtype)
        n_train = min(n_train, len(X) - n_val)
        return (X[:n_train], y[:n_train], X[-n_val:], y[-n_val:],
                f"MNIST t10k ({n_train} train / {n_val} val)")
    Xtr, ytr = prototype_classification(n_train, dtype=dtype, seed=0)
    Xva, yva = prototype_classification(n_val, dtype=dtype, seed=1)
    return Xtr, ytr, Xva, yva, f"synthetic ({n_train} train / {n_val} val)"


def w3_data(n_rows=60000, n_val=5000, dtype="float32"):
    Xtr, ytr = prototype_classification(n_rows, dtype=dtype, seed=2)
    Xva, yva = prototype_classification(n_val, dtype=dtype, seed=3)
    return Xtr, ytr, Xva, yva


def w4_data(dtype="float32", n_fit=2000, n_predict=100000):
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=n_fit, n_features=20, n_informative=8,
                               n_classes=3, random_state=0)
    X_big = np.random.default_rng(0).standard_normal((n_predict, 20)).astype(dtype)
    return X.astype(dtype), y, X_big


def w7_params(variant, epochs=W7_EPOCHS):
    """(kind, estimator parameters) of a W7 variant, adam for ``epochs`` epochs."""
    kind, _, params = W7_VARIANTS[variant]
    return kind, dict(params, solver="adam", max_iter=epochs, n_iter_no_change=epochs,
                      random_state=0)


def w7_data(variant, n_train=5000, n_val=1000, dtype="float64"):
    """Train and validation split of a W7 variant's data: ``make_classification``
    (10 classes, half the features informative) or ``make_regression`` (targets
    scaled to unit variance)."""
    from sklearn.datasets import make_classification, make_regression
    kind, n_features, _ = W7_VARIANTS[variant]
    n = n_train + n_val
    if kind == "classifier":
        X, y = make_classification(n_samples=n, n_features=n_features,
                                   n_informative=n_features // 2, n_classes=10,
                                   random_state=0)
    else:
        X, y = make_regression(n_samples=n, n_features=n_features,
                               n_informative=n_features // 2, noise=10.0, random_state=0)
        y = y / y.std()
    X = X.astype(dtype)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def w13_data(n_train=4000, n_test=1000, dtype="float64"):
    """W13's train and test split: ``make_classification``, 40 features (20
    informative), 10 classes."""
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=n_train + n_test, n_features=40, n_informative=20,
                               n_classes=10, random_state=0)
    X = X.astype(dtype)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def mlp_flops(n_rows, n_in, hidden, n_out, epochs=1):
    """2 * rows * sum(fan_in * fan_out) per forward pass, x3 for forward+backward."""
    sizes = [n_in, *hidden, n_out]
    macs = sum(a * b for a, b in itertools.pairwise(sizes))
    return 2.0 * n_rows * macs * 3 * epochs


def gemm_operands(dtype="float32", n=2048):
    """Two n x n matrices and the flop count of their product."""
    rng = np.random.default_rng(0)
    return rng.random((n, n)).astype(dtype), rng.random((n, n)).astype(dtype), 2.0 * n ** 3


def gemm_gflops(dtype="float32", n=2048, repeat=5):
    """This machine's GEMM rate: best of ``repeat`` ``np.dot`` of n x n matrices."""
    A, B, flops = gemm_operands(dtype, n)
    np.dot(A, B)
    return flops / measure(lambda: np.dot(A, B), repeat)[0] / 1e9


# --------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------
def measure(fn, repeat=3, number=1):
    """Best (minimum) wall time per call of ``fn`` over ``repeat`` measurements
    of ``number`` calls each -- the minimum is the right statistic on a noisy,
    shared machine.  Returns ``(seconds_per_call, last_return_value)``."""
    best, result = float("inf"), None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        for _ in range(number):
            result = fn()
        best = min(best, time.perf_counter() - t0)
    return best / number, result


def race(plans, repeat):
    """Interleaved (round-robin) timing of several candidates, so that a slow
    phase of a shared machine hits all of them alike.

    ``plans`` maps name -> (fn, repeat, number) or name -> fn (uses ``repeat``,
    number=1).  Round r calls every candidate that wants more than r repeats.
    Returns name -> (best seconds per call, last return value), or
    name -> exception if the candidate raised (it is then dropped).
    """
    plans = {k: (v if isinstance(v, tuple) else (v, repeat, 1)) for k, v in plans.items()}
    out = {}
    for r in range(max(p[1] for p in plans.values())):
        for name, (fn, n_rep, number) in plans.items():
            if r >= n_rep or isinstance(out.get(name), BaseException):
                continue
            try:
                t, res = measure(fn, 1, number)
            except Exception as exc:
                out[name] = exc
                continue
            prev = out.get(name)
            out[name] = (min(t, prev[0]) if prev else t, res)
    return out


def autorange_number(fn, target=0.2):
    """Calls per measurement so one measurement takes >= ``target`` seconds."""
    number = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        if time.perf_counter() - t0 >= target or number >= 10 ** 6:
            return number
        number *= 10


# --------------------------------------------------------------------------
# Estimators
# --------------------------------------------------------------------------
def estimator_class(library, kind):
    """``kind`` is 'classifier' or 'regressor'; library 'fastmlp' or 'sklearn'."""
    name = "MLPClassifier" if kind == "classifier" else "MLPRegressor"
    if library == "fastmlp":
        ensure_fastmlp_importable()
        import fastmlp
        return getattr(fastmlp, name)
    if library == "sklearn":
        from sklearn import neural_network
        return getattr(neural_network, name)
    raise ValueError(f"no estimator class for library {library!r}")


def has_n_jobs():
    """Whether the fastmlp under test has the ``n_jobs`` parameter (threads per fit)."""
    return "n_jobs" in estimator_class("fastmlp", "classifier")().get_params()


def make_estimator(library, kind, params, device=None):
    """Build an estimator; ``device`` is passed to fastmlp only, and only when
    not None (so 'cpu' runs work with any fastmlp version)."""
    params = dict(params)
    if library == "fastmlp" and device is not None:
        params["device"] = device
    return estimator_class(library, kind)(**params)


def quiet_fit(est, X, y):
    """``est.fit(X, y)`` with ConvergenceWarning (expected: max_iter is small) silenced."""
    from sklearn.exceptions import ConvergenceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def warm_up(library, kind, params, X, y, device=None, n_rows=512):
    """Fit once on a few rows (max_iter=1) and predict, so that one-off costs
    -- Numba compilation or cache loading for fastmlp, lazy imports for
    scikit-learn, kernel/thread-pool initialisation for PyTorch -- stay out of
    the timings that follow (steady state)."""
    n = min(len(X), n_rows)
    if library == "torch":
        if kind == "regressor":  # W1's batch-1 loop
            model = torch_fit_sgd_per_sample(X[:64], y[:64])
        else:
            model = torch_fit_minibatch(X[:n], y[:n], params["hidden_layer_sizes"],
                                        params["batch_size"], 1,
                                        dropout=params.get("dropout", 0.0),
                                        optimizer=torch_optimizer(params))
        torch_predict(model, X[:n])
        return
    p = dict(params, max_iter=1)
    est = quiet_fit(make_estimator(library, kind, p, device), X[:n], y[:n])
    est.predict(X[:n])
    est.predict(X[:1])
    if kind == "classifier":
        est.predict_proba(X[:1])


# --------------------------------------------------------------------------
# PyTorch equivalents (imported lazily; only used when torch is importable)
# --------------------------------------------------------------------------
def _torch_dtype(dtype):
    import torch
    return torch.float32 if np.dtype(dtype) == np.float32 else torch.float64


TORCH_ACTIVATIONS = {"relu": "ReLU", "elu": "ELU", "leaky_relu": "LeakyReLU", "gelu": "GELU",
                     "softplus": "Softplus", "silu": "SiLU"}
"""fastmlp activation name -> torch.nn module (default constants are the same)."""


def torch_optimizer(params):
    """The ``optimizer`` of ``torch_fit_minibatch`` matching a fastmlp solver."""
    return "adamw" if params.get("solver") == "adamw" else "adam"


def torch_mlp(sizes, dtype, seed=0, activation="relu", dropout=0.0):
    """Linear-f-...-Linear (f ReLU unless ``activation``) with scikit-learn's
    Glorot-uniform init (bound sqrt(6/(fan_in+fan_out)) for weights and biases).
    ``dropout`` > 0: an ``nn.Dropout(dropout)`` after each hidden activation
    (fastmlp's ``dropout``; active in ``model.train()`` mode only)."""
    import torch
    from torch import nn
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        lin = nn.Linear(a, b)
        bound = (6.0 / (a + b)) ** 0.5
        with torch.no_grad():
            lin.weight.uniform_(-bound, bound)
            lin.bias.uniform_(-bound, bound)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(getattr(nn, TORCH_ACTIVATIONS[activation])())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers).to(_torch_dtype(dtype))


def _l2_param_groups(model, weight_decay):
    """scikit-learn penalises weights only: alpha * W / batch_size."""
    weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
    return [{"params": weights, "weight_decay": weight_decay},
            {"params": biases, "weight_decay": 0.0}]


def torch_fit_sgd_per_sample(X, y, hidden=32, lr=0.01, alpha=ALPHA, seed=0,
                             activation="relu"):
    """W1 in PyTorch: a batch-1 Python loop, SGD lr 0.01, loss 0.5*MSE
    (so the gradient is pred - y, as in scikit-learn), L2 alpha on weights."""
    import torch
    model = torch_mlp([X.shape[1], hidden, 1], X.dtype, seed, activation)
    opt = torch.optim.SGD(_l2_param_groups(model, alpha), lr=lr)
    Xt = torch.from_numpy(np.ascontiguousarray(X))
    yt = torch.from_numpy(np.ascontiguousarray(y)).reshape(-1, 1)
    order = torch.randperm(len(Xt), generator=torch.Generator().manual_seed(seed))
    for i in order.tolist():
        opt.zero_grad()
        loss = 0.5 * torch.nn.functional.mse_loss(model(Xt[i:i + 1]), yt[i:i + 1])
        loss.backward()
        opt.step()
    return model


def torch_fit_minibatch(X, y, hidden, batch_size, epochs, lr=1e-3, alpha=ALPHA,
                        seed=0, activation="relu", dropout=0.0, optimizer="adam"):
    """W2/W3 in PyTorch: Linear-ReLU-...-Linear, CrossEntropy, Adam(lr=1e-3),
    shuffled mini-batches, L2 as weight_decay = alpha / batch_size on weights
    (= scikit-learn's alpha * W / batch_size term).

    ``dropout``: ``nn.Dropout(dropout)`` after each hidden activation (W11); the
    model trains in ``train()`` mode and is returned in ``eval()`` mode.
    ``optimizer='adamw'``: ``torch.optim.AdamW`` with weight_decay = alpha on the
    weights only (fastmlp's solver='adamw': decoupled decay, no L2 term)."""
    import torch
    n_classes = int(y.max()) + 1
    model = torch_mlp([X.shape[1], *hidden, n_classes], X.dtype, seed, activation, dropout)
    if optimizer == "adamw":
        opt = torch.optim.AdamW(_l2_param_groups(model, alpha), lr=lr)
    elif optimizer == "adam":
        opt = torch.optim.Adam(_l2_param_groups(model, alpha / batch_size), lr=lr)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'adamw', got {optimizer!r}")
    Xt = torch.from_numpy(np.ascontiguousarray(X))
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
    gen = torch.Generator().manual_seed(seed)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(Xt), generator=gen)
        for start in range(0, len(Xt), batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad()
            loss = loss_fn(model(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    return model.eval()


def torch_predict(model, X, proba=False):
    """Forward pass from a numpy array (conversion included, as a user would)."""
    import torch
    with torch.inference_mode():
        out = model(torch.from_numpy(np.ascontiguousarray(X)))
        if proba:
            return torch.softmax(out, dim=1).numpy()
        return out.numpy()


def torch_from_estimator(est):
    """A torch model holding a fitted scikit-learn-style MLP's weights (W4)."""
    import torch
    sizes = [est.coefs_[0].shape[0]] + [c.shape[1] for c in est.coefs_]
    model = torch_mlp(sizes, est.coefs_[0].dtype)
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for lin, W, b in zip(linears, est.coefs_, est.intercepts_, strict=True):
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            lin.bias.copy_(torch.from_numpy(b))
    return model.eval()


def accuracy(y_true, y_pred):
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def r2(y_true, y_pred):
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    return 1.0 - np.sum((y_true - y_pred) ** 2) / np.sum((y_true - y_true.mean()) ** 2)


# --------------------------------------------------------------------------
# W9: model files and ONNX serving of the W3 model
# --------------------------------------------------------------------------
FILE_FORMATS = ("fastmlp", "pickle", "skops")


def w9_model(dtype="float32", n_rows=6000):
    """The W3 network (784-256-128-10, adam, 2 epochs), fitted on ``n_rows`` rows:
    the model's size, and so its file's, does not depend on the rows."""
    X, y = prototype_classification(n_rows, dtype=dtype, seed=2)
    model = quiet_fit(make_estimator("fastmlp", "classifier", W3_PARAMS), X, y)
    return model, X[:1].copy()


def skops_available():
    return importlib.util.find_spec("skops") is not None


def onnx_available():
    return all(importlib.util.find_spec(m) is not None
               for m in ("skl2onnx", "onnx", "onnxruntime"))


def file_format(name, model):
    """``(save(path), load(path))`` of a model file format; ``save`` writes
    ``model``, ``load`` returns the model read back."""
    import pickle

    if name == "fastmlp":
        import fastmlp.io
        return (lambda path: fastmlp.io.save(model, path)), fastmlp.io.load
    if name == "pickle":
        def save(path):
            with open(path, "wb") as f:
                pickle.dump(model, f, protocol=pickle.HIGHEST_PROTOCOL)

        def load(path):
            with open(path, "rb") as f:
                return pickle.load(f)
        return save, load
    if name == "skops":
        import skops.io

        import fastmlp.io
        trusted = fastmlp.io.skops_trusted_types(model)
        return (lambda path: skops.io.dump(model, path),
                lambda path: skops.io.load(path, trusted=trusted))
    raise ValueError(f"no model file format {name!r}")


def onnx_predict_proba(model, inter_op_num_threads=None):
    """A function running ``model`` in onnxruntime (one thread, like fastmlp's
    small products): X -> class probabilities.  ``inter_op_num_threads``: the
    session's inter-op pool size (onnxruntime's default when None)."""
    import onnxruntime

    import fastmlp.onnx
    onx = fastmlp.onnx.to_onnx(model, options={"zipmap": False})
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    if inter_op_num_threads is not None:
        options.inter_op_num_threads = inter_op_num_threads
    session = onnxruntime.InferenceSession(onx.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda X: session.run(["probabilities"], {name: X})[0]


# --------------------------------------------------------------------------
# W12: serving latency of predict_proba
# --------------------------------------------------------------------------
W12_MODELS = {  # name -> (n_features, n_classes, estimator parameters)
    "W3": (784, 10, W3_PARAMS),
    "tabular": (20, 3, dict(hidden_layer_sizes=(64, 32), solver="adam", batch_size=200,
                            max_iter=5, random_state=0)),
}
"""W12: the W3 network (784-256-128-10, 2 epochs) and a small tabular classifier
(20-64-32-3, 5 epochs); how well they fit does not matter, only their shapes."""
W12_ROWS = (1, 8, 32)


def w12_architecture(name):
    """'784-256-128-10' for the W3 model."""
    n_features, n_classes, params = W12_MODELS[name]
    return "-".join(str(n) for n in (n_features, *params["hidden_layer_sizes"], n_classes))


def w12_data(name, n_rows, dtype="float32"):
    """Synthetic training data of a W12 model's shape: the W3 stand-in
    (``prototype_classification``) or ``make_classification`` (20 features, 8
    informative, 3 classes, as W4's)."""
    n_features, n_classes, _ = W12_MODELS[name]
    if name == "W3":
        return prototype_classification(n_rows, n_features, n_classes, dtype=dtype, seed=2)
    from sklearn.datasets import make_classification
    X, y = make_classification(n_samples=n_rows, n_features=n_features, n_informative=8,
                               n_classes=n_classes, random_state=0)
    return X.astype(dtype), y


def w12_model(name, dtype="float32", n_rows=2000):
    """A W12 model fitted by fastmlp on ``n_rows`` rows of ``dtype`` (its
    network's dtype): ``(model, X, y)``."""
    X, y = w12_data(name, n_rows, dtype)
    model = quiet_fit(make_estimator("fastmlp", "classifier", W12_MODELS[name][2]), X, y)
    return model, X, y


def sklearn_from_estimator(est, X, y):
    """A scikit-learn MLPClassifier of ``est``'s architecture holding copies of its
    fitted weights: fitted one epoch on ``(X, y)`` (the classes, the output
    activation and the weights' dtype), then ``coefs_`` / ``intercepts_`` replaced."""
    params = dict(hidden_layer_sizes=est.hidden_layer_sizes, activation=est.activation,
                  max_iter=1, random_state=0)
    sk = quiet_fit(make_estimator("sklearn", "classifier", params), X, y)
    if not np.array_equal(sk.classes_, est.classes_):
        raise ValueError(f"classes differ: {sk.classes_} != {est.classes_}")
    for mine, theirs in zip(sk.coefs_ + sk.intercepts_, est.coefs_ + est.intercepts_,
                            strict=True):
        if mine.shape != theirs.shape:
            raise ValueError(f"layer shapes differ: {mine.shape} != {theirs.shape}")
    sk.coefs_ = [np.array(W, dtype=W.dtype, copy=True) for W in est.coefs_]
    sk.intercepts_ = [np.array(b, dtype=b.dtype, copy=True) for b in est.intercepts_]
    return sk


# --------------------------------------------------------------------------
# Subprocess workloads (W5 start-up, W6 memory)
# --------------------------------------------------------------------------
def startup_script(library, dtype="float32", report=True):
    """W5: the whole user script, run by a fresh interpreter.  With ``report``
    it prints the training accuracy (asv's timeraw needs a silent script)."""
    module = "fastmlp" if library == "fastmlp" else "sklearn.neural_network"
    return (
        "import warnings\n"
        "warnings.filterwarnings('ignore')\n"
        f"from {module} import MLPClassifier\n"
        "from sklearn.datasets import load_digits\n"
        "X, y = load_digits(return_X_y=True)\n"
        f"X = (X / 16.0).astype('{dtype}')\n"
        f"clf = MLPClassifier(**{W5_PARAMS!r}).fit(X, y)\n"
        + ("print(clf.score(X, y))\n" if report else "")
    )


def memory_script(library, dtype="float32", n_rows=60000, warmup_only=False):
    """W6: generate W3 data, fit, print JSON with ru_maxrss in MB."""
    return (
        "import json, resource, time\n"
        "from benchmarks import _workloads as w\n"
        "print(json.dumps(w.w3_fit_for_memory("
        f"{library!r}, {dtype!r}, {n_rows!r}, {warmup_only!r})))\n"
    )


def _rss_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def w3_fit_for_memory(library, dtype, n_rows, warmup_only=False):
    """Body of the W6 subprocess.  Returns a dict (peak RSS in MB after fit)."""
    if warmup_only:  # populate the Numba cache for this configuration
        n_rows = 512
    X, y = prototype_classification(n_rows, dtype=dtype, seed=2)
    if library == "torch":
        importlib.import_module("torch")  # its import belongs to the baseline
    else:
        estimator_class(library, "classifier")
    before = _rss_mb()
    t0 = time.perf_counter()
    params = dict(W3_PARAMS, max_iter=1) if warmup_only else W3_PARAMS
    if library == "torch":
        torch_fit_minibatch(X, y, params["hidden_layer_sizes"], params["batch_size"],
                            params["max_iter"])
    else:
        quiet_fit(make_estimator(library, "classifier", params), X, y)
    fit_s = time.perf_counter() - t0
    return {"peak_rss_mb": _rss_mb(), "rss_before_fit_mb": before, "fit_s": fit_s,
            "data_mb": X.nbytes / 2 ** 20}


def _path_prelude():
    """First line of every child script: make the repository checkout
    importable (``benchmarks``, and fastmlp when it is not installed).
    Appended, so an installed fastmlp still wins."""
    return f"import sys; sys.path.append({REPO_ROOT!r})\n"


# Linux carries a process's peak RSS across exec(): a child started directly
# from a big process (compare.py, asv) would report the *parent's* size as its
# ru_maxrss.  Measuring children are therefore started from this tiny launcher.
_LAUNCHER = ("import subprocess, sys; "
             "sys.exit(subprocess.call([sys.executable, '-c', sys.argv[1]]))")


def run_python(code, numba_cache_dir=None, timeout=600, clean_rss=False):
    """Run ``code`` in a fresh ``sys.executable``; returns (wall seconds, stdout).
    ``clean_rss``: go through a small launcher so the child's ru_maxrss is its own.
    Raises RuntimeError with the child's stderr if it fails."""
    t0 = time.perf_counter()
    env = dict(os.environ)
    if numba_cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = numba_cache_dir
    code = _path_prelude() + code
    argv = [sys.executable, "-c", _LAUNCHER, code] if clean_rss else [sys.executable, "-c", code]
    proc = subprocess.run(argv,
                          capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=tempfile.gettempdir())
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"subprocess failed (rc={proc.returncode}):\n{proc.stderr[-4000:]}")
    return wall, proc.stdout


def run_json(code, numba_cache_dir=None, timeout=600, clean_rss=False):
    _, out = run_python(code, numba_cache_dir, timeout, clean_rss)
    return json.loads(out.strip().splitlines()[-1])


# --------------------------------------------------------------------------
# W8: a grid search in threads
# --------------------------------------------------------------------------
W8_GRID = {"alpha": [1e-5, 1e-4, 1e-3, 1e-2]}


def w8_search(dtype="float64", max_iter=100, n_jobs=None):
    """(seconds, mean test scores) of ``GridSearchCV`` over ``W8_GRID`` with cv=3
    of ``MLPClassifier((64,), max_iter)`` on load_digits; ``n_jobs`` workers of
    joblib's threading backend, or one after the other when None."""
    import joblib
    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV

    X, y = memo(("W8 data", dtype), lambda: load_digits(return_X_y=True))
    X = X.astype(dtype)
    model = make_estimator("fastmlp", "classifier",
                           dict(hidden_layer_sizes=(64,), max_iter=max_iter, random_state=0))
    search = GridSearchCV(model, W8_GRID, cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        if n_jobs is None:
            search.fit(X, y)
        else:
            with joblib.parallel_backend("threading", n_jobs=n_jobs):
                search.fit(X, y)
        seconds = time.perf_counter() - t0
    return seconds, search.cv_results_["mean_test_score"]


def _spin_kernel():
    from numba import njit

    @njit(nogil=True, cache=False)
    def spin(n):
        s = 0.0
        for i in range(n):
            s += (i % 7) * 0.5
        return s
    return spin


def thread_scaling(seconds=0.3):
    """This machine's speed-up of two threads over one on pure compute (a GIL-free
    loop, no memory traffic): about 2 when a second core is free, 1 when other
    processes keep every core busy. The control for W8's ratio."""
    from concurrent.futures import ThreadPoolExecutor

    spin = memo("spin", _spin_kernel)
    spin(10)
    n = 10_000
    while True:  # n such that one call takes about `seconds`
        t0 = time.perf_counter()
        spin(n)
        if time.perf_counter() - t0 >= seconds / 4:
            break
        n *= 4
    t0 = time.perf_counter()
    spin(n)
    spin(n)
    one_after_other = time.perf_counter() - t0
    with ThreadPoolExecutor(2) as pool:
        t0 = time.perf_counter()
        list(pool.map(spin, [n, n]))
        both = time.perf_counter() - t0
    return one_after_other / both
