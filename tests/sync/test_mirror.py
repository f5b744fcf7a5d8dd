"""Later syncs mirror what changed in LDAP exactly, and write nothing when nothing changed."""

from __future__ import annotations

import pytest

from directories.models import DirectoryGroup, DirectoryUser
from synclog.choices import ChangeAction, RunStatus

from .conftest import assert_db_equals_ldap, sync

pytestmark = [pytest.mark.ldap, pytest.mark.slow]


def change_rows(run):
    return {(c.kind, c.action, c.name) for c in run.changes.all()}


def test_deletes_renames_and_moves_are_mirrored_and_a_resync_writes_nothing(
    worker, directory_with_list, ldap_server
):
    directory = directory_with_list
    directory.safeguard_groups_percent = 50
    directory.save()
    assert sync(directory).status == RunStatus.COMPLETED
    s = ldap_server
    renamed_id = s.entry_uuid(f"uid=user6,{s.people_dn}")
    moved_id = s.entry_uuid(f"uid=user7,{s.people_dn}")

    s.delete_user("user5")
    s.delete_group("group3")
    s.rename_user("user6", "renamed6")
    staff = f"ou=staff,{s.people_dn}"
    s.connect().add_s(staff, [("objectClass", [b"organizationalUnit"]), ("ou", [b"staff"])])
    moved_dn = s.rename(f"uid=user7,{s.people_dn}", "uid=user7", new_superior=staff)
    s.modify_user("user8", mail="user8@new.example.com")
    s.rename(f"cn=group2,{s.groups_dn}", "cn=group2-renamed")
    new_dn = s.add_user("newcomer", givenName="Zoë", sn="Ångström")
    s.add_group("newgroup", [new_dn, moved_dn])
    s.add_members(f"cn=group0,{s.groups_dn}", [new_dn])

    run = sync(directory)

    assert run.status == RunStatus.COMPLETED, run.message
    rows = change_rows(run)
    assert ("user", ChangeAction.DELETED, "user5") in rows
    assert ("group", ChangeAction.DELETED, "group3") in rows
    assert ("user", ChangeAction.UPDATED, "renamed6") in rows
    assert ("user", ChangeAction.UPDATED, "user7") in rows
    assert ("user", ChangeAction.UPDATED, "user8") in rows
    assert ("group", ChangeAction.UPDATED, "group2-renamed") in rows
    assert ("user", ChangeAction.ADDED, "newcomer") in rows
    assert ("group", ChangeAction.ADDED, "newgroup") in rows
    assert (run.users_added, run.users_deleted, run.groups_added, run.groups_deleted) == (
        1,
        1,
        1,
        1,
    )
    # Renamed and moved entries keep their identity (entryUUID): updated, not re-created.
    renamed = DirectoryUser.objects.get(directory=directory, external_id=renamed_id)
    assert renamed.username == "renamed6"
    moved = DirectoryUser.objects.get(directory=directory, external_id=moved_id)
    assert moved.dn == moved_dn.lower()
    assert DirectoryUser.objects.get(username="newcomer").first_name == "Zoë"
    assert_db_equals_ldap(directory, s)

    before = dict(DirectoryUser.objects.values_list("pk", "synced_at"))
    groups_before = dict(DirectoryGroup.objects.values_list("pk", "synced_at"))
    quiet = sync(directory)

    assert quiet.status == RunStatus.COMPLETED
    assert quiet.changes.count() == 0
    assert (
        quiet.users_added,
        quiet.users_updated,
        quiet.users_deleted,
        quiet.groups_added,
        quiet.groups_updated,
        quiet.groups_deleted,
        quiet.memberships_added,
        quiet.memberships_removed,
    ) == (0, 0, 0, 0, 0, 0, 0, 0)
    assert dict(DirectoryUser.objects.values_list("pk", "synced_at")) == before
    assert dict(DirectoryGroup.objects.values_list("pk", "synced_at")) == groups_before


def test_safeguard_stops_a_mass_deletion_until_it_is_raised(
    worker, directory_with_list, ldap_server
):
    directory = directory_with_list
    assert sync(directory).status == RunStatus.COMPLETED
    for n in range(30):  # 25% of 120 users, over the 10% default
        ldap_server.delete_user(f"user{n + 10}")

    blocked = sync(directory)

    assert blocked.status == RunStatus.SAFEGUARD
    assert "30 of 120 users" in blocked.message
    assert blocked.changes.count() == 0
    assert DirectoryUser.objects.filter(directory=directory).count() == 120

    directory.safeguard_users_percent = 30
    directory.save()
    allowed = sync(directory)
    assert allowed.status == RunStatus.COMPLETED, allowed.message
    assert allowed.users_deleted == 30
    assert_db_equals_ldap(directory, ldap_server)


def test_directory_error_is_reported_by_the_agent(worker, directory_with_list, agents):
    directory = directory_with_list
    directory.bind_password = "wrong-password"
    directory.save()

    run = sync(directory)

    assert run.status == RunStatus.FAILED
    attempts = list(run.attempts.order_by("position"))
    assert [a.outcome for a in attempts] == ["directory_error"] * 3
    assert "credentials" in attempts[0].message.lower()
    assert not DirectoryUser.objects.filter(directory=directory).exists()
