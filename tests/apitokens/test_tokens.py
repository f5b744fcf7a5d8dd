"""API tokens: a key works once issued, as its user's role, until revoked or expired;
the database keeps no key that would authenticate anyone."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import jwt
import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from apitokens.choices import TokenKind
from apitokens.models import ApiToken
from apitokens.services import TokenError, issue_token, jwt_signing_key, revoke
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


@pytest.mark.parametrize("claims", [None, {"prn": "super@tenant"}])
def test_the_store_holds_a_digest_never_the_key(super_admin, claims):
    token, key = issue_token(super_admin, name="audit", jwt_claims=claims)
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
    # The project's own login keeps its opaque key: dsc_<id>.<secret>, no JWT.
    assert key.startswith("dsc_") and key.count(".") == 1
    token = ApiToken.objects.get(user=super_admin)
    assert key.split(".")[0] == "dsc_" + token.key_id
    assert token.kind == TokenKind.SESSION
    expected = timezone.now() + settings.API_LOGIN_TOKEN_TTL
    assert abs((token.expires_at - expected).total_seconds()) < 60
    assert call(key, "Bearer").status_code == 200


def test_a_token_needs_a_name(super_admin):
    from apitokens.services import TokenError

    with pytest.raises(TokenError):
        issue_token(super_admin, name="  ")
    assert not ApiToken.objects.exists()


# ---- JWT-shaped keys (what the vIDM-compatible logins hand out) --------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def with_payload(key: str, **changes) -> str:
    """The key with claims changed in its payload and its header and signature kept."""
    header, payload, signature = key.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return ".".join([header, b64url(json.dumps(claims | changes).encode()), signature])


def test_a_jwt_key_is_a_signed_hs256_jwt_whose_exp_is_the_stored_expiry(super_admin):
    token, key = issue_token(
        super_admin,
        name="vIDM login",
        kind=TokenKind.SESSION,
        ttl=timedelta(hours=8),
        jwt_claims={"prn": "jürgen@tenant", "iss": "https://vidm.example.com/SAAS/auth"},
    )
    assert key.startswith("eyJ") and key.count(".") == 2
    assert jwt.get_unverified_header(key) == {"alg": "HS256", "typ": "JWT"}
    # A standard check: the signature verifies with the key derived from SECRET_KEY, and
    # PyJWT accepts exp and iat.
    claims = jwt.decode(key, jwt_signing_key(), algorithms=["HS256"])
    assert claims["jti"] == token.key_id
    assert token.expires_at is not None
    assert claims["exp"] == token.expires_at.timestamp()
    assert claims["iat"] == claims["exp"] - 8 * 3600
    assert abs(claims["iat"] - timezone.now().timestamp()) < 5
    assert claims["prn"] == "jürgen@tenant"
    assert claims["iss"] == "https://vidm.example.com/SAAS/auth"
    assert len(claims["sid"]) >= 43
    # Pure ASCII, whatever the names: one client decodes the payload as ASCII.
    payload = key.split(".")[1]
    assert base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).isascii()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(key, b"another key, 32 bytes or longer........", algorithms=["HS256"])


@pytest.mark.parametrize("scheme", ["Token", "Bearer", "HZN"])
def test_a_jwt_key_authenticates_under_each_scheme(super_admin, directory, scheme):
    token, key = issue_token(super_admin, name="jwt", jwt_claims={"prn": "super@t"})
    answer = call(key, scheme)
    assert answer.status_code == 200
    assert [d["name"] for d in answer.json()["results"]] == ["corp.example.com"]
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_a_tampered_jwt_key_is_refused(super_admin, directory):
    token, key = issue_token(
        super_admin, name="jwt", ttl=timedelta(hours=1), jwt_claims={"prn": "super@t"}
    )
    other, _ = issue_token(super_admin, name="other", jwt_claims={"prn": "super@t"})
    assert call(key).status_code == 200
    claims = jwt.decode(key, jwt_signing_key(), algorithms=["HS256"])
    later = with_payload(key, exp=claims["exp"] + 86400)
    assert call(later, "Bearer").status_code == 401
    assert call(with_payload(key, jti=other.key_id), "HZN").status_code == 401
    # Even signed with the right key (a leaked SECRET_KEY): the digest of the whole key,
    # which holds a random sid, decides.
    resigned = jwt.encode(claims | {"exp": claims["exp"] + 86400}, jwt_signing_key())
    assert jwt.decode(resigned, jwt_signing_key(), algorithms=["HS256"])["jti"] == token.key_id
    assert call(resigned, "Bearer").status_code == 401
    header, payload, signature = key.split(".")
    assert call(f"{header}.{payload}.{'A' * len(signature)}").status_code == 401
    # A standard encoder makes the very same string from the claims...
    assert jwt.encode(claims, jwt_signing_key()) == key
    # ...but whoever has the database and SECRET_KEY knows every claim except sid: without
    # it they cannot rebuild the key.
    known = {name: value for name, value in claims.items() if name != "sid"}
    assert call(jwt.encode(known, jwt_signing_key()), "Bearer").status_code == 401
    assert call(key).status_code == 200


def test_revoked_and_expired_jwt_keys_are_refused(super_admin, directory):
    token, key = issue_token(super_admin, name="jwt", jwt_claims={"prn": "super@t"})
    assert call(key, "HZN").status_code == 200
    revoke(token)
    assert call(key, "HZN").status_code == 401

    token, key = issue_token(
        super_admin, name="jwt", ttl=timedelta(hours=1), jwt_claims={"prn": "super@t"}
    )
    assert call(key, "Bearer").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert call(key, "Bearer").status_code == 401


@pytest.mark.parametrize(
    "key",
    [
        "eyJ.eyJ.x",
        "a.b.c",
        "eyJhbGciOiJIUzI1NiJ9." + b64url(b"[1, 2]") + ".x",
        "eyJhbGciOiJIUzI1NiJ9." + b64url(b'{"jti": 123456789012}') + ".x",
        "eyJhbGciOiJIUzI1NiJ9." + b64url(b"\xff\xfe") + ".x",
        "eyJhbGciOiJIUzI1NiJ9." + b64url(b"[" * 3000) + ".x",
        "eyJhbGciOiJIUzI1NiJ9."
        + b64url(json.dumps({"jti": "a" * 12, "x": "y" * 5000}).encode())
        + ".x",
        "x.y",
    ],
)
def test_a_made_up_jwt_is_refused_not_an_error(super_admin, key):
    issue_token(super_admin, name="jwt", jwt_claims={"prn": "super@t"})
    assert call(key, "Bearer").status_code == 401


def test_the_service_keeps_its_own_claims(super_admin):
    for claim in ("jti", "exp", "iat", "sid"):
        with pytest.raises(TokenError):
            issue_token(super_admin, name="jwt", jwt_claims={claim: "x"})
    assert not ApiToken.objects.exists()
