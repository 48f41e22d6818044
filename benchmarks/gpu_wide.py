"""GPU: fastmlp's CUDA path against PyTorch / cuBLAS on the same GPU, in one run.

Measures, and prints as one Markdown table headed by the GPU's name:

1. the wide fit: 60,000 x 784, hidden (1024, 1024), batch 4096, 5 epochs, adam,
   float32 -- fastmlp ``device='cuda'`` against the same PyTorch loop on the GPU;
2. the product alone, 4096 x 1024 x 1024 float32: fastmlp's product kernel
   (``cuda_layers.gemm``, FORWARD epilogue with identity, as the shape choice
   picks it and then forced to every register-blocked tiling and to the old
   tiled kernel) against cuBLAS through ``torch.matmul`` with TF32 off; and the
   wide fit's first weight gradient (784 x 4096 x 1024) with and without split-K;
3. W3 (784-256-128-10, batch 256, 2 epochs) and a W2-like fit (784-128-10,
   batch 200, 20 epochs on 8,000 rows) against PyTorch;
4. ``predict_proba`` of 1,000,000 rows with the wide model, in M rows/s.

Targets (the GPU issue): product >= 50 % of cuBLAS; wide fit >= 0.8x PyTorch;
W3 batch 256 and W2-like ahead of PyTorch; prediction >= 4 M rows/s.

Run from the project root on a machine with an NVIDIA GPU, PyTorch with CUDA and
numba-cuda (mind ``fastmlp.backends.cuda_incompatibility``: numba-cuda 0.30.4
needs NumPy < 2.5)::

    PYTHONPATH=$PWD python benchmarks/gpu_wide.py [--quick]

``--quick``: a tenth of the rows and epochs (a smoke run, not for the numbers).
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks import _workloads as wl  # noqa: E402

warnings.simplefilter("ignore")
ROWS = []


def best(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def row(case, fastmlp_s, torch_s=None, unit="s", fastmlp_rate=None, torch_rate=None,
        note=""):
    ratio = "" if torch_s is None else f"{torch_s / fastmlp_s:.2f}"
    ROWS.append((case, fastmlp_s, torch_s, fastmlp_rate, torch_rate, ratio, note))
    print(f"{case}: fastmlp {fastmlp_s:.4f} {unit}"
          + ("" if torch_s is None else f", torch {torch_s:.4f} {unit}, torch/fastmlp {ratio}")
          + (f" [{note}]" if note else ""), flush=True)


def torch_fit(X, y, hidden, batch_size, epochs, seed=0, lr=1e-3):
    """scikit-learn's adam loop in PyTorch on the GPU (as shared/gpu/gpu_peers.py)."""
    import torch
    dev = "cuda"
    model = wl.torch_mlp([X.shape[1], *hidden, int(y.max()) + 1], X.dtype, seed).to(dev)
    weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
    opt = torch.optim.Adam([{"params": weights, "weight_decay": wl.ALPHA / batch_size},
                            {"params": biases, "weight_decay": 0.0}], lr=lr)
    Xt = torch.from_numpy(np.ascontiguousarray(X)).to(dev)
    yt = torch.from_numpy(np.asarray(y, dtype=np.int64)).to(dev)
    loss_fn = torch.nn.CrossEntropyLoss()
    g = torch.Generator(device=dev).manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(Xt), generator=g, device=dev)
        for start in range(0, len(Xt), batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(Xt[idx]), yt[idx]).backward()
            opt.step()
    torch.cuda.synchronize()
    return model


