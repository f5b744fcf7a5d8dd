"""Incremental syncs of a slapd that offers content synchronization (RFC 4533, the
``syncprov`` overlay with a session log, as servers set up for replication run it): each
sync reads the entries changed since the last one's cookie and the ids of the entries
that left the scope, nothing else, and leaves the store equal to an independent
python-ldap read of the directory after every kind of change."""

from __future__ import annotations

import pytest

from directories.models import SkippedEntry
from synclog.choices import ReadMode, RunStatus

from .conftest import assert_db_equals_ldap, sync
from .test_incremental import each_kind_of_change, unguarded

pytestmark = [pytest.mark.ldap, pytest.mark.slow]

USERS = 120


@pytest.fixture
def ldap_server(slapd_factory):
    return slapd_factory(users=USERS, groups=6, members_per_group=20, nested=True, syncprov=True)


def add_ou(s, dn: str) -> str:
    ou = dn.split(",", 1)[0].split("=", 1)[1]
    s.connect().add_s(dn, [("objectClass", [b"organizationalUnit"]), ("ou", [ou.encode()])])
    return dn


def add_person(s, uid: str, parent: str) -> str:
    dn = f"uid={uid},{parent}"
    s.connect().add_s(
        dn,
        [
            ("objectClass", [b"inetOrgPerson"]),
            ("uid", [uid.encode()]),
            ("cn", [uid.encode()]),
            ("sn", ["Ørsted".encode()]),
        ],
    )
    return dn


def test_each_kind_of_change_is_read_by_cookie_and_the_store_equals_the_directory(
    worker, directory_with_list, ldap_server
):
    directory, s = unguarded(directory_with_list), ldap_server
    # Users who leave the filter without leaving the base: employeeType=gone.
    directory.user_filter = "(&(objectClass=inetOrgPerson)(!(employeeType=gone)))"
    directory.save()
    team = add_ou(s, f"ou=team,{s.people_dn}")
    for n in range(3):
        add_person(s, f"team{n}", team)
    alumni = add_ou(s, f"ou=alumni,{s.suffix}")
    elsewhere = add_ou(s, f"ou=elsewhere,{alumni}")
    for n in range(2):
        add_person(s, f"away{n}", elsewhere)

    first = sync(directory)
    assert (first.status, first.read_mode) == (RunStatus.COMPLETED, ReadMode.FULL)
    watermark = first.read_watermark["agent"]
    assert watermark["kind"] == "sync_cookie"
    assert set(watermark["cookies"]) == {s.people_dn, s.groups_dn}
    assert_db_equals_ldap(directory, s)

    group3 = f"cn=group3,{s.groups_dn}"
    steps = [
        ("nothing", lambda: None),
        *each_kind_of_change(s, alumni),
        ("move into scope", lambda: s.rename(f"uid=user5,{alumni}", "uid=user5", s.people_dn)),
        ("move a group out of scope", lambda: s.rename(group3, "cn=group3", alumni)),
        ("move it back", lambda: s.rename(f"cn=group3,{alumni}", "cn=group3", s.groups_dn)),
        ("leave the filter", lambda: s.modify_user("user7", employeeType="gone")),
        ("match the filter again", lambda: s.modify_user("user7", employeeType=None)),
        # Entries above the bases change too: nothing under them left the scope.
        ("change the suffix entry", lambda: s.modify(s.suffix, description="Example Inc.")),
        # A changed container's entries are read again: here every user.
        ("change the user base's entry", lambda: s.modify(s.people_dn, description="Staff")),
        # A renamed container renames the entries under it without changing them.
        ("rename a container", lambda: s.rename(team, "ou=squad")),
        (
            "move a container out of scope",
            lambda: s.rename(f"ou=squad,{s.people_dn}", "ou=squad", alumni),
        ),
        ("move a container into scope", lambda: s.rename(elsewhere, "ou=elsewhere", s.people_dn)),
        (
            "delete a container's entries and the container",
            lambda: (
                [s.delete(f"uid=away{n},ou=elsewhere,{s.people_dn}") for n in range(2)]
                and s.delete(f"ou=elsewhere,{s.people_dn}")
            ),
        ),
    ]
    for what, change in steps:
        change()
        run = sync(directory)
        assert run.status == RunStatus.COMPLETED, (what, run.message)
        assert run.read_mode == ReadMode.INCREMENTAL, (what, run.read_reason)
        # Only what changed is read: never the 120 users and 6 groups in scope.
        if what != "change the user base's entry":
            assert run.entries_received < 10, (what, run.entries_received)
        assert_db_equals_ldap(directory, s)

    # A restart loses the session log of what was deleted before it: the server can no
    # longer name those entries, so the next sync reads in full and says why. The log
    # starts again at the restart: the sync after that reads by cookie again.
    s.delete_user("user8")
    s.restart()
    restarted = sync(directory)
    assert (restarted.status, restarted.read_mode) == (RunStatus.COMPLETED, ReadMode.FULL)
    assert "session log" in restarted.read_reason
    assert restarted.users_deleted == 1
    assert_db_equals_ldap(directory, s)
    s.delete_user("user9")
    after = sync(directory)
    assert (after.read_mode, after.users_deleted) == (ReadMode.INCREMENTAL, 1), after.read_reason
    assert_db_equals_ldap(directory, s)


