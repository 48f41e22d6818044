"""Tuning knobs: path cross-overs, block sizes, thread thresholds, the CUDA tile.

Every size that decides *how* fastmlp computes (never *what*) lives here, with
the measurement behind it. The backends read these names at call time, so a
test or a user can change them (``monkeypatch.setattr(fastmlp.config, ...)``)
without reloading anything. ``SERIAL_GEMM_MACS`` and ``BLAS_SERIAL_MACS``
are the exceptions: the compiled kernels read them when
they are compiled, and changing them later has no effect on code already in the
on-disk cache.
"""

import os

ROWS_PATH_MACS = 1_000
"""Mini-batches with at most this many multiply-adds (batch rows x coefficients)
train on the per-sample path (``kernels.rows``: loops, no BLAS); larger ones on
the mini-batch path (``kernels.training``: BLAS products, fused elementwise
loops). Batch size 1 always takes the per-sample path, which then updates each
weight the moment its gradient is known.

Measured crossover (epoch time of 4000 rows, float32 and float64, 2-core Xeon,
OpenBLAS 0.3.31): the mini-batch path is faster from batch x coefficients of
about 800-1000 on -- 0.5-0.6x the per-sample path's time for a 20-64-4 network
at batch 2, 0.1x at batch 64, 0.2x for 10-32-4 at batch 64 -- and the
per-sample path only wins for tiny networks at small batches (2-8-1: 4.5x
faster at batch 2, even at batch 32). The old value, 100,000, kept mid-size
networks on the slow side of that line. Re-measure with
``python benchmarks/crossovers.py training``."""

PREDICT_LOOP_ROWS = 1
"""Predictions of at most this many dense rows run ``prediction.predict_rows``
whatever the network (see ``PREDICT_ROWS_MACS``)."""

PREDICT_ROWS_MACS = 24_000
"""Predictions of at most ``PREDICT_LOOP_ROWS`` dense rows, or of at most this
many multiply-adds (rows x coefficients), run ``prediction.predict_rows``
(plain loops, no block scratch, the latency path); more go through BLAS in
blocks. A row's prediction can therefore differ in its last bits with the
number of rows predicted at once.

Measured with ``python benchmarks/crossovers.py prediction --dtype float32``
(and float64), ``predict_proba`` through the lean path, fitted models of 24 to
233,984 coefficients (784-256-128-10), 2-core AMD EPYC, OpenBLAS 0.3.30: one
row is 1.2-1.7x faster with loops for every network (a row-vector product is
memory-bound either way, and the loops skip ReLU's zeros and BLAS's call
overhead); from two rows on BLAS reuses each weight row across rows, and the
cross-over (ratio 1) lies between 16,000 and 35,000 multiply-adds (1536
coefficients: 0.93-1.0 at 16 rows; 4400: 1.03 at 8 rows, 0.89 at 16; 50,432:
0.74 at 2 rows). Re-measure with that command."""

ROWS_PATH_MAX_SPARSE_FEATURES = 1000
"""CSR input wider than this trains on the mini-batch path whatever the batch
size: the per-sample path clears the whole input row for every sample."""

CPU_CHUNK_ROWS = 4096
"""Rows per block of the CPU's full-data passes (L-BFGS objective, prediction):
bounds the scratch memory at 4096 x (sum of layer widths) values."""

CUDA_CHUNK_ROWS = 16384
"""Rows per block of the GPU's full-data passes: larger than the CPU's, since a
GPU needs many rows in flight to be busy and device scratch is cheap."""

SERIAL_GEMM_MACS = 8_000_000
"""Largest matrix product (multiply-adds) that ``kernels.products.gemm`` computes
on the calling thread, in BLAS calls of at most ``BLAS_SERIAL_MACS`` each; larger
products are one BLAS call with the process's BLAS thread setting. Below it, a
second BLAS thread costs more than it saves, and thrashes on busy machines or
when fits run in threads. Read when the kernels are compiled.

Measured (2-core Xeon shared with other work, OpenBLAS 0.3.30, float32, pieces of
262,144, best of 5): a 200 x 64 x 64 product takes 16 us in pieces, 13 us as one single-threaded
call, 13 us to 14 ms as one 2-thread call; 500 x 64 x 100: 114 us in pieces,
133 us single-threaded, 14-45 ms with 2 threads. Pieces cost most where they are
thinnest (wide layers): 200 x 100 x 300 (D @ W.T) takes 0.64 ms in pieces and
0.21 ms as one single-threaded call -- still 20x faster than one 2-thread call on
that busy machine."""

