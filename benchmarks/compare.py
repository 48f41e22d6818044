#!/usr/bin/env python
"""Compare fastmlp with scikit-learn (and PyTorch, when importable) on W1-W8
and W10, fastmlp's model file with pickle and skops (W9), fastmlp's
training toolbox (dropout, adamw) with itself and PyTorch (W11), and the
serving latency of predict_proba against onnxruntime, scikit-learn and
PyTorch (W12).

    python benchmarks/compare.py [--quick] [--mnist DIR] [--only W1,W3]
                                 [--dtype float32|float64] [--device cpu|cuda]
                                 [--json PATH]

Prints a markdown table (stdout; progress goes to stderr).  Every library is
warmed up before it is timed (fastmlp: Numba compilation / cache load;
scikit-learn: lazy imports; PyTorch: kernel and thread-pool initialisation),
except in W5, which measures start-up on purpose.  Times are the best of
several runs, the libraries timed in interleaved rounds.

Column "lib / fastmlp" is the library's cost (time, time per sample, or MB)
divided by fastmlp's on the same workload: > 1 means fastmlp is better.
"""
import argparse
import dataclasses
import datetime
import json
import os
import platform
import sys
import tempfile
import traceback

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from benchmarks import _limit  # noqa: E402
from benchmarks import _workloads as wl  # noqa: E402

SIZES = {
    "full": dict(w1_rows=100_000, w1_slow_rows=5_000, w1_torch_rows=2_000, w1_val=2_000,
                 w2_train=8_000, w2_val=2_000, w2_epochs=20,
                 w3_rows=60_000, w3_val=5_000, w6_rows=60_000,
                 w4_fit_rows=2_000, w4_rows=100_000, w9_rows=6_000,
                 w10_rows=20_000, w10_torch_rows=1_000, w10_train=4_000, w10_epochs=3,
                 fit_repeat=3, fast_repeat=7, start_repeat=3, gemm_n=2048,
                 w8_max_iter=100, w8_rounds=5, w7_train=5_000, w7_epochs=50,
                 w11_number_s=0.2, w12_fit_rows=2_000, w12_rounds=7, w12_number=2_000,
                 w13_train=4_000, w13_seeds=6),
    "quick": dict(w1_rows=20_000, w1_slow_rows=1_000, w1_torch_rows=300, w1_val=1_000,
                  w2_train=2_000, w2_val=500, w2_epochs=5,
                  w3_rows=6_000, w3_val=1_000, w6_rows=10_000,
                  w4_fit_rows=1_000, w4_rows=100_000, w9_rows=2_000,
                  w10_rows=5_000, w10_torch_rows=200, w10_train=1_000, w10_epochs=1,
                  fit_repeat=2, fast_repeat=3, start_repeat=2, gemm_n=1024,
                  w8_max_iter=30, w8_rounds=3, w7_train=2_000, w7_epochs=10,
                  w11_number_s=0.05, w12_fit_rows=1_000, w12_rounds=7, w12_number=300,
                  w13_train=1_000, w13_seeds=2),
}
WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9", "W10", "W11", "W12",
             "W13")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Result rows
# --------------------------------------------------------------------------
@dataclasses.dataclass
class Row:
    workload: str
    library: str
    seconds: float = None       # time of the measured operation
    rate: float = None          # throughput, in rate_unit
    rate_unit: str = ""
    memory_mb: float = None
    cost: float = None          # lower is better; basis of `ratio`
    ratio: float = None         # cost / fastmlp's cost on the same workload
    score: float = None
    score_name: str = ""
    targets: list = dataclasses.field(default_factory=list)  # [text, met, detail]
    note: str = ""
    error: str = ""

    def target(self, text, met, detail=""):
        self.targets.append([text, bool(met), detail])


def set_ratios(rows):
    """ratio = cost / cost of the (first) fastmlp row of the same workload."""
    base = next((r.cost for r in rows if r.library.startswith("fastmlp") and r.cost), None)
    for r in rows:
        r.ratio = r.cost / base if (base and r.cost) else None
    return rows


def by_library(rows):
    return {r.library.split("[")[0]: r for r in rows}


def guarded(row, fn, *args):
    """Run ``fn(row, *args)``; an exception is recorded on the row instead of aborting."""
    try:
        fn(row, *args)
    except Exception as exc:  # keep going: one failing library must not hide the rest
        row.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        log(f"!! {row.workload} / {row.library} failed:\n{traceback.format_exc()}")
    return row


def result(results, name):
    """(seconds, value) from ``wl.race``'s output, re-raising a candidate's error."""
    res = results[name]
    if isinstance(res, BaseException):
        raise res
    return res


def attempt(fn, *args, **kwargs):
    """Call ``fn``; return None, or the exception it raised (logged)."""
    try:
        fn(*args, **kwargs)
    except Exception as exc:
        log(f"!! {getattr(fn, '__name__', fn)} failed:\n{traceback.format_exc()}")
        return exc
    return None


def libraries(cfg, with_torch=True):
    libs = ["fastmlp", "sklearn"]
    if with_torch and cfg.torch:
        libs.append("torch")
    return libs


# --------------------------------------------------------------------------
# W1: per-sample SGD
# --------------------------------------------------------------------------
def run_w1(cfg):
    s = cfg.sizes
    X, y = wl.sin_data(s["w1_rows"], cfg.dtype, seed=0)
    Xv, yv = wl.sin_data(s["w1_val"], cfg.dtype, seed=1)
    # steady state: compile fastmlp / the limit, import sklearn, initialise torch
    warm_errors = {lib: attempt(wl.warm_up, lib, "regressor", wl.W1_PARAMS, X, y)
                   for lib in libraries(cfg)}
    warm_errors["limit"] = attempt(_limit.fit, X[:64], y[:64])

    def estimator(lib):
        def fit(n):
            est = wl.make_estimator(lib, "regressor", wl.W1_PARAMS)
            return wl.quiet_fit(est, X[:n], y[:n])
        return fit, lambda m: m.predict(Xv)

    plans = {  # library -> (fit(n) -> model, predict(model) -> y_hat, rows, repeats)
        "fastmlp": (*estimator("fastmlp"), s["w1_rows"], s["fast_repeat"]),
        "limit": (lambda n: _limit.fit(X[:n], y[:n]), lambda p: _limit.predict(p, Xv),
                  s["w1_rows"], s["fast_repeat"]),
        "sklearn": (*estimator("sklearn"), s["w1_slow_rows"], 1),
    }
    if cfg.torch:
        plans["torch"] = (lambda n: wl.torch_fit_sgd_per_sample(X[:n], y[:n]),
                          lambda m: wl.torch_predict(m, Xv), s["w1_torch_rows"], 1)
    results = wl.race({lib: (lambda fit=fit, n=n: fit(n), repeat, 1)
                       for lib, (fit, _, n, repeat) in plans.items()
                       if not warm_errors.get(lib)}, 1)
    results.update({lib: e for lib, e in warm_errors.items() if e})

    rows = []
    for lib, (_, predict, n, _) in plans.items():
        def body(row, lib=lib, predict=predict, n=n):
            row.seconds, model = result(results, lib)
            row.rate, row.rate_unit = n / row.seconds, "samples/s"
            row.cost = row.seconds / n
            row.score, row.score_name = wl.r2(yv, predict(model)), "R2"
            row.note = f"1 epoch of {n:,} rows"
        label = "limit (fused njit loop)" if lib == "limit" else lib
        rows.append(guarded(Row("W1 per-sample SGD", label), body))
    set_ratios(rows)
    r = by_library(rows)
    if "sklearn" in r and r["sklearn"].ratio:
        r["sklearn"].target(">=300x sklearn samples/s", r["sklearn"].ratio >= 300,
                            f"{r['sklearn'].ratio:.0f}x")
    if "torch" in r and r["torch"].ratio:
        r["torch"].target(">=1000x torch batch-1 loop", r["torch"].ratio >= 1000,
                          f"{r['torch'].ratio:.0f}x")
    lim = r.get("limit (fused njit loop)")
    if lim and lim.ratio:
        lim.target("fastmlp within 1.5x of the limit", 1 / lim.ratio <= 1.5,
                   f"fastmlp takes {1 / lim.ratio:.2f}x the limit's time")
    return rows


