"""Review, Apply and Sync without safeguards in the console (forms that work without
JavaScript), and what the run pages say of them."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from synclog.choices import ChangeAction, ChangeKind, RunStatus, Trigger
from synclog.models import SyncChange, SyncRun
from tests.console.conftest import make_run
from tests.support.sync_log_rows import run_rows

pytestmark = pytest.mark.django_db


def run_url(run: SyncRun) -> str:
    return reverse("synclog:syncrun_detail", args=[run.pk])


def change(run: SyncRun, kind: str, action: str, ext: str, name: str, **details) -> SyncChange:
    return SyncChange.objects.create(
        run=run, kind=kind, action=action, external_id=ext, name=name, details=details
    )


@pytest.fixture
def review(directory) -> SyncRun:
    """A finished review: one user would be added, one updated (email), one deleted."""
    run = make_run(
        directory,
        trigger=Trigger.REVIEW,
        users_added=1,
        users_updated=1,
        users_deleted=1,
        message="Review: nothing was written. A sync would pass every safeguard.",
    )
    change(run, ChangeKind.USER, ChangeAction.ADDED, "u3", "carol")
    change(run, ChangeKind.USER, ChangeAction.UPDATED, "u1", "ann", email=["", "ann@example.com"])
    change(run, ChangeKind.USER, ChangeAction.DELETED, "u2", "bob")
    change(run, ChangeKind.GROUP, ChangeAction.UPDATED, "g1", "staff", members_removed=1)
    return run


def test_review_on_the_directory_page_queues_a_review_and_opens_it(
    admin_client, directory, super_admin
):
    html = admin_client.get(reverse("directories:directory_detail", args=[directory.pk]))
    assert 'id="review"' in html.content.decode()

    response = admin_client.post(reverse("directories:directory_review", args=[directory.pk]))

    run = SyncRun.objects.get(directory=directory)
    assert (run.status, run.trigger, run.requested_by) == ("queued", "review", super_admin)
    assert response.status_code == 302 and response.url == run_url(run)
    page = admin_client.get(response.url).content.decode()
    assert "Review: nothing was written." in page and "Review of" in page


def test_a_review_is_labelled_review_in_the_sync_log_rows(admin_client, directory):
    synced = make_run(directory, read_mode="full")
    admin_client.post(reverse("directories:directory_review", args=[directory.pk]))
    review = SyncRun.objects.get(directory=directory, trigger=Trigger.REVIEW)
    pages = (
        reverse("synclog:syncrun_list"),
        reverse("directories:directory_sync_log", args=[directory.pk]),
    )

    for url in pages:
        rows = run_rows(admin_client.get(url).content.decode())
        assert list(rows) == [review.pk, synced.pk], url
        assert rows[review.pk]["Status"].endswith("Queued")  # after a spinner
        assert rows[review.pk]["Trigger"] == "Review"
        assert rows[synced.pk]["Trigger"] == "Sync Now"

    # As a worker leaves it: finished, read in full through connector-1.
    review.status, review.read_mode = RunStatus.COMPLETED, "full"
    review.connector_used_name = "connector-1"
    review.save()
    for url in pages:
        row = run_rows(admin_client.get(url).content.decode())[review.pk]
        assert (row["Status"], row["Trigger"], row.notes["Trigger"]) == (
            "Completed",
            "Review",
            "Full read",
        ), url


def test_a_review_while_a_sync_waits_says_so_and_queues_nothing(admin_client, directory):
    waiting = make_run(directory, RunStatus.QUEUED)
    response = admin_client.post(
        reverse("directories:directory_review", args=[directory.pk]), follow=True
    )
    assert f"A sync (run {waiting.pk}) is already waiting" in response.content.decode()
    assert SyncRun.objects.filter(directory=directory).count() == 1


def test_the_review_page_shows_old_and_new_values_and_the_apply_button(admin_client, review):
    html = admin_client.get(run_url(review)).content.decode()
    assert 'id="review-note"' in html and "Review: nothing was written." in html
    assert "Changes a sync would make" in html
    assert "email: (empty) → &#x27;ann@example.com&#x27;" in html
    assert "−1 member" in html
    assert "A sync would pass every safeguard" in html
    assert 'id="apply-review"' in html
    # The changes endpoint's filters work on a review like on a sync.
    deleted = admin_client.get(run_url(review), {"action": "deleted"}).content.decode()
    assert "bob" in deleted and "carol" not in deleted


def test_apply_starts_a_sync_linked_to_the_review(admin_client, review, super_admin):
    response = admin_client.post(
        reverse("directories:directory_apply_review", args=[review.directory_id, review.pk])
    )
    applied = SyncRun.objects.exclude(pk=review.pk).get()
    assert (applied.trigger, applied.reviewed_run, applied.requested_by) == (
        Trigger.MANUAL,
        review,
        super_admin,
    )
    assert response.url == run_url(applied)
    assert f'applies <a href="{run_url(review)}">review {review.pk}</a>' in (
        admin_client.get(run_url(applied)).content.decode()
    )


def applied_run(review: SyncRun, **counts) -> SyncRun:
    run = make_run(
        review.directory,
        reviewed_run=review,
        **{"users_added": 1, "users_updated": 1, "users_deleted": 1, **counts},
    )
    for c in review.changes.all():
        SyncChange.objects.create(
            run=run,
            kind=c.kind,
            action=c.action,
            external_id=c.external_id,
            name=c.name,
            details=c.details,
        )
    return run


def test_an_applied_review_that_found_the_same_says_so(admin_client, review):
    html = admin_client.get(run_url(applied_run(review))).content.decode()
    assert 'id="review-same"' in html and 'id="review-changed"' not in html
    assert "Reviewed and applied" in html


def test_an_applied_review_after_a_change_in_between_says_so_beside_the_reviewed_counts(
    admin_client, review
):
    run = applied_run(review, users_added=2)
    change(run, ChangeKind.USER, ChangeAction.ADDED, "u4", "dave")

    html = admin_client.get(run_url(run)).content.decode()

    assert 'id="review-changed"' in html
    assert "The directory changed between" in html
    assert "1 change made that the review did not list, 0 listed changes not made" in html
    table = html[html.index('class="table table-compact console-table review-comparison"') :]
    assert '<tr class="differs"><td class="left">Users added</td><td>1</td><td>2</td></tr>' in table


def test_a_review_that_a_safeguard_would_stop_offers_apply_without_safeguards(admin_client, review):
    review.safeguard_violations = ["Users deleted: 1 of 2 (50%), limit 10%"]
    review.save()
    html = admin_client.get(run_url(review)).content.decode()
    assert 'id="apply-review"' not in html
    assert 'id="apply-without-safeguards"' in html
    assert "A sync would be stopped: Users deleted: 1 of 2 (50%), limit 10%" in html


@pytest.fixture
def stopped(directory) -> SyncRun:
    return make_run(
        directory,
        RunStatus.SAFEGUARD,
        safeguard_violations=[
            "Users deleted: 189 of 200 (94.5%), limit 10%",
            "Members removed from group admins: 3 of 4 (75%), limit 10%",
        ],
        message="Stopped by safeguard: ...",
    )


def test_a_safeguard_stop_names_each_threshold_and_leads_to_the_confirm_step(admin_client, stopped):
    html = admin_client.get(run_url(stopped)).content.decode()
    stop = html[html.index('id="safeguard-stop"') :]
    assert "<li>Users deleted: 189 of 200 (94.5%), limit 10%</li>" in stop
    assert "<li>Members removed from group admins: 3 of 4 (75%), limit 10%</li>" in stop
    confirm = reverse("directories:directory_sync_without_safeguards", args=[stopped.directory_id])
    assert f'href="{confirm}"' in stop

    page = admin_client.get(confirm).content.decode()
    assert "Sync corp.example.com without safeguards?" in page
    assert "Users deleted: 189 of 200 (94.5%), limit 10%" in page
    assert SyncRun.objects.count() == 1  # opening the confirm step starts nothing


def test_confirming_starts_one_sync_that_ignores_the_safeguards_and_records_who(
    admin_client, stopped, super_admin
):
    url = reverse("directories:directory_sync_without_safeguards", args=[stopped.directory_id])
    response = admin_client.post(url)
    run = SyncRun.objects.exclude(pk=stopped.pk).get()
    assert (run.ignore_safeguards, run.safeguards_ignored_by, run.trigger) == (
        True,
        super_admin,
        Trigger.MANUAL,
    )
    assert response.url == run_url(run)
    run.status, run.safeguard_violations = RunStatus.COMPLETED, stopped.safeguard_violations
    run.save()
    html = admin_client.get(run_url(run)).content.decode()
    assert f"Ignored once</span> asked by {super_admin.username}" in html
    assert "it went past: Users deleted: 189 of 200 (94.5%), limit 10%" in html


def test_readonly_admin_can_neither_review_nor_sync_without_safeguards(
    readonly_client, directory, review
):
    for url in (
        reverse("directories:directory_review", args=[directory.pk]),
        reverse("directories:directory_sync_without_safeguards", args=[directory.pk]),
        reverse("directories:directory_apply_review", args=[directory.pk, review.pk]),
    ):
        assert readonly_client.post(url).status_code == 403, url
    assert SyncRun.objects.count() == 1
    html = readonly_client.get(run_url(review)).content.decode()
    assert 'id="apply-review"' not in html


def test_reviews_leave_the_last_sync_in_the_directory_list_alone(admin_client, directory):
    synced = make_run(directory, RunStatus.FAILED)
    make_run(directory, trigger=Trigger.REVIEW)
    html = admin_client.get(reverse("directories:directory_list")).content.decode()
    assert f'href="{run_url(synced)}"' in html and "Failed" in html


def test_the_safeguards_tab_takes_four_thresholds_each_blank_to_disable(admin_client, directory):
    url = reverse("directories:directory_sync_settings", args=[directory.pk, "safeguards"])
    html = admin_client.get(url).content.decode()
    for label in (
        "Users updated at most (%)",
        "Users deleted at most (%)",
        "Groups deleted at most (%)",
        "Members removed from a group at most (%)",
    ):
        assert label in html, label
    admin_client.post(
        url,
        {
            "safeguard_users_updated_percent": "",
            "safeguard_users_deleted_percent": "",
            "safeguard_groups_deleted_percent": "",
            "safeguard_members_removed_percent": "",
        },
    )
    directory.refresh_from_db()
    assert directory.safeguard_users_deleted_percent is None
    assert directory.safeguard_members_removed_percent is None


def test_change_details_survive_a_round_trip_through_json(review):
    updated = review.changes.get(action="updated", kind="user")
    assert json.loads(json.dumps(updated.details)) == {"email": ["", "ann@example.com"]}
    assert updated.detail_lines == ["email: (empty) → 'ann@example.com'"]