BLAS_SERIAL_MACS = 524_287
"""Largest product (m x n x k) that OpenBLAS computes on the calling thread
whatever its thread setting: it runs a product on ``m n k // 262144`` threads
at most (``GEMM_MULTITHREAD_THRESHOLD`` 4 x 65536), so on one below 2 x 262144.
Measured as process CPU time / wall time over 3000 float64 products with 2 BLAS
threads allowed: 0.95 at 520,192 multiply-adds, 1.34 at 528,384 (core type
Haswell); SkylakeX kernels stay on one thread up to 1,000,000. Checked by
``tests/test_kernels.py::test_gemm_pieces_ignore_blas_threads``. Read when the
kernels are compiled."""


PIECE_MACS = 150_000
"""Least multiply-adds (rows x coefficients) of a piece of a mini-batch, or of
the L-BFGS objective's rows, that ``kernels.pieces`` computes in parallel with
the other pieces (see ``pieces_of``). Read at call time; re-measure with
``python benchmarks/pieces_scaling.py --pieces 1 2 4 8``."""

PIECE_ROWS = 32
"""Least rows of a piece. Each piece adds a whole gradient to the sum (S) of
``kernels.pieces``, a memory-bound pass over every parameter: measured on W7's
(100, 100) fit at batch 100 (2-core AMD EPYC, 10 epochs, best of 3), 2, 4 and
8 pieces took 1.03, 1.16 and 1.34x the uncut batch's time on one thread, and
with two threads 0.83, 0.92 and 1.06x of it (an epoch's pieces alone, without
the step, scale 1.68x on two threads there: as far as two independent BLAS
loops do on that machine, 1.7-1.9x)."""

PIECE_MIN_SAMPLES = 2048
"""Fewest training rows (per ``fit`` or ``partial_fit`` call) whose mini-batches
are cut into pieces: below, a fit is over in a few milliseconds per epoch, and
a fresh process would spend more loading (about 0.2 s) or first compiling
(about 10 s) the parallel kernels than their threads save. W7 and W13 (4,000
and 5,000 rows) are cut; scikit-learn's digits (1,797 rows: the demo, W5, W8)
are not."""

MAX_PIECES = 8
"""Most pieces a mini-batch is cut into: the most threads one fit can keep busy
(more cores than pieces stay idle) and the number of per-piece scratch slots
(the extra memory of a fit, ``backends.cpu.piece_scratch``)."""

STEP_CHUNK_PARAMS = 4096
"""Parameters per chunk of the data-parallel optimizer step (``kernels.pieces``,
(U)); sum(W^2) and the clipping norm are summed per chunk, then over chunks."""