# --------------------------------------------------------------------------
# W10: the activations beyond scikit-learn's, against PyTorch's CPU loop
# --------------------------------------------------------------------------
NEW_ACTIVATIONS = ("elu", "leaky_relu", "gelu", "softplus", "silu")


def run_w10(cfg):
    """Each new activation at batch size 1 (W1's 1-32-1 regressor, sgd) and at
    batch 200 (W2's classifier, adam), fastmlp against the same PyTorch loop;
    throughput in samples/s, so the two may train on different row counts."""
    if not cfg.torch:
        cfg.notes.append("W10: PyTorch not installed, nothing to compare against")
        return []
    s = cfg.sizes
    X1, y1 = wl.sin_data(s["w10_rows"], cfg.dtype, seed=0)
    Xtr, ytr, _, _, _ = wl.w2_data(cfg.dtype, cfg.mnist, s["w10_train"], 10)
    rows = []
    for act in NEW_ACTIVATIONS:
        rows += run_w10_activation(cfg, act, X1, y1, Xtr, ytr)
    return rows


def run_w10_activation(cfg, act, X1, y1, Xtr, ytr):
    """W10's rows for one activation: batch 1 and batch 200, fastmlp and torch."""
    s = cfg.sizes
    epochs = s["w10_epochs"]
    w1 = dict(wl.W1_PARAMS, activation=act, init="he_normal")
    w2 = dict(wl.W2_PARAMS, activation=act, init="he_normal", max_iter=epochs)
    cases = {  # label -> {library: (fit, rows trained)}
        "W10 batch 1": {
            "fastmlp": (lambda: wl.quiet_fit(
                wl.make_estimator("fastmlp", "regressor", w1), X1, y1), len(X1)),
            "torch": (lambda: wl.torch_fit_sgd_per_sample(
                X1[:s["w10_torch_rows"]], y1[:s["w10_torch_rows"]], activation=act),
                s["w10_torch_rows"])},
        "W10 batch 200": {
            "fastmlp": (lambda: wl.quiet_fit(
                wl.make_estimator("fastmlp", "classifier", w2), Xtr, ytr),
                len(Xtr) * epochs),
            "torch": (lambda: wl.torch_fit_minibatch(
                Xtr, ytr, w2["hidden_layer_sizes"], 200, epochs, activation=act),
                len(Xtr) * epochs)},
    }
    attempt(wl.warm_up, "fastmlp", "regressor", w1, X1, y1)
    attempt(wl.warm_up, "fastmlp", "classifier", w2, Xtr, ytr)

    def body(row, results, lib, n):
        row.seconds, _ = result(results, lib)
        row.rate, row.rate_unit = n / row.seconds, "samples/s"
        row.cost = row.seconds / n
        row.note = f"{act}, {n:,} samples"

    rows = []
    for label, plans in cases.items():
        results = wl.race({lib: (fit, cfg.sizes["fit_repeat"], 1)
                           for lib, (fit, _) in plans.items()}, 1)
        group = [guarded(Row(f"{label} {act}", lib), body, results, lib, n)
                 for lib, (_, n) in plans.items()]
        set_ratios(group)
        torch_row = by_library(group).get("torch")
        if torch_row and torch_row.ratio:
            need = 5 if label.endswith("batch 1") else 1
            torch_row.target(f">={need}x torch samples/s", torch_row.ratio >= need,
                             f"{torch_row.ratio:.1f}x")
        rows += group
    return rows


# --------------------------------------------------------------------------
# W2 / W3: mini-batch Adam
# --------------------------------------------------------------------------
def fastmlp_device(cfg):
    return "cuda" if cfg.device == "cuda" and cfg.cuda_ok else None


def minibatch_rows(cfg, label, params, Xtr, ytr, Xva, yva, flops_per_epoch=None, extra=None):
    """Fit each library (best of fit_repeat, interleaved with the ``extra``
    race candidates), validation accuracy, optional GFLOP/s.
    Returns (rows, race results)."""
    device = fastmlp_device(cfg)
    epochs = params["max_iter"]
    warm_errors = {lib: attempt(wl.warm_up, lib, "classifier", params, Xtr, ytr,
                                device=device if lib == "fastmlp" else None)
                   for lib in libraries(cfg)}
    fits = {}
    for lib in libraries(cfg):
        if lib == "torch":
            fits[lib] = lambda: wl.torch_fit_minibatch(Xtr, ytr, params["hidden_layer_sizes"],
                                                       params["batch_size"], epochs)
        else:
            fits[lib] = lambda lib=lib: wl.quiet_fit(wl.make_estimator(
                lib, "classifier", params, device if lib == "fastmlp" else None), Xtr, ytr)
    candidates = {k: v for k, v in fits.items() if not warm_errors[k]}
    results = wl.race({**candidates, **(extra or {})}, cfg.sizes["fit_repeat"])
    results.update({k: e for k, e in warm_errors.items() if e})

    rows = []
    for lib in fits:
        def body(row, lib=lib):
            row.seconds, model = result(results, lib)
            row.cost = row.seconds
            if lib == "torch":
                pred = wl.torch_predict(model, Xva).argmax(axis=1)
            else:
                pred = model.predict(Xva)
            done = getattr(model, "n_iter_", epochs)
            if flops_per_epoch:
                row.rate, row.rate_unit = flops_per_epoch * done / row.seconds / 1e9, "GFLOP/s"
            else:
                row.rate, row.rate_unit = len(Xtr) * done / row.seconds, "samples/s"
            row.score, row.score_name = wl.accuracy(yva, pred), "val acc"
            row.note = f"{done} epochs, best of {cfg.sizes['fit_repeat']}"
        name = f"fastmlp[{device}]" if (lib == "fastmlp" and device) else lib
        rows.append(guarded(Row(label, name), body))
    return set_ratios(rows), results


