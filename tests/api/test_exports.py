"""CSV exports through the API: the same files as the console's downloads."""

from __future__ import annotations

import csv
import io

import pytest

from synclog.choices import ChangeAction, ChangeKind, RunStatus, Trigger
from synclog.models import SyncChange, SyncRun


def rows(answer) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(answer.streaming_content).decode())))


@pytest.fixture
def runs(directory):
    done = SyncRun.objects.create(
        directory=directory, status=RunStatus.COMPLETED, trigger=Trigger.MANUAL, users_added=2
    )
    failed = SyncRun.objects.create(
        directory=directory, status=RunStatus.FAILED, trigger=Trigger.SCHEDULED, message="=cmd"
    )
    SyncChange.objects.bulk_create(
        [
            SyncChange(run=done, kind=ChangeKind.USER, action=ChangeAction.ADDED, name="ann"),
            SyncChange(run=done, kind=ChangeKind.GROUP, action=ChangeAction.ADDED, name="staff"),
        ]
    )
    return done, failed


def test_the_sync_log_export_matches_the_consoles_and_takes_the_list_filters(
    readonly_api, admin_client, runs
):
    done, failed = runs
    answer = readonly_api.get("/api/v1/sync-runs/export/", HTTP_ACCEPT="text/csv")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/csv")
    assert 'filename="sync-log.csv"' in answer["Content-Disposition"]
    api_rows = rows(answer)
    assert api_rows == rows(admin_client.get("/sync-log/export.csv"))
    assert {r[0] for r in api_rows[1:]} == {str(done.pk), str(failed.pk)}
    assert "'=cmd" in [r[-1] for r in api_rows]  # no formula reaches a spreadsheet
    only_failed = rows(readonly_api.get("/api/v1/sync-runs/export/", {"status": "failed"}))
    assert [r[0] for r in only_failed[1:]] == [str(failed.pk)]


def test_a_bad_filter_is_a_json_400(readonly_api, runs):
    answer = readonly_api.get("/api/v1/sync-runs/export/", {"status": "sleeping"})
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid" and "status" in answer.json()["errors"]


def test_a_runs_changes_export_with_its_filters(readonly_api, admin_client, runs):
    done, _ = runs
    url = f"/api/v1/sync-runs/{done.pk}/changes/export/"
    all_rows = rows(readonly_api.get(url))
    assert all_rows == rows(admin_client.get(f"/sync-log/runs/{done.pk}/changes.csv"))
    assert [r[2] for r in all_rows[1:]] == ["ann", "staff"]
    assert [r[2] for r in rows(readonly_api.get(url, {"kind": "group"}))[1:]] == ["staff"]
    assert readonly_api.get("/api/v1/sync-runs/999999/changes/export/").status_code == 404
