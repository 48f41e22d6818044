"""Model files across devices: a model trained with device='cuda' saves, loads
on the CPU and back, and keeps training on the device it is given."""

import copy
import io

import numpy as np
import pytest

import fastmlp
from fastmlp import MLPClassifier

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def round_trip(model, **kwargs):
    buffer = io.BytesIO()
    fastmlp.save(model, buffer)
    buffer.seek(0)
    return fastmlp.load(buffer, **kwargs)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 5))
    return X, np.array(["a", "b", "c"])[np.arange(24) % 3]


def test_cuda_model_file_loads_on_cpu_and_cuda(data):
    X, y = data
    model = MLPClassifier((6,), max_iter=2, batch_size=8, random_state=0, device="cuda")
    model.fit(X, y)
    on_cuda = round_trip(model)
    assert on_cuda.device == "cuda"
    assert np.array_equal(on_cuda.predict_proba(X), model.predict_proba(X))
    on_cpu = round_trip(model, device="cpu")
    cpu_twin = copy.deepcopy(model).set_params(device="cpu")
    assert np.array_equal(on_cpu.predict_proba(X), cpu_twin.predict_proba(X))
    np.testing.assert_allclose(on_cpu.predict_proba(X), model.predict_proba(X), atol=1e-12)


def test_cpu_model_file_continues_training_on_cuda(data):
    X, y = data
    model = MLPClassifier((6,), max_iter=2, batch_size=8, random_state=0).fit(X, y)
    on_cuda = round_trip(model, device="cuda")
    np.testing.assert_allclose(on_cuda.predict_proba(X), model.predict_proba(X), atol=1e-12)
    reference = copy.deepcopy(model).set_params(device="cuda")
    on_cuda.partial_fit(X, y)
    reference.partial_fit(X, y)
    for got, expected in zip(on_cuda.coefs_ + on_cuda.intercepts_,
                             reference.coefs_ + reference.intercepts_, strict=True):
        assert np.array_equal(got, expected)
