"""Connector agent: reads an LDAP or Active Directory server and streams it to the service."""

from __future__ import annotations

import os

VERSION = "19.03.0.0"


def reported_version() -> str:
    """The version this agent reports; ``CONNECTOR_AGENT_VERSION`` overrides it."""
    return os.environ.get("CONNECTOR_AGENT_VERSION") or VERSION
