"""Row access to the input data, dense or CSR (an ``Inputs`` bundle).

A block of rows is ``order[start:stop]`` of the data, or ``start:stop`` when
contiguous (a ``Block``). Dense blocks are gathered into a scratch matrix (or
viewed in place when contiguous) for BLAS; CSR rows are multiplied in place,
touching only their stored entries.

Dense and CSR ``Inputs`` are different types to Numba (the other format's
fields are None, see ``bundles.dense_inputs``), and the three functions the
layers call -- ``input_product``, ``input_gradient`` and ``load_row`` -- are
overloads that pick their implementation by that type. A fit on dense data
therefore compiles no CSR code, and the reverse.
"""

from numba import types
from numba.extending import overload

from . import kernel
from .products import gemm

JIT_OPTIONS = {"error_model": "numpy"}  # as every kernel (``kernels.kernel``)


def is_csr(inputs):
    """Whether the Numba type of an ``Inputs`` bundle is the CSR one."""
    return isinstance(inputs.types[0], types.NoneType)


@kernel(inline="always")
def row_index(order, start, r, contiguous):
    """Data row of the block's row ``r``: ``start + r`` or ``order[start + r]``."""
    if contiguous:
        return start + r
    return order[start + r]


@kernel(inline="always")
def dense_block(inputs, block, xbuf):
    """The block's dense input rows: a view of X when contiguous, else gathered
    into ``xbuf``."""
    X = inputs.X
    if block.contiguous:
        return X[block.start:block.stop]
    order, start = block.order, block.start
    out = xbuf[:block.stop - start]
    for r in range(out.shape[0]):  # loops: a slice assignment compiles an error message
        row = order[start + r]
        for k in range(out.shape[1]):
            out[r, k] = X[row, k]
    return out


@kernel
def csr_product(inputs, block, M, out, transpose):
    """``out = X[rows] @ M`` for the block's CSR rows, or, with ``transpose``,
    ``out = X[rows].T @ M`` (M then has one row per block row)."""
    indptr, indices, data = inputs.indptr, inputs.indices, inputs.data
    order, start, contiguous = block.order, block.start, block.contiguous
    out[:, :] = 0
    for r in range(block.stop - start):
        row = row_index(order, start, r, contiguous)
        for k in range(indptr[row], indptr[row + 1]):
            v = data[k]
            feat = indices[k]
            if transpose:
                for j in range(out.shape[1]):
                    out[feat, j] += v * M[r, j]
            else:
                for j in range(out.shape[1]):
                    out[r, j] += v * M[feat, j]


def input_product(inputs, block, W, out, xbuf):
    """``out = X[block] @ W`` (the first layer's product). Returns the block's
    dense rows, which ``input_gradient`` needs (``xbuf``, unused, for CSR)."""


@overload(input_product, jit_options=JIT_OPTIONS)
def _input_product(inputs, block, W, out, xbuf):
    if is_csr(inputs):
        def csr(inputs, block, W, out, xbuf):
            csr_product(inputs, block, W, out, False)
            return xbuf[:block.stop - block.start]
        return csr

    def dense(inputs, block, W, out, xbuf):
        A0 = dense_block(inputs, block, xbuf)
        gemm(A0, W, out)
        return A0
    return dense


def input_gradient(inputs, block, A0, D, out):
    """``out = X[block].T @ D`` (the first layer's coefficient gradient);
    ``A0`` is what ``input_product`` returned."""


@overload(input_gradient, jit_options=JIT_OPTIONS)
def _input_gradient(inputs, block, A0, D, out):
    if is_csr(inputs):
        def csr(inputs, block, A0, D, out):
            csr_product(inputs, block, D, out, True)
        return csr

    def dense(inputs, block, A0, D, out):
        gemm(A0.T, D, out)
    return dense


def load_row(inputs, row, n_features, out):
    """``out[:n_features] = X[row]`` (CSR rows are scattered into zeros)."""


@overload(load_row, inline="always", jit_options=JIT_OPTIONS)
def _load_row(inputs, row, n_features, out):
    if is_csr(inputs):
        def csr(inputs, row, n_features, out):
            out[:n_features] = 0
            for k in range(inputs.indptr[row], inputs.indptr[row + 1]):
                out[inputs.indices[k]] = inputs.data[k]
        return csr

    def dense(inputs, row, n_features, out):
        for k in range(n_features):
            out[k] = inputs.X[row, k]
    return dense
