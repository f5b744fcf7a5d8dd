"""After a sync the store equals the directory: names with escapes and non-ASCII text,
members spelled many ways, loose ends reported. Checked against an independent read.

The engine is a black box here: a real slapd holds the data (loaded with slapadd and
over LDAP), a real agent and Celery worker sync it, the store is read through the
REST API, and the expected state comes from python-ldap with slapd resolving every
member value itself (tests.support.fidelity.read_directory).
"""

from __future__ import annotations

import ldap
import pytest
from rest_framework.test import APIClient

from directories.models import DirectoryGroup, DirectoryUser
from directories.sync.fetch import USER_COLUMNS, fingerprint
from synclog.choices import ReadMode, RunStatus
from tests.support.fidelity import (
    GROUPS_DN,
    PEOPLE_DN,
    STAFF_DN,
    FidelityData,
    escape,
    read_directory,
    spell,
)

from .conftest import USER_FIELDS, make_directory, register, sync

pytestmark = [pytest.mark.ldap, pytest.mark.slow]


def pages(client: APIClient, url: str) -> list[dict]:
    out, offset = [], 0
    while True:
        response = client.get(url, {"limit": 500, "offset": offset})
        assert response.status_code == 200, response.content
        body = response.json()
        out += body["results"]
        offset += 500
        if offset >= body["count"]:
            return out


def store_view(client: APIClient, directory_id: int, run_id: int) -> dict:
    """The synced store and the run's warnings, as the REST API returns them."""
    base = f"/api/v1/directories/{directory_id}"
    users = {
        u["external_id"]: {k: u[k] for k in USER_FIELDS} for u in pages(client, f"{base}/users/")
    }
    groups, members, nesting = {}, set(), set()
    for group in pages(client, f"{base}/groups/"):
        groups[group["external_id"]] = {"dn": group["dn"], "name": group["name"]}
        for member in pages(client, f"{base}/groups/{group['id']}/members/"):
            pair = (group["external_id"], member["external_id"])
            (members if member["type"] == "user" else nesting).add(pair)
    warnings = pages(client, f"/api/v1/sync-runs/{run_id}/warnings/")
    unresolved = {
        (w["external_id"], w["value"], w["reason"])
        for w in warnings
        if w["kind"] == "unresolved_member"
    }
    skipped = {(w["dn"], w["reason"]) for w in warnings if w["kind"] == "skipped_entry"}
    return {
        "users": users,
        "groups": groups,
        "members": members,
        "nesting": nesting,
        "unresolved": unresolved,
        "skipped": skipped,
    }


def assert_store_equals_directory(client, directory, run, server) -> None:
    want = read_directory(server)
    have = store_view(client, directory.pk, run.pk)
    assert have["users"] == want.users
    assert have["groups"] == want.groups
    assert have["members"] == want.members
    assert have["nesting"] == want.nesting
    assert have["unresolved"] == want.unresolved
    assert have["skipped"] == want.skipped
    detail = client.get(f"/api/v1/sync-runs/{run.pk}/").json()
    assert detail["unresolved_references"] == len(want.unresolved)
    assert detail["skipped_entries"] == len(want.skipped)


def uuid_of(conn, dn: str) -> str:
    [(_dn, attrs)] = conn.search_s(dn, ldap.SCOPE_BASE, attrlist=["entryUUID"])
    return attrs["entryUUID"][0].decode()


def values_naming(conn, target_uuid: str) -> list[tuple[str, str, bytes]]:
    """(group DN, attribute, value) of every member value slapd resolves to the entry."""
    out = []
    for gdn, attrs in conn.search_s(
        GROUPS_DN, ldap.SCOPE_SUBTREE, "(objectClass=*)", ["member", "uniqueMember"]
    ):
        for attr in ("member", "uniqueMember"):
            for value in attrs.get(attr, []):
                target = value.decode().split("#'")[0]
                try:
                    if uuid_of(conn, target) == target_uuid:
                        out.append((gdn, attr, value))
                except ldap.NO_SUCH_OBJECT:
                    continue
    return out


def repoint(conn, refs: list[tuple[str, str, bytes]], new_value: str | None) -> None:
    """Replace member values (as a provisioning tool or refint would); None removes them."""
    for gdn, attr, value in refs:
        mods = [(ldap.MOD_DELETE, attr, [value])]
        if new_value is not None:
            mods.append((ldap.MOD_ADD, attr, [new_value.encode()]))
        conn.modify_s(gdn, mods)


@pytest.fixture
def fidelity(slapd_factory):
    server = slapd_factory(users=0, groups=0, start=False)
    data = FidelityData()
    data.load(server)
    return server, data


