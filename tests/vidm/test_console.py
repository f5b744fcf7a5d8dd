"""The OAuth Clients page: Super Admins add a client (its secret shown once) and delete it."""

from __future__ import annotations

import base64

import pytest

from tests.vidm.conftest import send
from vidm.models import OAuthClient

pytestmark = pytest.mark.django_db


def token_for(client, client_id: str, secret: str):
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return send(
        client,
        "POST",
        "/SAAS/auth/oauthtoken?grant_type=client_credentials",
        {"Authorization": f"Basic {basic}"},
    )


def test_super_admin_adds_a_client_sees_its_secret_once_and_deletes_it(client, super_admin):
    client.force_login(super_admin)
    page = client.get("/oauth-clients/")
    assert page.status_code == 200 and "OAuth Clients" in page.content.decode()
    added = client.post(
        "/oauth-clients/", {"client_id": "vro-automation", "role": "directory_admin"}
    )
    assert added.status_code == 200 and added["Cache-Control"] == "no-store"
    oauth = OAuthClient.objects.get(client_id="vro-automation")
    assert oauth.user.role == "directory_admin" and not oauth.user.has_usable_password()
    secret = added.context["secret"]
    assert secret in added.content.decode() and secret not in oauth.secret_hash
    assert secret not in client.get("/oauth-clients/").content.decode()
    assert token_for(client, "vro-automation", secret).status_code == 200

    deleted = client.post(f"/oauth-clients/{oauth.pk}/delete/")
    assert deleted.status_code == 302
    assert not OAuthClient.objects.exists()
    assert token_for(client, "vro-automation", secret).status_code == 401


def test_a_bad_or_taken_client_id_is_shown_on_the_form(client, super_admin):
    client.force_login(super_admin)
    client.post("/oauth-clients/", {"client_id": "taken", "role": "read_only_admin"})
    again = client.post("/oauth-clients/", {"client_id": "taken", "role": "read_only_admin"})
    assert "already exists" in again.content.decode()
    bad = client.post("/oauth-clients/", {"client_id": "no spaces/here", "role": "read_only_admin"})
    assert bad.status_code == 200 and "letters, digits" in bad.content.decode()
    assert OAuthClient.objects.count() == 1


@pytest.mark.parametrize("role_fixture", ["directory_admin", "readonly_admin"])
def test_only_super_admins_manage_oauth_clients(client, role_fixture, request):
    user = request.getfixturevalue(role_fixture)
    client.force_login(user)
    assert client.get("/oauth-clients/").status_code == 403
    refused = client.post("/oauth-clients/", {"client_id": "sneaky", "role": "super_admin"})
    assert refused.status_code == 403
    assert not OAuthClient.objects.exists()
    assert "/oauth-clients/" not in client.get("/sync-log/").content.decode()


def test_the_nav_links_super_admins_to_the_page(client, super_admin):
    client.force_login(super_admin)
    assert 'href="/oauth-clients/"' in client.get("/sync-log/").content.decode()
