"""Train and predict on Dask collections larger than memory, block by block.

``fit_blocks`` streams the row blocks of a ``dask.array`` (or the partitions of
a ``dask.dataframe``) through ``partial_fit`` for a number of epochs, shuffling
the block order each epoch; only a couple of blocks are in memory at a time.
``predict``, ``predict_proba`` and ``score`` map a fitted model over the blocks
and return lazy Dask arrays (``score``: a float), so scoring streams too.

Blocks are computed by the active Dask scheduler (on a ``distributed`` cluster,
by its workers, the next block while the current one trains); training itself
runs in the calling process, one block after another, as SGD and Adam do.

Needs the ``dask`` extra: ``pip install "fastmlp[dask]"``.
"""

import copy
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from numbers import Integral

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as error:  # pragma: no cover - exercised without the extra
    raise ImportError(
        'fastmlp.dask needs Dask: pip install "fastmlp[dask]"') from error
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import spec
from .estimators._base import warn_caller
from .progress import ProgressBar

__all__ = ["fit_blocks", "predict", "predict_proba", "score"]


# ------------------------------------------------------------------ blocks
def _row_blocks(data, name):
    """The row blocks of a Dask array, DataFrame or Series, as a list of lazy
    collections (a 2-D array is first rechunked to one block of columns)."""
    if isinstance(data, da.Array):
        if data.ndim not in (1, 2):
            raise ValueError(f"{name} must be 1-D or 2-D; got {data.ndim} dimensions.")
        if data.ndim == 2 and data.numblocks[1] != 1:
            data = data.rechunk({1: -1})
        return [data.blocks[i] for i in range(data.numblocks[0])]
    if dask.is_dask_collection(data) and hasattr(data, "npartitions"):
        return [data.get_partition(i) for i in range(data.npartitions)]
    raise TypeError(
        f"{name} must be a dask.array.Array or a dask DataFrame / Series; got "
        f"{type(data).__name__}. Wrap an in-memory array with "
        "dask.array.from_array(X, chunks=...) or call the model's own fit.")


def _aligned(X, other, name):
    """``other`` with the row blocks of ``X`` (rechunked when both are arrays
    with known block sizes); ValueError when the row counts differ."""
    if other is None:
        return None
    if isinstance(X, da.Array) and isinstance(other, da.Array):
        if not (np.isnan(X.shape[0]) or np.isnan(other.shape[0])):
            if X.shape[0] != other.shape[0]:
                raise ValueError(f"{name} has {other.shape[0]} rows but X has "
                                 f"{X.shape[0]}.")
            if other.chunks[0] != X.chunks[0]:
                other = other.rechunk({0: X.chunks[0]})
    return other


def _compute(*collections):
    """``dask.compute`` without graph optimisation: blockwise fusion names fused
    tasks after their parts, so graphs computing different subsets of the same
    collections (one block of X, of X and y, ...) can give one key two
    different tasks, which a ``distributed`` scheduler answers with a spurious
    KeyError when both are in flight. Unfused keys each name one task."""
    return dask.compute(*collections, optimize_graph=False)


def _check_rows(X_block, *others, index):
    for name, block in others:
        if block is not None and len(block) != len(X_block):
            raise ValueError(f"Block {index}: {name} has {len(block)} rows but X has "
                             f"{len(X_block)}; give X and {name} the same row blocks.")


# --------------------------------------------------------------------- fit
def _check_model(model):
    if not hasattr(model, "partial_fit"):
        raise ValueError(
            f"model must support partial_fit; {type(model).__name__} with these "
            "parameters does not (fastmlp's estimators need a stochastic solver: "
            f"{' or '.join(map(repr, spec.STOCHASTIC_SOLVERS))}).")