def pieces_of(rows, n_coef, n_samples):
    """How many pieces ``kernels.pieces`` cuts ``rows`` rows (a mini-batch, or
    all rows for L-BFGS) of a fit over ``n_samples`` rows of a network of
    ``n_coef`` coefficients into: the largest power of two (so that 2, 4 or 8
    threads share them evenly) of at most ``MAX_PIECES``, ``rows //
    PIECE_ROWS`` and ``rows x n_coef // PIECE_MACS``; 1, which keeps the
    serial kernels of ``kernels.training``, below ``PIECE_MIN_SAMPLES``
    rows. A function of the data's size, the batch and the network only,
    never of the number of threads, so that results do not depend on it.

    W7's fits (batch 100 through (100, 100); batch 200 through (64,)) are cut
    in 2, a batch of 256 rows through 784-256-128-10 in 8."""
    if n_samples < PIECE_MIN_SAMPLES:
        return 1
    most = min(MAX_PIECES, rows // PIECE_ROWS, rows * n_coef // PIECE_MACS)
    count = 1
    while 2 * count <= most:
        count *= 2
    return count


def objective_pieces(n_samples, n_coef):
    """(rows per piece, scratch slots) of the L-BFGS objective over ``n_samples``
    rows: ``pieces_of`` pieces of at most ``CPU_CHUNK_ROWS`` rows each, computed
    a wave of slots at a time. The slots -- at most ``MAX_PIECES`` and the usable
    cores -- bound the scratch memory and never change a result (the pieces are
    added up in piece order whatever the waves)."""
    from .threads import usable_cores

    piece_rows = min(CPU_CHUNK_ROWS,
                     -(-n_samples // pieces_of(n_samples, n_coef, n_samples)))
    n_pieces = -(-n_samples // piece_rows)
    return piece_rows, min(n_pieces, MAX_PIECES, max(2, usable_cores()))


def step_chunks(n_params):
    """Chunks of the data-parallel optimizer step for ``n_params`` parameters."""
    return int(max(1, -(-n_params // STEP_CHUNK_PARAMS)))


CUDA_TILE_MAX = 32
"""Largest CUDA tile: 32 x 32 = 1024 threads, CUDA's limit per block. Shared
memory is sized for it, so the tile can change without recompiling."""


def check_cuda_tile(tile):
    """``tile`` as an int in ``[1, CUDA_TILE_MAX]``, or ValueError."""
    tile = int(tile)
    if not 1 <= tile <= CUDA_TILE_MAX:
        raise ValueError(f"the CUDA tile must be in [1, {CUDA_TILE_MAX}], got {tile}.")
    return tile


CUDA_COPY_THREADS = 4
"""Host threads that copy a chunk of X into the pinned upload buffer during a
many-chunk GPU prediction (chunks of at least 2**20 elements; NumPy copies
without the GIL). One thread's memcpy (~5-10 GB/s) would bound a 1M-row
prediction of 784 features below 4M rows/s; the upload itself (pinned, ~25
GB/s) and the kernels are faster."""

CUDA_GEMM = os.environ.get("FASTMLP_CUDA_GEMM", "auto")
"""Which kernel computes the CUDA path's matrix products: ``"auto"`` (by shape,
``kernels.cuda_layers.gemm_choice``), ``"tiled"`` (the one-output-per-thread
shared-memory kernel everywhere) or a key of ``cuda_layers.GEMM_TILES`` (that
register-blocked tiling everywhere; tests force each one). Read at launch."""

CUDA_GEMM_TILES = {"float32": ("r128x128", "r128x64", "r64x64"),
                   "float64": ("r64x64", "r64x32")}
"""The register-blocked tilings ``"auto"`` tries per dtype, largest first. The
largest tiles reuse each shared-memory load most (8 x 8 outputs per thread:
16 shared loads per 64 FMAs) but need enough outputs to give every
multiprocessor a block; float64 stops at 4 x 4 per thread (an 8 x 8 float64
micro-tile needs 128 registers for the accumulators alone). Static resources
per tile on sm_90: ``benchmarks/gpu_kernels_report.py``."""

CUDA_GEMM_MIN_BLOCKS = 120
"""Fewest blocks a register-blocked product may launch under ``"auto"``: about
one per multiprocessor of an H100 (132). Fewer, and the product falls to the next
smaller tiling, then to the tiled kernel, which keeps the small-batch path as
it was (W3 at batch 256: 256 x 256 outputs, 16 blocks of 64 x 64)."""

CUDA_GEMM_SPLIT_K = os.environ.get("FASTMLP_CUDA_GEMM_SPLIT_K", "auto")
"""Split-K of the register-blocked weight-gradient products: ``"auto"``
(``kernels.cuda_layers.split_count``: when the output blocks fill less than one
wave of the GPU) or a number of pieces of k (1: never split). The pieces' partial
products are summed in a fixed order by a second launch, so results do not
depend on scheduling. Read at launch."""

CUDA_GEMM_SPLIT_MIN_K = 512
"""Least depth of k per split-K piece (64 slabs of 8)."""

CUDA_GEMM_BLOCKS_PER_SM = {"r128x128": 2, "r128x64": 2, "r64x64": 4, "r64x32": 4}
"""Resident blocks per multiprocessor of each float32 tiling on sm_90 (registers
and shared memory from ``benchmarks/gpu_kernels_report.py``), for split-K's
wave count; float64's are lower (it splits a little less than it could)."""

CUDA_TILE = check_cuda_tile(os.environ.get("FASTMLP_CUDA_TILE", 16))
"""Threads per side of a CUDA block: matrix products run ``CUDA_TILE`` x
``CUDA_TILE`` blocks, the 1-D kernels ``CUDA_TILE ** 2`` threads. Read from the
environment variable ``FASTMLP_CUDA_TILE`` at import (default 16); tests shrink
it so that tiny shapes span several blocks."""
