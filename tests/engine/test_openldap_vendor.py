"""The agent's reads of an OpenLDAP server offering content synchronization (RFC 4533,
``syncprov`` with a session log), in one process: the cookie each read ends with, what an
incremental read sends and which departures it names, when it reads in full instead and
why, and the errors it stops with.

The expected values come from the test's own python-ldap reads of slapd (the cookie is
the database's contextCSN, the entries and their ids are read directly), never from the
agent's helpers."""

from __future__ import annotations

import subprocess

import ldap
import ldap.ldapobject
import pytest
from ldap.syncrepl import SyncreplConsumer

from connectors.agent import contentsync
from connectors.agent.ldapsource import DirectoryError
from connectors.agent.request import SyncSettings
from connectors.agent.vendors import source_for
from testbed.agents import sync_body
from testbed.slapd import SLAPADD, SUFFIX, Dataset, Slapd, slapd_available, write_ldif
from tests.support.components import missing

pytestmark = pytest.mark.ldap

USERS_FILTER = "(objectClass=inetOrgPerson)"
GROUPS_FILTER = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"


@pytest.fixture
def provider(slapd_factory):
    """8 users and 3 groups on a slapd with syncprov and a session log."""
    return slapd_factory(users=8, groups=3, members_per_group=3, syncprov=True)


# --- the test's own reads of the server ----------------------------------------------------


def cookie_now(server) -> str:
    """The cookie slapd gives for its database as it is now: its contextCSN."""
    found = server.connect().search_s(server.suffix, ldap.SCOPE_BASE, attrlist=["contextCSN"])
    (csn,) = found[0][1]["contextCSN"]
    return f"rid=000,csn={csn.decode()}"


class _Consumer(ldap.ldapobject.LDAPObject, SyncreplConsumer):
    """python-ldap's own content-synchronization consumer: collects the ids a refresh
    names as deleted."""

    def __init__(self, uri: str) -> None:
        super().__init__(uri)
        self.deleted: set[str] = set()

    def syncrepl_delete(self, uuids) -> None:
        self.deleted.update(uuids)


def named_by_slapd(server, base, filterstr, cookie) -> set[str]:
    """The ids slapd itself names as deleted from a refresh of `base` since `cookie`."""
    consumer = _Consumer(server.uri)
    consumer.simple_bind_s(server.root_dn, server.root_password)
    try:
        msgid = consumer.syncrepl_search(
            base, ldap.SCOPE_SUBTREE, cookie=cookie, filterstr=filterstr, attrlist=["1.1"]
        )
        while consumer.syncrepl_poll(msgid=msgid, all=1):
            pass
    finally:
        consumer.unbind_s()
    return consumer.deleted


def cookies_now(server, *bases) -> dict:
    return {"kind": "sync_cookie", "cookies": dict.fromkeys(bases, cookie_now(server))}


def entries(server, base, filterstr=USERS_FILTER) -> dict[str, dict]:
    """Lowercased DN -> {"id", "email"} of every entry under `base` matching the filter."""
    found = server.connect().search_s(base, ldap.SCOPE_SUBTREE, filterstr, ["entryUUID", "mail"])
    return {
        dn.lower(): {
            "id": attrs["entryUUID"][0].decode(),
            "email": attrs["mail"][0].decode() if "mail" in attrs else None,
        }
        for dn, attrs in found
        if dn
    }


def add_ou(server, dn: str) -> str:
    ou = dn.split(",", 1)[0].split("=", 1)[1]
    server.connect().add_s(dn, [("objectClass", [b"organizationalUnit"]), ("ou", [ou.encode()])])
    return dn


def add_person(server, uid: str, parent: str) -> str:
    dn = f"uid={uid},{parent}"
    server.connect().add_s(
        dn,
        [
            ("objectClass", [b"inetOrgPerson"]),
            ("uid", [uid.encode()]),
            ("cn", [uid.encode()]),
            ("sn", [b"Tester"]),
            ("mail", [f"{uid}@example.com".encode()]),
        ],
    )
    return dn


# --- the agent's read, in the order its server sends it -----------------------------------


def settings_for(server, since=None, **overrides) -> SyncSettings:
    body = sync_body(server, **overrides)
    if since is not None:
        body["changes_since"] = since
    return SyncSettings.from_request(body)


class Read:
    """What one read sent, in the order the agent's server sends it: the user and group
    records, the ``deleted`` records of an incremental read (by cookie), and the
    watermark it ended with."""

    def __init__(self, settings: SyncSettings) -> None:
        with source_for(settings) as source:
            source.prepare()
            self.source = source
            self.read, self.reason = source.read, source.reason
            self.by_cookie = source.names_departures
            self.users = list(source.users())
            self.groups = list(source.groups())
            self.deleted = {"user": [], "group": []}
            if source.read == "incremental":
                for kind in ("user", "group"):
                    self.deleted[kind] = list(source.scope(kind))
            self.watermark = source.watermark()

    def named(self, kind: str) -> set[str]:
        return {i for record in self.deleted[kind] for i in record["ids"]}

    def sent(self, kind: str = "user") -> dict[str, dict]:
        return {r["dn"].lower(): r for r in (self.users if kind == "user" else self.groups)}


