"""TrainingCurveDisplay: training curves drawn from a fitted model, in
scikit-learn's Display convention (``from_estimator``, ``plot(ax=...)``)."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.neural_network import MLPClassifier as SkMLPClassifier

from optional import optional

matplotlib = optional("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from fastmlp import MLPClassifier, MLPRegressor, TrainingCurveDisplay  # noqa: E402

RNG = np.random.default_rng(5)
X = RNG.standard_normal((200, 4))
Y = (X[:, 0] + X[:, 1] > 0).astype(int)


def fitted(Est=MLPClassifier, y=Y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return Est(**dict(dict(hidden_layer_sizes=(8,), max_iter=12, random_state=0),
                          **params)).fit(X, y)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_curves_of_an_early_stopping_fit():
    model = fitted(early_stopping=True, n_iter_no_change=50)
    display = TrainingCurveDisplay.from_estimator(model)
    epochs = np.arange(1, model.n_iter_ + 1)
    for name, curve in (("loss", model.loss_curve_),
                        ("validation_loss", model.validation_loss_curve_),
                        ("validation_score", model.validation_scores_)):
        np.testing.assert_array_equal(display.lines_[name].get_xdata(), epochs)
        np.testing.assert_array_equal(display.lines_[name].get_ydata(), curve)
    assert display.score_ax_.get_ylabel() == "validation score"
    assert display.ax_.get_title() == "MLPClassifier"
    assert display.figure_ is display.ax_.figure


def test_training_loss_alone_and_a_given_axes():
    model = fitted(MLPRegressor, X @ [1.0, -1.0, 0.5, 0.0])
    _, ax = plt.subplots()
    display = TrainingCurveDisplay.from_estimator(model, ax=ax, log_loss_axis=True)
    assert display.ax_ is ax and ax.get_yscale() == "log"
    assert list(display.lines_) == ["loss"] and display.score_ax_ is None


def test_scikit_learn_models_draw_too():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = SkMLPClassifier((8,), max_iter=12, early_stopping=True, random_state=0).fit(X, Y)
    display = TrainingCurveDisplay.from_estimator(model)
    assert sorted(display.lines_) == ["loss", "validation_score"]


def test_models_without_curves_raise():
    with pytest.raises(ValueError, match="solver='lbfgs' records no loss per epoch"):
        TrainingCurveDisplay.from_estimator(fitted(solver="lbfgs"))
    with pytest.raises(NotFittedError):
        TrainingCurveDisplay.from_estimator(MLPClassifier())


@pytest.mark.parametrize("kwargs, match", [
    (dict(loss_curve=[]), "loss_curve must be a non-empty 1-D sequence"),
    (dict(loss_curve=[[1.0, 2.0]]), r"loss_curve must be .* got shape \(1, 2\)"),
    (dict(loss_curve=[1.0, 0.5], validation_scores=[0.1]),
     r"validation_scores must be 2 values \(one per epoch\), got shape \(1,\)"),
    (dict(loss_curve=[1.0], validation_loss_curve=[1.0, 2.0]), "validation_loss_curve must be"),
])
def test_bad_curves_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainingCurveDisplay(**kwargs)


def test_without_matplotlib_the_import_says_what_to_install():
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "import fastmlp\n"
            "try:\n    fastmlp.TrainingCurveDisplay\n"
            "except ImportError as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert "needs matplotlib: pip install matplotlib" in done.stdout


def test_import_fastmlp_does_not_import_matplotlib():
    code = "import sys, fastmlp; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
