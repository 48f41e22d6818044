"""Training curves as a picture, in scikit-learn's Display convention.

>>> from sklearn.datasets import load_digits
>>> from fastmlp import MLPClassifier, TrainingCurveDisplay
>>> X, y = load_digits(return_X_y=True)
>>> clf = MLPClassifier((32,), early_stopping=True, random_state=0)
>>> display = TrainingCurveDisplay.from_estimator(clf.fit(X / 16, y))
>>> sorted(display.lines_)
['loss', 'validation_loss', 'validation_score']
>>> display.figure_.savefig("training.png")  # doctest: +SKIP

This module needs matplotlib (``pip install matplotlib``, or the ``[docs]`` extra:
``pip install "fastmlp[docs]"``); without it, importing
it raises an ImportError that says so. ``import fastmlp`` does not import it.
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

try:
    import matplotlib.pyplot as plt
except ImportError as exc:  # the one optional dependency of this module
    raise ImportError(
        "fastmlp.TrainingCurveDisplay needs matplotlib: pip install matplotlib "
        "(the docs extra, pip install \"fastmlp[docs]\", includes it).") from exc


class TrainingCurveDisplay:
    """Training loss per epoch, and the validation score and loss when recorded.

    Build it with :meth:`from_estimator` (a fitted model) or from the curves
    themselves, then :meth:`plot` it. The loss curves share the left axis; the
    validation score (accuracy or R^2) has the right one.

    Parameters
    ----------
    loss_curve : array-like of shape (n_epochs,)
        Training loss after each epoch (``loss_curve_``).
    validation_scores : array-like of shape (n_epochs,), default=None
        Validation score after each epoch (``validation_scores_``).
    validation_loss_curve : array-like of shape (n_epochs,), default=None
        Validation loss after each epoch (``validation_loss_curve_``).
    estimator_name : str, default=None
        Name for the title; none when None.

    Attributes
    ----------
    ax_ : matplotlib Axes
        The axes of the losses.
    score_ax_ : matplotlib Axes or None
        The twin axes of the validation score; None without scores.
    figure_ : matplotlib Figure
        The figure of ``ax_``.
    lines_ : dict of str to matplotlib Line2D
        The drawn lines: ``"loss"``, and ``"validation_loss"`` /
        ``"validation_score"`` when recorded.

    See Also
    --------
    sklearn.model_selection.LearningCurveDisplay : Scores against the number of
        training samples, the same Display convention.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from fastmlp import MLPClassifier, TrainingCurveDisplay
    >>> X, y = load_digits(return_X_y=True)
    >>> model = MLPClassifier(hidden_layer_sizes=(32,), max_iter=30, early_stopping=True,
    ...                       random_state=0).fit(X / 16, y)
    >>> display = TrainingCurveDisplay.from_estimator(model)
    >>> sorted(display.lines_)
    ['loss', 'validation_loss', 'validation_score']
    >>> display.ax_.get_xlabel()
    'epoch'
    """

    def __init__(self, *, loss_curve, validation_scores=None, validation_loss_curve=None,
                 estimator_name=None):
        self.loss_curve = _curve(loss_curve, "loss_curve")
        n_epochs = len(self.loss_curve)
        self.validation_scores = _curve(validation_scores, "validation_scores", n_epochs)
        self.validation_loss_curve = _curve(validation_loss_curve, "validation_loss_curve",
                                            n_epochs)
        self.estimator_name = estimator_name

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, **kwargs):
        """Draw the training curves a fitted ``sgd`` / ``adam`` / ``adamw`` model recorded.

        Parameters
        ----------
        estimator : fitted MLPClassifier or MLPRegressor
            A fitted model, fastmlp's or scikit-learn's (anything with ``loss_curve_``).
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : TrainingCurveDisplay
        """
        check_is_fitted(estimator)
        if getattr(estimator, "loss_curve_", None) is None:
            raise ValueError(
                f"{type(estimator).__name__} fitted with solver="
                f"{getattr(estimator, 'solver', None)!r} records no loss per epoch "
                "(loss_curve_): only sgd, adam and adamw do.")
        display = cls(loss_curve=estimator.loss_curve_,
                      validation_scores=getattr(estimator, "validation_scores_", None),
                      validation_loss_curve=getattr(estimator, "validation_loss_curve_", None),
                      estimator_name=type(estimator).__name__)
        return display.plot(ax=ax, **kwargs)

    def plot(self, ax=None, *, log_loss_axis=False):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        log_loss_axis : bool, default=False
            Whether the losses' axis is logarithmic.

        Returns
        -------
        self : TrainingCurveDisplay
            With ``ax_``, ``score_ax_``, ``figure_`` and ``lines_`` set.
        """
        if ax is None:
            _, ax = plt.subplots()
        epochs = np.arange(1, len(self.loss_curve) + 1)
        self.lines_ = {"loss": ax.plot(epochs, self.loss_curve, label="training loss")[0]}
        if self.validation_loss_curve is not None:
            self.lines_["validation_loss"] = ax.plot(
                epochs, self.validation_loss_curve, "--", label="validation loss")[0]
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        if log_loss_axis:
            ax.set_yscale("log")
        self.score_ax_ = None
        handles = list(self.lines_.values())
        if self.validation_scores is not None:
            self.score_ax_ = ax.twinx()
            line = self.score_ax_.plot(epochs, self.validation_scores, ":", color="C2",
                                       label="validation score")[0]
            self.lines_["validation_score"] = line
            self.score_ax_.set_ylabel("validation score")
            handles.append(line)
        ax.legend(handles=handles, loc="best")
        if self.estimator_name:
            ax.set_title(self.estimator_name)
        self.ax_, self.figure_ = ax, ax.figure
        return self


def _curve(values, name, n_epochs=None):
    """``values`` as a 1-D float array (None stays None); ValueError naming the
    argument when it is not one value per epoch."""
    if values is None:
        return None
    curve = np.asarray(values, dtype=np.float64)
    if curve.ndim != 1 or curve.size == 0 or (n_epochs is not None and curve.size != n_epochs):
        expected = "a non-empty 1-D sequence" if n_epochs is None else f"{n_epochs} values"
        raise ValueError(f"{name} must be {expected} (one per epoch), got shape {curve.shape}.")
    return curve
