"""
====================================
Mini-batch regression and batch size
====================================

:class:`fastmlp.MLPRegressor` trained with mini-batch Adam on Friedman's
regression problem #1 (:func:`~sklearn.datasets.make_friedman1`: ten
uniform features, five of which enter a smooth non-linear target, plus
Gaussian noise). We look at the predictions of one model on held-out data,
then at how the batch size trades training time against test error.
"""

# %%
# The data
# --------
# 2,000 samples with noise of standard deviation 1, so no model can reach a
# test RMSE much below 1. A quarter is held out for testing. The features all
# lie in ``[0, 1]``, so we feed them to the network unscaled.
import time
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import root_mean_squared_error
from sklearn.model_selection import train_test_split

from fastmlp import MLPRegressor

X, y = make_friedman1(n_samples=2_000, noise=1.0, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

# %%
# One model, trained to convergence
# ---------------------------------
# One hidden layer of 64 ReLU units, Adam with batches of 32 rows; the fit
# stops once the training loss has stopped improving (scikit-learn's ``tol``
# and ``n_iter_no_change`` rule).

reg = MLPRegressor(hidden_layer_sizes=(64,), batch_size=32, learning_rate_init=3e-3,
                   max_iter=500, random_state=0)
reg.fit(X_train, y_train)
y_pred = reg.predict(X_test)
rmse = root_mean_squared_error(y_test, y_pred)
print(f"{reg.n_iter_} epochs, test RMSE {rmse:.2f}, test R^2 {reg.score(X_test, y_test):.3f}")

fig, ax = plt.subplots(figsize=(5, 5), layout="constrained")
ax.scatter(y_test, y_pred, s=12, alpha=0.6)
lims = [min(y_test.min(), y_pred.min()) - 1, max(y_test.max(), y_pred.max()) + 1]
ax.plot(lims, lims, "k--", linewidth=1, label="predicted = true")
ax.set_xlim(lims)
ax.set_ylim(lims)
ax.set_aspect("equal")
ax.set_xlabel("true target")
ax.set_ylabel("predicted target")
ax.set_title(f"{len(y_test)} test samples: RMSE {rmse:.2f}, "
             f"$R^2$ {reg.score(X_test, y_test):.3f}")
ax.legend(loc="upper left")
plt.show()

# %%
# The points lie in a narrow band along the diagonal over the whole range of
# targets, about as wide as the noise in the data (an RMSE a little above the
# noise level of 1). At the two ends the predictions are pulled slightly
# towards the middle: the largest targets are predicted a little too low.

# %%
# The effect of the batch size
# ----------------------------
# The same network trained for a fixed 30 epochs with batches of 1 to 512
# rows. The number of epochs is fixed on purpose, so the fits stop at
# ``max_iter`` before they converge: we silence the
# :class:`~sklearn.exceptions.ConvergenceWarning` that says so. At batch size 1
# fastmlp runs its per-sample path, updating the weights after every row;
# larger batches go through BLAS matrix products.

batch_sizes = [1, 8, 32, 128, 512]
fit_times, test_rmse = [], []
for batch_size in batch_sizes:
    model = MLPRegressor(hidden_layer_sizes=(64,), batch_size=batch_size,
                         learning_rate_init=3e-3, max_iter=30, random_state=0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    fit_times.append(time.perf_counter() - start)
    test_rmse.append(root_mean_squared_error(y_test, model.predict(X_test)))
    print(f"batch {batch_size:4d}: fit {fit_times[-1]:.3f} s, test RMSE {test_rmse[-1]:.2f}")

fig, (ax_time, ax_err) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
ax_time.plot(batch_sizes, fit_times, "o-")
ax_time.set_xscale("log", base=2)
ax_time.set_yscale("log")
ax_time.set_xlabel("batch size")
ax_time.set_ylabel("fit time, 30 epochs (s)")
ax_time.set_title("Training time")
ax_err.plot(batch_sizes, test_rmse, "o-", color="C1")
ax_err.axhline(1.0, color="k", linestyle=":", label="noise level")
ax_err.set_xscale("log", base=2)
ax_err.set_xlabel("batch size")
ax_err.set_ylabel("test RMSE")
ax_err.set_ylim(bottom=0)
ax_err.set_title("Test error after 30 epochs")
ax_err.legend()
for ax in (ax_time, ax_err):
    ax.set_xticks(batch_sizes, [str(b) for b in batch_sizes])
fig.suptitle(f"MLPRegressor (64 ReLU units, adam), {len(X_train)} training rows")
plt.show()

# %%
# Each epoch makes ``1500 / batch_size`` updates. Larger batches make fewer
# updates, each cheaper per row: the fit time (left, log scale) falls
# steeply from batch size 1 to 32 and levels off from 128 on, where the
# fixed costs of an epoch dominate. With the number of epochs fixed, fewer
# updates also mean less training: the test error (right) grows with the
# batch size, from about 1.3 at batch size 1, close to the noise level, to
# over 4 at 512. Small batches buy accuracy per epoch with time; large ones
# need more epochs (or a larger learning rate) to catch up.
