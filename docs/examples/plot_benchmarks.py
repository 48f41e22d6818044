"""
====================================================
Benchmarks: fastmlp against scikit-learn and PyTorch
====================================================

``benchmarks/compare.py`` times fastmlp, scikit-learn's MLPs and the same
networks in PyTorch (and, for prediction latency, onnxruntime running
fastmlp's ONNX export) on a set of workloads, W1 to W12, and with
``--json PATH`` saves the results with a description of the machine. This
example draws one such file, ``data/compare.json``, written by a full run of

.. code-block:: bash

    python benchmarks/compare.py --json docs/examples/data/compare.json

on a 2-core machine (the machine is printed below and named in the figure
titles). **The numbers are those of that one machine and run**; rerun the
command to measure yours.
"""

# %%
# The results file
# ----------------
# The file holds the machine (CPU, cores, BLAS, library versions) and one
# row per workload and library. A row's ``ratio`` is that library's cost (time
# or time per sample) divided by fastmlp's on the same workload, which is
# fastmlp's speed over that library's: above 1, fastmlp is faster.
import json
from pathlib import Path

import matplotlib.pyplot as plt

# As a script the file lies next to this one; sphinx-gallery runs each example
# in the example's own folder, without setting ``__file__``.
here = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
path = here / "data" / "compare.json"
results = json.loads(path.read_text())
machine = results["machine"]
versions = machine["versions"]
machine_text = (f"{machine['cpu']}, {machine['logical_cores']} cores, "
                f"{machine['date_utc'][:10]}")
print(f"machine: {machine['cpu']}, {machine['logical_cores']} logical cores, "
      f"{machine.get('memory_gb', '?')} GB, {machine['platform']}")
print(f"BLAS: {machine['blas']}")
print("versions: " + ", ".join(f"{name} {version}" for name, version in versions.items()))
print(f"run: {machine['date_utc']}, load average at the start {machine['load_average']}")
failed = sorted({row["workload"] for row in results["rows"] if row["error"]})
print(f"workloads that failed in this run (left out): {failed}")

# %%
# Speed ratios per workload
# -------------------------
# We keep the rows that compare times with scikit-learn, PyTorch or
# onnxruntime (not the memory workload W6, nor rows that compare fastmlp with
# itself, such as W8's threads or W11's cost of dropout), and split them
# into training (with W5, a fresh process's start-up and first fit) and
# prediction workloads.

LIBRARIES = {"sklearn": ("scikit-learn", "C1"), "torch": ("PyTorch", "C3"),
             "onnxruntime": ("onnxruntime", "C2")}


def library_of(row):
    """The compared library's key in ``LIBRARIES``, or None."""
    return next((key for key in LIBRARIES if row["library"].startswith(key)), None)


rows = [row for row in results["rows"]
        if library_of(row) and row["ratio"] and row["memory_mb"] is None and not row["error"]]
prediction = ("W4", "W9", "W12")
groups = {
    "Training": [row for row in rows if not row["workload"].startswith(prediction)],
    "Prediction": [row for row in rows if row["workload"].startswith(prediction)],
}


def plot_ratios(rows, title):
    """Horizontal bars, one group per workload, one bar per library (log scale)."""
    workloads = list(dict.fromkeys(row["workload"] for row in rows))
    ratios = {workload: {library_of(row): row["ratio"] for row in rows
                         if row["workload"] == workload} for workload in workloads}
    n_bars = sum(len(r) for r in ratios.values())
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.22 * n_bars + 0.15 * len(workloads)),
                           layout="constrained")
    height = 0.27
    for i, workload in enumerate(workloads):
        present = [key for key in LIBRARIES if key in ratios[workload]]
        for k, key in enumerate(present):
            name, color = LIBRARIES[key]
            value = ratios[workload][key]
            bars = ax.barh(i + (k - (len(present) - 1) / 2) * height, value, height=height,
                           color=color, label=name)
            ax.bar_label(bars, labels=[f"{value:,.3g}x" if value < 100 else f"{value:,.0f}x"],
                         padding=2, fontsize=7)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))  # one legend entry per library
    ax.legend(unique.values(), unique.keys(), loc="lower right")
    ax.axvline(1.0, color="k", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlim(0.3, 4 * max(row["ratio"] for row in rows))
    ax.set_yticks(range(len(workloads)), [w.replace("latency ", "") for w in workloads],
                  fontsize=8)
    ax.set_ylim(len(workloads) - 0.5, -0.5)
    ax.set_xlabel("fastmlp's speed / the library's speed (log scale; > 1: fastmlp faster)")
    ax.set_title(f"{title}: {machine_text}")
    ax.grid(axis="x", which="major", alpha=0.3)
    return fig


fig = plot_ratios(groups["Training"], "Training speed")
plt.show()

# %%
# Each bar is how many times faster fastmlp trained than the other library
# on that machine. Per-sample training (batch size 1: W1, and W10's
# ``batch 1`` rows with five of the extra activations) is where fastmlp is
# far ahead: hundreds of times the samples per second of scikit-learn and
# of PyTorch, since it runs a whole epoch in one compiled call instead of a
# Python step per row. Mini-batch training (W2, W3, W7, W11) is dominated
# by matrix products, which every library hands to a BLAS; there fastmlp was
# 1.8x to 4.5x faster than scikit-learn and 1.9x to 3.0x faster than
# PyTorch, and on W10's batches of 200 rows 1.25x (softplus) to 2.2x
# (leaky ReLU) faster than PyTorch. The one bar left of the black line is
# W5: a fresh process that imports the library and fits the digits once
# takes fastmlp about 1.3 times scikit-learn's time, the cost of loading
# its compiled kernels from Numba's cache.

# %%
fig = plot_ratios(groups["Prediction"], "Prediction speed")
plt.show()

# %%
# Predicting one row (W4, W9 and the ``1 row`` rows of W12) costs fastmlp a
# few microseconds: 4.6x to 22x faster than scikit-learn, 2.3x to 6.6x
# faster than PyTorch and 1.25x to 2.9x faster than onnxruntime. With more
# rows the time goes into the matrix products. For the large
# 784-256-128-10 network, onnxruntime was faster than fastmlp at 8 float32
# rows and at 32 rows (0.68x to 0.76x, bars left of the black line), and
# at 32 float64 rows PyTorch and scikit-learn were too (0.6x and 0.72x):
# fastmlp keeps products of this size on one thread, while the others used
# both cores. The small tabular network (20-64-32-3) stays faster than all
# three at every size.
#
# The machine was shared with other work while the benchmark ran (the load
# average printed above), so single ratios can be off by tens of percent;
# the user guide's Benchmarks page describes each workload and its targets.
