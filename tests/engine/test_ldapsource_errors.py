"""The agent's reader where a test server cannot take it: Active Directory's ranged member
reads and GUIDs (a scripted connection answering as AD does), every LDAP error named for
the admin, and TLS in one process against a throwaway slapd.

The same AD behaviour is tested against a real Samba AD DC across processes in
tests/sync/test_active_directory.py; this file reaches each branch fast.
"""

from __future__ import annotations

import socket
import time
import uuid

import ldap
import pytest
from ldap.controls import SimplePagedResultsControl

from connectors.agent import ldapsource
from connectors.agent.ldapsource import (
    DirectoryError,
    _ldap_message,
    _looks_like_tls,
    _tcp_reachable,
)
from connectors.agent.request import SyncSettings
from connectors.agent.vendors import source_for
from connectors.agent.vendors.active_directory import AD_RANGE_STEP
from testbed.agents import sync_body
from testbed.slapd import free_port

BASE = "DC=example,DC=test"
USERS = f"OU=Staff,{BASE}"
GROUPS = f"OU=Groups,{BASE}"


def guid(n: int) -> bytes:
    return uuid.UUID(int=n).bytes_le


def ad_settings(**connection) -> SyncSettings:
    return SyncSettings.from_request(
        {
            "directory": {"id": 1, "type": "ad"},
            "connection": {
                "host": "dc1.example.test",
                "base_dn": BASE,
                "bind_dn": "CN=svc,CN=Users,DC=example,DC=test",
                "bind_password": "pw",
                **connection,
            },
            "users": {"dns": [USERS]},
            "groups": {"dns": [GROUPS]},
            "page_size": 2,
        }
    )


class Paged:
    """A server-side paged result: `pages` lists of entries, cookies between them."""

    def __init__(self, pages):
        self.pages = pages


def libldap_refuses(filterstr: str) -> bool:
    """Whether libldap refuses a search filter: it encodes the filter before it connects, so
    a search towards a port nobody listens on tells a bad filter from a good one."""
    conn = ldap.initialize(f"ldap://127.0.0.1:{free_port()}")
    try:
        conn.search_ext("", ldap.SCOPE_BASE, filterstr)
    except ldap.FILTER_ERROR:
        return True
    except ldap.SERVER_DOWN:
        return False
    return False


class ScriptedAD:
    """Answers a DirectorySource's calls as an AD DC would (python-ldap's shapes)."""

    def __init__(self, searches: dict[str, Paged], ranges: dict[tuple[str, int], object]):
        self.searches = searches
        self.ranges = ranges
        self.calls: list[tuple] = []
        self.abandoned: list[int] = []
        self._pending: dict[int, tuple[str, int]] = {}
        self._next = 1

    def search_ext(self, base, scope, filterstr="(objectClass=*)", attrlist=None, attrsonly=0,
                   serverctrls=None, clientctrls=None, timeout=-1, sizelimit=0):  # fmt: skip
        attrs = attrlist or []
        self.calls.append(("search", base, filterstr, tuple(attrs)))
        [ctrl] = serverctrls
        page = int(ctrl.cookie or b"0")
        msgid = self._next
        self._next += 1
        self._pending[msgid] = (base, page)
        return msgid

    def result3(self, msgid, all=1, timeout=-1):
        base, page = self._pending.pop(msgid)
        answer = self.searches[base]
        if isinstance(answer, Exception):
            raise answer
        pages = answer.pages
        controls = []
        if page + 1 < len(pages):
            controls = [SimplePagedResultsControl(True, size=2, cookie=str(page + 1).encode())]
        return 101, pages[page], msgid, controls

    def search_ext_s(self, dn, scope, filterstr="(objectClass=*)", attrlist=None, attrsonly=0,
                     serverctrls=None, clientctrls=None, timeout=-1, sizelimit=0):  # fmt: skip
        if not isinstance(scope, int):
            raise TypeError("'NoneType' object cannot be interpreted as an integer")
        if libldap_refuses(filterstr):
            raise ldap.FILTER_ERROR({"result": -7, "desc": "Bad search filter", "ctrls": []})
        if scope == ldap.SCOPE_ONELEVEL:
            return []  # a group has no entries below it
        [attr] = attrlist
        low = int(attr.split("=")[1].split("-")[0])
        self.calls.append(("range", dn, low))
        answer = self.ranges[(dn, low)]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def abandon_ext(self, msgid):
        self.abandoned.append(msgid)

    def unbind_ext_s(self):
        pass


