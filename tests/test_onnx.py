"""ONNX export: onnxruntime reproduces fastmlp's predictions."""

import subprocess
import sys

import numpy as np
import pytest
from scipy.special import erf, expit, softmax
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from io_helpers import KINDS, fitted
from optional import optional

optional("onnx")
skl2onnx = optional("skl2onnx")
ort = optional("onnxruntime")
# the extra present, fastmlp's own module must import: an error there fails, never skips
import fastmlp.onnx as fastmlp_onnx  # noqa: E402
from fastmlp import MLPClassifier, spec  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CLASSIFIERS = [k for k in KINDS if not k.startswith("regressor")]
REGRESSORS = [k for k in KINDS if k.startswith("regressor")]
TOL = dict(rtol=1e-5, atol=1e-5)


def run(onx, X):
    session = ort.InferenceSession(onx.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


def op_types(onx):
    return {node.op_type for node in onx.graph.node}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", CLASSIFIERS)
def test_classifier_matches_predict_proba_and_predict(kind, dtype):
    model, X, _ = fitted(kind)
    X = X.astype(dtype)
    onx = skl2onnx.to_onnx(model, X[:1], options={"zipmap": False})
    assert [o.name for o in onx.graph.output] == ["label", "probabilities"]
    label, proba = run(onx, X)
    assert proba.dtype == dtype
    np.testing.assert_allclose(proba, model.predict_proba(X), **TOL)
    assert np.array_equal(label, model.predict(X))


@pytest.mark.parametrize("kind", CLASSIFIERS)
def test_classifier_default_output_is_zipmap_as_for_sklearn(kind):
    model, X, _ = fitted(kind)
    X = X.astype(np.float32)
    onx = skl2onnx.to_onnx(model, X[:1])
    assert [o.name for o in onx.graph.output] == ["output_label", "output_probability"]
    label, maps = run(onx, X)
    expected = model.predict_proba(X)
    keys = list(maps[0])
    if kind.startswith("multilabel"):
        assert keys == list(range(expected.shape[1]))
    else:
        assert keys == model.classes_.tolist()
    np.testing.assert_allclose([[m[k] for k in keys] for m in maps], expected, **TOL)
    assert np.array_equal(label, model.predict(X))


def test_double_zipmap_is_refused_clearly():
    model, X, _ = fitted("binary-adam")
    with pytest.raises(ValueError, match="options=\\{'zipmap': False\\}"):
        skl2onnx.to_onnx(model, X[:1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", REGRESSORS)
def test_regressor_matches_predict(kind, dtype):
    model, X, _ = fitted(kind)
    X = X.astype(dtype)
    onx = skl2onnx.to_onnx(model, X[:1])
    assert [o.name for o in onx.graph.output] == ["variable"]
    (got,) = run(onx, X)
    expected = model.predict(X)
    assert got.shape == (len(X), model.n_outputs_) and got.dtype == dtype
    np.testing.assert_allclose(got.reshape(expected.shape), expected, **TOL)


def test_pipeline_and_nocl_and_the_to_onnx_helper():
    model, X, y = fitted("multiclass-str-sgd")
    X32 = X.astype(np.float32)
    pipe = make_pipeline(StandardScaler(), MLPClassifier((5,), max_iter=300,
                                                         random_state=0)).fit(X, y)
    label, proba = run(skl2onnx.to_onnx(pipe, X32[:1], options={"zipmap": False}), X32)
    np.testing.assert_allclose(proba, pipe.predict_proba(X32), **TOL)
    assert np.array_equal(label, pipe.predict(X32))
    label, _ = run(fastmlp_onnx.to_onnx(model, options={"nocl": True, "zipmap": False}), X)
    assert np.array_equal(model.classes_[label], model.predict(X))
    model32, X32, _ = fitted("regressor-multi-f32-identity")
    onx = fastmlp_onnx.to_onnx(model32)
    assert onx.graph.input[0].type.tensor_type.elem_type == 1  # float
    np.testing.assert_allclose(run(onx, X32)[0], model32.predict(X32), **TOL)


# ------------------------------------------------------------------ activations
# Reference forms (PyTorch's definitions), in float64.
REFERENCE = {
    "identity": lambda z: z,
    "logistic": expit,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "gelu": lambda z: 0.5 * z * (1 + erf(z / np.sqrt(2))),
    "softplus": lambda z: np.logaddexp(0, z),
    "silu": lambda z: z * expit(z),
}
OUTPUT_REFERENCE = {"identity": lambda z: z, "exp": np.exp, "logistic": expit,
                    "softmax": lambda z: softmax(z, axis=1)}


def with_activation(model, activation):
    """``model`` evaluated with another hidden activation (coefs_ replaced by
    copies, so the model rebuilds its network from the public attributes)."""
    model.set_params(activation=activation)
    model.coefs_ = [c.copy() for c in model.coefs_]
    return model


def reference_forward(model, X):
    a = X.astype(np.float64)
    last = len(model.coefs_) - 1
    for i, (W, b) in enumerate(zip(model.coefs_, model.intercepts_, strict=True)):
        z = a @ W.astype(np.float64) + b
        a = OUTPUT_REFERENCE[model.out_activation_](z) if i == last else \
            REFERENCE[model.activation](z)
    return a


def test_every_activation_has_an_onnx_form():
    assert {kind.onnx for kind in spec.ACTIVATIONS.values()} <= set(fastmlp_onnx.FORMS)
    assert set(fastmlp_onnx.HIDDEN_ACTIVATIONS) == set(REFERENCE) == set(spec.HIDDEN_ACTIVATIONS)
    assert (set(fastmlp_onnx.OUTPUT_ACTIVATIONS) == set(OUTPUT_REFERENCE)
            == set(spec.OUTPUT_ACTIVATIONS))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opset", [18, None])
@pytest.mark.parametrize("activation", sorted(REFERENCE))
def test_activation_in_onnxruntime(activation, opset, dtype):
    model, X, _ = fitted("regressor-poisson-randomstate")
    model = with_activation(model, activation)
    X = (3 * X).astype(dtype)  # reach the tails of every activation
    onx = skl2onnx.to_onnx(model, X[:1], target_opset=opset)
    if activation == "gelu":
        assert ("Gelu" in op_types(onx)) == (opset is None and dtype == np.float32)
    (got,) = run(onx, X)
    # float64 graphs compute erf in float32 (onnxruntime has no double Erf)
    tol = TOL if dtype == np.float32 or activation == "gelu" else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got.ravel(), reference_forward(model, X).ravel(), **tol)
    if activation in MLPClassifier._parameter_constraints["activation"][0].options:
        np.testing.assert_allclose(got.ravel(), model.predict(X), **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softplus_does_not_overflow(dtype):
    model, X, _ = fitted("regressor-adam")
    model = with_activation(model, "softplus")
    X = (200 * X).astype(dtype)
    (got,) = run(skl2onnx.to_onnx(model, X[:1]), X)
    assert np.isfinite(got).all()
    # inputs of a few hundred: float32 rounding alone reaches 1e-5 here
    tol = 1e-4 if dtype == np.float32 else 1e-9
    np.testing.assert_allclose(got.ravel(), reference_forward(model, X).ravel(), rtol=tol,
                               atol=tol)


def test_activation_without_onnx_form_is_named(monkeypatch):
    """Every activation fastmlp trains has an ONNX form; one without (here a
    name the model's own checks reject first) raises a ValueError naming it."""
    model, X, _ = fitted("binary-adam")
    model = with_activation(model, "mystery")
    with pytest.raises(ValueError, match="'mystery'"):
        skl2onnx.to_onnx(model, X[:1].astype(np.float32))
    monkeypatch.delitem(fastmlp_onnx.HIDDEN_ACTIVATIONS, "gelu")
    model = with_activation(model, "gelu")
    with pytest.raises(ValueError, match="hidden activation 'gelu' has no ONNX form"):
        skl2onnx.to_onnx(model, X[:1].astype(np.float32))


def test_import_fastmlp_does_not_import_skl2onnx():
    code = ("import sys, fastmlp; bad = {'fastmlp.onnx', 'skl2onnx', 'onnx'} & "
            "set(sys.modules); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
