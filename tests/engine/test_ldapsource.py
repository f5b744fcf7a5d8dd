"""The agent's LDAP reading in one process: requests validated, entries read page by page
as the directory spells them, errors named, lookups answered."""

from __future__ import annotations

import os
import socket

import ldap
import pytest

from connectors.agent import ldapsource
from connectors.agent.ldapsource import DirectoryError
from connectors.agent.request import MAX_LOOKUP, RequestError, SyncSettings, lookup_dns
from connectors.agent.vendors import source_for
from connectors.agent.vendors.active_directory import _guid, _int, _range_end
from testbed.agents import sync_body


def settings_for(server, **overrides) -> SyncSettings:
    return SyncSettings.from_request(sync_body(server, **overrides))


def body(**parts) -> dict:
    base = {
        "directory": {"id": 1, "type": "ldap"},
        "connection": {"host": "ldap.example.com", "base_dn": "dc=example,dc=com"},
    }
    for key, value in parts.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


NOT_A_DN = "is not a valid DN (it is not a distinguished name such as ou=people,dc=example,dc=com)."


# --- requests ------------------------------------------------------------------------------


def test_a_minimal_request_gets_the_documented_defaults():
    s = SyncSettings.from_request(body(), default_page_size=250)
    assert (s.port, s.security, s.timeout, s.page_size) == (389, "none", 10.0, 250)
    assert (s.bind_dn, s.bind_password, s.ca_cert) == ("", "", None)
    assert s.user_dns == s.group_dns == ("dc=example,dc=com",)
    assert s.user_filter == "(objectClass=inetOrgPerson)"
    assert s.group_filter == "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"
    assert s.mapped_attributes["username"] == "uid"
    assert (s.uri, s.address) == ("ldap://ldap.example.com:389", "ldap.example.com:389")


def test_active_directory_requests_get_its_defaults_and_ssl_its_port():
    s = SyncSettings.from_request(body(directory={"type": "ad"}, connection={"security": "ssl"}))
    assert (s.port, s.uri) == (636, "ldaps://ldap.example.com:636")
    assert s.user_filter == "(&(objectCategory=person)(objectClass=user))"
    assert s.group_filter == "(objectClass=group)"
    assert s.mapped_attributes["username"] == "sAMAccountName"
    v6 = SyncSettings.from_request(body(connection={"host": "::1", "port": 1389}))
    assert (v6.address, v6.uri) == ("[::1]:1389", "ldap://[::1]:1389")


def test_given_settings_are_kept_and_scopes_pruned_by_meaning():
    s = SyncSettings.from_request(
        body(
            connection={
                "port": 1389,
                "bind_dn": " cn=admin ",
                "bind_password": " pw ",
                "timeout": 2,
            },
            users={
                "dns": ["ou=People,dc=x", " OU=people,DC=X ", "ou=staff,ou=people,dc=x", ""],
                "filter": "(uid=a*)",
            },
            groups={"dns": [], "filter": ""},
            mapped_attributes={"first_name": "", "last_name": None, "email": "userPrincipalName"},
            page_size=7,
        )
    )
    assert (s.port, s.bind_dn, s.bind_password, s.timeout) == (1389, "cn=admin", " pw ", 2.0)
    assert s.user_dns == ("ou=People,dc=x",)
    assert s.user_filter == "(uid=a*)"
    assert s.group_filter.startswith("(|(objectClass=groupOfNames)")
    assert s.mapped_attributes["email"] == "userPrincipalName"
    assert s.mapped_attributes["first_name"] == "givenName"
    assert s.page_size == 7


