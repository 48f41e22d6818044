"""Regression tests of reliability defects: duplicate CSR entries, divergence
with early stopping, non-integer hidden sizes, mini-batches whose sample weights
sum to zero, absurd layer sizes."""

import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor as SkMLPRegressor

from fastmlp import MLPClassifier, MLPRegressor
from fastmlp.backends.arrays import canonical_csr
from fastmlp.estimators import _memory

RNG = np.random.default_rng(3)
X = RNG.standard_normal((50, 6))
Y_CLF = (X[:, 0] > 0).astype(int)


def fit(est, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kwargs)


def with_duplicates(X):
    """CSR equal to X in which every stored entry is split into two duplicates
    (valid in scipy, which sums them), in unsorted order."""
    S = sp.csr_matrix(X)
    rows = np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))
    data = np.r_[0.25 * S.data, 0.75 * S.data]
    cols = np.r_[S.indices, S.indices]
    order = np.lexsort((-cols, np.r_[rows, rows]))  # per row, columns descending
    indptr = np.r_[0, np.cumsum(2 * np.diff(S.indptr))]
    D = sp.csr_matrix((data[order], cols[order], indptr), shape=S.shape)
    assert not D.has_canonical_format
    return D


# ====================================================== non-canonical CSR
@pytest.mark.parametrize("solver, batch_size", [("sgd", 1), ("sgd", 8), ("adam", 200),
                                                ("lbfgs", "auto")])
def test_csr_with_duplicates_trains_like_dense(solver, batch_size):
    D = with_duplicates(X)
    arrays = [a.copy() for a in (D.data, D.indices, D.indptr)]
    params = dict(hidden_layer_sizes=(5,), solver=solver, batch_size=batch_size, max_iter=5,
                  random_state=0)
    sparse = fit(MLPClassifier(**params), D, Y_CLF)
    dense = fit(MLPClassifier(**params), X, Y_CLF)
    for a, b in zip(sparse.coefs_ + sparse.intercepts_, dense.coefs_ + dense.intercepts_,
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sparse.predict_proba(D), dense.predict_proba(X), rtol=1e-10)
    # the caller's matrix is untouched
    for before, after in zip(arrays, (D.data, D.indices, D.indptr), strict=True):
        np.testing.assert_array_equal(before, after)
    assert not D.has_canonical_format


def test_canonical_csr_copies_only_when_needed():
    S = sp.csr_matrix(X)
    assert canonical_csr(S, np.float64) is S
    D = with_duplicates(X)
    C = canonical_csr(D, np.float64)
    assert C is not D and C.has_canonical_format
    np.testing.assert_allclose(C.toarray(), X, rtol=1e-15)


def test_csr_indices_out_of_bounds_are_rejected():
    S = sp.csr_matrix(X)
    model = fit(MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0), X, Y_CLF)
    S.indices[3] = 600  # edited after construction: scipy does not recheck
    with pytest.raises(ValueError, match=r"column indices must lie in \[0, 6\)"):
        model.predict(S)