def fit_case(name, X, y, hidden, batch_size, epochs, repeat=3):
    from fastmlp import MLPClassifier
    params = dict(hidden_layer_sizes=hidden, solver="adam", batch_size=batch_size,
                  max_iter=epochs, random_state=0, device="cuda")
    MLPClassifier(**{**params, "max_iter": 1}).fit(X[:2 * batch_size], y[:2 * batch_size])
    t_f, est = best(lambda: MLPClassifier(**params).fit(X, y), repeat)
    torch_fit(X[:2 * batch_size], y[:2 * batch_size], hidden, batch_size, 1)
    t_t, _ = best(lambda: torch_fit(X, y, hidden, batch_size, epochs), repeat)
    flops = wl.mlp_flops(len(X), X.shape[1], hidden, 10, epochs)
    row(name, t_f, t_t, fastmlp_rate=f"{flops / t_f / 1e12:.2f} TFLOP/s",
        torch_rate=f"{flops / t_t / 1e12:.2f} TFLOP/s")
    return est


def product_case(m=4096, k=1024, n=1024, reps=20):
    import torch
    from numba import cuda

    from fastmlp import config
    from fastmlp.kernels import cuda_layers as kern
    from fastmlp.kernels.cuda_layers import Epilogue, Operand
    from fastmlp.spec import IDENTITY

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    rng = np.random.default_rng(0)
    A = rng.random((m, k), dtype=np.float32)
    B = rng.random((k, n), dtype=np.float32)
    dA = cuda.to_device(A.ravel())
    dP = cuda.to_device(np.concatenate([B.ravel(), np.zeros(n, np.float32)]))
    dC = cuda.device_array(m * n, dtype=np.float32)
    flops = 2.0 * m * n * k
    ta, tb = torch.from_numpy(A).cuda(), torch.from_numpy(B).cuda()
    expected = (ta @ tb).cpu().numpy()
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(reps):
        ta @ tb
    torch.cuda.synchronize()
    t_cublas = (time.perf_counter() - t) / reps

    def launch():
        kern.gemm(Operand(dA, 0, k, False), Operand(dP, 0, n, False), Operand(dC, 0, n, False),
                  m, n, k, Epilogue(kern.FORWARD, k * n, dC, IDENTITY, False, False))

    previous = config.CUDA_GEMM
    choices = ["auto", *config.CUDA_GEMM_TILES["float32"], "tiled"]
    try:
        for choice in choices:
            config.CUDA_GEMM = choice
            label = kern.gemm_choice(m, n, np.float32) if choice == "auto" else choice
            launch()
            cuda.synchronize()
            err = float(np.max(np.abs(dC.copy_to_host().reshape(m, n) - expected))
                        / np.max(np.abs(expected)))
            t = time.perf_counter()
            for _ in range(reps):
                launch()
            cuda.synchronize()
            t_k = (time.perf_counter() - t) / reps
            row(f"product {m}x{k}x{n} f32, {choice} ({label}) vs cuBLAS (TF32 off)", t_k,
                t_cublas, fastmlp_rate=f"{flops / t_k / 1e12:.2f} TFLOP/s",
                torch_rate=f"{flops / t_cublas / 1e12:.2f} TFLOP/s",
                note=f"rel err {err:.1e}; {t_cublas / t_k:.0%} of cuBLAS")
    finally:
        config.CUDA_GEMM = previous


