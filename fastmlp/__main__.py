"""Demo: ``python -m fastmlp`` trains MLPClassifier on scikit-learn's digits data
set with fastmlp and with scikit-learn, and prints accuracy and fit time side by
side. ``python -m fastmlp compile`` fills the kernel cache ahead of time (see
``fastmlp.compile_kernels``)."""

import argparse
import os
import sys
import time
import warnings

from . import spec

PROG = "python -m fastmlp"


def blas_line():
    """One line naming the BLAS libraries loaded, who calls them, and their
    thread counts."""
    import scipy.linalg.cython_blas  # noqa: F401  (the BLAS the kernels call)
    from threadpoolctl import threadpool_info

    users = {"scipy": "fastmlp's kernels", "numpy": "NumPy, scikit-learn's MLP"}
    libs = []
    for info in threadpool_info():
        if info.get("user_api") != "blas":
            continue
        folder = os.path.basename(os.path.dirname(info.get("filepath", "")))
        user = next((u for key, u in users.items() if folder.startswith(key)), folder)
        libs.append(f"{info.get('internal_api')} {info.get('version')} for {user} "
                    f"({info.get('threading_layer')}, {info['num_threads']} threads)")
    return "BLAS: " + ("; ".join(libs) or "none found by threadpoolctl")


def default_blas_threads():
    from threadpoolctl import threadpool_info

    return max((i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"),
               default=1)


def timed_fit(make, X, y):
    """(seconds, fitted estimator) of one fit, ConvergenceWarning silenced."""
    from sklearn.exceptions import ConvergenceWarning

    estimator = make()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y)
    return time.perf_counter() - start, estimator


def best_fit(name, make, X, y, repeat, threads):
    """Best time over ``repeat`` fits for each BLAS thread count in ``threads``,
    on one progress line; returns (seconds, threads of the best, estimator)."""
    from threadpoolctl import threadpool_limits

    print(f"  training with {name} ...", end="", flush=True)
    best = (float("inf"), None, None)
    for n in threads:
        for _ in range(repeat):
            with threadpool_limits(n, user_api="blas"):
                seconds, est = timed_fit(make, X, y)
            best = min(best, (seconds, n, est), key=lambda b: b[0])
    print(f" best {best[0]:.3f} s (BLAS {best[1]} thread{'s' * (best[1] > 1)})", flush=True)
    return best


def demo(args):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier

    from . import MLPClassifier, __version__
    from .backends import cuda_available

    if args.device == "cuda" and not cuda_available():
        print(f"{PROG}: error: --device cuda: numba.cuda found no usable NVIDIA GPU; "
              "use --device cpu (or auto)", file=sys.stderr)
        return 2
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
    params = dict(hidden_layer_sizes=(100,), solver=args.solver, max_iter=args.max_iter,
                  random_state=0)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"fastmlp {__version__}: load_digits, {X_train.shape[0]} train / "
          f"{X_test.shape[0]} test rows, MLPClassifier({params}), {cores} usable cores")
    print(blas_line())
    threads = sorted({default_blas_threads(), 1}, reverse=True)
    print(f"Each library: best of {args.repeat} fit(s) with BLAS at "
          + " and at ".join(f"{n} thread{'s' * (n > 1)}" for n in threads)
          + " (the process default first)")

    make_fast = lambda: MLPClassifier(**params, device=args.device)  # noqa: E731
    first, _ = timed_fit(make_fast, X_train, y_train)
    print(f"  first fastmlp fit (includes loading or compiling kernels): {first:.2f} s")
    rows = [("scikit-learn",) + best_fit("scikit-learn",
                                         lambda: SklearnMLPClassifier(**params),
                                         X_train, y_train, args.repeat, threads),
            ("fastmlp",) + best_fit("fastmlp", make_fast, X_train, y_train, args.repeat,
                                    threads)]
    print(f"  {'library':<14}{'test accuracy':>14}{'best fit (s)':>14}{'BLAS threads':>14}"
          f"{'epochs':>8}")
    for name, seconds, n, est in rows:
        print(f"  {name:<14}{est.score(X_test, y_test):>14.4f}{seconds:>14.3f}{n:>14}"
              f"{est.n_iter_:>8}")
    print(f"  speed-up: {rows[0][1] / rows[1][1]:.1f}x (best scikit-learn fit / best "
          "fastmlp fit)")
    return 0


def compile_command(args):
    from . import compile_kernels

    dtypes = ["float32", "float64"] if args.dtype == "both" else [args.dtype]
    print(f"compiling fastmlp kernels for {', '.join(dtypes)}"
          f"{' (dense and sparse input)' if args.sparse else ''} ...", flush=True)
    seconds = compile_kernels(dtypes=dtypes, sparse=args.sparse, verbose=True,
                              progress=args.progress)
    where = os.environ.get("NUMBA_CACHE_DIR") or "__pycache__ next to fastmlp's kernel modules"
    print(f"done in {seconds:.1f} s; cache: {where}")
    return 0


def parser():
    p = argparse.ArgumentParser(prog=PROG, description=__doc__)
    p.add_argument("--solver", default="adam", choices=list(spec.SOLVERS),
                   help="solver of both libraries' models (default: adam)")
    p.add_argument("--max-iter", type=int, default=200,
                   help="epochs (sgd, adam, adamw) or iterations (lbfgs) per fit (default: 200)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"],
                   help="where fastmlp trains: cpu, cuda (an NVIDIA GPU) or auto "
                        "(default: cpu)")
    p.add_argument("--repeat", type=int, default=1,
                   help="timed fits per library and BLAS thread count; the best "
                        "counts (default: 1)")
    sub = p.add_subparsers(dest="command", title="commands")
    c = sub.add_parser("compile", help="fill the kernel cache ahead of time and exit",
                       description="Compile fastmlp's CPU kernels for the common paths "
                                   "and store them in Numba's on-disk cache, so later "
                                   "processes only load them.")
    c.add_argument("--dtype", default="both", choices=["both", "float32", "float64"],
                   help="training dtype(s) to compile for (default: both)")
    c.add_argument("--sparse", action="store_true",
                   help="also compile the paths of scipy sparse input")
    c.add_argument("--progress", action="store_true",
                   help="show live progress on stderr, one step per path compiled "
                        "(a tqdm bar when tqdm is installed)")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if args.command != "compile" and args.repeat < 1:
        parser().error(f"--repeat must be at least 1, got {args.repeat}")
    return compile_command(args) if args.command == "compile" else demo(args)


if __name__ == "__main__":
    sys.exit(main())