@pytest.mark.parametrize(
    "parts, message",
    [
        ({"directory": "x"}, "directory must be a JSON object"),
        ({"directory": {"type": "nis"}}, "directory.type must be one of ldap, ad"),
        (
            {"directory": {"type": "ldap", "id": True}},
            "directory.id must be an integer or a string",
        ),
        ({"directory": {"type": "ldap", "id": 1.5}}, "directory.id must be an integer or a string"),
        ({"connection": {"host": ""}}, "connection.host is required"),
        ({"connection": {"host": 5}}, "connection.host must be a string"),
        (
            {"connection": {"host": "ldap example.com"}},
            "connection.host must be a host name or address, without spaces",
        ),
        ({"connection": {"base_dn": "not a dn"}}, f"connection.base_dn: 'not a dn' {NOT_A_DN}"),
        ({"connection": {"bind_dn": "admin"}}, f"connection.bind_dn: 'admin' {NOT_A_DN}"),
        ({"users": {"dns": ["ou=x", "cn=x,,"]}}, f"users.dns: 'cn=x,,' {NOT_A_DN}"),
        ({"users": {"filter": 5}}, "users.filter must be a string"),
        ({"groups": {"dns": ["ou=x"] * 101}}, "groups.dns may hold at most 100 DNs"),
        (
            {"connection": {"security": "tls"}},
            "connection.security must be one of none, ssl, starttls",
        ),
        ({"connection": {"port": 0}}, "connection.port must be an integer between 1 and 65535"),
        ({"connection": {"port": 65536}}, "connection.port must be an integer between 1 and 65535"),
        ({"connection": {"port": True}}, "connection.port must be an integer between 1 and 65535"),
        ({"connection": {"port": "389"}}, "connection.port must be an integer between 1 and 65535"),
        ({"connection": {"base_dn": " "}}, "connection.base_dn is required"),
        ({"connection": {"timeout": 0}}, "connection.timeout must be a positive number of seconds"),
        (
            {"connection": {"timeout": False}},
            "connection.timeout must be a positive number of seconds",
        ),
        (
            {"connection": {"timeout": "5"}},
            "connection.timeout must be a positive number of seconds",
        ),
        ({"connection": {"ca_cert": "not pem"}}, "connection.ca_cert must be PEM text"),
        ({"connection": {"ca_cert": 5}}, "connection.ca_cert must be PEM text"),
        ({"connection": {"bind_password": 5}}, "connection.bind_password must be a string"),
        ({"connection": {"bind_dn": ["cn=x"]}}, "connection.bind_dn must be a string"),
        ({"connection": "ldap://x"}, "connection must be a JSON object"),
        ({"users": {"dns": "ou=x"}}, "users.dns must be a list of strings"),
        ({"groups": {"dns": [1]}}, "groups.dns must be a list of strings"),
        ({"users": []}, "users must be a JSON object"),
        (
            {"mapped_attributes": {"phone": "telephoneNumber"}},
            "mapped_attributes.phone is not a known field "
            "(known: username, first_name, last_name, email, display_name)",
        ),
        (
            {"mapped_attributes": {"email": "mail;binary"}},
            "mapped_attributes.email must be an LDAP attribute name",
        ),
        (
            {"mapped_attributes": {"email": 5}},
            "mapped_attributes.email must be an LDAP attribute name",
        ),
        ({"mapped_attributes": []}, "mapped_attributes must be a JSON object"),
        ({"page_size": 0}, "page_size must be an integer between 1 and 100000"),
        ({"page_size": 100_001}, "page_size must be an integer between 1 and 100000"),
        ({"page_size": True}, "page_size must be an integer between 1 and 100000"),
        ({"changes_since": []}, "changes_since must be a JSON object"),
        (
            {"changes_since": {"kind": "usn", "usn": 1}},
            "changes_since.kind must be 'modify_timestamp' or 'sync_cookie' for a directory "
            "of type 'ldap', not 'usn'",
        ),
    ],
)
def test_malformed_requests_are_refused_naming_the_problem(parts, message):
    with pytest.raises(RequestError) as refused:
        SyncSettings.from_request(body(**parts))
    assert str(refused.value) == message


def test_the_body_itself_must_be_an_object():
    with pytest.raises(RequestError, match="request body must be a JSON object"):
        SyncSettings.from_request([])


def test_edge_values_are_accepted():
    s = SyncSettings.from_request(
        body(
            connection={"port": 65535, "timeout": 0.5, "ca_cert": "-----BEGIN CERTIFICATE-----x"},
            page_size=100_000,
            mapped_attributes={"username": "2.5.4.3"},
        )
    )
    assert (s.port, s.timeout, s.page_size) == (65535, 0.5, 100_000)
    low = SyncSettings.from_request(body(connection={"port": 1}, page_size=1))
    assert (low.port, low.page_size) == (1, 1)
    unset = SyncSettings.from_request(
        body(connection={"security": None, "timeout": None, "port": None}, page_size=None),
        default_page_size=33,
    )
    assert (unset.security, unset.timeout, unset.port, unset.page_size) == ("none", 10.0, 389, 33)
    assert s.mapped_attributes["username"] == "2.5.4.3"
    widest = [f"ou=unit{n},dc=example,dc=com" for n in range(100)]
    assert len(SyncSettings.from_request(body(users={"dns": widest})).user_dns) == 100
    assert (
        SyncSettings.from_request(body(directory={"type": "ldap", "id": "x"})).directory_id == "x"
    )


