"""/api/v1/tokens/: each admin lists, creates and revokes their own tokens; a Super Admin
sees and revokes everyone's. The key is shown once and works at once."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework.test import APIClient

from apitokens.models import ApiToken
from apitokens.services import issue_token

URL = "/api/v1/tokens/"


def with_key(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_a_read_only_admin_creates_a_named_token_that_works_once_shown(
    readonly_api, readonly_admin
):
    expires = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    answer = readonly_api.post(
        URL, {"name": "backup script", "expires_at": expires.isoformat()}, format="json"
    )
    assert answer.status_code == 201, answer.content
    assert answer["Cache-Control"] == "no-store"
    created = answer.json()
    row = ApiToken.objects.get(pk=created["id"])
    assert (row.user, row.name, row.kind, row.expires_at) == (
        readonly_admin,
        "backup script",
        "api",
        expires,
    )
    assert created["key"].startswith("dsc_") and created["key"] not in row.digest
    assert with_key(created["key"]).get("/api/v1/directories/").status_code == 200
    # Listed later without its key.
    listed = readonly_api.get(URL).json()["results"]
    mine = next(t for t in listed if t["id"] == created["id"])
    assert "key" not in mine and mine["name"] == "backup script" and mine["usable"] is True
    assert set(mine) >= {"created", "last_used_at", "expires_at"}
    assert mine["last_used_at"] is not None  # the call above used it


def test_each_admin_lists_only_their_own_tokens_and_a_super_admin_lists_all(
    readonly_api, directory_api, super_api, readonly_admin, directory_admin
):
    issue_token(directory_admin, name="dir-admin job")
    names = {t["name"] for t in readonly_api.get(URL).json()["results"]}
    assert "dir-admin job" not in names
    assert {t["user"] for t in readonly_api.get(URL).json()["results"]} == {readonly_admin.username}
    everyone = {(t["user"], t["name"]) for t in super_api.get(URL).json()["results"]}
    assert (directory_admin.username, "dir-admin job") in everyone
    assert readonly_admin.username in {user for user, _ in everyone}


def test_revoking_stops_the_token_and_only_its_owner_or_a_super_admin_may(
    readonly_api, directory_api, super_api, directory_admin
):
    token, key = issue_token(directory_admin, name="nightly")
    assert readonly_api.post(f"{URL}{token.pk}/revoke/").status_code == 404
    assert with_key(key).get("/api/v1/directories/").status_code == 200
    revoked = super_api.post(f"{URL}{token.pk}/revoke/")
    assert revoked.status_code == 200
    assert revoked.json()["usable"] is False and revoked.json()["revoked_at"]
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert with_key(key).get("/api/v1/directories/").status_code == 401
    own, own_key = issue_token(directory_admin, name="own")
    assert directory_api.post(f"{URL}{own.pk}/revoke/").status_code == 200
    assert with_key(own_key).get("/api/v1/directories/").status_code == 401


def test_bad_names_and_past_expiries_are_refused_and_no_token_is_made(readonly_api):
    before = ApiToken.objects.count()
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    for body, field in [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "two\nlines"}, "name"),
        ({}, "name"),
        ({"name": "late", "expires_at": past}, "expires_at"),
        ({"name": "late", "expires_at": "tomorrow"}, "expires_at"),
    ]:
        answer = readonly_api.post(URL, body, format="json")
        assert answer.status_code == 400, (body, answer.content)
        assert answer.json()["code"] == "invalid"
        assert list(answer.json()["errors"]) == [field], body
    assert ApiToken.objects.count() == before


def test_tokens_need_a_signed_in_admin(anon_api, db):
    assert anon_api.get(URL).status_code == 401
    assert anon_api.post(URL, {"name": "x"}, format="json").status_code == 401
    assert ApiToken.objects.count() == 0
