"""BaseMLP: the scikit-learn face shared by MLPClassifier and MLPRegressor.

Parameters, validation, the epoch loop, early stopping, warm_start / partial_fit,
learning-rate schedules, verbose output and loss_curve_. The arithmetic runs in a
backend (``fastmlp.backends``); this module only sees epoch boundaries.
"""

import operator
import sys
import warnings
from abc import ABC, abstractmethod
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)

from .. import spec
from ..backends import get_backend, resolve_device
from ..layout import validate_fitted_state
from ..network import INITIALIZERS, Network
from ..progress import ProgressBar
from ..solvers import StochasticOptimizer, check_lbfgs_result, minimize_lbfgs
from ..threads import ThreadShare
from ._memory import check_fit_memory
from ._serving import ServingState, serving_state
from ._validation import check_validation_args, data_loss

_PLAIN = "__plain__"  # key naming the class of a pickled network / optimizer dict

_NON_FINITE_MESSAGE = (
    "Solver produced non-finite parameter weights. The input data may"
    " contain large values and need to be preprocessed."
)

_ZERO_WEIGHT_MESSAGE = (
    "Weights sum to zero, can't be normalized: the sample weights of the rows of a "
    "mini-batch ({} rows) are all zero. Drop the zero-weight rows, use a larger "
    "batch_size, or shuffle=True."
)

_OWN_FRAMES = ("fastmlp.", "sklearn.base", "sklearn.utils._available_if")
"""Modules whose frames a warning skips: fastmlp's, and the wrappers scikit-learn
puts around ``fit`` / ``partial_fit``."""


