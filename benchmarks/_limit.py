""""The limit" for workload W1: one hand-fused Numba loop for per-sample SGD.

It performs exactly the arithmetic scikit-learn's ``MLPRegressor(solver='sgd',
batch_size=1, momentum=0, alpha=1e-4)`` performs per sample on an
n_in-H-1 ReLU network, with nothing else around it (no validation, no loss
bookkeeping, no per-batch allocation):

    h     = relu(x @ W1 + b1)
    pred  = h @ W2 + b2
    d     = pred - y                      # squared-loss gradient, one output
    dh    = (d * W2[:, 0]) * (h > 0)      # uses W2 *before* its update
    W2   -= lr * (h * d + alpha * W2)     # L2 term alpha*W / batch_size, batch_size=1
    b2   -= lr * d
    W1   -= lr * (outer(x, dh) + alpha * W1)
    b1   -= lr * dh

over a shuffled index array (Fisher-Yates permutation drawn inside the
compiled function, as any fit has to shuffle too).  fastmlp's per-sample SGD
should land within 1.5x of this.
"""
import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def sgd_pass(X, y, W1, b1, W2, b2, idx, lr, alpha):
    """One pass of per-sample SGD over ``X[idx]``, updating the weights in place."""
    n_in = X.shape[1]
    n_hidden = W1.shape[1]
    h = np.empty(n_hidden, dtype=W1.dtype)
    zero = X.dtype.type(0)
    for t in range(idx.shape[0]):
        i = idx[t]
        # forward: h = relu(x W1 + b1), out = h W2 + b2
        out = b2[0]
        for j in range(n_hidden):
            a = b1[j]
            for k in range(n_in):
                a += X[i, k] * W1[k, j]
            if a < zero:
                a = zero
            h[j] = a
            out += a * W2[j, 0]
        # backward + update (squared loss: d = pred - y; L2: alpha * W / 1)
        d = out - y[i]
        for j in range(n_hidden):
            w2 = W2[j, 0]
            dh = d * w2 if h[j] > zero else zero
            W2[j, 0] = w2 - lr * (h[j] * d + alpha * w2)
            b1[j] -= lr * dh
            for k in range(n_in):
                w1 = W1[k, j]
                W1[k, j] = w1 - lr * (X[i, k] * dh + alpha * w1)
        b2[0] -= lr * d


@njit(cache=True, nogil=True)
def sgd_epochs(X, y, W1, b1, W2, b2, lr, alpha, epochs, seed):
    """``epochs`` shuffled passes (permutation drawn in compiled code)."""
    np.random.seed(seed)
    for _ in range(epochs):
        idx = np.random.permutation(X.shape[0])
        sgd_pass(X, y, W1, b1, W2, b2, idx, lr, alpha)


def init_params(n_in, n_hidden, dtype, seed=0):
    """Glorot-uniform init as scikit-learn does for ReLU (factor 6)."""
    rng = np.random.default_rng(seed)
    b_1 = np.sqrt(6.0 / (n_in + n_hidden))
    b_2 = np.sqrt(6.0 / (n_hidden + 1))
    W1 = rng.uniform(-b_1, b_1, (n_in, n_hidden)).astype(dtype)
    b1 = rng.uniform(-b_1, b_1, n_hidden).astype(dtype)
    W2 = rng.uniform(-b_2, b_2, (n_hidden, 1)).astype(dtype)
    b2 = rng.uniform(-b_2, b_2, 1).astype(dtype)
    return W1, b1, W2, b2


def fit(X, y, n_hidden=32, lr=0.01, alpha=1e-4, epochs=1, seed=0):
    """Initialise and train; returns (W1, b1, W2, b2).  Timed as a whole."""
    X = np.ascontiguousarray(X)
    dtype = X.dtype.type
    y = np.ascontiguousarray(y, dtype=X.dtype).ravel()
    params = init_params(X.shape[1], n_hidden, X.dtype, seed)
    sgd_epochs(X, y, *params, dtype(lr), dtype(alpha), epochs, seed)
    return params


def predict(params, X):
    W1, b1, W2, b2 = params
    return (np.maximum(X @ W1 + b1, 0) @ W2 + b2).ravel()
