"""Syncs big enough to cross the writer's batch sizes: every row written, updated and
deleted once, whichever batch it falls in (5,000 rows per insert batch on SQLite, 500
values per delete statement)."""

from __future__ import annotations

import pytest
from django.db import connection

from directories.models import DirectoryGroup, DirectoryUser, GroupMembership
from directories.sync import bulk

from .conftest import PEOPLE, group, user
from .test_writer import sync

pytestmark = pytest.mark.django_db

MANY = 5_003  # one more batch than 5,000, and a few rows into it


def people(count: int, mail: str = "x") -> list[dict]:
    return [user(f"u{i}", f"user{i}", email=f"user{i}@{mail}") for i in range(count)]


def test_a_sync_past_the_batch_sizes_writes_updates_and_deletes_every_row(ldap_directory):
    everyone = people(MANY)
    members = [f"uid=user{i},{PEOPLE}" for i in range(1_200)]
    counts, _ = sync(ldap_directory, [*everyone, group("g1", "big", members)], safeguards=False)
    assert counts.users_added == MANY
    stored = DirectoryUser.objects.filter(directory=ldap_directory)
    assert stored.count() == MANY
    assert set(stored.values_list("external_id", flat=True)) == {f"u{i}" for i in range(MANY)}
    assert stored.get(external_id=f"u{MANY - 1}").email == f"user{MANY - 1}@x"
    assert GroupMembership.objects.count() == 1_200

    # Keep the last 3,500 users, change the mail of every one kept, drop the group's members.
    kept = people(MANY, mail="y")[1_503:]
    counts, _ = sync(ldap_directory, [*kept, group("g1", "big", [])], safeguards=False)
    assert (counts.users_deleted, counts.users_updated) == (1_503, MANY - 1_503)
    left = DirectoryUser.objects.filter(directory=ldap_directory)
    assert set(left.values_list("external_id", flat=True)) == {f"u{i}" for i in range(1_503, MANY)}
    assert set(left.values_list("email", flat=True)) == {f"user{i}@y" for i in range(1_503, MANY)}
    assert GroupMembership.objects.count() == 0
    assert DirectoryGroup.objects.get(directory=ldap_directory).name == "big"
    connection.check_constraints()


def test_memberships_removed_past_a_batch_are_all_gone(ldap_directory):
    everyone = people(1_200)
    members = [f"uid=user{i},{PEOPLE}" for i in range(1_200)]
    sync(ldap_directory, [*everyone, group("g1", "big", members)], safeguards=False)
    # Only every third member stays.
    counts, _ = sync(ldap_directory, [*everyone, group("g1", "big", members[::3])], False)
    assert counts.memberships_removed == 800
    stay = set(GroupMembership.objects.values_list("user__external_id", flat=True))
    assert stay == {f"u{i}" for i in range(0, 1_200, 3)}


def test_memberships_of_stored_and_new_users_are_written_by_one_sync(ldap_directory):
    sync(ldap_directory, [*people(300), group("g1", "big", [])], safeguards=False)
    # Every other user joins: half of them stored already, half added by this sync.
    members = [f"uid=user{i},{PEOPLE}" for i in range(0, 600, 2)]
    counts, _ = sync(ldap_directory, [*people(600), group("g1", "big", members)], False)
    assert (counts.users_added, counts.memberships_added) == (300, 300)
    got = set(GroupMembership.objects.values_list("user__external_id", flat=True))
    assert got == {f"u{i}" for i in range(0, 600, 2)}
    connection.check_constraints()


def test_memberships_naming_a_user_that_is_not_stored_are_refused_whole(ldap_directory):
    sync(ldap_directory, [*people(3), group("g1", "g", [])], safeguards=False)
    g = DirectoryGroup.objects.get(directory=ldap_directory).pk
    rows = [(g, "u0"), (g, "u1"), (g, "nobody")]
    with pytest.raises(LookupError, match="1 of 3 rows"):
        bulk.insert_by_external_id(
            GroupMembership._meta.db_table,
            ("group_id", "user_id"),
            DirectoryUser._meta.db_table,
            ldap_directory.pk,
            rows,
        )
    assert not GroupMembership.objects.exists()
    # The same rows without the stray one go in.
    bulk.insert_by_external_id(
        GroupMembership._meta.db_table,
        ("group_id", "user_id"),
        DirectoryUser._meta.db_table,
        ldap_directory.pk,
        rows[:2],
    )
    got = set(GroupMembership.objects.values_list("user__external_id", flat=True))
    assert got == {"u0", "u1"}


def planned_rows(table: str) -> float:
    """How many rows PostgreSQL's planner believes `table` holds (its last statistics)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [table])
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's statistics")
def test_a_table_a_sync_reshapes_has_its_statistics_taken_once_committed_and_others_not(
    ldap_directory, django_capture_on_commit_callbacks
):
    users, members = DirectoryUser._meta.db_table, GroupMembership._meta.db_table
    groups = DirectoryGroup._meta.db_table
    values = [f"uid=user{i},{PEOPLE}" for i in range(200)]

    def sync_to(n: int):
        with django_capture_on_commit_callbacks(execute=True):
            counts, _ = sync(
                ldap_directory, [*people(n), group("g1", "big", values)], safeguards=False
            )
        return counts

    # A first sync: once committed, the planner knows of every user and membership
    # written, not of empty tables; one group is fewer than 50 rows.
    with django_capture_on_commit_callbacks() as pending:
        sync(ldap_directory, [*people(600), group("g1", "big", values)], safeguards=False)
    assert planned_rows(users) <= 0
    for callback in pending:
        callback()
    assert (planned_rows(users), planned_rows(members)) == (600, 200)
    assert planned_rows(groups) <= 0
    # 110 users added to a table the planner believes holds 600: 50 + a tenth, not more.
    assert sync_to(710).users_added == 110
    assert planned_rows(users) == 600
    # 111 more: past the threshold of the table as planned (600), not as it is (710).
    assert sync_to(821).users_added == 111
    assert (planned_rows(users), planned_rows(members)) == (821, 200)