def run_w2(cfg):
    s = cfg.sizes
    params = dict(wl.W2_PARAMS, max_iter=s["w2_epochs"])
    Xtr, ytr, Xva, yva, source = wl.w2_data(cfg.dtype, cfg.mnist, s["w2_train"], s["w2_val"])
    cfg.notes.append(f"W2 data: {source}")
    rows, _ = minibatch_rows(cfg, "W2 mini-batch adam", params, Xtr, ytr, Xva, yva)
    r = by_library(rows)
    fm, sk = r.get("fastmlp"), r.get("sklearn")
    if fm and sk and sk.ratio and fm.score is not None and sk.score is not None:
        sk.target("fit >=1.5x faster than sklearn", sk.ratio >= 1.5, f"{sk.ratio:.2f}x")
        gap = abs(fm.score - sk.score) * 100
        sk.target("accuracy within 0.5 pt", gap <= 0.5, f"|diff| {gap:.2f} pt")
    return rows


def run_w3(cfg):
    s = cfg.sizes
    params = wl.W3_PARAMS
    Xtr, ytr, Xva, yva = wl.w3_data(s["w3_rows"], s["w3_val"], cfg.dtype)
    flops = wl.mlp_flops(len(Xtr), Xtr.shape[1], params["hidden_layer_sizes"], 10)
    # The GEMM yardstick is timed in the same rounds as the fits (3 calls per
    # round, best round) so both see the same phase of a shared machine.
    A, B, gemm_flops = wl.gemm_operands(cfg.dtype, s["gemm_n"])
    np.dot(A, B)
    rows, results = minibatch_rows(cfg, "W3 large adam", params, Xtr, ytr, Xva, yva, flops,
                                   extra={"gemm": (lambda: np.dot(A, B), s["fit_repeat"], 3)})
    gemm = Row("W3 large adam", f"numpy {'s' if cfg.dtype == 'float32' else 'd'}gemm")

    def gemm_body(row):
        row.rate, row.rate_unit = gemm_flops / result(results, "gemm")[0] / 1e9, "GFLOP/s"
        row.note = (f"np.dot {s['gemm_n']}x{s['gemm_n']}, 3 calls per round, "
                    "interleaved with the fits")
    guarded(gemm, gemm_body)
    r = by_library(rows)
    fm, sk = r.get("fastmlp"), r.get("sklearn")
    if sk and sk.ratio:
        sk.target("fit >=1.8x faster than sklearn", sk.ratio >= 1.8, f"{sk.ratio:.2f}x")
    if fm and fm.rate and gemm.rate:
        frac = fm.rate / gemm.rate
        fm.target(">=70% of gemm GFLOP/s", frac >= 0.7, f"{frac:.0%}")
    return rows + [gemm]


# --------------------------------------------------------------------------
# W7: mid-size tabular fits (float64 unless --dtype says otherwise)
# --------------------------------------------------------------------------
def run_w7(cfg):
    dtype = cfg.dtype if cfg.dtype_given else "float64"
    rows = []
    for variant in wl.W7_VARIANTS:
        rows += run_w7_variant(cfg, variant, dtype)
    return rows


def run_w7_variant(cfg, variant, dtype):
    """W7's rows for one variant: fastmlp and sklearn fits, timed and scored."""
    s = cfg.sizes
    kind, params = wl.w7_params(variant, s["w7_epochs"])
    Xtr, ytr, Xva, yva = wl.w7_data(variant, s["w7_train"], dtype=dtype)
    # the default fit (every free core) and, where fastmlp has n_jobs, the same fit
    # on one thread: raced round-robin with scikit-learn's, the one-thread fit right
    # after scikit-learn's (whose BLAS threads spin for a while after its last
    # product and would take a core from a two-thread fit that followed)
    setups = {"fastmlp": ("fastmlp", params), "sklearn": ("sklearn", params)}
    if wl.has_n_jobs():
        setups[ONE_THREAD] = ("fastmlp", dict(params, n_jobs=1))
    warm_errors = {name: attempt(wl.warm_up, lib, kind, p, Xtr, ytr)
                   for name, (lib, p) in setups.items()}
    fits = {name: (lambda lib=lib, p=p: wl.quiet_fit(wl.make_estimator(lib, kind, p), Xtr, ytr))
            for name, (lib, p) in setups.items() if not warm_errors[name]}
    results = wl.race(fits, s["fit_repeat"])
    results.update({name: e for name, e in warm_errors.items() if e})
    control = wl.thread_scaling() if ONE_THREAD in setups else None

    def body(row, lib):
        row.seconds, model = result(results, lib)
        row.cost = row.seconds
        row.rate, row.rate_unit = len(Xtr) * model.n_iter_ / row.seconds, "samples/s"
        if kind == "classifier":
            row.score, row.score_name = wl.accuracy(yva, model.predict(Xva)), "val acc"
        else:
            row.score, row.score_name = wl.r2(yva, model.predict(Xva)), "val R2"
        row.note = (f"{len(Xtr):,} x {Xtr.shape[1]} {dtype}, {model.n_iter_} epochs, "
                    f"best of {s['fit_repeat']}")
        if lib == ONE_THREAD:
            row.note += f"; two-thread scaling of pure compute on this machine: {control:.2f}x"

    group = set_ratios([guarded(Row(f"W7 {variant}", lib), body, lib) for lib in warm_errors])
    one = by_library(group).get(ONE_THREAD)
    if one is not None and one.ratio:
        one.target(">=1.6x slower than the default fit (2 cores, idle)", one.ratio >= 1.6,
                   f"{one.ratio:.2f}x")
    return speed_and_score_targets(group, 4, ">=4x faster than sklearn")


ONE_THREAD = "fastmlp n_jobs=1"
"""W7's row of the fastmlp fit on one thread (``n_jobs=1``)."""


def speed_and_score_targets(group, speed_up, text):
    """The mid-size fits' targets on the sklearn row: at least ``speed_up`` times
    faster than scikit-learn, and a score within 0.5 point of its score."""
    r = by_library(group)
    fm, sk = r.get("fastmlp"), r.get("sklearn")
    if sk and sk.ratio:
        sk.target(text, sk.ratio >= speed_up, f"{sk.ratio:.2f}x")
    if fm and sk and fm.score is not None and sk.score is not None:
        gap = abs(fm.score - sk.score) * 100
        sk.target("score within 0.5 pt", gap <= 0.5, f"|diff| {gap:.2f} pt")
    return group


