"""/api/v1/oauth-clients/: what the OAuth Clients page does, for Super Admins only; a client
added here gets tokens from /SAAS/auth/oauthtoken, and deleting it stops them at once."""

from __future__ import annotations

import base64

import pytest
from rest_framework.test import APIClient

from console.models import Role, User
from vidm.models import OAuthClient

URL = "/api/v1/oauth-clients/"


def client_credentials(client_id: str, secret: str):
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return APIClient().post(
        "/SAAS/auth/oauthtoken?grant_type=client_credentials", HTTP_AUTHORIZATION=f"Basic {basic}"
    )


@pytest.mark.django_db
def test_a_super_admin_adds_a_client_whose_secret_is_shown_once_and_gets_tokens(super_api):
    added = super_api.post(
        URL, {"client_id": "nightly-sync", "role": Role.DIRECTORY_ADMIN}, format="json"
    )
    assert added.status_code == 201, added.content
    assert added["Cache-Control"] == "no-store"
    body = added.json()
    secret = body["secret"]
    assert body["client_id"] == "nightly-sync" and body["role"] == Role.DIRECTORY_ADMIN
    account = User.objects.get(username=body["service_account"])
    assert account.role == Role.DIRECTORY_ADMIN and account.is_active
    # Only the digest is kept: neither the row nor a later read holds the secret.
    row = OAuthClient.objects.get(pk=body["id"])
    assert secret not in row.secret_hash
    listed = super_api.get(URL).json()
    assert [c["client_id"] for c in listed["results"]] == ["nightly-sync"]
    assert "secret" not in listed["results"][0]
    assert "secret" not in super_api.get(f"{URL}{body['id']}/").json()

    token = client_credentials("nightly-sync", secret)
    assert token.status_code == 200
    caller = APIClient()
    caller.credentials(HTTP_AUTHORIZATION=f"Bearer {token.json()['access_token']}")
    assert caller.get("/api/v1/directories/").status_code == 200


@pytest.mark.django_db
def test_deleting_a_client_stops_its_tokens_and_its_secret(super_api):
    body = super_api.post(
        URL, {"client_id": "old-script", "role": Role.READ_ONLY_ADMIN}, format="json"
    ).json()
    key = client_credentials("old-script", body["secret"]).json()["access_token"]
    caller = APIClient()
    caller.credentials(HTTP_AUTHORIZATION=f"HZN {key}")
    assert caller.get("/api/v1/directories/").status_code == 200

    assert super_api.delete(f"{URL}{body['id']}/").status_code == 204
    assert not OAuthClient.objects.filter(pk=body["id"]).exists()
    assert caller.get("/api/v1/directories/").status_code == 401
    assert client_credentials("old-script", body["secret"]).status_code == 401
    # The service account stays, inactive, so the Sync Log still names who asked.
    assert User.objects.get(username=body["service_account"]).is_active is False


@pytest.mark.django_db
def test_other_roles_neither_see_nor_add_clients(super_api, directory_api, readonly_api):
    made = super_api.post(URL, {"client_id": "kept", "role": Role.READ_ONLY_ADMIN}, format="json")
    for api in (directory_api, readonly_api):
        assert api.get(URL).status_code == 403
        assert api.get(f"{URL}{made.json()['id']}/").status_code == 403
        refused = api.post(URL, {"client_id": "mine", "role": Role.SUPER_ADMIN}, format="json")
        assert refused.status_code == 403
        assert refused.json()["code"] == "permission_denied"
        assert api.delete(f"{URL}{made.json()['id']}/").status_code == 403
    assert list(OAuthClient.objects.values_list("client_id", flat=True)) == ["kept"]
    assert APIClient().get(URL).status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"client_id": "has space", "role": Role.READ_ONLY_ADMIN}, "client_id"),
        ({"client_id": "", "role": Role.READ_ONLY_ADMIN}, "client_id"),
        ({"client_id": "ok", "role": "root"}, "role"),
        ({"client_id": ["a"], "role": Role.READ_ONLY_ADMIN}, "client_id"),
        ({"role": Role.READ_ONLY_ADMIN}, "client_id"),
    ],
)
def test_a_bad_client_is_a_400_naming_the_field_and_nothing_is_stored(super_api, payload, field):
    users = User.objects.count()
    answer = super_api.post(URL, payload, format="json")
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["errors"]
    assert not OAuthClient.objects.exists() and User.objects.count() == users


@pytest.mark.django_db
def test_a_client_id_already_taken_is_refused_by_the_same_rule_as_the_page(super_api):
    first = super_api.post(URL, {"client_id": "twice", "role": Role.READ_ONLY_ADMIN}, format="json")
    assert first.status_code == 201
    again = super_api.post(URL, {"client_id": "twice", "role": Role.SUPER_ADMIN}, format="json")
    assert again.status_code == 400
    assert again.json()["errors"]["client_id"] == ["An OAuth client with this ID already exists."]
    assert OAuthClient.objects.count() == 1
