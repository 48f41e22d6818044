"""The tests' optional dependencies skip only where they are not required."""

import pytest

from optional import optional

MISSING = "fastmlp_no_such_module"


def test_a_missing_optional_module_skips(monkeypatch):
    monkeypatch.setenv("FASTMLP_TESTS_REQUIRE", "torch")
    with pytest.raises(pytest.skip.Exception):
        optional(MISSING)


@pytest.mark.parametrize("required", [MISSING, f"torch, {MISSING}", "all"])
def test_a_missing_required_module_fails(monkeypatch, required):
    monkeypatch.setenv("FASTMLP_TESTS_REQUIRE", required)
    with pytest.raises(ModuleNotFoundError):
        optional(f"{MISSING}.sub")
