"""Incremental reads of Active Directory (a Samba AD DC) by uSNChanged.

The watermark is the DC's highestCommittedUSN and its database's invocationId, read
before any entry. Each test checks the agent's stream against the test's own reads.
The standard data set stays as it is: tests change only objects they add.
"""

from __future__ import annotations

import uuid

import ldap
import pytest

from connectors.protocol.settings import DEFAULT_FILTERS
from tests.support.samba_ad import add_group, add_members, add_user

pytestmark = [pytest.mark.ad, pytest.mark.slow]

USERS_FILTER = DEFAULT_FILTERS["ad"]["users"]
GROUPS_FILTER = DEFAULT_FILTERS["ad"]["groups"]


def by_type(records):
    out = {"begin": [], "present": [], "user": [], "group": [], "end": [], "error": []}
    for record in records:
        out[record["type"]].append(record)
    return out


def ad_body(samba_ad, changes_since=None, **extra):
    body = {
        "directory": {"id": 3, "name": "example.test", "type": "ad"},
        "connection": {
            "host": samba_ad.host,
            "port": samba_ad.port,
            "base_dn": samba_ad.base_dn,
            "bind_dn": samba_ad.bind_dn,
            "bind_password": samba_ad.password,
            "timeout": 60,
        },
        "users": {"dns": [samba_ad.users_ou_dn]},
        "groups": {"dns": [samba_ad.groups_ou_dn]},
        **extra,
    }
    if changes_since is not None:
        body["changes_since"] = changes_since
    return body


def root_dse(conn):
    """(highestCommittedUSN, invocationId of the serving DC), read directly."""
    [(_, root)] = conn.search_s(
        "", ldap.SCOPE_BASE, "(objectClass=*)", ["highestCommittedUSN", "dsServiceName"]
    )
    service = root["dsServiceName"][0].decode()
    [(_, ntds)] = conn.search_s(service, ldap.SCOPE_BASE, "(objectClass=*)", ["invocationId"])
    return int(root["highestCommittedUSN"][0]), str(uuid.UUID(bytes_le=ntds["invocationId"][0]))


def in_scope(conn, base, filterstr):
    """DN -> objectGUID (as a UUID string) of every entry the agent's read covers."""
    found = conn.search_s(base, ldap.SCOPE_SUBTREE, filterstr, ["objectGUID"])
    return {dn: str(uuid.UUID(bytes_le=entry["objectGUID"][0])) for dn, entry in found if dn}


@pytest.fixture
def ad_agent(agent_factory):
    return agent_factory("ad-agent")


@pytest.fixture
def own_objects(samba_ad):
    """A user, a second user and a group of 1,600 standard users plus the first, added
    for one test and deleted after it."""
    conn = samba_ad.connect()
    tag = uuid.uuid4().hex[:8]
    user = f"CN=Inc User {tag},{samba_ad.users_ou_dn}"
    other = f"CN=Inc Other {tag},{samba_ad.users_ou_dn}"
    group = f"CN=Inc Big {tag},{samba_ad.groups_ou_dn}"
    add_user(conn, user, sam=f"inc.{tag}", given_name="Inc", sn="User")
    add_user(conn, other, sam=f"inc.o.{tag}", given_name="Other", sn="User")
    bulk = [u.dn for u in samba_ad.users if u.sam.startswith("user")][:1600]
    add_group(conn, group, sam=f"incbig.{tag}", members=[user, *bulk])
    yield {"conn": conn, "user": user, "other": other, "group": group, "bulk": bulk}
    for dn in (group, user, other):
        try:
            conn.delete_s(dn)
        except ldap.NO_SUCH_OBJECT:
            pass


def test_full_read_watermark_is_the_dcs_usn_and_invocation_id_read_before_the_entries(
    ad_agent, samba_ad
):
    conn = samba_ad.connect()
    usn_before, invocation_id = root_dse(conn)

    records = ad_agent.sync(ad_body(samba_ad))

    usn_after, _ = root_dse(conn)
    begin, end = records[0], records[-1]
    assert begin["read"] == "full" and "reason" not in begin
    assert set(end) == {"type", "users", "groups", "watermark"}
    assert end["watermark"]["kind"] == "usn"
    assert end["watermark"]["invocation_id"] == invocation_id
    assert usn_before <= end["watermark"]["usn"] <= usn_after
    assert end["users"] == len(in_scope(conn, samba_ad.users_ou_dn, USERS_FILTER))


