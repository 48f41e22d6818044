"""Compile every CUDA kernel to PTX for the real CUDA target, in float32 and float64.

The simulator runs kernels as Python, so it cannot catch what only Numba's CUDA
compiler rejects (typing, unsupported builtins). This script needs no GPU, only
the CUDA toolkit's NVVM; it must run with NUMBA_ENABLE_CUDASIM unset.
``test_cuda_device.py`` runs it in a subprocess. Exit status 77: no toolkit.

Kernel signatures are built from parameter names (arrays of the training dtype,
float64 buffers, flags, reals, argument bundles, and int64 for everything else),
so a new ``*_kernel`` in ``cuda_layers`` is covered without editing this file.
"""

import inspect
import sys

import numpy as np
from numba import cuda, typeof, types

DTYPE_ARRAYS = {"X", "xbuf", "Z", "P", "D", "M", "kept_value", "params", "grad", "part"}
DTYPE_MATRICES = {"Y", "state"}
FLOAT64_ARRAYS = {"sw", "sums", "partial"}
INDEX_ARRAYS = {"order", "keys"}
FLAGS = {"accumulate", "softmax", "first", "contiguous", "store", "clipped"}
REALS = {"alpha", "lr_t", "epsilon", "scale", "max_norm"}
CC = (8, 0)


def bundle_types(dtype):
    """Numba types of the named-tuple arguments, from example values."""
    from fastmlp.kernels.bundles import Block, Hyper, LossSpec, Targets
    from fastmlp.kernels.cuda_layers import Epilogue, Operand

    flat = np.empty(1, dtype=np.dtype(str(dtype)))
    operand = typeof(Operand(flat, 0, 0, False))
    return {
        "a": operand, "b": operand, "c": operand,
        "epi": typeof(Epilogue(0, 0, flat, 0, False, False)),
        "targets": typeof(Targets(flat.reshape(1, 1), np.empty(1), False)),
        "block": typeof(Block(np.empty(1, dtype=np.int64), 0, 0, False)),
        "loss": typeof(LossSpec(0, 0.0, 0.0)),
        "hyper": typeof(Hyper(0.0, 0.0, False, 0.0, 0.0, 0.0)),
    }


def argument_type(name, dtype):
    bundles = bundle_types(dtype)
    if name in bundles:
        return bundles[name]
    if name in DTYPE_ARRAYS:
        return types.Array(dtype, 1, "C")
    if name in DTYPE_MATRICES:
        return types.Array(dtype, 2, "C")
    if name in FLOAT64_ARRAYS:
        return types.Array(types.float64, 1, "C")
    if name in INDEX_ARRAYS:
        return types.Array(types.int64, 1, "C")
    if name in FLAGS:
        return types.boolean
    if name in REALS:
        return types.float64
    return types.int64


def without_device():
    """Numba's built-in CUDA target asks the current device for its compute
    capability when it compiles device functions; answer for it."""
    import numba.cuda.dispatcher as dispatcher

    class Device:
        compute_capability = CC

    if hasattr(dispatcher, "get_current_device"):
        dispatcher.get_current_device = lambda: Device()


def toolkit_missing():
    """Why PTX cannot be compiled here, or None."""

    def probe(out):
        out[0] = 1.0

    try:
        cuda.compile_ptx(probe, (types.Array(types.float64, 1, "C"),), cc=CC)
    except Exception as exc:  # no NVVM / NVRTC: nothing to check here
        return f"{type(exc).__name__}: {exc}"
    return None


def main():
    without_device()
    reason = toolkit_missing()
    if reason:
        print("no CUDA toolkit to compile with:", reason.splitlines()[0])
        return 77
    from fastmlp.kernels import cuda_layers

    # the register-blocked products compile in test_cuda_gemm.py::test_no_spills
    # (benchmarks/gpu_kernels_report.py), with their resources checked
    tiled = {f"gemm_{name}_kernel" for name in cuda_layers.GEMM_KERNELS}
    names = sorted(n for n in dir(cuda_layers) if n.endswith("_kernel") and n not in tiled)
    for dtype in (types.float32, types.float64):
        for name in names:
            func = getattr(cuda_layers, name).py_func
            params = inspect.signature(func).parameters
            signature = tuple(argument_type(p, dtype) for p in params)
            # a launch cannot pass None: no argument may hold a field of type none
            assert "none" not in str(signature), (name, signature)
            ptx, _ = cuda.compile_ptx(func, signature, cc=CC)
            assert ".entry" in ptx, name
            print(f"compiled {name} [{dtype}] ({cuda.implementation})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