def warn_caller(message, category=UserWarning):
    """``warnings.warn`` attributed to the first frame outside fastmlp (and
    scikit-learn's method wrappers): the warning names the user's line, however
    deep inside a fit it was raised."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith(_OWN_FRAMES):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


@contextmanager
def trained_as_draft(estimator):
    """Train a draft of ``estimator`` and publish it in one step.

    Yields the draft: an object of the estimator's class holding a shallow copy
    of its attributes. Training works on the draft alone and mutates no object
    the estimator already holds (it works on copies), except the lists it
    appends epochs to. When the block ends, the draft's attribute dict becomes
    the estimator's in one assignment, so a prediction running meanwhile in
    another thread (which reads one attribute dict throughout, see
    ``BaseMLP._published``) uses the whole old model or the whole new one. If
    the block raises, nothing is published and the appended lists are cut back:
    a failed fit or partial_fit leaves the estimator exactly as it was.
    """
    draft = object.__new__(type(estimator))
    draft.__dict__ = dict(estimator.__dict__)
    # lists a fit appends to in place (loss_curve_, validation_scores_): cut back
    lengths = {id(value): (value, len(value)) for value in draft.__dict__.values()
               if type(value) is list}
    try:
        yield draft
    except BaseException:
        for value, length in lengths.values():
            del value[length:]
        raise
    estimator.__dict__ = draft.__dict__


def row_classes(Y):
    """Each row's class index, for the indicator targets ``Y`` of single-label
    classification (one column: the positive class; else one-hot)."""
    return Y[:, 0].astype(np.intp) if Y.shape[1] == 1 else Y.argmax(axis=1)


def _times_class_weights(Y, sample_weight, class_weights):
    """``sample_weight`` (None: ones) times the weight of each row's class
    (``row_classes``); ``sample_weight`` itself without class weights."""
    if class_weights is None:
        return sample_weight
    row_weights = class_weights[row_classes(Y)]
    return row_weights if sample_weight is None else sample_weight * row_weights


def _check_batch_weights(sample_weight, order, batch_size):
    """ZeroDivisionError, as scikit-learn's, when the sample weights of a
    mini-batch of this epoch (rows ``order``) sum to zero."""
    sums = np.add.reduceat(sample_weight[order], np.arange(0, order.shape[0], batch_size))
    if np.any(sums == 0):
        raise ZeroDivisionError(_ZERO_WEIGHT_MESSAGE.format(
            min(batch_size, order.shape[0])))


def _are_views(coefs, intercepts, views):
    """Whether ``coefs`` / ``intercepts`` are exactly the view objects recorded in
    ``views`` (pairs of array and shape), unreplaced and unreshaped."""
    if views is None or type(coefs) is not list or type(intercepts) is not list:
        return False
    arrays = coefs + intercepts
    return len(arrays) == len(views) and all(
        a is v and a.shape == shape for a, (v, shape) in zip(arrays, views, strict=True))


class BaseMLP(BaseEstimator, ABC):
    """Base class of fastmlp's estimators; use MLPClassifier or MLPRegressor."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(spec.HIDDEN_ACTIVATIONS))],
        "solver": [StrOptions(set(spec.SOLVERS))],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions(set(spec.SCHEDULES))],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(Real, {np.inf})],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "device": [StrOptions({"cpu", "cuda", "auto"})],
        "init": [StrOptions(set(INITIALIZERS))],
        "warmup_iter": [Interval(Integral, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left"), "array-like"],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
        "progress": ["boolean"],
        "n_jobs": [Interval(Integral, None, -1, closed="right"),
                   Interval(Integral, 1, None, closed="left"), None],
    }

    @abstractmethod
    def __init__(self, hidden_layer_sizes, activation, solver, alpha, batch_size,
                 learning_rate, learning_rate_init, power_t, max_iter, loss, shuffle,
                 random_state, tol, verbose, warm_start, momentum, nesterovs_momentum,
                 early_stopping, validation_fraction, beta_1, beta_2, epsilon,
                 n_iter_no_change, max_fun, device, init, warmup_iter, dropout,
                 max_grad_norm, progress, n_jobs):
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.device = device
        self.init = init
        self.warmup_iter = warmup_iter
        self.dropout = dropout
        self.max_grad_norm = max_grad_norm
        self.progress = progress
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _validate_input(self, X, y, incremental, reset):
        """Return (X, Y) with Y 2-D float targets; classifiers also fit labels."""

    @abstractmethod
    def _output_activation(self):
        """Name of the output activation for the fitted targets."""

    def _class_weights(self, Y, incremental):
        """Weight of each target column's class, or None (classifiers)."""
        return None

    @abstractmethod
    def _encode_validation_targets(self, y_val):
        """``(y_val, Y_val)``: the targets as the score takes them and as the loss
        does (2-D, like the training targets); ValueError for targets the fitted
        model cannot have (unseen classes, another number of outputs)."""

    @abstractmethod
    def _prediction_of(self, output):
        """What ``predict`` returns for the output activations ``output``."""

    _score_function = None
    """Validation score of early stopping: ``f(y, y_pred, sample_weight=...)``
    (accuracy or R^2)."""

    # ------------------------------------------------------------- network
    def _current_network(self):
        """The fitted network; rebuilt from coefs_/intercepts_ if a user replaced
        them, and then checked against the fitted attributes
        (``layout.validate_fitted_state``). ValueError when they disagree. Its
        hidden activation is the current ``activation`` parameter, as
        scikit-learn reads it at every prediction."""
        network = getattr(self, "_network", None)
        coefs, intercepts = getattr(self, "coefs_", None), getattr(self, "intercepts_", None)
        if network is not None and _are_views(coefs, intercepts, self.__dict__.get("_views")):
            if network.activation != self.activation:  # set_params after fit
                network.activation = self.activation  # checked by validate_network
            if getattr(self, "n_features_in_", None) != network.units[0]:  # edited
                validate_fitted_state(self, network)
            return network
        network = Network.from_arrays(coefs, intercepts, self.activation,
                                      getattr(self, "out_activation_", None))
        validate_fitted_state(self, network)
        return network

    def _set_network(self, network):
        self._network = network
        self.coefs_ = network.coefs
        self.intercepts_ = network.intercepts
        # the view objects handed out: coefs_ / intercepts_ are the network's
        # own parameters exactly while they are these objects, in these shapes
        self._views = tuple((a, a.shape) for a in self.coefs_ + self.intercepts_)

    def __getstate__(self):
        state = dict(super().__getstate__())
        views = state.pop("_views", None)
        if _are_views(state.get("coefs_"), state.get("intercepts_"), views):
            # Views are rebuilt on load; pickling them would store parameters twice.
            del state["coefs_"], state["intercepts_"]
        # the network and optimizer as plain dicts of arrays, numbers and strings:
        # skops then needs to trust the estimator class alone
        for name, cls in (("_network", Network), ("_optimizer", StochasticOptimizer)):
            if type(state.get(name)) is cls:
                state[name] = {_PLAIN: cls.__name__, **state[name].__getstate__()}
        return state

    def __setstate__(self, state):
        """Restore a pickled estimator and check the fitted state it holds
        (ValueError naming the inconsistent attribute)."""
        # models pickled before ``init`` existed were all initialised this way
        state = {"init": "glorot_uniform", **state}
        for name, cls in (("_network", Network), ("_optimizer", StochasticOptimizer)):
            plain = state.get(name)
            if isinstance(plain, dict) and plain.get(_PLAIN) == cls.__name__:
                rebuilt = cls.__new__(cls)
                rebuilt.__setstate__({k: v for k, v in plain.items() if k != _PLAIN})
                state[name] = rebuilt
        super().__setstate__(state)
        if "_network" in state and "coefs_" not in state and "intercepts_" not in state:
            self._set_network(self._network)
        if "_network" in state or "coefs_" in state or "intercepts_" in state:
            validate_fitted_state(self, self._current_network())

    # ----------------------------------------------------------------- fit
    def _hidden_layer_list(self):
        sizes = self.hidden_layer_sizes
        if not hasattr(sizes, "__iter__"):
            sizes = [sizes]
        sizes = list(sizes)
        if np.any(np.array(sizes) <= 0):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        for size in sizes:
            try:
                operator.index(size)  # ints and NumPy integers; 10.5 or 10.0 are not
            except TypeError:
                raise TypeError(
                    f"hidden_layer_sizes must contain integers, got {size!r} "
                    f"({type(size).__name__}) in {self.hidden_layer_sizes!r}: "
                    f"'{type(size).__name__}' object cannot be interpreted as an integer."
                ) from None
        return [int(s) for s in sizes]

    def _backend(self):
        return get_backend(resolve_device(self.device))

    def _check_schedule(self):
        """ValueError for a warm-up the schedule cannot take."""
        if self.warmup_iter == 0:
            return
        if self.learning_rate not in spec.WARMUP_SCHEDULES:
            raise ValueError(
                f"warmup_iter={self.warmup_iter} needs learning_rate in "
                f"{list(spec.WARMUP_SCHEDULES)}, got learning_rate={self.learning_rate!r}.")
        if self.learning_rate == "cosine" and self.warmup_iter >= self.max_iter:
            raise ValueError(
                f"warmup_iter ({self.warmup_iter}) must be less than max_iter "
                f"({self.max_iter}) with learning_rate='cosine': the cosine anneals over "
                "the epochs after the warm-up.")

    def _dropout_rates(self, n_hidden):
        """``dropout`` as one drop probability per hidden layer (float64 array);
        ValueError for rates out of [0, 1), a list of the wrong length, or
        dropout with a solver whose objective must be deterministic."""
        try:
            rates = np.asarray(self.dropout, dtype=np.float64)
        except (TypeError, ValueError):
            rates = None
        if rates is None or rates.ndim > 1 or (rates.ndim == 1 and len(rates) != n_hidden):
            raise ValueError(
                f"dropout must be a float in [0, 1) or one such rate per hidden layer "
                f"({n_hidden}), got {self.dropout!r}.")
        if not (np.all(rates >= 0) and np.all(rates < 1)):
            raise ValueError(f"dropout rates must be in [0, 1), got {self.dropout!r}.")
        rates = np.broadcast_to(rates, (n_hidden,)).copy()
        if rates.any() and not spec.solver(self.solver).stochastic:
            raise ValueError(
                f"dropout needs a stochastic solver ({list(spec.STOCHASTIC_SOLVERS)}): "
                f"solver={self.solver!r} minimises a deterministic objective. Set "
                "dropout=0 or choose another solver.")
        return rates

    def _check_optimizer_options(self):
        """ValueError for clipping or decoupled decay that cannot apply."""
        if self.max_grad_norm is not None and not spec.solver(self.solver).stochastic:
            raise ValueError(
                f"max_grad_norm clips the gradient of each mini-batch step; "
                f"solver={self.solver!r} takes none. Use one of "
                f"{list(spec.STOCHASTIC_SOLVERS)} or max_grad_norm=None.")
        if self.solver in spec.DECOUPLED_DECAY and self.learning_rate_init * self.alpha >= 1:
            raise ValueError(
                f"solver={self.solver!r} multiplies the coefficients by 1 - "
                f"learning_rate_init * alpha each step, which must be positive: got "
                f"learning_rate_init={self.learning_rate_init} and alpha={self.alpha}.")

    def _fit(self, X, y, sample_weight=None, incremental=False,
             validation_data=(None, None, None)):
        self._check_schedule()
        self._check_optimizer_options()
        given = check_validation_args(self, *validation_data)
        hidden_layer_sizes = self._hidden_layer_list()
        dropout = self._dropout_rates(len(hidden_layer_sizes))
        backend = self._backend()
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)

        X, Y = self._validate_input(X, y, incremental, reset=first_pass)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
        class_weights = self._class_weights(Y, incremental)
        sample_weight = _times_class_weights(Y, sample_weight, class_weights)
        units = [X.shape[1]] + hidden_layer_sizes + [Y.shape[1]]
        check_fit_memory(units, X.dtype, self.solver, X.shape[0], self.batch_size)
        self._random_state = check_random_state(self.random_state)

        if first_pass:
            self.n_outputs_ = Y.shape[1]
            self.n_layers_ = len(units)
            self.out_activation_ = self._output_activation()
            self.n_iter_ = 0
            self.t_ = 0
            network = Network.initialize(units, self.activation, self.out_activation_,
                                         X.dtype, self._random_state, self.init)
        else:
            network = self._current_network().copy()
            if list(network.units) != units:
                raise ValueError(
                    f"The network has layer sizes {list(network.units)} but X, y and "
                    f"hidden_layer_sizes give {units}; warm_start and partial_fit need "
                    "the same architecture (set warm_start=False to start afresh)."
                )
            network.activation = self.activation
            X = X.astype(network.dtype, copy=False)

        validation = (self._given_validation(X, *validation_data, class_weights) if given
                      else None)
        with ThreadShare(self.n_jobs) as threads:  # held while the fit runs
            if spec.solver(self.solver).stochastic:
                if first_pass or not hasattr(self, "loss_curve_"):
                    self._start_training_record(validating=given or self.early_stopping)
                self._fit_stochastic(backend, network, X, Y, sample_weight, incremental,
                                     validation, dropout, threads)
            else:
                self._fit_lbfgs(backend, network, X, Y, sample_weight, threads)

        if not np.isfinite(network.params).all():
            raise ValueError(_NON_FINITE_MESSAGE)
        self._set_network(network)
        return self

    def _start_training_record(self, validating):
        """Fresh loss curves and stopping state of the stochastic solvers."""
        self.loss_curve_ = []
        self._no_improvement_count = 0
        self.validation_scores_ = [] if validating else None
        self.validation_loss_curve_ = [] if validating else None
        if self.early_stopping:
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.best_validation_score_ = None

    def _given_validation(self, X, X_val, y_val, sample_weight_val, class_weights):
        """The validation set given to ``fit``, checked like the training data:
        ``(X_val, y_val, Y_val, sample_weight_val)`` (see ``_validation_split``)."""
        X_val = validate_data(self, X_val, accept_sparse=["csr", "csc"],
                              dtype=(np.float64, np.float32), reset=False)
        X_val = X_val.astype(X.dtype, copy=False)
        y_val, Y_val = self._encode_validation_targets(y_val)
        check_consistent_length(X_val, y_val)
        if sample_weight_val is not None:
            sample_weight_val = _check_sample_weight(sample_weight_val, X_val,
                                                     ensure_non_negative=True)
        sample_weight_val = _times_class_weights(Y_val, sample_weight_val, class_weights)
        return X_val, y_val, Y_val, sample_weight_val

    def _fit_lbfgs(self, backend, network, X, Y, sample_weight, threads):
        trainer = backend.Trainer(network, X, Y, sample_weight,
                                  spec.LOSS_OF_OUTPUT[self.out_activation_].code, self.alpha,
                                  threads=threads)
        with ProgressBar(self.max_iter, type(self).__name__, "iteration",
                         enabled=self.progress) as bar:
            result = minimize_lbfgs(
                trainer.loss_grad, network.params.astype(np.float64),
                max_iter=self.max_iter, max_fun=self.max_fun, tol=self.tol,
                verbose=bool(self.verbose), bar=bar)
        self.n_iter_ = check_lbfgs_result(result, self.max_iter)
        self.loss_ = float(result.fun)
        network.params[:] = result.x

    def _optimizer_for(self, network, incremental):
        """An optimizer with the current hyperparameters; when training continues
        (partial_fit, warm_start) it takes over the previous momentum / Adam state,
        and partial_fit also the current learning rate and epoch of the schedule."""
        optimizer = StochasticOptimizer(
            self.solver, network.params.shape[0], network.dtype,
            learning_rate_init=self.learning_rate_init, lr_schedule=self.learning_rate,
            momentum=self.momentum, nesterov=self.nesterovs_momentum, power_t=self.power_t,
            beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
            max_iter=self.max_iter, warmup_iter=self.warmup_iter, weight_decay=self.alpha,
            max_grad_norm=self.max_grad_norm)
        previous = getattr(self, "_optimizer", None)
        if (previous is not None and (incremental or self.warm_start)
                and previous.state.shape == optimizer.state.shape
                and previous.state.dtype == optimizer.state.dtype):
            optimizer.state = previous.state.copy()
            optimizer.step = previous.step.copy()
            if incremental:  # the schedule and the dropout masks go on where they stopped
                optimizer.learning_rate = previous.learning_rate
                optimizer.epoch = previous.epoch
                optimizer.dropout_seed = previous.dropout_seed
        return optimizer

    def _validation_split(self, X, Y, sample_weight):
        """Hold out ``validation_fraction`` of the rows, stratified for single-label
        classification (scikit-learn stratifies only binary problems) where that
        is possible: with a class of one member, or fewer held-out (or kept) rows
        than classes, the split is scikit-learn's unstratified one, so early
        stopping never refuses data that scikit-learn fits."""
        from sklearn.model_selection import train_test_split  # early stopping only

        arrays = (X, Y) if sample_weight is None else (X, Y, sample_weight)
        split = dict(random_state=self._random_state, test_size=self.validation_fraction)
        parts = None
        if is_classifier(self) and not self._label_binarizer.y_type_.startswith("multilabel"):
            try:  # a split that cannot be stratified fails before drawing from the seed
                parts = train_test_split(*arrays, stratify=Y, **split)
            except ValueError:
                pass
        if parts is None:
            parts = train_test_split(*arrays, **split)
        X_train, X_val, Y_train, Y_val = parts[:4]
        sw_train, sw_val = (parts[4], parts[5]) if sample_weight is not None else (None, None)
        if X_val.shape[0] < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' "
                "or the size of your dataset."
            )
        y_val = self._label_binarizer.inverse_transform(Y_val) if is_classifier(self) else Y_val
        if not is_classifier(self) and y_val.shape[1] == 1:
            y_val = y_val.ravel()
        return X_train, Y_train, sw_train, (X_val, y_val, Y_val, sw_val)

    def _fit_stochastic(self, backend, network, X, Y, sample_weight, incremental, validation,
                        dropout, threads):
        """Epochs of sgd / adam / adamw. ``validation``: a validation set given to
        ``fit`` (see ``_given_validation``), or None; with early stopping and none
        given, ``validation_fraction`` of the rows is held out. ``dropout``: the
        hidden layers' drop probabilities; ``threads``: the fit's ``ThreadShare``."""
        optimizer = self._optimizer_for(network, incremental)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        if self.early_stopping:
            if validation is None:
                X, Y, sample_weight, validation = self._validation_split(X, Y, sample_weight)
            best_params = network.params.copy()
            if self.best_validation_score_ is None:  # warm start after a fit without
                self.best_validation_score_ = -np.inf

        n_samples = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warn_caller(
                    "Got `batch_size` less than 1 or larger than "
                    "sample size. It is going to be clipped"
                )
            batch_size = int(np.clip(self.batch_size, 1, n_samples))

        if dropout.any() and optimizer.dropout_seed is None:
            # drawn only when units drop, so fits without dropout draw what they did
            optimizer.dropout_seed = int(self._random_state.randint(np.iinfo(np.int32).max))
        trainer = backend.Trainer(network, X, Y, sample_weight,
                                  spec.LOSS_OF_OUTPUT[self.out_activation_].code, self.alpha,
                                  batch_size, dropout, threads)
        # rows of zero weight could fill a mini-batch: checked per epoch, before it runs
        zero_weights = sample_weight is not None and not np.all(sample_weight != 0)
        # appended to in place (amortised O(1) per partial_fit call); a list of its own
        # if the attribute was replaced by another sequence
        if type(self.loss_curve_) is not list:
            self.loss_curve_ = list(self.loss_curve_)
        if validation is not None:  # (None after a warm start from a fit without one)
            for name in ("validation_scores_", "validation_loss_curve_"):
                if type(getattr(self, name, None)) is not list:
                    setattr(self, name, list(getattr(self, name, None) or ()))
        sample_idx = np.arange(n_samples, dtype=np.int64)
        diverged = False
        # one step per epoch; partial_fit (one epoch per call) shows none
        bar = ProgressBar(self.max_iter, type(self).__name__, "epoch",
                          enabled=self.progress and not incremental)
        with bar:
            try:
                self.n_iter_ = 0
                for _ in range(self.max_iter):
                    if self.shuffle:
                        # sklearn.utils.shuffle's draw, without its per-call validation:
                        # the same swaps, made in place instead of on a permutation
                        # that then gathers sample_idx
                        self._random_state.shuffle(sample_idx)
                    if zero_weights:
                        _check_batch_weights(sample_weight, sample_idx, batch_size)
                    accumulated = trainer.run_epoch(sample_idx if self.shuffle else None,
                                                    optimizer)
                    with bar.paused(self.verbose):  # the verbose lines, on a clear line
                        if not np.isfinite(accumulated):
                            if not self.early_stopping:
                                raise ValueError(_NON_FINITE_MESSAGE)
                            self._diverged(accumulated, n_samples, bar)
                            diverged = True
                            break
                        self._record_epoch(accumulated, n_samples)

                        if validation is not None:
                            trainer.pull_params()
                            if self._update_validation(network, validation):
                                best_params = network.params.copy()
                        if not self.early_stopping:
                            self._update_training_loss()
                        optimizer.iteration_ends(self.t_)
                        if bar.enabled:
                            bar.update(loss=self.loss_, val=(
                                self.validation_scores_[-1] if validation is not None
                                else None))

                        if self._no_improvement_count > self.n_iter_no_change:
                            if self.early_stopping:
                                msg = ("Validation score did not improve more than "
                                       f"tol={self.tol:f} for {self.n_iter_no_change} "
                                       "consecutive epochs.")
                            else:
                                msg = ("Training loss did not improve more than "
                                       f"tol={self.tol:f} for {self.n_iter_no_change} "
                                       "consecutive epochs.")
                            if optimizer.trigger_stopping(msg, self.verbose):
                                break
                            self._no_improvement_count = 0

                    if incremental:
                        break
                    if self.n_iter_ == self.max_iter:
                        bar.close()  # before the warning, which goes to stderr too
                        warn_caller(
                            f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) "
                            "reached and the optimization hasn't converged yet.",
                            ConvergenceWarning,
                        )
            except KeyboardInterrupt:
                bar.close(complete=False)
                warn_caller("Training interrupted by user.")
        trainer.pull_params()
        if diverged:  # the moments are not finite: a later warm start starts them afresh
            optimizer.state[...] = 0
            optimizer.step[...] = 0
        self._optimizer = optimizer
        if self.early_stopping:
            network.params[:] = best_params

    def _record_epoch(self, accumulated, n_samples):
        """Book one finished epoch: ``n_iter_``, ``loss_`` (the accumulated loss
        per sample), ``t_``, ``loss_curve_``, and the verbose line."""
        self.n_iter_ += 1
        self.loss_ = float(accumulated) / n_samples
        self.t_ += n_samples
        self.loss_curve_.append(self.loss_)
        if self.verbose:
            print(f"Iteration {self.n_iter_}, loss = {self.loss_:.8f}")

    def _diverged(self, accumulated, n_samples, bar):
        """With early stopping, a non-finite epoch loss ends training as in
        scikit-learn: the epoch is recorded (loss NaN or inf, validation score
        NaN) and the best weights seen are kept; fastmlp stops at once instead of
        running the remaining epochs on non-finite weights, and warns (after
        closing the progress ``bar``)."""
        self._record_epoch(accumulated, n_samples)
        self.validation_scores_.append(float("nan"))
        self.validation_loss_curve_.append(float("nan"))
        if self.verbose:
            print("Validation score: nan")
        bar.update(loss=self.loss_, val=float("nan"))
        bar.close(complete=False)
        warn_caller(
            f"Training diverged at epoch {self.n_iter_} (the loss is not finite); "
            "stopping and keeping the weights of the best validation score "
            f"({self.best_validation_score_}). A smaller learning_rate_init or scaled "
            "inputs may help.",
            ConvergenceWarning,
        )

    def _update_validation(self, network, validation):
        """Score the validation data and record its loss (one forward pass);
        with early stopping, returns True when the score is the best so far."""
        X_val, y_val, Y_val, sw_val = validation
        self._set_network(network)
        if np.isfinite(network.params).all():
            output = self._forward(X_val, check_input=False)
            score = self._score_output(output, y_val, sw_val)
            loss_code = spec.LOSS_OF_OUTPUT[network.out_activation].code
            loss = data_loss(Y_val, output, sw_val, loss_code)
        else:  # non-finite weights score NaN (a classifier's labels could still score well)
            score = loss = float("nan")
        self.validation_scores_.append(score)
        self.validation_loss_curve_.append(loss)
        if self.verbose:
            print(f"Validation score: {score:f}")
        if not self.early_stopping:
            return False
        if score < self.best_validation_score_ + self.tol:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        if score > self.best_validation_score_:
            self.best_validation_score_ = score
            return True
        return False

    def _update_training_loss(self):
        if self.loss_curve_[-1] > self.best_loss_ - self.tol:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        if self.loss_curve_[-1] < self.best_loss_:
            self.best_loss_ = self.loss_curve_[-1]

    # ------------------------------------------------------------- predict
    def _published(self):
        """The model as last published by a fit: an object of this class that
        reads the attribute dict this estimator holds now, and keeps it when a
        fit running in another thread publishes a new one (``trained_as_draft``).
        Prediction reads everything from it, so it never mixes two models."""
        model = object.__new__(type(self))
        model.__dict__ = self.__dict__
        return model

    def _forward(self, X, check_input=True):
        """Output-layer activations for X, shape (n_samples, n_outputs): through
        the lean path (``_serving``) when this fitted state passed the full one
        before and X is the common case, else through ``validate_data``."""
        attrs = self.__dict__
        if check_input:
            serving = serving_state(attrs)
            if serving is not None:
                out = serving.forward(X)
                if out is not None:
                    return out
            X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False)
        network = self._current_network()
        device = resolve_device(self.device)
        out = get_backend(device).predict(network, X, n_jobs=self.n_jobs)
        if check_input and device == "cpu" and network is attrs.get("_network"):
            network.serving = ServingState(attrs, network)
        # as scikit-learn: float64 input to a float32 model gives float64 output
        return out.astype(np.result_type(X.dtype, network.dtype), copy=False)

    def _check_is_fitted(self):
        if not hasattr(self, "coefs_"):
            check_is_fitted(self)  # raises NotFittedError with scikit-learn's message

    def _predict(self, X, check_input=True):
        return self._prediction_of(self._forward(X, check_input=check_input))

    def _score_output(self, output, y, sample_weight):
        """The validation score (``_score_function``) of the output activations."""
        y_pred = self._prediction_of(output)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return self._score_function(y, y_pred, sample_weight=sample_weight)

    def _check_solver(self):
        if self.solver not in spec.STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic"
                f" optimizers. {self.solver} is not stochastic."
            )
        return True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None,
            sample_weight_val=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n_samples, n_features)
            The input data. float32 input trains float32 parameters.

        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels in classification, real numbers in
            regression).

        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        X_val : {ndarray, sparse matrix} of shape (n_val, n_features), default=None
            Validation data of your own (sgd, adam, adamw), scored after every
            epoch: ``validation_scores_`` and ``validation_loss_curve_`` record
            it. With ``early_stopping=True`` it replaces the split of
            ``validation_fraction`` of the training rows; otherwise it is only
            recorded. In a ``Pipeline``, ``Pipeline(..., transform_input=
            ["X_val"])`` transforms it as X (with metadata routing enabled).

        y_val : array-like of shape (n_val,) or (n_val, n_outputs), default=None
            Targets of ``X_val``; given together with it. A classifier's must be
            among the classes of ``y``.

        sample_weight_val : array-like of shape (n_val,), default=None
            Weights of the validation rows, for the score and the loss.

        Returns
        -------
        self : object
            Returns a trained MLP model.
        """
        with trained_as_draft(self) as draft:
            draft._fit(X, y, sample_weight=sample_weight, incremental=False,
                       validation_data=(X_val, y_val, sample_weight_val))
        return self


def _choices(names):
    """``{'a', 'b'}``: a parameter's values as numpydoc writes them."""
    return "{" + ", ".join(repr(name) for name in names) + "}"


