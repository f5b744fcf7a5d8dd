"""Times in the admin's own zone and the Sync Log chart, seen in Chromium."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from synclog.choices import AttemptOutcome, RunStatus
from synclog.models import SyncAttempt
from tests.browser.conftest import shoot
from tests.console.conftest import make_run

# 17:03:00 UTC on 10 March 2026 is 13:03:00 EDT in New York.
FINISHED = datetime(2026, 3, 10, 17, 3, 0, tzinfo=UTC)


@pytest.mark.browser
def test_admin_picks_new_york_and_sees_runs_in_new_york_time(
    console_browser, directory_admin, directory, connectors
):
    from playwright.sync_api import expect

    run = make_run(
        directory,
        created=FINISHED - timedelta(minutes=2),
        started_at=FINISHED - timedelta(seconds=75),
        finished_at=FINISHED,
        users_added=3,
        connector_used=connectors[0],
        connector_used_name=connectors[0].name,
    )
    SyncAttempt.objects.create(
        run=run,
        position=1,
        connector=connectors[0],
        connector_name=connectors[0].name,
        outcome=AttemptOutcome.SUCCEEDED,
        started_at=FINISHED - timedelta(seconds=74),
        finished_at=FINISHED,
    )
    # Without JavaScript: the Profile page is a plain form.
    page = console_browser(directory_admin, javascript=False)
    page.goto(f"{page.base_url}/directories/")
    page.click("details.user-menu > summary")
    page.click("#user-menu-profile")
    expect(page.locator("h2")).to_have_text("Profile")
    page.select_option("#id_time_zone", "America/New_York")
    page.click("#profile-form button[type=submit]")
    expect(page.locator("text=Times are now shown in America/New_York.")).to_be_visible()
    directory_admin.refresh_from_db()
    assert directory_admin.time_zone == "America/New_York"
    shoot(page, "profile-time-zone")

    page.goto(f"{page.base_url}/directories/{directory.pk}/sync-log/")
    started = page.locator(f"#run-{run.pk} time").first
    expect(started).to_have_text("2026-03-10 13:01:45 EDT")
    expect(started).to_have_attribute("datetime", "2026-03-10T17:01:45Z")
    expect(started).to_have_attribute(
        "title", "Tuesday 10 March 2026, 13:01:45 EDT (America/New_York, UTC−04:00)"
    )
    expect(page.locator(f"#run-{run.pk} .time-relative")).to_contain_text("ago")

    page.goto(f"{page.base_url}{run.get_absolute_url()}")
    finished = page.locator("#run-summary tr", has_text="Finished").locator("time")
    expect(finished).to_have_text("2026-03-10 13:03:00 EDT")
    expect(finished).to_have_attribute("datetime", "2026-03-10T17:03:00Z")
    # Connectors tried › Started has the date too.
    expect(page.locator("#attempts tbody time")).to_have_text("2026-03-10 13:01:46 EDT")
    shoot(page, "time-zones")


@pytest.mark.browser
def test_sync_log_chart_shows_the_last_runs_and_opens_a_run(
    console_browser, directory_admin, directory
):
    from playwright.sync_api import expect

    base = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    pattern = [
        (RunStatus.COMPLETED, 42, 40),
        (RunStatus.COMPLETED, 38, 3),
        (RunStatus.FAILED, 4, 0),
        (RunStatus.COMPLETED, 95, 180),
        (RunStatus.SAFEGUARD, 20, 0),
        (RunStatus.COMPLETED, 31, 12),
    ]
    runs = []
    for n in range(32):
        status, seconds, changes = pattern[n % len(pattern)]
        start = base + timedelta(hours=6 * n)
        runs.append(
            make_run(
                directory,
                status,
                created=start,
                started_at=start,
                finished_at=start + timedelta(seconds=seconds + n),
                users_updated=changes,
            )
        )
    make_run(directory, RunStatus.RUNNING, created=base + timedelta(days=9))

    page = console_browser(directory_admin, width=1280, height=900)
    page.goto(f"{page.base_url}/directories/{directory.pk}/sync-log/")
    chart = page.locator("svg.run-chart")
    expect(chart).to_be_visible()
    expect(chart).to_have_attribute("role", "img")
    expect(chart.locator("rect.run-chart-bar")).to_have_count(30)
    expect(chart.locator("rect.bar-failed")).to_have_count(5)
    expect(chart.locator("text.mark-safeguard")).to_have_count(5)
    shoot(page, "sync-log-chart")

    # The newest bar (rightmost) opens the newest finished run.
    page.locator("a.run-chart-link").last.click()
    expect(page).to_have_url(f"{page.base_url}{runs[-1].get_absolute_url()}")
