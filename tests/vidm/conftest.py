"""Replaying vIDM clients: requests sent as the PowerShell builds them, a run's publication
captured where Celery would send it."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from tests.conftest import make_connector

JSON = "application/json"
VND = "application/vnd.vmware.horizon.manager.connector.management."


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()
    yield
    cache.clear()


def send(client: Client, method: str, path: str, headers: dict | None = None, body=None):
    """One request with exactly these headers and this body (a string, as the script sends
    it); a Content-Type goes out even on a GET or with no body, as Invoke-RestMethod does."""
    headers = dict(headers or {})
    extra = {}
    content_type = headers.pop("Content-Type", None)
    if content_type is not None:
        extra["CONTENT_TYPE"] = content_type
    return client.generic(
        method,
        path,
        body or "",
        content_type or "application/octet-stream",
        headers=headers,
        **extra,
    )


@pytest.fixture
def published(monkeypatch):
    """Run ids handed to Celery, in order."""
    from directories.tasks import sync_directory

    sent: list[int] = []

    def publish(args=None, kwargs=None, **options):
        sent.append(tuple(args or ())[0])

    monkeypatch.setattr(sync_directory, "apply_async", publish)
    return sent


@pytest.fixture
def wsa_connector(db):
    # The connector PowerValidatedSolutions looks for: host equal to the appliance's FQDN.
    return make_connector("sfo-wsa01")