def test_entries_moving_between_two_user_bases_are_followed_by_cookie(
    worker, directory_with_list, ldap_server
):
    """slapd names an entry changed outside a search's base among its departures: with two
    user bases, what one base names as gone the other reads as changed."""
    directory, s = unguarded(directory_with_list), ldap_server
    contractors = add_ou(s, f"ou=contractors,{s.suffix}")
    crew = add_ou(s, f"ou=crew,{contractors}")
    for n in range(3):
        add_person(s, f"crew{n}", crew)
    directory.user_dns = [s.people_dn, contractors]
    directory.save()
    first = sync(directory)
    assert set(first.read_watermark["agent"]["cookies"]) == {s.people_dn, contractors, s.groups_dn}
    assert_db_equals_ldap(directory, s)

    steps = [
        ("change in the second base", lambda: s.modify(f"uid=crew0,{crew}", sn="Nowak")),
        ("move to the other base", lambda: s.rename(s.dataset.user_dn(10), "uid=user10", crew)),
        ("change a container", lambda: s.modify(crew, description="night shift")),
        ("move a container across", lambda: s.rename(crew, "ou=crew", s.people_dn)),
        ("move it back", lambda: s.rename(f"ou=crew,{s.people_dn}", "ou=crew", contractors)),
        ("delete in the second base", lambda: s.delete(f"uid=crew1,{crew}")),
    ]
    for what, change in steps:
        change()
        run = sync(directory)
        assert run.status == RunStatus.COMPLETED, (what, run.message)
        assert run.read_mode == ReadMode.INCREMENTAL, (what, run.read_reason)
        assert_db_equals_ldap(directory, s)


def test_a_change_of_values_alone_is_read_by_cookie_and_keeps_what_the_last_sync_reported(
    worker, directory_with_list, ldap_server
):
    """A sync whose only changes are values of stored users writes those users and takes
    the rest as the last sync left it: its memberships, skipped entries and warnings."""
    directory, s = unguarded(directory_with_list), ldap_server
    # A person without a uid (no username: skipped) and a member value naming no entry.
    s.connect().add_s(
        f"cn=No Uid,{s.people_dn}",
        [("objectClass", [b"inetOrgPerson"]), ("cn", [b"No Uid"]), ("sn", [b"Uid"])],
    )
    s.add_members(f"cn=group1,{s.groups_dn}", [f"uid=ghost,{s.people_dn}"])
    first = sync(directory)
    assert first.read_mode == ReadMode.FULL
    assert (first.unresolved_references, first.skipped_entries) == (1, 1)
    assert_db_equals_ldap(directory, s)

    for n in (3, 40, 77):
        s.modify_user(f"user{n}", sn=f"Nachname{n}", mail=f"user{n}@neu.example.com")
    run = sync(directory)

    assert (run.status, run.read_mode) == (RunStatus.COMPLETED, ReadMode.INCREMENTAL)
    assert (run.entries_received, run.users_updated) == (3, 3)
    assert (run.memberships_added, run.memberships_removed) == (0, 0)
    assert_db_equals_ldap(directory, s)
    assert (run.unresolved_references, run.skipped_entries, run.warning_counts) == (
        first.unresolved_references,
        first.skipped_entries,
        first.warning_counts,
    )
    listed = ("reason", "entry_type", "external_id", "dn", "value", "detail")
    assert list(run.warnings.order_by("pk").values_list(*listed)) == list(
        first.warnings.order_by("pk").values_list(*listed)
    )
    assert SkippedEntry.objects.filter(directory=directory).count() == 1
    changed = {c.dn for c in run.changes.all()}
    assert changed == {s.dataset.user_dn(n) for n in (3, 40, 77)}

    # The skipped person gets a uid: taken as any change, it is synced and the warnings
    # say so.
    s.modify(f"cn=No Uid,{s.people_dn}", uid="nouid")
    after = sync(directory)
    assert (after.read_mode, after.users_added, after.skipped_entries) == (
        ReadMode.INCREMENTAL,
        1,
        0,
    )
    assert not SkippedEntry.objects.filter(directory=directory).exists()
    assert_db_equals_ldap(directory, s)