# --------------------------------------------------------------------------
# W13: one everyday mid-size fit, seed by seed
# --------------------------------------------------------------------------
def run_w13(cfg):
    """W13's rows: per library the median fit time over the seeds and the mean
    test accuracy; each seed's two fits run back to back (the first library
    alternating), and the note gives the spread of scikit-learn's time over
    fastmlp's seed by seed."""
    s = cfg.sizes
    dtype = cfg.dtype if cfg.dtype_given else "float64"
    Xtr, ytr, Xte, yte = wl.w13_data(s["w13_train"], dtype=dtype)
    libraries = ("fastmlp", "sklearn")
    errors = {lib: attempt(wl.warm_up, lib, "classifier", wl.W13_PARAMS, Xtr, ytr)
              for lib in libraries}
    fits = {lib: [] for lib in libraries if not errors[lib]}  # (seconds, accuracy, epochs)
    for seed in range(s["w13_seeds"]):
        for lib in (list(fits) if seed % 2 == 0 else list(fits)[::-1]):
            est = wl.make_estimator(lib, "classifier", dict(wl.W13_PARAMS, random_state=seed))
            seconds, _ = wl.measure(lambda est=est: wl.quiet_fit(est, Xtr, ytr), 1, 1)
            fits[lib].append((seconds, wl.accuracy(yte, est.predict(Xte)), est.n_iter_))
    per_seed = ([sk[0] / fm[0] for fm, sk in zip(fits["fastmlp"], fits["sklearn"], strict=True)]
                if len(fits) == 2 else [])

    def body(row, lib):
        if errors[lib]:
            raise errors[lib]
        seconds, scores, epochs = (np.array(v) for v in zip(*fits[lib], strict=True))
        row.seconds = row.cost = float(np.median(seconds))
        row.rate, row.rate_unit = len(Xtr) * float(np.median(epochs)) / row.seconds, "samples/s"
        row.score, row.score_name = float(np.mean(scores)), "test acc"
        row.note = (f"{len(Xtr):,} x {Xtr.shape[1]} {dtype}, median of {len(seconds)} seeds, "
                    f"{int(epochs.min())}-{int(epochs.max())} epochs")
        if lib == "sklearn" and per_seed:
            row.note += (f"; per seed sklearn/fastmlp {min(per_seed):.2f}-{max(per_seed):.2f}x, "
                         f"median {np.median(per_seed):.2f}x")

    group = set_ratios([guarded(Row("W13 everyday fit (100, 100)", lib), body, lib)
                        for lib in libraries])
    return speed_and_score_targets(group, 4, ">=4x faster than sklearn (median)")


# --------------------------------------------------------------------------
# W4: prediction latency / throughput
# --------------------------------------------------------------------------
def run_w4(cfg):
    s = cfg.sizes
    X, y, X_big = wl.w4_data(cfg.dtype, s["w4_fit_rows"], s["w4_rows"])
    one = X[:1].copy()
    models, failed = {}, {}
    for lib in ("fastmlp", "sklearn"):
        try:  # fit, then warm up (compile) both predict paths
            models[lib] = wl.quiet_fit(wl.make_estimator(lib, "classifier", wl.W4_PARAMS), X, y)
            models[lib].predict(X_big[:10])
            models[lib].predict_proba(one)
        except Exception as exc:
            failed[lib] = exc
            log(f"!! W4 {lib} fit failed:\n{traceback.format_exc()}")
    if cfg.torch and "sklearn" in models:
        models["torch"] = wl.torch_from_estimator(models["sklearn"])

    def predict_torch(X_):
        return wl.torch_predict(models["torch"], X_).argmax(axis=1)
    calls = {  # library -> (predict_proba on one row, predict on many rows)
        lib: (lambda X_, lib=lib: models[lib].predict_proba(X_),
              lambda X_, lib=lib: models[lib].predict(X_)) for lib in ("fastmlp", "sklearn")}
    calls["torch"] = (lambda X_: wl.torch_predict(models["torch"], X_, proba=True), predict_torch)
    libs = [lib for lib in libraries(cfg) if lib not in failed or lib == "torch"]
    libs = [lib for lib in libs if lib in models]
    numbers = {lib: wl.autorange_number(lambda p=calls[lib][0]: p(one), 0.05) for lib in libs}
    one_res = wl.race({lib: (lambda p=calls[lib][0]: p(one), s["fast_repeat"], numbers[lib])
                       for lib in libs}, 1)
    big_res = wl.race({lib: (lambda p=calls[lib][1]: p(X_big), s["fast_repeat"], 1)
                       for lib in libs}, 1)
    one_rows, big_rows = [], []
    for lib in libraries(cfg):
        def body_one(row, lib=lib):
            if lib not in models:
                raise failed.get(lib) or RuntimeError("no fitted model")
            row.seconds, _ = result(one_res, lib)
            row.cost, row.rate, row.rate_unit = row.seconds, 1 / row.seconds, "calls/s"
            row.note = f"best of {s['fast_repeat']} x {numbers[lib]} calls"

        def body_big(row, lib=lib):
            if lib not in models:
                raise failed.get(lib) or RuntimeError("no fitted model")
            row.seconds, _ = result(big_res, lib)
            row.cost, row.rate, row.rate_unit = row.seconds, len(X_big) / row.seconds, "rows/s"
            row.score, row.score_name = wl.accuracy(y, calls[lib][1](X)), "train acc"
            row.note = "torch: sklearn's fitted weights" if lib == "torch" else ""

        one_rows.append(guarded(Row("W4 predict_proba 1 row", lib), body_one))
        big_rows.append(guarded(Row(f"W4 predict {len(X_big):,} rows", lib), body_big))
    set_ratios(one_rows)
    set_ratios(big_rows)
    for rows, factor in ((one_rows, 10), (big_rows, 1.5)):
        sk = by_library(rows).get("sklearn")
        if sk and sk.ratio:
            sk.target(f">={factor}x faster than sklearn", sk.ratio >= factor, f"{sk.ratio:.1f}x")
    return one_rows + big_rows


# --------------------------------------------------------------------------
# W5: start-up in a fresh interpreter
# --------------------------------------------------------------------------
def run_w5(cfg):
    repeat = cfg.sizes["start_repeat"]
    scripts = {lib: wl.startup_script(lib, cfg.dtype) for lib in ("fastmlp", "sklearn")}
    with tempfile.TemporaryDirectory(prefix="fastmlp-w5-warm-") as cache:
        runs = {lib: (lambda code=code: wl.run_python(code, cache))
                for lib, code in scripts.items()}
        results = wl.race(runs, 1)  # untimed: populates Numba's cache (and the OS file cache)
        ok = [lib for lib in runs if not isinstance(results[lib], BaseException)]
        results.update(wl.race({lib: runs[lib] for lib in ok}, repeat))

    def warm(row):
        row.seconds, (_, out) = result(results, row.library)
        row.cost = row.seconds
        row.score, row.score_name = float(out.split()[-1]), "train acc"
        row.note = f"best of {repeat}, after one run that populated the Numba cache"
    warm_rows = [guarded(Row("W5 start-up, warm cache", lib), warm) for lib in scripts]
    cold_rows = []

    def cold(row):
        with tempfile.TemporaryDirectory(prefix="fastmlp-w5-cold-") as cache:
            row.seconds, out = wl.run_python(wl.startup_script("fastmlp", cfg.dtype), cache)
        row.cost = row.seconds
        row.score, row.score_name = float(out.split()[-1]), "train acc"
        row.note = "fresh NUMBA_CACHE_DIR"
        row.target("cold start <=15 s", row.seconds <= 15, f"{row.seconds:.1f} s")
    cold_rows.append(guarded(Row("W5 start-up, cold cache", "fastmlp"), cold))
    set_ratios(warm_rows)
    sk = by_library(warm_rows).get("sklearn")
    if sk and sk.ratio:
        sk.target("fastmlp <=1.3x sklearn's time", 1 / sk.ratio <= 1.3,
                  f"fastmlp/sklearn = {1 / sk.ratio:.2f}")
    return warm_rows + cold_rows


