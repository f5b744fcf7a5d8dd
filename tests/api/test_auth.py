"""Who may use the API: tokens, anonymous callers and each admin role."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from connectors.models import ActivationCode, Connector
from directories.models import Directory, IdentityProvider, SyncConnectorEntry
from synclog.models import SyncRun
from tests.conftest import PASSWORD


def test_token_from_username_and_password_authenticates_later_requests(super_admin, directory):
    anon = APIClient()
    answer = anon.post(
        "/api/v1/auth/token/", {"username": "super", "password": PASSWORD}, format="json"
    )
    assert answer.status_code == 200
    token = answer.json()["token"]

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    listing = client.get("/api/v1/directories/")
    assert listing.status_code == 200
    assert [d["name"] for d in listing.json()["results"]] == ["corp.example.com"]


def test_token_is_refused_for_a_wrong_password(super_admin):
    answer = APIClient().post(
        "/api/v1/auth/token/", {"username": "super", "password": "wrong"}, format="json"
    )
    assert answer.status_code == 400
    assert "token" not in answer.json()


def test_an_unknown_token_is_refused(directory):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    assert client.get("/api/v1/directories/").status_code in (401, 403)


ANONYMOUS_REQUESTS = [
    ("get", "/api/v1/connectors/"),
    ("get", "/api/v1/connectors/{connector}/"),
    ("post", "/api/v1/connectors/"),
    ("post", "/api/v1/connectors/{connector}/activation-code/"),
    ("delete", "/api/v1/connectors/{connector}/"),
    ("get", "/api/v1/identity-providers/"),
    ("put", "/api/v1/identity-providers/{idp}/connectors/"),
    ("get", "/api/v1/directories/"),
    ("post", "/api/v1/directories/"),
    ("get", "/api/v1/directories/{directory}/"),
    ("patch", "/api/v1/directories/{directory}/"),
    ("delete", "/api/v1/directories/{directory}/"),
    ("get", "/api/v1/directories/{directory}/sync-connectors/"),
    ("put", "/api/v1/directories/{directory}/sync-connectors/"),
    ("get", "/api/v1/directories/{directory}/sync-runs/"),
    ("post", "/api/v1/directories/{directory}/sync-runs/"),
    ("get", "/api/v1/directories/{directory}/users/"),
    ("get", "/api/v1/directories/{directory}/groups/"),
    ("get", "/api/v1/sync-runs/"),
    ("get", "/api/v1/sync-runs/{run}/"),
    ("get", "/api/v1/sync-runs/{run}/changes/"),
    ("get", "/api/v1/schema/"),
]


@pytest.mark.parametrize(("method", "path"), ANONYMOUS_REQUESTS)
def test_anonymous_caller_is_refused_by_the_api_not_redirected(
    anon_api, directory, connectors, method, path
):
    run = SyncRun.objects.create(directory=directory)
    url = path.format(
        connector=connectors[2].pk,
        idp=directory.identity_provider_id,
        directory=directory.pk,
        run=run.pk,
    )
    answer = getattr(anon_api, method)(url, {}, format="json")
    assert answer.status_code in (401, 403)
    assert "credentials were not provided" in answer.content.decode()
    assert Directory.objects.count() == 1
    assert Connector.objects.count() == 3
    assert SyncRun.objects.count() == 1


def state_of_everything() -> dict:
    return {
        "connectors": list(Connector.objects.order_by("pk").values_list("pk", "name")),
        "codes": list(ActivationCode.objects.values_list("pk", "used_at")),
        "directories": list(Directory.objects.order_by("pk").values()),
        "entries": list(
            SyncConnectorEntry.objects.order_by("pk").values_list(
                "directory_id", "connector_id", "position"
            )
        ),
        "idp_connectors": [
            sorted(idp.connectors.values_list("pk", flat=True))
            for idp in IdentityProvider.objects.order_by("pk")
        ],
        "runs": SyncRun.objects.count(),
    }


READONLY_WRITES = [
    ("post", "/api/v1/connectors/", lambda ids: {"name": "connector-9"}),
    ("post", "/api/v1/connectors/{connector}/activation-code/", lambda ids: {}),
    ("delete", "/api/v1/connectors/{connector}/", lambda ids: {}),
    ("put", "/api/v1/identity-providers/{idp}/connectors/", lambda ids: {"connectors": []}),
    (
        "post",
        "/api/v1/directories/",
        lambda ids: {
            "name": "new.example.com",
            "type": "ldap",
            "sync_connector": ids["connector"],
            "host": "ldap.new.example.com",
            "base_dn": "dc=new,dc=example,dc=com",
            "bind_dn": "cn=reader,dc=new,dc=example,dc=com",
        },
    ),
    ("patch", "/api/v1/directories/{directory}/", lambda ids: {"host": "elsewhere.example.com"}),
    ("delete", "/api/v1/directories/{directory}/", lambda ids: {}),
    (
        "put",
        "/api/v1/directories/{directory}/sync-connectors/",
        lambda ids: {"connectors": [ids["connector"]]},
    ),
    ("post", "/api/v1/directories/{directory}/sync-runs/", lambda ids: {}),
]


@pytest.mark.parametrize(("method", "path", "body"), READONLY_WRITES)
def test_read_only_admin_gets_403_on_every_write_and_nothing_changes(
    readonly_api, directory, connectors, method, path, body
):
    ids = {
        "connector": connectors[2].pk,
        "idp": directory.identity_provider_id,
        "directory": directory.pk,
    }
    before = state_of_everything()
    answer = getattr(readonly_api, method)(path.format(**ids), body(ids), format="json")
    assert answer.status_code == 403
    assert answer.json()["detail"] == "Your role does not allow changes."
    assert state_of_everything() == before


def test_read_only_admin_reads_every_list(readonly_api, directory):
    for url in (
        "/api/v1/connectors/",
        "/api/v1/identity-providers/",
        "/api/v1/directories/",
        f"/api/v1/directories/{directory.pk}/sync-connectors/",
        f"/api/v1/directories/{directory.pk}/sync-runs/",
        "/api/v1/sync-runs/",
    ):
        assert readonly_api.get(url).status_code == 200, url


def test_directory_admin_cannot_add_connectors(directory_api, connectors):
    answer = directory_api.post("/api/v1/connectors/", {"name": "connector-9"}, format="json")
    assert answer.status_code == 403
    assert not Connector.objects.filter(name="connector-9").exists()