def limit_paged_reads(source, entries: int) -> None:
    """The connection's searches (its paged reads and refreshes) answered with at most
    `entries` entries, as the server limits an account."""
    search_ext = source.conn.search_ext

    def limited(base, scope, filterstr, attrlist=None, attrsonly=0, serverctrls=None,
                clientctrls=None, timeout=-1, sizelimit=0):  # fmt: skip
        return search_ext(
            base, scope, filterstr, attrlist, attrsonly, serverctrls, clientctrls, timeout, entries
        )

    source.conn.search_ext = limited


def assert_in_scope_named_only_when_sent(got: Read, server) -> None:
    """slapd names entries changed outside a base among its departures; an entry in scope
    may be named only when the read sends it as changed (the service keeps it)."""
    people = {e["id"] for e in entries(server, server.people_dn).values()}
    groups = {e["id"] for e in entries(server, server.groups_dn, GROUPS_FILTER).values()}
    assert got.named("user") & people <= {r["id"] for r in got.users}
    assert got.named("group") & groups <= {r["id"] for r in got.groups}


# --- cookies --------------------------------------------------------------------------------


def test_a_full_read_ends_with_the_cookie_of_each_base_as_the_server_holds_it(provider):
    s = provider
    contractors = add_ou(s, f"ou=contractors,{s.suffix}")
    add_person(s, "crew0", contractors)
    users = {"dns": [s.people_dn, contractors, s.people_dn], "filter": ""}
    got = Read(settings_for(s, users=users))
    assert (got.read, got.reason, got.by_cookie) == ("full", None, False)
    assert len(got.users) == 9 and len(got.groups) == 3
    assert got.watermark == cookies_now(s, s.people_dn, contractors, s.groups_dn)
    assert list(got.watermark["cookies"]) == [s.people_dn, contractors, s.groups_dn]


def test_an_unchanged_directory_sends_nothing_names_nothing_and_keeps_its_cookie(provider):
    s = provider
    since = cookies_now(s, s.people_dn, s.groups_dn)
    got = Read(settings_for(s, since))
    assert (got.read, got.reason, got.by_cookie) == ("incremental", None, True)
    assert (got.users, got.groups, got.deleted) == ([], [], {"user": [], "group": []})
    assert got.source.departed_counts == {"user": 0, "group": 0}
    assert got.watermark == since


# --- what an incremental read sends and names ------------------------------------------------


def test_an_incremental_read_sends_the_changed_entries_and_names_those_that_left(provider):
    s = provider
    alumni = add_ou(s, f"ou=alumni,{s.suffix}")
    since = cookies_now(s, s.people_dn, s.groups_dn)
    before = entries(s, s.people_dn)
    group_ids = {dn: e["id"] for dn, e in entries(s, s.groups_dn, GROUPS_FILTER).items()}
    s.modify_user("user1", mail="one@new.example.com")
    renamed = s.rename_user("user2", "user2-renamed")
    added = s.add_user("newcomer")
    s.delete_user("user3")
    s.delete_user("user4")
    moved_out = s.rename(s.dataset.user_dn(5), "uid=user5", alumni)
    s.modify(s.dataset.group_dn(0), description="changed")
    s.delete(s.dataset.group_dn(2))

    got = Read(settings_for(s, since, page_size=2))

    assert (got.read, got.reason, got.by_cookie) == ("incremental", None, True)
    now = entries(s, s.people_dn)
    changed = {s.dataset.user_dn(1).lower(), renamed.lower(), added.lower()}
    assert {dn: (r["id"], r["email"]) for dn, r in got.sent().items()} == {
        dn: (now[dn]["id"], now[dn]["email"]) for dn in changed
    }
    assert got.sent()[s.dataset.user_dn(1).lower()]["email"] == "one@new.example.com"
    assert [g["dn"] for g in got.groups] == [s.dataset.group_dn(0)]
    gone = {before[s.dataset.user_dn(n).lower()]["id"] for n in (3, 4, 5)}
    assert gone <= got.named("user")
    assert entries(s, alumni)[moved_out.lower()]["id"] in got.named("user")
    assert group_ids[s.dataset.group_dn(2).lower()] in got.named("group")
    assert_in_scope_named_only_when_sent(got, s)
    # The ids named, sorted, at most page_size to a record, and counted.
    for kind in ("user", "group"):
        ids = [i for record in got.deleted[kind] for i in record["ids"]]
        assert ids == sorted(got.named(kind)) and len(ids) == len(set(ids))
        assert all(r["type"] == "deleted" and r["kind"] == kind for r in got.deleted[kind])
        assert [len(r["ids"]) for r in got.deleted[kind]] == [
            min(2, len(ids) - start) for start in range(0, len(ids), 2)
        ]
        assert got.source.departed_counts[kind] == len(ids)
    assert got.watermark == cookies_now(s, s.people_dn, s.groups_dn)
    assert got.watermark != since


