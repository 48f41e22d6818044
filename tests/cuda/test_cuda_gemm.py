"""The register-blocked product kernels (``cuda_layers.GEMM_TILES``) against NumPy.

Under the simulator every CUDA thread is a Python thread, so the edge shapes
(1, 7, 31, 33, 129 rows / columns, k not a multiple of the slab) run on the two
tiny tilings made for the tests (``t8x8``: loads divide evenly among the
threads; ``t6x4``: they do not), for both dtypes, the three product layouts the
network uses (forward ``A @ W``, weight gradient ``A.T @ D``, backprop ``D @
W.T``), the fourth one, and every epilogue; the real tilings run once each on a
grid of a few blocks. ``config.CUDA_GEMM`` forces the tiling (``gemm_choice``).
The static side (registers, spills, shared memory per tiling, compiled for
sm_90) is ``test_no_spills``.
"""

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from fastmlp import config
from fastmlp.kernels import cuda_layers as kern
from fastmlp.kernels.cuda_layers import Epilogue, Operand

import reference as ref
from cuda_twins import SENTINEL, assert_close, flat_buffer, to_device

ROOT = Path(__file__).resolve().parents[2]
TINY = ("t8x8", "t6x4")
REAL = tuple(name for name in kern.GEMM_TILES if name not in TINY)
FORWARD, WEIGHT_GRAD, BACKPROP = kern.FORWARD, kern.WEIGHT_GRAD, kern.BACKPROP


def rng_for(*keys):
    return np.random.default_rng(zlib.crc32(repr(keys).encode()))


def run_gemm(tile, dtype, n, m, k, a_trans, b_trans, kind, code=ref.TANH, accumulate=False,
             monkeypatch=None):
    """``kern.gemm`` on tiling ``tile`` with operands at offsets in sentinel-filled
    flat buffers; checks C (and the bias row / untouched slots) against NumPy."""
    monkeypatch.setattr(config, "CUDA_GEMM", tile)
    rng = rng_for(tile, np.dtype(dtype).name, n, m, k, a_trans, b_trans, kind, code)
    A = rng.standard_normal((n, k)).astype(dtype)  # op(A)
    B = rng.standard_normal((k, m)).astype(dtype)  # op(B)
    a_off, b_off, c_off = 3, 2, 1
    a_store = A.T if a_trans else A
    b_store = B.T if b_trans else B
    a_buf = flat_buffer({a_off: a_store}, dtype, a_off + A.size + 2)
    bias = rng.standard_normal(m).astype(dtype)
    bias_off = b_off + B.size + 1
    b_buf = flat_buffer({b_off: b_store, bias_off: bias}, dtype, bias_off + m + 2)
    a = Operand(to_device(a_buf), a_off, a_store.shape[1], a_trans)
    b = Operand(to_device(b_buf), b_off, b_store.shape[1], b_trans)
    P = A.astype(np.float64) @ B
    c_size = c_off + n * m + 3
    if kind == FORWARD:
        C = to_device(flat_buffer({}, dtype, c_size))
        kern.gemm(a, b, Operand(C, c_off, m, False), n, m, k,
                  Epilogue(FORWARD, bias_off, C, code, False, False))
        expected = ref.bias_activate(P, bias, code)
        got = C.copy_to_host()
    elif kind == WEIGHT_GRAD:
        g_off = c_off + n * m + 2  # bias gradient after the matrix, one slot apart
        C0 = rng.standard_normal(g_off + m + 2).astype(dtype)
        C = to_device(C0)
        kern.gemm(a, b, Operand(C, c_off, m, False), n, m, k,
                  Epilogue(WEIGHT_GRAD, g_off, C, ref.IDENTITY, accumulate, False))
        got = C.copy_to_host()
        bias_grad = B.sum(axis=0, dtype=np.float64)
        if accumulate:
            P = P + C0[c_off : c_off + n * m].reshape(n, m)
            bias_grad = bias_grad + C0[g_off : g_off + m]
        assert_close(got[g_off : g_off + m], bias_grad, dtype, "bias gradient")
        np.testing.assert_array_equal(got[:c_off], C0[:c_off])
        np.testing.assert_array_equal(got[c_off + n * m : g_off], C0[c_off + n * m : g_off])
        np.testing.assert_array_equal(got[g_off + m :], C0[g_off + m :])
        assert_close(got[c_off : c_off + n * m].reshape(n, m), P, dtype)
        return
    else:  # BACKPROP: C = P * f'(aux) with aux the layer's activations
        Z = rng.standard_normal((n, m))
        act = ref.activate(Z, code).astype(dtype)
        aux = to_device(flat_buffer({c_off: act}, dtype, c_size))
        C = to_device(flat_buffer({c_off: Z.astype(dtype)}, dtype, c_size))
        kern.gemm(a, b, Operand(C, c_off, m, False), n, m, k,
                  Epilogue(BACKPROP, 0, aux, code, False, False))
        expected = P * ref.derivative(act.astype(np.float64), code, Z.astype(dtype))
        got = C.copy_to_host()
    assert_close(got[c_off : c_off + n * m].reshape(n, m), expected, dtype)
    assert np.all(got[:c_off] == SENTINEL) and np.all(got[c_off + n * m :] == SENTINEL)