def test_lookup_requests_take_at_most_the_limit():
    assert lookup_dns({"dns": []}) == []
    assert len(lookup_dns({"dns": ["cn=a"] * MAX_LOOKUP})) == MAX_LOOKUP
    for bad in ({}, {"dns": "cn=a"}, {"dns": [None]}):
        with pytest.raises(RequestError) as refused:
            lookup_dns(bad)
        assert str(refused.value) == "dns must be a list of strings"
    with pytest.raises(RequestError) as refused:
        lookup_dns({"dns": ["cn=a"] * (MAX_LOOKUP + 1)})
    assert str(refused.value) == "dns may hold at most 1000 DNs"
    with pytest.raises(RequestError) as refused:
        lookup_dns([])
    assert str(refused.value) == "request body must be a JSON object"


# --- reading -------------------------------------------------------------------------------


@pytest.fixture
def directory_server(slapd_factory):
    server = slapd_factory(users=23, groups=3, members_per_group=6, nested=True, non_ascii_every=5)
    conn = server.connect()
    # Several values of uid (the RDN names the second) and of mail (the first is kept).
    conn.modify_s(
        server.dataset.user_dn(2),
        [
            (ldap.MOD_REPLACE, "uid", [b"alias2", b"user2"]),
            (ldap.MOD_REPLACE, "mail", [b"first@x", b"second@x"]),
        ],
    )
    # A language-tagged value is another attribute description, not the display name.
    conn.modify_s(server.dataset.user_dn(0), [(ldap.MOD_ADD, "displayName;lang-de", [b"Deutsch"])])
    server.add_user("Mixed", cn="Smith, Jr.")
    return server


def read_all(server, **overrides):
    with source_for(settings_for(server, **overrides)) as source:
        return list(source.users()), list(source.groups())


def test_users_and_groups_are_read_as_the_directory_spells_them(directory_server):
    users, groups = read_all(directory_server, page_size=5)

    server = directory_server
    by_dn = {u["dn"]: u for u in users}
    assert len(users) == 24 and len(by_dn) == 24
    ids = server.entry_uuids(server.people_dn, "(objectClass=inetOrgPerson)")
    assert {u["id"] for u in users} == set(ids.values())
    first = by_dn[server.dataset.user_dn(0)]
    assert first == {
        "type": "user",
        "id": server.entry_uuid(server.dataset.user_dn(0)),
        "dn": server.dataset.user_dn(0),
        "username": "user0",
        "first_name": server.dataset.user(0)["givenName"],
        "last_name": server.dataset.user(0)["sn"],
        "email": "user0@example.com",
        "display_name": server.dataset.user(0)["displayName"],
        "upn": None,
        "disabled": False,
    }
    two = by_dn[server.dataset.user_dn(2)]
    assert (two["username"], two["email"]) == ("user2", "first@x")
    assert by_dn[f"uid=Mixed,{server.people_dn}"]["username"] == "Mixed"
    assert [g["name"] for g in groups] == ["group0", "group1", "group2"]
    assert groups[0]["members"] == server.dataset.group_members(0)
    assert groups[0]["dn"] == server.dataset.group_dn(0)


def test_a_user_scope_that_holds_groups_too_yields_only_users_on_every_page(directory_server):
    server = directory_server
    users, _ = read_all(server, users={"dns": [server.suffix], "filter": ""}, page_size=2)
    assert len(users) == 24
    assert all(u["dn"].endswith(f",{server.people_dn}") for u in users)


def test_one_attribute_may_fill_several_fields(directory_server):
    users, _ = read_all(directory_server, mapped_attributes={"username": "mail", "email": "mail"})
    row = next(u for u in users if u["dn"] == directory_server.dataset.user_dn(1))
    assert row["username"] == row["email"] == "user1@example.com"


def test_an_attribute_an_entry_lacks_comes_as_null(directory_server):
    directory_server.modify_user("user3", displayName=None)
    users, _ = read_all(directory_server)
    row = next(u for u in users if u["dn"] == directory_server.dataset.user_dn(3))
    assert row["display_name"] is None