@pytest.fixture
def api(super_admin) -> APIClient:
    client = APIClient()
    client.force_authenticate(super_admin)
    return client


def test_store_equals_the_directory_through_changes_and_a_quiet_resync(
    worker, fidelity, agent_factory, api
):
    server, data = fidelity
    connector = register(agent_factory("fidelity-agent"))
    directory = make_directory(
        "fidelity.example.com",
        server,
        connector,
        safeguard_users_updated_percent=None,
        safeguard_users_deleted_percent=None,
        safeguard_groups_deleted_percent=None,
        safeguard_members_removed_percent=None,
    )
    # The user DNs given in another spelling than the directory's own.
    directory.user_dns = ["OU=People,DC=Example,DC=Com"]
    directory.save()

    first = sync(directory)

    assert first.status == RunStatus.COMPLETED, first.message
    assert first.unresolved_references > 0 and first.skipped_entries == 2
    assert "Completed with warnings" in first.message
    assert_store_equals_directory(api, directory, first, server)
    # Names are kept exactly as the directory spells them.
    stored = DirectoryUser.objects.get(directory=directory, username="u8")
    assert stored.dn == "cn=Amélie 佐藤 8,ou=people,dc=example,dc=com"

    conn = server.connect()
    users = data.user_list
    # 1. A user deleted, and its memberships removed by the tool that deleted it.
    gone = users[0]
    repoint(conn, values_naming(conn, uuid_of(conn, gone.dn)), None)
    conn.delete_s(gone.dn)
    # 2. A user deleted, its member values left behind (no referential integrity).
    conn.delete_s(users[13].dn)
    # 3. A rename to a name with escapes, member values rewritten in another spelling.
    renamed = users[4]
    refs = values_naming(conn, uuid_of(conn, renamed.dn))
    assert refs
    conn.rename_s(renamed.dn, "cn=" + escape("Renamed, Person Ü"), delold=0)
    new_rdns = [[("cn", "Renamed, Person Ü")], *renamed.rdns[1:]]
    repoint(conn, refs, spell(new_rdns, 2))
    # 4. A move to another OU inside the synced DNs.
    moved = users[8]
    refs = values_naming(conn, uuid_of(conn, moved.dn))
    conn.rename_s(moved.dn, spell([moved.rdns[0]], 0), newsuperior=STAFF_DN)
    repoint(conn, refs, spell([moved.rdns[0], [("ou", "staff")], *moved.rdns[1:]], 3))
    # 5. A member added in yet another spelling (attribute OIDs).
    target_group = data.group_list[1]
    newcomer = users[200]
    conn.modify_s(target_group.dn, [(ldap.MOD_ADD, "member", [spell(newcomer.rdns, 4).encode()])])
    # 6. A member removed, naming it in a spelling other than the stored one.
    loser_group = data.group_list[0]
    loser = users[2]
    conn.modify_s(loser_group.dn, [(ldap.MOD_DELETE, "member", [spell(loser.rdns, 3).encode()])])
    # 7. Attributes changed.
    conn.modify_s(
        users[9].dn,
        [
            (ldap.MOD_REPLACE, "mail", [b"u9.new@example.com"]),
            (ldap.MOD_REPLACE, "givenName", ["Željko".encode()]),
        ],
    )
    # 8. A nested group renamed, its parent's member value rewritten.
    child = data.group_list[1]
    refs = values_naming(conn, uuid_of(conn, child.dn))
    assert refs
    conn.rename_s(child.dn, "cn=" + escape("Renamed+Team, 1"), delold=1)
    repoint(conn, refs, spell([[("cn", "Renamed+Team, 1")], *child.rdns[1:]], 1))

    second = sync(directory)

    assert second.status == RunStatus.COMPLETED, second.message
    # Read incrementally: the changed entries and a listing of every id in scope.
    assert second.read_mode == ReadMode.INCREMENTAL, second.read_reason
    assert_store_equals_directory(api, directory, second, server)
    assert second.users_deleted == 2
    assert second.memberships_added >= 1 and second.memberships_removed >= 1
    renamed_group = DirectoryGroup.objects.get(directory=directory, name="Renamed+Team, 1")
    assert renamed_group.external_id == uuid_of(conn, renamed_group.dn)

    users_before = dict(DirectoryUser.objects.values_list("pk", "synced_at"))
    groups_before = dict(DirectoryGroup.objects.values_list("pk", "synced_at"))
    third = sync(directory)

    assert third.status == RunStatus.COMPLETED, third.message
    assert third.read_mode == ReadMode.INCREMENTAL, third.read_reason
    assert third.changes.count() == 0
    assert (
        third.users_added,
        third.users_updated,
        third.users_deleted,
        third.groups_added,
        third.groups_updated,
        third.groups_deleted,
        third.memberships_added,
        third.memberships_removed,
    ) == (0,) * 8
    assert dict(DirectoryUser.objects.values_list("pk", "synced_at")) == users_before
    assert dict(DirectoryGroup.objects.values_list("pk", "synced_at")) == groups_before
    assert_store_equals_directory(api, directory, third, server)


