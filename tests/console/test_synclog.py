"""Sync Now, the Sync Log tab, live run rows and the run page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from directories.models import Directory
from synclog.choices import AttemptOutcome, RunStatus, WarningKind, WarningReason
from synclog.models import SyncAttempt, SyncRun, SyncWarning
from tests.console.conftest import HTMX, make_run

pytestmark = pytest.mark.django_db


def sync_log_url(directory: Directory) -> str:
    return reverse("directories:directory_sync_log", args=[directory.pk])


def test_sync_log_empty_state(admin_client, directory):
    html = admin_client.get(sync_log_url(directory)).content.decode()
    assert 'id="sync-log-empty"' in html and "No syncs yet" in html


def test_sync_now_queues_a_run_shown_at_once_in_the_sync_log(admin_client, directory, super_admin):
    response = admin_client.post(reverse("directories:directory_sync_now", args=[directory.pk]))
    assert response.status_code == 302 and response.url == sync_log_url(directory)
    run = SyncRun.objects.get(directory=directory)
    assert (run.status, run.trigger, run.requested_by) == ("queued", "manual", super_admin)
    html = admin_client.get(response.url).content.decode()
    assert f'id="run-{run.pk}"' in html
    assert "Queued" in html and "Sync Now" in html
    assert "No syncs yet" not in html


def test_second_sync_now_joins_the_queued_run(admin_client, directory):
    url = reverse("directories:directory_sync_now", args=[directory.pk])
    admin_client.post(url)
    response = admin_client.post(url, follow=True)
    assert SyncRun.objects.filter(directory=directory).count() == 1
    assert "already waiting" in response.content.decode()


def test_sync_log_shows_connectors_used_and_tried_and_counts(admin_client, finished_run):
    html = admin_client.get(sync_log_url(finished_run.directory)).content.decode()
    row = html[html.index(f'id="run-{finished_run.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "<strong>connector-2</strong>" in row
    assert "Tried: connector-1" in row and "(unavailable)" in row and "(succeeded)" in row
    assert "+40" in row and "~15" in row and "−5" in row
    assert "hx-trigger" not in row


def test_sync_log_is_newest_first_and_paginated(admin_client, directory):
    runs = [make_run(directory, RunStatus.COMPLETED, message=f"run {n}") for n in range(25)]
    first = admin_client.get(sync_log_url(directory)).content.decode()
    assert first.index(f'id="run-{runs[-1].pk}"') < first.index(f'id="run-{runs[-2].pk}"')
    assert f'id="run-{runs[0].pk}"' not in first
    assert "Page 1 of 2" in first
    second = admin_client.get(sync_log_url(directory) + "?page=2", **HTMX).content.decode()
    assert second.lstrip().startswith('<div id="sync-log-table">')
    assert f'id="run-{runs[0].pk}"' in second


def test_active_run_row_polls_and_shows_progress(admin_client, directory, connectors):
    run = make_run(directory, RunStatus.RUNNING, entries_received=1234)
    SyncAttempt.objects.create(
        run=run, position=1, connector=connectors[1], connector_name="connector-2"
    )
    row_url = reverse("synclog:syncrun_row", args=[run.pk])
    page = admin_client.get(sync_log_url(directory)).content.decode()
    assert f'hx-get="{row_url}"' in page and 'hx-trigger="every 1s"' in page
    response = admin_client.get(row_url, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<tr id="run-{run.pk}"')
    assert 'hx-trigger="every 1s"' in html and 'hx-swap="outerHTML"' in html
    assert "1,234 entries received" in html and "via connector-2" in html


def test_finished_run_row_stops_polling_with_the_final_row(admin_client, directory, connectors):
    run = make_run(directory, RunStatus.RUNNING)
    run.status = RunStatus.COMPLETED
    run.connector_used_name = "connector-1"
    run.users_added = 7
    run.save()
    response = admin_client.get(reverse("synclog:syncrun_row", args=[run.pk]), **HTMX)
    html = response.content.decode()
    assert response.status_code == 286
    assert html.lstrip().startswith(f'<tr id="run-{run.pk}"')
    assert "hx-trigger" not in html
    assert "Completed" in html and "+7" in html


def test_row_url_without_htmx_opens_the_run_page(admin_client, finished_run):
    response = admin_client.get(reverse("synclog:syncrun_row", args=[finished_run.pk]))
    assert response.status_code == 302 and response.url == finished_run.get_absolute_url()


def test_run_page_shows_snapshot_attempts_and_message(admin_client, finished_run):
    html = admin_client.get(finished_run.get_absolute_url()).content.decode()
    snapshot = html[html.index('id="run-snapshot"') :]
    snapshot = snapshot[: snapshot.index("</td>")]
    assert "1. connector-1" in snapshot and "3. connector-3" in snapshot
    attempts = html[html.index('id="attempts"') : html.index('id="changes"')]
    assert attempts.index("connector-1") < attempts.index("connector-2")
    assert "Unavailable" in attempts and "connection refused" in attempts
    assert "Succeeded" in attempts and ">75<" in attempts
    assert "after connector-1 was unreachable" in html


def test_run_page_changes_are_paginated_by_fifty(admin_client, finished_run):
    html = admin_client.get(finished_run.get_absolute_url()).content.decode()
    assert html.count('class="change-row"') == 50
    assert "Page 1 of 2" in html
    last = admin_client.get(finished_run.get_absolute_url() + "?page=2").content.decode()
    assert last.count('class="change-row"') == 25


def test_run_page_filters_changes_by_kind_and_action(admin_client, finished_run):
    url = finished_run.get_absolute_url()
    deleted_users = admin_client.get(url + "?kind=user&action=deleted", **HTMX).content.decode()
    assert deleted_users.lstrip().startswith('<div id="change-table">')
    assert deleted_users.count('class="change-row"') == 5
    assert "user-deleted-000" in deleted_users and "user-added" not in deleted_users
    groups = admin_client.get(url + "?kind=group").content.decode()
    assert groups.count('class="change-row"') == 15
    assert "user-added-000" not in groups
    nothing = admin_client.get(url + "?kind=group&action=deleted").content.decode()
    assert "No change matches the filter" in nothing


def test_sync_log_of_all_directories_lists_runs_with_their_directory(admin_client, finished_run):
    html = admin_client.get(reverse("synclog:syncrun_list")).content.decode()
    assert f'id="run-{finished_run.pk}"' in html
    assert "corp.example.com" in html


def test_sync_log_keeps_the_runs_between_from_and_before(admin_client, directory):
    """The From and Before dates bound the table; a date that is not one says so and shows
    no run rather than every run."""
    now = timezone.now()
    old = make_run(directory, created=now - timedelta(days=10))
    mid = make_run(directory, created=now - timedelta(days=5))
    new = make_run(directory, created=now)
    url = reverse("synclog:syncrun_list")

    def shown(query: dict) -> set[int]:
        html = admin_client.get(url, query).content.decode()
        return {run.pk for run in (old, mid, new) if f'id="run-{run.pk}"' in html}

    before = f"{now - timedelta(days=7):%Y-%m-%d}"
    after = f"{now - timedelta(days=7):%Y-%m-%d}"
    until = f"{now - timedelta(days=2):%Y-%m-%d}"
    assert shown({}) == {old.pk, mid.pk, new.pk}
    assert shown({"created_before": before}) == {old.pk}
    assert shown({"created_after": after}) == {mid.pk, new.pk}
    assert shown({"created_after": after, "created_before": until}) == {mid.pk}
    html = admin_client.get(url, {"created_before": until}).content.decode()
    assert f'name="created_before" id="f-before" class="clr-input" value="{until}"' in html

    response = admin_client.get(url, {"created_before": "the 5th"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'role="alert"' in html and "Enter a valid date/time." in html
    assert not {run.pk for run in (old, mid, new) if f'id="run-{run.pk}"' in html}


@pytest.fixture
def run_with_warnings(directory) -> SyncRun:
    run = make_run(
        directory,
        RunStatus.COMPLETED,
        unresolved_references=1203,
        skipped_entries=1,
        warning_counts={"no_entry": 1200, "outside_scope": 3, "no_username": 1},
    )
    for n in range(60):
        SyncWarning.objects.create(
            run=run,
            kind=WarningKind.UNRESOLVED_MEMBER,
            reason=WarningReason.NO_ENTRY,
            entry_type="group",
            external_id="g-1",
            name="R&D, Europe",
            dn="cn=R&D\\2C Europe,ou=groups,dc=example,dc=com",
            value=f"uid=ghost{n},ou=people,dc=example,dc=com",
            detail="no such entry",
        )
    SyncWarning.objects.create(
        run=run,
        kind=WarningKind.SKIPPED_ENTRY,
        reason=WarningReason.NO_USERNAME,
        entry_type="user",
        dn="cn=No Username,ou=people,dc=example,dc=com",
        detail="the entry has no uid, which holds the username",
    )
    return run


def test_sync_log_row_warns_of_what_a_completed_run_could_not_sync(admin_client, run_with_warnings):
    html = admin_client.get(sync_log_url(run_with_warnings.directory)).content.decode()
    row = html[html.index(f'id="run-{run_with_warnings.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "Completed" in row
    assert "1,203 unresolved member references · 1 skipped entry" in row
    assert f"{run_with_warnings.get_absolute_url()}#warnings" in row


def test_run_page_lists_each_unsynced_value_with_its_reason(admin_client, run_with_warnings):
    url = run_with_warnings.get_absolute_url()
    html = admin_client.get(url).content.decode()
    section = html[html.index('id="warnings"') : html.index('id="changes"')]
    assert "<strong>1,200</strong> names no entry in the directory" in section
    assert "<strong>1</strong> no value for the username attribute" in section
    assert section.count('class="warning-row"') == 50
    assert "uid=ghost0,ou=people,dc=example,dc=com" in section
    assert "R&amp;D, Europe" in section and "cn=R&amp;D\\2C Europe" in section
    assert "Page 1 of 2" in section
    assert "204 more are only counted" in section
    second = admin_client.get(url + "?wpage=2").content.decode()
    assert "cn=No Username,ou=people,dc=example,dc=com" in second


def test_run_without_warnings_says_everything_was_synced(admin_client, finished_run):
    html = admin_client.get(finished_run.get_absolute_url()).content.decode()
    assert 'id="warnings"' not in html
    assert "Nothing: every member value and entry was synced" in html


def test_a_run_that_failed_over_names_only_its_current_connector_everywhere(
    admin_client, directory, connectors
):
    # The heartbeat's copy of the name still says connector-2 (it lags a failover by a beat).
    run = make_run(
        directory, RunStatus.RUNNING, entries_received=10, current_connector_name="connector-2"
    )
    SyncAttempt.objects.create(
        run=run,
        position=1,
        connector=connectors[1],
        connector_name="connector-2",
        outcome=AttemptOutcome.UNAVAILABLE,
        finished_at=timezone.now(),
    )
    SyncAttempt.objects.create(
        run=run, position=2, connector=connectors[2], connector_name="connector-3"
    )
    row = admin_client.get(reverse("synclog:syncrun_row", args=[run.pk]), **HTMX).content.decode()
    page = admin_client.get(run.get_absolute_url()).content.decode()
    log = admin_client.get(reverse("synclog:syncrun_list")).content.decode()
    for html in (row, page, log):
        assert "via connector-3" in html and "via connector-2" not in html
    assert 'connector-2 <span class="outcome outcome-danger">(unavailable)</span>' in row
    assert 'connector-3 <span class="outcome outcome-info">(running)</span>' in row
    api = admin_client.get(f"/api/v1/sync-runs/{run.pk}/").json()
    assert api["current_connector_name"] == "connector-3"
    listed = admin_client.get("/api/v1/sync-runs/").json()["results"]
    assert [r["current_connector_name"] for r in listed] == ["connector-3"]


def test_a_finished_run_has_no_current_connector(admin_client, directory, connectors):
    run = make_run(directory, RunStatus.COMPLETED, connector_used_name="connector-3")
    SyncAttempt.objects.create(
        run=run,
        position=1,
        connector=connectors[2],
        connector_name="connector-3",
        outcome=AttemptOutcome.SUCCEEDED,
        finished_at=timezone.now(),
    )
    assert "via connector-3" not in admin_client.get(run.get_absolute_url()).content.decode()
    assert admin_client.get(f"/api/v1/sync-runs/{run.pk}/").json()["current_connector_name"] == ""


def test_a_queued_run_shows_no_start_and_no_entries_in_its_row_or_on_its_page(
    admin_client, directory
):
    run = make_run(directory, status=RunStatus.QUEUED)
    row = admin_client.get(reverse("synclog:syncrun_row", args=[run.pk]), **HTMX).content.decode()
    started = row[row.index('title="Open this run">') :]
    assert started.startswith('title="Open this run">Not started</a>')
    assert "Waiting for a worker" in row and "entries received" not in row

    page = admin_client.get(run.get_absolute_url()).content.decode()
    status = page[page.index("<th>Status</th>") : page.index("<th>Trigger</th>")]
    assert "Waiting for a worker" in status and "entries received" not in status


def test_each_run_says_whether_it_read_in_full_or_incrementally_and_why(admin_client, directory):
    full = make_run(directory, read_mode="full", read_reason="a full read is due every 24 hours")
    incremental = make_run(directory, read_mode="incremental")

    page = admin_client.get(sync_log_url(directory)).content.decode()
    assert 'title="a full read is due every 24 hours">Full read</div>' in page
    assert ">Incremental read</div>" in page
    detail = admin_client.get(full.get_absolute_url()).content.decode()
    assert 'Full <span class="cell-note">(a full read is due every 24 hours)</span>' in detail
    detail = admin_client.get(incremental.get_absolute_url()).content.decode()
    assert "Incremental: what changed since the last sync, and every id in scope" in detail
