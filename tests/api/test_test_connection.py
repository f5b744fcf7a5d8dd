"""Test Connection through the API: typed values are tried, nothing is stored, and the answer
says what failed in the console's words."""

from __future__ import annotations

from directories.models import Directory


def test_typed_values_of_a_new_directory_are_tested_and_nothing_is_stored(
    directory_api, directory_payload, connectors
):
    answer = directory_api.post(
        "/api/v1/directories/test-connection/", directory_payload, format="json"
    )
    assert answer.status_code == 200, answer.content
    result = answer.json()
    # The fixtures' connectors have no agent URL: the test fails and names the connector.
    assert result["ok"] is False
    assert connectors[1].name in result["message"]
    assert not Directory.objects.filter(name=directory_payload["name"]).exists()


def test_bad_typed_values_are_a_400_per_field(directory_api, directory_payload):
    payload = {**directory_payload, "port": 0, "base_dn": "not a dn"}
    answer = directory_api.post("/api/v1/directories/test-connection/", payload, format="json")
    assert answer.status_code == 400
    assert set(answer.json()["errors"]) == {"port", "base_dn"}


def test_typed_changes_to_a_directory_are_tested_without_saving(directory_api, directory):
    url = f"/api/v1/directories/{directory.pk}/test-connection/"
    answer = directory_api.post(url, {"base_dn": "dc=other,dc=com"}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["ok"] is False and answer.json()["message"]
    directory.refresh_from_db()
    assert directory.base_dn == "dc=example,dc=com"


def test_a_changed_host_needs_the_password_again_as_when_saving(directory_api, directory):
    url = f"/api/v1/directories/{directory.pk}/test-connection/"
    answer = directory_api.post(url, {"host": "ldap.elsewhere.example"}, format="json")
    assert answer.status_code == 400
    assert "bind password again" in answer.json()["errors"]["bind_password"][0]


def test_a_read_only_admin_cannot_test(readonly_api, directory_payload):
    answer = readonly_api.post(
        "/api/v1/directories/test-connection/", directory_payload, format="json"
    )
    assert answer.status_code == 403