# --------------------------------------------------------------------------
# W6: peak RSS of a W3 fit, fresh subprocess per library
# --------------------------------------------------------------------------
def run_w6(cfg):
    n_rows = cfg.sizes["w6_rows"]
    rows = []
    for lib in libraries(cfg):
        def body(row, lib=lib):
            with tempfile.TemporaryDirectory(prefix="fastmlp-w6-") as cache:
                if lib == "fastmlp":  # compile into the cache first: LLVM is not the fit
                    wl.run_json(wl.memory_script(lib, cfg.dtype, n_rows, True), cache)
                res = wl.run_json(wl.memory_script(lib, cfg.dtype, n_rows), cache,
                                  clean_rss=True)
            row.memory_mb = row.cost = res["peak_rss_mb"]
            row.seconds = res["fit_s"]
            row.note = (f"{n_rows:,} rows; before fit {res['rss_before_fit_mb']:.0f} MB, "
                        f"X {res['data_mb']:.0f} MB")
        rows.append(guarded(Row("W6 peak RSS, W3 fit", lib), body))
    set_ratios(rows)
    sk = by_library(rows).get("sklearn")
    if sk and sk.ratio:
        sk.target("fastmlp peak RSS <= sklearn's", sk.ratio >= 1,
                  f"fastmlp/sklearn = {1 / sk.ratio:.2f}")
    return rows


# --------------------------------------------------------------------------
# W8: GridSearchCV in two threads against the same search one fit after another
# --------------------------------------------------------------------------
def run_w8(cfg):
    s = cfg.sizes
    rounds, max_iter = s["w8_rounds"], s["w8_max_iter"]
    wl.w8_search(cfg.dtype, 2)  # compile / load the kernels
    seq, thr, control, same = [], [], [], True
    for r in range(rounds):  # interleaved, so a busy phase hits both alike
        t_seq, scores_seq = wl.w8_search(cfg.dtype, max_iter)
        t_thr, scores_thr = wl.w8_search(cfg.dtype, max_iter, n_jobs=2)
        seq.append(t_seq)
        thr.append(t_thr)
        control.append(wl.thread_scaling())
        same = same and np.array_equal(scores_seq, scores_thr)
        log(f"   round {r + 1}/{rounds}: sequential {t_seq:.2f} s, threaded {t_thr:.2f} s, "
            f"two-thread control {control[-1]:.2f}x")
    times = lambda ts: ", ".join(f"{t:.2f}" for t in ts)  # noqa: E731
    fit = f"load_digits, (64,), max_iter={max_iter}, alpha x4, cv=3"
    seq_row = Row("W8 threaded search", "fastmlp sequential", seconds=min(seq), cost=min(seq),
                  note=f"{fit}; {rounds} rounds (s): {times(seq)}")
    thr_row = Row("W8 threaded search", "fastmlp threading n_jobs=2", seconds=min(thr),
                  cost=min(thr), note=f"rounds (s): {times(thr)}; same cv_results_ scores: "
                  f"{same}; two-thread scaling of pure compute on this machine: "
                  f"{times(control)}x")
    faster = sum(t < q for t, q in zip(thr, seq, strict=True))
    thr_row.target(f"faster than sequential in each of {rounds} rounds", faster == rounds,
                   f"{faster}/{rounds}")
    thr_row.target("slowest within 1.5x of the fastest", max(thr) <= 1.5 * min(thr),
                   f"{max(thr) / min(thr):.2f}x")
    thr_row.target("same cv_results_ scores", same)
    set_ratios([thr_row, seq_row])  # sequential row: its time over the threaded one's
    return [seq_row, thr_row]



# --------------------------------------------------------------------------
# W9: model files of the W3 model; ONNX serving
# --------------------------------------------------------------------------
def run_w9(cfg):
    s = cfg.sizes
    model, one = wl.w9_model(cfg.dtype, s["w9_rows"])
    formats = [f for f in wl.FILE_FORMATS if f != "skops" or wl.skops_available()]
    if "skops" not in formats:
        cfg.notes.append("W9: skops not installed (pip install 'fastmlp[export]'), its row "
                         "is skipped")
    rows, sizes, plans = [], {}, {}
    with tempfile.TemporaryDirectory(prefix="fastmlp-w7-") as folder:
        for fmt in formats:
            save, load = wl.file_format(fmt, model)
            path = os.path.join(folder, fmt)
            save(path)
            sizes[fmt] = os.path.getsize(path)
            plans[f"{fmt} save"] = (lambda save=save, path=path: save(path), s["fast_repeat"], 5)
            plans[f"{fmt} load"] = (lambda load=load, path=path: load(path), s["fast_repeat"], 5)
        results = wl.race(plans, 1)
    for fmt in formats:
        def body(row, fmt=fmt):
            saving, loading = (result(results, f"{fmt} {op}")[0] for op in ("save", "load"))
            row.seconds = row.cost = saving + loading
            row.note = (f"{sizes[fmt] / 1e6:.3f} MB ({sizes[fmt]:,} bytes); save "
                        f"{fmt_seconds(saving)}, load {fmt_seconds(loading)}; best of "
                        f"{s['fast_repeat']} x 5")
        rows.append(guarded(Row("W9 save + load (W3 model)", fmt), body))
    set_ratios(rows)
    pk = by_library(rows).get("pickle")
    if pk and not pk.error and "fastmlp" in sizes:
        size_ratio = sizes["fastmlp"] / sizes["pickle"]
        pk.target("fastmlp file <= pickle's", size_ratio <= 1,
                  f"fastmlp/pickle = {size_ratio:.4f}")
        load_ratio = result(results, "fastmlp load")[0] / result(results, "pickle load")[0]
        pk.target("fastmlp load <= 2x pickle's", load_ratio <= 2,
                  f"fastmlp/pickle = {load_ratio:.2f}")
    return rows + run_w9_onnx(cfg, model, one)


def run_w9_onnx(cfg, model, one):
    """One-row predict_proba: fastmlp in-process against onnxruntime (informational)."""
    calls = {"fastmlp": model.predict_proba}
    if wl.onnx_available():
        calls["onnxruntime"] = wl.onnx_predict_proba(model)
    else:
        cfg.notes.append("W9: skl2onnx / onnxruntime not installed, the onnxruntime row "
                         "is skipped")
    for proba in calls.values():
        proba(one)
    numbers = {name: wl.autorange_number(lambda p=p: p(one), 0.05) for name, p in calls.items()}
    results = wl.race({name: (lambda p=p: p(one), cfg.sizes["fast_repeat"], numbers[name])
                       for name, p in calls.items()}, 1)
    rows = []
    for name in calls:
        def body(row, name=name):
            row.seconds, _ = result(results, name)
            row.cost, row.rate, row.rate_unit = row.seconds, 1 / row.seconds, "calls/s"
            row.note = (f"best of {cfg.sizes['fast_repeat']} x {numbers[name]} calls"
                        + ("; one intra-op thread" if name == "onnxruntime" else ""))
        rows.append(guarded(Row("W9 predict_proba 1 row (W3 model)", name), body))
    return set_ratios(rows)


