"""What the simulator cannot show: the kernels compile for the real CUDA target,
and ``device='cuda'`` without a GPU fails with a clear RuntimeError."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastmlp.backends
from fastmlp import MLPClassifier

HERE = Path(__file__).parent
ERROR = "no usable NVIDIA GPU"


def run_without_simulator(*args):
    """Run Python with NUMBA_ENABLE_CUDASIM unset (numba reads it at import)."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                          timeout=300, cwd=HERE)


def test_kernels_compile_to_ptx():
    """Every ``*_kernel`` compiles to PTX in float32 and float64 (needs the CUDA
    toolkit's NVVM, not a GPU)."""
    result = run_without_simulator(str(HERE / "compile_kernels.py"))
    if result.returncode == 77:
        pytest.skip(result.stdout.strip())
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("compiled ") >= 12, result.stdout


@pytest.mark.without_gpu
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_cuda_without_gpu_raises(monkeypatch):
    monkeypatch.setattr(fastmlp.backends, "cuda_available", lambda: False)
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10) % 2
    clf = MLPClassifier(device="cuda", hidden_layer_sizes=(3,), max_iter=2)
    with pytest.raises(RuntimeError, match=ERROR):
        clf.fit(X, y)
    assert not hasattr(clf, "coefs_")
    auto = MLPClassifier(device="auto", hidden_layer_sizes=(3,), max_iter=2, solver="lbfgs")
    assert auto.fit(X, y).predict(X).shape == (10,)


SCRIPT = """
import numpy as np
from numba import cuda
if cuda.is_available():
    print("GPU")
else:
    from fastmlp import MLPRegressor
    try:
        MLPRegressor(device="cuda").fit(np.ones((4, 2)), np.ones(4))
    except RuntimeError as exc:
        print("RuntimeError:", exc)
"""


def test_cuda_without_gpu_raises_unmocked():
    """Without the simulator and without a GPU, numba.cuda itself reports no device."""
    result = run_without_simulator("-c", SCRIPT)
    assert result.returncode == 0, result.stderr
    if result.stdout.startswith("GPU"):
        pytest.skip("a GPU is present")
    assert "RuntimeError:" in result.stdout and ERROR in result.stdout, result.stdout


@pytest.mark.without_gpu
@pytest.mark.parametrize("numba_cuda,broken", [("0.30.4", True), ("0.29.0", True),
                                               ("0.31.0", False), (None, False)])
def test_numba_cuda_too_old_for_numpy(numba_cuda, broken, monkeypatch):
    """numba-cuda <= 0.30.4 with a NumPy without np.row_stack (2.5): device='cuda'
    fails at once with one RuntimeError naming both versions; 'auto' uses the CPU."""
    from importlib import metadata

    import numba

    def version(name):
        if name == "numba-cuda" and numba_cuda is not None:
            return numba_cuda
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", version)
    monkeypatch.delattr(np, "row_stack", raising=False)
    monkeypatch.setattr(np, "__version__", "2.5.0")
    monkeypatch.setattr(numba.config, "ENABLE_CUDASIM", 0)
    monkeypatch.setattr(fastmlp.backends, "cuda_available", lambda: True)
    if not broken:
        assert fastmlp.backends.cuda_incompatibility() is None
        assert fastmlp.backends.resolve_device("cuda") == "cuda"
        return
    with pytest.raises(RuntimeError, match=rf"numba-cuda {numba_cuda} and NumPy 2\.5\.0"):
        fastmlp.backends.resolve_device("cuda")
    assert fastmlp.backends.resolve_device("auto") == "cpu"
    clf = MLPClassifier(device="cuda", hidden_layer_sizes=(3,), max_iter=2)
    with pytest.raises(RuntimeError, match="np.row_stack"):
        clf.fit(np.arange(20.0).reshape(10, 2), np.arange(10) % 2)
    assert not hasattr(clf, "coefs_")