def source_with(conn, **connection) -> ldapsource.DirectorySource:
    source = source_for(ad_settings(**connection))
    source.conn = conn
    return source


def ad_user(n: int, uac: bytes = b"512", **extra) -> tuple[str, dict]:
    attrs = {
        "objectGUID": [guid(n)],
        "sAMAccountName": [f"user{n}".encode()],
        "userPrincipalName": [f"user{n}@example.test".encode()],
        "userAccountControl": [uac],
        **extra,
    }
    return f"CN=User {n},{USERS}", attrs


def test_ad_users_carry_guids_upns_and_disabled_flags_page_by_page():
    conn = ScriptedAD(
        {
            USERS: Paged(
                [
                    [ad_user(1), ad_user(2, b"514")],
                    [ad_user(3, b"junk", givenName=["Zoë".encode(), b"Z"]), (None, ["ldap://x"])],
                ]
            )
        },
        {},
    )
    users = list(source_with(conn).users())

    assert [u["id"] for u in users] == [str(uuid.UUID(int=n)) for n in (1, 2, 3)]
    assert [u["disabled"] for u in users] == [False, True, False]
    assert users[0] == {
        "type": "user",
        "id": str(uuid.UUID(int=1)),
        "dn": f"CN=User 1,{USERS}",
        "username": "user1",
        "first_name": None,
        "last_name": None,
        "email": None,
        "display_name": None,
        "upn": "user1@example.test",
        "disabled": False,
    }
    assert users[2]["first_name"] == "Zoë"
    search = conn.calls[0]
    assert search[:3] == ("search", USERS, "(&(objectCategory=person)(objectClass=user))")
    assert set(search[3]) >= {"objectGUID", "sAMAccountName", "userPrincipalName"}
    assert "userAccountControl" in search[3]


def test_an_ad_user_without_a_guid_comes_with_a_null_id():
    dn, attrs = ad_user(1)
    del attrs["objectGUID"]
    conn = ScriptedAD({USERS: Paged([[(dn, attrs)]])}, {})
    assert list(source_with(conn).users())[0]["id"] is None


def group_entry(name: str, members: list[bytes], ranged: str | None = None) -> tuple[str, dict]:
    attrs: dict = {"objectGUID": [guid(100)], "cn": [name.encode()]}
    if ranged is None:
        attrs["member"] = members
    else:
        attrs[f"member;range={ranged}"] = members
    return f"CN={name},{GROUPS}", attrs


def members(low: int, high: int) -> list[bytes]:
    return [f"CN=User {n},{USERS}".encode() for n in range(low, high)]


def ranged(dn: str, low: int, high: str, values: list[bytes]):
    return [(dn, {f"member;range={low}-{high}": values})]


def test_large_ad_groups_are_read_range_by_range_to_the_end():
    step = AD_RANGE_STEP
    dn, attrs = group_entry("All", members(0, step), ranged=f"0-{step - 1}")
    conn = ScriptedAD(
        {GROUPS: Paged([[(dn, attrs)]])},
        {
            (dn, step): ranged(dn, step, str(2 * step - 1), members(step, 2 * step)),
            (dn, 2 * step): ranged(dn, 2 * step, "*", members(2 * step, 2 * step + 7)),
        },
    )

    [group] = list(source_with(conn).groups())

    assert group["members"] == [m.decode() for m in members(0, 2 * step + 7)]
    assert group["name"] == "All" and group["id"] == str(uuid.UUID(int=100))
    assert [c for c in conn.calls if c[0] == "range"] == [
        ("range", dn, step),
        ("range", dn, 2 * step),
    ]
    assert conn.calls[0][3] == ("objectGUID", "cn", f"member;range=0-{step - 1}")