def test_group_of_unique_names_members_are_read_as_written(slapd_factory):
    server = slapd_factory(users=4, groups=1, members_per_group=3, nested=False,
                           group_class="groupOfUniqueNames")  # fmt: skip
    _, groups = read_all(server)
    assert groups[0]["members"] == server.dataset.group_members(0)


def test_lookups_say_which_dns_name_entries(directory_server):
    server = directory_server
    with source_for(settings_for(server)) as source:
        found = source.lookup(
            [server.dataset.user_dn(1).upper(), f"uid=nobody,{server.people_dn}", "bad dn"]
        )
    assert len(found) == 3
    assert found[0]["exists"] is True and found[0]["entry_dn"] == server.dataset.user_dn(1)
    assert found[0]["id"] == server.entry_uuid(server.dataset.user_dn(1))
    assert "inetOrgPerson" in found[0]["object_classes"]
    assert found[1] == {"dn": f"uid=nobody,{server.people_dn}", "exists": False,
                        "detail": "No such object"}  # fmt: skip
    assert found[2]["exists"] is False


@pytest.mark.parametrize(
    "overrides, code, words",
    [
        ({"bind_password": "wrong"}, "invalid_credentials", "refused the bind as cn=admin"),
        ({"bind_password": ""}, "invalid_credentials", "no bind password given for cn=admin"),
        (
            {"base_dn": "dc=nowhere", "users": {"dns": []}},
            "no_such_object",
            "base DN dc=nowhere does not exist",
        ),
    ],
)
def test_directory_errors_are_named(directory_server, overrides, code, words):
    with pytest.raises(DirectoryError) as failed:
        read_all(directory_server, **overrides)
    assert failed.value.code == code
    if words:
        assert words in failed.value.message
    assert "admin-secret" not in failed.value.message


def test_a_missing_scope_and_a_bad_filter_are_named(directory_server):
    server = directory_server
    with pytest.raises(DirectoryError) as missing:
        read_all(server, groups={"dns": ["ou=missing,dc=example,dc=com"]})
    assert missing.value.code == "no_such_object"
    assert missing.value.message == (
        f"groups DN ou=missing,dc=example,dc=com does not exist on {server.host}:{server.port}"
    )
    with pytest.raises(DirectoryError) as bad:
        read_all(server, users={"dns": [server.people_dn], "filter": "(uid=a"})
    assert bad.value.code == "ldap_error"
    assert "users filter (uid=a is not valid" in bad.value.message


def test_a_stopped_server_is_unreachable(directory_server):
    directory_server.stop()
    with pytest.raises(DirectoryError) as down:
        read_all(directory_server, timeout=2)
    assert down.value.code == "unreachable"
    assert f"{directory_server.host}:{directory_server.port}" in down.value.message


def test_closing_twice_is_harmless_and_leaves_no_ca_file(directory_server, tmp_path):
    source = source_for(settings_for(directory_server))
    source.open()
    source.close()
    source.close()
    assert source.conn is None
    path = ldapsource.DirectorySource._write_ca("-----BEGIN CERTIFICATE-----\n")
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    os.unlink(path)


# --- Active Directory pieces -----------------------------------------------------------------


def test_object_guids_are_read_as_little_endian_uuids():
    raw = bytes(range(16))
    assert _guid(raw, "cn=x") == "03020100-0504-0706-0809-0a0b0c0d0e0f"
    with pytest.raises(DirectoryError, match="objectGUID of cn=x is 15 bytes, not 16"):
        _guid(raw[:15], "cn=x")