def fit_blocks(model, X, y, *, epochs=1, classes=None, sample_weight=None,
               shuffle_blocks=True, random_state=None, verbose=False, progress=False):
    """Fit ``model`` on Dask collections, one row block at a time.

    Each epoch calls ``model.partial_fit`` once per row block of ``X`` (for
    fastmlp's estimators: one pass of the solver over that block's rows, in
    the model's ``batch_size`` mini-batches), visiting the blocks in a new
    random order when ``shuffle_blocks``. The next block is computed while the
    current one trains, so about two blocks are in memory at a time; choose
    the chunk size with that in mind.

    Like ``fit``, training starts afresh unless ``model.warm_start`` is true,
    in which case it continues from the fitted state (optimizer included).
    If a block fails (an error in computing it, rows that do not match), the
    model is left as it was before the call; an interrupt (Ctrl-C) stops
    training at the end of the block being trained and keeps what was learnt
    so far, with a warning, as ``fit`` does (SIGINT is watched from the main
    thread only, where Python delivers it).

    Parameters
    ----------
    model : estimator with ``partial_fit``
        For example ``fastmlp.MLPClassifier(solver="adam")``. Fitted in place.
    X : dask.array.Array of shape (n_samples, n_features), or dask DataFrame
        Training data. Row blocks (DataFrame partitions) are the unit of
        streaming; a 2-D array is rechunked to a single block of columns.
    y : dask.array.Array, dask Series or dask DataFrame
        Targets, of shape (n_samples,) or (n_samples, n_outputs), with the
        same rows as ``X``; an array is rechunked to ``X``'s
        row blocks when its block sizes differ.
    epochs : int, default=1
        Passes over the whole data.
    classes : array-like of shape (n_classes,), default=None
        All class labels, required for a classifier when training starts
        afresh (a block need not contain every class), e.g.
        ``np.unique(y.compute())`` or ``dask.array.unique(y).compute()``.
        Must be None for regressors.
    sample_weight : dask.array.Array of shape (n_samples,), default=None
        Per-row weights, blocked like ``y``.
    shuffle_blocks : bool, default=True
        Visit the blocks in a new random order every epoch. Rows within a
        block are shuffled by the model itself (its ``shuffle`` parameter).
    random_state : int, RandomState instance or None, default=None
        Seeds the block order. The model's own ``random_state`` seeds its
        weights and in-block shuffling.
    verbose : bool, default=False
        Print one line per epoch: rows seen, mean training loss over its
        blocks (when the model reports ``loss_``) and elapsed time.
    progress : bool, default=False
        Show live progress on stderr: one step per block trained, out of
        ``epochs`` times the number of blocks, with the epoch and the mean
        training loss of its blocks so far, and the elapsed and remaining time
        (a tqdm bar when tqdm is installed; see ``fastmlp.progress``). Nothing
        goes to stdout; the ``verbose`` lines are unchanged. The model's own
        ``progress`` shows nothing here (``partial_fit`` never does).

    Returns
    -------
    model : estimator
        The fitted ``model``.

    See Also
    --------
    predict, predict_proba, score : Streaming inference with the fitted model.
    dask_ml.wrappers.Incremental : The same streaming, run as tasks on the
        workers that hold each block.

    Examples
    --------
    >>> import dask.array as da
    >>> from fastmlp import MLPClassifier
    >>> from fastmlp.dask import fit_blocks, score
    >>> X = da.random.RandomState(0).normal(size=(4000, 8), chunks=(1000, 8))
    >>> y = (X[:, 0] + X[:, 1] > 0).astype("int64")
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0)
    >>> clf = fit_blocks(clf, X, y, epochs=5, classes=[0, 1], random_state=0)
    >>> score(clf, X, y) > 0.9
    True
    """
    _check_model(model)
    if isinstance(epochs, bool) or not isinstance(epochs, Integral) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1; got {epochs!r}.")
    if not isinstance(shuffle_blocks, (bool, np.bool_)):
        raise ValueError(f"shuffle_blocks must be True or False; got {shuffle_blocks!r}.")
    if not isinstance(progress, (bool, np.bool_)):
        raise ValueError(f"progress must be True or False; got {progress!r}.")
    y = _aligned(X, y, "y")
    sample_weight = _aligned(X, sample_weight, "sample_weight")
    X_blocks = _row_blocks(X, "X")
    y_blocks = _row_blocks(y, "y")
    w_blocks = (_row_blocks(sample_weight, "sample_weight") if sample_weight is not None
                else [None] * len(X_blocks))
    for name, blocks in (("y", y_blocks), ("sample_weight", w_blocks)):
        if len(blocks) != len(X_blocks):
            raise ValueError(f"{name} has {len(blocks)} row blocks but X has "
                             f"{len(X_blocks)}; give them the same row blocks.")
    rng = check_random_state(random_state)
    restart = not getattr(model, "warm_start", False) or not _is_fitted(model)
    fit_kwargs = {}
    if is_classifier(model):
        if classes is None and restart:
            raise ValueError("classes is required to start training a classifier: "
                             "pass every class label, e.g. classes=np.unique(y).")
        if classes is not None:
            fit_kwargs["classes"] = np.asarray(classes)
    elif classes is not None:
        raise ValueError("classes is only for classifiers; "
                         f"{type(model).__name__} takes none.")

    n_blocks = len(X_blocks)
    orders = [rng.permutation(n_blocks) if shuffle_blocks else np.arange(n_blocks)
              for _ in range(epochs)]
    visits = [(epoch, int(i)) for epoch, order in enumerate(orders) for i in order]
    saved = copy.deepcopy(model.__dict__)
    try:
        if restart and _is_fitted(model):
            fresh = clone(model)  # start afresh, in place: drop the fitted state
            model.__dict__.clear()
            model.__dict__.update(fresh.__dict__)
        with _interrupts_noted() as interrupted, ProgressBar(
                len(visits), "fit_blocks", "block", enabled=progress) as bar:
            _stream(model, visits, (X_blocks, y_blocks, w_blocks), fit_kwargs, epochs,
                    verbose, interrupted, bar)
    except KeyboardInterrupt:  # as fit: keep what was learnt so far
        warn_caller("Training interrupted by user.")
    except BaseException:  # a failed call leaves the model as it was
        model.__dict__.clear()
        model.__dict__.update(saved)
        raise
    return model