def test_ranged_member_values_that_are_not_utf8_are_decoded_leniently_in_every_range():
    first, later = b"CN=Caf\xc3 \xff", b"CN=\xfeNull"
    dn, attrs = group_entry("Odd", [first, *members(0, 1)], ranged="0-1")
    conn = ScriptedAD(
        {GROUPS: Paged([[(dn, attrs)]])},
        {(dn, 2): ranged(dn, 2, "*", [later])},
    )

    [group] = list(source_with(conn).groups())

    assert group["members"] == ["CN=Caf\ufffd \ufffd", f"CN=User 0,{USERS}", "CN=\ufffdNull"]


def test_a_group_read_whole_at_once_needs_no_more_ranges():
    dn, attrs = group_entry("Small", members(0, 3), ranged="0-*")
    conn = ScriptedAD({GROUPS: Paged([[(dn, attrs)]])}, {})
    [group] = list(source_with(conn).groups())
    assert len(group["members"]) == 3
    assert not [c for c in conn.calls if c[0] == "range"]


def test_a_group_deleted_between_ranges_ends_its_member_list():
    dn, attrs = group_entry("Going", members(0, 2), ranged="0-1")
    conn = ScriptedAD(
        {GROUPS: Paged([[(dn, attrs)]])}, {(dn, 2): ldap.NO_SUCH_OBJECT({"desc": "No such object"})}
    )
    [group] = list(source_with(conn).groups())
    assert len(group["members"]) == 2


def test_members_removed_between_ranges_end_the_list():
    dn, attrs = group_entry("Shrinking", members(0, 2), ranged="0-1")
    conn = ScriptedAD({GROUPS: Paged([[(dn, attrs)]])}, {(dn, 2): [(dn, {}), (None, ["ref"])]})
    [group] = list(source_with(conn).groups())
    assert len(group["members"]) == 2


@pytest.mark.parametrize(
    "answer, words",
    [
        (lambda dn: ranged(dn, 5, "*", []), "answered range member;range=5-* for"),
        (lambda dn: [(dn, {"member": [b"CN=x"]})], "ignored the member range request for"),
        (
            lambda dn: ldap.BUSY({"desc": "Server is busy"}),
            "LDAP error from dc1.example.test:389 reading members of group under",
        ),
        (lambda dn: [(dn, {"member;range=2-x": []})], "unexpected attribute member;range=2-x"),
    ],
)
def test_a_range_answer_that_makes_no_sense_is_an_error_naming_the_group(answer, words):
    dn, attrs = group_entry("Odd", members(0, 2), ranged="0-1")
    conn = ScriptedAD({GROUPS: Paged([[(dn, attrs)]])}, {(dn, 2): answer(dn)})
    with pytest.raises(DirectoryError) as failed:
        list(source_with(conn).groups())
    assert failed.value.code == "ldap_error"
    assert words in failed.value.message and dn in failed.value.message


def test_an_odd_range_in_the_first_answer_names_the_group():
    dn, attrs = group_entry("Odd", members(0, 2), ranged="0-x")
    conn = ScriptedAD({GROUPS: Paged([[(dn, attrs)]])}, {})
    with pytest.raises(DirectoryError) as failed:
        list(source_with(conn).groups())
    assert failed.value.message == f"unexpected attribute member;range=0-x on {dn}"


def test_a_range_read_the_server_does_not_answer_in_time_names_the_search():
    dn, attrs = group_entry("Slow", members(0, 2), ranged="0-1")
    timed_out = ldap.TIMEOUT({"result": -5, "desc": "Timed out", "ctrls": []})
    conn = ScriptedAD({GROUPS: Paged([[(dn, attrs)]])}, {(dn, 2): timed_out})
    with pytest.raises(DirectoryError) as failed:
        list(source_with(conn).groups())
    assert (failed.value.code, failed.value.message) == (
        "unreachable",
        "LDAP server dc1.example.test:389 did not answer within 10 s (search)",
    )


