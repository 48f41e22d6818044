"""Every public name has a complete numpydoc docstring.

numpydoc's validation, run as scikit-learn runs it on its own estimators
(``sklearn/tests/test_docstrings.py``): every check, except
- RT02 (the Returns type line may name the returned object),
- GL01 and GL02 (where the summary starts and blank lines around it),
and, for methods only, the sections scikit-learn asks of top-level names alone:
ES01 (extended summary), SA01 (See Also) and EX01 (Examples). Methods a class
inherits from scikit-learn (``get_params``, the metadata-routing ``set_*_request``,
``score``...) are scikit-learn's to document.
"""

import inspect
from pathlib import Path

import pytest

import fastmlp

from optional import optional

IGNORED = {"RT02", "GL01", "GL02"}
IGNORED_FOR_METHODS = IGNORED | {"ES01", "SA01", "EX01"}

OPTIONAL_MODULES = {"fastmlp.onnx": "skl2onnx", "fastmlp.dask": "dask"}


def _public_functions_and_classes():
    names = [f"fastmlp.{name}" for name in fastmlp.__all__ if name != "__version__"]
    names += ["fastmlp.aot.cache_use", "fastmlp.io.skops_trusted_types",
              "fastmlp.onnx.to_onnx"]
    names += [f"fastmlp.dask.{name}" for name in ("fit_blocks", "predict", "predict_proba",
                                                  "score")]
    return names


def _methods(class_name):
    """The public methods a fastmlp class defines or inherits from fastmlp."""
    cls = getattr(fastmlp, class_name.rpartition(".")[2])
    methods = set()
    for base in cls.__mro__:
        if not base.__module__.startswith("fastmlp"):
            continue
        for attr, value in vars(base).items():
            function = value.__func__ if isinstance(value, classmethod | staticmethod) else value
            if not attr.startswith("_") and inspect.isfunction(function):
                methods.add(f"{class_name}.{attr}")
    return sorted(methods)


def _cases():
    for name in _public_functions_and_classes():
        yield name, False
        module, _, attr = name.rpartition(".")
        if module == "fastmlp" and inspect.isclass(getattr(fastmlp, attr)):
            yield from ((method, True) for method in _methods(name))


@pytest.mark.parametrize("name, is_method", list(_cases()))
def test_docstring(name, is_method):
    validate = optional("numpydoc.validate").validate
    module = ".".join(name.split(".")[:2])
    if module in OPTIONAL_MODULES:
        optional(OPTIONAL_MODULES[module])
    result = validate(name)
    ignored = IGNORED_FOR_METHODS if is_method else IGNORED
    errors = [f"{code}: {message}" for code, message in result["errors"]
              if code not in ignored]
    assert errors == [], f"{name}:\n" + "\n".join(errors)


def test_every_public_name_is_checked():
    """A name added to ``fastmlp.__all__`` joins the check by itself, and the
    reference pages list every checked name (docs/api/index.rst)."""
    checked = {name for name, is_method in _cases() if not is_method}
    assert {f"fastmlp.{n}" for n in fastmlp.__all__ if n != "__version__"} <= checked
    api = (Path(__file__).resolve().parents[1] / "docs" / "api" / "index.rst").read_text()
    listed = set()
    module = "fastmlp"
    for line in api.splitlines():
        if line.startswith(".. currentmodule::"):
            module = line.split("::")[1].strip()
        elif line.startswith("   ") and line.strip() and not line.strip().startswith(":"):
            listed.add(f"{module}.{line.strip()}")
    assert checked <= listed, sorted(checked - listed)
