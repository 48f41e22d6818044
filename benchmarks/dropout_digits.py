#!/usr/bin/env python
"""Does dropout curb over-fitting? A small experiment on scikit-learn's digits.

    python benchmarks/dropout_digits.py [--seeds 5] [--epochs 300] [--train-rows 300]
                                        [--dropout 0,0.3,0.5] [--alpha 0] [--split-seed 0]
                                        [--learning-rate 0.001]

``load_digits`` (1,797 8x8 images, inputs scaled by 1/16) is split once,
stratified with a fixed seed (``--split-seed``), into ``--train-rows`` training
rows and the rest held out. A wide network, ``MLPClassifier((256, 256),
solver='adam', batch_size=32, alpha=--alpha)``, trains for exactly ``--epochs``
epochs (``n_iter_no_change=epochs``: no early stop) on the few rows -- enough
to fit them perfectly -- with each dropout rate, for model seeds 0..seeds-1
(``random_state``: initialisation, shuffling and dropout masks). Prints a
markdown table of the held-out accuracy per rate (mean +- std over the seeds,
the paired gain over dropout 0 and the per-seed numbers), training accuracy
and time per fit, then the wall time (progress goes to stderr).
"""
import argparse
import os
import sys
import time
import warnings

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks import _workloads as wl  # noqa: E402


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def digits_split(train_rows, split_seed, dtype="float64"):
    """(X_train, y_train, X_held_out, y_held_out): a stratified split of load_digits / 16."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(dtype)
    return train_test_split(X, y, train_size=train_rows, stratify=y, random_state=split_seed)


def model(dropout, seed, epochs, alpha, learning_rate=0.001):
    wl.ensure_fastmlp_importable()
    from fastmlp import MLPClassifier
    return MLPClassifier(hidden_layer_sizes=(256, 256), solver="adam", alpha=alpha,
                         batch_size=32, max_iter=epochs, n_iter_no_change=epochs,
                         learning_rate_init=learning_rate, dropout=dropout,
                         random_state=seed)


def run(args):
    Xtr, Xte, ytr, yte = digits_split(args.train_rows, args.split_seed)
    # compile (or load from Numba's cache) the kernels of every rate first
    for rate in args.dropout:
        wl.quiet_fit(model(rate, 0, 1, args.alpha, args.learning_rate), Xtr, ytr)
    results = {}  # rate -> list of (seed, held-out acc, train acc, seconds, final loss)
    for rate in args.dropout:
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            clf = wl.quiet_fit(model(rate, seed, args.epochs, args.alpha, args.learning_rate),
                                Xtr, ytr)
            seconds = time.perf_counter() - t0
            held_out, train = clf.score(Xte, yte), clf.score(Xtr, ytr)
            results.setdefault(rate, []).append((seed, held_out, train, seconds, clf.loss_))
            log(f"dropout {rate}, seed {seed}: held-out {held_out:.4f}, train {train:.4f}, "
                f"{clf.n_iter_} epochs, loss {clf.loss_:.4g}, {seconds:.1f} s")
    return results, len(Xtr), len(Xte)


def render(results, args, n_train, n_test, wall):
    base = np.array([r[1] for r in results.get(0.0, [])])
    out = [f"# Dropout on load_digits: {n_train} training rows, {n_test} held out",
           "",
           f"MLPClassifier((256, 256), solver='adam', batch_size=32, alpha={args.alpha}, "
           f"learning_rate_init={args.learning_rate}, "
           f"{args.epochs} epochs (no early stop); stratified split seed {args.split_seed}; "
           f"model seeds 0..{args.seeds - 1}. Mean +- std (ddof=1) over the seeds; gain: "
           "mean of the per-seed differences from dropout 0 (same seed), in points. "
           "Last epoch's loss: the training loss of the last epoch (``loss_``, with units "
           "dropped).",
           "",
           "| dropout | held-out acc | gain vs 0 | per seed | train acc | last epoch's "
           "loss | s / fit |",
           "|---|---|---|---|---|---|---|"]
    for rate, runs in results.items():
        acc = np.array([r[1] for r in runs])
        std = acc.std(ddof=1) if len(acc) > 1 else 0.0
        gain = (f"{(acc - base).mean() * 100:+.2f} pt" if len(base) == len(acc) and rate
                else "")
        per_seed = ", ".join(f"{a:.4f}" for a in acc)
        out.append(f"| {rate} | {acc.mean():.4f} +- {std:.4f} | {gain} | {per_seed} | "
                   f"{np.mean([r[2] for r in runs]):.4f} | "
                   f"{np.mean([r[4] for r in runs]):.3g} | "
                   f"{np.mean([r[3] for r in runs]):.2f} |")
    out += ["", f"Wall time: {wall:.1f} s (compilation / cache load included)."]
    return "\n".join(out)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=5, help="model seeds 0..N-1 (default 5)")
    p.add_argument("--epochs", type=int, default=300, help="epochs per fit (default 300)")
    p.add_argument("--train-rows", type=int, default=300,
                   help="training rows; the rest of the 1,797 are held out (default 300)")
    p.add_argument("--dropout", default="0,0.3,0.5",
                   help="comma-separated dropout rates (default 0,0.3,0.5)")
    p.add_argument("--alpha", type=float, default=0.0, help="L2 penalty (default 0)")
    p.add_argument("--learning-rate", type=float, default=0.001,
                   help="adam's learning_rate_init (default 0.001)")
    p.add_argument("--split-seed", type=int, default=0,
                   help="seed of the stratified train / held-out split (default 0)")
    args = p.parse_args(argv)
    args.dropout = [float(r) for r in args.dropout.split(",") if r.strip()]
    if args.seeds < 1 or args.epochs < 1:
        p.error("--seeds and --epochs must be >= 1")
    if not 10 <= args.train_rows <= 1700:
        p.error("--train-rows must be in [10, 1700]")
    return args


def main(argv=None):
    args = parse_args(argv)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results, n_train, n_test = run(args)
    print(render(results, args, n_train, n_test, time.perf_counter() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
