"""Demo: ``python -m fastmlp`` trains on scikit-learn's digits data set with
fastmlp and with scikit-learn, and prints accuracy and fit time side by side."""

import argparse
import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier

from . import MLPClassifier, __version__


def timed_fit(estimator, X, y):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastmlp", description=__doc__)
    parser.add_argument("--solver", default="adam", choices=["adam", "sgd", "lbfgs"])
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    args = parser.parse_args(argv)

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
    params = dict(hidden_layer_sizes=(100,), solver=args.solver, max_iter=args.max_iter,
                  random_state=0)
    print(f"fastmlp {__version__}: load_digits, {X_train.shape[0]} train / "
          f"{X_test.shape[0]} test rows, MLPClassifier({params})")

    first = timed_fit(MLPClassifier(**params, device=args.device), X_train, y_train)
    print(f"  first fastmlp fit (includes loading or compiling kernels): {first:.2f} s")
    rows = []
    for name, estimator in [("scikit-learn", SklearnMLPClassifier(**params)),
                            ("fastmlp", MLPClassifier(**params, device=args.device))]:
        seconds = timed_fit(estimator, X_train, y_train)
        rows.append((name, estimator.score(X_test, y_test), seconds, estimator.n_iter_))
    print(f"  {'library':<14}{'test accuracy':>14}{'fit time (s)':>14}{'epochs':>8}")
    for name, accuracy, seconds, n_iter in rows:
        print(f"  {name:<14}{accuracy:>14.4f}{seconds:>14.3f}{n_iter:>8}")
    print(f"  speed-up: {rows[0][2] / rows[1][2]:.1f}x")


if __name__ == "__main__":
    main()
