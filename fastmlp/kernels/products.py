"""Matrix products of the CPU kernels, computed on the calling thread.

``gemm`` is the only place where the CPU kernels multiply matrices. It never
changes the process's BLAS settings, and its results do not depend on which
thread calls it or on how many fits run at once:

- up to ``config.SERIAL_GEMM_MACS`` multiply-adds: BLAS, in pieces of at most
  ``config.BLAS_SERIAL_MACS`` multiply-adds, which BLAS runs on the calling
  thread -- no BLAS thread to wake, none to oversubscribe cores when several
  fits run in threads;
- above: one BLAS call with the process's BLAS thread setting.

OpenBLAS's result for a product depends only on its shape and that setting,
never on the calling thread or on concurrent calls, so every path gives
bitwise the same result whichever thread runs it.
"""

import numpy as np
from numba.extending import overload

from ..config import BLAS_SERIAL_MACS, SERIAL_GEMM_MACS
from . import kernel


@kernel
def gemm(A, B, out):
    """``out = A @ B`` for 2-D arrays of one dtype (any of A, B may be transposed
    views); see the module docstring for how each size is computed."""
    n, k = A.shape
    m = B.shape[1]
    macs = n * k * m
    dot_in_pieces(A, B, out, BLAS_SERIAL_MACS if macs <= SERIAL_GEMM_MACS else macs)


def dot_in_pieces(A, B, out, piece_macs):
    """``out = A @ B`` in BLAS calls of at most ``piece_macs`` multiply-adds
    (compiled by the overload below; the pieces depend on the operands'
    layouts). Each layout has one ``np.dot`` call site: Numba compiles its
    implementation once per site."""


@overload(dot_in_pieces, jit_options={"error_model": "numpy"})
def _dot_in_pieces(A, B, out, piece_macs):
    if A.layout == "C" and out.layout == "C":
        def rows_of_out(A, B, out, piece_macs):
            # pieces of the output's rows; each row as in one whole call
            n, k = A.shape
            step = max(1, piece_macs // (k * B.shape[1]))
            for start in range(0, n, step):
                stop = min(start + step, n)
                np.dot(A[start:stop], B, out[start:stop])
        return rows_of_out
    if A.layout == "F" and B.layout == "C":
        def pieces_of_sum(A, B, out, piece_macs):
            # A is a transposed C array (X.T @ D, a gradient): pieces of the
            # summed dimension, added up in order (one buffer for the pieces)
            X = A.T
            n, k = A.shape
            m = B.shape[1]
            step = max(1, piece_macs // (n * m))
            part = np.empty_like(out) if step < k else out
            for start in range(0, k, step):
                stop = min(start + step, k)
                np.dot(X[start:stop].T, B[start:stop], out if start == 0 else part)
                if start > 0:
                    for i in range(n):
                        for j in range(m):
                            out[i, j] += part[i, j]
        return pieces_of_sum

    def whole(A, B, out, piece_macs):
        np.dot(A, B, out)
    return whole