# --------------------------------------------------------------------------
# W11: training toolbox -- dropout and adamw, against fastmlp without them and PyTorch
# --------------------------------------------------------------------------
def run_w11(cfg):
    """The cost of dropout (rate ``wl.W11_DROPOUT``) against the same fastmlp fit
    without it -- on W2's network at batch 200, W1's at batch size 1 and W7's
    three fits -- and dropout and solver='adamw' against PyTorch's nn.Dropout and
    optim.AdamW on W2's network. Every fit runs all its epochs
    (``n_iter_no_change=max_iter``), as PyTorch's loop does."""
    rows = run_w11_minibatch(cfg)
    rows += run_w11_per_sample(cfg)
    dtype = cfg.dtype if cfg.dtype_given else "float64"
    for variant in wl.W7_VARIANTS:
        rows += run_w11_midsize(cfg, variant, dtype)
    return rows


def w11_body(results, name, kind, Xtr, Xva, yva, note, per_sample=False, epochs=None):
    """``guarded`` body of a W11 row: the fit's time, samples/s and validation
    score; ``per_sample``: cost per training sample (W1's convention). A PyTorch
    model (no ``n_iter_``) ran ``epochs`` epochs."""
    def body(row):
        row.seconds, model = result(results, name)
        torch_model = not hasattr(model, "n_iter_")
        epochs_run = epochs if torch_model else model.n_iter_
        row.cost = row.seconds / len(Xtr) if per_sample else row.seconds
        row.rate, row.rate_unit = len(Xtr) * epochs_run / row.seconds, "samples/s"
        if torch_model:
            row.score, row.score_name = wl.accuracy(
                yva, wl.torch_predict(model, Xva).argmax(axis=1)), "val acc"
        elif kind == "classifier":
            row.score, row.score_name = wl.accuracy(yva, model.predict(Xva)), "val acc"
        else:
            row.score, row.score_name = wl.r2(yva, model.predict(Xva)), "val R2"
        row.note = note
    return body


def w11_dropout_target(rows, limit):
    """On the dropout row (the group's first, its ratio base): its time over the
    fastmlp row without dropout (the group's second) <= ``limit``."""
    drop, plain = rows[0], rows[1]
    if drop.cost and plain.cost:
        ratio = drop.cost / plain.cost
        drop.target(f"fit <={limit}x fastmlp without dropout", ratio <= limit, f"{ratio:.2f}x")


def run_w11_minibatch(cfg):
    """W2's data and network: fastmlp without dropout, with dropout, with adamw,
    and PyTorch with nn.Dropout and with AdamW, all timed in the same rounds."""
    s = cfg.sizes
    rate, epochs = wl.W11_DROPOUT, s["w2_epochs"]
    Xtr, ytr, Xva, yva, source = wl.w2_data(cfg.dtype, cfg.mnist, s["w2_train"], s["w2_val"])
    cfg.notes.append(f"W11 batch 200 data (W2's): {source}")
    plain = dict(wl.W2_PARAMS, max_iter=epochs, n_iter_no_change=epochs)
    dropout = dict(plain, dropout=rate)
    adamw = dict(plain, solver="adamw", alpha=wl.W11_ADAMW_ALPHA)
    candidates = {  # name -> (library, parameters, row label)
        "fastmlp dropout": ("fastmlp", dropout, f"fastmlp dropout={rate}"),
        "fastmlp": ("fastmlp", plain, "fastmlp, no dropout"),
        "torch dropout": ("torch", dropout, f"torch nn.Dropout({rate})"),
        "fastmlp adamw": ("fastmlp", adamw,
                          f"fastmlp solver='adamw', alpha={wl.W11_ADAMW_ALPHA}"),
        "torch adamw": ("torch", adamw, f"torch optim.AdamW, weight_decay="
                        f"{wl.W11_ADAMW_ALPHA}"),
    }
    if not cfg.torch:
        candidates = {k: v for k, v in candidates.items() if v[0] != "torch"}
        cfg.notes.append("W11: PyTorch not installed, its nn.Dropout / AdamW rows are skipped")
    warm_errors = {name: attempt(wl.warm_up, lib, "classifier", params, Xtr, ytr)
                   for name, (lib, params, _) in candidates.items()}

    def fit(lib, params):
        if lib == "torch":
            return lambda: wl.torch_fit_minibatch(
                Xtr, ytr, params["hidden_layer_sizes"], params["batch_size"], epochs,
                alpha=params.get("alpha", wl.ALPHA), dropout=params.get("dropout", 0.0),
                optimizer=wl.torch_optimizer(params))
        return lambda: wl.quiet_fit(wl.make_estimator(lib, "classifier", params), Xtr, ytr)
    results = wl.race({name: fit(lib, params) for name, (lib, params, _) in candidates.items()
                       if not warm_errors[name]}, s["fit_repeat"])
    results.update({name: e for name, e in warm_errors.items() if e})

    groups = {"W11 dropout, batch 200 (W2 net)": ("fastmlp dropout", "fastmlp",
                                                  "torch dropout"),
              "W11 adamw, batch 200 (W2 net)": ("fastmlp adamw", "torch adamw")}
    rows = []
    for label, names in groups.items():
        base = candidates[names[0]][2]
        group = [guarded(Row(label, candidates[name][2]),
                         w11_body(results, name, "classifier", Xtr, Xva, yva,
                                  f"{epochs} epochs, best of {s['fit_repeat']}"
                                  + ("" if i == 0 else f"; ratio: over {base}"),
                                  epochs=epochs))
                 for i, name in enumerate(names) if name in candidates]
        set_ratios(group)
        if label.startswith("W11 dropout"):
            w11_dropout_target(group, 1.3)
        rows += group
    return rows


def run_w11_per_sample(cfg):
    """W1's network and data at batch size 1, with and without dropout, on W1's
    ``w1_rows`` rows (``number`` fits per timed call so one takes at least
    ``w11_number_s``). Fewer rows would hide the cost per sample: a fit's fixed
    cost (checks, set-up; about 1 ms) is that of some 3,000 samples."""
    s = cfg.sizes
    rate, n = wl.W11_DROPOUT, s["w1_rows"]
    X, y = wl.sin_data(n, cfg.dtype, seed=0)
    Xv, yv = wl.sin_data(s["w1_val"], cfg.dtype, seed=1)
    params = {"dropout": dict(wl.W1_PARAMS, dropout=rate), "plain": wl.W1_PARAMS}
    labels = {"dropout": f"fastmlp dropout={rate}", "plain": "fastmlp, no dropout"}
    warm_errors = {k: attempt(wl.warm_up, "fastmlp", "regressor", p, X, y)
                   for k, p in params.items()}
    fits = {k: (lambda p=p: wl.quiet_fit(wl.make_estimator("fastmlp", "regressor", p), X, y))
            for k, p in params.items() if not warm_errors[k]}
    number = wl.autorange_number(fits["plain"], s["w11_number_s"]) if "plain" in fits else 1
    results = wl.race({k: (f, s["fast_repeat"], number) for k, f in fits.items()}, 1)
    results.update({k: e for k, e in warm_errors.items() if e})
    note = f"1 epoch of {n:,} rows, best of {s['fast_repeat']} x {number} fits"
    group = [guarded(Row("W11 dropout, batch 1 (W1 net)", labels[k]),
                     w11_body(results, k, "regressor", X, Xv, yv, note, per_sample=True))
             for k in params]
    set_ratios(group)
    w11_dropout_target(group, 1.5)
    return group


