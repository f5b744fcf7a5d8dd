"""After a sync of Active Directory (Samba AD DC) the store equals the directory.

Names with every special character and non-ASCII text, members added in several
spellings (AD keeps its own), nesting, renames and moves that AD follows in member
links, loose ends reported; the expected state is an independent python-ldap read.
"""

from __future__ import annotations

import uuid

import ldap
import pytest
from rest_framework.test import APIClient

from directories.choices import DirectoryType
from directories.services import create_directory
from synclog.choices import ReadMode, RunStatus
from synclog.models import SyncRun
from tests.support.fidelity import NAMES, escape, read_ad_directory, spell
from tests.support.samba_ad import add_entries, add_ou, group_entry, user_entry

from .conftest import register, sync
from .test_fidelity import store_view

pytestmark = [pytest.mark.ad, pytest.mark.slow]

# The spellings Samba takes in member values (it refuses attribute OIDs and quotes there).
AD_STYLES = (0, 1, 2, 3, 5, 7)
GROUP_NAMES = ["R&D, Europe {j}", "Ärzte+Pflege {j}", "Ops;Night {j}", "Team {j}"]


def rdns_of(conn, dn: str) -> list[list[tuple[str, str]]]:
    return [[(a, v) for a, v, _ in rdn] for rdn in ldap.dn.str2dn(dn)]


def delete_tree(conn, base: str) -> None:
    entries = [dn for dn, _ in conn.search_s(base, ldap.SCOPE_SUBTREE, attrlist=["1.1"]) if dn]
    for dn in sorted(entries, key=lambda d: -len(ldap.dn.str2dn(d))):
        conn.delete_s(dn)


@pytest.fixture
def ad_tree(samba_ad):
    """OU=Fidelity-…: People (with Staff), Groups, and Outside, filled over LDAP."""
    conn = samba_ad.connect()
    root = f"OU=Fidelity-{uuid.uuid4().hex[:8]},{samba_ad.base_dn}"
    people, staff = f"OU=People,{root}", f"OU=Staff,OU=People,{root}"
    groups_ou, outside = f"OU=Groups,{root}", f"OU=Outside,{root}"
    for dn in (root, people, staff, groups_ou, outside):
        add_ou(conn, dn)
    users = []
    for n in range(48):
        cn = NAMES[n % len(NAMES)].format(n=n)
        parent = staff if n % 5 == 4 else people
        dn = f"CN={escape(cn, '=')},{parent}"
        users.append(dn)
    add_entries(
        conn,
        [
            user_entry(
                dn,
                sam=f"fid{n}",
                given_name=NAMES[n % len(NAMES)].split(" ")[0],
                sn=f"Surname {n}",
                display_name=f"Display {n}",
                mail=f"fid{n}@example.test",
                upn=f"fid{n}@example.test",
                disabled=n % 11 == 3,
            )
            for n, dn in enumerate(users)
        ],
    )
    stranger = f"CN=Stranger,{outside}"
    add_entries(conn, [user_entry(stranger, sam="fidstranger")])
    contact = f"CN=Printer Contact,{people}"
    add_entries(
        conn, [type(user_entry(contact, sam="x"))(contact, {"objectClass": ["top", "contact"]})]
    )
    groups = []
    for j in range(8):
        dn = f"CN={escape(GROUP_NAMES[j % 4].format(j=j), '=')},{groups_ou}"
        groups.append(dn)
        add_entries(conn, [group_entry(dn, sam=f"fidgroup{j}")])
    for j, gdn in enumerate(groups):
        values = []
        for k in range(12):
            udn = users[(j * 6 + k) % len(users)]
            # Escapes as pairs or hex, non-ASCII as hex, other case, OIDs, quotes, ...
            values.append(spell(rdns_of(conn, udn), AD_STYLES[(j + k) % 6], "="))
        if j % 3 == 0 and j + 1 < len(groups):
            values.append(spell(rdns_of(conn, groups[j + 1]), AD_STYLES[j % 6], "="))
        if j == 2:
            values += [stranger, contact]
        conn.modify_s(gdn, [(ldap.MOD_ADD, "member", [v.encode() for v in values])])
    yield {
        "conn": conn,
        "root": root,
        "people": people,
        "staff": staff,
        "groups_ou": groups_ou,
        "users": users,
        "groups": groups,
    }
    delete_tree(conn, root)


