"""What ``X`` and ``sample_weight`` may be: float32 and float64 inputs train
and predict in their own dtype (integers train in float64); CSR / CSC sparse
matrices and sparse arrays give the same model as dense input; pandas
DataFrames set ``feature_names_in_`` and get scikit-learn's feature-name
checks; sample weights are used as scikit-learn uses them (ones change nothing,
zero equals dropping the row, integer weights equal repeated rows)."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor

from fastmlp import MLPClassifier, MLPRegressor

from estimator_helpers import EST_IDS, ESTIMATORS, SOLVERS, fit_quietly, flat, quiet
from optional import optional


# ================================================================== dtypes
@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(Est, solver, dtype, multiclass_data):
    X, y = multiclass_data
    X = X.astype(dtype)
    est = fit_quietly(Est(**quiet(solver=solver, max_iter=5)), X, y)
    for a in est.coefs_ + est.intercepts_:
        assert a.dtype == dtype
    assert est.predict(X).dtype == (dtype if Est is MLPRegressor else y.dtype)
    if Est is MLPClassifier:
        assert est.predict_proba(X).dtype == dtype
    assert np.isfinite(est.loss_)


def test_float32_predictions_close_to_float64(classification_data):
    X, y = classification_data
    p64 = fit_quietly(MLPClassifier(**quiet()), X, y).predict_proba(X)
    p32 = fit_quietly(MLPClassifier(**quiet()), X.astype(np.float32), y).predict_proba(
        X.astype(np.float32))
    np.testing.assert_allclose(p32, p64, atol=1e-4)


def test_integer_input_trains_float64(classification_data):
    X, y = classification_data
    clf = fit_quietly(MLPClassifier(**quiet(max_iter=3)), (X * 10).astype(np.int64), y)
    assert clf.coefs_[0].dtype == np.float64


# ============================================================ sparse input
@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_input_equals_dense(Est, solver, fmt, classification_data):
    X, y = classification_data
    X = np.where(np.abs(X) < 0.5, 0.0, X)
    Xs = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
    dense_est = fit_quietly(Est(**quiet(solver=solver, max_iter=10)), X, y)
    sparse_est = fit_quietly(Est(**quiet(solver=solver, max_iter=10)), Xs, y)
    np.testing.assert_allclose(flat(sparse_est), flat(dense_est), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sparse_est.predict(Xs), dense_est.predict(X), rtol=1e-9)
    np.testing.assert_allclose(dense_est.predict(Xs), dense_est.predict(X), rtol=1e-12)
    if Est is MLPClassifier:
        np.testing.assert_allclose(sparse_est.predict_proba(Xs), dense_est.predict_proba(X),
                                   rtol=1e-9)


def test_sparse_array_input(classification_data):
    X, y = classification_data
    est = fit_quietly(MLPClassifier(**quiet()), sp.csr_array(X), y)
    np.testing.assert_allclose(est.predict_proba(sp.csr_array(X)), est.predict_proba(X))


# ================================================================== pandas
@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
def test_dataframe_feature_names(Est, classification_data):
    pd = optional("pandas")
    X, y = classification_data
    columns = [f"f{i}" for i in range(X.shape[1])]
    df = pd.DataFrame(X, columns=columns)
    est = fit_quietly(Est(**quiet()), df, pd.Series(y))
    np.testing.assert_array_equal(est.feature_names_in_, columns)
    assert est.n_features_in_ == 6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expected = est.predict(df)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        np.testing.assert_allclose(est.predict(X), expected)
    renamed = df.rename(columns={"f0": "g0"})
    with pytest.raises(ValueError, match="The feature names should match"):
        est.predict(renamed)
    plain = fit_quietly(Est(**quiet()), X, y)
    assert not hasattr(plain, "feature_names_in_")
    with pytest.warns(UserWarning, match="X has feature names, but"):
        plain.predict(df)


def test_dataframe_early_stopping_no_feature_name_warning(classification_data):
    pd = optional("pandas")
    X, y = classification_data
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        fit_quietly(MLPClassifier(**quiet(early_stopping=True, validation_fraction=0.2)), df, y)


# =========================================================== sample weight
@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_sample_weight_is_used(Est, solver, classification_data):
    X, y = classification_data
    rng = np.random.default_rng(0)
    sw = rng.uniform(0.1, 3, len(y))
    base = fit_quietly(Est(**quiet(solver=solver, max_iter=10)), X, y)
    ones = fit_quietly(Est(**quiet(solver=solver, max_iter=10)), X, y, sample_weight=np.ones(80))
    weighted = fit_quietly(Est(**quiet(solver=solver, max_iter=10)), X, y, sample_weight=sw)
    np.testing.assert_allclose(flat(ones), flat(base), rtol=1e-12, atol=1e-14)
    assert not np.allclose(flat(weighted), flat(base))
    # Same as scikit-learn with the same weights.
    sk_est = (SkMLPClassifier if Est is MLPClassifier else SkMLPRegressor)
    sk = fit_quietly(sk_est(**quiet(solver=solver, max_iter=10)), X, y, sample_weight=sw)
    np.testing.assert_allclose(flat(weighted), flat(sk), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
def test_lbfgs_zero_weight_equals_dropping_rows(Est, classification_data):
    X, y = classification_data
    sw = np.ones(len(y))
    sw[::3] = 0
    keep = sw > 0
    weighted = fit_quietly(Est(**quiet(solver="lbfgs", max_iter=30)), X, y, sample_weight=sw)
    dropped = fit_quietly(Est(**quiet(solver="lbfgs", max_iter=30)), X[keep], y[keep])
    np.testing.assert_allclose(flat(weighted), flat(dropped), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(weighted.predict(X), dropped.predict(X), rtol=1e-6, atol=1e-8)
    assert weighted.loss_ == pytest.approx(dropped.loss_, rel=1e-8)


@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_integer_weights_equal_repeated_rows(Est, solver, classification_data):
    """lbfgs always; sgd / adam with one full batch per epoch, where the
    weighted and the repeated problems take identical steps."""
    X, y = classification_data
    rng = np.random.default_rng(1)
    sw = rng.integers(1, 4, len(y))
    Xr, yr = np.repeat(X, sw, axis=0), np.repeat(y, sw)
    params = quiet(solver=solver, max_iter=15, batch_size=len(yr), shuffle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # batch_size clipped for the weighted fit
        weighted = fit_quietly(Est(**params), X, y, sample_weight=sw.astype(float))
    repeated = fit_quietly(Est(**params), Xr, yr)
    np.testing.assert_allclose(flat(weighted), flat(repeated), rtol=1e-6, atol=1e-8)
    assert weighted.loss_ == pytest.approx(repeated.loss_, rel=1e-8)