def run_w11_midsize(cfg, variant, dtype):
    """One W7 variant (data, network, epochs) with and without dropout."""
    s = cfg.sizes
    rate = wl.W11_DROPOUT
    kind, plain = wl.w7_params(variant, s["w7_epochs"])
    Xtr, ytr, Xva, yva = wl.w7_data(variant, s["w7_train"], dtype=dtype)
    params = {"dropout": dict(plain, dropout=rate), "plain": plain}
    labels = {"dropout": f"fastmlp dropout={rate}", "plain": "fastmlp, no dropout"}
    warm_errors = {k: attempt(wl.warm_up, "fastmlp", kind, p, Xtr, ytr)
                   for k, p in params.items()}
    fits = {k: (lambda p=p: wl.quiet_fit(wl.make_estimator("fastmlp", kind, p), Xtr, ytr))
            for k, p in params.items() if not warm_errors[k]}
    results = wl.race(fits, s["fit_repeat"])
    results.update({k: e for k, e in warm_errors.items() if e})
    note = (f"{len(Xtr):,} x {Xtr.shape[1]} {dtype}, {s['w7_epochs']} epochs, "
            f"best of {s['fit_repeat']}")
    group = [guarded(Row(f"W11 dropout, W7 {variant}", labels[k]),
                     w11_body(results, k, kind, Xtr, Xva, yva, note)) for k in params]
    set_ratios(group)
    w11_dropout_target(group, 1.3)
    return group


# --------------------------------------------------------------------------
# W12: serving latency of predict_proba -- fastmlp, onnxruntime, sklearn, torch
# --------------------------------------------------------------------------
W12_TABULAR_1_ROW_S = 6e-6
"""W12: fastmlp's predict_proba on one float32 row of the tabular model, at most."""


def w12_libraries(cfg):
    libs = ["fastmlp"]
    if wl.onnx_available():
        libs.append("onnxruntime")
    libs.append("sklearn")
    if cfg.torch:
        libs.append("torch")
    return libs


def run_w12(cfg):
    """predict_proba latency of the W3 network and the tabular classifier on 1, 8
    and 32 rows, in float32 and float64 (only ``--dtype`` when given), each model
    fitted briefly by fastmlp on that dtype. onnxruntime runs fastmlp's ONNX export
    (one intra-op and one inter-op thread); scikit-learn's MLPClassifier and the
    PyTorch model hold fastmlp's weights. Every call gets the same numpy array;
    latency is the best of ``w12_rounds`` rounds of ``w12_number`` calls, the
    libraries interleaved round by round. One ratio group per (model, rows, dtype)."""
    dtypes = [cfg.dtype] if cfg.dtype_given else list(wl.DTYPES)
    if not wl.onnx_available():
        cfg.notes.append("W12: skl2onnx / onnxruntime not installed, the onnxruntime rows "
                         "are skipped")
    rows = []
    for name in wl.W12_MODELS:
        servers = {dtype: w12_servers(cfg, name, dtype) for dtype in dtypes}
        for n_rows in wl.W12_ROWS:
            for dtype in dtypes:
                rows += run_w12_case(cfg, name, n_rows, dtype, *servers[dtype])
    return rows


def w12_servers(cfg, name, dtype):
    """``(calls, X, errors)``: library -> predict_proba function of the W12 model
    ``name`` fitted on ``dtype``, its training rows, library -> exception."""
    libs = w12_libraries(cfg)
    try:
        model, X, y = wl.w12_model(name, dtype, cfg.sizes["w12_fit_rows"])
    except Exception as exc:
        log(f"!! W12 {name} {dtype} fit failed:\n{traceback.format_exc()}")
        return {}, None, dict.fromkeys(libs, exc)

    def torch_proba():
        torch_model = wl.torch_from_estimator(model)
        return lambda X_: wl.torch_predict(torch_model, X_, proba=True)
    builders = {
        "fastmlp": lambda: model.predict_proba,
        "onnxruntime": lambda: wl.onnx_predict_proba(model, inter_op_num_threads=1),
        "sklearn": lambda: wl.sklearn_from_estimator(model, X, y).predict_proba,
        "torch": torch_proba,
    }
    calls, errors = {}, {}
    for lib in libs:
        try:
            calls[lib] = builders[lib]()
        except Exception as exc:
            errors[lib] = exc
            log(f"!! W12 {name} {dtype} {lib} set-up failed:\n{traceback.format_exc()}")
    return calls, X, errors


def w12_warm_up(proba, X, calls=20):
    for _ in range(calls):
        proba(X)


W12_NOTES = {
    "onnxruntime": "fastmlp.onnx export, 1 intra-op + 1 inter-op thread",
    "sklearn": "MLPClassifier holding fastmlp's weights",
    "torch": "fastmlp's weights; inference_mode, softmax and .numpy() included",
}


def run_w12_case(cfg, name, n_rows, dtype, calls, X, errors):
    """The rows of one (model, rows, dtype) group: the libraries' calls raced."""
    s = cfg.sizes
    rounds, number = s["w12_rounds"], s["w12_number"]
    errors = dict(errors)
    X_rows = None if X is None else X[:n_rows].copy()
    for lib, proba in calls.items():  # first-call costs stay out of the timings
        error = attempt(w12_warm_up, proba, X_rows)
        if error:
            errors[lib] = error
    plans = {lib: (lambda p=p: p(X_rows), rounds, number)
             for lib, p in calls.items() if lib not in errors}
    results = wl.race(plans, 1) if plans else {}
    results.update(errors)
    reference = results.get("fastmlp")
    reference = None if isinstance(reference, BaseException) else reference

    def body(row, lib):
        row.seconds, proba = result(results, lib)
        row.cost, row.rate, row.rate_unit = row.seconds, 1 / row.seconds, "calls/s"
        notes = [f"best of {rounds} x {number} calls, interleaved"] if lib == "fastmlp" else []
        if lib in W12_NOTES:
            notes.append(W12_NOTES[lib])
        if lib != "fastmlp" and reference is not None:
            diff = np.max(np.abs(np.asarray(proba, dtype=np.float64) - reference[1]))
            notes.append(f"max |p - fastmlp's| {diff:.1e}")
        row.note = "; ".join(notes)

    label = (f"W12 latency {name} {wl.w12_architecture(name)}, {n_rows} "
             f"row{'s' if n_rows > 1 else ''}, {dtype}")
    group = [guarded(Row(label, lib), body, lib) for lib in w12_libraries(cfg)]
    set_ratios(group)
    r = by_library(group)
    fm, ort = r["fastmlp"], r.get("onnxruntime")
    if ort and ort.ratio:
        ort.target("fastmlp <= onnxruntime latency", ort.ratio >= 1.0, f"{ort.ratio:.2f}x")
    if name == "tabular" and n_rows == 1 and dtype == "float32":
        limit = W12_TABULAR_1_ROW_S
        met = fm.seconds is not None and fm.seconds < limit
        detail = f"fastmlp {fmt_seconds(fm.seconds)}" if fm.seconds else "no fastmlp time"
        (ort or fm).target(f"fastmlp tabular 1 row < {limit * 1e6:.0f} us", met, detail)
    return group


