"""Review (`dry_run`), Apply (`reviewed_run`) and `ignore_safeguards` through the API, and
the four safeguard thresholds on a directory."""

from __future__ import annotations

import pytest

from synclog.choices import ChangeAction, ChangeKind, RunStatus, Trigger
from synclog.models import SyncChange, SyncRun


@pytest.fixture
def published(monkeypatch):
    from directories.tasks import sync_directory

    sent = []
    monkeypatch.setattr(
        sync_directory, "apply_async", lambda args=None, **options: sent.append(args[0])
    )
    return sent


def runs_url(directory) -> str:
    return f"/api/v1/directories/{directory.pk}/sync-runs/"


def test_dry_run_queues_a_review(directory_api, directory, directory_admin, published):
    answer = directory_api.post(runs_url(directory), {"dry_run": True}, format="json")
    assert answer.status_code == 202, answer.content
    run = answer.json()
    assert (run["trigger"], run["status"], run["ignore_safeguards"]) == ("review", "queued", False)
    assert run["requested_by"] == directory_admin.username


def test_a_sync_asked_while_a_review_waits_is_a_409_naming_it(directory_api, directory, published):
    review = directory_api.post(runs_url(directory), {"dry_run": True}, format="json").json()
    joined = directory_api.post(runs_url(directory), {"dry_run": True}, format="json")
    assert joined.status_code == 200 and joined.json()["id"] == review["id"]

    answer = directory_api.post(runs_url(directory), format="json")

    assert answer.status_code == 409
    assert answer.json()["code"] == "run_waiting"
    assert answer.json()["waiting_run"] == review["id"]
    assert SyncRun.objects.filter(directory=directory).count() == 1


def test_ignore_safeguards_is_recorded_with_who_asked(super_api, directory, super_admin, published):
    answer = super_api.post(runs_url(directory), {"ignore_safeguards": True}, format="json")
    assert answer.status_code == 202
    run = answer.json()
    assert (run["trigger"], run["ignore_safeguards"], run["safeguards_ignored_by"]) == (
        "api",
        True,
        super_admin.username,
    )


def test_a_review_takes_neither_ignore_safeguards_nor_reviewed_run(directory_api, directory):
    answer = directory_api.post(
        runs_url(directory), {"dry_run": True, "ignore_safeguards": True}, format="json"
    )
    assert answer.status_code == 400
    assert not SyncRun.objects.exists()


def test_reviewed_run_applies_a_finished_review_only(directory_api, directory, published):
    sync = SyncRun.objects.create(directory=directory, status=RunStatus.COMPLETED)
    refused = directory_api.post(runs_url(directory), {"reviewed_run": sync.pk}, format="json")
    assert refused.status_code == 400 and "reviewed_run" in refused.json()["errors"]

    review = SyncRun.objects.create(
        directory=directory, status=RunStatus.COMPLETED, trigger=Trigger.REVIEW
    )
    answer = directory_api.post(runs_url(directory), {"reviewed_run": review.pk}, format="json")
    assert answer.status_code == 202
    assert answer.json()["reviewed_run"] == review.pk


def test_a_review_lists_its_changes_and_verdict_and_is_not_the_last_sync(directory_api, directory):
    synced = SyncRun.objects.create(directory=directory, status=RunStatus.SAFEGUARD)
    review = SyncRun.objects.create(
        directory=directory,
        status=RunStatus.COMPLETED,
        trigger=Trigger.REVIEW,
        safeguard_violations=["Users deleted: 2 of 2 (100%), limit 10%"],
    )
    SyncChange.objects.create(
        run=review,
        kind=ChangeKind.USER,
        action=ChangeAction.UPDATED,
        external_id="u1",
        name="ann",
        details={"email": ["", "ann@example.com"]},
    )

    changes = directory_api.get(f"/api/v1/sync-runs/{review.pk}/changes/").json()["results"]
    assert [(c["name"], c["details"]) for c in changes] == [
        ("ann", {"email": ["", "ann@example.com"]})
    ]
    detail = directory_api.get(f"/api/v1/sync-runs/{review.pk}/").json()
    assert detail["safeguard_violations"] == ["Users deleted: 2 of 2 (100%), limit 10%"]
    last = directory_api.get(f"/api/v1/directories/{directory.pk}/").json()["last_run"]
    assert last["id"] == synced.pk
    listed = directory_api.get("/api/v1/directories/").json()["results"][0]["last_run"]
    assert listed["id"] == synced.pk


