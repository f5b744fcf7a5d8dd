"""API tokens: a key works once issued, as its user's role, until revoked or expired;
the database keeps no key that would authenticate anyone."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from apitokens.choices import TokenKind
from apitokens.models import ApiToken
from apitokens.services import issue_token, revoke
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def call(key: str, scheme: str = "Token", method: str = "get", path: str = "/api/v1/directories/"):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {key}")
    return getattr(client, method)(path, {}, format="json")


@pytest.mark.parametrize("scheme", ["Token", "Bearer", "HZN", "hzn"])
def test_an_issued_key_authenticates_under_each_scheme(super_admin, directory, scheme):
    _, key = issue_token(super_admin, name="automation")
    answer = call(key, scheme)
    assert answer.status_code == 200
    assert [d["name"] for d in answer.json()["results"]] == ["corp.example.com"]


def test_a_token_acts_with_its_users_role(readonly_admin, directory):
    _, key = issue_token(readonly_admin, name="reports")
    assert call(key).status_code == 200
    refused = call(key, method="patch", path=f"/api/v1/directories/{directory.pk}/")
    assert refused.status_code == 403


def test_revoked_expired_tampered_and_inactive_keys_are_refused(super_admin, directory):
    token, key = issue_token(super_admin, name="soon revoked")
    assert call(key).status_code == 200
    revoke(token)
    assert call(key).status_code == 401

    token, key = issue_token(super_admin, name="short", ttl=timedelta(hours=1))
    assert call(key).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert call(key).status_code == 401

    _, key = issue_token(super_admin, name="tampered")
    key_id_part, secret = key.rsplit(".", 1)
    forged = f"{key_id_part}.{'A' * len(secret)}"
    assert call(forged).status_code == 401
    assert call(key + "x").status_code == 401

    _, key = issue_token(super_admin, name="leaver")
    super_admin.is_active = False
    super_admin.save()
    assert call(key).status_code == 401


def test_the_store_holds_a_digest_never_the_key(super_admin):
    token, key = issue_token(super_admin, name="audit")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM apitokens_apitoken WHERE id = %s", [token.pk])
        row = cursor.fetchone()
    assert all(key not in str(value) for value in row)
    assert hashlib.sha256(key.encode()).hexdigest() in row


def test_last_use_is_recorded_without_a_write_per_request(super_admin, directory):
    token, key = issue_token(super_admin, name="poller")
    assert token.last_used_at is None
    call(key)
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=5)
    call(key)
    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=5))
    call(key)
    token.refresh_from_db()
    assert token.last_used_at > first - timedelta(minutes=1)


def test_password_login_issues_an_expiring_session_token(super_admin, directory, settings):
    answer = APIClient().post(
        "/api/v1/auth/token/", {"username": "super", "password": PASSWORD}, format="json"
    )
    assert answer.status_code == 200
    key = answer.json()["token"]
    token = ApiToken.objects.get(user=super_admin)
    assert token.kind == TokenKind.SESSION
    expected = timezone.now() + settings.API_LOGIN_TOKEN_TTL
    assert abs((token.expires_at - expected).total_seconds()) < 60
    assert call(key, "Bearer").status_code == 200


def test_a_token_needs_a_name(super_admin):
    from apitokens.services import TokenError

    with pytest.raises(TokenError):
        issue_token(super_admin, name="  ")
    assert not ApiToken.objects.exists()
