"""The Sync plan page in Chromium, without JavaScript: the table, the timeline and its marks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from directories.services import create_directory, save_sync_connectors, update_directory
from tests.browser.conftest import shoot
from tests.console.conftest import make_run


@pytest.mark.browser
def test_read_only_admin_reads_the_sync_plan_and_its_collisions_without_javascript(
    console_browser, readonly_admin, directory, connectors
):
    from playwright.sync_api import expect

    update_directory(directory, {"sync_frequency": "daily", "sync_time": "02:00"})
    branch = create_directory(
        name="branch.example.com",
        type="ldap",
        sync_connector=connectors[0],
        host="10.0.0.2",
        base_dn="dc=branch",
        bind_dn="cn=admin,dc=branch",
        sync_frequency="daily",
        sync_time="02:00",
        sync_time_zone="UTC",
    )
    save_sync_connectors(
        branch,
        [connectors[0].pk, connectors[2].pk],
        expected_version=branch.sync_connectors_version,
    )
    create_directory(
        name="hr.example.com",
        type="ldap",
        sync_connector=connectors[1],
        host="10.0.0.3",
        base_dn="dc=hr",
        bind_dn="cn=admin,dc=hr",
        sync_frequency="6h",
        sync_time="03:00",
        sync_time_zone="Europe/Paris",
    )
    end = timezone.now() - timedelta(hours=2)
    make_run(branch, started_at=end - timedelta(minutes=25), finished_at=end)

    page = console_browser(readonly_admin, javascript=False, width=1280, height=900)
    blocked: list[str] = []
    # The page adds nothing the policy refuses (the vendor CSS's data: fonts are not ours).
    page.on(
        "console",
        lambda m: (
            blocked.append(m.text) if "style-src" in m.text or "script-src" in m.text else None
        ),
    )
    page.goto(f"{page.base_url}/connectors/")
    page.click("#sync-plan-link")
    expect(page.locator("h2")).to_have_text("Sync plan")

    timeline = page.locator("#sync-plan-timeline")
    expect(timeline).to_be_visible()
    expect(timeline).to_have_attribute("role", "img")
    label = timeline.get_attribute("aria-label") or ""
    assert "next 24 hours" in label and "3 connectors" in label and "in a collision" in label
    rows = timeline.locator("g.plan-row")
    expect(rows).to_have_count(3)
    first = timeline.locator("g.plan-row[data-connector='connector-1'] g.plan-bar-collision")
    expect(first).to_have_count(2)
    assert first.first.locator("text.plan-bar-letter").text_content() == "A"
    titles = timeline.locator("g.plan-row[data-connector='connector-1'] title").all_text_contents()
    assert any(
        "branch.example.com: 02:00–02:25, connector-1 is its first choice" in t for t in titles
    )
    # hr.example.com every 6 hours from 03:00 Paris: four runs, none in a collision.
    hr = timeline.locator("g.plan-row[data-connector='connector-2'] g.plan-bar")
    expect(hr).to_have_count(4)
    expect(
        timeline.locator("g.plan-row[data-connector='connector-2'] .plan-bar-collision")
    ).to_have_count(0)
    # The collision's bar is coloured, unlike a clean one.
    red = first.first.locator("rect").first.evaluate("r => getComputedStyle(r).fill")
    blue = hr.first.locator("rect").first.evaluate("r => getComputedStyle(r).fill")
    assert red != blue

    row = page.locator(
        "tr.plan-use[data-connector='connector-1'][data-directory='corp.example.com']"
    )
    expect(row).to_contain_text("Case A")
    expect(row).to_contain_text("With branch.example.com")
    branch_row = page.locator(
        "tr.plan-use[data-connector='connector-1'][data-directory='branch.example.com']"
    )
    expect(branch_row).to_contain_text("about 25 min 0 s")
    expect(page.locator("tr.plan-use[data-connector='connector-3']")).to_contain_text(
        "2 (fallback)"
    )
    shoot(page, "sync-plan")
    assert blocked == []