def test_a_reader_that_stops_early_abandons_the_page_asked_for():
    conn = ScriptedAD({USERS: Paged([[ad_user(1)], [ad_user(2)], [ad_user(3)]])}, {})
    users = source_with(conn).users()
    next(users)
    users.close()
    assert conn.abandoned == [2]


def test_a_search_error_is_named_with_the_scope():
    conn = ScriptedAD({USERS: ldap.NO_SUCH_OBJECT({"desc": "No such object"})}, {})
    with pytest.raises(DirectoryError) as failed:
        list(source_with(conn).users())
    assert failed.value.message == f"users DN {USERS} does not exist on dc1.example.test:389"
    assert conn.abandoned == []


# --- every LDAP error, named --------------------------------------------------------------


def error(exc_type, **details):
    return exc_type({"desc": details.pop("desc", exc_type.__name__), **details})


@pytest.mark.parametrize(
    "exc, phase, dn, what, code, message",
    [
        (error(ldap.TIMEOUT), "bind", "", "", "unreachable",
         "LDAP server dc1.example.test:389 did not answer within 10 s (bind)"),
        (error(ldap.SERVER_DOWN, desc="Can't contact LDAP server"), "bind", "", "", "unreachable",
         "cannot reach LDAP server dc1.example.test:389: Can't contact LDAP server"),
        (error(ldap.INVALID_CREDENTIALS, desc="Invalid credentials", info=b"80090308: AD"),
         "bind", "", "", "invalid_credentials",
         "dc1.example.test:389 refused the bind as CN=svc,CN=Users,DC=example,DC=test: "
         "Invalid credentials (80090308: AD)"),
        (error(ldap.INAPPROPRIATE_AUTH, desc="Inappropriate authentication"), "bind", "", "",
         "invalid_credentials",
         "dc1.example.test:389 refused the bind as CN=svc,CN=Users,DC=example,DC=test: "
         "Inappropriate authentication"),
        (error(ldap.UNWILLING_TO_PERFORM, desc="Server is unwilling to perform"), "bind", "", "",
         "invalid_credentials",
         "dc1.example.test:389 refused the bind as CN=svc,CN=Users,DC=example,DC=test: "
         "Server is unwilling to perform"),
        (error(ldap.UNWILLING_TO_PERFORM, desc="Server is unwilling to perform"), "search", USERS,
         "users", "ldap_error",
         f"LDAP error from dc1.example.test:389 reading users under {USERS}: "
         "Server is unwilling to perform"),
        (error(ldap.NO_SUCH_OBJECT), "search", BASE, "users", "no_such_object",
         f"base DN {BASE} does not exist on dc1.example.test:389"),
        (error(ldap.NO_SUCH_OBJECT), "search", USERS, "", "no_such_object",
         f"base DN {USERS} does not exist on dc1.example.test:389"),
        (error(ldap.FILTER_ERROR, desc="Bad filter"), "search", USERS, "users", "ldap_error",
         "users filter (&(objectCategory=person)(objectClass=user)) is not valid: Bad filter"),
        (error(ldap.FILTER_ERROR, desc="Bad search filter"), "search", GROUPS, "groups",
         "ldap_error", "groups filter (objectClass=group) is not valid: Bad search filter"),
        (error(ldap.SIZELIMIT_EXCEEDED, desc="Size limit exceeded"), "search", USERS, "users",
         "ldap_error",
         f"dc1.example.test:389 cut the users under {USERS} at its size limit; raise the limit "
         "for CN=svc,CN=Users,DC=example,DC=test: Size limit exceeded"),
        (error(ldap.OTHER, desc="Other (e.g., implementation specific) error"), "bind", "", "",
         "ldap_error",
         "LDAP error from dc1.example.test:389 during bind: "
         "Other (e.g., implementation specific) error"),
        (error(ldap.CONNECT_ERROR, desc="Connect error"), "bind", "", "", "tls",
         "TLS (ldaps) with dc1.example.test:389 failed: Connect error; check that the server "
         "speaks LDAPS on this port and that its certificate is signed by the system's trusted "
         "CAs and names dc1.example.test"),
        (error(ldap.PROTOCOL_ERROR, desc="Protocol error"), "starttls", "", "", "tls",
         "TLS (ldaps) with dc1.example.test:389 failed: Protocol error; check that the server "
         "speaks LDAPS on this port and that its certificate is signed by the system's trusted "
         "CAs and names dc1.example.test"),
    ],
)  # fmt: skip
def test_each_ldap_error_is_named_for_the_admin(exc, phase, dn, what, code, message):
    source = source_for(ad_settings())
    named = source._error(exc, phase, dn, what)
    assert (named.code, named.message) == (code, message)
    assert str(named) == message