def test_a_base_under_which_nothing_changed_is_refreshed_once_naming_what_slapd_names(
    provider, monkeypatch
):
    """The refresh asking what left a base says whether any entry under it changed; when
    none did, the refresh of its records would send nothing and name the same departures
    (slapd names every entry changed elsewhere among them): it is not made."""
    s = provider
    cookie = cookie_now(s)
    since = {"kind": "sync_cookie", "cookies": dict.fromkeys((s.people_dn, s.groups_dn), cookie)}
    group_ids = {dn: e["id"] for dn, e in entries(s, s.groups_dn, GROUPS_FILTER).items()}
    s.modify_user("user1", mail="one@new.example.com")
    s.delete_user("user3")
    s.delete(s.dataset.group_dn(2))
    refreshed = []
    real = contentsync.refresh

    def refresh(conn, base, filterstr, *args, **kwargs):
        if filterstr != contentsync.MATCH_NOTHING:  # not the cookies taken as the read begins
            refreshed.append((base, filterstr))
        return real(conn, base, filterstr, *args, **kwargs)

    monkeypatch.setattr(contentsync, "refresh", refresh)

    got = Read(settings_for(s, since))

    monkeypatch.setattr(contentsync, "refresh", real)
    assert [f for base, f in refreshed if base == s.groups_dn] == ["(objectClass=*)"]
    assert [f for base, f in refreshed if base == s.people_dn] == ["(objectClass=*)", USERS_FILTER]
    assert got.groups == []
    assert group_ids[s.dataset.group_dn(2).lower()] in got.named("group")
    assert got.named("group") == named_by_slapd(s, s.groups_dn, GROUPS_FILTER, cookie)
    assert got.named("user") == named_by_slapd(s, s.people_dn, USERS_FILTER, cookie)
    assert [r["dn"] for r in got.users] == [s.dataset.user_dn(1)]


def test_the_entries_under_a_renamed_container_are_sent_again_once_under_their_new_dns(provider):
    """A renamed container renames the entries under it without changing them: slapd does
    not send them, the agent reads them again."""
    s = provider
    team = add_ou(s, f"ou=team,{s.people_dn}")
    for n in range(5):
        add_person(s, f"team{n}", team)
    night = add_ou(s, f"ou=night,{team}")
    for n in range(2):
        add_person(s, f"night{n}", night)
    since = cookies_now(s, s.people_dn, s.groups_dn)
    s.rename(team, "ou=squad")
    squad = f"ou=squad,{s.people_dn}"
    s.modify(f"uid=team1,{squad}", mail="team1@new.example.com")
    s.modify_user("user0", mail="zero@new.example.com")
    # A container under the renamed one changed as well: its entries are sent once.
    s.modify(f"ou=night,{squad}", description="changed")

    got = Read(settings_for(s, since, page_size=2))

    assert got.by_cookie
    now = entries(s, s.people_dn)
    expected = {f"uid=team{n},{squad}".lower() for n in range(5)} | {s.dataset.user_dn(0).lower()}
    expected |= {f"uid=night{n},ou=night,{squad}".lower() for n in range(2)}
    assert sorted(r["dn"].lower() for r in got.users) == sorted(expected)
    assert {dn: (r["id"], r["email"]) for dn, r in got.sent().items()} == {
        dn: (now[dn]["id"], now[dn]["email"]) for dn in expected
    }
    assert got.sent()[f"uid=team1,{squad}".lower()]["email"] == "team1@new.example.com"
    assert_in_scope_named_only_when_sent(got, s)


def test_the_changed_entries_then_those_under_a_changed_container_come_page_by_page(provider):
    s = provider
    team = add_ou(s, f"ou=team,{s.people_dn}")
    for n in range(4):
        add_person(s, f"team{n}", team)
    since = cookies_now(s, s.people_dn, s.groups_dn)
    for n in range(2):
        s.modify_user(f"user{n}", mail=f"u{n}@new.example.com")
    s.modify(team, description="changed")
    with source_for(settings_for(s, since, page_size=2)) as source:
        source.prepare()
        pages = list(source._pages(s.people_dn, USERS_FILTER, ["uid"], "users"))
    # The two changed users, then the container's four entries, two to a page.
    assert [len(page) for page in pages] == [2, 2, 2]
    assert sorted(dn.lower() for dn, _ in pages[0]) == [
        s.dataset.user_dn(n).lower() for n in range(2)
    ]
    assert sorted(dn.lower() for page in pages[1:] for dn, _ in page) == [
        f"uid=team{n},{team}".lower() for n in range(4)
    ]
    assert all(entry["uid"] for page in pages for _, entry in page)


def test_the_entries_under_a_container_moved_out_of_the_base_are_named_as_departed(provider):
    """The server names the container alone; every entry that left with it is named, and
    nothing else besides what the server names. Entries above the base change too (here
    the suffix entry), and entries elsewhere (a group): nothing left with them."""
    s = provider
    team = add_ou(s, f"ou=team,{s.people_dn}")
    for n in range(3):
        add_person(s, f"team{n}", team)
    alumni = add_ou(s, f"ou=alumni,{s.suffix}")
    since = cookies_now(s, s.people_dn, s.groups_dn)
    away = {e["id"] for e in entries(s, team).values()}
    s.modify(s.dataset.group_dn(0), description="changed")
    s.rename(team, "ou=team", alumni)
    s.modify(s.suffix, description="Example Inc.")

    got = Read(settings_for(s, since))

    assert got.by_cookie and got.users == []
    assert [g["dn"] for g in got.groups] == [s.dataset.group_dn(0)]
    assert len(away) == 3
    cookie = since["cookies"][s.people_dn]
    # Named for each base: what slapd names, and the entries that left with the container
    # (for the groups too: the container changed outside their base).
    assert got.named("user") == named_by_slapd(s, s.people_dn, USERS_FILTER, cookie) | away
    assert got.named("group") == named_by_slapd(s, s.groups_dn, GROUPS_FILTER, cookie) | away
    assert_in_scope_named_only_when_sent(got, s)
    assert got.watermark == cookies_now(s, s.people_dn, s.groups_dn)