def test_an_ad_user_takes_the_attributes_asked_for_as_the_dc_spells_them():
    """What a DC's page of users becomes: values of attributes named in any case, the
    rule for several values, account flags; an attribute the read did not ask for (a
    proxy in front of the DC may add some) fills nothing."""
    settings = SyncSettings.from_request(
        body(directory={"id": 1, "type": "ad"}, connection={"base_dn": "dc=corp,dc=example"})
    )
    source = source_for(settings)
    dn = "CN=Ann Lee,OU=People,DC=corp,DC=example"
    guid = bytes(range(16))
    page = [
        (None, ["ldap://elsewhere"]),
        (
            dn,
            {
                "objectGUID": [guid],
                "SAMACCOUNTNAME": [b"ann"],
                "givenName": [b"Ann"],
                "mail": [b"ann@corp.example", b"a.lee@corp.example"],
                "userAccountControl": [b"514"],
                "proxyAddresses": [b"smtp:x@corp.example"],
            },
        ),
    ]
    asked = []

    def pages(base, filterstr, attrs, what):
        asked.append((base, attrs, what))
        yield page

    source._pages = pages
    (user,) = source.users()
    assert user == {
        "type": "user",
        "id": "03020100-0504-0706-0809-0a0b0c0d0e0f",
        "dn": dn,
        "username": "ann",
        "first_name": "Ann",
        "last_name": None,
        "email": "ann@corp.example",
        "display_name": None,
        "upn": None,
        "disabled": True,
    }
    assert "proxyAddresses" not in asked[0][1]


def test_ranges_and_account_flags_are_parsed():
    assert _range_end("member;range=0-1499", "cn=g") == (0, "1499")
    assert _range_end("member;range=1500-*", "cn=g") == (1500, "*")
    for bad in ("member;range=a-1", "member;range=1-", "member;range=-5", "member;range=1-x"):
        with pytest.raises(DirectoryError, match="unexpected attribute"):
            _range_end(bad, "cn=g")
    assert (_int(b"514"), _int(b"junk")) == (514, 0)


def test_a_group_named_by_the_second_of_its_cn_values_is_named_so(directory_server):
    server = directory_server
    group_dn = server.dataset.group_dn(1)
    server.connect().modify_s(group_dn, [(ldap.MOD_REPLACE, "cn", [b"Team One", b"group1"])])
    _, groups = read_all(server)
    assert next(g for g in groups if g["dn"] == group_dn)["name"] == "group1"


def test_values_that_are_no_utf8_are_decoded_with_replacement(directory_server):
    server = directory_server
    conn = server.connect()
    conn.modify_s(server.dataset.user_dn(4), [(ldap.MOD_REPLACE, "userPassword", [b"pw\xff\xfe"])])
    conn.modify_s(
        server.dataset.user_dn(5), [(ldap.MOD_REPLACE, "userPassword", [b"\xff1", b"\xfe2"])]
    )
    users, _ = read_all(server, mapped_attributes={"display_name": "userPassword"})
    by_dn = {u["dn"]: u["display_name"] for u in users}
    assert by_dn[server.dataset.user_dn(4)] == "pw\ufffd\ufffd"
    assert by_dn[server.dataset.user_dn(5)] == "\ufffd1"


def test_a_lookup_against_a_server_that_stopped_answering_names_it(directory_server):
    server = directory_server
    source = source_for(settings_for(server, timeout=1))
    source.open()
    server.freeze()
    try:
        with pytest.raises(DirectoryError) as stuck:
            source.lookup([server.dataset.user_dn(1)])
    finally:
        server.thaw()
        source.close()
    assert stuck.value.code == "unreachable"
    assert stuck.value.message == (
        f"LDAP server {server.host}:{server.port} did not answer within 1 s (search)"
    )


def test_dns_libldap_cannot_send_are_answered_as_invalid_and_the_rest_looked_up(directory_server):
    server = directory_server
    with source_for(settings_for(server)) as source:
        found = source.lookup(
            ["cn=a\x00b,dc=example,dc=com", "cn=\udcff", server.dataset.user_dn(1)]
        )
    assert found[:2] == [
        {"dn": "cn=a\x00b,dc=example,dc=com", "exists": False, "detail": "not a valid DN"},
        {"dn": "cn=\udcff", "exists": False, "detail": "not a valid DN"},
    ]
    assert found[2]["exists"] is True and len(found) == 3


def test_a_lookup_on_a_lost_connection_names_the_server_unreachable(directory_server):
    """Never "no such entry" for DNs that could not be asked about: the service would take
    them for deleted entries."""
    server = directory_server
    source = source_for(settings_for(server, timeout=2))
    source.open()
    server.stop()
    try:
        for _ in range(2):
            with pytest.raises(DirectoryError) as lost:
                source.lookup([server.dataset.user_dn(1), server.dataset.user_dn(2)])
            assert lost.value.code == "unreachable"
            assert lost.value.message.startswith(
                f"cannot reach LDAP server {server.host}:{server.port}: Can't contact LDAP server"
            )
    finally:
        source.close()


