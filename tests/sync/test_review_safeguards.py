"""Review and the zero-result guard against a real slapd, agents and a Celery worker."""

from __future__ import annotations

import pytest

from directories.models import (
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    GroupNesting,
    SkippedEntry,
)
from directories.tasks import start_sync
from synclog.choices import RunStatus, Trigger
from synclog.models import SyncAttempt, SyncChange, SyncRun, SyncWarning
from synclog.queries import review_comparison

from .conftest import assert_db_equals_ldap, sync, wait_for_run

pytestmark = [pytest.mark.ldap, pytest.mark.slow]

NO_THRESHOLDS = {
    "safeguard_users_updated_percent": None,
    "safeguard_users_deleted_percent": None,
    "safeguard_groups_deleted_percent": None,
    "safeguard_members_removed_percent": None,
}


def every_table() -> dict[str, list[dict]]:
    """Every row of every table a sync writes, each column's value (a group's member values
    and their digest included): what a review or a stopped sync must leave as it was."""
    return {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (DirectoryUser, DirectoryGroup, GroupMembership, GroupNesting, SkippedEntry)
    }


def start(directory, trigger=Trigger.MANUAL, **kwargs) -> SyncRun:
    run, created = start_sync(directory, trigger, **kwargs)
    assert created
    return wait_for_run(run)


def listed(run: SyncRun) -> set[tuple]:
    return {
        (c.kind, c.action, c.external_id, c.name, c.dn, str(sorted(c.details.items())))
        for c in run.changes.all()
    }


def test_a_review_writes_nothing_and_the_applied_sync_does_what_it_listed(
    worker, directory_with_list, ldap_server
):
    directory = directory_with_list
    for name, value in NO_THRESHOLDS.items():
        setattr(directory, name, value)
    directory.save()
    assert sync(directory).status == RunStatus.COMPLETED
    s = ldap_server
    s.delete_user("user5")
    s.modify_user("user8", mail="user8@new.example.com")
    s.delete_group("group3")
    newcomer = s.add_user("newcomer")
    s.add_members(f"cn=group0,{s.groups_dn}", [newcomer])
    # Nesting both ways: group1 leaves group0, group2 joins group4; group2 loses a user.
    s.remove_members(f"cn=group0,{s.groups_dn}", [f"cn=group1,{s.groups_dn}"])
    s.add_members(f"cn=group4,{s.groups_dn}", [f"cn=group2,{s.groups_dn}"])
    s.remove_members(f"cn=group2,{s.groups_dn}", [f"uid=user40,{s.people_dn}"])
    before = every_table()

    review = start(directory, Trigger.REVIEW)

    assert review.status == RunStatus.COMPLETED, review.message
    assert review.trigger == Trigger.REVIEW and review.connector_used_name == "connector-1"
    assert review.message.startswith("Review: nothing was written.")
    assert every_table() == before
    assert (review.users_added, review.users_updated, review.users_deleted) == (1, 1, 1)
    assert review.groups_deleted == 1
    nesting = {
        (c.action, c.name, c.details["group"])
        for c in review.changes.filter(kind="membership", details__member_type="group")
    }
    assert nesting == {("deleted", "group1", "group0"), ("added", "group2", "group4")}
    user8 = review.changes.get(kind="user", action="updated")
    assert user8.details["email"][1] == "user8@new.example.com"

    applied = start(directory, reviewed_run=review)

    assert applied.status == RunStatus.COMPLETED, applied.message
    assert applied.counts == review.counts
    assert listed(applied) == listed(review)
    comparison = review_comparison(applied)
    assert comparison is not None and not comparison.changed
    assert_db_equals_ldap(directory, s)
    after = every_table()
    assert [name for name in before if after[name] == before[name]] == ["SkippedEntry"]


def test_apply_after_a_change_in_between_says_the_directory_changed(
    worker, directory_with_list, ldap_server
):
    directory = directory_with_list
    assert sync(directory).status == RunStatus.COMPLETED
    s = ldap_server
    s.modify_user("user8", mail="user8@new.example.com")
    review = start(directory, Trigger.REVIEW)
    assert review.users_updated == 1

    s.add_user("late-arrival")  # after the review, before the apply
    applied = start(directory, reviewed_run=review)

    comparison = review_comparison(applied)
    assert comparison.changed
    assert (comparison.only_applied, comparison.only_reviewed) == (1, 0)
    assert ("Users added", 0, 1) in comparison.rows


def test_the_zero_result_guard_stops_an_emptied_base_dn_with_every_threshold_blank_until_ignored_once(  # noqa: E501
    worker, directory_with_list, ldap_server, super_admin
):
    directory = directory_with_list
    for name, value in NO_THRESHOLDS.items():
        setattr(directory, name, value)
    directory.save()
    assert sync(directory).status == RunStatus.COMPLETED
    # The user and group DNs now point at an OU with nothing in it (a misconfiguration).
    s = ldap_server
    empty = f"ou=empty,{s.suffix}"
    s.connect().add_s(empty, [("objectClass", [b"organizationalUnit"]), ("ou", [b"empty"])])
    directory.user_dns = [empty]
    directory.group_dns = [empty]
    directory.save()
    stored = DirectoryUser.objects.filter(directory=directory).count()
    tables = (SyncChange, SyncWarning)
    before = every_table()
    rows_before = {m.__name__: m.objects.count() for m in tables}

    stopped = sync(directory)

    assert stopped.status == RunStatus.SAFEGUARD
    assert stopped.safeguard_violations == [
        f"Users deleted (zero-result guard): {stored} of {stored} (100%), more than half"
    ]
    assert every_table() == before
    assert {m.__name__: m.objects.count() for m in tables} == rows_before
    assert SyncAttempt.objects.filter(run=stopped, outcome="succeeded").count() == 1

    forced = start(directory, user=super_admin, ignore_safeguards=True)

    assert forced.status == RunStatus.COMPLETED, forced.message
    assert (forced.ignore_safeguards, forced.safeguards_ignored_by) == (True, super_admin)
    assert forced.users_deleted == stored
    assert not DirectoryUser.objects.filter(directory=directory).exists()

    # Guarded again: back to the real DNs (all added), then emptied once more.
    directory.user_dns, directory.group_dns = [s.people_dn], [s.groups_dn]
    directory.save()
    assert sync(directory).status == RunStatus.COMPLETED
    directory.user_dns = [empty]
    directory.save()
    again = sync(directory)
    assert again.status == RunStatus.SAFEGUARD and not again.ignore_safeguards


def test_more_than_half_deleted_trips_the_zero_result_guard(
    worker, directory_with_list, ldap_server
):
    directory = directory_with_list
    for name, value in NO_THRESHOLDS.items():
        setattr(directory, name, value)
    directory.save()
    assert sync(directory).status == RunStatus.COMPLETED
    for n in range(61):  # 61 of 120
        ldap_server.delete_user(f"user{n}")

    stopped = sync(directory)

    assert stopped.status == RunStatus.SAFEGUARD
    assert stopped.safeguard_violations == [
        "Users deleted (zero-result guard): 61 of 120 (50.8%), more than half"
    ]
    assert DirectoryUser.objects.filter(directory=directory).count() == 120


def test_the_first_sync_is_not_guarded(worker, directory_with_list, ldap_server):
    directory = directory_with_list
    for name in NO_THRESHOLDS:
        setattr(directory, name, 1)
    directory.save()
    review = start(directory, Trigger.REVIEW)
    assert review.first_sync and review.safeguard_violations == []

    first = sync(directory)

    assert first.first_sync and first.status == RunStatus.COMPLETED, first.message
    assert first.users_added == 120
