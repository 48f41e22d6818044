"""MLPRegressor: identity output with squared error, or exp output with Poisson loss."""

import numpy as np
from sklearn.base import RegressorMixin, _fit_context
from sklearn.metrics import r2_score
from sklearn.utils import column_or_1d
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_array, validate_data

from .. import spec
from ._base import _ATTRIBUTES_DOC, _PARAMETERS_DOC, BaseMLP, _choices, trained_as_draft

_LOSSES = {kind.param: kind for kind in spec.losses_of("regressor")}


class MLPRegressor(RegressorMixin, BaseMLP):
    __doc__ = f"""Multi-layer perceptron regressor trained by compiled kernels.

    A drop-in replacement for :class:`sklearn.neural_network.MLPRegressor`:
    same parameters, defaults, fitted attributes, warnings and errors.

    Parameters
    ----------
    loss : {_choices(_LOSSES)}, default='squared_error'
        'squared_error' (identity output) or 'poisson' (half Poisson deviance,
        exp output, for non-negative targets).
{_PARAMETERS_DOC}

    Attributes
    ----------{_ATTRIBUTES_DOC}

    See Also
    --------
    MLPClassifier : Multi-layer perceptron classifier.

    Examples
    --------
    >>> import numpy as np
    >>> from fastmlp import MLPRegressor
    >>> X = np.linspace(0, 1, 200).reshape(-1, 1)
    >>> reg = MLPRegressor(hidden_layer_sizes=(32,), solver="lbfgs", random_state=0)
    >>> reg.fit(X, np.sin(6 * X).ravel()).score(X, np.sin(6 * X).ravel()) > 0.9
    True
    """

    _parameter_constraints: dict = {
        **BaseMLP._parameter_constraints,
        "loss": [StrOptions(set(_LOSSES))],
    }

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu",
                 *, solver="adam", alpha=0.0001, batch_size="auto",
                 learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True,
                 early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, device="cpu",
                 init="glorot_uniform", warmup_iter=0, dropout=0.0,
                 max_grad_norm=None, progress=False, n_jobs=None):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            loss=loss, shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            device=device, init=init, warmup_iter=warmup_iter, dropout=dropout,
            max_grad_norm=max_grad_norm, progress=progress, n_jobs=n_jobs)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             y_numeric=True, dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if spec.regressor_loss(self.loss).non_negative and np.any(y < 0):
            raise ValueError(f"loss={self.loss!r} requires non-negative y; got min(y) = "
                             f"{np.min(y)}.")
        return X, y.reshape(-1, 1) if y.ndim == 1 else y

    def _output_activation(self):
        return spec.regressor_loss(self.loss).output

    def predict(self, X):
        """Predict using the multi-layer perceptron model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The predicted values.
        """
        model = self._published()
        model._check_is_fitted()
        return model._predict(X)

    def _prediction_of(self, output):
        return output.ravel() if output.shape[1] == 1 else output

    _score_function = staticmethod(r2_score)

    def _encode_validation_targets(self, y_val):
        y_val = check_array(y_val, ensure_2d=False, dtype=(np.float64, np.float32),
                            input_name="y_val")
        Y_val = y_val.reshape(-1, 1) if y_val.ndim == 1 else y_val
        if Y_val.ndim != 2 or Y_val.shape[1] != self.n_outputs_:
            raise ValueError(f"y_val must have {self.n_outputs_} output(s) as y has, got "
                             f"shape {y_val.shape}.")
        if spec.regressor_loss(self.loss).non_negative and np.any(Y_val < 0):
            raise ValueError(f"loss={self.loss!r} requires non-negative y_val; got "
                             f"min(y_val) = {np.min(Y_val)}.")
        return (Y_val.ravel() if Y_val.shape[1] == 1 else Y_val), Y_val

    @available_if(lambda est: est._check_solver())
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Update the model with a single epoch over the given data.

        Only available for the stochastic solvers (sgd, adam, adamw); the optimizer
        state carries over between calls.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.

        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The target values.

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        self : object
            Trained MLP model.
        """
        with trained_as_draft(self) as draft:
            draft._fit(X, y, sample_weight=sample_weight, incremental=True)
        return self
