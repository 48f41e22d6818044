"""fastmlp on Dask: searches on a distributed cluster, training and scoring on
Dask collections block by block (fastmlp.dask and dask-ml's Incremental).

Runs on a LocalCluster of 2 worker processes bound to 127.0.0.1; skipped when the
``dask`` extra is not installed.
"""

import warnings

import numpy as np
import pytest

from optional import optional

optional("dask")
optional("distributed")
optional("dask_ml")

import dask  # noqa: E402
import dask.array as da  # noqa: E402
import joblib  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402
from scipy.stats import loguniform  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils import check_random_state  # noqa: E402
from test_readonly import compiled_signatures, read_only_signatures  # noqa: E402

from fastmlp import MLPClassifier, MLPRegressor  # noqa: E402
from fastmlp.dask import fit_blocks, predict, predict_proba, score  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None) as cluster:
        with Client(cluster) as c:
            yield c


def blobs(n=600, n_features=6, chunk=150, seed=0):
    """A lazy 3-class problem: X (n, n_features) in row blocks of ``chunk``, y."""
    X = da.random.RandomState(seed).normal(size=(n, n_features), chunks=(chunk, n_features))
    y = (X[:, 0] > 0.5).astype("int64") + (X[:, 1] > 0).astype("int64")
    return X, y


def local(*collections):
    """Reference values, computed in this process: the tests' own computations
    stay off the cluster (blockwise fusion can give one key two different tasks
    across graphs, which the distributed scheduler does not expect)."""
    return dask.compute(*collections, scheduler="sync")


def by_blocks(method, X, chunks):
    """``method`` on each row block of the in-memory X, concatenated: what a
    blockwise prediction computes (a row's prediction can differ in the last
    bits with the number of rows predicted at once: loops for a few, BLAS for
    many, see ``config.PREDICT_ROWS_MACS``)."""
    bounds = np.cumsum((0,) + tuple(chunks))
    return np.concatenate([method(X[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)])


def params_of(model):
    return np.concatenate([np.ravel(a) for a in model.coefs_ + model.intercepts_])


def signature_counts():
    """In a worker: (all compiled kernel signatures, read-only ones)."""
    found = compiled_signatures()
    return sum(map(len, found.values())), len(read_only_signatures(found))


# ----------------------------------------------------------------- searches
def searches():
    pipe = make_pipeline(StandardScaler(),
                         MLPClassifier(hidden_layer_sizes=(8,), max_iter=15, random_state=0))
    grid = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-1],
                               "mlpclassifier__hidden_layer_sizes": [(4,), (8,)]},
                        cv=3, n_jobs=-1)
    randomized = RandomizedSearchCV(
        pipe, {"mlpclassifier__alpha": loguniform(1e-5, 1),
               "mlpclassifier__learning_rate_init": loguniform(1e-3, 1e-1)},
        n_iter=3, cv=3, n_jobs=-1, random_state=0)
    return {"grid": grid, "randomized": randomized}


@pytest.mark.parametrize("kind", ["grid", "randomized"])
def test_search_on_cluster_matches_default_backend(client, kind):
    X, y = local(*blobs(n=300))
    default = searches()[kind].fit(X, y)
    with joblib.parallel_backend("dask"):
        remote = searches()[kind].fit(X, y)
    assert remote.best_params_ == default.best_params_
    for key in ["mean_test_score", "std_test_score", "rank_test_score"] + [
            f"split{i}_test_score" for i in range(3)]:
        np.testing.assert_array_equal(remote.cv_results_[key], default.cv_results_[key])
    ran_on = client.run(lambda: len(compiled_signatures()) > 0)
    assert len(ran_on) == 2


def test_workers_compile_nothing_for_a_second_search(client):
    X, y = local(*blobs(n=300))
    with joblib.parallel_backend("dask"):
        searches()["grid"].fit(X, y)
        first = client.run(signature_counts)
        searches()["grid"].fit(X, y)
        second = client.run(signature_counts)
    assert second == first
    assert all(n > 0 and n_read_only == 0 for n, n_read_only in second.values())


# -------------------------------------------------------------- fit_blocks
def manual_partial_fits(model, X, y, orders, classes=None, sample_weight=None):
    """partial_fit over the computed blocks in the given orders: the reference."""
    Xs = [b.compute(scheduler="sync") for b in X.blocks]
    ys = [b.compute(scheduler="sync") for b in y.blocks]
    ws = [None] * len(Xs) if sample_weight is None else [
        b.compute(scheduler="sync") for b in sample_weight.blocks]
    kwargs = {} if classes is None else {"classes": classes}
    for order in orders:
        for i in order:
            model.partial_fit(Xs[i], ys[i], sample_weight=ws[i], **kwargs)
    return model


