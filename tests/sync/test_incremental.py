"""Incremental syncs of a real slapd through the real agent and worker: after every kind
of change, a sync that reads only what changed leaves the store equal to an independent
python-ldap read of the directory."""

from __future__ import annotations

from collections.abc import Callable

import ldap.modlist
import pytest

from directories.models import DirectoryGroup, SkippedEntry
from synclog.choices import ChangeAction, ChangeKind, ReadMode, RunStatus
from tests.agent.test_incremental_ldap import TWO_HOURS_AGO, stamp
from tests.support.fidelity import read_directory

from .conftest import assert_db_equals_ldap, store_state, sync

pytestmark = [pytest.mark.ldap, pytest.mark.slow]


def unguarded(directory):
    """Every threshold off: these changes are meant (the zero-result guard stays)."""
    directory.safeguard_users_updated_percent = None
    directory.safeguard_users_deleted_percent = None
    directory.safeguard_groups_deleted_percent = None
    directory.safeguard_members_removed_percent = None
    directory.save()
    return directory


def each_kind_of_change(s, alumni: str) -> list[tuple[str, Callable[[], object]]]:
    """(what, change) of the changes every incremental read is checked against, in order:
    to users, memberships and groups; `alumni` is an OU outside the synced DNs."""

    def group(n: int) -> str:
        return f"cn=group{n},{s.groups_dn}"

    newcomer = f"uid=newcomer,{s.people_dn}"
    return [
        ("change", lambda: s.modify_user("user3", mail="three@new.example.com", sn="Trois")),
        ("rename a member", lambda: s.rename_user("user4", "renamed4")),
        ("move out of scope", lambda: s.rename(s.dataset.user_dn(5), "uid=user5", alumni)),
        ("delete", lambda: s.delete_user("user6")),
        ("add", lambda: s.add_user("newcomer", givenName="Zoë", sn="Ångström")),
        ("add a member", lambda: s.add_members(group(1), [newcomer])),
        ("remove a member", lambda: s.remove_members(group(1), s.dataset.group_members(1)[:1])),
        ("nest a group", lambda: s.add_members(group(2), [group(3)])),
        ("rename a group", lambda: s.rename(group(4), "cn=group4-renamed")),
        ("delete a group", lambda: s.delete_group("group5")),
    ]


def test_each_kind_of_change_is_synced_incrementally_and_the_store_equals_the_directory(
    worker, directory_with_list, ldap_server
):
    directory, s = unguarded(directory_with_list), ldap_server
    # Every entry but the last user last changed two hours ago, so what changed since the
    # first sync's watermark (the newest change less the read's time and an overlap) is
    # the last user and the entries each step touches.
    for n in range(s.dataset.users - 1):
        stamp(s, s.dataset.user_dn(n), TWO_HOURS_AGO)
    for j in range(s.dataset.groups):
        stamp(s, s.dataset.group_dn(j), TWO_HOURS_AGO)
    first = sync(directory)
    assert (first.status, first.read_mode, first.read_reason) == (
        RunStatus.COMPLETED,
        ReadMode.FULL,
        "first sync",
    )
    assert first.read_watermark and first.read_watermark["agent"]["kind"] == "modify_timestamp"
    alumni = f"ou=alumni,{s.suffix}"
    s.connect().add_s(alumni, [("objectClass", [b"organizationalUnit"]), ("ou", [b"alumni"])])
    steps = each_kind_of_change(s, alumni)
    for what, change in steps:
        before = read_directory(s).users
        change()
        run = sync(directory)
        assert run.status == RunStatus.COMPLETED, (what, run.message)
        assert run.read_mode == ReadMode.INCREMENTAL, (what, run.read_reason)
        assert run.entries_received < 20, (what, run.entries_received)
        assert_db_equals_ldap(directory, s)
        # The Sync Details of each updated user name the fields that changed, old and
        # new, as python-ldap reads them before and after.
        after = read_directory(s).users
        for row in run.changes.filter(kind=ChangeKind.USER, action=ChangeAction.UPDATED):
            old, new = before[row.external_id], after[row.external_id]
            assert row.details == {f: [old[f], new[f]] for f in old if old[f] != new[f]}, (
                what,
                row.details,
            )
        if what == "change":
            assert run.changes.filter(action=ChangeAction.UPDATED).count() == 1

    # Other user DNs, then another filter: each read in full, with the reason.
    directory.user_dns = [s.people_dn, alumni]
    directory.save()
    widened = sync(directory)
    assert (widened.status, widened.read_mode, widened.users_added) == (
        RunStatus.COMPLETED,
        ReadMode.FULL,
        1,
    )
    assert "DNs" in widened.read_reason
    assert_db_equals_ldap(directory, s)

    user7 = s.entry_uuid(s.dataset.user_dn(7))
    directory.user_filter = "(&(objectClass=inetOrgPerson)(!(uid=user7)))"
    directory.save()
    narrowed = sync(directory)
    assert narrowed.status == RunStatus.COMPLETED, narrowed.message
    assert (narrowed.read_mode, narrowed.users_deleted) == (ReadMode.FULL, 1)
    assert "filters" in narrowed.read_reason
    want = read_directory(s, user_bases=(s.people_dn, alumni))
    have = store_state(directory)
    assert have["users"] == {k: v for k, v in want.users.items() if k != user7}
    assert have["members"] == {pair for pair in want.members if user7 not in pair}
    assert have["nesting"] == want.nesting
    quiet = sync(directory)
    assert (quiet.read_mode, quiet.users_updated, quiet.memberships_added) == (
        ReadMode.INCREMENTAL,
        0,
        0,
    )
    assert store_state(directory) == have


def test_an_entry_skipped_once_is_synced_by_an_incremental_sync_once_it_may_be(
    worker, directory_with_list, ldap_server
):
    directory, s = unguarded(directory_with_list), ldap_server
    s.add_user("twin", cn="First twin")
    second = f"cn=Second twin,{s.people_dn}"
    entry = {"objectClass": [b"inetOrgPerson"], "cn": [b"Second twin"], "sn": [b"Twin"]}
    s.connect().add_s(second, ldap.modlist.addModlist({**entry, "uid": [b"twin-b"]}))
    assert sync(directory).status == RunStatus.COMPLETED
    # Two entries with one username: the second is skipped and kept for later syncs.
    s.modify(second, uid="TWIN")
    clash = sync(directory)
    assert clash.read_mode == ReadMode.INCREMENTAL, clash.read_reason
    assert clash.warning_counts == {"duplicate_username": 1}
    assert SkippedEntry.objects.filter(directory=directory, dn=second).exists()

    # The first twin goes: the one skipped, unchanged since, now holds the username.
    s.delete_user("twin")
    freed = sync(directory)
    assert freed.read_mode == ReadMode.INCREMENTAL, freed.read_reason
    assert freed.users_added == 1 and freed.warning_counts == {}
    assert not SkippedEntry.objects.filter(directory=directory).exists()
    assert_db_equals_ldap(directory, s)


def test_member_values_of_unchanged_groups_are_kept_as_the_directory_sent_them(
    worker, directory_with_list, ldap_server
):
    directory, s = unguarded(directory_with_list), ldap_server
    sync(directory)
    group0 = DirectoryGroup.objects.get(directory=directory, name="group0")
    conn = s.connect()
    [(_, attrs)] = conn.search_s(group0.dn, 0, "(objectClass=*)", ["member"])
    assert group0.member_values == [v.decode() for v in attrs["member"]]
