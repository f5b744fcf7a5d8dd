"""The Sync Frequency and Notifications tabs in Chromium: every 15 minutes to weekly,
the time zone beside the time, and the addresses told about failing syncs."""

from __future__ import annotations

import pytest

from directories.models import Directory
from tests.browser.conftest import shoot


@pytest.mark.browser
def test_admin_schedules_weekly_syncs_in_a_time_zone_and_sets_who_is_told(
    console_browser, super_admin, directory
):
    from playwright.sync_api import expect

    page = console_browser(super_admin, height=900)
    page.goto(f"{page.base_url}/directories/{directory.pk}/sync-settings/frequency/")

    frequency = page.locator("#id_sync_frequency")
    options = frequency.locator("option").all_inner_texts()
    assert options[:3] == ["Manual", "Every 15 minutes", "Every hour"]
    assert "Once a week" in options
    expect(page.locator("#id_sync_time_zone")).to_have_value("UTC")
    expect(page.locator("#schedule-summary")).to_have_text("Now: Manual")

    frequency.select_option(label="Once a week")
    page.fill("#id_sync_time", "03:30")
    page.select_option("#id_sync_time_zone", "Europe/Paris")
    page.select_option("#id_sync_weekday", label="Wednesday")
    page.click("#sync-settings-form button[type=submit]")

    expect(page.locator("#schedule-summary")).to_contain_text(
        "Once a week, Wednesday at 03:30 (Europe/Paris)"
    )
    expect(page.locator("#id_sync_time_zone")).to_have_value("Europe/Paris")
    # The time zone sits beside the time it applies to.
    time_box = page.locator("#id_sync_time").bounding_box()
    zone_box = page.locator("#id_sync_time_zone").bounding_box()
    assert time_box and zone_box and 0 < zone_box["y"] - time_box["y"] < 120
    stored = Directory.objects.get(pk=directory.pk)
    assert (stored.sync_frequency, stored.sync_time_zone, stored.sync_weekday) == (
        "weekly",
        "Europe/Paris",
        3,
    )
    shoot(page, "sync-frequency")

    page.click("a.nav-link:has-text('Notifications')")
    expect(page.locator("#notification-recipients")).to_contain_text("No address to send to")
    page.fill("#id_notification_emails", "ops@example.com\nnot-an-address")
    page.click("#sync-settings-form button[type=submit]")
    expect(page.locator("#id_notification_emails-error")).to_have_text(
        "Not an e-mail address: 'not-an-address'."
    )
    page.fill("#id_notification_emails", "ops@example.com\ndba@example.com")
    page.click("#sync-settings-form button[type=submit]")
    expect(page.locator("#notification-recipients")).to_have_text(
        "E-mails now go to ops@example.com, dba@example.com."
    )
    shoot(page, "sync-notifications")
