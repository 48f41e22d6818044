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
>>> bool((fastmlp.load(path).predict(X) == clf.predict(X)).all())
True
"""

import io
import json
import math
import os
import re
import secrets
import stat
import struct
import zipfile
import zlib

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
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")  # zip local file header (30 bytes)
_PADDING_ID = 0xD935  # zip extra field id of alignment padding (as zipalign writes)
_ALIGN = 64
_MAX_NPY_HEADER = 1 << 16
_MAX_NESTING = 16  # a model's header nests 4 deep; deeper is damage (and recursion)
_CHECKSUMS = "checksums"
"""Header field of files written before fastmlp checked every entry by its CRC-32:
entry name -> a sum of 64-bit words, which missed swapped words. Ignored on read."""
# The .npy 1.0 header numpy writes for a plain array (10-byte prefix, then a dict).
_NPY_HEADER = re.compile(
    rb"\x93NUMPY\x01\x00..\{'descr': '([<>|=]?[a-zA-Z]\d*)', 'fortran_order': "
    rb"(True|False), 'shape': \(((?:\d+, ?)*\d*)\), \} *\n", re.DOTALL)


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
        same folder, flushed to disk and renamed at the end, so a failed or
        interrupted save leaves an existing file untouched. Replacing a file
        keeps its permissions (and owner where allowed); a symbolic link is
        followed and kept. Any name works; ``.fastmlp`` is a good suffix.

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

    Examples
    --------
    >>> import os, tempfile, warnings
    >>> from sklearn.datasets import load_iris
    >>> from fastmlp import MLPClassifier, load, save
    >>> X, y = load_iris(return_X_y=True)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # a short fit: ConvergenceWarning
    ...     model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20,
    ...                           random_state=0).fit(X, y)
    >>> path = os.path.join(tempfile.mkdtemp(), "iris.fastmlp")
    >>> save(model, path)
    >>> bool((load(path).predict_proba(X) == model.predict_proba(X)).all())
    True
    """
    meta, arrays = _state.export_state(model)
    encoded = {name: _npy_bytes(arr) for name, arr in arrays.items()}
    header = {"format": FORMAT, "format_version": FORMAT_VERSION,
              "fastmlp_version": _version(), **meta}
    text = json.dumps(header, allow_nan=False, separators=(",", ":"))
    members = {_HEADER: _npy_bytes(np.frombuffer(text.encode("utf-8"), dtype=np.uint8)),
               **encoded}
    if hasattr(path, "write"):
        _write_zip(path, members)
        return
    _replace_file(os.fspath(path), lambda f: _write_zip(f, members))


def _replace_file(path, write):
    """Write a file through ``write(f)`` into a temporary file beside ``path`` and
    rename it over ``path`` in one step.

    A symbolic link at ``path`` is followed: its target is replaced and the
    link kept. A replaced file's permission bits (and owner and group, where
    this process may set them) carry over; a new file gets 0o666 less the
    umask. The data, then the folder's entry, are flushed to disk (fsync) so a
    crash leaves the old file or the new one, never an empty one. An error or
    Ctrl-C removes the temporary file; a killed process or a power loss can
    leave one behind, named ``.NAME.<hex>.tmp``.
    """
    target = os.path.realpath(path)
    folder, name = os.path.split(target)
    try:
        replaced = os.stat(target)
    except FileNotFoundError:
        replaced = None
    tmp = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if replaced is not None:
            os.chmod(tmp, stat.S_IMODE(replaced.st_mode))
            if hasattr(os, "chown"):
                try:
                    os.chown(tmp, replaced.st_uid, replaced.st_gid)
                except PermissionError:  # another user's file: keep ours
                    pass
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder):
    """Flush a folder's entries to disk (where the system allows opening one)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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

    Examples
    --------
    >>> import io
    >>> from sklearn.datasets import load_diabetes
    >>> from fastmlp import MLPRegressor, load, save
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=50,
    ...                      random_state=0).fit(X, y)
    >>> buffer = io.BytesIO()
    >>> save(model, buffer)
    >>> restored = load(io.BytesIO(buffer.getvalue()))
    >>> restored.n_iter_ == model.n_iter_, bool((restored.predict(X) == model.predict(X)).all())
    (True, True)
    """
    where = getattr(path, "name", None) if hasattr(path, "read") else os.fspath(path)
    try:
        header, arrays = _read_zip(path)
        return _state.import_state(_check_header(header), arrays, device=device)
    except ValueError as exc:
        source = f" from {where!r}" if where is not None else ""
        raise ValueError(f"cannot load a fastmlp model{source}: {exc}") from None


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

    See Also
    --------
    save : The pickle-free model file, which needs no list of trusted types.

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


def _npy_bytes(arr):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(arr), allow_pickle=False)
    return buffer.getbuffer()


def _write_zip(f, members):
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name + _NPY, date_time=_ZIP_DATE)
            info.extra = _alignment_padding(archive, info.filename)
            archive.writestr(info, data)


def _alignment_padding(archive, filename):
    """A zip extra field that puts the entry's data on a 64-byte boundary, where
    ``.npy`` also aligns its array data: loading then maps arrays without copies."""
    try:
        offset = archive.fp.tell()
    except (AttributeError, OSError):  # a stream that cannot tell: no alignment
        return b""
    used = offset + _LOCAL_HEADER.size + len(filename.encode()) + 4
    pad = -used % _ALIGN
    return struct.pack("<HH", _PADDING_ID, pad) + bytes(pad)