def test_every_kind_of_loose_end_is_reported_with_its_reason(worker, fidelity, agent_factory, api):
    server, _data = fidelity
    connector = register(agent_factory("fidelity-agent"))
    directory = make_directory("fidelity.example.com", server, connector)

    run = sync(directory)

    assert run.status == RunStatus.COMPLETED, run.message
    counts = run.warning_counts
    for reason in ("outside_scope", "no_entry", "not_synced", "skipped_entry"):
        assert counts.get(reason, 0) > 0, (reason, counts)
    assert counts["no_username"] == 1 and counts["duplicate_username"] == 1
    assert sum(counts.values()) == run.unresolved_references + run.skipped_entries
    warnings = api.get(f"/api/v1/sync-runs/{run.pk}/warnings/", {"reason": "not_synced"}).json()
    assert warnings["count"] == counts["not_synced"]
    assert all("organizationalRole" in w["detail"] for w in warnings["results"])
    assert all(w["value"].startswith("cn=Printer") for w in warnings["results"])
    bad = api.get(f"/api/v1/sync-runs/{run.pk}/warnings/", {"reason": "nonsense"})
    assert bad.status_code == 400
    # The duplicate username went to the entry read first; the other one is named.
    [dup] = api.get(
        f"/api/v1/sync-runs/{run.pk}/warnings/", {"reason": "duplicate_username"}
    ).json()["results"]
    assert dup["dn"] == f"cn=Duplicate of u1,{STAFF_DN}"
    assert f"uid=u1,{PEOPLE_DN}" in dup["detail"]


def test_dns_an_earlier_version_stored_lowercased_are_respelled_without_tripping_safeguards(
    worker, fidelity, agent_factory, api
):
    """Earlier versions stored every DN lowercased; the first sync after an upgrade writes
    the directory's spelling back without counting it as a change of the entries."""
    server, _data = fidelity
    connector = register(agent_factory("fidelity-agent"))
    directory = make_directory("fidelity.example.com", server, connector)
    assert sync(directory).status == RunStatus.COMPLETED
    # What the earlier version left in the store: DNs lowercased, fingerprints over them.
    respelled = 0
    for user in DirectoryUser.objects.filter(directory=directory):
        if user.dn != user.dn.lower():
            respelled += 1
        user.dn = user.dn.lower()
        user.fingerprint = fingerprint(tuple(getattr(user, c) for c in USER_COLUMNS))
        user.save()
    assert respelled > 100
    assert directory.safeguard_users_updated_percent == 10

    run = sync(directory)

    assert run.status == RunStatus.COMPLETED, run.message
    assert run.users_updated == respelled
    assert_store_equals_directory(api, directory, run, server)


def test_a_username_a_second_entry_takes_stays_with_the_entry_that_had_it(
    worker, fidelity, agent_factory, api
):
    server, data = fidelity
    connector = register(agent_factory("fidelity-agent"))
    directory = make_directory("fidelity.example.com", server, connector)
    assert sync(directory).status == RunStatus.COMPLETED
    holder = DirectoryUser.objects.get(directory=directory, username="u100")
    # An entry read before the holder takes the same username (in other case).
    taker = data.user_list[3]
    server.connect().modify_s(taker.dn, [(ldap.MOD_REPLACE, "uid", [b"U100"])])

    run = sync(directory)

    assert run.status == RunStatus.COMPLETED, run.message
    kept = DirectoryUser.objects.get(directory=directory, username__iexact="u100")
    assert kept.external_id == holder.external_id
    warnings = api.get(
        f"/api/v1/sync-runs/{run.pk}/warnings/", {"reason": "duplicate_username"}
    ).json()["results"]
    taker_dn = server.connect().search_s(taker.dn, ldap.SCOPE_BASE, attrlist=["1.1"])[0][0]
    [warning] = [w for w in warnings if w["name"] == "U100"]
    assert warning["dn"] == taker_dn
    assert warning["name"] == "U100"
    assert holder.dn in warning["detail"]
