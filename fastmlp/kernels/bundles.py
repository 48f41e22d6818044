"""The typed argument bundles that cross every kernel boundary.

Kernels take these named tuples instead of long positional lists: a field is
read by name (``net.params``, ``solver.hyper.beta_1``), so two arrays of the
same type can no longer be swapped silently, and a new argument is one new
field. Numba compiles a named tuple as a struct of its fields (arrays, ints,
floats, flags); they cross ``njit`` and ``cuda.jit`` boundaries and the on-disk
cache like plain arguments. The backends build them (``backends/cpu.py``,
``backends/cuda.py``); inside the kernels, ``Block`` is built per mini-batch.
The CUDA backend passes the same bundles holding device arrays, plus two of
its own ``DeviceScratch``.
"""

from collections import namedtuple

import numpy as np

from .. import spec

Inputs = namedtuple("Inputs", "X indptr indices data sparse")
Inputs.__doc__ = """Rows of a data set, dense or CSR; build it with ``dense_inputs``
or ``csr_inputs``.

X : 2-D C-contiguous array (n_rows, n_features); None when sparse.
indptr, indices, data : the CSR arrays (None when dense); data in X's dtype.
sparse : bool.

The None fields make dense and CSR bundles different Numba types, so a kernel
compiled for one contains no code for the other (``inputs.py``).
"""


def dense_inputs(X):
    """``Inputs`` of a dense, C-contiguous 2-D array."""
    return Inputs(X, None, None, None, False)


def csr_inputs(indptr, indices, data):
    """``Inputs`` of CSR arrays (canonical and in bounds; see ``backends.arrays``)."""
    return Inputs(None, indptr, indices, data, True)


Targets = namedtuple("Targets", "Y sw weighted")
Targets.__doc__ = """What the outputs are trained towards.

Y : 2-D array (n_rows, n_outputs) in the parameters' dtype (indicator matrix
    for classifiers).
sw : float64 sample weights (n_rows,), empty when not ``weighted``.
weighted : bool.
"""

Net = namedtuple("Net", "params units coef_off inter_off n_coef hidden_code out_code")
Net.__doc__ = """A network and its flat parameter vector.

params : 1-D array: every coefficient matrix (layer by layer, row-major), then
    every intercept vector -- scikit-learn's ``_pack`` order.
units : int64 layer widths, input first and output last.
coef_off, inter_off : int64 offsets of each layer's coefficients / intercepts.
n_coef : number of coefficients (the L2 penalty applies to ``params[:n_coef]``).
hidden_code, out_code : activation codes (``activations.py``).
"""

LossSpec = namedtuple("LossSpec", "code eps alpha")
LossSpec.__doc__ = """The objective; build it with ``loss_spec``.

code : loss code (``spec.LOSSES``), paired with its canonical output activation.
eps : clipping of probabilities in the log-losses (the dtype's machine epsilon).
alpha : L2 penalty.
"""

_LOSS_CODES = {kind.code for kind in spec.LOSSES.values()}


def loss_spec(code, dtype, alpha):
    """``LossSpec`` of loss ``code`` for parameters of ``dtype``; ValueError for a
    code that ``spec.LOSSES`` does not declare."""
    if code not in _LOSS_CODES:
        raise ValueError(f"loss code must be one of {sorted(_LOSS_CODES)}, got {code!r}.")
    return LossSpec(code, float(np.finfo(dtype).eps), float(alpha))

Hyper = namedtuple("Hyper", "learning_rate momentum nesterov beta_1 beta_2 epsilon "
                   "weight_decay max_grad_norm", defaults=(0.0, 0.0))
Hyper.__doc__ = """Optimizer hyperparameters (float64; ``nesterov`` a bool).

weight_decay : adamw's decoupled decay (the estimator's ``alpha``), 0 otherwise.
max_grad_norm : the L2 norm a finished gradient is clipped to; 0 for no clipping.

The kernels cast them to the parameters' dtype once per call
(``optimizers.typed_hyper``), so float32 training runs in float32 arithmetic.
"""

Solver = namedtuple("Solver", "code hyper state step")
Solver.__doc__ = """A stochastic optimizer.

code : the solver's code (``spec.SOLVERS``; NO_UPDATE finishes the gradient
    and takes no step).
hyper : Hyper.
state : 2-D array of ``SolverKind.state_rows`` rows: row 0 the velocity (sgd)
    or the first moment (adam, adamw), row 1 the second moment.
step : int64 array of one element, Adam's update count t (advanced in place
    by ``optimizers.advance_step``; on the CUDA path the host's count).
"""

Dropout = namedtuple("Dropout", "threshold scale key_lo key_hi")
Dropout.__doc__ = """Inverted dropout of the hidden layers in one epoch; build it with
``dropout.epoch_dropout``. The kernels take it as an argument of its own, None when
nothing drops: Numba then prunes every dropout branch, so a fit without dropout
compiles none of that code.

threshold : int64 array, one per hidden layer: a unit is kept when its 32-bit
    hash is below it (``floor((1 - p) 2**32)``).
scale : float64 array, one per hidden layer: 1 / (1 - p), the kept units' factor.
key_lo, key_hi : the epoch's two 32-bit keys (from the seed and the epoch).
"""

Batches = namedtuple("Batches", "order contiguous size")
Batches.__doc__ = """How an epoch walks the data.

order : int64 row indices of the epoch (a permutation, or 0..n-1).
contiguous : bool; when true the rows are taken in order, ``order`` unread.
size : rows per mini-batch.
"""

Block = namedtuple("Block", "order start stop contiguous")
Block.__doc__ = """One block of rows: ``order[start:stop]``, or ``start:stop``
when ``contiguous``."""

Scratch = namedtuple("Scratch", "acts deltas xbuf grad")
Scratch.__doc__ = """CPU buffers allocated once per fit and reused for every block.

acts, deltas : flat buffers of every layer's outputs / deltas for a block.
xbuf : 2-D buffer for gathered dense input rows ((0, 0) when unused).
grad : 1-D buffer of the parameters' size: the block's gradient sums.
"""


PieceScratch = namedtuple("PieceScratch", "acts deltas xbuf grads grad sums partial squares")
PieceScratch.__doc__ = """CPU buffers of the data-parallel kernels (``pieces.py``), one
slot per piece computed at the same time, allocated once per fit.

acts, deltas : (n_slots, width) -- each row a ``Scratch.acts`` / ``deltas``.
xbuf : (n_slots, rows, n_features) gathered input rows ((n_slots, 0, 0) when unused).
grads : (n_slots, n_params) -- each piece's gradient sums.
grad : (n_params,) -- their sum, in piece order.
sums : float64 (n_slots, 2) -- each piece's loss and weight sums.
partial, squares : float64 (n_chunks,) -- per step chunk, the clipping norm's
    and sum(W^2)'s parts.
"""

DeviceScratch = namedtuple("DeviceScratch", "acts deltas xbuf act_off capacity")
DeviceScratch.__doc__ = """CUDA buffers for blocks of at most ``capacity`` rows,
allocated once per fit (``cuda_layers.device_scratch``).

acts, deltas : flat device buffers of every layer's outputs / deltas; layer
    ``i`` at ``act_off[i]``, row-major with leading dimension ``units[i + 1]``.
xbuf : flat device buffer for a block of input rows (gathered or uploaded).
act_off : tuple of host ints, the layers' offsets (and the total at the end):
    the launchers read them for launch configurations.
capacity : rows per block.
"""