def test_the_entries_under_a_container_moved_into_the_base_are_sent(provider):
    s = provider
    alumni = add_ou(s, f"ou=alumni,{s.suffix}")
    elsewhere = add_ou(s, f"ou=elsewhere,{alumni}")
    for n in range(3):
        add_person(s, f"away{n}", elsewhere)
    since = cookies_now(s, s.people_dn, s.groups_dn)
    s.rename(elsewhere, "ou=elsewhere", s.people_dn)

    got = Read(settings_for(s, since))

    now = entries(s, f"ou=elsewhere,{s.people_dn}")
    assert len(now) == 3
    assert {dn: r["id"] for dn, r in got.sent().items()} == {dn: e["id"] for dn, e in now.items()}
    assert_in_scope_named_only_when_sent(got, s)


def test_a_referral_elsewhere_in_the_directory_is_passed_over(provider):
    """slapd answers every search over the suffix with a continuation reference for a
    referral object in it, whatever the filter: the search for containers that left
    passes over it."""
    s = provider
    s.connect().add_s(
        f"ou=branch,{s.suffix}",
        [
            ("objectClass", [b"referral", b"extensibleObject"]),
            ("ou", [b"branch"]),
            ("ref", [b"ldap://branch.example.com/ou=branch,dc=example,dc=com"]),
        ],
    )
    found = s.connect().search_s(s.suffix, ldap.SCOPE_SUBTREE, "(uid=nobody)", ["1.1"])
    assert [dn for dn, _ in found] == [None]
    since = cookies_now(s, s.people_dn, s.groups_dn)
    gone = entries(s, s.people_dn)[s.dataset.user_dn(1).lower()]["id"]
    s.delete_user("user1")

    got = Read(settings_for(s, since))

    assert (got.read, got.by_cookie, got.users) == ("incremental", True, [])
    assert gone in got.named("user")
    cookie = since["cookies"][s.people_dn]
    assert got.named("user") == named_by_slapd(s, s.people_dn, USERS_FILTER, cookie)


# --- reading in full instead, and why -------------------------------------------------------


def full_read_instead(server, since, reason):
    got = Read(settings_for(server, since))
    assert (got.read, got.reason, got.by_cookie) == ("full", reason, False)
    assert len(got.users) == len(entries(server, server.people_dn))
    assert got.deleted == {"user": [], "group": []}
    assert got.watermark == cookies_now(server, server.people_dn, server.groups_dn)
    return got


def test_a_watermark_without_a_cookie_for_a_base_is_read_in_full_naming_the_first(provider):
    s = provider
    contractors = add_ou(s, f"ou=contractors,{s.suffix}")
    since = cookies_now(s, s.people_dn)
    users = {"dns": [s.people_dn, contractors], "filter": ""}
    got = Read(settings_for(s, since, users=users))
    assert (got.read, got.by_cookie) == ("full", False)
    assert got.reason == f"the last sync's watermark has no sync cookie for {contractors}"
    assert got.watermark == cookies_now(s, s.people_dn, contractors, s.groups_dn)


@pytest.mark.parametrize(
    "base, cookie, reason",
    [
        pytest.param(
            "groups_dn",
            "rid=000,csn=garbage",
            "the last sync's sync cookie for {base} is not one {address} gives (it names "
            "no change sequence number)",
            id="naming-no-state",
        ),
        pytest.param(
            "people_dn",
            "rid=000,csn=20990101000000.000000Z#000000#000#000000",
            "{address} refused the refresh under {base} since the last sync's cookie: "
            "Server is unwilling to perform (consumer state is newer than provider!)",
            id="newer-than-the-servers-state",
        ),
        pytest.param(
            "groups_dn",
            "rid=000,csn=20200101000000.000000Z#000000#000#000000",
            "{address} cannot name the entries deleted under {base} since the last sync "
            "(its session log was lost in a restart or does not reach back that far)",
            id="older-than-the-session-log",
        ),
    ],
)
def test_a_cookie_the_server_cannot_follow_is_read_in_full_saying_why(
    provider, base, cookie, reason
):
    s = provider
    since = cookies_now(s, s.people_dn, s.groups_dn)
    since["cookies"][getattr(s, base)] = cookie
    full_read_instead(s, since, reason.format(base=getattr(s, base), address=f"127.0.0.1:{s.port}"))


def assert_read_by_timestamp_instead(got, port: int) -> None:
    """A cookie given to a server that offers no content synchronization (to this bind
    DN): its three users read in full, saying why, and a timestamp watermark for next."""
    assert (got.read, got.by_cookie) == ("full", False)
    assert got.reason == (
        f"127.0.0.1:{port} no longer offers content synchronization (RFC 4533), which "
        "the last sync's watermark reads from"
    )
    assert len(got.users) == 3
    assert got.watermark["kind"] == "modify_timestamp"