def test_a_read_from_a_server_that_stopped_answering_names_the_search(directory_server):
    server = directory_server
    source = source_for(settings_for(server, timeout=1))
    source.open()
    server.freeze()
    try:
        with pytest.raises(DirectoryError) as stuck:
            list(source.users())
    finally:
        server.thaw()
        source.close()
    assert (stuck.value.code, stuck.value.message) == (
        "unreachable",
        f"LDAP server {server.host}:{server.port} did not answer within 1 s (search)",
    )


def test_starttls_with_a_server_that_does_not_offer_it_is_a_tls_error(directory_server):
    server = directory_server
    with pytest.raises(DirectoryError) as refused:
        read_all(server, security="starttls")
    assert refused.value.code == "tls"
    assert refused.value.message == (
        f"StartTLS with {server.host}:{server.port} failed: Protocol error (unsupported "
        "extended operation); check that the server speaks StartTLS on this port and that its "
        f"certificate is signed by the system's trusted CAs and names {server.host}"
    )


@pytest.mark.parametrize("security", ["none", "ssl"])
def test_a_host_libldap_cannot_parse_is_named_before_any_connection(security):
    settings = SyncSettings.from_request(body(connection={"host": "[x", "security": security}))
    port = 636 if security == "ssl" else 389
    source = source_for(settings)
    with pytest.raises(DirectoryError) as refused:
        source.open()
    assert (refused.value.code, refused.value.message) == (
        "ldap_error",
        f"cannot set up the connection to [x:{port}: LDAPError",
    )
    source.close()  # as the agent does after any failed open
    assert source.conn is None


def test_a_server_that_takes_the_connection_but_never_answers_the_bind_is_named(
    directory_server,
):
    server = directory_server
    server.freeze()
    try:
        with pytest.raises(DirectoryError) as stuck:
            read_all(server, timeout=1)
    finally:
        server.thaw()
    assert (stuck.value.code, stuck.value.message) == (
        "unreachable",
        f"LDAP server {server.host}:{server.port} did not answer within 1 s (bind)",
    )


def test_a_ca_certificate_given_for_a_plain_connection_is_not_used(directory_server):
    unreadable = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"
    users, _ = read_all(directory_server, security="none", ca_cert=unreadable)
    assert len(users) == 24


def test_referrals_among_the_users_are_not_followed(directory_server):
    """Following one would send a request to another server."""
    server = directory_server
    other = socket.socket()
    other.bind(("127.0.0.1", 0))
    other.listen(5)
    other.settimeout(0.5)
    port = other.getsockname()[1]
    server.connect().add_s(
        f"ou=elsewhere,{server.people_dn}",
        [
            ("objectClass", [b"referral", b"extensibleObject"]),
            ("ou", [b"elsewhere"]),
            ("ref", [f"ldap://127.0.0.1:{port}/ou=people,dc=other".encode()]),
        ],
    )
    try:
        users, _ = read_all(server, timeout=2)
        with pytest.raises(TimeoutError):
            other.accept()[0].close()
    finally:
        other.close()
    assert len(users) == 24


def test_a_lookup_reads_each_entrys_id_and_classes(directory_server):
    server = directory_server
    with source_for(settings_for(server)) as source:
        [group] = source.lookup([server.dataset.group_dn(0)])
    assert group == {
        "dn": server.dataset.group_dn(0),
        "exists": True,
        "entry_dn": server.dataset.group_dn(0),
        "id": server.entry_uuid(server.dataset.group_dn(0)),
        "object_classes": ["groupOfNames"],
    }


def test_a_read_stopped_after_its_first_page_ends_its_search_and_the_next_read_gets_all(
    directory_server,
):
    settings = settings_for(directory_server, page_size=3)
    with source_for(settings) as source:
        pages = source._pages(directory_server.people_dn, "(objectClass=*)", ["1.1"], "users")
        assert len(next(pages)) == 3
        pages.close()
        # The server keeps one paged search per connection and does not answer the
        # abandon: a paged search on this connection now could fail now and then, so it
        # fails every time.
        with pytest.raises(
            RuntimeError,
            match="^a paged search was abandoned on this connection: read through a new one$",
        ):
            next(source.users())
    with source_for(settings) as source:
        assert len(list(source.users())) == 24
