"""The ``device`` parameter on a machine without a usable GPU: ``device="cuda"``
raises a ``RuntimeError`` that says what is missing and how to install it,
``device="auto"`` falls back to the CPU with the same model as ``device="cpu"``,
and ``device="cpu"`` never probes for CUDA. (The CUDA backend itself is tested
in tests/cuda.)"""


import numpy as np
import pytest

import fastmlp.backends
from fastmlp import MLPClassifier

from estimator_helpers import ESTIMATORS, fit_quietly, flat, quiet


def test_device_cuda_without_gpu_raises(monkeypatch, classification_data):
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    monkeypatch.setattr(fastmlp.backends, "cuda_available", lambda: False)
    X, y = classification_data
    for Est in ESTIMATORS:
        est = Est(device="cuda", max_iter=2)
        with pytest.raises(RuntimeError) as info:
            est.fit(X, y)
        message = str(info.value)
        assert "NVIDIA" in message and "driver" in message
        assert 'pip install "fastmlp[cuda]"' in message
        assert not hasattr(est, "coefs_")


def test_device_auto_falls_back_to_cpu(monkeypatch, classification_data):
    monkeypatch.setattr(fastmlp.backends, "cuda_available", lambda: False)
    X, y = classification_data
    auto = fit_quietly(MLPClassifier(**quiet(device="auto")), X, y)
    cpu = fit_quietly(MLPClassifier(**quiet(device="cpu")), X, y)
    np.testing.assert_array_equal(flat(auto), flat(cpu))
    np.testing.assert_array_equal(auto.predict_proba(X), cpu.predict_proba(X))
    assert isinstance(auto.coefs_[0], np.ndarray)


def test_device_cpu_never_asks_for_cuda(monkeypatch, classification_data):
    def boom():
        raise AssertionError("device='cpu' must not probe CUDA")

    monkeypatch.setattr(fastmlp.backends, "cuda_available", boom)
    fit_quietly(MLPClassifier(**quiet(max_iter=2)), *classification_data)
