"""Review and the safeguard stop in Chromium: the run pages, Apply, and the confirm step of
Sync without safeguards, with JavaScript off (plain form posts)."""

from __future__ import annotations

import pytest

from synclog.choices import AttemptOutcome, ChangeAction, ChangeKind, RunStatus, Trigger
from synclog.models import SyncAttempt, SyncChange, SyncRun
from tests.browser.conftest import shoot
from tests.console.conftest import make_run


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """The runs these pages queue are looked at, not run: nothing goes to a broker."""
    from directories.tasks import sync_directory

    monkeypatch.setattr(sync_directory, "apply_async", lambda *args, **kwargs: None)


def attempt(run: SyncRun, connector) -> None:
    SyncAttempt.objects.create(
        run=run,
        position=1,
        connector=connector,
        connector_name=connector.name,
        outcome=AttemptOutcome.SUCCEEDED,
        entries_received=26,
    )


@pytest.mark.browser
def test_the_review_page_lists_what_a_sync_would_do_and_apply_starts_one(
    console_browser, directory_admin, directory, connectors
):
    from playwright.sync_api import expect

    review = make_run(
        directory,
        trigger=Trigger.REVIEW,
        requested_by=directory_admin,
        connector_used=connectors[0],
        connector_used_name=connectors[0].name,
        connector_snapshot=[{"id": connectors[0].pk, "name": connectors[0].name, "position": 1}],
        entries_received=26,
        users_added=1,
        users_updated=2,
        users_deleted=1,
        groups_updated=1,
        memberships_added=1,
        memberships_removed=2,
        message="Review: nothing was written. A sync would pass every safeguard.",
    )
    attempt(review, connectors[0])
    for kind, action, ext, name, details in (
        (ChangeKind.USER, ChangeAction.ADDED, "u9", "newcomer", {}),
        (ChangeKind.USER, ChangeAction.UPDATED, "u1", "ann", {"email": ["", "ann@example.com"]}),
        (ChangeKind.USER, ChangeAction.UPDATED, "u2", "bob", {"last_name": ["Smith", "Jones"]}),
        (ChangeKind.USER, ChangeAction.DELETED, "u3", "carol", {}),
        (
            ChangeKind.GROUP,
            ChangeAction.UPDATED,
            "g1",
            "staff",
            {"members_added": 1, "members_removed": 2},
        ),
    ):
        SyncChange.objects.create(
            run=review,
            kind=kind,
            action=action,
            external_id=ext,
            name=name,
            dn=f"uid={name},ou=people,dc=example,dc=com",
            details=details,
        )

    page = console_browser(directory_admin, height=1500, javascript=False)
    page.goto(f"{page.base_url}/directories/{directory.pk}/")
    expect(page.locator("#review")).to_be_visible()
    expect(page.locator("#sync-without-safeguards")).to_be_visible()
    shoot(page, "review-button")
    page.goto(f"{page.base_url}/sync-log/runs/{review.pk}/")
    expect(page.locator("h2")).to_have_text("Review of corp.example.com")
    expect(page.locator("#review-note")).to_contain_text("Review: nothing was written.")
    expect(page.locator("#run-safeguards")).to_have_text("A sync would pass every safeguard")
    expect(page.locator("text=last name: 'Smith' → 'Jones'")).to_be_visible()
    shoot(page, "review")

    page.click("#apply-review")
    applied = SyncRun.objects.exclude(pk=review.pk).get()
    assert applied.reviewed_run_id == review.pk and applied.trigger == Trigger.MANUAL
    expect(page.locator("h2")).to_have_text("Sync of corp.example.com")
    expect(page.locator("text=applies review")).to_be_visible()


@pytest.mark.browser
def test_a_safeguard_stop_leads_to_a_confirmed_sync_without_safeguards(
    console_browser, super_admin, directory, connectors
):
    from playwright.sync_api import expect

    stopped = make_run(
        directory,
        RunStatus.SAFEGUARD,
        connector_used=connectors[0],
        connector_used_name=connectors[0].name,
        entries_received=4,
        safeguard_violations=[
            "Users deleted: 189 of 200 (94.5%), limit 10%",
            "Users deleted (zero-result guard): 189 of 200 (94.5%), more than half",
            "Members removed from group admins: 3 of 4 (75%), limit 10%",
        ],
        message="Stopped by safeguard: Users deleted: 189 of 200 (94.5%), limit 10%; ...",
    )
    attempt(stopped, connectors[0])

    page = console_browser(super_admin, height=1000, javascript=False)
    page.goto(f"{page.base_url}/sync-log/runs/{stopped.pk}/")
    stop = page.locator("#safeguard-stop")
    expect(stop).to_contain_text("Stopped by safeguard; nothing was written.")
    expect(stop.locator("li")).to_have_count(3)
    expect(stop).to_contain_text("Members removed from group admins: 3 of 4 (75%), limit 10%")
    shoot(page, "safeguard-stop")

    page.click("#sync-without-safeguards-run")
    expect(page.locator("h2")).to_have_text("Sync corp.example.com without safeguards?")
    expect(page.locator("#last-stop")).to_contain_text("Users deleted: 189 of 200 (94.5%)")
    assert SyncRun.objects.count() == 1
    shoot(page, "safeguard-confirm")

    page.click("#confirm-sync-without-safeguards")
    forced = SyncRun.objects.exclude(pk=stopped.pk).get()
    assert (forced.ignore_safeguards, forced.safeguards_ignored_by) == (True, super_admin)
    expect(page.locator("#run-safeguards")).to_contain_text(
        f"Ignored once asked by {super_admin.username}"
    )
