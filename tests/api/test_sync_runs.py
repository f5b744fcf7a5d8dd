"""Sync runs through the API: asking for a sync, the Sync Log and Sync Details."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from synclog.models import SyncAttempt, SyncChange, SyncRun


def test_asking_for_a_sync_queues_one_run_and_a_second_request_joins_it(
    directory_api,
    super_api,
    directory,
    directory_admin,
    django_capture_on_commit_callbacks,
    monkeypatch,
):
    from directories.tasks import sync_directory

    sent = []

    def publish(args=None, kwargs=None, **options):
        # The message Celery would publish: which task, for which run.
        sent.append((sync_directory.name, tuple(args or ())))

    monkeypatch.setattr(sync_directory, "apply_async", publish)
    url = f"/api/v1/directories/{directory.pk}/sync-runs/"
    with django_capture_on_commit_callbacks(execute=True):
        first = directory_api.post(url)
        assert sent == []  # not before the run is committed
    assert first.status_code == 202, first.content
    run = first.json()
    assert (run["status"], run["trigger"], run["joined"]) == ("queued", "api", False)
    assert run["requested_by"] == directory_admin.username
    assert sent == [("directories.tasks.sync_directory", (run["id"],))]

    with django_capture_on_commit_callbacks(execute=True):
        second = super_api.post(url)
    assert second.status_code == 200
    assert second.json()["id"] == run["id"] and second.json()["joined"] is True
    assert len(sent) == 1
    assert SyncRun.objects.filter(directory=directory).count() == 1


def test_sync_runs_of_a_directory_are_paginated_newest_first(directory_api, directory):
    now = timezone.now()
    runs = [
        SyncRun.objects.create(
            directory=directory, status="completed", created=now - timedelta(hours=h)
        )
        for h in (3, 1, 2)
    ]
    url = f"/api/v1/directories/{directory.pk}/sync-runs/"
    page = directory_api.get(url, {"limit": 2}).json()
    assert page["count"] == 3
    assert [r["id"] for r in page["results"]] == [runs[1].pk, runs[2].pk]
    rest = directory_api.get(url, {"limit": 2, "offset": 2}).json()
    assert [r["id"] for r in rest["results"]] == [runs[0].pk]


def test_run_detail_lists_the_connectors_tried_in_order(directory_api, directory, connectors):
    start = timezone.now()
    run = SyncRun.objects.create(
        directory=directory,
        status="completed",
        connector_snapshot=[
            {"id": connectors[0].pk, "name": "connector-1", "position": 1},
            {"id": connectors[1].pk, "name": "connector-2", "position": 2},
        ],
        connector_used=connectors[1],
        connector_used_name="connector-2",
        users_added=5,
        message="Synced by connector-2 after connector-1 was unavailable.",
    )
    # Stored out of order on purpose: the answer must follow the failover positions.
    SyncAttempt.objects.create(
        run=run,
        position=2,
        connector=connectors[1],
        connector_name="connector-2",
        outcome="succeeded",
        started_at=start + timedelta(seconds=3),
        finished_at=start + timedelta(seconds=9),
        entries_received=5,
    )
    SyncAttempt.objects.create(
        run=run,
        position=1,
        connector=connectors[0],
        connector_name="connector-1",
        outcome="unavailable",
        started_at=start,
        finished_at=start + timedelta(seconds=3),
        message="connection refused",
    )
    answer = directory_api.get(f"/api/v1/sync-runs/{run.pk}/")
    assert answer.status_code == 200
    body = answer.json()
    assert [(a["connector_name"], a["outcome"]) for a in body["attempts"]] == [
        ("connector-1", "unavailable"),
        ("connector-2", "succeeded"),
    ]
    assert body["attempts"][0]["message"] == "connection refused"
    assert body["attempts"][1]["entries_received"] == 5
    assert body["connector_used_name"] == "connector-2"
    assert [c["name"] for c in body["connector_snapshot"]] == ["connector-1", "connector-2"]
    assert body["users_added"] == 5
    assert body["directory"] == {"id": directory.pk, "name": "corp.example.com"}


def make_changes(run: SyncRun) -> None:
    rows = [
        ("user", "added", "jdoe"),
        ("user", "deleted", "old"),
        ("group", "added", "staff"),
        ("user", "added", "asmith"),
    ]
    SyncChange.objects.bulk_create(
        SyncChange(run=run, kind=kind, action=action, external_id=name, name=name)
        for kind, action, name in rows
    )


def test_run_changes_filter_by_kind_and_action(directory_api, directory):
    run = SyncRun.objects.create(directory=directory, status="completed")
    make_changes(run)
    url = f"/api/v1/sync-runs/{run.pk}/changes/"
    assert directory_api.get(url).json()["count"] == 4
    users_added = directory_api.get(url, {"kind": "user", "action": "added"}).json()
    assert [c["name"] for c in users_added["results"]] == ["jdoe", "asmith"]
    groups = directory_api.get(url, {"kind": "group"}).json()
    assert [c["name"] for c in groups["results"]] == ["staff"]
    deleted = directory_api.get(url, {"action": "deleted"}).json()
    assert [c["name"] for c in deleted["results"]] == ["old"]


def test_run_changes_list_each_membership_with_kind_membership(directory_api, directory):
    run = SyncRun.objects.create(directory=directory, status="completed", trigger="review")
    make_changes(run)
    SyncChange.objects.create(
        run=run,
        kind="membership",
        action="deleted",
        external_id="u-old",
        name="old",
        dn="uid=old,ou=people,dc=example,dc=com",
        details={"group": "staff", "group_id": "g-staff", "member_type": "user"},
    )
    url = f"/api/v1/sync-runs/{run.pk}/changes/"

    body = directory_api.get(url, {"kind": "membership"}).json()

    assert body["count"] == 1
    assert body["results"][0] | {"id": 0} == {
        "id": 0,
        "kind": "membership",
        "action": "deleted",
        "external_id": "u-old",
        "name": "old",
        "dn": "uid=old,ou=people,dc=example,dc=com",
        "details": {"group": "staff", "group_id": "g-staff", "member_type": "user"},
    }
    users = directory_api.get(url, {"kind": "user"}).json()
    assert "u-old" not in [c["external_id"] for c in users["results"]]


def test_an_unknown_change_filter_is_refused(directory_api, directory):
    run = SyncRun.objects.create(directory=directory, status="completed")
    answer = directory_api.get(f"/api/v1/sync-runs/{run.pk}/changes/", {"kind": "printer"})
    assert answer.status_code == 400
    assert "'printer' is not a kind of change" in answer.json()["errors"]["kind"][0]


def test_sync_log_filters_by_directory_and_status(directory_api, directory, directory_payload):
    created = directory_api.post("/api/v1/directories/", directory_payload, format="json").json()
    SyncRun.objects.create(directory=directory, status="failed")
    SyncRun.objects.create(directory=directory, status="completed")
    SyncRun.objects.create(directory_id=created["id"], status="failed")
    answer = directory_api.get(
        "/api/v1/sync-runs/", {"directory": directory.pk, "status": "failed"}
    )
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert [(r["directory"]["id"], r["status"]) for r in results] == [(directory.pk, "failed")]
