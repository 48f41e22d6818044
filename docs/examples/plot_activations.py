"""
======================
The hidden activations
======================

:class:`fastmlp.MLPClassifier` and :class:`fastmlp.MLPRegressor` accept nine
hidden activations: scikit-learn's ``"identity"``, ``"logistic"``, ``"tanh"``
and ``"relu"``, and ``"elu"``, ``"leaky_relu"``, ``"gelu"``, ``"softplus"`` and
``"silu"`` with PyTorch's definitions and constants. This example plots each
function with its derivative, computed here with NumPy from the same
formulas as fastmlp's kernels, then fits the same small network with each
activation to the two-moons data and draws the decision boundaries side by
side.
"""

# %%
# The functions and their derivatives
# ------------------------------------
# ELU uses ``alpha = 1``, leaky ReLU a slope of 0.01 below zero, GELU the exact
# form ``z Phi(z)`` with ``Phi`` the standard normal distribution function,
# softplus ``log(1 + e^z)`` (exactly ``z`` above 20, as in PyTorch), and SiLU
# ``z sigmoid(z)``.
import matplotlib.pyplot as plt
import numpy as np
from scipy.special import erf, expit
from sklearn.datasets import make_moons
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastmlp import MLPClassifier


def activation_and_derivative(name, z):
    """``f(z)`` and ``f'(z)`` of fastmlp's activation ``name``, in NumPy."""
    if name == "identity":
        return z, np.ones_like(z)
    if name == "logistic":
        s = expit(z)
        return s, s * (1 - s)
    if name == "tanh":
        t = np.tanh(z)
        return t, 1 - t**2
    if name == "relu":
        return np.maximum(z, 0), (z > 0).astype(float)
    if name == "elu":
        neg = np.minimum(z, 0)
        return np.where(z > 0, z, np.expm1(neg)), np.where(z > 0, 1.0, np.exp(neg))
    if name == "leaky_relu":
        return np.where(z > 0, z, 0.01 * z), np.where(z > 0, 1.0, 0.01)
    if name == "gelu":
        cdf = 0.5 * (1 + erf(z / np.sqrt(2)))
        return z * cdf, cdf + z * np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)
    if name == "softplus":
        below = np.minimum(z, 20.0)
        return np.where(z > 20, z, np.log1p(np.exp(below))), np.where(z > 20, 1.0, expit(z))
    if name == "silu":
        s = expit(z)
        return z * s, s * (1 + z * (1 - s))
    raise ValueError(name)


activations = ["identity", "logistic", "tanh", "relu", "leaky_relu", "elu", "gelu",
               "softplus", "silu"]
z = np.linspace(-4, 4, 801)

fig, axes = plt.subplots(3, 3, figsize=(10, 8), sharex=True, sharey=True, layout="constrained")
for ax, name in zip(axes.ravel(), activations, strict=True):
    f, df = activation_and_derivative(name, z)
    ax.axhline(0, color="0.8", linewidth=0.8)
    ax.axvline(0, color="0.8", linewidth=0.8)
    ax.plot(z, f, label="$f(z)$", linewidth=2)
    ax.plot(z, df, "--", label="$f'(z)$", linewidth=2)
    ax.set_title(f'"{name}"')
    ax.set_ylim(-1.5, 4)
for ax in axes[-1]:
    ax.set_xlabel("z")
axes[0, 0].legend(loc="upper left")
fig.suptitle("fastmlp's hidden activations (solid) and their derivatives (dashed)")
plt.show()

# %%
# The rectifier family (ReLU, leaky ReLU, ELU, GELU, softplus, SiLU) all
# grow like ``z`` for large ``z``, and their derivatives tend to 1 there;
# they differ below zero. ReLU's derivative is exactly 0 there (a unit that
# stays below zero stops learning); leaky ReLU keeps a slope of 0.01 (too
# small to see at this scale), and ELU, GELU, softplus and SiLU curve
# smoothly. GELU and SiLU dip below zero before returning to it (their
# derivatives are slightly negative there), and their derivatives overshoot
# 1 for positive ``z`` before settling at 1. The logistic and tanh functions
# saturate on both sides, where their derivatives vanish; the logistic's
# derivative never exceeds 0.25.

# %%
# One network per activation
# --------------------------
# Two hidden layers of 16 units, trained by Adam (learning rate 0.01, until
# the training loss stops improving) on 300 of 400 noisy two-moons points;
# the other 100 are held out for testing. Every activation gets the same
# ``random_state``, hence the same initial weights.

X, y = make_moons(n_samples=400, noise=0.25, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
xx, yy = np.meshgrid(np.linspace(-2, 3, 150), np.linspace(-1.6, 2.1, 150))
grid = np.c_[xx.ravel(), yy.ravel()]

fig, axes = plt.subplots(3, 3, figsize=(10, 8.5), sharex=True, sharey=True,
                         layout="constrained")
for ax, name in zip(axes.ravel(), activations, strict=True):
    model = make_pipeline(
        StandardScaler(),
        MLPClassifier(hidden_layer_sizes=(16, 16), activation=name, learning_rate_init=0.01,
                      max_iter=1000, random_state=0),
    ).fit(X_train, y_train)
    proba = model.predict_proba(grid)[:, 1].reshape(xx.shape)
    ax.contourf(xx, yy, proba, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
    ax.contour(xx, yy, proba, levels=[0.5], colors="k", linewidths=1.5)
    for label, color in ((0, "white"), (1, "gold")):
        ax.scatter(*X_train[y_train == label].T, color=color, edgecolors="k",
                   linewidths=0.5, s=14, label=f"class {label}")
    ax.set_title(f'"{name}": test accuracy {model.score(X_test, y_test):.2f}')
axes[0, 0].legend(loc="lower right", framealpha=0.9)
fig.suptitle("2-16-16-1 networks on two moons, one per hidden activation (adam)")
plt.show()

# %%
# With ``"identity"`` the whole network is linear in its input, so its
# boundary is a straight line and it cannot follow the moons. Every other
# activation bends the boundary around the two half-moons. The piecewise-linear
# ReLU and leaky ReLU draw boundaries made of straight segments with corners,
# the smooth ones (logistic, tanh, ELU, GELU, softplus, SiLU) curved ones. On
# this small, noisy data set the eight non-linear activations reach similar
# test accuracies, 0.92 to 0.94, against 0.90 for the linear network; the
# differences between them matter more in deep networks and for the speed
# of training than for the shape a small network can draw.
