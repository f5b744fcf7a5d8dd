"""Fixtures for the Samba AD fixture's own tests."""

from __future__ import annotations

from tests.support.fixtures_ad import *  # noqa: F403