@contextmanager
def _interrupts_noted():
    """An Event set by every SIGINT (Ctrl-C) while the block runs, which still
    raises KeyboardInterrupt as usual. ``partial_fit`` ends its epoch on an
    interrupt and returns, as scikit-learn's does; the event lets the caller stop
    too. Signal handlers belong to the main thread: elsewhere nothing is noted."""
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return
    previous = signal.getsignal(signal.SIGINT)

    def note(signum, frame):
        interrupted.set()
        if callable(previous):
            previous(signum, frame)  # Python's default raises KeyboardInterrupt
        else:
            signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, note)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


def _stream(model, visits, blocks, fit_kwargs, epochs, verbose, interrupted, bar):
    """partial_fit on each visited block, computing the next one meanwhile;
    KeyboardInterrupt at the next block once ``interrupted`` is set. ``bar``
    (a ``ProgressBar``) advances once per block."""
    X_blocks, y_blocks, w_blocks = blocks

    def load(i):
        parts = _compute(X_blocks[i], y_blocks[i], w_blocks[i])
        _check_rows(parts[0], ("y", parts[1]), ("sample_weight", parts[2]), index=i)
        return parts

    start = time.perf_counter()
    fit_kwargs = dict(fit_kwargs)
    with ThreadPoolExecutor(max_workers=1) as prefetch:
        pending = prefetch.submit(load, visits[0][1])
        rows = loss_sum = 0.0
        for k, (epoch, _) in enumerate(visits):
            X_block, y_block, w_block = pending.result()
            if k + 1 < len(visits):  # compute the next block while this one trains
                pending = prefetch.submit(load, visits[k + 1][1])
            if w_block is not None:
                fit_kwargs["sample_weight"] = w_block
            model.partial_fit(X_block, y_block, **fit_kwargs)
            if interrupted.is_set():  # partial_fit ended its epoch and returned
                raise KeyboardInterrupt
            fit_kwargs.pop("classes", None)  # needed on the first call only
            rows += len(X_block)
            loss_sum += getattr(model, "loss_", np.nan) * len(X_block)
            del X_block, y_block, w_block
            fit_kwargs.pop("sample_weight", None)
            if bar.enabled:
                bar.update(epoch=f"{epoch + 1}/{epochs}", loss=loss_sum / rows)
            if verbose and (k + 1 == len(visits) or visits[k + 1][0] != epoch):
                with bar.paused():
                    print(f"Epoch {epoch + 1}/{epochs}: {int(rows)} rows in "
                          f"{len(X_blocks)} blocks, loss = {loss_sum / rows:.8f}, "
                          f"{time.perf_counter() - start:.1f}s")
                rows = loss_sum = 0.0


