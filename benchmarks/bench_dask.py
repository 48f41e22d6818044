"""Dask: out-of-core training memory and fit time in a cluster worker.

Skipped (``setup`` raises NotImplementedError, asv's skip) unless ``dask`` and
``distributed`` are installed (``pip install "fastmlp[dask]"``). The same
measurements, larger, in ``dask_scaling.py``.

* ``OutOfCore``: ``fastmlp.dask.fit_blocks`` over 1 GB of float32 generated
  lazily by ``dask.array`` (100,000-row blocks, 1 epoch), in a fresh
  subprocess; its peak RSS in MB and the data size over it.
* ``WorkerFit``: a fit (100,000 x 40, (64,), 5 epochs) in a 2-process
  LocalCluster worker that has fitted before, and the same fit here; best of 3.
"""
import os
from argparse import Namespace

from . import _workloads as wl
from . import dask_scaling

ROWS = 8_000_000


def _require_dask():
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as error:
        raise NotImplementedError('needs the dask extra: pip install "fastmlp[dask]"') \
            from error


def _importable_in_workers(client):
    """Put the repository root on the workers' ``sys.path`` so that they can
    import ``benchmarks.dask_scaling`` (asv's own path does not reach them)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(dask_scaling.__file__)))

    def prepend(path):  # a local function: sent by value, not by reference
        import sys

        if path not in sys.path:
            sys.path.insert(0, path)

    client.run(prepend, root)


class OutOfCore:
    timeout = 900

    def setup(self):
        _require_dask()

    def _measure(self):
        args = Namespace(rows=ROWS, block_rows=100_000, features=32, epochs=1)
        return wl.memo(("dask-out-of-core", ROWS), lambda: dask_scaling.measure_memory(args))

    def track_peak_rss_mb(self):
        return self._measure()["peak_rss_mb"]

    track_peak_rss_mb.unit = "MB"

    def track_data_over_peak_rss(self):
        return self._measure()["data_over_peak_rss"]

    track_data_over_peak_rss.unit = "ratio"


class WorkerFit:
    timeout = 300

    def setup(self):
        _require_dask()
        from distributed import Client, LocalCluster
        from sklearn.datasets import make_classification

        self.X, self.y = make_classification(n_samples=100_000, n_features=40,
                                             random_state=0)
        self.cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                    host="127.0.0.1", dashboard_address=None)
        self.client = Client(self.cluster)
        _importable_in_workers(self.client)
        self.worker = sorted(self.client.scheduler_info()["workers"])[0]
        self.remote = self.client.scatter([self.X, self.y], workers=[self.worker])
        self._in_worker(0)  # the worker's first fit loads the kernels
        dask_scaling.fit_seconds(self.X[:100], self.y[:100], 0)

    def teardown(self):
        if hasattr(self, "client"):  # setup skipped: nothing was started
            self.client.close()
            self.cluster.close()

    def _in_worker(self, seed):
        return self.client.submit(dask_scaling.fit_seconds, *self.remote, seed,
                                  workers=[self.worker], pure=False).result()[1]

    def track_fit_in_worker_s(self):
        return min(self._in_worker(seed) for seed in range(3))

    track_fit_in_worker_s.unit = "seconds"

    def track_fit_in_parent_s(self):
        return min(dask_scaling.fit_seconds(self.X, self.y, seed)[1] for seed in range(3))

    track_fit_in_parent_s.unit = "seconds"