def test_a_cookie_given_to_a_server_without_content_synchronization_is_read_in_full(
    provider, slapd_factory
):
    plain = slapd_factory(users=3, groups=1, members_per_group=1)
    since = cookies_now(provider, provider.people_dn, provider.groups_dn)
    got = Read(settings_for(plain, since))
    assert_read_by_timestamp_instead(got, plain.port)


# --- stopping once the read began ----------------------------------------------------------


def test_a_server_that_restarts_during_the_read_asks_for_a_full_read(provider):
    """A restart loses the session log: the refresh of the users no longer names what
    left, and the read stops asking the service to read in full."""
    s = provider
    since = cookies_now(s, s.people_dn, s.groups_dn)
    s.delete_user("user1")
    s.modify_user("user2", mail="two@new.example.com")
    with source_for(settings_for(s, since)) as source:
        source.prepare()
        assert source.names_departures
        s.restart()
        source.open()  # the same read goes on over a new connection
        with pytest.raises(DirectoryError) as stopped:
            list(source.users())
    assert stopped.value.code == "refresh_required"
    assert stopped.value.message == (
        f"127.0.0.1:{s.port} cannot name the entries deleted under {s.people_dn} since the "
        "last sync (its session log was lost in a restart or does not reach back that far); "
        "the directory is read in full instead"
    )


def test_a_refresh_cut_at_a_size_limit_asks_for_a_full_read(provider):
    s = provider
    since = cookies_now(s, s.people_dn, s.groups_dn)
    for n in range(3):
        s.modify_user(f"user{n}", mail=f"u{n}@new.example.com")
    with source_for(settings_for(s, since)) as source:
        source.prepare()
        assert source.names_departures
        limit_paged_reads(source, 1)
        with pytest.raises(DirectoryError) as stopped:
            list(source.users())
    assert stopped.value.code == "refresh_required"
    assert stopped.value.message == (
        f"127.0.0.1:{s.port} refused the refresh of the users under {s.people_dn}: "
        "Size limit exceeded; the directory is read in full instead"
    )


def test_a_server_gone_during_the_read_is_unreachable(provider):
    s = provider
    since = cookies_now(s, s.people_dn, s.groups_dn)
    s.modify_user("user0", mail="zero@new.example.com")
    with source_for(settings_for(s, since)) as source:
        source.prepare()
        s.stop()
        with pytest.raises(DirectoryError) as stopped:
            list(source.users())
    assert stopped.value.code == "unreachable"
    assert stopped.value.message.startswith(f"cannot reach LDAP server 127.0.0.1:{s.port}: ")


def test_a_server_silent_during_the_read_says_what_it_was_reading(provider):
    s = provider
    since = cookies_now(s, s.people_dn, s.groups_dn)
    s.modify_user("user0", mail="zero@new.example.com")
    with source_for(settings_for(s, since, timeout=0.3)) as source:
        source.prepare()
        s.freeze()
        try:
            with pytest.raises(DirectoryError) as stopped:
                list(source.users())
        finally:
            s.thaw()
    assert stopped.value.code == "unreachable"
    assert stopped.value.message == (
        f"LDAP server 127.0.0.1:{s.port} did not answer within 0.3 s (search)"
    )


def assert_unreachable(error: DirectoryError, how: str, port: int, what: str) -> None:
    """A server stopped or silent (frozen, timeout 0.3 s) during `what`."""
    assert error.code == "unreachable"
    if how == "silent":
        assert error.message == (
            f"LDAP server 127.0.0.1:{port} did not answer within 0.3 s ({what})"
        )
    else:
        assert error.message.startswith(f"cannot reach LDAP server 127.0.0.1:{port}: ")


@pytest.mark.parametrize("how", ["stopped", "silent"])
def test_a_server_lost_while_reading_the_root_dse_is_unreachable(provider, how):
    s = provider
    with source_for(settings_for(s, timeout=0.3)) as source:
        s.stop() if how == "stopped" else s.freeze()
        try:
            with pytest.raises(DirectoryError) as stopped:
                source.prepare()
        finally:
            if how == "silent":
                s.thaw()
    assert_unreachable(stopped.value, how, s.port, "the read of the root DSE")


@pytest.mark.parametrize("since", [None, "cookie"])
def test_a_users_dn_that_does_not_exist_fails_the_read_naming_it(provider, since):
    """The cookie of a base that does not exist cannot be taken: the read goes on in full
    and fails on that base as a full read does."""
    s = provider
    nowhere = f"ou=nowhere,{s.suffix}"
    mark = cookies_now(s, nowhere, s.groups_dn) if since else None
    with source_for(settings_for(s, mark, users={"dns": [nowhere], "filter": ""})) as source:
        source.prepare()
        assert (source.read, source.names_departures) == ("full", False)
        with pytest.raises(DirectoryError) as refused:
            list(source.users())
    assert refused.value.code == "no_such_object"
    assert refused.value.message == f"users DN {nowhere} does not exist on 127.0.0.1:{s.port}"


