"""Connectors through the API: adding, activation codes, agent activation and deletion."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from connectors.models import ActivationCode, Connector
from directories.services import save_sync_connectors

AGENT = {"url": "http://10.0.0.5:8443", "host": "agent-host.example.com", "version": "19.03.0.0"}


def add_connector(client: APIClient, name: str = "connector-new") -> dict:
    answer = client.post("/api/v1/connectors/", {"name": name}, format="json")
    assert answer.status_code == 201, answer.content
    return answer.json()


def raw_secret_column(connector_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM connectors_connector WHERE id = %s", [connector_id])
        return cursor.fetchone()[0]


def test_connector_list_shows_state_lists_and_never_the_secret(super_api, directory, connectors):
    save_sync_connectors(directory, [connectors[1].pk, connectors[0].pk])
    answer = super_api.get("/api/v1/connectors/")
    assert answer.status_code == 200
    rows = {row["name"]: row for row in answer.json()["results"]}
    first = rows["connector-1"]
    assert first["activation_state"] == "active"
    assert first["version"] == "19.03.0.0"
    assert first["identity_providers"] == [
        {"id": directory.identity_provider_id, "name": "WorkspaceIDP__corp.example.com"}
    ]
    assert first["directories"] == [{"id": directory.pk, "name": "corp.example.com", "position": 2}]
    assert rows["connector-3"]["directories"] == []
    assert "secret-of-connector-1" not in answer.content.decode()
    assert "secret" not in first


def test_adding_a_connector_shows_its_activation_code_once(super_api):
    created = add_connector(super_api, "branch-office")
    assert created["activation_state"] == "pending"
    assert len(created["activation_code"]) >= 20
    assert created["activation_code_expires_at"]
    again = super_api.get(f"/api/v1/connectors/{created['id']}/").json()
    assert "activation_code" not in again
    assert created["activation_code"] not in str(super_api.get("/api/v1/connectors/").json())


def test_adding_a_connector_with_a_taken_name_is_refused_per_field(super_api, connectors):
    answer = super_api.post("/api/v1/connectors/", {"name": "CONNECTOR-1"}, format="json")
    assert answer.status_code == 400
    assert "already exists" in answer.json()["errors"]["name"][0]
    assert Connector.objects.count() == 3


def test_activation_code_activates_the_connector_once_and_stores_the_secret_encrypted(super_api):
    created = add_connector(super_api)
    agent = APIClient(enforce_csrf_checks=True)
    answer = agent.post(
        "/api/v1/connectors/activate/", {"code": created["activation_code"], **AGENT}, format="json"
    )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["id"] == created["id"] and body["name"] == "connector-new"
    assert len(body["secret"]) >= 32
    assert answer["Cache-Control"] == "no-store"

    connector = Connector.objects.get(pk=created["id"])
    assert connector.activation_state == "active"
    assert (connector.url, connector.host, connector.version) == (
        AGENT["url"],
        AGENT["host"],
        AGENT["version"],
    )
    assert connector.secret == body["secret"]
    raw = raw_secret_column(connector.pk)
    assert raw and body["secret"] not in raw

    second = agent.post(
        "/api/v1/connectors/activate/", {"code": created["activation_code"], **AGENT}, format="json"
    )
    assert second.status_code == 400
    assert "already used" in second.json()["errors"]["code"][0]
    assert Connector.objects.get(pk=created["id"]).secret == body["secret"]
    assert body["secret"] not in str(super_api.get(f"/api/v1/connectors/{created['id']}/").json())


def test_an_expired_activation_code_is_refused(super_api):
    created = add_connector(super_api)
    ActivationCode.objects.filter(connector_id=created["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    answer = APIClient().post(
        "/api/v1/connectors/activate/", {"code": created["activation_code"], **AGENT}, format="json"
    )
    assert answer.status_code == 400
    assert "expired" in answer.json()["errors"]["code"][0]
    assert Connector.objects.get(pk=created["id"]).activation_state == "pending"


def test_an_unknown_activation_code_is_refused(db):
    answer = APIClient().post(
        "/api/v1/connectors/activate/", {"code": "not-a-real-code", **AGENT}, format="json"
    )
    assert answer.status_code == 400
    assert "unknown" in answer.json()["errors"]["code"][0]


def test_activation_with_a_malformed_version_or_url_is_refused_and_keeps_the_code(super_api):
    created = add_connector(super_api)
    bad = {**AGENT, "version": "nineteen", "url": "10.0.0.5:8443"}
    answer = APIClient().post(
        "/api/v1/connectors/activate/", {"code": created["activation_code"], **bad}, format="json"
    )
    assert answer.status_code == 400
    errors = answer.json()["errors"]
    assert "not a version number" in errors["version"][0]
    assert "http://" in errors["url"][0]
    assert ActivationCode.objects.get(connector_id=created["id"]).used_at is None


def test_activation_with_missing_fields_names_each_field(db):
    answer = APIClient().post("/api/v1/connectors/activate/", {}, format="json")
    assert answer.status_code == 400
    assert set(answer.json()["errors"]) == {"code", "url", "version"}


def test_activation_is_throttled_against_code_guessing(db):
    agent = APIClient()
    answers = [
        agent.post("/api/v1/connectors/activate/", {"code": f"guess-{n}", **AGENT}, format="json")
        for n in range(31)
    ]
    assert {a.status_code for a in answers[:30]} == {400}
    assert answers[30].status_code == 429


def test_new_activation_code_replaces_the_old_one(super_api):
    created = add_connector(super_api)
    answer = super_api.post(f"/api/v1/connectors/{created['id']}/activation-code/")
    assert answer.status_code == 201
    fresh = answer.json()["activation_code"]
    assert fresh != created["activation_code"]
    agent = APIClient()
    old = agent.post(
        "/api/v1/connectors/activate/", {"code": created["activation_code"], **AGENT}, format="json"
    )
    assert old.status_code == 400
    new = agent.post("/api/v1/connectors/activate/", {"code": fresh, **AGENT}, format="json")
    assert new.status_code == 201


def test_deleting_a_connector_a_directory_uses_is_refused_with_the_directory_named(
    super_api, directory, connectors
):
    save_sync_connectors(directory, [connectors[0].pk, connectors[1].pk])
    answer = super_api.delete(f"/api/v1/connectors/{connectors[1].pk}/")
    assert answer.status_code == 409
    assert "corp.example.com" in answer.json()["detail"]
    assert answer.json()["directories"] == ["corp.example.com"]
    assert Connector.objects.filter(pk=connectors[1].pk).exists()


def test_deleting_a_directory_sync_connector_is_refused_even_off_the_list(
    super_api, directory, connectors
):
    save_sync_connectors(directory, [connectors[1].pk])
    answer = super_api.delete(f"/api/v1/connectors/{connectors[0].pk}/")
    assert answer.status_code == 409
    assert answer.json()["directories"] == ["corp.example.com"]


def test_deleting_an_unused_connector_removes_it(super_api, directory, connectors):
    answer = super_api.delete(f"/api/v1/connectors/{connectors[2].pk}/")
    assert answer.status_code == 204
    assert not Connector.objects.filter(pk=connectors[2].pk).exists()