def test_anonymous_binds_and_starttls_with_a_ca_are_named_so():
    source = source_for(
        ad_settings(bind_dn="", security="starttls", ca_cert="-----BEGIN CERTIFICATE-----\n")
    )
    refused = source._error(error(ldap.INVALID_CREDENTIALS, desc="Invalid credentials"), "bind")
    assert (
        refused.message == "dc1.example.test:389 refused the bind as anonymous: Invalid credentials"
    )
    other = source._error(
        error(ldap.OTHER, desc="Other (e.g., implementation specific) error"), "bind"
    )
    assert other.message == (
        "LDAP error from dc1.example.test:389 during bind: "
        "Other (e.g., implementation specific) error"
    )
    unwilling = error(ldap.UNWILLING_TO_PERFORM, desc="Server is unwilling to perform")
    assert source._error(unwilling, "bind").message == (
        "dc1.example.test:389 refused the bind as anonymous: Server is unwilling to perform"
    )
    cut = source._error(error(ldap.SIZELIMIT_EXCEEDED, desc="Size limit exceeded"), "search",
                        USERS, "users")  # fmt: skip
    assert cut.message == (
        f"dc1.example.test:389 cut the users under {USERS} at its size limit; raise the limit "
        "for anonymous: Size limit exceeded"
    )
    tls = source._error(error(ldap.CONNECT_ERROR, desc="Connect error"), "starttls")
    assert tls.message == (
        "StartTLS with dc1.example.test:389 failed: Connect error; check that the server "
        "speaks StartTLS on this port and that its certificate is signed by the CA "
        "certificate given and names dc1.example.test"
    )


def test_a_failed_ldaps_handshake_is_a_tls_error_not_an_outage(monkeypatch):
    source = source_for(ad_settings(security="ssl"))
    down = error(ldap.SERVER_DOWN, desc="Can't contact LDAP server")
    monkeypatch.setattr(ldapsource, "_tcp_reachable", lambda *args: True)
    assert source._error(down, "bind").code == "tls"
    monkeypatch.setattr(ldapsource, "_tcp_reachable", lambda *args: False)
    assert source._error(down, "bind").code == "unreachable"
    handshake = error(ldap.SERVER_DOWN, desc="Can't contact", info="TLS: hostname does not match")
    assert source._error(handshake, "bind").message == (
        "TLS (ldaps) with dc1.example.test:636 failed: Can't contact (TLS: hostname does not "
        "match); check that the server speaks LDAPS on this port and that its certificate is "
        "signed by the system's trusted CAs and names dc1.example.test"
    )
    plain = source_for(ad_settings())
    assert plain._error(handshake, "bind").code == "unreachable"


def test_ldap_messages_are_made_of_what_the_server_said():
    assert _ldap_message(error(ldap.OTHER, desc="Other", info="detail")) == "Other (detail)"
    assert (
        _ldap_message(error(ldap.OTHER, desc="Other", info=b"bytes \xff")) == "Other (bytes \ufffd)"
    )
    assert _ldap_message(error(ldap.OTHER, desc="Other", info="(unknown error code)")) == "Other"
    assert _ldap_message(ldap.OTHER()) == "OTHER"
    assert _ldap_message(ldap.OTHER("text")) == "OTHER"


