"""A review's page in Chromium lists each member that would join or leave a group, with the
Kind filter working both with htmx and as a plain form."""

from __future__ import annotations

import pytest

from synclog.choices import ChangeAction, ChangeKind, Trigger
from synclog.models import SyncChange
from tests.browser.conftest import shoot
from tests.console.conftest import make_run

PEOPLE = "ou=people,dc=example,dc=com"


@pytest.fixture
def review(directory, directory_admin):
    run = make_run(
        directory,
        trigger=Trigger.REVIEW,
        requested_by=directory_admin,
        users_deleted=1,
        groups_updated=2,
        memberships_added=2,
        memberships_removed=2,
        message="Review: nothing was written. A sync would pass every safeguard.",
    )
    SyncChange.objects.create(
        run=run,
        kind=ChangeKind.USER,
        action=ChangeAction.DELETED,
        external_id="u4",
        name="dee",
        dn=f"uid=dee,{PEOPLE}",
    )
    for action, ext, name, dn, group, group_id, member_type in (
        (ChangeAction.ADDED, "u3", "cid", f"uid=cid,{PEOPLE}", "staff", "g1", "user"),
        (ChangeAction.ADDED, "g3", "empty", "cn=empty,ou=groups", "devs", "g2", "group"),
        (ChangeAction.DELETED, "u2", "bob", f"uid=bob,{PEOPLE}", "staff", "g1", "user"),
        (ChangeAction.DELETED, "u4", "dee", f"uid=dee,{PEOPLE}", "devs", "g2", "user"),
    ):
        SyncChange.objects.create(
            run=run,
            kind=ChangeKind.MEMBERSHIP,
            action=action,
            external_id=ext,
            name=name,
            dn=dn,
            details={"group": group, "group_id": group_id, "member_type": member_type},
        )
    return run


@pytest.mark.browser
@pytest.mark.parametrize("javascript", [True, False], ids=["htmx", "no-js"])
def test_a_review_lists_the_memberships_that_would_change(
    console_browser, directory_admin, review, javascript
):
    from playwright.sync_api import expect

    page = console_browser(directory_admin, height=1100, javascript=javascript)
    page.goto(f"{page.base_url}/sync-log/runs/{review.pk}/")
    expect(page.locator(".change-row")).to_have_count(5)

    page.select_option("#id_kind", "membership")
    if not javascript:
        page.click("#changes button[type=submit]")
    expect(page.locator(".change-row")).to_have_count(4)
    assert "kind=membership" in page.url
    rows = page.locator(".change-row")
    expect(rows.nth(0)).to_contain_text("Membership")
    expect(page.locator(".change-row", has_text="bob")).to_contain_text("leaves staff")
    expect(page.locator(".change-row", has_text="cid")).to_contain_text("joins staff")
    expect(page.locator(".change-row", has_text="empty")).to_contain_text(
        "joins devs (nested group)"
    )
    expect(page.locator("#changes-export")).to_have_attribute(
        "href", f"/sync-log/runs/{review.pk}/changes.csv?kind=membership&action="
    )
    if javascript:
        shoot(page, "review-memberships")
