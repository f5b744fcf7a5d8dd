"""API fixtures: token-authenticated clients per role and a directory payload."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from apitokens.services import issue_token
from connectors.models import Connector
from console.models import User
from tests.conftest import make_connector


def client_for(user: User) -> APIClient:
    client = APIClient()
    _, key = issue_token(user, name="tests")
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The production hasher costs most of a second per admin the fixtures create.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_throttles():
    # Throttle counters live in the cache; one test's requests must not count against another's.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def anon_api() -> APIClient:
    return APIClient()


@pytest.fixture
def super_api(super_admin) -> APIClient:
    return client_for(super_admin)


@pytest.fixture
def directory_api(directory_admin) -> APIClient:
    return client_for(directory_admin)


@pytest.fixture
def readonly_api(readonly_admin) -> APIClient:
    return client_for(readonly_admin)


@pytest.fixture
def outdated_connector(db) -> Connector:
    return make_connector("legacy-connector", version="3.3.0.0")


@pytest.fixture
def directory_payload(connectors) -> dict:
    return {
        "name": "hr.example.com",
        "type": "ldap",
        "sync_connector": connectors[1].pk,
        "host": "ldap.hr.example.com",
        "port": 636,
        "security": "ssl",
        "base_dn": "dc=hr,dc=example,dc=com",
        "bind_dn": "cn=reader,dc=hr,dc=example,dc=com",
        "bind_password": "hr-bind-pass-42",
        "user_dns": ["ou=people,dc=hr,dc=example,dc=com"],
        "group_dns": ["ou=groups,dc=hr,dc=example,dc=com"],
    }