def _activation_lines():
    """One docstring line per hidden activation, with its formula (``spec``)."""
    return "\n".join(f"        - {kind.name!r}: {kind.doc}" for kind in spec.ACTIVATIONS.values()
                     if kind.hidden)


_PARAMETERS_DOC = f"""
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of neurons in the ith hidden layer.

    activation : {_choices(spec.HIDDEN_ACTIVATIONS)}, default='relu'
        Activation of the hidden layers, f(x) below. Beyond scikit-learn's four
        (identity, logistic, tanh, relu) the definitions and constants are
        PyTorch's; softplus is computed without overflow.

{_activation_lines()}

    solver : {_choices(spec.SOLVERS)}, default='adam'
        Weight optimizer: scipy's L-BFGS-B on the flat parameter vector,
        stochastic gradient descent, Adam, or AdamW (Adam with decoupled
        weight decay, Loshchilov & Hutter; step for step PyTorch's
        ``torch.optim.AdamW`` with ``weight_decay=alpha`` on the coefficients,
        which adds ``epsilon`` after the bias correction of the second moment as
        PyTorch does, where scikit-learn's Adam adds it before). sgd, adam and
        adamw run one compiled call per epoch.

    alpha : float, default=0.0001
        Strength of the L2 penalty, divided by the sample weight sum. For
        adamw it is the decoupled weight decay instead: each step multiplies
        the coefficients (not the intercepts) by ``1 - lr * alpha``, with lr
        the epoch's learning rate, and the gradient has no L2 term;
        ``learning_rate_init * alpha`` must be below 1. The reported loss
        includes the L2 term for every solver.

    batch_size : int or 'auto', default='auto'
        Mini-batch size of the stochastic solvers; 'auto' is
        ``min(200, n_samples)``. Ignored by lbfgs.

    learning_rate : {_choices(spec.SCHEDULES)}, default='constant'
        Step-size schedule. sgd follows all four: 'constant'; 'invscaling',
        ``learning_rate_init / (t + 1) ** power_t`` updated at each epoch end (t =
        samples seen); 'adaptive', divided by 5 each time ``n_iter_no_change``
        epochs fail to improve by ``tol``; 'cosine', annealed from
        ``learning_rate_init`` to 0 over ``max_iter`` epochs,
        ``learning_rate_init (1 + cos(pi e / max_iter)) / 2`` in epoch e (from 0),
        as PyTorch's ``CosineAnnealingLR(T_max=max_iter)``. adam and adamw
        follow 'constant' and 'cosine' (scikit-learn's adam ignores the others,
        and so do fastmlp's); lbfgs none.

    learning_rate_init : float, default=0.001
        Initial step size (sgd, adam and adamw).

    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.

    max_iter : int, default=200
        Epochs for sgd, adam and adamw; iterations for lbfgs.

    shuffle : bool, default=True
        Whether to shuffle the samples each epoch (sgd, adam, adamw).

    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling and the early-stopping split. The
        same seed draws the same initial weights as scikit-learn.

    tol : float, default=1e-4
        Improvement below which an epoch counts as no progress (see
        ``n_iter_no_change``); lbfgs's gradient tolerance.

    verbose : bool, default=False
        Print ``Iteration N, loss = ...`` after each epoch or lbfgs iteration
        to stdout, as scikit-learn does (see ``progress`` for a live bar).

    warm_start : bool, default=False
        Start ``fit`` from the previous solution, continuing the optimizer state
        (momentum / Adam moments).

    momentum : float, default=0.9
        Momentum of sgd, in [0, 1].

    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum (sgd with momentum > 0).

    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data (stratified for
        single-label classification), stop when its score stops improving, and
        keep the best parameters. sgd, adam and adamw only.

    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.

    beta_1 : float, default=0.9
        Adam's (and AdamW's) decay rate of the first moment, in [0, 1).

    beta_2 : float, default=0.999
        Adam's (and AdamW's) decay rate of the second moment, in [0, 1).

    epsilon : float, default=1e-8
        Adam's (and AdamW's) numerical-stability constant.

    n_iter_no_change : int, default=10
        Epochs without ``tol`` improvement before stopping (sgd, adam, adamw).

    max_fun : int, default=15000
        Maximum number of loss evaluations of lbfgs.

    device : {{'cpu', 'cuda', 'auto'}}, default='cpu'
        Where training and prediction run. 'cuda' needs an NVIDIA GPU (and
        ``pip install "fastmlp[cuda]"``) and raises RuntimeError otherwise;
        'auto' uses CUDA when available, else the CPU. Fitted attributes are
        NumPy arrays whatever the device.

    init : {_choices(INITIALIZERS)}, default='glorot_uniform'
        Initial weights, drawn from ``random_state``. 'glorot_uniform' is
        scikit-learn's: U(-b, b) with b = sqrt(6 / (fan_in + fan_out))
        (sqrt(2 / ...) for 'logistic'), intercepts too, so the same seed gives
        scikit-learn's initial weights. 'he_normal' N(0, 2 / fan_in),
        'he_uniform' U(-b, b) with b = sqrt(6 / fan_in) (both suit ReLU-like
        activations) and 'lecun_normal' N(0, 1 / fan_in) start intercepts at
        zero.

    warmup_iter : int, default=0
        Epochs of linear warm-up (sgd, adam, adamw) before a 'constant' or 'cosine'
        schedule: epoch e < warmup_iter trains at ``learning_rate_init (e + 1)
        / warmup_iter``; 'cosine' then anneals over the ``max_iter -
        warmup_iter`` epochs left. ``partial_fit`` calls count as epochs of the
        schedule; each ``fit`` starts it afresh.

    dropout : float or array-like of shape (n_layers - 2,), default=0.0
        Probability of dropping each hidden unit while training, for every
        hidden layer or one per hidden layer, in [0, 1). Inverted dropout as
        PyTorch's ``nn.Dropout`` after each hidden activation: a kept unit is
        scaled by 1 / (1 - p), and prediction never drops. The mask is fresh for
        every row and epoch and the same for a given ``random_state`` on every
        path and device (a hash of seed, epoch, row and unit; nothing is
        stored). ``loss_curve_`` is the loss of the network with units dropped,
        as training computes it; validation scores and losses use the whole
        network. sgd, adam and adamw only: lbfgs raises ValueError for a rate
        above 0. ``partial_fit`` and model files go on with the same masks.

    max_grad_norm : float or None, default=None
        Clip the gradient of each mini-batch step to at most this L2 norm over
        all coefficients and intercepts together, as PyTorch's
        ``clip_grad_norm_`` before ``optimizer.step()``: g is scaled by
        ``min(1, max_grad_norm / (||g|| + 1e-6))``. The gradient is that of the
        reported batch loss (the L2 term included, except for adamw). sgd, adam
        and adamw; lbfgs raises ValueError. At ``batch_size=1`` a clipped fit
        updates after each row's whole gradient instead of weight by weight.

    progress : bool, default=False
        Show live progress on stderr while ``fit`` runs: one step per epoch
        (sgd, adam, adamw; the bar ends early when training stops early) or
        per lbfgs iteration, out of ``max_iter``, with the training loss, the
        latest validation score when one is recorded, and the elapsed and
        remaining time. With tqdm installed this is a ``tqdm.auto`` bar (a
        widget in a notebook with ipywidgets); without it, one line rewritten
        in place on a terminal, or a line every 10 seconds and a last one in a
        log file. ``partial_fit`` shows nothing. Unlike ``verbose``, which
        prints scikit-learn's lines to stdout (and is unchanged by this
        parameter), nothing goes to stdout. Never changes the fitted model.

    n_jobs : int, default=None
        Threads one ``fit`` (or a prediction of many rows) may use on the CPU.
        Mini-batches of enough work in fits of at least 2,048 rows (see
        ``fastmlp.config.pieces_of``) are cut into a fixed number of row
        pieces computed in parallel, their gradients added up in a fixed
        order; the L-BFGS objective and predictions of several blocks of rows
        likewise. The result is bitwise the same for every ``n_jobs``. None
        uses the cores free to this fit: all of them when it runs alone,
        an even share when fits run in parallel threads of this process
        (threaded ``GridSearchCV``, Dask workers with several threads),
        within ``NUMBA_NUM_THREADS`` (joblib's process workers set it to their
        share) and ``OMP_NUM_THREADS`` / ``threadpoolctl`` limits. A positive
        value asks for that many threads, -1 for all of Numba's threads, -2
        for all but one, and so on. BLAS settings are never changed. See
        ``fastmlp.threads``."""