@pytest.fixture
def api(super_admin) -> APIClient:
    client = APIClient()
    client.force_authenticate(super_admin)
    return client


def assert_store_equals_ad(api, directory, run, tree):
    want = read_ad_directory(tree["conn"], tree["people"], tree["groups_ou"])
    have = store_view(api, directory.pk, run.pk)
    assert have["users"] == want.users
    assert have["groups"] == want.groups
    assert have["members"] == want.members
    assert have["nesting"] == want.nesting
    assert have["unresolved"] == want.unresolved
    assert have["skipped"] == set()


def test_active_directory_store_equals_the_directory_through_changes(
    worker, samba_ad, ad_tree, agent_factory, api
):
    connector = register(agent_factory("ad-fidelity"))
    directory = create_directory(
        name="fidelity.example.test",
        type=DirectoryType.ACTIVE_DIRECTORY,
        sync_connector=connector,
        host=samba_ad.host,
        port=samba_ad.port,
        base_dn=samba_ad.base_dn,
        bind_dn=samba_ad.bind_dn,
        bind_password=samba_ad.password,
        user_dns=[ad_tree["people"].lower()],
        group_dns=[ad_tree["groups_ou"]],
        safeguard_users_updated_percent=None,
        safeguard_users_deleted_percent=None,
        safeguard_groups_deleted_percent=None,
        safeguard_members_removed_percent=None,
    )

    first = sync(directory, timeout=120)

    assert first.status == RunStatus.COMPLETED, first.message
    assert first.warning_counts == {"outside_scope": 1, "not_synced": 1}
    assert_store_equals_ad(api, directory, first, ad_tree)

    conn, users, groups = ad_tree["conn"], ad_tree["users"], ad_tree["groups"]
    # AD keeps member links right through deletes, renames and moves by itself.
    conn.delete_s(users[0])
    conn.rename_s(users[1], "CN=" + escape("Renamed, Person Ü"), delold=1)
    conn.rename_s(users[2], users[2].split(",", 1)[0], newsuperior=ad_tree["staff"])
    conn.modify_s(
        groups[5], [(ldap.MOD_ADD, "member", [spell(rdns_of(conn, users[20]), 2, "=").encode()])]
    )
    member = users[(4 * 6) % len(users)]
    conn.modify_s(
        groups[4], [(ldap.MOD_DELETE, "member", [spell(rdns_of(conn, member), 3, "=").encode()])]
    )
    conn.modify_s(
        users[9],
        [
            (ldap.MOD_REPLACE, "mail", [b"fid9.new@example.test"]),
            (ldap.MOD_REPLACE, "givenName", ["Željko".encode()]),
        ],
    )
    conn.rename_s(groups[1], "CN=" + escape("Renamed+Team, 1"), delold=1)

    second = sync(directory, timeout=120)

    assert second.status == RunStatus.COMPLETED, second.message
    assert second.read_mode == ReadMode.INCREMENTAL, second.read_reason
    assert second.users_deleted == 1 and second.memberships_removed >= 2
    assert_store_equals_ad(api, directory, second, ad_tree)

    third = sync(directory, timeout=120)

    assert third.status == RunStatus.COMPLETED, third.message
    assert third.read_mode == ReadMode.INCREMENTAL, third.read_reason
    assert third.changes.count() == 0
    assert (third.users_updated, third.groups_updated, third.memberships_added) == (0, 0, 0)
    assert_store_equals_ad(api, directory, third, ad_tree)

    # A watermark from another domain controller (another invocationId): the agent reads
    # in full and says why; nothing changes.
    watermark = third.read_watermark
    watermark["agent"]["invocation_id"] = str(uuid.uuid4())
    SyncRun.objects.filter(pk=third.pk).update(read_watermark=watermark)
    fourth = sync(directory, timeout=120)
    assert fourth.status == RunStatus.COMPLETED, fourth.message
    assert fourth.read_mode == ReadMode.FULL
    assert "invocationId" in fourth.read_reason
    assert fourth.changes.count() == 0
    assert_store_equals_ad(api, directory, fourth, ad_tree)
