"""Host arrays as the kernels need them, and the per-call checks of their shapes.

Both backends pass what they are given through here before any kernel runs:

- ``dense_rows``: a dense X as one C-contiguous, writeable, base-class ndarray
  of the training dtype. Fortran-ordered, strided, read-only and memory-mapped
  arrays are copied (only those): Numba compiles read-only arrays and
  non-contiguous layouts as different types, so passing them through would
  compile every kernel again, and the kernels assume row-major rows.
- ``canonical_csr``: a sparse X as CSR whose index arrays are in bounds and
  whose rows have sorted, unique column indices. Duplicate entries (valid in
  scipy, which sums them) are summed on a copy; the caller's matrix is never
  modified.
- ``check_data``: the network's layout (``layout.validate_network``) against
  the widths of X and the targets, and the row counts of X, Y and the weights.
"""

import numpy as np
import scipy.sparse as sp

from ..layout import validate_network


def dense_rows(X, dtype):
    """X as a C-contiguous, writeable ndarray of ``dtype``; a copy only when needed."""
    if (type(X) is np.ndarray and X.dtype == dtype and X.flags.c_contiguous
            and X.flags.writeable):
        return X
    out = np.asarray(X)  # drops ndarray subclasses (np.memmap) without copying
    if out.dtype == dtype and out.flags.c_contiguous and out.flags.writeable:
        return out
    return np.array(out, dtype=dtype, order="C")


def _check_csr_indices(X):
    """The CSR structure is in bounds: ``indptr`` of n_rows + 1 non-decreasing
    offsets from 0 into ``indices`` / ``data``, column indices in [0, n_features)."""
    n_rows, n_features = X.shape
    indptr, indices = X.indptr, X.indices
    if indptr.ndim != 1 or indptr.shape[0] != n_rows + 1:
        raise ValueError(f"The CSR matrix's indptr must have {n_rows + 1} entries, "
                         f"got {indptr.shape}.")
    nnz = int(indptr[-1])
    if int(indptr[0]) != 0 or nnz > indices.shape[0] or nnz > X.data.shape[0]:
        raise ValueError("The CSR matrix's indptr must start at 0 and end within "
                         "indices and data.")
    if n_rows > 0 and np.any(indptr[1:] < indptr[:-1]):
        raise ValueError("The CSR matrix's indptr must be non-decreasing.")
    if nnz and (int(indices[:nnz].min()) < 0 or int(indices[:nnz].max()) >= n_features):
        raise ValueError(f"The CSR matrix's column indices must lie in [0, {n_features}).")


def _is_canonical(X):
    """Whether every row's column indices are strictly increasing."""
    nnz = int(X.indptr[-1])
    if nnz < 2:
        return True
    increasing = X.indices[1:nnz] > X.indices[: nnz - 1]
    row_starts = X.indptr[1:-1]
    row_starts = row_starts[(row_starts > 0) & (row_starts < nnz)]
    increasing[row_starts - 1] = True  # a row's first entry follows another row's last
    return bool(increasing.all())


def canonical_csr(X, dtype):
    """A sparse X as CSR with in-bounds indices, sorted and summed duplicates and
    ``data`` of ``dtype``; the caller's matrix is never modified."""
    X = X.tocsr() if X.format != "csr" else X
    _check_csr_indices(X)
    if not _is_canonical(X):
        X = X.copy()
        X.has_canonical_format = False  # scipy's cached flag may be stale
        X.sum_duplicates()
    if X.data.dtype != dtype:
        X = X.astype(dtype)
    return X


def check_data(network, X, Y=None, sample_weight=None):
    """Check the network's layout against X (and the targets, weights) before a
    kernel runs; ValueError naming what disagrees."""
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}.")
    validate_network(network, n_features=X.shape[1],
                     n_outputs=None if Y is None else Y.shape[1])
    n_rows = X.shape[0]
    if Y is not None and (Y.ndim != 2 or Y.shape[0] != n_rows):
        raise ValueError(f"The targets must have shape ({n_rows}, n_outputs), got {Y.shape}.")
    if sample_weight is not None and np.shape(sample_weight) != (n_rows,):
        raise ValueError(f"sample_weight must have shape ({n_rows},), "
                         f"got {np.shape(sample_weight)}.")


def host_inputs(X, dtype):
    """A dense X through ``dense_rows``, a sparse one through ``canonical_csr``."""
    return canonical_csr(X, dtype) if sp.issparse(X) else dense_rows(X, dtype)
