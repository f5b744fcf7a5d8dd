"""The agent's incremental reading in one process: what an OpenLDAP read sends when it
starts from a watermark, the watermark it ends with, and how an Active Directory read
decides between incremental and full from what the domain controller says.

The expected values come from the test's own python-ldap reads of the server, not from
the agent."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import ldap
import pytest
from ldap.controls import LDAPControl

from connectors.agent import ldapsource
from connectors.agent.request import SyncSettings
from connectors.agent.vendors import source_for
from connectors.agent.vendors.active_directory import ActiveDirectorySource
from connectors.agent.vendors.openldap import OVERLAP, OpenLDAPSource
from connectors.protocol.changes import format_generalized_time, parse_generalized_time
from testbed.agents import sync_body

USERS_FILTER = "(objectClass=inetOrgPerson)"
GROUPS_FILTER = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"
RELAX = LDAPControl("1.3.6.1.4.1.4203.666.5.12", True)
NOW = datetime.now(UTC).replace(microsecond=0)
TWO_HOURS_AGO = format_generalized_time(NOW - timedelta(hours=2))
ONE_HOUR_AGO = format_generalized_time(NOW - timedelta(hours=1))


def settings_for(server, since=None, **overrides) -> SyncSettings:
    body = sync_body(server, **overrides)
    if since is not None:
        body["changes_since"] = since
    return SyncSettings.from_request(body)


def stamp(server, dn, value):
    server.connect().modify_ext_s(
        dn, [(ldap.MOD_REPLACE, "modifyTimestamp", [value.encode()])], serverctrls=[RELAX]
    )


def in_scope(server, base, filterstr):
    found = server.connect().search_s(
        base, ldap.SCOPE_SUBTREE, filterstr, ["entryUUID", "modifyTimestamp"]
    )
    return {dn: {k: v[0].decode() for k, v in e.items()} for dn, e in found if dn}


class Clock:
    """time.monotonic for the agent: the read starts at 1000 s and ends `took` later."""

    def __init__(self, took: float) -> None:
        self.times = [1000.0, 1000.0 + took]

    def __call__(self) -> float:
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


def read(settings, clock=None, monkeypatch=None):
    """Everything one read sends, in the order the agent's server sends it."""
    if clock is not None:
        monkeypatch.setattr(ldapsource.time, "monotonic", clock)
    with source_for(settings) as source:
        source.prepare()
        present = []
        if source.read == "incremental":
            present = [*source.present("user"), *source.present("group")]
        users, groups = list(source.users()), list(source.groups())
        return source, present, users, groups, source.watermark()


@pytest.fixture
def aged(slapd_factory):
    """12 users and 3 groups last changed two hours ago, except user11 an hour ago."""
    server = slapd_factory(users=12, groups=3, members_per_group=4, nested=False)
    for n in range(11):
        stamp(server, server.dataset.user_dn(n), TWO_HOURS_AGO)
    stamp(server, server.dataset.user_dn(11), ONE_HOUR_AGO)
    for j in range(3):
        stamp(server, server.dataset.group_dn(j), TWO_HOURS_AGO)
    return server


pytestmark = pytest.mark.ldap


def test_a_full_read_ends_with_the_newest_timestamp_less_its_rounded_duration_and_overlap(
    aged, monkeypatch
):
    source, present, users, groups, watermark = read(
        settings_for(aged), Clock(took=2.2), monkeypatch
    )
    assert source.read == "full" and present == []
    assert (len(users), len(groups)) == (12, 3)
    newest = max(
        a["modifyTimestamp"]
        for a in [
            *in_scope(aged, aged.people_dn, USERS_FILTER).values(),
            *in_scope(aged, aged.groups_dn, GROUPS_FILTER).values(),
        ]
    )
    assert newest == ONE_HOUR_AGO
    expected = parse_generalized_time(newest) - timedelta(seconds=3 + OVERLAP)
    assert watermark == {"kind": "modify_timestamp", "value": format_generalized_time(expected)}


def test_the_newest_timestamp_may_be_a_groups(aged, monkeypatch):
    stamp(aged, aged.dataset.group_dn(1), format_generalized_time(NOW - timedelta(minutes=30)))
    *_, watermark = read(settings_for(aged), Clock(took=0.5), monkeypatch)
    expected = NOW - timedelta(minutes=30) - timedelta(seconds=1 + OVERLAP)
    assert watermark["value"] == format_generalized_time(expected)