def test_incremental_read_sends_the_changed_user_and_every_group_whole(
    ad_agent, samba_ad, own_objects
):
    conn = own_objects["conn"]
    full = by_type(ad_agent.sync(ad_body(samba_ad)))
    since = full["end"][0]["watermark"]
    full_groups = {r["dn"]: r for r in full["group"]}
    assert len(full_groups[own_objects["group"]]["members"]) == 1601

    conn.modify_s(own_objects["user"], [(ldap.MOD_REPLACE, "mail", [b"changed@example.test"])])
    add_members(conn, own_objects["group"], [own_objects["other"]])
    # The entries the agent must send, by the test's own search for uSNChanged > since.
    newer = f"(uSNChanged>={since['usn'] + 1})"
    changed_users = set(in_scope(conn, samba_ad.users_ou_dn, f"(&{USERS_FILTER}{newer})"))
    changed_groups = set(in_scope(conn, samba_ad.groups_ou_dn, f"(&{GROUPS_FILTER}{newer})"))
    assert changed_users == {own_objects["user"]}
    assert changed_groups == {own_objects["group"]}

    records = ad_agent.sync(ad_body(samba_ad, since, page_size=500))

    got = by_type(records)
    assert got["begin"][0]["read"] == "incremental" and "reason" not in got["begin"][0]
    users = in_scope(conn, samba_ad.users_ou_dn, USERS_FILTER)
    groups = in_scope(conn, samba_ad.groups_ou_dn, GROUPS_FILTER)
    listed = {
        kind: sorted(e for r in got["present"] if r["kind"] == kind for e in r["entries"])
        for kind in ("user", "group")
    }
    assert listed["user"] == sorted([guid, dn] for dn, guid in users.items())
    assert listed["group"] == sorted([guid, dn] for dn, guid in groups.items())
    assert all(len(r["entries"]) <= 500 for r in got["present"])
    assert [r["dn"] for r in got["user"]] == [own_objects["user"]]
    assert got["user"][0]["email"] == "changed@example.test"
    assert got["user"][0]["id"] == users[own_objects["user"]]
    # Every group whole: AD's member links follow renamed, moved and deleted members
    # without changing the group's uSNChanged.
    assert sorted(r["dn"] for r in got["group"]) == sorted(groups)
    group = next(r for r in got["group"] if r["dn"] == own_objects["group"])
    # 1,602 members: more than one ranged read returns, all of them arrive.
    assert sorted(group["members"]) == sorted(
        [own_objects["user"], own_objects["other"], *own_objects["bulk"]]
    )
    end = got["end"][0]
    assert end["users"] == 1 and end["groups"] == len(groups)
    assert end["present_users"] == len(users) and end["present_groups"] == len(groups)
    assert end["watermark"]["invocation_id"] == since["invocation_id"]
    assert end["watermark"]["usn"] > since["usn"]

    # Nothing changed since: the listing alone.
    quiet = by_type(ad_agent.sync(ad_body(samba_ad, end["watermark"])))
    assert quiet["user"] == [] and len(quiet["group"]) == len(groups)
    assert quiet["end"][0]["present_users"] == len(users)


def test_a_watermark_from_another_database_makes_a_full_read_saying_why(ad_agent, samba_ad):
    conn = samba_ad.connect()
    _, invocation_id = root_dse(conn)
    other = str(uuid.uuid4())
    since = {"kind": "usn", "usn": 1, "invocation_id": other}

    records = ad_agent.sync(ad_body(samba_ad, since))

    got = by_type(records)
    begin = got["begin"][0]
    assert begin["read"] == "full"
    assert "invocationId changed" in begin["reason"]
    assert other in begin["reason"] and invocation_id in begin["reason"]
    assert got["present"] == []
    assert len(got["user"]) == len(in_scope(conn, samba_ad.users_ou_dn, USERS_FILTER))
    assert set(got["end"][0]) == {"type", "users", "groups", "watermark"}
    assert got["end"][0]["watermark"]["invocation_id"] == invocation_id
