"""The sync plan in the console: warnings on the Sync Connectors tab (for the unsaved list)
and the Sync Frequency tab, the Sync plan page under Connectors, and a running sync's
percentage and estimated end."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from directories.failover import sync_connector_list
from directories.models import Directory
from directories.services import create_directory, update_directory
from synclog.choices import AttemptOutcome, RunStatus
from synclog.models import SyncAttempt
from tests.console.conftest import HTMX, daily_branch, make_run

pytestmark = pytest.mark.django_db

PLAN_URL = "/connectors/sync-plan/"


def daily(directory: Directory, at: str = "02:00") -> Directory:
    update_directory(directory, {"sync_frequency": "daily", "sync_time": at})
    directory.refresh_from_db()
    return directory


@pytest.fixture
def branch(connectors) -> Directory:
    """A second directory synced by connector-2 alone, daily at 02:00 UTC."""
    return daily_branch(connectors[1])


def share_connector_3(directory: Directory, branch: Directory, connectors) -> None:
    """corp daily at 02:00 through connector-1, then connector-3; branch (02:00 too)
    through connector-2, then connector-3: both run on connector-3 when it takes over."""
    from directories.services import save_sync_connectors

    daily(directory)
    for d, ids in ((directory, [0, 2]), (branch, [1, 2])):
        save_sync_connectors(
            d, [connectors[n].pk for n in ids], expected_version=d.sync_connectors_version
        )


def finished(directory: Directory, minutes: int, entries: int = 0) -> None:
    end = timezone.now() - timedelta(hours=1)
    make_run(
        directory,
        started_at=end - timedelta(minutes=minutes),
        finished_at=end,
        entries_received=entries,
    )


def test_sync_connectors_tab_warns_about_the_unsaved_order_before_save(
    admin_client, directory, branch, connectors
):
    daily(directory)
    url = reverse("directories:directory_sync_connectors", args=[directory.pk])
    assert 'id="schedule-collisions"' not in admin_client.get(url).content.decode()

    # Staged, not saved: connector-2 moved first, where branch.example.com starts too.
    data = {
        "connector": [connectors[0].pk, connectors[1].pk],
        "version": str(directory.sync_connectors_version),
        "action": "up:1",
    }
    html = admin_client.post(url, data, **HTMX).content.decode()

    warning = html[html.index('id="schedule-collisions"') :]
    warning = warning[: warning.index("</div></div></div>")]
    assert 'data-other="branch.example.com"' in warning
    assert "the same first connector (connector-2)" in warning
    assert "Put connector-1 first for corp.example.com." in warning
    assert "Use connector-3 for corp.example.com instead of connector-2." in warning
    assert "Move corp.example.com&#x27;s daily sync from 02:00 to 02:15" in warning
    assert [c.name for c in sync_connector_list(directory)] == ["connector-1"]


def test_sync_frequency_tab_names_the_case_and_a_free_time(admin_client, directory, connectors):
    daily(directory)
    other = create_directory(
        name="hr.example.com",
        type="ldap",
        sync_connector=connectors[0],
        host="10.0.0.3",
        base_dn="dc=hr",
        bind_dn="cn=admin,dc=hr",
        sync_frequency="hourly",
        sync_time="00:00",
        sync_time_zone="UTC",
    )
    finished(directory, minutes=20)
    url = reverse("directories:directory_sync_settings", args=[directory.pk, "frequency"])
    html = admin_client.get(url).content.decode()
    assert 'data-other="hr.example.com"' in html
    assert "the same first connector (connector-1)" in html
    # 02:15–02:35 is clear of the hourly runs at 02:00 and 03:00 (about 5 minutes each).
    assert "Move corp.example.com&#x27;s daily sync from 02:00 to 02:15" in html
    assert "its last syncs took about 20 minutes" in html

    update_directory(other, {"sync_frequency": "manual"})
    assert 'id="schedule-collisions"' not in admin_client.get(url).content.decode()


def test_sync_plan_page_lists_each_connector_with_positions_schedules_and_flags(
    readonly_client, directory, branch, connectors
):
    share_connector_3(directory, branch, connectors)
    for minutes in (3, 7, 4):
        finished(branch, minutes)

    listing = readonly_client.get(reverse("connectors:connector_list")).content.decode()
    assert f'href="{PLAN_URL}"' in listing
    response = readonly_client.get(PLAN_URL)
    html = response.content.decode()
    assert response.status_code == 200

    rows = re.findall(
        r'<tr class="plan-use" data-connector="([^"]+)" data-directory="([^"]+)">(.*?)</tr>',
        html,
        re.S,
    )
    placed = {(c, d): re.sub(r"<[^>]+>|\s+", " ", body) for c, d, body in rows}
    assert set(placed) == {
        ("connector-1", "corp.example.com"),
        ("connector-2", "branch.example.com"),
        ("connector-3", "corp.example.com"),
        ("connector-3", "branch.example.com"),
    }
    assert "1 (first choice)" in placed["connector-1", "corp.example.com"]
    assert "2 (fallback)" in placed["connector-3", "branch.example.com"]
    assert "Once a day at 02:00 (UTC)" in placed["connector-2", "branch.example.com"]
    assert "about 4 min 0 s" in placed["connector-2", "branch.example.com"]
    # Case C on connector-3, its remedies with the pair's second directory by name.
    assert "Case C" in placed["connector-3", "corp.example.com"]
    assert "Put connector-3 first for corp.example.com" in placed["connector-3", "corp.example.com"]
    assert "Case" not in placed["connector-1", "corp.example.com"]

    svg = html[html.index("<svg") : html.index("</svg>")]
    assert 'role="img"' in svg and "2 connectors" not in svg
    assert re.search(r'aria-label="Sync timeline of the next 24 hours[^"]*3 connectors', svg)
    assert svg.count("plan-bar-collision") == 2  # one run each of corp and branch on connector-3
    assert "branch.example.com: 02:00–02:04, connector-3 is its fallback (position 2)" in svg
    assert "style=" not in html


def test_sync_plan_page_is_silent_for_a_clean_configuration(admin_client, directory, branch):
    daily(directory, "05:00")
    html = admin_client.get(PLAN_URL).content.decode()
    assert 'id="sync-plan-clean"' in html
    assert "plan-bar-collision" not in html


def test_sync_plan_hours_are_in_the_admins_time_zone(admin_client, super_admin, directory):
    import zoneinfo

    super_admin.time_zone = "Asia/Kolkata"
    super_admin.save()
    kolkata = zoneinfo.ZoneInfo("Asia/Kolkata")
    before = f"{timezone.now().astimezone(kolkata):%H}:00"
    html = admin_client.get(PLAN_URL).content.decode()
    after = f"{timezone.now().astimezone(kolkata):%H}:00"
    labels = re.findall(r'class="plan-tick-label"[^>]*>([^<]+)<', html)
    # Every 3 hours from the admin's current hour (UTC+05:30: not a whole hour in UTC).
    assert len(labels) == 9 and labels[0] in (before, after) and labels[-1] == labels[0]
    assert "Hours in Asia/Kolkata" in html


def test_running_sync_shows_percentage_and_estimated_end_from_the_last_sync(
    admin_client, directory, connectors
):
    finished(directory, minutes=10, entries=400)
    run = make_run(
        directory,
        RunStatus.RUNNING,
        entries_received=100,
        started_at=timezone.now() - timedelta(minutes=1),
    )
    SyncAttempt.objects.create(
        run=run,
        position=1,
        connector=connectors[0],
        connector_name="connector-1",
        outcome=AttemptOutcome.RUNNING,
    )
    row = admin_client.get(reverse("synclog:syncrun_row", args=[run.pk]), **HTMX).content.decode()
    page = admin_client.get(run.get_absolute_url()).content.decode()
    for html in (row, page):
        assert "100 entries received · " in html
        assert "25% of the last sync's 400, ends about" in html
        assert "via connector-1" in html


def test_first_running_sync_shows_entries_only(admin_client, directory):
    run = make_run(directory, RunStatus.RUNNING, entries_received=100)
    row = admin_client.get(reverse("synclog:syncrun_row", args=[run.pk]), **HTMX).content.decode()
    assert "100 entries received" in row and "%" not in row


def test_the_api_gives_the_same_plan_and_collisions_as_the_page(
    readonly_admin, directory, branch, connectors
):
    from rest_framework.test import APIClient

    share_connector_3(directory, branch, connectors)
    for minutes in (3, 7, 4):
        finished(branch, minutes)
    client = APIClient()
    client.force_authenticate(readonly_admin)

    answer = client.get("/api/v1/sync-plan/")

    assert answer.status_code == 200
    body = answer.json()
    placed = {
        (c["name"], d["name"]): (d["position"], d["schedule"], d["expected_seconds"], d["measured"])
        for c in body["connectors"]
        for d in c["directories"]
    }
    assert placed == {
        ("connector-1", "corp.example.com"): (1, "Once a day at 02:00 (UTC)", 300, False),
        ("connector-2", "branch.example.com"): (1, "Once a day at 02:00 (UTC)", 240, True),
        ("connector-3", "corp.example.com"): (2, "Once a day at 02:00 (UTC)", 300, False),
        ("connector-3", "branch.example.com"): (2, "Once a day at 02:00 (UTC)", 240, True),
    }
    [collision] = body["collisions"]
    assert collision["case"] == "C"
    assert collision["connectors"] == ["connector-3"]
    assert {collision["directory"]["name"], collision["other"]["name"]} == {
        "corp.example.com",
        "branch.example.com",
    }
    assert any("Put connector-3 first for" in r for r in collision["remedies"])
    assert collision["first_overlap"].endswith("Z")


def test_the_api_plan_is_empty_of_collisions_for_a_clean_configuration(
    admin_client, directory, branch
):
    daily(directory, "05:00")
    body = admin_client.get("/api/v1/sync-plan/").json()
    assert body["collisions"] == []
    assert [c["name"] for c in body["connectors"]] == ["connector-1", "connector-2", "connector-3"]


@pytest.mark.parametrize("minute", [0, 30, 59])
def test_a_collision_in_the_hour_already_begun_is_marked_on_the_timeline(
    directory, branch, connectors, minute
):
    # Both directories sync at 02:00 through connector-3; the page is opened during
    # that hour, so the timeline (from 02:00) shows that run, and it is the collision.
    import datetime as dt

    from directories.syncplan import sync_plan

    share_connector_3(directory, branch, connectors)
    now = dt.datetime(2026, 12, 7, 2, minute, tzinfo=dt.UTC)
    plan = sync_plan(now=now, zone=dt.UTC)

    [row] = [r for r in plan.timeline.rows if r.connector.name == "connector-3"]
    assert sorted((b.title.split(":")[0], b.colliding) for b in row.bars) == [
        ("branch.example.com", True),
        ("corp.example.com", True),
    ]
    assert all("02:00" in b.title and b.letters for b in row.bars)