def test_an_incremental_read_lists_every_id_in_scope_and_sends_only_what_changed(aged, monkeypatch):
    before = format_generalized_time(NOW - timedelta(hours=1, minutes=1))
    since = {"kind": "modify_timestamp", "value": before}
    stamp(aged, aged.dataset.group_dn(2), ONE_HOUR_AGO)
    source, present, users, groups, watermark = read(
        settings_for(aged, since, page_size=5), Clock(took=1), monkeypatch
    )
    assert source.read == "incremental"
    people = in_scope(aged, aged.people_dn, USERS_FILTER)
    teams = in_scope(aged, aged.groups_dn, GROUPS_FILTER)
    user_pages = [r for r in present if r["kind"] == "user"]
    group_pages = [r for r in present if r["kind"] == "group"]
    assert all(r["type"] == "present" for r in present)
    assert [len(r["entries"]) for r in user_pages] == [5, 5, 2]
    assert sorted(e for r in user_pages for e in r["entries"]) == sorted(
        [a["entryUUID"], dn] for dn, a in people.items()
    )
    assert sorted(e for r in group_pages for e in r["entries"]) == sorted(
        [a["entryUUID"], dn] for dn, a in teams.items()
    )
    assert source.present_counts == {"user": 12, "group": 3}
    assert [u["dn"] for u in users] == [aged.dataset.user_dn(11)]
    assert users[0]["id"] == people[aged.dataset.user_dn(11)]["entryUUID"]
    assert users[0]["username"] == "user11"
    assert [g["dn"] for g in groups] == [aged.dataset.group_dn(2)]
    assert groups[0]["members"] == aged.dataset.group_members(2)
    expected = parse_generalized_time(ONE_HOUR_AGO) - timedelta(seconds=1 + OVERLAP)
    assert watermark == {"kind": "modify_timestamp", "value": format_generalized_time(expected)}


@pytest.mark.parametrize("kind, label", [("user", "users"), ("group", "groups")])
def test_a_listing_of_a_dn_that_is_gone_names_the_users_or_groups_dn(aged, kind, label):
    """The listing reads the same DNs as a full read: a DN that is gone is named as the
    users or groups DN it is, as a full read names it."""
    since = {"kind": "modify_timestamp", "value": TWO_HOURS_AGO}
    gone = "ou=gone,dc=example,dc=com"
    scope = {"dns": [gone], "filter": ""}
    settings = settings_for(aged, since, **{f"{label}": scope})
    with source_for(settings) as source:
        source.prepare()
        assert source.read == "incremental"
        with pytest.raises(ldapsource.DirectoryError) as refused:
            list(source.present(kind))
    assert refused.value.code == "no_such_object"
    assert str(refused.value) == f"{label} DN {gone} does not exist on {settings.address}"


def test_an_entry_changed_exactly_at_the_watermark_is_read_again(aged):
    since = {"kind": "modify_timestamp", "value": ONE_HOUR_AGO}
    _, _, users, groups, _ = read(settings_for(aged, since))
    assert [u["username"] for u in users] == ["user11"] and groups == []


def test_an_unchanged_directory_sends_the_listing_alone_and_keeps_a_watermark(aged, monkeypatch):
    since = {"kind": "modify_timestamp", "value": format_generalized_time(NOW)}
    source, present, users, groups, watermark = read(
        settings_for(aged, since), Clock(took=0.1), monkeypatch
    )
    assert (users, groups) == ([], [])
    assert source.present_counts == {"user": 12, "group": 3}
    # The listing saw every entry's timestamp: the watermark follows the newest of them.
    expected = parse_generalized_time(ONE_HOUR_AGO) - timedelta(seconds=1 + OVERLAP)
    assert watermark["value"] == format_generalized_time(expected)


def test_an_empty_scope_keeps_the_watermark_given_and_a_full_read_of_it_has_none(aged):
    empty = {"users": {"filter": "(uid=nobody)"}, "groups": {"filter": "(cn=nobody)"}}
    since = {"kind": "modify_timestamp", "value": TWO_HOURS_AGO}
    *_, kept = read(settings_for(aged, since, **empty))
    assert kept == since
    *_, none = read(settings_for(aged, **empty))
    assert none is None


def test_the_changed_filter_narrows_the_configured_one_by_modify_timestamp(aged):
    since = {"kind": "modify_timestamp", "value": "20260101000000Z"}
    source = source_for(settings_for(aged, since, users={"filter": "uid=user1*"}))
    assert source.read_filter("uid=user1*") == "(&(uid=user1*)(modifyTimestamp>=20260101000000Z))"
    assert source.group_read_filter() == f"(&{GROUPS_FILTER}(modifyTimestamp>=20260101000000Z))"
    full = source_for(settings_for(aged))
    assert full.read_filter("(uid=x)") == "(uid=x)"


