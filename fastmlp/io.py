"""Pickle-free model files: :func:`save` and :func:`load`.

A model file is a NumPy ``.npz`` archive (an uncompressed zip of ``.npy``
arrays) holding plain numeric and unicode arrays, plus ``header.npy``: the
UTF-8 bytes of a small JSON header with the format name and version, the
estimator type, the hyperparameters and the fitted scalars. Loading parses
that JSON and the ``.npy`` headers itself, never unpickles, never imports
anything the file names, and checks every field before building the model.
``numpy.load(path)`` can inspect a file (its arrays load without pickle).

Examples
--------
>>> import os, tempfile
>>> import numpy as np
>>> import fastmlp
>>> X = np.random.default_rng(0).standard_normal((40, 3))
>>> clf = fastmlp.MLPClassifier((4,), solver="lbfgs", random_state=0)
>>> clf = clf.fit(X, X[:, 0] > 0)
>>> path = os.path.join(tempfile.mkdtemp(), "model.fastmlp")
>>> fastmlp.save(clf, path)
>>> (fastmlp.load(path).predict(X) == clf.predict(X)).all()
np.True_
"""

import io
import json
import os
import tempfile
import zipfile

import numpy as np

from . import _state

FORMAT = "fastmlp-model"
FORMAT_VERSION = 1
_HEADER = "header"
_NPY = ".npy"
# Array dtypes a model file may contain: numbers and unicode strings, nothing else.
_DTYPE_KINDS = "biufU"
_MAX_HEADER_BYTES = 1 << 20
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed, so the same model gives the same bytes


def save(model, path):
    """Write a fitted model to a pickle-free file.

    Everything ``predict``, ``predict_proba``, ``score``, ``partial_fit`` and
    ``warm_start`` need is stored: parameters in their training dtype,
    hyperparameters, class labels, feature names, the loss curve, the
    early-stopping record and the optimizer state. A file written by
    ``device='cpu'`` loads with ``device='cuda'`` and the reverse: the device
    is just a hyperparameter.

    Parameters
    ----------
    model : MLPClassifier or MLPRegressor
        A fitted fastmlp estimator.
    path : str, os.PathLike or binary file object
        Where to write. A path is written through a temporary file in the
        same folder and renamed at the end, so a failed save leaves an
        existing file untouched. Any name works; ``.fastmlp`` is a good suffix.

    Raises
    ------
    TypeError
        If ``model`` is not a fastmlp MLPClassifier or MLPRegressor.
    sklearn.exceptions.NotFittedError
        If ``model`` is not fitted.
    ValueError
        If a hyperparameter or label cannot be stored without pickle (for
        example class labels that are arbitrary Python objects).

    See Also
    --------
    load : Read the model back.
    """
    meta, arrays = _state.export_state(model)
    header = {"format": FORMAT, "format_version": FORMAT_VERSION,
              "fastmlp_version": _version(), **meta}
    text = json.dumps(header, allow_nan=False, separators=(",", ":"))
    members = {_HEADER: np.frombuffer(text.encode("utf-8"), dtype=np.uint8), **arrays}
    if hasattr(path, "write"):
        _write_zip(path, members)
        return
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastmlp-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_zip(f, members)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def load(path, *, device=None):
    """Read a model written by :func:`save`.

    Loading executes no code from the file and imports nothing it names: the
    estimator type must be fastmlp's MLPClassifier or MLPRegressor, arrays
    must be numbers or strings, hyperparameters pass the estimator's own
    validation, and shapes, dtypes and values are checked against each other.

    Parameters
    ----------
    path : str, os.PathLike or binary file object
        The file to read.
    device : {'cpu', 'cuda', 'auto'}, default=None
        Device of the loaded model; None keeps the one it was saved with.

    Returns
    -------
    model : MLPClassifier or MLPRegressor
        The fitted model, predicting exactly as the saved one did.

    Raises
    ------
    ValueError
        If the file is not a fastmlp model file, is truncated or corrupted,
        comes from a newer format version, or holds a field that is missing,
        malformed or inconsistent; the message names what is wrong.

    See Also
    --------
    save : Write a model file.
    """
    where = getattr(path, "name", None) if hasattr(path, "read") else os.fspath(path)
    try:
        header, arrays = _read_zip(path)
        return _state.import_state(_check_header(header), arrays, device=device)
    except ValueError as exc:
        raise ValueError(f"cannot load a fastmlp model from {where!r}: {exc}") from None


