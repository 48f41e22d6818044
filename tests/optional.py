"""Optional dependencies of the tests.

A test that needs one skips when it is not installed, unless the environment
variable ``FASTMLP_TESTS_REQUIRE`` names it (a comma-separated list of top-level
module names, or ``all``): CI installs them and sets it, so there a broken
install or a failing import fails the test instead of skipping it.
"""

import importlib
import os

import pytest


def required(module):
    """Whether ``module`` must import here (``FASTMLP_TESTS_REQUIRE``)."""
    names = {name.strip() for name in os.environ.get("FASTMLP_TESTS_REQUIRE", "").split(",")}
    return "all" in names or module.split(".")[0] in names


def optional(module):
    """``module``, imported; the calling test (or test module) skips when it is
    missing, unless it is required."""
    if required(module):
        return importlib.import_module(module)
    return pytest.importorskip(module)
