"""Fixtures for the connector agent tests (slapd servers and agent processes)."""

from __future__ import annotations

from tests.support.fixtures_ldap import *  # noqa: F403