def test_tls_words_and_reachability():
    for text in (
        "TLS: error",
        "SSL handshake",
        "certificate verify failed",
        "Handshake",
        "error:0A00010B:SSL routines::wrong version number",
    ):
        assert _looks_like_tls(text)
    assert not _looks_like_tls("Can't contact LDAP server")
    port = free_port()
    assert _tcp_reachable("127.0.0.1", port, 1.0) is False


# --- TLS, for real, in this process --------------------------------------------------------


@pytest.fixture
def tls_server(slapd_factory):
    return slapd_factory(users=3, groups=1, members_per_group=2, tls=True)


def read(server, **connection):
    settings = SyncSettings.from_request(sync_body(server, **connection))
    with source_for(settings) as source:
        return list(source.users())


def test_ldaps_and_starttls_verify_against_the_ca_given(tls_server):
    ca = tls_server.ca_cert_pem
    assert len(read(tls_server, security="ssl", port=tls_server.tls_port, ca_cert=ca)) == 3
    assert len(read(tls_server, security="starttls", ca_cert=ca)) == 3


def test_a_certificate_from_an_unknown_ca_is_refused_as_a_tls_error(tls_server):
    for security, port, how in (
        ("ssl", tls_server.tls_port, "TLS (ldaps)"),
        ("starttls", tls_server.port, "StartTLS"),
    ):
        with pytest.raises(DirectoryError) as refused:
            read(tls_server, security=security, port=port)
        assert refused.value.code == "tls"
        assert refused.value.message.startswith(f"{how} with 127.0.0.1:{port} failed: ")
        assert "signed by the system's trusted CAs and names 127.0.0.1" in refused.value.message


def test_a_ca_that_is_no_certificate_is_refused_when_setting_up(tls_server):
    bad = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"
    with pytest.raises(DirectoryError) as refused:
        read(tls_server, security="ssl", port=tls_server.tls_port, ca_cert=bad)
    assert refused.value.code == "tls"
    assert refused.value.message == (
        f"cannot set up TLS to 127.0.0.1:{tls_server.tls_port}: the CA certificate given is "
        "not a readable PEM certificate"
    )


# --- the shape of each record, to the last field ---------------------------------------------


def test_references_among_entries_are_passed_over_and_fields_are_decoded_leniently():
    broken = b"Caf\xc3 \xff"
    conn = ScriptedAD(
        {
            GROUPS: Paged(
                [
                    [
                        (None, ["ldap://other.example.test/DC=other"]),
                        (f"CN=Bytes,{GROUPS}", {
                            "objectGUID": [guid(7)],
                            "member": [f"CN=A,{USERS}".encode(), broken],
                        }),
                        (f"CN=NoName,{GROUPS}", {"objectGUID": [guid(8)]}),
                    ]
                ]
            ),
            USERS: Paged([[(None, ["ldap://x"]), ad_user(1, displayName=[broken])]]),
        },
        {},
    )  # fmt: skip
    source = source_with(conn)
    groups = list(source.groups())
    [user] = list(source.users())

    assert [g["dn"] for g in groups] == [f"CN=Bytes,{GROUPS}", f"CN=NoName,{GROUPS}"]
    assert groups[0]["members"] == [f"CN=A,{USERS}", "Caf\ufffd \ufffd"]
    assert groups[1] == {
        "type": "group",
        "id": str(uuid.UUID(int=8)),
        "dn": f"CN=NoName,{GROUPS}",
        "name": None,
        "members": [],
    }
    assert user["display_name"] == "Caf\ufffd \ufffd"


def test_a_group_without_a_guid_comes_with_a_null_id():
    conn = ScriptedAD({GROUPS: Paged([[(f"CN=G,{GROUPS}", {"cn": [b"G"]})]])}, {})
    [group] = list(source_with(conn).groups())
    assert (group["id"], group["name"]) == (None, "G")


