"""Row access to the input data, dense or CSR (an ``Inputs`` bundle).

A block of rows is ``order[start:stop]`` of the data, or ``start:stop`` when
contiguous (a ``Block``). Dense blocks are gathered into a scratch matrix (or
viewed in place when contiguous) for BLAS; CSR rows are multiplied in place,
touching only their stored entries.
"""

from . import kernel


@kernel(inline="always")
def row_index(order, start, r, contiguous):
    """Data row of the block's row ``r``: ``start + r`` or ``order[start + r]``."""
    if contiguous:
        return start + r
    return order[start + r]


@kernel
def dense_block(inputs, block, xbuf):
    """The block's dense input rows: a view of X when contiguous, else gathered
    into ``xbuf``."""
    X = inputs.X
    if block.contiguous:
        return X[block.start:block.stop]
    order, start = block.order, block.start
    out = xbuf[:block.stop - start]
    for r in range(out.shape[0]):
        out[r, :] = X[order[start + r], :]
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


@kernel(inline="always")
def load_row(inputs, row, n_features, out):
    """``out[:n_features] = X[row]`` (CSR rows are scattered into zeros)."""
    if inputs.sparse:
        out[:n_features] = 0
        for k in range(inputs.indptr[row], inputs.indptr[row + 1]):
            out[inputs.indices[k]] = inputs.data[k]
    else:
        for k in range(n_features):
            out[k] = inputs.X[row, k]
