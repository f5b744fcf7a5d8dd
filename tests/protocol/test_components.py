"""A test that would skip for a missing component fails instead in CI."""

from __future__ import annotations

import pytest

from tests.support.components import missing


def test_a_missing_component_skips_on_a_developers_machine(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="slapd is not available"):
        missing("slapd", "not installed")


@pytest.mark.parametrize("value", ["true", "TRUE", "1"])
def test_a_missing_component_fails_in_ci(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="CI=true: the install step must provide it"):
        missing("slapd", "not installed")