_ATTRIBUTES_DOC = """
    loss_ : float
        The current loss computed with the loss function.

    best_loss_ : float or None
        Minimum training loss reached (sgd, adam, adamw); None with early_stopping.

    loss_curve_ : list of shape (`n_iter_`,)
        Training loss after each epoch (sgd, adam, adamw).

    validation_scores_ : list of shape (`n_iter_`,) or None
        Validation score after each epoch with early_stopping or a validation
        set given to ``fit`` (``X_val``), else None.

    validation_loss_curve_ : list of shape (`n_iter_`,) or None
        Loss on the validation data after each epoch, without the L2 term
        (comparable to ``loss_curve_`` when ``alpha`` is small), where
        ``validation_scores_`` is recorded; else None.

    best_validation_score_ : float or None
        Best validation score with early_stopping, else None.

    t_ : int
        Number of training samples seen by the solver.

    coefs_ : list of shape (n_layers - 1,)
        ith element: weight matrix of layer i, a view into one flat parameter
        vector.

    intercepts_ : list of shape (n_layers - 1,)
        ith element: bias vector of layer i + 1, a view into the same vector.

    n_features_in_ : int
        Number of features seen during fit.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

    n_iter_ : int
        Number of iterations the solver has run.

    n_layers_ : int
        Number of layers, input and output included.

    n_outputs_ : int
        Number of outputs.

    out_activation_ : str
        Name of the output activation."""

