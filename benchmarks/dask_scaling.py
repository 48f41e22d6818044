"""fastmlp beyond one machine: two measurements with Dask (needs ``fastmlp[dask]``).

``memory``
    Out-of-core training: ``fastmlp.dask.fit_blocks`` streams a lazily
    generated ``dask.array`` (never materialised) through ``partial_fit`` with
    Dask's local threaded scheduler, in a fresh subprocess whose peak RSS
    (``ru_maxrss``) is compared with the data size. Everything (block
    generation included) runs in that one process.
``workers``
    Fit time in the parent vs in worker processes: a ``distributed``
    LocalCluster worker and a joblib (loky) worker that gets X as a read-only
    memory map. A worker's first fit loads the kernels from Numba's disk cache;
    later fits must be as fast as in the parent.

    python benchmarks/dask_scaling.py memory              # 2 GB of float32, ~1-3 min
    python benchmarks/dask_scaling.py memory --rows 2000000 --block-rows 50000
    python benchmarks/dask_scaling.py workers
"""
import argparse
import json
import os
import sys
import time

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import _workloads as wl  # noqa: E402

MEMORY_CHILD = """
import json, os, resource, time
import numpy as np
import dask, dask.array as da
from fastmlp import MLPClassifier
from fastmlp.dask import fit_blocks

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6

rows, block_rows, features, epochs = {rows}, {block_rows}, {features}, {epochs}
X = da.random.default_rng(0).random((rows, features), chunks=(block_rows, features),
                                    dtype=np.float32) - np.float32(0.5)
y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int8)
model = MLPClassifier(hidden_layer_sizes=(32,), batch_size=256, random_state=0)
# load the compiled kernels (from the disk cache) before measuring
model.partial_fit(np.zeros((8, features), np.float32), np.arange(8) % 2, classes=[0, 1])
model = MLPClassifier(hidden_layer_sizes=(32,), batch_size=256, random_state=0)
before = rss_mb()
start = time.perf_counter()
with dask.config.set(scheduler="threads"):
    fit_blocks(model, X, y, epochs=epochs, classes=[0, 1], random_state=0)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
holdout = X[:200_000].compute(), y[:200_000].compute()
print(json.dumps({{
    "data_mb": X.nbytes / 1e6, "block_mb": X.blocks[0].nbytes / 1e6,
    "n_blocks": X.numblocks[0], "epochs": epochs,
    "rss_before_fit_mb": before, "peak_rss_mb": peak, "fit_s": seconds,
    "rows_per_s": rows * epochs / seconds,
    "accuracy_first_200k_rows": float(model.score(*holdout))}}))
"""


def measure_memory(args):
    warm = MEMORY_CHILD.format(rows=20_000, block_rows=10_000, features=args.features,
                               epochs=1)
    wl.run_json(warm)  # compiles into the Numba disk cache if needed
    res = wl.run_json(MEMORY_CHILD.format(rows=args.rows, block_rows=args.block_rows,
                                          features=args.features, epochs=args.epochs),
                      clean_rss=True, timeout=3600)
    res["data_over_peak_rss"] = res["data_mb"] / res["peak_rss_mb"]
    return res


def fit_seconds(X, y, seed):
    """(pid, seconds) of one fit of the benchmark model."""
    import warnings

    from fastmlp import MLPClassifier

    model = MLPClassifier(hidden_layer_sizes=(64,), max_iter=5, random_state=seed)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    return os.getpid(), time.perf_counter() - start


def measure_workers(args):
    from distributed import Client, LocalCluster
    from joblib import Parallel, delayed
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=args.fit_rows, n_features=40, random_state=0)
    fit_seconds(X[:100], y[:100], 0)  # load the kernels in the parent
    parent, dask_worker, loky_worker = [], [], []
    # Fits alternate between the parent and a worker, one at a time, so that the
    # load of a shared machine hits both alike.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None) as cluster:
        with Client(cluster) as client:
            worker = sorted(client.scheduler_info()["workers"])[0]
            X_remote, y_remote = client.scatter([X, y], workers=[worker])
            for seed in range(args.repeat):
                parent.append(fit_seconds(X, y, seed)[1])
                dask_worker.append(client.submit(
                    fit_seconds, X_remote, y_remote, seed, workers=[worker],
                    pure=False).result())
    for seed in range(args.repeat):
        parent.append(fit_seconds(X, y, seed)[1])
        # loky: X over max_nbytes reaches the worker as a read-only memory map
        loky_worker += Parallel(n_jobs=2, max_nbytes="1M")([delayed(fit_seconds)(X, y, seed)])
    result = {"fit_rows": args.fit_rows, "X_mb": X.nbytes / 1e6, "parent_fit_s": parent}
    best = {"parent": min(parent)}
    for name, runs in (("dask_worker", dask_worker), ("loky_worker", loky_worker)):
        per_worker = {}
        for pid, seconds in runs:
            per_worker.setdefault(pid, []).append(seconds)
        result[f"{name}_fit_s"] = list(per_worker.values())
        best[f"{name}_first_fit"] = min(times[0] for times in per_worker.values())
        best[f"{name}_later_fits"] = min(t for times in per_worker.values()
                                         for t in times[1:])
    result["best_s"] = best  # the least disturbed by other load
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["memory", "workers"])
    parser.add_argument("--rows", type=int, default=16_000_000)
    parser.add_argument("--block-rows", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--fit-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=6)
    args = parser.parse_args()
    result = measure_memory(args) if args.what == "memory" else measure_workers(args)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