def test_an_entry_without_a_timestamp_leaves_no_watermark():
    source = OpenLDAPSource.__new__(OpenLDAPSource)
    source.newest, source.unstamped = b"", False
    source.read, source.changes_since, source.started = "full", None, 0.0
    source.cookies = {}  # a server without content synchronization
    source.note_entry({"ModifyTimestamp": [b"20260101000000Z"]})
    assert source.newest == b"20260101000000Z" and not source.unstamped
    source.note_entry({"modifyTimestamp": [b"20250101000000Z"]})
    assert source.newest == b"20260101000000Z"
    source.note_entry({"entryUUID": [b"x"]})
    assert source.unstamped and source.newest == b"20260101000000Z"
    assert source.watermark() is None


def test_a_timestamp_that_is_not_utc_generalized_time_leaves_no_watermark():
    source = OpenLDAPSource.__new__(OpenLDAPSource)
    source.newest, source.unstamped = b"", False
    source.read, source.changes_since, source.started = "full", None, 0.0
    source.cookies = {}  # a server without content synchronization
    source.note_entry({"modifyTimestamp": [b"20260101000000+0200"]})
    assert source.watermark() is None


# --- Active Directory: deciding the read from the domain controller's root DSE -------------

INVOCATION = uuid.UUID("6f1d0d3a-8c6b-4a57-9a3e-2f7a6f0b8c11")
SERVICE = (
    "CN=NTDS Settings,CN=DC1,CN=Servers,CN=Default-First-Site-Name,CN=Sites,"
    "CN=Configuration,DC=corp,DC=example"
)


class FakeDC:
    """search_ext_s of a domain controller: the root DSE and its NTDS Settings entry."""

    def __init__(self, usn=b"4711", invocation=INVOCATION.bytes_le, refuse=None):
        self.entries = {
            "": {"highestCommittedUSN": [usn] if usn else [], "dsServiceName": [SERVICE.encode()]},
            SERVICE: {"invocationId": [invocation] if invocation else []},
        }
        self.refuse = refuse
        self.asked = []

    def search_ext_s(self, dn, scope, filterstr, attrs, timeout=None):
        self.asked.append((dn, scope, filterstr, tuple(attrs), timeout))
        if self.refuse == dn:
            raise ldap.INSUFFICIENT_ACCESS({"desc": "Insufficient access"})
        if self.refuse == "down":
            raise ldap.SERVER_DOWN({"desc": "Can't contact LDAP server"})
        if self.refuse == "silent":
            raise ldap.TIMEOUT({"desc": "Timed out"})
        return [(None, ["ldap://elsewhere"]), (dn, self.entries[dn])]


def ad_source(since=None, dc=None):
    body = {
        "directory": {"id": 1, "type": "ad"},
        "connection": {"host": "dc1.corp.example", "base_dn": "dc=corp,dc=example", "timeout": 7},
    }
    if since is not None:
        body["changes_since"] = since
    source = source_for(SyncSettings.from_request(body))
    assert isinstance(source, ActiveDirectorySource)
    source.conn = dc or FakeDC()
    return source


def usn_mark(usn=100, invocation=INVOCATION):
    return {"kind": "usn", "usn": usn, "invocation_id": str(invocation)}


def test_ad_reads_the_usn_and_invocation_id_before_any_entry():
    dc = FakeDC()
    source = ad_source(dc=dc)
    assert not source.decides_when_connected
    source.prepare()
    assert source.read == "full" and source.reason is None
    assert source.watermark() == usn_mark(4711)
    assert dc.asked == [
        ("", ldap.SCOPE_BASE, "(objectClass=*)", ("highestCommittedUSN", "dsServiceName"), 7.0),
        (SERVICE, ldap.SCOPE_BASE, "(objectClass=*)", ("invocationId",), 7.0),
    ]


def test_ad_reads_incrementally_from_a_watermark_of_the_same_database():
    source = ad_source(usn_mark(100))
    assert source.decides_when_connected
    source.prepare()
    assert source.read == "incremental" and source.reason is None
    assert source.watermark() == usn_mark(4711)
    assert source.read_filter("(objectClass=user)") == "(&(objectClass=user)(uSNChanged>=101))"
    # Member links follow renamed and deleted members: every group is read whole.
    assert source.group_read_filter() == "(objectClass=group)"