# ------------------------------------------------------------------ reading
def _read_zip(source):
    """``(header dict, {name: array})`` from the archive, every array checked.

    The file is read into one buffer; every entry's exact bytes are verified
    against the CRC-32 the archive records for it (which changes with any
    burst of up to 32 flipped bits, and with swapped words or blocks), before
    anything is built; its array is a view into that buffer (copied only if
    misaligned)."""
    if hasattr(source, "read"):
        return _read_archive(source)
    with open(source, "rb") as f:
        return _read_archive(f)


def _read_archive(f):
    try:
        archive = zipfile.ZipFile(f, "r")
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
    size = f.seek(0, os.SEEK_END)
    f.seek(0)
    # Arrays are made on a memoryview of the buffer (with np.frombuffer), so each
    # is its own base: params then recognises coefs_ / intercepts_ as its views.
    buffer = memoryview(np.empty(size, dtype=np.uint8))  # writable, not zero-filled
    if f.readinto(buffer) != size:
        raise ValueError("the file changed while it was read.")
    for info in infos:
        if not info.filename.endswith(_NPY):
            raise ValueError(f"unexpected entry {info.filename!r} in the archive.")
        if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
            raise ValueError(f"entry {info.filename!r} is compressed; model files "
                             "store arrays uncompressed.")
    spans = {}
    for info in infos:
        start, stop = _entry_span(buffer, info)
        if zlib.crc32(memoryview(buffer)[start:stop]) != info.CRC:
            raise ValueError(f"entry {info.filename!r} is corrupted (CRC-32 mismatch).")
        spans[info.filename[: -len(_NPY)]] = start, stop
    arrays = {name: _read_npy(buffer, start, stop, name + _NPY)
              for name, (start, stop) in spans.items()}
    header = _parse_header(arrays.pop(_HEADER))
    header.pop(_CHECKSUMS, None)
    return header, arrays


def _entry_span(buffer, info):
    """``(start, stop)`` of an entry's data in the file, from its local header."""
    offset = info.header_offset
    if offset < 0 or offset + _LOCAL_HEADER.size > len(buffer):
        raise ValueError(f"entry {info.filename!r} is corrupted (outside the file).")
    signature, *fields = _LOCAL_HEADER.unpack_from(buffer, offset)
    if signature != b"PK\x03\x04":
        raise ValueError(f"entry {info.filename!r} is corrupted (bad local header).")
    name_length, extra_length = fields[-2:]
    start = offset + _LOCAL_HEADER.size + name_length + extra_length
    stop = start + info.compress_size
    if stop > len(buffer):
        raise ValueError(f"entry {info.filename!r} is corrupted (truncated data).")
    return start, stop


def _read_npy(buffer, start, stop, name):
    """The array of a ``.npy`` entry, refusing object dtypes and size mismatches."""
    shape, fortran_order, dtype, header_length = _npy_header(buffer, start, stop, name)
    if (dtype.hasobject or dtype.fields is not None or dtype.kind not in _DTYPE_KINDS
            or dtype.subdtype is not None):
        raise ValueError(f"entry {name!r} has dtype {dtype}; model files hold only "
                         "numbers and strings (no objects).")
    count = math.prod(shape)  # Python integers: a huge claimed shape cannot wrap
    data_start = start + header_length
    if stop - data_start != count * dtype.itemsize:
        raise ValueError(f"entry {name!r} holds {stop - data_start} data bytes but its "
                         f"shape {shape} and dtype {dtype} need {count * dtype.itemsize}.")
    if count == 0:
        return np.empty(shape, dtype=dtype)
    arr = np.frombuffer(buffer, dtype=dtype, count=count, offset=data_start)
    if len(shape) != 1:
        arr = arr.reshape(shape, order="F" if fortran_order else "C")
    if not arr.flags.aligned or not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr).copy()
    return arr


def _npy_header(buffer, start, stop, name):
    """``(shape, fortran_order, dtype, header length)`` of the ``.npy`` at ``start``."""
    head = bytes(memoryview(buffer)[start: min(stop, start + _MAX_NPY_HEADER)])
    simple = _NPY_HEADER.match(head)
    # what numpy writes for plain arrays, parsed without literal_eval
    if simple and struct.unpack_from("<H", head, 8)[0] + 10 == simple.end():
        descr, fortran, dims = simple.groups()
        try:
            dtype = np.dtype(descr.decode())
        except TypeError:
            pass
        else:
            shape = tuple(int(d) for d in dims.split(b",") if d.strip())
            return shape, fortran == b"True", dtype, simple.end()
    fmt = np.lib.format
    stream = io.BytesIO(head)
    try:
        version = fmt.read_magic(stream)
        read_header = {(1, 0): fmt.read_array_header_1_0,
                       (2, 0): fmt.read_array_header_2_0}.get(version)
        if read_header is None:
            raise ValueError(f".npy format version {version} is not supported")
        shape, fortran_order, dtype = read_header(stream)
    except (ValueError, SyntaxError, TypeError, EOFError) as exc:
        raise ValueError(f"entry {name!r} is not a valid .npy array ({exc}).") from None
    return shape, fortran_order, dtype, stream.tell()


def _parse_header(raw):
    if raw.dtype != np.uint8 or raw.ndim != 1 or raw.size > _MAX_HEADER_BYTES:
        raise ValueError("header.npy must be a 1-D uint8 array of JSON bytes.")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"the header is not valid JSON ({exc}).") from None
    except RecursionError:
        raise ValueError("the header's JSON is nested too deeply.") from None
    if not isinstance(header, dict):
        raise ValueError("the header must be a JSON object.")
    if _nesting(header) > _MAX_NESTING:
        raise ValueError(f"the header's JSON is nested more than {_MAX_NESTING} deep.")
    return header


def _nesting(value):
    """How deeply lists and objects nest in a parsed JSON value (no recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value
        if isinstance(value, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


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