RUNNERS = {"W1": run_w1, "W2": run_w2, "W3": run_w3, "W4": run_w4, "W5": run_w5, "W6": run_w6,
           "W7": run_w7, "W8": run_w8, "W9": run_w9, "W10": run_w10, "W11": run_w11,
           "W12": run_w12, "W13": run_w13}


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------
def machine_info(cfg):
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    info = {"cpu": cpu, "logical_cores": os.cpu_count(),
            "usable_cores": (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                             else None),
            "python": platform.python_version(), "platform": platform.platform(),
            "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime(
                "%Y-%m-%d %H:%M UTC")}
    try:  # the machine is often shared: how busy it was when the run started
        info["load_average"] = [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        pass
    try:
        with open("/proc/meminfo") as f:
            kb = next(int(ln.split()[1]) for ln in f if ln.startswith("MemTotal"))
        info["memory_gb"] = round(kb / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    try:
        from threadpoolctl import threadpool_info
        info["blas"] = "; ".join(
            f"{p.get('internal_api')} {p.get('version')} ({p.get('num_threads')} threads, "
            f"{p.get('architecture', '?')})" for p in threadpool_info()
            if p.get("user_api") == "blas")
    except Exception:  # threadpoolctl missing: numpy's build configuration
        try:
            blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
            info["blas"] = f"{blas.get('name')} {blas.get('version')} (numpy build config)"
        except Exception:
            info["blas"] = "unknown"
    import numba
    import scipy
    import sklearn
    info["versions"] = {"numpy": np.__version__, "scipy": scipy.__version__,
                        "numba": numba.__version__, "scikit-learn": sklearn.__version__}
    try:
        wl.ensure_fastmlp_importable()
        import fastmlp
        info["versions"]["fastmlp"] = getattr(fastmlp, "__version__", "unknown")
    except Exception as exc:
        info["versions"]["fastmlp"] = f"not importable ({exc})"
    if cfg.torch:
        import torch
        info["versions"]["torch"] = f"{torch.__version__} ({torch.get_num_threads()} threads)"
    else:
        info["versions"]["torch"] = "not installed (PyTorch rows skipped)"
    return info


def fmt_seconds(s):
    if s is None:
        return ""
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"


def fmt_rate(v, unit):
    if v is None:
        return ""
    if unit == "GFLOP/s":
        return f"{v:.1f} GFLOP/s"
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= scale:
            return f"{v / scale:.3g} {prefix} {unit}"
    return f"{v:.3g} {unit}"


def render(rows, info, cfg):
    out = ["# fastmlp benchmark comparison", ""]
    out.append(f"- Machine: {info['cpu']}, {info['logical_cores']} logical cores "
               f"({info['usable_cores']} usable), {info['platform']}")
    out.append(f"- BLAS (numpy): {info['blas']}")
    out.append("- Versions: python " + info["python"] + ", "
               + ", ".join(f"{k} {v}" for k, v in info["versions"].items()))
    out.append(f"- Mode: {'quick (small sizes; targets indicative only)' if cfg.quick else 'full'}"
               f", dtype {cfg.dtype}, device {cfg.device}")
    out.extend(f"- {n}" for n in cfg.notes)
    out += ["", "| Workload | Library | Measured | Throughput | lib / fastmlp | Score | "
                "Target | Met | Notes |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        measured = f"{r.memory_mb:.0f} MB" if r.memory_mb is not None else fmt_seconds(r.seconds)
        if r.error:
            measured = "ERROR"
        ratio = "" if r.ratio is None else (f"{r.ratio:,.0f}x" if r.ratio >= 100
                                            else f"{r.ratio:.3g}x")
        score = f"{r.score_name} {r.score:.4f}" if r.score is not None else ""
        target = "; ".join(t[0] for t in r.targets)
        met = "; ".join(("yes" if t[1] else "**no**") + (f" ({t[2]})" if t[2] else "")
                        for t in r.targets)
        note = r.error or r.note
        out.append(f"| {r.workload} | {r.library} | {measured} | {fmt_rate(r.rate, r.rate_unit)} "
                   f"| {ratio} | {score} | {target} | {met} | {note} |")
    n_t = sum(len(r.targets) for r in rows)
    n_met = sum(t[1] for r in rows for t in r.targets)
    out += ["", f"Targets met: {n_met}/{n_t}.  \"lib / fastmlp\" = the library's cost (time, "
                "time per sample, or MB) divided by fastmlp's: > 1 means fastmlp is better."]
    return "\n".join(out)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    p.add_argument("--mnist", metavar="DIR", help="folder with MNIST t10k IDX .gz files "
                   "(W2 uses a synthetic stand-in otherwise)")
    p.add_argument("--only", metavar="W1,W3",
                   help="comma-separated subset of " + ",".join(WORKLOADS))
    p.add_argument("--dtype", choices=("float32", "float64"),
                   help="data dtype (default: float32; float64 for W7 and W11's W7 "
                        "fits, the dtype of scikit-learn's data sets; W12 runs both "
                        "unless given)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="device for fastmlp in W2/W3")
    p.add_argument("--json", metavar="PATH", help="also save the results as JSON")
    args = p.parse_args(argv)
    only = [w.strip().upper() for w in (args.only or ",".join(WORKLOADS)).split(",") if w.strip()]
    bad = [w for w in only if w not in WORKLOADS]
    if bad:
        p.error(f"--only: unknown workload(s) {bad}; choose from {','.join(WORKLOADS)}")
    args.only = only
    if args.mnist and not os.path.exists(os.path.join(args.mnist, "t10k-images-idx3-ubyte.gz")):
        p.error(f"--mnist {args.mnist}: t10k-images-idx3-ubyte.gz not found there")
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = argparse.Namespace(quick=args.quick, dtype=args.dtype or "float32",
                             dtype_given=args.dtype is not None, device=args.device,
                             mnist=args.mnist, sizes=SIZES["quick" if args.quick else "full"],
                             torch=wl.torch_available(), cuda_ok=False, notes=[])
    if args.device == "cuda":
        cfg.cuda_ok = wl.cuda_available()
        if not cfg.cuda_ok:
            msg = ("--device cuda: no usable GPU (numba.cuda.is_available() is False, or the "
                   "CUDA simulator is on), so the device='cuda' "
                   "runs are skipped; W2/W3 fastmlp rows run on the CPU")
            log("NOTE: " + msg)
            cfg.notes.append(msg)
    info = machine_info(cfg)
    rows = []
    for name in args.only:
        log(f"== {name} ...")
        try:
            rows += RUNNERS[name](cfg)
        except Exception as exc:
            log(f"!! {name} failed:\n{traceback.format_exc()}")
            rows.append(Row(name, "-", error=f"{type(exc).__name__}: {exc}".splitlines()[0][:200]))
    print(render(rows, info, cfg))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "config": {k: v for k, v in vars(cfg).items()},
                       "rows": [dataclasses.asdict(r) for r in rows]}, f, indent=2, default=str)
        log(f"results saved to {args.json}")
    return 1 if any(r.error for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
