"""The safeguards: four thresholds (each blank to disable) and the zero-result guard that is
always on, decided in the plan before anything is written."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from directories.models import SAFEGUARD_FIELDS
from directories.sync.plan import (
    Violation,
    _check_safeguard,
    _check_zero_result,
    make_plan,
    safeguard_violations,
    users_enough,
)

from .conftest import group, read, user
from .test_writer import sync

pytestmark = pytest.mark.django_db

NO_LIMITS = dict.fromkeys(SAFEGUARD_FIELDS)


# --- the pure rule -----------------------------------------------------------------------


def test_a_threshold_trips_only_past_its_limit():
    assert _check_safeguard("Users deleted", 10, 100, 10) is None
    assert _check_safeguard("Users deleted", 11, 100, 10) == Violation("Users deleted", 11, 100, 10)
    assert _check_safeguard("Users deleted", 1, 3, 33) == Violation("Users deleted", 1, 3, 33)
    assert _check_safeguard("Users deleted", 1, 3, 34) is None


def test_a_blank_threshold_or_nothing_stored_never_trips():
    assert _check_safeguard("Users deleted", 100, 100, None) is None
    assert _check_safeguard("Users deleted", 0, 0, 10) is None
    assert _check_safeguard("Users deleted", 0, 10, 1) is None


def test_the_zero_result_guard_stops_more_than_half_and_everything():
    assert _check_zero_result(5, 10) is None
    assert _check_zero_result(6, 10) == Violation("Users deleted (zero-result guard)", 6, 10, None)
    assert _check_zero_result(1, 1) is not None
    assert _check_zero_result(0, 0) is None


def test_a_violation_names_itself_with_its_share_and_limit():
    assert str(Violation("Users deleted", 189, 200, 10)) == (
        "Users deleted: 189 of 200 (94.5%), limit 10%"
    )
    assert str(Violation("Members removed from group admins", 3, 4, 10)) == (
        "Members removed from group admins: 3 of 4 (75%), limit 10%"
    )
    assert str(Violation("Users deleted (zero-result guard)", 6, 10, None)) == (
        "Users deleted (zero-result guard): 6 of 10 (60%), more than half"
    )


def test_each_threshold_is_checked_against_its_own_field():
    limits = {
        "safeguard_users_updated_percent": 10,
        "safeguard_users_deleted_percent": 20,
        "safeguard_groups_deleted_percent": 30,
        "safeguard_members_removed_percent": 40,
    }
    found = safeguard_violations(
        limits,
        users=(2, 3, 10),
        groups=(4, 10),
        member_loss={"g1": 3, "g2": 2},
        members_now={"g1": 5, "g2": 5},
        group_names={"g1": "admins", "g2": "staff"},
    )
    assert [str(v) for v in found] == [
        "Users updated: 2 of 10 (20%), limit 10%",
        "Users deleted: 3 of 10 (30%), limit 20%",
        "Groups deleted: 4 of 10 (40%), limit 30%",
        "Members removed from group admins: 3 of 5 (60%), limit 40%",
    ]


limit = st.one_of(st.none(), st.integers(1, 100))


@given(
    updated_limit=limit,
    deleted_limit=limit,
    updated=st.integers(0, 500),
    deleted=st.integers(0, 500),
    stored=st.integers(0, 5000),
)
def test_a_store_counted_up_to_enough_users_gets_the_verdict_of_its_whole_count(
    updated_limit, deleted_limit, updated, deleted, stored
):
    """A read of changed values alone counts the stored users only up to `users_enough`
    (a million-user store is not counted for 10,000 updates): whatever the store's size,
    the verdict, and each message, is the one the whole count gives."""
    limits = {
        **NO_LIMITS,
        "safeguard_users_updated_percent": updated_limit,
        "safeguard_users_deleted_percent": deleted_limit,
    }
    enough = users_enough(limits, updated, deleted)

    def verdict(total):
        found = safeguard_violations(limits, (updated, deleted, total), (0, 0), {}, {}, {})
        return [str(v) for v in found]

    assert verdict(min(stored, enough)) == verdict(stored)
    # And no fewer would do: one user short of enough, some safeguard stops the sync.
    if enough:
        assert verdict(enough - 1)


# --- through a plan ----------------------------------------------------------------------


def people(n: int) -> list[dict]:
    return [user(f"u{i}", f"user{i}") for i in range(n)]


@pytest.fixture
def twenty(ldap_directory):
    """20 users; group admins holds 4 of them, staff 10; every threshold 10%."""
    records = [
        *people(20),
        group("g1", "admins", [r["dn"] for r in people(4)]),
        group("g2", "staff", [r["dn"] for r in people(10)]),
    ]
    sync(ldap_directory, records, safeguards=False)
    return ldap_directory


def verdict(directory, records) -> list[str]:
    plan = make_plan(directory, read(directory, records), safeguards=True)
    return [str(v) for v in plan.violations]


def groups_of(users: list[dict], admins: int = 4, staff: int = 10) -> list[dict]:
    return [
        group("g1", "admins", [r["dn"] for r in users[:admins]]),
        group("g2", "staff", [r["dn"] for r in users[:staff]]),
    ]


def test_a_sync_within_every_limit_is_not_stopped(twenty):
    users = people(20)
    users[15]["email"] = "new@x"
    users = users[:19]  # one deleted (5%), one updated (5%)
    assert verdict(twenty, [*users, *groups_of(users)]) == []


def test_users_updated_trips_and_names_itself(twenty):
    users = people(20)
    for r in users[10:13]:
        r["email"] = "new@x"
    assert verdict(twenty, [*users, *groups_of(users)]) == [
        "Users updated: 3 of 20 (15%), limit 10%"
    ]


def test_users_deleted_trips_and_names_itself(twenty):
    users = people(17)
    assert verdict(twenty, [*users, *groups_of(users)]) == [
        "Users deleted: 3 of 20 (15%), limit 10%"
    ]


def test_groups_deleted_trips_and_names_itself(twenty):
    users = people(20)
    assert verdict(twenty, [*users, groups_of(users)[0]]) == [
        "Groups deleted: 1 of 2 (50%), limit 10%"
    ]


def test_members_removed_from_one_group_trips_and_names_the_group(twenty):
    users = people(20)
    # admins loses 3 of its 4 members; staff keeps all 10.
    assert verdict(twenty, [*users, *groups_of(users, admins=1)]) == [
        "Members removed from group admins: 3 of 4 (75%), limit 10%"
    ]


def test_a_blank_threshold_disables_that_one_only(twenty):
    twenty.safeguard_members_removed_percent = None
    twenty.save()
    users = people(17)
    assert verdict(twenty, [*users, *groups_of(users, admins=1)]) == [
        "Users deleted: 3 of 20 (15%), limit 10%"
    ]


def test_the_zero_result_guard_stops_an_emptied_base_dn_with_every_threshold_blank(twenty):
    for name in SAFEGUARD_FIELDS:
        setattr(twenty, name, None)
    twenty.save()
    assert verdict(twenty, []) == [
        "Users deleted (zero-result guard): 20 of 20 (100%), more than half"
    ]


def test_the_zero_result_guard_stops_more_than_half_but_not_half(twenty):
    for name in SAFEGUARD_FIELDS:
        setattr(twenty, name, None)
    twenty.save()
    assert verdict(twenty, people(10)) == []
    assert verdict(twenty, people(9)) == [
        "Users deleted (zero-result guard): 11 of 20 (55%), more than half"
    ]


def test_without_safeguards_the_plan_names_no_violation(twenty):
    plan = make_plan(twenty, read(twenty, []), safeguards=False)
    assert plan.violations == [] and plan.safeguard == ""


def test_subgroups_count_among_a_groups_members(ldap_directory):
    """A group's share of members removed counts its subgroups as members, as the group's
    member list does: 1 user and 9 subgroups, one of the ten removed, is 10%."""
    subgroups = [group(f"s{i}", f"team{i}", []) for i in range(9)]
    users = people(20)
    everyone = [users[0]["dn"], *(g["dn"] for g in subgroups)]
    sync(ldap_directory, [*users, *subgroups, group("g1", "all", everyone)], safeguards=False)

    without_the_user = group("g1", "all", everyone[1:])
    assert verdict(ldap_directory, [*users, *subgroups, without_the_user]) == []
    without_two_teams = group("g1", "all", everyone[:-2])
    assert verdict(ldap_directory, [*users, *subgroups, without_two_teams]) == [
        "Members removed from group all: 2 of 10 (20%), limit 10%"
    ]