def weight_grad_case(rows=4096, n_in=784, n_out=1024, reps=20):
    """The wide fit's first weight gradient, dW = A.T @ D (785 x 1024 outputs with
    the bias row, k = 4096): split-K as ``auto`` picks it, and unsplit."""
    import torch
    from numba import cuda

    from fastmlp import config
    from fastmlp.kernels import cuda_layers as kern
    from fastmlp.kernels.cuda_layers import Epilogue, Operand
    from fastmlp.spec import IDENTITY

    torch.backends.cuda.matmul.allow_tf32 = False
    rng = np.random.default_rng(1)
    A = rng.random((rows, n_in), dtype=np.float32)
    D = rng.random((rows, n_out), dtype=np.float32)
    dA, dD = cuda.to_device(A.ravel()), cuda.to_device(D.ravel())
    grad = cuda.device_array(n_in * n_out + n_out, dtype=np.float32)
    ta, td = torch.from_numpy(A).cuda(), torch.from_numpy(D).cuda()
    expected = (ta.T @ td).cpu().numpy()
    t = time.perf_counter()
    for _ in range(reps):
        ta.T @ td
        td.sum(0)
    torch.cuda.synchronize()
    t_torch = (time.perf_counter() - t) / reps
    flops = 2.0 * rows * n_in * n_out
    name = kern.gemm_choice(n_in + 1, n_out, np.float32)

    def launch():
        kern.gemm(Operand(dA, 0, n_in, True), Operand(dD, 0, n_out, False),
                  Operand(grad, 0, n_out, False), n_in, n_out, rows,
                  Epilogue(kern.WEIGHT_GRAD, n_in * n_out, grad, IDENTITY, False, False))

    previous = config.CUDA_GEMM_SPLIT_K
    try:
        for split in ("auto", 1):
            config.CUDA_GEMM_SPLIT_K = split
            pieces = kern.split_count(name, -(-(n_in + 1) // kern.GEMM_TILES[name].bm)
                                      * -(-n_out // kern.GEMM_TILES[name].bn), rows) \
                if name != "tiled" else 1
            launch()
            cuda.synchronize()
            got = grad.copy_to_host()[: n_in * n_out].reshape(n_in, n_out)
            err = float(np.max(np.abs(got - expected)) / np.max(np.abs(expected)))
            t = time.perf_counter()
            for _ in range(reps):
                launch()
            cuda.synchronize()
            t_k = (time.perf_counter() - t) / reps
            row(f"weight gradient {n_in}x{rows}x{n_out} f32, {name}, split-K {split} "
                f"({pieces} pieces) vs torch A.T @ D + sum", t_k, t_torch,
                fastmlp_rate=f"{flops / t_k / 1e12:.2f} TFLOP/s",
                torch_rate=f"{flops / t_torch / 1e12:.2f} TFLOP/s", note=f"rel err {err:.1e}")
    finally:
        config.CUDA_GEMM_SPLIT_K = previous


def predict_case(est, n):
    X = np.random.default_rng(0).random((n, est.n_features_in_), dtype=np.float32)
    est.predict_proba(X[:1000])
    t, _ = best(lambda: est.predict_proba(X), 3)
    row(f"predict_proba {n:,} rows, (1024, 1024) model", t,
        fastmlp_rate=f"{n / t / 1e6:.2f} M rows/s")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    import numba
    import torch
    from numba import cuda

    from fastmlp.backends import cuda_incompatibility
    problem = cuda_incompatibility()
    if problem:
        sys.exit(problem)
    gpu = cuda.get_current_device().name
    gpu = gpu.decode() if isinstance(gpu, bytes) else gpu
    print(f"GPU {gpu}; numba {numba.__version__}, numpy {np.__version__}, "
          f"torch {torch.__version__}", flush=True)
    scale = 10 if args.quick else 1
    Xtr, ytr, _, _ = wl.w3_data(60000 // scale, 1000, "float32")
    product_case()
    weight_grad_case()
    wide = fit_case("wide fit 60000x784 (1024,1024) b4096 5ep f32", Xtr, ytr, (1024, 1024),
                    4096, max(1, 5 // scale), repeat=2)
    fit_case("W3 (256,128) b256 2ep f32", Xtr, ytr, (256, 128), 256, 2)
    X2, y2, _, _, _ = wl.w2_data("float32")
    fit_case("W2-like (128,) b200 20ep f32", X2, y2, (128,), 200, max(2, 20 // scale))
    predict_case(wide, 1_000_000 // scale)
    print(f"\n### fastmlp device='cuda' vs PyTorch / cuBLAS on {gpu}\n")
    print("| case | fastmlp (s) | torch (s) | fastmlp rate | torch rate | torch/fastmlp | note |")
    print("|---|---|---|---|---|---|---|")
    for case, f, t, fr, tr, ratio, note in ROWS:
        print(f"| {case} | {f:.4f} | {'' if t is None else f'{t:.4f}'} | {fr or ''} | "
              f"{tr or ''} | {ratio} | {note} |")


if __name__ == "__main__":
    main()