def _is_fitted(model):
    try:
        check_is_fitted(model)
    except NotFittedError:
        return False
    return True


# ----------------------------------------------------------------- predict
def _output_like(method, n_features, dtype):
    """Shape tail and dtype of ``method``'s output, from one row of zeros."""
    out = np.asarray(method(np.zeros((1, n_features), dtype=dtype)))
    return out.shape[1:], out.dtype


def _map_rows(method, X):
    """``method`` applied to every row block of ``X``: a lazy dask array."""
    if not (isinstance(X, da.Array) or (dask.is_dask_collection(X)
                                        and hasattr(X, "npartitions"))):
        raise TypeError(f"X must be a dask.array.Array or a dask DataFrame; got "
                        f"{type(X).__name__}.")
    if isinstance(X, da.Array):
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D; got {X.ndim} dimensions.")
        X = X.rechunk({1: -1})
        tail, dtype = _output_like(method, X.shape[1], X.dtype)
        return X.map_blocks(method, dtype=dtype,
                            chunks=(X.chunks[0],) + tuple((n,) for n in tail),
                            drop_axis=None if tail else 1)
    # DataFrame partitions keep their column names (a model fitted on
    # DataFrames checks them); row counts are unknown until computed.
    one_row = X._meta.reindex([0]).fillna(0).astype(dict(X.dtypes))
    out = np.asarray(method(one_row))
    tail, dtype = out.shape[1:], out.dtype
    parts = [da.from_delayed(dask.delayed(method)(part), shape=(np.nan,) + tail,
                             dtype=dtype) for part in X.to_delayed()]
    return da.concatenate(parts, axis=0)


def predict(model, X):
    """Predict every row of a Dask collection, lazily, block by block.

    Nothing is computed until the result is: each row block (DataFrame
    partition) becomes one task that calls ``model.predict`` on it, so the
    data never needs to fit in memory at once.

    Parameters
    ----------
    model : fitted estimator
        Any fitted estimator with ``predict`` (fastmlp's or scikit-learn's).
    X : dask.array.Array of shape (n_samples, n_features), or dask DataFrame
        Input data.

    Returns
    -------
    y : dask.array.Array of shape (n_samples,) or (n_samples, n_outputs)
        Predictions with ``X``'s row blocks (of unknown sizes for a
        DataFrame, one block per partition); call ``.compute()``, or store
        them block by block (``dask.array.to_zarr``) when they do not fit in
        memory.

    See Also
    --------
    predict_proba : Class probabilities, block by block.
    score : The model's score in one streaming pass.

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from fastmlp import MLPRegressor
    >>> from fastmlp.dask import predict
    >>> X = da.random.RandomState(0).normal(size=(3000, 4), chunks=(1000, 4))
    >>> model = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=30,
    ...                      random_state=0).fit(X[:500].compute(), np.arange(500.0))
    >>> y = predict(model, X)
    >>> y.chunks
    ((1000, 1000, 1000),)
    >>> bool(np.array_equal(y.compute(), model.predict(X.compute())))
    True
    """
    check_is_fitted(model)
    return _map_rows(model.predict, X)


def predict_proba(model, X):
    """Class probabilities of every row of a Dask collection, lazily.

    As :func:`predict`: one task per row block, computed only when the result
    is.

    Parameters
    ----------
    model : fitted classifier
        A fitted estimator with ``predict_proba``.
    X : dask.array.Array of shape (n_samples, n_features), or dask DataFrame
        Input data.

    Returns
    -------
    proba : dask.array.Array of shape (n_samples, n_classes)
        Probability of each class, in the order of ``model.classes_``.

    See Also
    --------
    predict : The predicted labels, block by block.

    Examples
    --------
    >>> import dask.array as da
    >>> from fastmlp import MLPClassifier
    >>> from fastmlp.dask import predict_proba
    >>> X = da.random.RandomState(0).normal(size=(2000, 4), chunks=(500, 4))
    >>> y = (X[:, 0] > 0).astype("int64")
    >>> model = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", random_state=0)
    >>> model = model.fit(X[:500].compute(), y[:500].compute())
    >>> proba = predict_proba(model, X)
    >>> proba.shape, proba.chunks[0]
    ((2000, 2), (500, 500, 500, 500))
    """
    check_is_fitted(model)
    if not hasattr(model, "predict_proba"):
        raise ValueError(f"model must have predict_proba; {type(model).__name__} "
                         "has none.")
    return _map_rows(model.predict_proba, X)


