"""Skipping a test for a missing component (slapd, Samba, Chromium) is a failure in CI."""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing(component: str, why: str) -> None:
    """Skip the test on a developer's machine; fail it in CI (``CI=true``), where the
    install step must have brought ``component``."""
    message = f"{component} is not available: {why}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: the install step must provide it)", pytrace=False)
    pytest.skip(message)