def freeze_after_first_refresh(server, monkeypatch) -> None:
    """The server stops answering once the agent has read the first refresh of its
    entries since the cookie (after the cookies of the bases)."""
    real = contentsync.refresh

    def refresh(conn, base, filterstr, *args, **kwargs):
        yield from real(conn, base, filterstr, *args, **kwargs)
        if filterstr != contentsync.MATCH_NOTHING:
            server.freeze()

    monkeypatch.setattr(contentsync, "refresh", refresh)


@pytest.mark.parametrize("how", ["stopped", "silent"])
def test_a_server_lost_while_asked_what_left_is_unreachable(provider, monkeypatch, how):
    s = provider
    since = cookies_now(s, s.people_dn, s.groups_dn)
    s.delete_user("user1")
    real = contentsync.refresh

    def refresh(conn, base, filterstr, *args, **kwargs):
        if filterstr != contentsync.MATCH_NOTHING and s.running:
            s.stop() if how == "stopped" else s.freeze()
        yield from real(conn, base, filterstr, *args, **kwargs)

    monkeypatch.setattr(contentsync, "refresh", refresh)
    with source_for(settings_for(s, since, timeout=0.3)) as source:
        try:
            with pytest.raises(DirectoryError) as stopped:
                source.prepare()
        finally:
            if how == "silent":
                s.thaw()
    assert_unreachable(stopped.value, how, s.port, "search")


def test_a_server_silent_while_looking_for_containers_that_left_says_so(provider, monkeypatch):
    s = provider
    since = cookies_now(s, s.people_dn, s.groups_dn)
    s.delete_user("user1")
    freeze_after_first_refresh(s, monkeypatch)
    with source_for(settings_for(s, since, timeout=0.3)) as source:
        try:
            with pytest.raises(DirectoryError) as stopped:
                source.prepare()
        finally:
            s.thaw()
    assert stopped.value.code == "unreachable"
    assert stopped.value.message == (
        f"LDAP server 127.0.0.1:{s.port} did not answer within 0.3 s (search)"
    )


def test_a_size_limit_met_while_looking_for_containers_that_left_names_where(provider):
    s = provider
    alumni = add_ou(s, f"ou=alumni,{s.suffix}")
    since = cookies_now(s, s.people_dn, s.groups_dn)
    s.rename(s.dataset.user_dn(1), "uid=user1", alumni)
    s.rename(s.dataset.user_dn(2), "uid=user2", alumni)
    with source_for(settings_for(s, since)) as source:
        # Every search answered with one entry at most (the root DSE is one entry).
        search_ext_s = source.conn.search_ext_s
        source.conn.search_ext_s = lambda *a, **k: search_ext_s(*a, sizelimit=1, **k)
        with pytest.raises(DirectoryError) as stopped:
            source.prepare()
    assert stopped.value.code == "ldap_error"
    assert stopped.value.message == (
        f"127.0.0.1:{s.port} cut the entries under {s.suffix} at its size limit; raise the "
        f"limit for cn=admin,{s.suffix}: Size limit exceeded"
    )


# --- servers with several naming contexts, or none readable ---------------------------------


class SlapdWithSeveralContexts(Slapd):
    """slapd with an empty database before dc=example,dc=com and another after it: three
    naming contexts, two of them without an entry at their suffix."""

    def write_config(self) -> None:
        super().write_config()

        def database(suffix: str, name: str) -> str:
            (self.workdir / name).mkdir(exist_ok=True)
            return f'database mdb\nsuffix "{suffix}"\ndirectory {self.workdir / name}\n'

        head, mdb, rest = self.conf_path.read_text().partition("database mdb\n")
        self.conf_path.write_text(
            head + database("o=before", "before") + mdb + rest + database("o=after", "after")
        )

    def load(self) -> None:
        self.write_config()
        ldif = write_ldif(self.workdir / "data.ldif", self.dataset)
        subprocess.run(
            [SLAPADD, "-q", "-b", SUFFIX, "-f", str(self.conf_path), "-l", str(ldif)],
            check=True,
            capture_output=True,
        )
        self._loaded = True


@pytest.fixture
def several_contexts(tmp_path):
    if not slapd_available():
        missing("OpenLDAP slapd", "slapd/slapadd or its schemas are not installed")
    server = SlapdWithSeveralContexts(
        tmp_path, Dataset(users=4, groups=1, members_per_group=2), syncprov=True
    )
    try:
        yield server.start()
    finally:
        server.cleanup()


def test_entries_that_left_with_a_container_are_named_whatever_the_naming_contexts(
    several_contexts,
):
    """The container moved out is looked for in every naming context, past those whose
    suffix entry does not exist, and every context after it is searched as well."""
    s = several_contexts
    root_dse = s.connect().search_s("", ldap.SCOPE_BASE, attrlist=["namingContexts"])
    assert root_dse[0][1]["namingContexts"] == [b"o=before", SUFFIX.encode(), b"o=after"]
    team = add_ou(s, f"ou=team,{s.people_dn}")
    for n in range(3):
        add_person(s, f"team{n}", team)
    alumni = add_ou(s, f"ou=alumni,{s.suffix}")
    since = cookies_now(s, s.people_dn, s.groups_dn)
    away = {e["id"] for e in entries(s, team).values()}
    s.rename(team, "ou=team", alumni)

    got = Read(settings_for(s, since))

    assert (got.read, got.reason, got.by_cookie) == ("incremental", None, True)
    assert len(away) == 3 and away <= got.named("user")
    assert got.users == []
    assert_in_scope_named_only_when_sent(got, s)