def test_an_objectguid_of_the_wrong_length_names_the_entry():
    dn, attrs = ad_user(1)
    attrs["objectGUID"] = [b"short"]
    conn = ScriptedAD({USERS: Paged([[(dn, attrs)]])}, {})
    with pytest.raises(DirectoryError) as bad:
        list(source_with(conn).users())
    assert (bad.value.code, bad.value.message) == (
        "ldap_error",
        f"objectGUID of {dn} is 5 bytes, not 16",
    )
    gdn, gattrs = group_entry("G", [])
    gattrs["objectGUID"] = [b"x" * 17]
    conn = ScriptedAD({GROUPS: Paged([[(gdn, gattrs)]])}, {})
    with pytest.raises(DirectoryError, match=f"objectGUID of CN=G,{GROUPS} is 17 bytes"):
        list(source_with(conn).groups())


def test_the_disabled_flag_is_bit_two_of_user_account_control():
    flags = {b"512": False, b"514": True, b"2": True, b"1": False, b"66050": True, b"66048": False}
    conn = ScriptedAD(
        {USERS: Paged([[ad_user(n, uac) for n, uac in enumerate(flags, start=1)]])}, {}
    )
    users = list(source_with(conn).users())
    assert [u["disabled"] for u in users] == list(flags.values())


def test_reads_search_each_scope_with_its_filter_and_attributes():
    conn = ScriptedAD({USERS: Paged([[]]), GROUPS: Paged([[]])}, {})
    source = source_with(conn)
    list(source.users())
    list(source.groups())
    users, groups = conn.calls
    assert users[1:3] == (USERS, "(&(objectCategory=person)(objectClass=user))")
    assert sorted(users[3]) == sorted(
        ["objectGUID", "sAMAccountName", "givenName", "sn", "mail", "displayName",
         "userPrincipalName", "userAccountControl"]
    )  # fmt: skip
    assert groups[1:] == (
        GROUPS,
        "(objectClass=group)",
        ("objectGUID", "cn", "member;range=0-1499"),
    )


# --- a standard LDAP server's answers, where slapd cannot give them ---------------------------


def ldap_source_with(conn) -> ldapsource.DirectorySource:
    source = source_for(
        SyncSettings.from_request(
            {
                "directory": {"id": 1, "type": "ldap"},
                "connection": {"host": "ldap.example.test", "base_dn": BASE},
                "users": {"dns": [USERS]},
                "groups": {"dns": [GROUPS]},
            }
        )
    )
    source.conn = conn
    return source


def test_a_reference_among_an_ldap_servers_users_does_not_end_the_page():
    def person(uid: str) -> tuple[str, dict]:
        return f"uid={uid},{USERS}", {"uid": [uid.encode()], "entryUUID": [f"id-{uid}".encode()]}

    conn = ScriptedAD(
        {USERS: Paged([[person("a"), (None, ["ldap://other.example.test/ou=x"]), person("b")]])},
        {},
    )
    users = list(ldap_source_with(conn).users())
    assert [(u["id"], u["username"]) for u in users] == [("id-a", "a"), ("id-b", "b")]


def test_member_values_that_are_no_utf8_are_kept_with_replacement_characters():
    """Servers other than OpenLDAP may hold member values in another encoding; the read
    goes on and the service reports those members as unresolved."""
    group = (f"cn=G,{GROUPS}", {
        "entryUUID": [b"id-g"],
        "member": [f"uid=a,{USERS}".encode()],
        "uniqueMember": [b"uid=Andr\xe9,ou=x"],
    })  # fmt: skip
    conn = ScriptedAD({GROUPS: Paged([[group]])}, {})
    [read] = list(ldap_source_with(conn).groups())
    assert read["members"] == [f"uid=a,{USERS}", "uid=Andr\ufffd,ou=x"]


class ScriptedLookups:
    """Base-scope reads answered as python-ldap answers them: ``search_ext`` gives a message
    id, ``result`` that message's entries or raises the server's error. Asked for any
    message (``RES_ANY``), it hands out the latest first, as a busy server may."""

    def __init__(self, answers: dict[str, object]) -> None:
        self.answers = answers
        self.pending: dict[int, str] = {}
        self._next = 1

    def search_ext(self, base, scope, filterstr="(objectClass=*)", attrlist=None, attrsonly=0,
                   serverctrls=None, clientctrls=None, timeout=-1, sizelimit=0):  # fmt: skip
        msgid = self._next
        self._next += 1
        self.pending[msgid] = base
        return msgid

    def result(self, msgid=ldap.RES_ANY, all=1, timeout=None):
        if msgid == ldap.RES_ANY:
            msgid = max(self.pending)
        answer = self.answers[self.pending.pop(msgid)]
        if isinstance(answer, Exception):
            raise answer
        return ldap.RES_SEARCH_RESULT, answer


