"""Sync Connectors lists and identity provider connectors through the API."""

from __future__ import annotations

import pytest

from directories.models import SyncConnectorEntry


def stored_list(directory) -> list[tuple[str, int]]:
    return list(
        SyncConnectorEntry.objects.filter(directory=directory)
        .order_by("position")
        .values_list("connector__name", "position")
    )


def test_new_directory_list_is_read_with_version_and_effective_order(directory_api, directory):
    answer = directory_api.get(f"/api/v1/directories/{directory.pk}/sync-connectors/")
    assert answer.status_code == 200
    assert answer.json() == {
        "version": 1,
        "available": True,
        "reason": "",
        "outdated_connectors": [],
        "connectors": [{"id": directory.sync_connector_id, "name": "connector-1", "position": 1}],
        "effective": ["connector-1"],
        "fallback": True,
        "not_associated": [],
        "warning": "",
    }


def test_saving_the_list_stores_the_order_with_positions_from_1(
    directory_api, directory, connectors
):
    order = [connectors[2].pk, connectors[0].pk, connectors[1].pk]
    answer = directory_api.put(
        f"/api/v1/directories/{directory.pk}/sync-connectors/",
        {"connectors": order, "version": 1},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["version"] == 2
    # connector-2 and -3 sync the directory but its WorkspaceIDP does not have them (S7).
    assert body["not_associated"] == ["connector-3", "connector-2"]
    assert body["warning"].startswith(
        "connector-3, connector-2 are in the Sync Connectors list of corp.example.com but not "
        "associated with WorkspaceIDP__corp.example.com"
    )
    assert [(c["id"], c["position"]) for c in body["connectors"]] == [
        (order[0], 1),
        (order[1], 2),
        (order[2], 3),
    ]
    assert body["effective"] == ["connector-3", "connector-1", "connector-2"]
    assert stored_list(directory) == [("connector-3", 1), ("connector-1", 2), ("connector-2", 3)]


def test_the_same_connector_twice_is_refused_and_nothing_is_stored(
    directory_api, directory, connectors
):
    answer = directory_api.put(
        f"/api/v1/directories/{directory.pk}/sync-connectors/",
        {"connectors": [connectors[1].pk, connectors[0].pk, connectors[1].pk]},
        format="json",
    )
    assert answer.status_code == 400
    message = answer.json()["errors"]["connectors"][0]
    assert "connector-2 is already in the Sync Connectors list" in message
    assert stored_list(directory) == [("connector-1", 1)]


def test_an_unknown_connector_is_refused_and_nothing_is_stored(
    directory_api, directory, connectors
):
    answer = directory_api.put(
        f"/api/v1/directories/{directory.pk}/sync-connectors/",
        {"connectors": [connectors[1].pk, 999999]},
        format="json",
    )
    assert answer.status_code == 400
    assert answer.json()["errors"]["connectors"] == ["Unknown connector id(s): 999999."]
    assert stored_list(directory) == [("connector-1", 1)]


@pytest.mark.parametrize("body", [{}, {"connectors": "1,2"}, {"connectors": ["first"]}])
def test_a_malformed_list_is_refused_per_field(directory_api, directory, body):
    answer = directory_api.put(
        f"/api/v1/directories/{directory.pk}/sync-connectors/", body, format="json"
    )
    assert answer.status_code == 400
    assert "connectors" in answer.json()["errors"]
    assert stored_list(directory) == [("connector-1", 1)]


def test_saving_over_a_newer_list_answers_409_and_keeps_the_newer_list(
    directory_api, super_api, directory, connectors
):
    url = f"/api/v1/directories/{directory.pk}/sync-connectors/"
    first = super_api.put(
        url, {"connectors": [connectors[0].pk, connectors[1].pk], "version": 1}, format="json"
    )
    assert first.status_code == 200
    late = directory_api.put(
        url, {"connectors": [connectors[0].pk, connectors[2].pk], "version": 1}, format="json"
    )
    assert late.status_code == 409
    assert "Someone else saved" in late.json()["detail"]
    assert late.json()["version"] == 2
    assert stored_list(directory) == [("connector-1", 1), ("connector-2", 2)]


def test_an_outdated_connector_blocks_list_edits_and_is_named(
    directory_api, directory, connectors, outdated_connector
):
    url = f"/api/v1/directories/{directory.pk}/sync-connectors/"
    state = directory_api.get(url).json()
    assert state["available"] is False
    assert state["outdated_connectors"] == ["legacy-connector"]
    assert state["effective"] == ["connector-1"] and state["fallback"] is False

    answer = directory_api.put(url, {"connectors": [connectors[1].pk]}, format="json")
    assert answer.status_code == 409
    assert "legacy-connector (3.3.0.0)" in answer.json()["detail"]
    assert answer.json()["outdated_connectors"] == ["legacy-connector"]
    assert stored_list(directory) == [("connector-1", 1)]


def test_cloud_mode_refuses_list_edits(directory_api, directory, connectors, settings):
    settings.DEPLOYMENT_MODE = "cloud"
    url = f"/api/v1/directories/{directory.pk}/sync-connectors/"
    assert directory_api.get(url).json()["available"] is False
    answer = directory_api.put(url, {"connectors": [connectors[1].pk]}, format="json")
    assert answer.status_code == 409
    assert "cloud mode" in answer.json()["detail"]
    assert stored_list(directory) == [("connector-1", 1)]


def test_identity_provider_shows_its_connectors_and_directories(directory_api, directory):
    answer = directory_api.get(f"/api/v1/identity-providers/{directory.identity_provider_id}/")
    assert answer.status_code == 200
    body = answer.json()
    assert body["name"] == "WorkspaceIDP__corp.example.com"
    assert [c["name"] for c in body["connectors"]] == ["connector-1"]
    assert body["directories"] == [{"id": directory.pk, "name": "corp.example.com"}]


def test_identity_provider_connectors_are_replaced(directory_api, directory, connectors):
    url = f"/api/v1/identity-providers/{directory.identity_provider_id}/connectors/"
    answer = directory_api.put(
        url, {"connectors": [connectors[0].pk, connectors[2].pk]}, format="json"
    )
    assert answer.status_code == 200, answer.content
    assert [c["name"] for c in answer.json()["connectors"]] == ["connector-1", "connector-3"]


def test_identity_provider_keeps_a_directory_sync_connector(directory_api, directory, connectors):
    url = f"/api/v1/identity-providers/{directory.identity_provider_id}/connectors/"
    answer = directory_api.put(url, {"connectors": [connectors[2].pk]}, format="json")
    assert answer.status_code == 400
    assert "connector-1 syncs a directory" in answer.json()["errors"]["connectors"][0]
    assert list(directory.identity_provider.connectors.values_list("name", flat=True)) == [
        "connector-1"
    ]


def test_an_empty_list_put_through_the_api_is_stored_without_a_confirmation(
    directory_api, directory
):
    """The console asks before an empty list switches failover off; a PUT is explicit."""
    answer = directory_api.put(
        f"/api/v1/directories/{directory.pk}/sync-connectors/",
        {"connectors": [], "version": 1},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["effective"] == ["connector-1"]
    assert answer.json()["fallback"] is False
    assert stored_list(directory) == []


def test_the_list_carries_an_etag_and_a_stale_if_match_is_a_412_that_keeps_the_newer_list(
    directory_api, super_api, directory, connectors
):
    url = f"/api/v1/directories/{directory.pk}/sync-connectors/"
    etag = directory_api.get(url)["ETag"]
    assert etag == '"1"'
    first = super_api.put(
        url, {"connectors": [connectors[0].pk, connectors[1].pk]}, format="json", HTTP_IF_MATCH=etag
    )
    assert first.status_code == 200, first.content
    assert first["ETag"] == '"2"'
    late = directory_api.put(
        url, {"connectors": [connectors[0].pk, connectors[2].pk]}, format="json", HTTP_IF_MATCH=etag
    )
    assert late.status_code == 412
    assert late.json()["code"] == "precondition_failed" and late.json()["version"] == 2
    assert late["ETag"] == '"2"'
    assert stored_list(directory) == [("connector-1", 1), ("connector-2", 2)]
    fresh = directory_api.put(
        url, {"connectors": [connectors[2].pk]}, format="json", HTTP_IF_MATCH=late["ETag"]
    )
    assert fresh.status_code == 200
    assert stored_list(directory) == [("connector-3", 1)]