def test_each_threshold_is_1_to_100_or_null(directory_api, directory):
    url = f"/api/v1/directories/{directory.pk}/"
    answer = directory_api.patch(
        url,
        {"safeguard_users_updated_percent": 0, "safeguard_groups_deleted_percent": 101},
        format="json",
    )
    assert answer.status_code == 400
    assert set(answer.json()["errors"]) == {
        "safeguard_users_updated_percent",
        "safeguard_groups_deleted_percent",
    }
    ok = directory_api.patch(
        url,
        {"safeguard_users_deleted_percent": None, "safeguard_members_removed_percent": 25},
        format="json",
    )
    assert ok.status_code == 200, ok.content
    body = ok.json()
    assert body["safeguard_users_deleted_percent"] is None
    assert body["safeguard_members_removed_percent"] == 25
    assert body["safeguard_users_updated_percent"] == 10


def test_a_running_run_says_how_far_it_has_read_as_the_console_does(directory_api, directory):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    SyncRun.objects.create(directory=directory, status=RunStatus.COMPLETED, entries_received=400)
    running = SyncRun.objects.create(
        directory=directory,
        status=RunStatus.RUNNING,
        entries_received=100,
        started_at=now - timedelta(seconds=30),
    )
    progress = directory_api.get(f"/api/v1/sync-runs/{running.pk}/").json()["progress"]
    assert (progress["percent"], progress["previous_total"]) == (25, 400)
    # A quarter read in 30 s: the pace points to an end 120 s after the start.
    from django.utils.dateparse import parse_datetime

    end = parse_datetime(progress["estimated_end"]) - running.started_at
    assert timedelta(seconds=118) < end < timedelta(seconds=122)
    done = SyncRun.objects.filter(status=RunStatus.COMPLETED).get()
    assert directory_api.get(f"/api/v1/sync-runs/{done.pk}/").json()["progress"] is None


def test_an_applied_review_says_whether_the_sync_did_what_the_review_listed(
    directory_api, directory
):
    review = SyncRun.objects.create(
        directory=directory, status=RunStatus.COMPLETED, trigger=Trigger.REVIEW, users_updated=1
    )
    applied = SyncRun.objects.create(
        directory=directory, status=RunStatus.COMPLETED, reviewed_run=review, users_updated=1
    )
    same = {"kind": ChangeKind.USER, "action": ChangeAction.UPDATED, "external_id": "u1",
            "name": "ann", "details": {"email": ["", "ann@example.com"]}}  # fmt: skip
    SyncChange.objects.create(run=review, **same)
    SyncChange.objects.create(run=applied, **same)

    def comparison():
        return directory_api.get(f"/api/v1/sync-runs/{applied.pk}/").json()["review_comparison"]

    got = comparison()
    assert (got["review"], got["changed"], got["only_reviewed"], got["only_applied"]) == (
        review.pk, False, 0, 0,
    )  # fmt: skip
    assert got["counts"]["users_updated"] == {"reviewed": 1, "applied": 1}
    assert set(got["counts"]) == {
        "users_added", "users_updated", "users_deleted", "groups_added", "groups_updated",
        "groups_deleted", "memberships_added", "memberships_removed",
    }  # fmt: skip

    # The directory changed in between: the sync also deleted a user.
    SyncChange.objects.create(
        run=applied, kind=ChangeKind.USER, action=ChangeAction.DELETED, external_id="u2", name="bo"
    )
    SyncRun.objects.filter(pk=applied.pk).update(users_deleted=1)
    got = comparison()
    assert (got["changed"], got["only_reviewed"], got["only_applied"]) == (True, 0, 1)
    assert got["counts"]["users_deleted"] == {"reviewed": 0, "applied": 1}
    assert directory_api.get(f"/api/v1/sync-runs/{review.pk}/").json()["review_comparison"] is None