def test_ad_reads_in_full_when_the_invocation_id_changed():
    other = uuid.UUID("00000000-0000-0000-0000-000000000001")
    source = ad_source(usn_mark(100, other))
    source.prepare()
    assert source.read == "full"
    # The Sync Log's read reason, word for word.
    assert source.reason == (
        f"the domain controller's invocationId changed (the watermark is from {other}, "
        f"{SERVICE} has {INVOCATION}): this is another domain controller or a restored "
        "database, whose update sequence numbers cannot be compared with the watermark's"
    )
    assert source.watermark() == usn_mark(4711)


@pytest.mark.parametrize(
    "dc, why",
    [
        (FakeDC(usn=b""), "did not give its highestCommittedUSN"),
        (FakeDC(usn=b"47x1"), "did not give its highestCommittedUSN"),
        (FakeDC(invocation=b""), "did not give its highestCommittedUSN"),
        (FakeDC(invocation=b"short"), "did not give its highestCommittedUSN"),
        (FakeDC(refuse=SERVICE), f"refused the read of {SERVICE}: Insufficient access"),
        (FakeDC(refuse=""), "refused the read of the root DSE: Insufficient access"),
    ],
)
def test_ad_without_a_usn_or_invocation_id_reads_in_full_and_says_why(dc, why):
    source = ad_source(usn_mark(100), dc)
    source.prepare()
    assert source.read == "full" and source.watermark() is None
    assert source.reason.startswith("dc1.corp.example:389 ") and why in source.reason
    if why.startswith("did not give"):
        assert source.reason == (
            "dc1.corp.example:389 did not give its highestCommittedUSN and the invocationId "
            "of its database, which an incremental read starts from"
        )
    full = ad_source(dc=dc)
    full.prepare()
    assert full.read == "full" and full.reason is None and full.watermark() is None


def test_ad_unreachable_while_reading_the_root_dse_is_a_directory_error():
    source = ad_source(usn_mark(100), FakeDC(refuse="down"))
    with pytest.raises(ldapsource.DirectoryError) as caught:
        source.prepare()
    assert caught.value.code == "unreachable"
    assert caught.value.message.startswith("cannot reach LDAP server dc1.corp.example:389")


def test_ad_silent_while_reading_the_root_dse_says_what_it_was_reading():
    source = ad_source(usn_mark(100), FakeDC(refuse="silent"))
    with pytest.raises(ldapsource.DirectoryError) as caught:
        source.prepare()
    assert caught.value.code == "unreachable"
    assert caught.value.message == (
        "LDAP server dc1.corp.example:389 did not answer within 7 s (the read of the root DSE)"
    )


PEOPLE = "OU=People,DC=corp,DC=example"


def test_a_listing_takes_the_id_as_the_server_spells_it_past_references_and_entries_without_one():
    """A server may return the id attribute in another case than asked; a search
    continuation reference in a page ends nothing; an entry without an id is listed by its
    DN alone, for the service to report."""
    source = ad_source(usn_mark(100))
    first, second = uuid.uuid4(), uuid.uuid4()
    page = [
        (f"CN=Ann,{PEOPLE}", {"objectguid": [first.bytes_le]}),
        (None, ["ldap://elsewhere.corp.example/DC=elsewhere"]),
        (f"CN=Bob,{PEOPLE}", {"OBJECTGUID": [second.bytes_le]}),
        (f"CN=Cy,{PEOPLE}", {}),
    ]
    asked = []

    def pages(base, filterstr, attrs, what):
        asked.append((base, filterstr, attrs, what))
        yield page

    source._pages = pages
    assert list(source.present("user")) == [
        {
            "type": "present",
            "kind": "user",
            "entries": [
                [str(first), f"CN=Ann,{PEOPLE}"],
                [str(second), f"CN=Bob,{PEOPLE}"],
                [None, f"CN=Cy,{PEOPLE}"],
            ],
        }
    ]
    assert source.present_counts["user"] == 3
    assert [(attrs, what) for _, _, attrs, what in asked] == [(["objectGUID"], "users")]


def test_a_listed_id_that_is_not_a_guid_names_its_entry():
    source = ad_source(usn_mark(100))
    source._pages = lambda *_: iter([[(f"CN=Dee,{PEOPLE}", {"objectGUID": [b"short"]})]])
    with pytest.raises(ldapsource.DirectoryError) as caught:
        list(source.present("user"))
    assert caught.value.message == f"objectGUID of CN=Dee,{PEOPLE} is 5 bytes, not 16"