def test_fit_blocks_on_cluster_is_partial_fit_in_shuffled_block_order(client, capsys):
    X, y = blobs()
    model = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    fitted = fit_blocks(model, X, y, epochs=3, classes=[0, 1, 2], random_state=7,
                        verbose=True)
    assert fitted is model
    rng = check_random_state(7)
    orders = [rng.permutation(4) for _ in range(3)]
    expected = manual_partial_fits(clone(model), X, y, orders, classes=[0, 1, 2])
    np.testing.assert_array_equal(params_of(model), params_of(expected))
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]


def test_fit_blocks_sample_weight_and_unshuffled_order():
    X, y = blobs()
    w = da.linspace(0.5, 1.5, 600, chunks=200)  # other blocks than X: rechunked
    model = fit_blocks(MLPRegressor(hidden_layer_sizes=(5,), random_state=0), X,
                       y.astype(float), sample_weight=w, epochs=2, shuffle_blocks=False)
    expected = manual_partial_fits(
        MLPRegressor(hidden_layer_sizes=(5,), random_state=0), X, y.astype(float),
        [range(4), range(4)], sample_weight=w.rechunk(150))
    np.testing.assert_array_equal(params_of(model), params_of(expected))


@pytest.mark.parametrize("scheduler", ["sync", "threads"])
def test_fit_blocks_stops_at_ctrl_c(scheduler):
    """SIGINT during fit_blocks ends training at the next block, keeps what was
    learnt, warns, and restores the previous SIGINT handler."""
    import os
    import signal
    import threading
    import time

    X, y = blobs(n=4000, chunk=100)
    model = MLPRegressor(hidden_layer_sizes=(64, 64), batch_size=1, random_state=0)
    # kernels compiled first: the signal must meet training, not a first compilation
    fit_blocks(clone(model), X[:200], y[:200].astype(float), epochs=1)
    handler = signal.getsignal(signal.SIGINT)
    done = threading.Event()

    def interrupt_once_training():
        # SIGINT once the first block has trained (fit_blocks' handler is then in
        # place): a fixed delay could fire while a busy machine still prepares
        while not done.is_set() and not getattr(model, "loss_curve_", None):
            time.sleep(0.01)
        if not done.is_set():
            os.kill(os.getpid(), signal.SIGINT)

    sender = threading.Thread(target=interrupt_once_training)
    sender.start()
    try:
        with dask.config.set(scheduler=scheduler), pytest.warns(
                UserWarning, match="Training interrupted by user"):
            fit_blocks(model, X, y.astype(float), epochs=50)
    finally:
        done.set()
        sender.join()
    assert signal.getsignal(signal.SIGINT) is handler
    # stopped at the block after the signal (all 50 epochs are 2,000 blocks)
    assert 0 < len(model.loss_curve_) < 500
    assert np.isfinite(params_of(model)).all()


def test_fit_blocks_starts_afresh_unless_warm_start():
    X, y = blobs()
    once = fit_blocks(MLPClassifier(hidden_layer_sizes=(5,), random_state=0), X, y,
                      classes=[0, 1, 2], random_state=0)
    model = MLPClassifier(hidden_layer_sizes=(5,), random_state=0)
    for _ in range(2):
        fit_blocks(model, X, y, classes=[0, 1, 2], random_state=0)
    np.testing.assert_array_equal(params_of(model), params_of(once))
    model.set_params(warm_start=True)
    fit_blocks(model, X, y, random_state=0)  # continues: classes known
    assert not np.array_equal(params_of(model), params_of(once))


def test_fit_blocks_on_a_dask_dataframe_matches_the_array():
    dd = optional("dask.dataframe")
    X, y = blobs()
    names = [f"f{i}" for i in range(X.shape[1])]
    X_df, y_s = dd.from_dask_array(X, columns=names), dd.from_dask_array(y)
    from_frame = fit_blocks(MLPClassifier(hidden_layer_sizes=(5,), random_state=0),
                            X_df, y_s, classes=[0, 1, 2], random_state=0)
    from_array = fit_blocks(MLPClassifier(hidden_layer_sizes=(5,), random_state=0),
                            X, y, classes=[0, 1, 2], random_state=0)
    np.testing.assert_array_equal(params_of(from_frame), params_of(from_array))
    assert list(from_frame.feature_names_in_) == names
    proba = predict_proba(from_frame, X_df)
    np.testing.assert_array_equal(proba.compute(), by_blocks(
        from_frame.predict_proba, *local(X_df), X.chunks[0]))
    assert score(from_frame, X_df, y_s) == from_frame.score(*local(X_df, y_s))


