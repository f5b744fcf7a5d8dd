"""Incremental reads of a slapd offering content synchronization (RFC 4533 syncprov with
a session log): the read ends with each base's cookie; the next read sends the entries
changed since and names the ids that left the scope, and reads in full, saying why,
when the server cannot follow the cookie.

Each test checks the agent's stream against the test's own python-ldap reads of slapd.
"""

from __future__ import annotations

import ldap
import pytest

from testbed.agents import sync_body
from tests.agent.test_incremental_ldap import by_type, incremental_body

pytestmark = pytest.mark.ldap


@pytest.fixture
def provider(slapd_factory):
    return slapd_factory(users=30, groups=4, members_per_group=5, syncprov=True)


def kinds(records):
    out = by_type([r for r in records if r["type"] != "deleted"])
    out["deleted"] = [r for r in records if r["type"] == "deleted"]
    return out


def named(records, kind):
    return sorted(i for r in records["deleted"] if r["kind"] == kind for i in r["ids"])


def test_a_read_ends_with_each_bases_cookie_and_the_next_names_what_left(agent, provider):
    s = provider
    full = kinds(agent.sync(sync_body(s)))
    assert full["begin"] == [
        {"type": "begin", "connector": "connector-1", "version": full["begin"][0]["version"],
         "directory": 1, "read": "full"}
    ]  # fmt: skip
    watermark = full["end"][0]["watermark"]
    assert watermark["kind"] == "sync_cookie"
    assert set(watermark["cookies"]) == {s.people_dn, s.groups_dn}
    assert len(full["user"]) == 30 and len(full["group"]) == 4

    user6 = s.entry_uuid(s.dataset.user_dn(6))
    group2 = s.entry_uuid(s.dataset.group_dn(2))
    s.modify_user("user3", mail="three@new.example.com")
    s.delete_user("user6")
    s.delete(s.dataset.group_dn(2))

    got = kinds(agent.sync(incremental_body(s, watermark)))
    assert (got["begin"][0]["read"], got["begin"][0]["scope"]) == ("incremental", "deleted")
    assert got["present"] == []
    assert [(r["dn"], r["email"]) for r in got["user"]] == [
        (s.dataset.user_dn(3), "three@new.example.com")
    ]
    assert got["group"] == []
    # slapd names every entry deleted or changed since the cookie outside the search's
    # scope, whatever the base: what counts is that each departure is named, and that an
    # entry in scope named with them is one the read sends as changed.
    assert user6 in named(got, "user") and group2 in named(got, "group")
    scope = {
        "user": set(s.entry_uuids(s.people_dn, "(objectClass=inetOrgPerson)").values()),
        "group": set(s.entry_uuids(s.groups_dn, "(objectClass=groupOfNames)").values()),
    }
    for kind in ("user", "group"):
        assert scope[kind] & set(named(got, kind)) <= {r["id"] for r in got[kind]}
    end = got["end"][0]
    assert (end["users"], end["groups"], end["deleted_users"], end["deleted_groups"]) == (
        1,
        0,
        len(named(got, "user")),
        len(named(got, "group")),
    )
    assert end["watermark"]["kind"] == "sync_cookie"
    assert end["watermark"] != watermark

    # Nothing changed since: nothing read, nothing named, the cookie holds.
    quiet = kinds(agent.sync(incremental_body(s, end["watermark"])))
    assert (quiet["user"], quiet["group"], quiet["deleted"]) == ([], [], [])


@pytest.mark.parametrize(
    ("cookies", "reason"),
    [
        ("other base", "the last sync's watermark has no sync cookie for ou=groups"),
        ("no state", "is not one 127.0.0.1"),
        ("future", "consumer state is newer than provider"),
        ("old", "cannot name the entries deleted under ou=people"),
    ],
)
def test_a_cookie_the_server_cannot_follow_is_read_in_full_saying_why(
    agent, provider, cookies, reason
):
    s = provider
    watermark = kinds(agent.sync(sync_body(s)))["end"][0]["watermark"]
    if cookies == "other base":
        watermark["cookies"] = {s.people_dn: watermark["cookies"][s.people_dn]}
    else:
        csn = {"no state": "garbage", "future": "20990101000000.000000Z#000000#000#000000",
               "old": "20200101000000.000000Z#000000#000#000000"}[cookies]  # fmt: skip
        watermark["cookies"] = dict.fromkeys(watermark["cookies"], f"rid=000,csn={csn}")
    got = kinds(agent.sync(incremental_body(s, watermark)))
    assert got["begin"][0]["read"] == "full"
    assert reason in got["begin"][0]["reason"]
    assert (len(got["user"]), len(got["group"])) == (30, 4)
    assert got["end"][0]["watermark"]["kind"] == "sync_cookie"


def test_a_server_that_lost_its_session_log_is_read_in_full(agent, provider):
    s = provider
    watermark = kinds(agent.sync(sync_body(s)))["end"][0]["watermark"]
    s.delete_user("user1")
    s.restart()
    got = kinds(agent.sync(incremental_body(s, watermark)))
    assert got["begin"][0]["read"] == "full"
    assert "session log" in got["begin"][0]["reason"]
    assert len(got["user"]) == 29


def test_a_cookie_for_a_server_without_content_synchronization_is_read_in_full(
    agent, provider, slapd
):
    watermark = kinds(agent.sync(sync_body(provider)))["end"][0]["watermark"]
    got = kinds(agent.sync(incremental_body(slapd, watermark)))
    assert got["begin"][0]["read"] == "full"
    assert "no longer offers content synchronization" in got["begin"][0]["reason"]
    assert got["end"][0]["watermark"]["kind"] == "modify_timestamp"


def test_a_refresh_refused_once_the_read_began_asks_for_a_full_read(provider, monkeypatch):
    """E.g. a size limit on the bind DN that the changes since the cookie exceed: the
    stream ends with a refresh_required error, which the service answers with a full
    read, instead of failing every sync."""
    from connectors.agent import contentsync
    from connectors.agent.ldapsource import DirectoryError
    from connectors.agent.request import SyncSettings
    from connectors.agent.vendors import source_for

    body = sync_body(provider)
    first = source_for(SyncSettings.from_request(body))
    with first:
        first.prepare()
        body["changes_since"] = first.watermark()
    provider.modify_user("user2", mail="two@new.example.com")
    source = source_for(SyncSettings.from_request(body))
    with source:
        source.prepare()
        assert (source.read, source.names_departures) == ("incremental", True)

        def refused(*args, **kwargs):
            raise ldap.SIZELIMIT_EXCEEDED({"desc": "Size limit exceeded"})
            yield  # a generator, as the real refresh

        monkeypatch.setattr(contentsync, "refresh", refused)
        with pytest.raises(DirectoryError) as stopped:
            list(source.users())
    assert stopped.value.code == "refresh_required"
    assert "Size limit exceeded" in stopped.value.message
    assert "read in full instead" in stopped.value.message
