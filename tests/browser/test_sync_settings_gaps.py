"""Sync Settings in Chromium where no browser test looked yet: the Safeguards tab kept
across a reload and refusing a bad threshold, the collision warnings of the Sync Connectors
and Sync Frequency tabs (before Save, with the source's remedies, gone once applied), and a
running sync's percentage and estimated end."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from directories.failover import sync_connector_list
from directories.models import Directory
from directories.services import update_directory
from synclog.choices import AttemptOutcome, RunStatus
from synclog.models import SyncAttempt
from tests.browser.conftest import shoot
from tests.console.conftest import daily_branch, make_run

THRESHOLDS = (
    "safeguard_users_updated_percent",
    "safeguard_users_deleted_percent",
    "safeguard_groups_deleted_percent",
    "safeguard_members_removed_percent",
)


def thresholds(directory: Directory) -> tuple:
    stored = Directory.objects.get(pk=directory.pk)
    return tuple(getattr(stored, name) for name in THRESHOLDS)


def shown_thresholds(page) -> list[str]:
    return [page.input_value(f"#id_{name}") for name in THRESHOLDS]


@pytest.mark.browser
def test_the_safeguards_tab_keeps_a_changed_and_a_blanked_threshold_and_refuses_a_bad_one(
    console_browser, directory_admin, directory
):
    from playwright.sync_api import expect

    url = reverse("directories:directory_sync_settings", args=[directory.pk, "safeguards"])
    page = console_browser(directory_admin, height=900)
    page.goto(page.base_url + url)
    expect(page.locator("h3")).to_have_text("Safeguards")
    expect(page.locator("#safeguards-lead")).to_contain_text("leave a threshold blank to disable")
    assert shown_thresholds(page) == ["10", "10", "10", "10"]

    # Users deleted up to 25%; members removed from a group: no limit.
    page.fill("#id_safeguard_users_deleted_percent", "25")
    page.fill("#id_safeguard_members_removed_percent", "")
    page.click("#sync-settings-form button[type=submit]")
    expect(page.get_by_text("Safeguards saved.")).to_be_visible()
    page.reload()
    assert shown_thresholds(page) == ["10", "25", "10", ""]
    assert thresholds(directory) == (10, 25, 10, None)

    # Out of range: each field says why under it, and nothing is stored.
    page.fill("#id_safeguard_groups_deleted_percent", "150")
    page.fill("#id_safeguard_users_updated_percent", "-1")
    page.fill("#id_safeguard_users_deleted_percent", "30")
    page.click("#sync-settings-form button[type=submit]")
    expect(page.locator("#id_safeguard_groups_deleted_percent-error")).to_have_text(
        "Ensure this value is less than or equal to 100."
    )
    expect(page.locator("#id_safeguard_users_updated_percent-error")).to_contain_text(
        "Ensure this value is greater than or equal to"
    )
    expect(page.locator("#id_safeguard_users_deleted_percent-error")).to_have_count(0)
    expect(page.get_by_text("Safeguards saved.")).to_have_count(0)
    assert thresholds(directory) == (10, 25, 10, None)
    shoot(page, "safeguards-tab")

    # Leaving the refused edit (the page asks first) shows the stored values again.
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(page.base_url + url)
    assert shown_thresholds(page) == ["10", "25", "10", ""]


def warning_text(page) -> str:
    return re.sub(r"\s+", " ", page.locator("#schedule-collisions").inner_text()).strip()


@pytest.mark.browser
def test_collision_warnings_name_the_pair_and_the_remedies_before_save_and_go_once_applied(
    console_browser, super_admin, directory, connectors
):
    from playwright.sync_api import expect

    directory.identity_provider.connectors.add(*connectors)
    update_directory(directory, {"sync_frequency": "daily", "sync_time": "02:00"})
    daily_branch(connectors[1])
    remedies = [
        "Move corp.example.com's daily sync from 02:00 to 02:15 "
        "(UTC; no finished sync yet, so about 5 minutes is assumed).",
        "Put connector-1 first for corp.example.com.",
        "Use connector-3 for corp.example.com instead of connector-2.",
    ]
    page = console_browser(super_admin, height=900)
    page.goto(page.base_url + reverse("directories:directory_sync_connectors", args=[directory.pk]))
    names = page.locator("#sync-connectors-list .connector-name")
    expect(names).to_have_text(["connector-1"])
    # Only connector-1 syncs corp.example.com: no connector is shared at 02:00.
    expect(page.locator("#schedule-collisions")).to_have_count(0)

    page.select_option("#id_add_connector", label="connector-2 (connector-2.example.com)")
    page.click("#add-sync-connector")
    expect(names).to_have_text(["connector-1", "connector-2"])
    expect(page.locator("#schedule-collisions")).to_have_count(0)  # a fallback, not first
    page.click("button[aria-label='Move connector-2 up']")
    expect(names).to_have_text(["connector-2", "connector-1"])

    # Before Save: the warning is about the list on screen.
    warning = page.locator("#schedule-collisions")
    expect(warning).to_be_visible()
    expect(page.locator("#unsaved-note")).to_be_visible()
    assert [c.name for c in sync_connector_list(directory)] == ["connector-1"]
    collision = warning.locator("li.collision")
    expect(collision).to_have_count(1)
    expect(collision).to_have_attribute("data-other", "branch.example.com")
    assert (
        "Case A: branch.example.com (Once a day at 02:00 (UTC)) has the same first connector "
        "(connector-2); their syncs would run together" in warning_text(page)
    )
    expect(collision.locator(".collision-remedies li")).to_have_text(remedies)
    shoot(page, "collision-warning-sync-connectors")

    page.click("#save-sync-connectors")
    expect(page.locator("#sync-connectors-notice")).to_contain_text("saved")
    expect(page.locator("#schedule-collisions li.collision")).to_have_count(1)
    assert [c.name for c in sync_connector_list(directory)] == ["connector-2", "connector-1"]

    page.click("a.nav-link:has-text('Sync Frequency')")
    expect(page.locator("h3")).to_have_text("Sync Frequency")
    collision = page.locator("#schedule-collisions li.collision")
    expect(collision).to_have_count(1)
    expect(collision).to_have_attribute("data-kind", "same-first")
    assert "has the same first connector (connector-2)" in warning_text(page)
    expect(collision.locator(".collision-remedies li")).to_have_text(remedies)
    expect(page.locator("#schedule-collisions a", has_text="Open the sync plan")).to_have_count(1)
    shoot(page, "collision-warning-sync-frequency")

    # The first remedy, applied: a clean configuration, and neither tab warns.
    page.fill("#id_sync_time", "02:15")
    page.click("#sync-settings-form button[type=submit]")
    expect(page.locator("#schedule-summary")).to_contain_text("Once a day at 02:15 (UTC)")
    expect(page.locator("#schedule-collisions")).to_have_count(0)
    page.click("#sync-connectors-tab")
    expect(names).to_have_text(["connector-2", "connector-1"])
    expect(page.locator("#schedule-collisions")).to_have_count(0)


def shown_end_between(text: str, zone: zoneinfo.ZoneInfo, low: dt.datetime, high: dt.datetime):
    """Whether the "ends about HH:MM:SS" of a progress line, a time of day in `zone`, is a
    moment from `low` to `high`."""
    match = re.search(r"ends about (\d\d):(\d\d):(\d\d)", text)
    assert match, text
    shown = dt.time(*(int(g) for g in match.groups()))
    days = {low.astimezone(zone).date(), high.astimezone(zone).date()}
    return any(low <= dt.datetime.combine(day, shown, tzinfo=zone) <= high for day in days)


@pytest.mark.browser
def test_a_running_sync_shows_its_percentage_and_estimated_end_on_its_page_and_the_sync_log(
    console_browser, super_admin, directory, connectors
):
    from playwright.sync_api import expect

    super_admin.time_zone = "Asia/Kolkata"  # the estimate is read in the admin's zone
    super_admin.save()
    zone = zoneinfo.ZoneInfo(super_admin.time_zone)
    # The last completed sync read 400 entries; this one has read 100 in its first minute,
    # so it ends about four minutes after it started (three from now).
    end = timezone.now() - timedelta(hours=1)
    make_run(
        directory,
        created=end - timedelta(minutes=10),
        started_at=end - timedelta(minutes=10),
        finished_at=end,
        entries_received=400,
    )
    started = timezone.now() - timedelta(minutes=1)
    run = make_run(
        directory,
        RunStatus.RUNNING,
        entries_received=100,
        created=started - timedelta(seconds=2),
        started_at=started,
    )
    SyncAttempt.objects.create(
        run=run,
        position=1,
        connector=connectors[0],
        connector_name=connectors[0].name,
        outcome=AttemptOutcome.RUNNING,
        started_at=started,
    )

    def expected_ends(since: dt.datetime, until: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        # The pace so far, read at some moment between `since` and `until` (whole seconds).
        return (
            started + (since - started) * 4 - timedelta(seconds=1),
            started + (until - started) * 4 + timedelta(seconds=1),
        )

    page = console_browser(super_admin, height=900)
    since = timezone.now()
    page.goto(page.base_url + run.get_absolute_url())
    estimate = page.locator(".run-estimate")
    expect(estimate).to_have_text(
        re.compile(r"^25% of the last sync's 400, ends about \d\d:\d\d:\d\d$")
    )
    text = estimate.inner_text()
    low, high = expected_ends(since, timezone.now())
    assert shown_end_between(text, zone, low, high), (text, low, high)
    status = page.locator("tr", has=page.locator("th", has_text="Status")).locator("td")
    expect(status).to_contain_text("Running")
    expect(status).to_contain_text("100 entries received · 25% of the last sync's 400")
    expect(status).to_contain_text("via connector-1")
    shoot(page, "live-progress")

    # The directory's Sync Log: the run's row, kept up to date while it runs.
    since = timezone.now()
    page.goto(page.base_url + reverse("directories:directory_sync_log", args=[directory.pk]))
    row = page.locator(f"#run-{run.pk}")
    expect(row.locator(".run-progress")).to_contain_text(
        "100 entries received · 25% of the last sync's 400, ends about"
    )
    expect(row.locator(".run-progress")).to_contain_text("via connector-1")
    text = row.locator(".run-estimate").inner_text()
    low, high = expected_ends(since, timezone.now())
    assert shown_end_between(text, zone, low, high), (text, low, high)