# --------------------------------------------------------- predict / score
def test_predict_and_score_stream_blockwise(client):
    X, y = blobs()
    clf = fit_blocks(MLPClassifier(hidden_layer_sizes=(8,), random_state=0), X, y,
                     epochs=2, classes=[0, 1, 2], random_state=0)
    X_mem, y_mem = local(X, y)
    labels, proba = predict(clf, X), predict_proba(clf, X)
    assert isinstance(labels, da.Array) and labels.chunks == (X.chunks[0],)
    assert proba.chunks == (X.chunks[0], (3,))
    np.testing.assert_array_equal(labels.compute(), by_blocks(clf.predict, X_mem, X.chunks[0]))
    np.testing.assert_array_equal(proba.compute(),
                                  by_blocks(clf.predict_proba, X_mem, X.chunks[0]))
    np.testing.assert_allclose(proba.compute(), clf.predict_proba(X_mem), rtol=1e-13)
    assert score(clf, X, y) == clf.score(X_mem, y_mem)

    Y = da.stack([X[:, 0] * 3 + 100, X[:, 1] - X[:, 2]], axis=1)  # two outputs
    reg = fit_blocks(MLPRegressor(hidden_layer_sizes=(8,), random_state=0), X, Y, epochs=2)
    assert predict(reg, X).shape == (600, 2)
    assert score(reg, X, Y) == pytest.approx(reg.score(X_mem, *local(Y)), rel=1e-9)


# ---------------------------------------------------------------- dask-ml
def test_dask_ml_incremental_wraps_fastmlp(client):
    from dask_ml.wrappers import Incremental

    X, y = blobs()
    inc = Incremental(MLPClassifier(hidden_layer_sizes=(8,), random_state=0),
                      shuffle_blocks=False)
    inc.fit(X, y, classes=[0, 1, 2])
    expected = manual_partial_fits(MLPClassifier(hidden_layer_sizes=(8,), random_state=0),
                                   X, y, [range(4)], classes=[0, 1, 2])
    np.testing.assert_array_equal(params_of(inc.estimator_), params_of(expected))
    labels = inc.predict(X)
    assert isinstance(labels, da.Array)
    np.testing.assert_array_equal(labels.compute(), expected.predict(*local(X)))


# ------------------------------------------------------------- validation
@pytest.mark.parametrize("kwargs, error, match", [
    ({"epochs": 0}, ValueError, "epochs"),
    ({"epochs": 1.5}, ValueError, "epochs"),
    ({"shuffle_blocks": "yes"}, ValueError, "shuffle_blocks"),
    ({"classes": None}, ValueError, "classes"),
    ({"y": np.zeros(600)}, TypeError, "y must be"),
    ({"X": np.zeros((600, 6))}, TypeError, "X must be"),
    ({"y": da.zeros(500, chunks=100)}, ValueError, "y has 500 rows"),
    ({"sample_weight": da.ones(10, chunks=5)}, ValueError, "sample_weight has 10 rows"),
])
def test_fit_blocks_rejects_bad_arguments(kwargs, error, match):
    X, y = blobs()
    args = {"X": X, "y": y, "classes": [0, 1, 2], **kwargs}
    model = MLPClassifier(hidden_layer_sizes=(3,))
    with pytest.raises(error, match=match):
        fit_blocks(model, args.pop("X"), args.pop("y"), **args)
    assert not hasattr(model, "coefs_")


def test_fit_blocks_rejects_models_without_partial_fit_and_regressor_classes():
    X, y = blobs()
    with pytest.raises(ValueError, match="partial_fit"):
        fit_blocks(MLPClassifier(solver="lbfgs"), X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="classes is only for classifiers"):
        fit_blocks(MLPRegressor(), X, y.astype(float), classes=[0, 1, 2])


def test_block_row_mismatch_names_the_argument():
    X, y = blobs()
    y_short = da.concatenate([y[:100], y[150:]])  # 4 blocks, the first one shorter
    with pytest.raises(ValueError, match="y has 550 rows"):
        fit_blocks(MLPClassifier(), X, y_short, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="Block 0: y has"):  # unknown block sizes:
        fit_blocks(MLPClassifier(), X, y[y > 0], classes=[0, 1, 2],  # checked per block
                   shuffle_blocks=False)
    unknown = y[y >= 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_blocks(MLPClassifier(hidden_layer_sizes=(3,)), X, unknown, classes=[0, 1, 2])


def test_a_failed_fit_blocks_leaves_the_fitted_model_unchanged():
    X, y = blobs()
    model = fit_blocks(MLPClassifier(hidden_layer_sizes=(3,), random_state=0), X, y,
                       classes=[0, 1, 2], random_state=0)
    before = params_of(model).copy(), model.n_iter_, list(model.loss_curve_)
    with pytest.raises(ValueError, match="classes is required"):  # restart needs them
        fit_blocks(model, X, y)
    short = da.from_delayed(dask.delayed(lambda b: b[:-1])(y.blocks[2]),
                            shape=(np.nan,), dtype=y.dtype)
    y_bad = da.concatenate([y.blocks[0], y.blocks[1], short, y.blocks[3]])
    with pytest.raises(ValueError, match="Block 2: y has 149 rows"):  # after 2 blocks
        fit_blocks(model, X, y_bad, classes=[0, 1, 2], shuffle_blocks=False)
    np.testing.assert_array_equal(params_of(model), before[0])
    assert (model.n_iter_, model.loss_curve_) == before[1:]


def test_import_fastmlp_does_not_import_dask():
    import subprocess
    import sys

    code = "import sys, fastmlp; print(any(m.split('.')[0] == 'dask' for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
