"""
==============================================
Handwritten digits with the MNIST tutorial net
==============================================

The network of the classic "neural networks from scratch" MNIST tutorial: one
hidden layer of 30 sigmoid units, mini-batch SGD with batches of 10 and a
learning rate of 3.0, 30 epochs. :class:`fastmlp.MLPClassifier` trains it
with a softmax output on the cross-entropy loss (the output
:class:`~sklearn.neural_network.MLPClassifier` uses for more than two
classes). Instead of MNIST's 28x28 images, which need a download, we use
scikit-learn's 1,797 handwritten digits of 8x8 pixels, with 80% for training
and 20% held out for testing.
"""

# %%
# The data
# --------
# Pixel values run from 0 to 16; dividing by 16 puts them in ``[0, 1]``.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import train_test_split

from fastmlp import MLPClassifier, TrainingCurveDisplay

digits = load_digits()
X_train, X_test, y_train, y_test = train_test_split(
    digits.data / 16.0, digits.target, test_size=0.2, random_state=0, stratify=digits.target)
print(f"{len(X_train)} training and {len(X_test)} test images of {X_train.shape[1]} pixels")

# %%
# Training, with the test accuracy recorded after every epoch
# -----------------------------------------------------------
# ``fit(..., X_val=, y_val=)`` records the loss and the accuracy on a set of
# our choice after each epoch, in ``validation_loss_curve_`` and
# ``validation_scores_``. Without ``early_stopping`` the set is only
# recorded: the fit is exactly the one without it. We pass the test set, to
# watch the held-out accuracy grow.
#
# The tutorial trains for a fixed 30 epochs, so the fit stops at
# ``max_iter=30`` on purpose: we silence the
# :class:`~sklearn.exceptions.ConvergenceWarning` that says so.

net = MLPClassifier(hidden_layer_sizes=(30,), activation="logistic", solver="sgd",
                    batch_size=10, learning_rate_init=3.0, momentum=0.0, alpha=0.0,
                    max_iter=30, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    net.fit(X_train, y_train, X_val=X_test, y_val=y_test)
print(f"test accuracy after {net.n_iter_} epochs: {net.score(X_test, y_test):.3f}")

fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
display = TrainingCurveDisplay.from_estimator(net, ax=ax)
display.lines_["validation_loss"].set_label("test loss")
display.lines_["validation_score"].set_label("test accuracy (right axis)")
ax.legend(handles=list(display.lines_.values()), loc="center right")
display.score_ax_.set_ylabel("test accuracy")
ax.set_title("64-30-10 network (tutorial: 784-30-10), SGD, batch 10, learning rate 3.0")
plt.show()

# %%
# Both losses fall fast in the first epochs. The test accuracy (dotted,
# right axis) starts below 0.8 after the first epoch and passes 0.95 by the
# fourth; with such a large learning rate an epoch can also make it worse
# (the dips at epochs 5 and 12, where the test loss jumps too). The training
# loss keeps falling to near zero, while the test loss levels off just
# below 0.1 and the test accuracy settles around 0.98.

# %%
# Which digits get confused?
# --------------------------

fig, ax = plt.subplots(figsize=(5.5, 5), layout="constrained")
ConfusionMatrixDisplay.from_estimator(net, X_test, y_test, ax=ax, colorbar=False)
ax.set_title("Confusion matrix on the 360 test digits")
plt.show()

# %%
# Almost all of the test digits lie on the diagonal: each class has 35 to 37
# test images, and only six land off it, no more than two in any one cell.
# Four of the six mistakes are predicted as a 1.

# %%
# The misclassified test digits
# -----------------------------

y_pred = net.predict(X_test)
wrong = np.flatnonzero(y_pred != y_test)
proba = net.predict_proba(X_test)
fig, axes = plt.subplots(1, len(wrong), figsize=(1.4 * len(wrong), 2.2), layout="constrained",
                         squeeze=False)
for ax, i in zip(axes.ravel(), wrong, strict=True):
    ax.imshow(X_test[i].reshape(8, 8), cmap="gray_r", interpolation="nearest")
    ax.set_title(f"true {y_test[i]}\npred {y_pred[i]} ({proba[i, y_pred[i]]:.0%})", fontsize=9)
    ax.set_axis_off()
fig.suptitle(f"The {len(wrong)} misclassified test digits (predicted class's probability)")
plt.show()

# %%
# At 8x8 pixels several of these are hard to read for a person too. The
# network gave its wrong answer a probability of 90% or more each time: a
# softmax output's confidence is no guarantee of being right.
