"""How much memory a fit will need, checked before anything is allocated.

An absurd ``hidden_layer_sizes`` such as ``(10**9,)`` would otherwise start
allocating gigabytes and fail (or swap) part way; here it fails at once with
the estimate in the message.
"""

import os

import numpy as np

from .. import config, spec

LBFGS_VECTORS = 25
"""float64 vectors of the parameters' length that L-BFGS keeps: scipy's x and
gradient, its 10 correction pairs and work arrays, and the training dtype copies."""


def physical_memory():
    """Bytes of physical memory of this machine, or None where unknown."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        return None


def fit_bytes(units, dtype, solver, n_samples, batch_size):
    """Estimated peak bytes of a fit of a network of layer widths ``units``.

    Counts the parameter vector and the copies a fit keeps of it (gradient, best
    weights, optimizer state) and the activation / delta scratch of one block
    of rows; the training data itself is already allocated.
    """
    itemsize = np.dtype(dtype).itemsize
    units = [int(u) for u in units]
    n_params = sum(a * b for a, b in zip(units[:-1], units[1:], strict=True)) + sum(units[1:])
    n_coef = sum(a * b for a, b in zip(units[:-1], units[1:], strict=True))
    kind = spec.solver(solver)
    if kind.stochastic:
        rows = min(200, n_samples) if batch_size == "auto" else min(batch_size, n_samples)
        vectors = (3 + kind.state_rows) * itemsize
        slots = config.pieces_of(rows, n_coef, n_samples)
        piece_rows = -(-rows // slots)
    else:  # L-BFGS
        piece_rows, slots = config.objective_pieces(max(n_samples, 1), n_coef)
        rows = piece_rows
        vectors = 3 * itemsize + LBFGS_VECTORS * 8
    if slots > 1:  # the data-parallel kernels: a gradient and a block per slot
        vectors += slots * itemsize
        rows = slots * piece_rows
    scratch = (2 * sum(units[1:]) + units[0]) * max(rows, 1) * itemsize
    return n_params * vectors + scratch


def check_fit_memory(units, dtype, solver, n_samples, batch_size):
    """MemoryError, before allocating, when the fit needs more than this machine has."""
    needed = fit_bytes(units, dtype, solver, n_samples, batch_size)
    available = physical_memory()
    if available is not None and needed > available:
        raise MemoryError(
            f"hidden_layer_sizes={units[1:-1]} with {units[0]} features and {units[-1]} "
            f"outputs needs about {needed / 2**30:,.1f} GiB for a fit with solver="
            f"{solver!r}, more than this machine's {available / 2**30:,.1f} GiB of memory."
        )