# ============================================ divergence with early stopping
def diverging(Est=MLPRegressor, **params):
    base = dict(hidden_layer_sizes=100, activation="identity", solver="sgd",
                learning_rate_init=1, max_iter=20, early_stopping=True, random_state=0)
    return Est(**dict(base, **params))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_with_early_stopping_keeps_best_weights():
    X_iris, y_iris = load_iris(return_X_y=True)
    with pytest.warns(ConvergenceWarning, match="Training diverged at epoch"):
        model = diverging().fit(X_iris, y_iris)
    scores = model.validation_scores_
    assert isinstance(scores[-1], float) and math.isnan(scores[-1])
    assert model.n_iter_ == len(scores) == len(model.loss_curve_) < 20
    assert all(np.isfinite(a).all() for a in model.coefs_ + model.intercepts_)
    assert model.best_validation_score_ == np.nanmax(scores)
    # scikit-learn records the same scores while they are finite, and keeps the same
    # best weights
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = diverging(SkMLPRegressor).fit(X_iris, y_iris)
    finite = [s for s in scores if np.isfinite(s)]
    np.testing.assert_allclose(finite, theirs.validation_scores_[:len(finite)], rtol=1e-8)
    assert model.best_validation_score_ == pytest.approx(theirs.best_validation_score_)
    for a, b in zip(model.coefs_, theirs.coefs_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_warm_start_after_divergence_trains_from_the_best_weights():
    X_iris, y_iris = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = diverging(momentum=0.9).fit(X_iris, y_iris)
    assert np.all(model._optimizer.state == 0)  # no non-finite momentum carried over
    model.set_params(warm_start=True, learning_rate_init=1e-4, max_iter=3)
    fit(model, X_iris, y_iris)
    assert np.isfinite(model.loss_curve_[-1])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_without_early_stopping_still_raises():
    X_iris, y_iris = load_iris(return_X_y=True)
    model = diverging(early_stopping=False)
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights"):
        fit(model, X_iris, y_iris)
    assert not hasattr(model, "coefs_")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_in_grid_search_does_not_kill_the_search():
    from sklearn.model_selection import GridSearchCV

    X_iris, y_iris = load_iris(return_X_y=True)
    search = GridSearchCV(diverging(max_iter=5), {"learning_rate_init": [1e-3, 1.0]}, cv=2,
                          error_score="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(X_iris, y_iris)
    assert search.best_params_ == {"learning_rate_init": 1e-3}


# ============================================================ hidden sizes
@pytest.mark.parametrize("sizes", [(10.5,), (4, 2.0), (np.float32(3),)])
def test_hidden_layer_sizes_must_be_integers(sizes):
    with pytest.raises(TypeError, match="hidden_layer_sizes must contain integers"):
        MLPClassifier(hidden_layer_sizes=sizes).fit(X, Y_CLF)


def test_hidden_layer_sizes_numpy_integers_work():
    model = fit(MLPClassifier(hidden_layer_sizes=(np.int64(3), np.int32(2)), max_iter=2), X,
                Y_CLF)
    assert [c.shape for c in model.coefs_] == [(6, 3), (3, 2), (2, 1)]


def test_absurd_hidden_layer_sizes_raise_before_allocating(monkeypatch):
    allocated = []
    monkeypatch.setattr(_memory, "physical_memory", lambda: 2**30)
    import fastmlp.network

    monkeypatch.setattr(fastmlp.network.Network, "initialize",
                        classmethod(lambda *a, **k: allocated.append(1)))
    with pytest.raises(MemoryError, match=r"needs about [\d.]+ GiB .* 1.0 GiB of memory"):
        MLPRegressor(hidden_layer_sizes=(10**6, 10**3)).fit(X, X[:, 0])
    assert not allocated


def test_memory_estimate_grows_with_the_network():
    small = _memory.fit_bytes([6, 10, 1], np.float64, "adam", 50, "auto")
    assert small < 2**20
    big = _memory.fit_bytes([784, 10**7, 10], np.float32, "sgd", 60000, 256)
    assert big > 4 * 784 * 10**7 * 3


# ======================================================= zero-weight batches
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("batch_size", [1, 5])
@pytest.mark.parametrize("shuffle", [False, True])
def test_zero_weight_batch_raises_weights_sum_to_zero(solver, batch_size, shuffle):
    sw = np.ones(X.shape[0])
    sw[:45] = 0  # 5 rows of weight 1 reach at most 5 of the 10 batches of 5
    model = MLPClassifier(hidden_layer_sizes=(4,), solver=solver, batch_size=batch_size,
                          shuffle=shuffle, max_iter=3, random_state=0)
    with pytest.raises(ZeroDivisionError, match="Weights sum to zero.*all zero"):
        fit(model, X, Y_CLF, sample_weight=sw)
    assert not hasattr(model, "coefs_")


def test_zero_weights_spread_over_batches_train():
    sw = np.ones(X.shape[0])
    sw[::2] = 0  # every batch of 5 has a row of non-zero weight
    model = fit(MLPClassifier(hidden_layer_sizes=(4,), batch_size=5, shuffle=False,
                              max_iter=3, random_state=0), X, Y_CLF, sample_weight=sw)
    assert all(np.isfinite(c).all() for c in model.coefs_)