def score(model, X, y):
    """The model's default score on Dask collections, in one streaming pass.

    Accuracy for classifiers (subset accuracy for multilabel), R^2 averaged
    uniformly over outputs for regressors: what ``model.score`` gives in
    memory, combined from per-block counts and sums (R^2 with a numerically
    stable merge of block means and squared deviations).

    Parameters
    ----------
    model : fitted classifier or regressor
        A fitted estimator with ``predict``.
    X : dask.array.Array of shape (n_samples, n_features), or dask DataFrame
        Input data.
    y : dask.array.Array, dask Series or dask DataFrame
        True labels or values, of shape (n_samples,) or (n_samples,
        n_outputs), with the same rows as ``X``.

    Returns
    -------
    score : float
        Accuracy (classifiers) or R^2 (regressors), as ``model.score(X, y)``
        would give on the same rows in memory.

    See Also
    --------
    fit_blocks : Train on Dask collections, one row block at a time.

    Examples
    --------
    >>> import dask.array as da
    >>> from fastmlp import MLPClassifier
    >>> from fastmlp.dask import score
    >>> X = da.random.RandomState(0).normal(size=(2000, 4), chunks=(500, 4))
    >>> y = (X[:, 0] > 0).astype("int64")
    >>> model = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", random_state=0)
    >>> model = model.fit(X[:500].compute(), y[:500].compute())
    >>> round(score(model, X, y), 6) == round(model.score(X.compute(), y.compute()), 6)
    True
    """
    check_is_fitted(model)
    y = _aligned(X, y, "y")
    X_blocks, y_blocks = _row_blocks(X, "X"), _row_blocks(y, "y")
    if len(y_blocks) != len(X_blocks):
        raise ValueError(f"y has {len(y_blocks)} row blocks but X has {len(X_blocks)}; "
                         "give them the same row blocks.")
    summarise = _accuracy_counts if is_classifier(model) else _r2_moments
    parts = _compute(*[dask.delayed(summarise)(model, Xb, yb, i)
                       for i, (Xb, yb) in enumerate(zip(X_blocks, y_blocks, strict=True))])
    if is_classifier(model):
        return float(sum(c for c, _ in parts) / sum(n for _, n in parts))
    n, mean, spread, residual = parts[0]
    for n_b, mean_b, spread_b, residual_b in parts[1:]:
        delta = mean_b - mean
        total = n + n_b
        spread = spread + spread_b + delta ** 2 * n * n_b / total
        mean = mean + delta * n_b / total
        residual = residual + residual_b
        n = total
    # as scikit-learn: a constant output scores 1 when predicted exactly, else 0
    ratio = np.where(spread > 0, residual / np.where(spread > 0, spread, 1),
                     np.where(residual > 0, 1.0, 0.0))
    return float(np.mean(1 - ratio))


def _block_targets(model, X_block, y_block, index):
    _check_rows(X_block, ("y", y_block), index=index)
    return np.asarray(model.predict(X_block)), np.asarray(y_block)


def _accuracy_counts(model, X_block, y_block, index):
    """(correct rows, rows) of one block."""
    y_pred, y_true = _block_targets(model, X_block, y_block, index)
    correct = y_pred == y_true.reshape(y_pred.shape)
    if correct.ndim == 2:
        correct = correct.all(axis=1)
    return int(correct.sum()), len(correct)


def _r2_moments(model, X_block, y_block, index):
    """(rows, mean, squared deviations from it, squared residuals) per output."""
    y_pred, y_true = _block_targets(model, X_block, y_block, index)
    y_true = y_true.reshape(len(y_true), -1).astype(np.float64)
    y_pred = y_pred.reshape(y_true.shape).astype(np.float64)
    mean = y_true.mean(axis=0)
    return (len(y_true), mean, ((y_true - mean) ** 2).sum(axis=0),
            ((y_true - y_pred) ** 2).sum(axis=0))