# (n, m, k) edge shapes: 1, 7, 31, 33, 129 rows / columns; k of 1 ... 33, never a
# multiple of the slabs (t8x8's are 4 deep, t6x4's 2)
SHAPES = [(1, 1, 1), (7, 33, 31), (33, 7, 13), (129, 7, 33), (7, 129, 5), (31, 31, 9)]
LAYOUTS = {  # kind: (a_trans, b_trans) of the network's use
    FORWARD: (False, False), WEIGHT_GRAD: (True, False), BACKPROP: (False, True)}


def edge_cases():
    """Every tiny tiling x dtype x epilogue meets every edge shape once (the
    shapes rotate over the combinations so the simulator time stays small)."""
    cases = []
    combos = [(tile, dtype, kind) for tile in TINY for dtype in (np.float32, np.float64)
              for kind in (FORWARD, WEIGHT_GRAD, BACKPROP)]
    for c, (tile, dtype, kind) in enumerate(combos):
        for s in range(2):
            shape = SHAPES[(2 * c + s) % len(SHAPES)]
            cases.append(pytest.param(tile, dtype, kind, shape,
                                      id=f"{tile}-{np.dtype(dtype).name}-{kind}-{shape}"))
    return cases


@pytest.mark.parametrize("tile,dtype,kind,shape", edge_cases())
def test_edge_shapes(tile, dtype, kind, shape, monkeypatch):
    n, m, k = shape
    a_trans, b_trans = LAYOUTS[kind]
    code = (ref.RELU, ref.TANH, ref.LOGISTIC)[sum(shape) % 3]
    run_gemm(tile, dtype, n, m, k, a_trans, b_trans, kind, code, accumulate=bool(k % 2),
             monkeypatch=monkeypatch)


@pytest.mark.parametrize("tile", TINY)
@pytest.mark.parametrize("a_trans,b_trans", [(False, False), (True, False), (False, True),
                                             (True, True)])
def test_every_layout(tile, a_trans, b_trans, monkeypatch):
    """Each operand in either storage order (the kernel takes any combination)."""
    run_gemm(tile, np.float64, 9, 10, 11, a_trans, b_trans, FORWARD, ref.IDENTITY,
             monkeypatch=monkeypatch)


REAL_CASES = [  # one grid of a few blocks per real tiling, rotating layout / epilogue
    ("r128x128", np.float32, (129, 17, 9), FORWARD),  # 2 blocks of 256 threads
    ("r128x64", np.float32, (127, 65, 9), WEIGHT_GRAD),  # the ones row is the tile's last
    ("r64x64", np.float64, (65, 66, 10), BACKPROP),
    ("r64x32", np.float64, (33, 40, 33), WEIGHT_GRAD),
]
assert {case[0] for case in REAL_CASES} == set(REAL)


@pytest.mark.parametrize("tile,dtype,shape,kind", REAL_CASES, ids=[c[0] for c in REAL_CASES])
def test_real_tilings(tile, dtype, shape, kind, monkeypatch):
    a_trans, b_trans = LAYOUTS[kind]
    run_gemm(tile, dtype, *shape, a_trans, b_trans, kind, ref.RELU, accumulate=True,
             monkeypatch=monkeypatch)


@pytest.mark.parametrize("tile,splits,shape,accumulate,dtype", [
    ("t8x8", 3, (33, 7, 31), False, np.float32),  # 8 slabs: pieces of 3, 3, 2
    ("t8x8", 4, (9, 10, 20), True, np.float64),  # 5 slabs: pieces of 2, 2, 1 and 0
    ("t6x4", 2, (7, 9, 33), True, np.float32),
])
def test_split_k(tile, splits, shape, accumulate, dtype, monkeypatch):
    """Weight gradients split along k: partial products summed by ``split_sum_kernel``
    with the WEIGHT_GRAD epilogue (bias row, accumulate)."""
    monkeypatch.setattr(config, "CUDA_GEMM_SPLIT_K", splits)
    run_gemm(tile, dtype, *shape, True, False, WEIGHT_GRAD, accumulate=accumulate,
             monkeypatch=monkeypatch)


def test_split_count(monkeypatch):
    """``auto`` splits a weight gradient whose blocks fill less than one wave, into
    the count that fills its waves best, never below 512 of k per piece."""
    monkeypatch.setattr(kern, "_SMS", [132])
    monkeypatch.setattr(config, "CUDA_GEMM_SPLIT_K", "auto")
    # 785 x 1024 outputs on 64 x 64 tiles: 208 blocks, 528 slots
    assert kern.split_count("r64x64", 208, 4096) == 5  # 1040 blocks: 98 % of 2 waves
    assert kern.split_count("r64x64", 208, 800) == 1  # too shallow to split
    assert kern.split_count("r128x128", 264, 4096) == 1  # a full wave already
    monkeypatch.setattr(config, "CUDA_GEMM_SPLIT_K", 6)
    assert kern.split_count("r64x64", 1, 16) == 2  # at most one piece per slab