class SlapdHidingItsContexts(Slapd):
    """slapd with syncprov whose root DSE does not show its naming contexts to anyone
    but the root DN: every other account reads everything else."""

    def write_config(self) -> None:
        super().write_config()
        head, mdb, rest = self.conf_path.read_text().partition("database mdb\n")
        acl = 'access to dn.base="" attrs=namingContexts by * none\naccess to * by * read\n'
        self.conf_path.write_text(head + acl + mdb + rest)


def test_a_server_that_does_not_show_its_naming_contexts_is_read_by_timestamp(tmp_path):
    """Without them a container moved out of a base cannot be looked for."""
    if not slapd_available():
        missing("OpenLDAP slapd", "slapd/slapadd or its schemas are not installed")
    s = SlapdHidingItsContexts(tmp_path, Dataset(users=3, groups=1, members_per_group=1),
                               syncprov=True)  # fmt: skip
    try:
        s.start()
        reader = s.dataset.user_dn(0)
        s.modify(reader, userPassword="reader-secret")
        conn = ldap.initialize(s.uri)
        conn.simple_bind_s(reader, "reader-secret")
        ((_, root_dse),) = conn.search_s("", ldap.SCOPE_BASE, attrlist=["+"])
        conn.unbind_s()
        assert contentsync.SYNC_REQUEST_OID.encode() in root_dse["supportedControl"]
        assert "namingContexts" not in root_dse
        since = cookies_now(s, s.people_dn, s.groups_dn)
        bound = {"bind_dn": reader, "bind_password": "reader-secret"}
        full = Read(settings_for(s, **bound))
        assert full.read == "full" and full.watermark["kind"] == "modify_timestamp"
        got = Read(settings_for(s, since, **bound))
    finally:
        s.cleanup()
    assert_read_by_timestamp_instead(got, s.port)


# --- when the read is decided --------------------------------------------------------------


def test_only_a_cookie_watermark_waits_for_the_server_to_decide_the_read(provider):
    """The agent sends its begin record once connected when the read may still turn full
    (a cookie the server may not follow), at once otherwise."""
    s = provider
    cookie = settings_for(s, cookies_now(s, s.people_dn, s.groups_dn))
    stamp = settings_for(s, {"kind": "modify_timestamp", "value": "20260101000000Z"})
    assert source_for(cookie).decides_when_connected is True
    assert source_for(stamp).decides_when_connected is False
    assert source_for(settings_for(s)).decides_when_connected is False


def test_a_timestamp_watermark_on_a_server_offering_content_sync_lists_and_ends_with_cookies(
    provider,
):
    """A watermark from before the server offered content synchronization: the read goes
    by timestamp with the presence listing, and ends with the cookies the next read
    follows."""
    s = provider
    since = {"kind": "modify_timestamp", "value": "20990101000000Z"}
    with source_for(settings_for(s, since, page_size=5)) as source:
        source.prepare()
        assert (source.read, source.reason, source.names_departures) == (
            "incremental",
            None,
            False,
        )
        listed = {kind: list(source.scope(kind)) for kind in ("user", "group")}
        users, groups = list(source.users()), list(source.groups())
        watermark = source.watermark()
    assert (users, groups) == ([], [])
    people = entries(s, s.people_dn)
    teams = entries(s, s.groups_dn, GROUPS_FILTER)
    assert [len(r["entries"]) for r in listed["user"]] == [5, 3]
    assert all(r["type"] == "present" and r["kind"] == "user" for r in listed["user"])
    assert sorted((i, dn.lower()) for r in listed["user"] for i, dn in r["entries"]) == sorted(
        (e["id"], dn) for dn, e in people.items()
    )
    assert sorted((i, dn.lower()) for r in listed["group"] for i, dn in r["entries"]) == sorted(
        (e["id"], dn) for dn, e in teams.items()
    )
    assert watermark == cookies_now(s, s.people_dn, s.groups_dn)


# --- a base gone, limits met ----------------------------------------------------------------


def test_a_base_renamed_as_the_read_begins_is_named_as_missing(provider, monkeypatch):
    """The base is renamed after its cookie was taken, before the server is asked what
    changed under it."""
    s = provider
    since = cookies_now(s, s.people_dn, s.groups_dn)
    real = contentsync.refresh

    def refresh(conn, base, filterstr, *args, **kwargs):
        if filterstr != contentsync.MATCH_NOTHING and s.entry_uuids(s.suffix, "(ou=people)"):
            s.rename(s.people_dn, "ou=staff")
        yield from real(conn, base, filterstr, *args, **kwargs)

    monkeypatch.setattr(contentsync, "refresh", refresh)
    with source_for(settings_for(s, since)) as source:
        with pytest.raises(DirectoryError) as refused:
            source.prepare()
    assert refused.value.code == "no_such_object"
    assert refused.value.message == (
        f"entries DN {s.people_dn} does not exist on 127.0.0.1:{s.port}"
    )