def test_each_lookup_answer_goes_to_its_own_dn_whatever_the_server_said():
    found, denied, hidden, classless = (f"uid={n},{USERS}" for n in ("a", "b", "c", "d"))
    conn = ScriptedLookups(
        {
            found: [(found, {"objectClass": [b"inetOrgPerson"], "entryUUID": [b"id-a"]})],
            denied: error(ldap.INSUFFICIENT_ACCESS, desc="Insufficient access", info="no read"),
            hidden: [],
            classless: [(classless, {"entryUUID": [b"id-d"]})],
        }
    )
    answers = ldap_source_with(conn).lookup([found, denied, hidden, classless])
    assert answers == [
        {"dn": found, "exists": True, "entry_dn": found, "id": "id-a",
         "object_classes": ["inetOrgPerson"]},
        {"dn": denied, "exists": None, "detail": "Insufficient access (no read)"},
        {"dn": hidden, "exists": None, "detail": "the server returned no entry"},
        {"dn": classless, "exists": True, "entry_dn": classless, "id": "id-d",
         "object_classes": []},
    ]  # fmt: skip


def test_an_ad_lookup_of_an_entry_with_a_bad_guid_names_the_entry():
    dn = f"CN=User 1,{USERS}"
    conn = ScriptedLookups(
        {dn.lower(): [(dn, {"objectClass": [b"user"], "objectGUID": [b"short"]})]}
    )
    with pytest.raises(DirectoryError) as bad:
        source_with(conn).lookup([dn.lower()])
    assert (bad.value.code, bad.value.message) == (
        "ldap_error",
        f"objectGUID of {dn} is 5 bytes, not 16",
    )


@pytest.fixture
def silent_port():
    """A port whose listener never completes a TCP handshake: its queue is full, so the
    kernel drops every further connection attempt, as a firewall that drops packets does."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    queued = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        queued.append(filler)
    time.sleep(0.1)
    yield port
    for sock in (*queued, listener):
        sock.close()


def test_a_server_that_never_answers_the_handshake_is_unreachable_within_the_timeout(silent_port):
    settings = SyncSettings.from_request(
        {
            "directory": {"id": 1, "type": "ldap"},
            "connection": {
                "host": "127.0.0.1",
                "port": silent_port,
                "security": "ssl",
                "base_dn": BASE,
                "timeout": 1,
            },
        }
    )
    started = time.monotonic()
    with pytest.raises(DirectoryError) as down:
        source_for(settings).open()
    assert (down.value.code, down.value.message) == (
        "unreachable",
        f"cannot reach LDAP server 127.0.0.1:{silent_port}: Can't contact LDAP server "
        "(Connection timed out)",
    )
    assert time.monotonic() - started < 10


def test_an_ldaps_server_that_is_down_is_unreachable_whatever_listens_elsewhere():
    """The TCP probe that tells a failed handshake from an outage asks the server's own
    address: a listener on another address of the machine says nothing about it."""
    elsewhere = socket.socket()
    elsewhere.bind(("127.0.0.1", 0))
    elsewhere.listen(5)
    port = elsewhere.getsockname()[1]
    settings = SyncSettings.from_request(
        {
            "directory": {"id": 1, "type": "ldap"},
            "connection": {"host": "127.0.0.2", "port": port, "security": "ssl",
                           "base_dn": BASE, "timeout": 1},
        }
    )  # fmt: skip
    try:
        with pytest.raises(DirectoryError) as down:
            source_for(settings).open()
    finally:
        elsewhere.close()
    assert down.value.code == "unreachable"
    assert down.value.message.startswith(f"cannot reach LDAP server 127.0.0.2:{port}: ")
