"""Ahead-of-time compilation: fill the on-disk kernel cache before the first fit.

Every CPU kernel is compiled on first use and cached on disk (``cache=True``),
next to the installed package or under ``NUMBA_CACHE_DIR`` when that is set.
``compile_kernels`` runs tiny fits and predictions through every common path,
so that a later process -- a container started from an image, a Dask worker --
only loads the kernels on its first fit instead of compiling them.
"""

import time
import warnings

import numpy as np

from .progress import ProgressBar

DTYPES = ("float32", "float64")


def _paths(sparse):
    """(estimator class, parameters, input kind) for every common path."""
    from . import spec
    from .estimators import MLPClassifier, MLPRegressor

    small = dict(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    wide = dict(hidden_layer_sizes=(64,), max_iter=2, random_state=0)
    paths = []
    for kind in spec.SOLVERS.values():
        if kind.stochastic:
            # per-sample epochs (batch size 1) and mini-batch epochs through BLAS
            paths.append((MLPClassifier, dict(small, solver=kind.name, batch_size=1), "dense"))
            paths.append((MLPClassifier, dict(wide, solver=kind.name, batch_size=64), "dense"))
        else:  # the full-data objective
            paths.append((MLPClassifier, dict(wide, solver=kind.name), "dense"))
            if sparse:
                paths.append((MLPClassifier, dict(wide, solver=kind.name), "sparse"))
    # plain per-sample sgd (no momentum) has a kernel of its own (``rows.run_epoch_rows``)
    paths.append((MLPRegressor, dict(small, solver="sgd", momentum=0.0, batch_size=1), "dense"))
    paths.append((MLPRegressor, dict(wide, solver="adam", batch_size=64), "dense"))
    if sparse:
        paths.append((MLPClassifier, dict(wide, solver="adam", batch_size=64), "sparse"))
        paths.append((MLPClassifier, dict(small, solver="adam", batch_size=1), "sparse"))
    # data-parallel mini-batches and L-BFGS objective (``kernels.pieces``) in the
    # variant a default fit runs here (parallel on several cores, else the one-thread
    # variant, which ``n_jobs=1`` compiles on first use); fitted on 5,000 rows
    # (fewer are never cut, see ``config.PIECE_MIN_SAMPLES``)
    for kind in ("dense", "sparse") if sparse else ("dense",):
        paths.append((MLPClassifier, dict(wide, solver="adam", batch_size=200, n_jobs=None),
                      kind))
    paths.append((MLPClassifier, dict(wide, solver="lbfgs", max_iter=1, n_jobs=None), "dense"))
    return paths


def cache_use():
    """How this process got fastmlp's CPU kernels so far.

    Counts, over every compiled CPU kernel the process has imported, the kernel
    signatures Numba loaded from its disk cache and those it compiled: after
    :func:`compile_kernels` (in this process or an earlier one sharing the
    cache), the common paths load and compile nothing.

    Returns
    -------
    hits, misses : int
        Kernel signatures loaded from Numba's disk cache, and compiled.

    See Also
    --------
    compile_kernels : Fill the cache ahead of the first fit.

    Examples
    --------
    >>> from fastmlp.aot import cache_use
    >>> hits, misses = cache_use()
    >>> hits >= 0 and misses >= 0
    True
    """
    import sys

    from numba.core.dispatcher import Dispatcher

    hits = misses = 0
    for name, module in list(sys.modules.items()):
        if name.startswith("fastmlp.kernels.") and module is not None:
            for value in vars(module).values():
                if isinstance(value, Dispatcher):
                    hits += sum(value.stats.cache_hits.values())
                    misses += sum(value.stats.cache_misses.values())
    return hits, misses


def compile_kernels(dtypes=DTYPES, sparse=False, verbose=False, progress=False):
    """Compile the CPU kernels for the common paths and store them in the cache.

    Runs tiny fits and predictions of ``MLPClassifier`` and ``MLPRegressor``:
    per-sample and mini-batch epochs for ``sgd`` and ``adam``, the L-BFGS
    objective, and prediction of a few rows (the latency path) and of many rows.
    Later processes that share the cache load these kernels instead of
    compiling them. Calling it again when the cache is full only loads.

    Parameters
    ----------
    dtypes : sequence of {'float32', 'float64'}, default=('float32', 'float64')
        Training dtypes to compile for (float32 input trains in float32).
    sparse : bool, default=False
        Also compile the paths of scipy sparse (CSR / CSC) input.
    verbose : bool, default=False
        Print one line per dtype with the seconds it took.
    progress : bool, default=False
        Show live progress on stderr: one step per path compiled (a tiny fit
        and its predictions, per dtype), with the path, the kernel signatures
        compiled and loaded from the cache so far, and the elapsed and
        remaining time (a tqdm bar when tqdm is installed; see
        ``fastmlp.progress``). Nothing goes to stdout.

    Returns
    -------
    seconds : float
        Wall time of the whole call.

    See Also
    --------
    cache_use : How many kernel signatures the process loaded and compiled.

    Notes
    -----
    The cache lives in the ``__pycache__`` folders next to the installed
    kernel modules, or under ``NUMBA_CACHE_DIR`` when that variable is set;
    the process that runs the fits must be able to write there. The call
    switches off the line logged when a first compilation takes long
    (:mod:`fastmlp.compile_notice`).

    Examples
    --------
    >>> import fastmlp
    >>> seconds = fastmlp.compile_kernels(dtypes=["float64"])  # doctest: +SKIP
    """
    import scipy.sparse as sp
    from sklearn.exceptions import ConvergenceWarning

    from .compile_notice import NOTICE

    dtypes = [dtypes] if isinstance(dtypes, str) else list(dtypes)
    bad = [d for d in dtypes if d not in DTYPES]
    if bad:
        raise ValueError(f"dtypes must hold 'float32' and/or 'float64', got {bad!r}.")
    NOTICE.switch_off()  # compiling is what was asked for: no notice about it
    paths = _paths(sparse)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 64))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    many = np.tile(X, (25, 1))  # enough rows for the block-wise prediction path
    y_many = np.tile(y, 25)
    start = time.perf_counter()
    with ProgressBar(len(dtypes) * len(paths), "compiling", "path", enabled=progress) as bar:
        for dtype in dtypes:
            begin = time.perf_counter()
            Xd, manyd = X.astype(dtype), many.astype(dtype)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                for cls, params, kind in paths:
                    cut = "n_jobs" in params  # the data-parallel paths: see ``_paths``
                    rows = manyd if cut else Xd
                    Xk = sp.csr_matrix(rows) if kind == "sparse" else rows
                    target = ((y_many if cut else y) if cls.__name__ == "MLPClassifier"
                              else X[:, :2] @ [1.0, -1.0])
                    model = cls(**params).fit(Xk, target)
                    model.predict(Xk[:3])
                    model.predict(sp.csr_matrix(manyd) if kind == "sparse" else manyd)
                    if bar.enabled:
                        loaded, compiled = cache_use()
                        bar.update(path=_path_name(cls, params, kind, dtype),
                                   compiled=compiled, loaded=loaded)
            if verbose:
                with bar.paused():
                    print(f"fastmlp kernels for {dtype}: {time.perf_counter() - begin:.1f} s")
    return time.perf_counter() - start


def _path_name(cls, params, kind, dtype):
    """``MLPClassifier adam batch 64 dense float32``: one path of ``_paths``."""
    batch = f" batch {params['batch_size']}" if "batch_size" in params else ""
    cut = " in pieces" if "n_jobs" in params else ""
    return f"{cls.__name__} {params['solver']}{batch}{cut} {kind} {dtype}"
