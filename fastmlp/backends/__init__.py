"""Where the arithmetic runs. Every backend module offers the same two names:

``Trainer(network, X, Y, sample_weight, loss_code, alpha, batch_size=None)``
    holds the training data and scratch of one fit, with ``run_epoch(order,
    optimizer)`` (sgd / adam; needs ``batch_size``), ``loss_grad(x)`` (the
    L-BFGS objective) and ``pull_params()``;
``predict(network, X)``
    the output-layer activations for every row of X.

Both build the kernels' argument bundles (``kernels.bundles``), after checking
the network's layout against the arrays they are given and normalising those
arrays (``arrays.py``); the tuning knobs they read (chunk sizes, path
cross-overs) are in ``fastmlp.config``.
"""

from importlib import import_module


def get_backend(device):
    """Return the backend module for a resolved device name ('cpu' or 'cuda')."""
    return import_module(f"{__name__}.{device}")


def cuda_available():
    """Whether numba.cuda can see a usable NVIDIA GPU (or its simulator is on)."""
    try:
        from numba import cuda
    except ImportError:  # pragma: no cover - numba without its CUDA target
        return False
    try:
        return bool(cuda.is_available())
    except Exception:  # a broken driver install counts as no GPU
        return False


# numba-cuda releases up to this one call ``np.row_stack``, which NumPy 2.5 removed:
# their first kernel compile fails (an AttributeError deep inside numba-cuda).
LAST_NUMBA_CUDA_WITH_ROW_STACK = (0, 30, 4)


def cuda_incompatibility():
    """Why the installed numba-cuda cannot compile kernels with the installed NumPy,
    naming both versions, or None. (The CUDA simulator compiles nothing: None.)"""
    import numpy as np

    if hasattr(np, "row_stack"):
        return None
    from importlib import metadata

    try:
        version = metadata.version("numba-cuda")
    except metadata.PackageNotFoundError:  # Numba's built-in CUDA target
        return None
    import numba

    if numba.config.ENABLE_CUDASIM:
        return None
    release = []
    for part in version.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        if not digits:
            break
        release.append(int(digits))
    if tuple(release) > LAST_NUMBA_CUDA_WITH_ROW_STACK:
        return None
    return (f"device='cuda' cannot work with numba-cuda {version} and NumPy {np.__version__}: "
            "numba-cuda up to 0.30.4 calls np.row_stack, which NumPy 2.5 removed, so its "
            "first kernel compile fails. Install NumPy < 2.5 (pip install \"numpy<2.5\") or a "
            "numba-cuda release newer than 0.30.4, or use device='cpu'.")


def resolve_device(device):
    """Map the ``device`` parameter to a backend name.

    'cpu' -> 'cpu'; 'cuda' -> 'cuda', or RuntimeError when no usable GPU exists
    or the installed numba-cuda cannot compile with the installed NumPy
    (``cuda_incompatibility``); 'auto' -> 'cuda' when one is available and
    usable, else 'cpu'.
    """
    if device == "cpu":
        return "cpu"
    if cuda_available():
        problem = cuda_incompatibility()
        if problem is None:
            return "cuda"
        if device == "auto":
            return "cpu"
        raise RuntimeError(problem)
    if device == "auto":
        return "cpu"
    raise RuntimeError(
        "device='cuda' was requested but numba.cuda found no usable NVIDIA GPU. "
        "It needs an NVIDIA GPU with its driver installed and Numba's CUDA target: "
        'pip install "fastmlp[cuda]" (installs numba-cuda). '
        "Use device='cpu', or device='auto' to fall back to the CPU."
    )
