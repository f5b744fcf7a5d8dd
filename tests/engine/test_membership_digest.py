"""A resync compares the memberships of the groups whose member users changed, and no
others: each group keeps a digest of its member users' stable ids, written with them.

The memberships the store holds are read back with SQL of the tests' own; the groups a
plan read memberships of are what it says it read (`Stored.members_read`)."""

from __future__ import annotations

import pytest
from django.db import connection

from directories.models import DirectoryGroup
from directories.sync.plan import Stored, make_plan
from directories.sync.writer import write
from synclog.models import SyncRun

from .conftest import PEOPLE, group, read, user

pytestmark = pytest.mark.django_db

USERS = [user(f"u{i}", f"user{i}") for i in range(1, 7)]


def members(*names: str) -> list[str]:
    return [f"uid={name},{PEOPLE}" for name in names]


def directory_of(groups: dict[str, list[str]], users=USERS) -> list[dict]:
    return [*users, *(group(ext, ext, values) for ext, values in groups.items())]


FIRST = {
    "g1": members("user1", "user2"),
    "g2": members("user3", "user4"),
    "g3": members("user5", "user6"),
    "g4": [],
}


def held(directory) -> set[tuple[str, str]]:
    """Every (group, user) membership of the directory, by stable id, as SQL reads it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT g.external_id, u.external_id FROM directories_groupmembership m "
            "JOIN directories_directorygroup g ON g.id = m.group_id "
            "JOIN directories_directoryuser u ON u.id = m.user_id WHERE g.directory_id = %s",
            [directory.pk],
        )
        return set(cursor.fetchall())


def expected(groups: dict[str, list[str]]) -> set[tuple[str, str]]:
    """The memberships a directory holds: each member value names uid=userN, stable id uN."""
    return {
        (ext, "u" + value.split(",")[0].removeprefix("uid=user"))
        for ext, values in groups.items()
        for value in values
    }


def resync(directory, records):
    """Plan and write a read over the store as the runner does; the plan and its store."""
    stored = Stored.load(directory.pk)
    first = not SyncRun.objects.filter(directory=directory).exists()
    run = SyncRun.objects.create(directory=directory, status="completed")
    plan = make_plan(directory, read(directory, records), False, stored, first_sync=first)
    write(plan, run.pk)
    connection.check_constraints()
    return plan, stored


def test_only_groups_whose_member_users_changed_have_their_memberships_read(ldap_directory):
    resync(ldap_directory, directory_of(FIRST))
    assert held(ldap_directory) == expected(FIRST)

    # Unchanged: nothing is read.
    plan, stored = resync(ldap_directory, directory_of(FIRST))
    assert stored.members_read == set()
    assert plan.counts.memberships_added == plan.counts.memberships_removed == 0

    # user2 leaves g1 and joins g4; g2 and g3 are as they were.
    changed = {**FIRST, "g1": members("user1"), "g4": members("user2")}
    plan, stored = resync(ldap_directory, directory_of(changed))
    assert stored.members_read == {"g1", "g4"}
    assert (plan.members_added, plan.members_removed) == ({("g4", "u2")}, {("g1", "u2")})
    assert held(ldap_directory) == expected(changed)

    # And the next resync reads nothing again: the digests were written with the change.
    _, stored = resync(ldap_directory, directory_of(changed))
    assert stored.members_read == set()


def test_member_values_unchanged_but_resolving_elsewhere_are_compared(ldap_directory):
    """A user renamed without the group's member value following it: the value no longer
    names it, though the group's member values are the same."""
    resync(ldap_directory, directory_of(FIRST))
    renamed = [
        *(u for u in USERS if u["id"] != "u3"),
        user("u3", "user3", dn=f"uid=user3,ou=moved,{PEOPLE}"),
    ]

    plan, stored = resync(ldap_directory, directory_of(FIRST, renamed))

    assert stored.members_read == {"g2"}
    assert plan.members_removed == {("g2", "u3")}
    assert held(ldap_directory) == expected(FIRST) - {("g2", "u3")}


def test_deleted_users_and_groups_take_their_memberships_with_them(ldap_directory):
    resync(ldap_directory, directory_of(FIRST))
    without = {ext: values for ext, values in FIRST.items() if ext != "g3"}
    users = [u for u in USERS if u["id"] != "u1"]

    plan, stored = resync(ldap_directory, directory_of(without, users))

    assert stored.members_read == {"g1", "g3"}
    assert plan.members_removed == {("g1", "u1"), ("g3", "u5"), ("g3", "u6")}
    assert plan.counts.memberships_removed == 3
    assert held(ldap_directory) == {("g1", "u2"), ("g2", "u3"), ("g2", "u4")}


def test_a_store_without_digests_is_compared_in_full_once_then_kept(ldap_directory):
    """Groups written before the digest existed (or with a digest that is not the one of
    their members) have every membership compared, and the store still ends equal."""
    resync(ldap_directory, directory_of(FIRST))
    DirectoryGroup.objects.filter(directory=ldap_directory).update(users_digest="")
    # Behind the store's back: a membership it should not hold.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO directories_groupmembership (group_id, user_id) SELECT g.id, u.id "
            "FROM directories_directorygroup g, directories_directoryuser u "
            "WHERE g.external_id = 'g4' AND u.external_id = 'u6' AND g.directory_id = %s "
            "AND u.directory_id = %s",
            [ldap_directory.pk, ldap_directory.pk],
        )

    plan, stored = resync(ldap_directory, directory_of(FIRST))

    assert stored.members_read == {"g1", "g2", "g3", "g4"}
    assert plan.members_removed == {("g4", "u6")}
    assert held(ldap_directory) == expected(FIRST)
    _, stored = resync(ldap_directory, directory_of(FIRST))
    assert stored.members_read == set()


def test_a_member_named_twice_in_two_spellings_is_one_membership(ldap_directory):
    twice = {
        "g1": [*members("user1", "user2"), f"UID=User1,OU=People,{PEOPLE.split(',', 1)[1]}"],
        "g2": members("user3", "user3"),
    }

    plan, _ = resync(ldap_directory, directory_of(twice))

    assert plan.counts.memberships_added == 3
    assert held(ldap_directory) == {("g1", "u1"), ("g1", "u2"), ("g2", "u3")}
    # The digest is of the distinct users: the next resync reads nothing.
    _, stored = resync(ldap_directory, directory_of(twice))
    assert stored.members_read == set()
