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


def resolve_device(device):
    """Map the ``device`` parameter to a backend name.

    'cpu' -> 'cpu'; 'cuda' -> 'cuda', or RuntimeError when no usable GPU exists;
    'auto' -> 'cuda' when one is available, else 'cpu'.
    """
    if device == "cpu":
        return "cpu"
    if cuda_available():
        return "cuda"
    if device == "auto":
        return "cpu"
    raise RuntimeError(
        "device='cuda' was requested but numba.cuda found no usable NVIDIA GPU. "
        "It needs an NVIDIA GPU with its driver installed and Numba's CUDA target: "
        'pip install "fastmlp[cuda]" (installs numba-cuda). '
        "Use device='cpu', or device='auto' to fall back to the CPU."
    )