def test_a_size_limit_met_reading_a_container_that_left_names_it(provider):
    s = provider
    team = add_ou(s, f"ou=team,{s.people_dn}")
    for n in range(2):
        add_person(s, f"team{n}", team)
    alumni = add_ou(s, f"ou=alumni,{s.suffix}")
    since = cookies_now(s, s.people_dn, s.groups_dn)
    s.rename(team, "ou=team", alumni)
    with source_for(settings_for(s, since)) as source:
        limit_paged_reads(source, 1)
        with pytest.raises(DirectoryError) as stopped:
            source.prepare()
    assert stopped.value.code == "ldap_error"
    assert stopped.value.message == (
        f"127.0.0.1:{s.port} cut the entries under ou=team,{alumni} at its size limit; "
        f"raise the limit for cn=admin,{s.suffix}: Size limit exceeded"
    )


def test_a_size_limit_met_reading_a_changed_container_names_it(provider):
    s = provider
    team = add_ou(s, f"ou=team,{s.people_dn}")
    for n in range(2):
        add_person(s, f"team{n}", team)
    since = cookies_now(s, s.people_dn, s.groups_dn)
    s.modify(team, description="changed")
    with source_for(settings_for(s, since)) as source:
        source.prepare()
        assert source.names_departures
        limit_paged_reads(source, 1)
        with pytest.raises(DirectoryError) as stopped:
            list(source.users())
    assert stopped.value.code == "ldap_error"
    assert stopped.value.message == (
        f"127.0.0.1:{s.port} cut the users under {team} at its size limit; "
        f"raise the limit for cn=admin,{s.suffix}: Size limit exceeded"
    )


def test_a_container_that_left_among_hundreds_of_departures_is_found(slapd_factory):
    """The departed ids are looked up a few hundred at a time: a container named after
    four hundred deleted entries is found as well."""
    s = slapd_factory(users=400, groups=1, members_per_group=1, syncprov=True)
    team = add_ou(s, f"ou=team,{s.people_dn}")
    add_person(s, "team0", team)
    alumni = add_ou(s, f"ou=alumni,{s.suffix}")
    since = cookies_now(s, s.people_dn, s.groups_dn)
    away = {e["id"] for e in entries(s, team).values()}
    conn = s.connect()
    for n in range(400):
        conn.delete_s(s.dataset.user_dn(n))
    s.rename(team, "ou=team", alumni)

    got = Read(settings_for(s, since, page_size=1000))

    assert got.by_cookie and got.users == []
    cookie = since["cookies"][s.people_dn]
    assert len(named_by_slapd(s, s.people_dn, USERS_FILTER, cookie)) >= 401
    assert got.named("user") == named_by_slapd(s, s.people_dn, USERS_FILTER, cookie) | away


# --- a server that asks for a full reload -------------------------------------------------


class SlapdAskingForReloads(Slapd):
    """syncprov honouring the reload hint, as the OpenLDAP manual advises: a cookie it
    cannot continue from is answered with e-syncRefreshRequired."""

    def write_config(self) -> None:
        super().write_config()
        text = self.conf_path.read_text()
        self.conf_path.write_text(text + "syncprov-reloadhint TRUE\n")


@pytest.fixture
def reloading(tmp_path):
    if not slapd_available():
        missing("OpenLDAP slapd", "slapd/slapadd or its schemas are not installed")
    server = SlapdAskingForReloads(
        tmp_path, Dataset(users=4, groups=1, members_per_group=2), syncprov=True
    )
    try:
        yield server.start()
    finally:
        server.cleanup()


def test_a_cookie_the_server_asks_to_reload_from_is_read_in_full(reloading):
    s = reloading
    since = cookies_now(s, s.people_dn, s.groups_dn)
    since["cookies"][s.groups_dn] = "rid=000,csn=20200101000000.000000Z#000000#000#000000"
    full_read_instead(s, since, f"the server cannot continue from the cookie under {s.groups_dn}")


def test_a_server_asking_to_reload_during_the_read_asks_for_a_full_read(reloading, monkeypatch):
    """Once the read began the server no longer follows the cookie: here it is asked with
    a cookie older than every entry, which it answers with e-syncRefreshRequired."""
    s = reloading
    since = cookies_now(s, s.people_dn, s.groups_dn)
    s.delete_user("user1")
    s.modify_user("user2", mail="two@new.example.com")
    real = contentsync.refresh
    aged = []

    def refresh(conn, base, filterstr, attrs, cookie, *args, **kwargs):
        yield from real(conn, base, filterstr, attrs, aged[0] if aged else cookie, *args, **kwargs)

    monkeypatch.setattr(contentsync, "refresh", refresh)
    with source_for(settings_for(s, since)) as source:
        source.prepare()
        assert source.names_departures
        aged.append("rid=000,csn=20200101000000.000000Z#000000#000#000000")
        with pytest.raises(DirectoryError) as stopped:
            list(source.users())
    assert stopped.value.code == "refresh_required"
    assert stopped.value.message == (
        f"the server cannot continue from the cookie under {s.people_dn}; "
        "the directory is read in full instead"
    )
