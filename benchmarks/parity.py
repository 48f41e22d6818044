#!/usr/bin/env python
"""Parity table: scikit-learn vs fastmlp at identical hyperparameters.

    python benchmarks/parity.py [--seeds 3]

For load_digits, load_breast_cancer, load_diabetes (standardised target) and
make_friedman1, and for the adam, sgd and lbfgs solvers: mean held-out score
(accuracy or R^2) and mean fit time over the seeds, for both libraries. fastmlp
is fitted once beforehand so its times exclude kernel compilation.
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.preprocessing import StandardScaler

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from fastmlp import MLPClassifier, MLPRegressor  # noqa: E402


def datasets():
    X, y = load_digits(return_X_y=True)
    yield "digits", X / 16.0, y, True
    X, y = load_breast_cancer(return_X_y=True)
    yield "breast_cancer", StandardScaler().fit_transform(X), y, True
    X, y = load_diabetes(return_X_y=True)
    yield "diabetes", StandardScaler().fit_transform(X), (y - y.mean()) / y.std(), False
    X, y = make_friedman1(n_samples=1000, random_state=0)
    yield "friedman1", X, (y - y.mean()) / y.std(), False


def timed_score(estimator, X_train, y_train, X_test, y_test):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        estimator.fit(X_train, y_train)
        seconds = time.perf_counter() - start
    return estimator.score(X_test, y_test), seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    print("| dataset | solver | scikit-learn score | fastmlp score | scikit-learn fit (s) "
          "| fastmlp fit (s) | speed-up |")
    print("|---|---|---|---|---|---|---|")
    for name, X, y, classify in datasets():
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3,
                                                            random_state=0)
        ours, theirs = ((MLPClassifier, SkMLPClassifier) if classify
                        else (MLPRegressor, SkMLPRegressor))
        for solver in ("adam", "sgd", "lbfgs"):
            params = dict(hidden_layer_sizes=(64,), solver=solver, max_iter=300)
            timed_score(ours(**params, random_state=0), X_train, y_train, X_test, y_test)
            rows = {"sk": [], "fm": []}
            for seed in range(args.seeds):
                rows["sk"].append(timed_score(theirs(**params, random_state=seed),
                                              X_train, y_train, X_test, y_test))
                rows["fm"].append(timed_score(ours(**params, random_state=seed),
                                              X_train, y_train, X_test, y_test))
            (sk_score, sk_time), (fm_score, fm_time) = (np.mean(rows[k], axis=0)
                                                        for k in ("sk", "fm"))
            print(f"| {name} | {solver} | {sk_score:.4f} | {fm_score:.4f} | {sk_time:.3f} "
                  f"| {fm_time:.3f} | {sk_time / fm_time:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
