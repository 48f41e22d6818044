#!/usr/bin/env python
"""How one mid-size fit scales with threads, and what the scaling costs.

Prints, for this machine:

1. the synchronisation cost of a parallel loop on Numba's threading layer (an
   empty ``prange`` over two pieces, fork and join) at each thread count;
2. for W7's three fits and W13 (seed 0): the fit time at each ``n_jobs``,
   measured in interleaved rounds (a busy phase of a shared machine hits every
   thread count alike), the speed-up over one thread, and the idle-core
   control of W8 (two threads of pure compute over one: about 2 when a second
   core is free);
3. with ``--pieces``, the same fits with ``config.PIECE_MACS`` and
   ``config.PIECE_ROWS`` set so that every batch is cut into each given number
   of pieces (to choose them);
4. the extra memory of the data-parallel scratch for each fit.

Usage::

    python benchmarks/pieces_scaling.py                      # 1 and 2 threads
    python benchmarks/pieces_scaling.py --threads 1 2 4 8 --rounds 5
    python benchmarks/pieces_scaling.py --pieces 2 4 8

More threads than cores need ``NUMBA_NUM_THREADS`` set before the start.
"""

import argparse
import os
import statistics
import sys
import time

import numba
import numpy as np
from numba import njit, prange

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import _workloads as wl  # noqa: E402


@njit(parallel=True, nogil=True)
def _empty_loops(n, out):
    for _ in range(n):
        for p in prange(2):
            out[p] += 1.0


def sync_cost(threads, calls=20_000):
    """Microseconds per parallel loop (fork and join) at ``threads`` threads."""
    numba.set_num_threads(threads)
    out = np.zeros(2)
    _empty_loops(10, out)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        _empty_loops(calls, out)
        best = min(best, time.perf_counter() - t0)
    return best / calls * 1e6


def workloads(epochs):
    """name -> (kind, params, X, y) of W7's fits and W13 (seed 0)."""
    out = {}
    for variant in wl.W7_VARIANTS:
        kind, params = wl.w7_params(variant, epochs)
        Xtr, ytr, _, _ = wl.w7_data(variant)
        out[f"W7 {variant}"] = (kind, params, Xtr, ytr)
    Xtr, ytr, _, _ = wl.w13_data()
    out["W13"] = ("classifier", dict(wl.W13_PARAMS, random_state=0), Xtr, ytr)
    return out


def run_rounds(plans, rounds):
    """name -> list of seconds, round-robin over ``plans`` (name -> fit function)."""
    times = {name: [] for name in plans}
    for _ in range(rounds):
        for name, fit in plans.items():
            t0 = time.perf_counter()
            fit()
            times[name].append(time.perf_counter() - t0)
    return times


def fit_plan(kind, params, X, y, n_coef, defaults, pieces, n_jobs):
    """A function that fits ``params`` with ``n_jobs`` threads, its batches cut
    into ``pieces`` pieces (None: ``defaults``, the saved PIECE_MACS and
    PIECE_ROWS)."""
    import fastmlp

    def fit():
        fastmlp.config.PIECE_MACS, fastmlp.config.PIECE_ROWS = (
            defaults if pieces is None
            else (max(1, params["batch_size"] * n_coef // pieces), 1))
        model = wl.make_estimator("fastmlp", kind, dict(params, n_jobs=n_jobs))
        return wl.quiet_fit(model, X, y)
    return fit


def extra_memory(kind, params, X, y):
    """Bytes of the data-parallel scratch of a fit beyond the serial kernels'."""
    import fastmlp
    from fastmlp.backends import cpu

    model = wl.make_estimator("fastmlp", kind, dict(params, max_iter=1))
    wl.quiet_fit(model, X[:512], y[:512])
    network = model._network
    batch = params["batch_size"]
    n_pieces = fastmlp.config.pieces_of(batch, network.n_coef, X.shape[0])
    if n_pieces == 1:
        return n_pieces, 0
    grad = np.empty_like(network.params)
    pieces = cpu.piece_scratch(network, n_pieces, -(-batch // n_pieces), True, grad)
    serial = cpu.block_scratch(network, batch, True, grad)
    size = lambda bundle: sum(a.nbytes for a in bundle if a is not grad)  # noqa: E731
    return n_pieces, size(pieces) - size(serial)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--pieces", type=int, nargs="*", default=[])
    parser.add_argument("--only", nargs="*", default=[], help="workload names containing")
    args = parser.parse_args(argv)
    import fastmlp
    from fastmlp import threads

    layer = threads.parallel_layer() or "none (serial only)"
    print(f"fastmlp {fastmlp.__version__}, numba {numba.__version__}, layer {layer}, "
          f"{threads.usable_cores()} usable cores, NUMBA_NUM_THREADS "
          f"{numba.config.NUMBA_NUM_THREADS}")
    print("\nparallel loop (fork + join), best of 5 x 20,000:")
    for k in args.threads:
        if k <= numba.config.NUMBA_NUM_THREADS:
            print(f"  {k} threads: {sync_cost(k):.2f} us")
    print(f"\nidle-core control (two threads of pure compute over one): "
          f"{wl.thread_scaling():.2f}x")

    for name, (kind, params, X, y) in workloads(args.epochs).items():
        if args.only and not any(text in name for text in args.only):
            continue
        probe = wl.quiet_fit(wl.make_estimator("fastmlp", kind, dict(params, max_iter=1)),
                             X[:300], y[:300])
        n_coef = probe._network.n_coef
        settings = [(None, k) for k in args.threads]
        if args.pieces:
            settings = [(p, k) for p in args.pieces for k in args.threads]
        saved = fastmlp.config.PIECE_MACS, fastmlp.config.PIECE_ROWS
        plans = {}
        for pieces, k in settings:
            label = f"n_jobs={k}" + ("" if pieces is None else f" pieces={pieces}")
            plans[label] = fit_plan(kind, params, X, y, n_coef, saved, pieces, k)
        for fit in plans.values():  # compile every variant first
            fit()
        times = run_rounds(plans, args.rounds)
        fastmlp.config.PIECE_MACS, fastmlp.config.PIECE_ROWS = saved
        n_pieces, extra = extra_memory(kind, params, X, y)
        print(f"\n{name}: {X.shape[0]:,} x {X.shape[1]}, {params['hidden_layer_sizes']}, "
              f"batch {params['batch_size']}, {n_coef:,} coefficients, "
              f"{n_pieces} pieces by default, extra memory {extra / 1024:.0f} KiB")
        base = statistics.median(next(iter(times.values())))
        for label, ts in times.items():
            median = statistics.median(ts)
            print(f"  {label:>22}: median {median * 1000:7.1f} ms "
                  f"(min {min(ts) * 1000:.1f}, max {max(ts) * 1000:.1f}), "
                  f"speed-up over the first row {base / median:.2f}x")


if __name__ == "__main__":
    main()
