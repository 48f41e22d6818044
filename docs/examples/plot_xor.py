"""
========================
XOR with a 2-2-1 network
========================

XOR is the classic problem a single perceptron cannot solve: its two classes
are not linearly separable. A network with one hidden layer of two units can
solve it, but training does not always find the solution. This example fits
:class:`fastmlp.MLPClassifier` to the four XOR points, draws the decision
boundary of a network that solved it and of one that did not, and counts how
often a 2-2-1 network solves XOR over 50 random initialisations compared with
wider networks.
"""

# %%
# The data
# --------
# The four corners of the unit square; the label is 1 when exactly one of
# the two inputs is 1.
import matplotlib.pyplot as plt
import numpy as np
from threadpoolctl import threadpool_limits

from fastmlp import MLPClassifier

X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
y = np.array([0, 1, 1, 0])

# %%
# One 2-2-1 network per seed
# --------------------------
# Two tanh hidden units and one logistic output unit (a binary
# :class:`~fastmlp.MLPClassifier` trains one sigmoid output on the binary
# cross-entropy), fitted by L-BFGS without weight penalty (``alpha=0``).
# A network "solves" XOR when it classifies all four points correctly.
#
# SciPy's L-BFGS-B, which fastmlp's ``solver="lbfgs"`` uses as scikit-learn
# does, works here on 9 to 33 numbers: BLAS threads cannot help it, and waking
# them costs much more than the work itself when the machine is busy. So we
# run these tiny fits with one BLAS thread.


def fit_xor(width, seed):
    """A 2-width-1 tanh network fitted to XOR with L-BFGS."""
    net = MLPClassifier(hidden_layer_sizes=(width,), activation="tanh", solver="lbfgs",
                        alpha=0.0, max_iter=1000, random_state=seed)
    return net.fit(X, y)


def solves(net):
    return bool((net.predict(X) == y).all())


with threadpool_limits(limits=1, user_api="blas"):
    nets = [fit_xor(2, seed) for seed in range(50)]
solved = next(net for net in nets if solves(net))
failed = next(net for net in nets if not solves(net))
print(f"solved: seed {solved.random_state}, failed: seed {failed.random_state}")

# %%
# Decision boundaries
# -------------------
# The predicted probability of class 1 over the plane, with the four points.

xx, yy = np.meshgrid(np.linspace(-0.5, 1.5, 201), np.linspace(-0.5, 1.5, 201))
grid = np.c_[xx.ravel(), yy.ravel()]

fig, axes = plt.subplots(1, 2, figsize=(9, 4), layout="constrained")
for ax, net, name in zip(axes, (solved, failed), ("solved", "not solved"), strict=True):
    proba = net.predict_proba(grid)[:, 1].reshape(xx.shape)
    filled = ax.contourf(xx, yy, proba, levels=np.linspace(0, 1, 11), cmap="RdBu_r")
    ax.contour(xx, yy, proba, levels=[0.5], colors="k", linewidths=1.5)
    for label, marker, color in ((0, "o", "white"), (1, "s", "gold")):
        ax.scatter(*X[y == label].T, marker=marker, s=150, color=color, edgecolors="k",
                   linewidths=1.5, label=f"class {label}")
    accuracy = net.score(X, y)
    ax.set_title(f"2-2-1 net, random_state={net.random_state}: {name}\n"
                 f"(accuracy {accuracy:.2f}, loss {net.loss_:.3f})")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal")
axes[0].legend(loc="lower left", framealpha=0.9)
fig.colorbar(filled, ax=axes, label="P(class 1)")
plt.show()

# %%
# On the left, the two hidden units each draw a line, and the output combines
# them into a diagonal band of class 1 (red): the black 0.5 contours put the
# two class-1 corners (top-left and bottom-right, yellow squares) inside the
# band and the two class-0 corners outside it. On the right, L-BFGS stopped in
# a local minimum: the boundary bends around one corner only, the class-1
# point at the top left lies on the class-0 side, and the network classifies
# three of the four points correctly.

# %%
# How often does training solve XOR?
# ----------------------------------
# The same fit with 50 seeds for each hidden-layer width. Only the initial
# weights change from seed to seed.

widths = [2, 3, 4, 8]
rates = [np.mean([solves(net) for net in nets])]  # the 2-2-1 networks fitted above
with threadpool_limits(limits=1, user_api="blas"):
    rates += [np.mean([solves(fit_xor(width, seed)) for seed in range(50)])
              for width in widths[1:]]
for width, rate in zip(widths, rates, strict=True):
    print(f"2-{width}-1: solved in {rate:.0%} of 50 seeds")

fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
bars = ax.bar([f"2-{w}-1" for w in widths], 100 * np.array(rates), color="C0")
ax.bar_label(bars, fmt="%.0f%%")
ax.set_ylim(0, 110)
ax.set_xlabel("network (inputs-hidden-output)")
ax.set_ylabel("seeds that solve XOR (%)")
ax.set_title("XOR solved over 50 seeds\n(tanh hidden units, solver='lbfgs', alpha=0)")
plt.show()

# %%
# With two hidden units, fewer than half of the initialisations lead L-BFGS to
# a solution; the others end in a local minimum like the one above. Extra
# hidden units give the optimiser more ways to reach a separating band, and
# the 2-8-1 network solves XOR from every one of the 50 seeds.
