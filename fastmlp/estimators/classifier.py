"""MLPClassifier: labels <-> indicator targets, logistic / softmax output."""

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.metrics import accuracy_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import column_or_1d, compute_class_weight
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_array, validate_data

from .. import spec
from ._base import _ATTRIBUTES_DOC, _PARAMETERS_DOC, BaseMLP, row_classes, trained_as_draft
from ._serving import decode_classes


class MLPClassifier(ClassifierMixin, BaseMLP):
    _parameter_constraints: dict = {
        **BaseMLP._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    __doc__ = f"""Multi-layer perceptron classifier trained by compiled kernels.

    A drop-in replacement for :class:`sklearn.neural_network.MLPClassifier`:
    same parameters, defaults, fitted attributes, warnings and errors. It
    minimises the log-loss with a softmax output for multiclass problems and a
    logistic output for binary and multilabel ones.

    Parameters
    ----------{_PARAMETERS_DOC}

    class_weight : dict, 'balanced' or None, default=None
        Weights of the classes, ``{{label: weight}}``, multiplied into
        ``sample_weight`` as in scikit-learn's other classifiers; classes not
        in the dict weigh 1. 'balanced' weighs each class by
        ``n_samples / (n_classes * np.bincount(y))`` of the data given to
        ``fit`` (not available in ``partial_fit``, which sees a part of the
        data: pass a dict computed with
        ``sklearn.utils.compute_class_weight('balanced', ...)`` instead).
        Single-label targets only. With early stopping the validation score is
        weighted too.

    Attributes
    ----------
    classes_ : ndarray or list of ndarray of shape (n_classes,)
        Class labels.
{_ATTRIBUTES_DOC}

    See Also
    --------
    MLPRegressor : Multi-layer perceptron regressor.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from fastmlp import MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=50, random_state=0)
    >>> clf.fit(X / 16, y).score(X / 16, y) > 0.95
    True
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, max_fun=15000, device="cpu",
                 init="glorot_uniform", warmup_iter=0, dropout=0.0,
                 max_grad_norm=None, progress=False, n_jobs=None, class_weight=None):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            loss="log_loss", shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            device=device, init=init, warmup_iter=warmup_iter, dropout=dropout,
            max_grad_norm=max_grad_norm, progress=progress, n_jobs=n_jobs)
        self.class_weight = class_weight

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same "
                        "classes as in the previous call to fit. Previously "
                        f"got {self.classes_}, `y` has {classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {self.classes_}. 'y' has {classes}."
                )
        return X, self._label_binarizer.transform(y).astype(bool)

    def _output_activation(self):
        return spec.classifier_loss(self._label_binarizer.y_type_).output

    def _class_weights(self, Y, incremental):
        """Weight of each class in ``classes_`` (``class_weight``), or None."""
        if self.class_weight is None:
            return None
        if self._label_binarizer.y_type_.startswith("multilabel"):
            raise ValueError("class_weight is supported for single-label targets only, "
                             "not for multilabel y.")
        if incremental and self.class_weight == "balanced":
            raise ValueError(
                "class_weight 'balanced' is not supported for partial_fit. In order to "
                "use 'balanced' weights, use compute_class_weight('balanced', "
                "classes=classes, y=y). In place of y you can use a large enough sample "
                "of the full training set target to properly estimate the class "
                "frequency distributions. Pass the resulting weights as the "
                "class_weight parameter.")
        return compute_class_weight(self.class_weight, classes=self.classes_,
                                    y=self.classes_[row_classes(Y)])

    def predict(self, X):
        """Predict using the multi-layer perceptron classifier.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray, shape (n_samples,) or (n_samples, n_classes)
            The predicted classes.
        """
        model = self._published()
        model._check_is_fitted()
        return model._predict(X)

    def _prediction_of(self, output):
        if self.n_outputs_ == 1:
            output = output.ravel()
        return decode_classes(self._label_binarizer, output)

    _score_function = staticmethod(accuracy_score)

    def _encode_validation_targets(self, y_val):
        binarizer = self._label_binarizer
        if binarizer.y_type_.startswith("multilabel"):
            y_val = check_array(y_val, accept_sparse=["csr", "csc"], input_name="y_val")
            if y_val.ndim != 2 or y_val.shape[1] != self.classes_.shape[0]:
                raise ValueError(f"y_val must be a label indicator matrix of "
                                 f"{self.classes_.shape[0]} columns, got shape {y_val.shape}.")
        else:
            y_val = column_or_1d(check_array(y_val, ensure_2d=False, dtype=None,
                                             input_name="y_val"), warn=True)
        unseen = np.setdiff1d(unique_labels(y_val), self.classes_)
        if unseen.size:
            raise ValueError(f"y_val has classes not in `self.classes_` "
                             f"{self.classes_}: {unseen}.")
        return y_val, binarizer.transform(y_val).astype(bool)

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Update the model with a single epoch over the given data.

        Only available for the stochastic solvers (sgd, adam, adamw); the optimizer
        state carries over between calls.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        y : array-like of shape (n_samples,)
            The target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        classes : array of shape (n_classes,), default=None
            Classes across all calls to partial_fit; required on the first call,
            optional (and checked) afterwards.

        Returns
        -------
        self : object
            Trained MLP model.
        """
        with trained_as_draft(self) as draft:
            if _first_partial_fit_call(draft, classes):
                draft._label_binarizer = LabelBinarizer()
                if type_of_target(y).startswith("multilabel"):
                    draft._label_binarizer.fit(y)
                else:
                    draft._label_binarizer.fit(classes)
            draft._fit(X, y, sample_weight=sample_weight, incremental=True)
        return self

    def predict_log_proba(self, X):
        """Log of the probability estimates, ``log(predict_proba(X))``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        log_y_prob : ndarray of shape (n_samples, n_classes)
            Log-probability of each class, in the order of ``classes_``.
        """
        y_prob = self.predict_proba(X)
        return np.log(y_prob, out=y_prob)

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``.
        """
        model = self._published()
        model._check_is_fitted()
        y_pred = model._forward(X)
        if model.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            proba = np.empty((y_pred.shape[0], 2), dtype=y_pred.dtype)
            proba[:, 1] = y_pred
            np.subtract(1, y_pred, out=proba[:, 0])
            return proba
        return y_pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


def _first_partial_fit_call(clf, classes):
    """True on the first partial_fit call (and sets ``classes_``); checks that
    later ``classes`` agree with ``classes_``."""
    if getattr(clf, "classes_", None) is None and classes is None:
        raise ValueError("classes must be passed on the first call to partial_fit.")
    if classes is None:
        return False
    if getattr(clf, "classes_", None) is not None:
        if not np.array_equal(clf.classes_, unique_labels(classes)):
            raise ValueError(
                f"`classes={classes!r}` is not the same as on last call "
                f"to partial_fit, was: {clf.classes_!r}"
            )
        return False
    clf.classes_ = unique_labels(classes)
    return True