def skops_trusted_types(model=None):
    """The fastmlp type names to pass as ``trusted`` to ``skops.io.load``.

    skops loads scikit-learn and NumPy types by itself; a fastmlp model also
    contains its estimator class, its :class:`fastmlp.network.Network` (layer
    sizes, activation names, the parameter vector) and, after ``sgd`` /
    ``adam`` training, its optimizer state. All of them are plain data: skops
    creates them without calling their constructors and fills their
    attributes; the estimator's ``__setstate__`` only rebuilds the
    ``coefs_`` / ``intercepts_`` views of the parameter vector.

    Parameters
    ----------
    model : MLPClassifier or MLPRegressor, optional
        List only the types this model contains; default: every fastmlp type
        a model may contain.

    Returns
    -------
    list of str
        Today ``fastmlp.estimators.classifier.MLPClassifier`` (or
        ``...regressor.MLPRegressor``), ``fastmlp.network.Network`` and
        ``fastmlp.solvers.StochasticOptimizer``.

    Examples
    --------
    >>> import skops.io as sio                                # doctest: +SKIP
    >>> sio.dump(model, "model.skops")                        # doctest: +SKIP
    >>> unknown = sio.get_untrusted_types(file="model.skops")  # doctest: +SKIP
    >>> assert set(unknown) <= set(skops_trusted_types())      # doctest: +SKIP
    >>> model = sio.load("model.skops", trusted=unknown)      # doctest: +SKIP
    """
    return _state.skops_trusted_types(model)


# ------------------------------------------------------------------ writing
def _version():
    from . import __version__

    return __version__


def _write_zip(f, members):
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, arr in members.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(name + _NPY, date_time=_ZIP_DATE)
            archive.writestr(info, buffer.getbuffer())


# ------------------------------------------------------------------ reading
def _read_zip(path):
    """``(header dict, {name: array})`` from the archive, every array checked."""
    try:
        archive = zipfile.ZipFile(path, "r")
    except zipfile.BadZipFile:
        raise ValueError("not a fastmlp model file (not a zip / .npz archive, or "
                         "truncated).") from None
    with archive:
        infos = archive.infolist()
        names = [info.filename for info in infos]
        if len(set(names)) != len(names):
            raise ValueError("the archive has duplicate entries.")
        if _HEADER + _NPY not in names:
            raise ValueError("not a fastmlp model file (no header.npy entry).")
        arrays = {}
        for info in infos:
            if not info.filename.endswith(_NPY):
                raise ValueError(f"unexpected entry {info.filename!r} in the archive.")
            if info.compress_type != zipfile.ZIP_STORED:
                raise ValueError(f"entry {info.filename!r} is compressed; model files "
                                 "store arrays uncompressed.")
            try:
                data = archive.read(info)
            except (zipfile.BadZipFile, EOFError, OSError) as exc:
                raise ValueError(f"entry {info.filename!r} is corrupted ({exc}).") from None
            arrays[info.filename[: -len(_NPY)]] = _read_npy(data, info.filename)
    return _parse_header(arrays.pop(_HEADER)), arrays


def _read_npy(data, name):
    """An array from ``.npy`` bytes, refusing object dtypes and size mismatches."""
    stream = io.BytesIO(data)
    fmt = np.lib.format
    try:
        version = fmt.read_magic(stream)
        read_header = {(1, 0): fmt.read_array_header_1_0,
                       (2, 0): fmt.read_array_header_2_0}.get(version)
        if read_header is None:
            raise ValueError(f".npy format version {version} is not supported")
        shape, fortran_order, dtype = read_header(stream)
    except (ValueError, SyntaxError, TypeError, EOFError) as exc:
        raise ValueError(f"entry {name!r} is not a valid .npy array ({exc}).") from None
    if (dtype.hasobject or dtype.fields is not None or dtype.kind not in _DTYPE_KINDS
            or dtype.subdtype is not None):
        raise ValueError(f"entry {name!r} has dtype {dtype}; model files hold only "
                         "numbers and strings (no objects).")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    offset = stream.tell()
    if len(data) - offset != count * dtype.itemsize:
        raise ValueError(f"entry {name!r} holds {len(data) - offset} data bytes but its "
                         f"shape {shape} and dtype {dtype} need {count * dtype.itemsize}.")
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    return flat.reshape(shape, order="F" if fortran_order else "C").copy(order="C")


def _parse_header(raw):
    if raw.dtype != np.uint8 or raw.ndim != 1 or raw.size > _MAX_HEADER_BYTES:
        raise ValueError("header.npy must be a 1-D uint8 array of JSON bytes.")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"the header is not valid JSON ({exc}).") from None
    if not isinstance(header, dict):
        raise ValueError("the header must be a JSON object.")
    return header


def _check_header(header):
    """The model part of the header, after the format name and version checks."""
    header = dict(header)
    if header.pop("format", None) != FORMAT:
        raise ValueError(f"not a fastmlp model file (header field 'format' is not "
                         f"{FORMAT!r}).")
    version = header.pop("format_version", None)
    if type(version) is not int or version < 1:
        raise ValueError(f"header field 'format_version' must be an integer >= 1, got "
                         f"{version!r}.")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"the file has format version {version}, written by a newer fastmlp "
            f"({header.get('fastmlp_version', 'unknown')}); this fastmlp ({_version()}) "
            f"reads versions up to {FORMAT_VERSION}. Upgrade fastmlp to load it.")
    header.pop("fastmlp_version", None)
    return header
