"""The Sync Log filtered from the console, and runs and a run's changes exported as CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from synclog.models import SyncChange, SyncRun

pytestmark = pytest.mark.django_db


def read_csv(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_the_sync_log_filters_and_exports_the_same_runs(admin_client, directory):
    failed = SyncRun.objects.create(
        directory=directory, status="failed", trigger="scheduled", message="=cmd|' /C calc'!A0"
    )
    SyncRun.objects.create(
        directory=directory, status="completed", connector_used_name="connector-2", users_added=7
    )
    page = admin_client.get(reverse("synclog:syncrun_list") + "?status=failed").content.decode()
    assert f'id="run-{failed.pk}"' in page and page.count('class="run-row"') == 1
    assert 'href="/sync-log/export.csv?status=failed"' in page

    rows = read_csv(admin_client.get(reverse("synclog:syncrun_export") + "?status=failed"))
    assert [r["id"] for r in rows] == [str(failed.pk)]
    assert rows[0]["trigger"] == "scheduled"
    assert rows[0]["message"].startswith("'=")  # never run as a formula by a spreadsheet
    every = read_csv(admin_client.get(reverse("synclog:syncrun_export")))
    assert {r["status"] for r in every} == {"failed", "completed"}
    assert [r["users_added"] for r in every if r["status"] == "completed"] == ["7"]
    bad = admin_client.get(reverse("synclog:syncrun_export") + "?status=exploded")
    assert bad.status_code == 400 and b"is not a run status" in bad.content


def test_a_runs_changes_export_with_the_pages_filters(admin_client, directory):
    run = SyncRun.objects.create(directory=directory, status="completed")
    SyncChange.objects.create(run=run, kind="user", action="added", external_id="u1", name="ann")
    SyncChange.objects.create(
        run=run, kind="group", action="updated", external_id="g1", name="staff",
        details={"members_added": 2},
    )  # fmt: skip
    url = reverse("synclog:syncchange_export", args=[run.pk])
    rows = read_csv(admin_client.get(url))
    assert [(r["kind"], r["name"]) for r in rows] == [("user", "ann"), ("group", "staff")]
    assert rows[1]["details"] == '{"members_added": 2}'
    only_groups = read_csv(admin_client.get(url + "?kind=group"))
    assert [r["name"] for r in only_groups] == ["staff"]


def test_filtering_a_runs_changes_with_htmx_also_filters_its_export_link(admin_client, directory):
    run = SyncRun.objects.create(directory=directory, status="completed")
    page = admin_client.get(run.get_absolute_url()).content.decode()
    export = reverse("synclog:syncchange_export", args=[run.pk])
    assert f'id="changes-export" href="{export}">' in page

    table = admin_client.get(
        run.get_absolute_url() + "?kind=group", HTTP_HX_REQUEST="true"
    ).content.decode()
    # The link outside the swapped table is replaced out of band, with the table's filter.
    assert f'id="changes-export" href="{export}?kind=group&amp;action=" hx-swap-oob="true"' in table