def test_choice_by_shape(monkeypatch):
    """``auto``: the largest tiling that still gives every multiprocessor a block,
    else the one-output-per-thread kernel (small batches keep it)."""
    monkeypatch.setattr(config, "CUDA_GEMM", "auto")
    assert kern.gemm_choice(4096, 1024, np.float32) == "r128x128"
    assert kern.gemm_choice(784 + 1, 1024, np.float32) == "r64x64"  # weight gradient, wide
    assert kern.gemm_choice(2048, 512, np.float32) == "r128x64"
    assert kern.gemm_choice(256, 256, np.float32) == "tiled"  # W3 at batch 256
    assert kern.gemm_choice(4096, 10, np.float32) == "tiled"  # narrow output layer
    assert kern.gemm_choice(4096, 1024, np.float64) == "r64x64"
    monkeypatch.setattr(config, "CUDA_GEMM", "t8x8")
    assert kern.gemm_choice(1, 1, np.float32) == "t8x8"


def test_layer_launchers_on_each_tiny_tiling(monkeypatch):
    """The network's launchers (fused epilogues with pre-activations kept, the
    bias gradient, f' from z) through a register-blocked kernel: the
    per-layer loops of ``test_cuda_kernels`` on both tiny tilings."""
    import test_cuda_kernels as layer_tests

    for tile in TINY:
        monkeypatch.setattr(config, "CUDA_GEMM", tile)
        layer_tests.test_forward_and_backward(ref.GELU, False, np.float64)
        layer_tests.test_forward_and_backward(ref.TANH, True, np.float32)


def run_without_simulator(*args):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                          timeout=600, cwd=ROOT)


def test_no_spills():
    """Every tiling the shape choice can pick, compiled for sm_90 by Numba and
    ``ptxas``, uses no spill stores or loads and fits in 255 registers; the
    float32 8 x 8 tiling stays at two blocks per multiprocessor (<= 128
    registers). Skips where no NVVM or ptxas is installed."""
    result = run_without_simulator(str(ROOT / "benchmarks" / "gpu_kernels_report.py"),
                                   "--json", "--cc", "9.0", "--auto-only")
    if result.returncode == 77:
        pytest.skip(result.stdout.strip())
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 2 + sum(map(len, config.CUDA_GEMM_TILES.values()))
    for row in rows:
        assert row["spill_stores"] == 0 and row["spill_loads"] == 0, row
    big = next(r for r in rows if r["kernel"] == "gemm_r128x128_kernel"
               and r["dtype"] == "float32")
    assert big["registers"] <= 128 and big["blocks_per_sm"] >= 2, big


@pytest.mark.parametrize("tile,solver,dtype,splits", [("t8x8", "adam", np.float32, 2),
                                                      ("t6x4", "lbfgs", np.float64, 1)])
def test_fit_matches_cpu_on_a_tiling(tile, solver, dtype, splits, monkeypatch, record_diff):
    """device='cuda' fits with every product on a register-blocked kernel (the
    weight gradients split in two along k, or not) equal device='cpu' fits
    (``test_cuda_fit``'s tolerances)."""
    import test_cuda_fit as fits

    monkeypatch.setattr(config, "CUDA_GEMM", tile)
    monkeypatch.setattr(config, "CUDA_GEMM_SPLIT_K", splits)
    X, y = fits.make_data("multiclass", dtype)
    params = dict(solver=solver, activation="relu", hidden_layer_sizes=(9, 5), max_iter=2,
                  learning_rate_init=0.05, alpha=1e-3)
    if solver != "lbfgs":
        params["batch_size"] = 12
    cpu, gpu = fits.fit_both("multiclass", X, y, **params)
    fits.assert_same_model(cpu, gpu, X, dtype, record_diff)


def test_prediction_overlapped_with_threaded_copies(monkeypatch):
    """A many-chunk prediction (two streams, pinned buffers, the host copy on
    three threads, float64 rows cast to the float32 network) equals NumPy's."""
    from fastmlp import spec
    from fastmlp.backends import cuda as backend
    from fastmlp.network import Network

    monkeypatch.setattr(config, "CUDA_CHUNK_ROWS", 7)
    monkeypatch.setattr(config, "CUDA_COPY_THREADS", 3)
    monkeypatch.setattr(backend, "THREADED_COPY_MIN", 1)
    rng = rng_for("predict-threads")
    units = [5, 6, 3]
    params = (0.5 * rng.standard_normal(ref.n_params_of(units))).astype(np.float32)
    names = {kind.code: kind.name for kind in spec.ACTIVATIONS.values()}
    net = Network(units, names[ref.RELU], names[ref.SOFTMAX], params)
    X = rng.standard_normal((30, units[0]))  # float64: cast while copied
    got = backend.predict(net, X)
    expected = ref.predict(X.astype(np.float32), params, units, ref.RELU, ref.SOFTMAX)
    assert got.dtype == np.float32
    assert_close(got, expected, np.float32)
