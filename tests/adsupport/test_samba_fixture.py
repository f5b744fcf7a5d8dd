"""The Samba AD fixture serves what AD-facing tests rely on."""

from __future__ import annotations

import re
import uuid

import ldap
import pytest
from ldap.controls import SimplePagedResultsControl

from tests.support.samba_ad import ADDataSet, add_group, add_members, add_ou, add_user, object_guid

pytestmark = pytest.mark.ad

AD_USERS = "(&(objectCategory=person)(objectClass=user))"
IN_CHAIN = "1.2.840.113556.1.4.1941"
BIT_AND = "1.2.840.113556.1.4.803"
RANGE_RE = re.compile(r"^member;range=(\d+)-(\d+|\*)$", re.IGNORECASE)


@pytest.fixture(scope="module")
def conn(samba_ad: ADDataSet):
    conn = samba_ad.connect()
    yield conn
    conn.unbind_s()


def text(values: list[bytes]) -> list[str]:
    return [v.decode("utf-8") for v in values]


def read_member_range(conn, group_dn: str, low: int, high: int) -> tuple[str, list[str]]:
    result = conn.search_s(
        group_dn, ldap.SCOPE_BASE, "(objectClass=*)", [f"member;range={low}-{high}"]
    )
    attrs = result[0][1]
    (name,) = [k for k in attrs if k.lower().startswith("member;range=")]
    return name, text(attrs[name])


def paged_search(conn, base: str, filterstr: str, attrs: list[str], page_size: int):
    control = SimplePagedResultsControl(True, size=page_size, cookie=b"")
    entries, pages = [], 0
    while True:
        msgid = conn.search_ext(base, ldap.SCOPE_SUBTREE, filterstr, attrs, serverctrls=[control])
        _, data, _, controls = conn.result3(msgid)
        pages += 1
        # Skip search references (dn None) that AD returns for other partitions.
        entries += [(dn, a) for dn, a in data if dn is not None]
        (response,) = [
            c for c in controls if c.controlType == SimplePagedResultsControl.controlType
        ]
        if not response.cookie:
            return entries, pages
        control.cookie = response.cookie


def test_simple_bind_on_389(samba_ad: ADDataSet):
    assert samba_ad.uri == "ldap://127.0.0.1:389"
    conn = ldap.initialize(samba_ad.uri)
    conn.simple_bind_s(samba_ad.bind_dn, samba_ad.password)
    ((dn, _),) = conn.search_s(samba_ad.base_dn, ldap.SCOPE_BASE, "(objectClass=*)", ["dc"])
    assert dn.lower() == samba_ad.base_dn.lower()
    conn.unbind_s()


def test_wrong_password_is_refused(samba_ad: ADDataSet):
    conn = ldap.initialize(samba_ad.uri)
    with pytest.raises(ldap.INVALID_CREDENTIALS):
        conn.simple_bind_s(samba_ad.bind_dn, "not-the-password")


def test_object_guid_is_16_bytes_and_stable(samba_ad: ADDataSet, conn):
    dn = samba_ad.users_by_sam["zoe.angstrom"].dn
    ((_, attrs),) = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", ["objectGUID"])
    (raw,) = attrs["objectGUID"]
    assert len(raw) == 16
    assert object_guid(conn, dn) == str(uuid.UUID(bytes_le=raw))
    assert object_guid(conn, dn) != object_guid(conn, samba_ad.users_by_sam["li.lei"].dn)


def test_first_member_range_has_1500_values_and_names_the_next(samba_ad: ADDataSet, conn):
    result = conn.search_s(
        samba_ad.all_staff.dn, ldap.SCOPE_BASE, "(objectClass=*)", ["member;range=0-1499"]
    )
    attrs = result[0][1]
    (name,) = attrs
    match = RANGE_RE.match(name)
    assert match, name
    assert (match.group(1), match.group(2)) == ("0", "1499")
    assert len(attrs[name]) == 1500


def test_reading_all_ranges_gives_every_member(samba_ad: ADDataSet, conn):
    # As a client of Windows AD would: ask for 1,500-value windows until the server
    # answers with a range ending in "*". (Samba would send everything for "0-*".)
    members: list[str] = []
    low, rounds = 0, 0
    while True:
        name, values = read_member_range(conn, samba_ad.all_staff.dn, low, low + 1499)
        members += values
        rounds += 1
        start, end = RANGE_RE.match(name).groups()
        assert int(start) == low
        if end == "*":
            break
        low = int(end) + 1
    assert rounds == 2
    assert len(members) == 3000
    assert sorted(members) == sorted(samba_ad.all_staff.member_dns)


def test_unranged_read_returns_all_members(samba_ad: ADDataSet, conn):
    # Samba, unlike Windows, does not cut an unranged read at 1,500 values.
    result = conn.search_s(samba_ad.all_staff.dn, ldap.SCOPE_BASE, "(objectClass=*)", ["member"])
    assert len(result[0][1]["member"]) == 3000


def test_direct_members_include_the_nested_group(samba_ad: ADDataSet, conn):
    result = conn.search_s(samba_ad.engineering.dn, ldap.SCOPE_BASE, "(objectClass=*)", ["member"])
    assert sorted(text(result[0][1]["member"])) == sorted(samba_ad.engineering.member_dns)
    assert samba_ad.backend.dn in samba_ad.engineering.member_dns
    empty = conn.search_s(samba_ad.empty.dn, ldap.SCOPE_BASE, "(objectClass=*)", ["member"])
    assert "member" not in empty[0][1]


def test_nested_membership_includes_backend_users(samba_ad: ADDataSet, conn):
    # Samba evaluates the in-chain rule entry by entry (about 3 ms each with 3,000
    # users in AllStaff), so candidates are first narrowed by an indexed attribute.
    named = [u for u in samba_ad.users if not u.sam.startswith("user")]
    candidates = "".join(f"(sAMAccountName={u.sam})" for u in named)
    filterstr = f"(&{AD_USERS}(|{candidates})(memberOf:{IN_CHAIN}:={samba_ad.engineering.dn}))"
    result = conn.search_s(samba_ad.users_ou_dn, ldap.SCOPE_SUBTREE, filterstr, ["cn"])
    found = {dn for dn, _ in result if dn is not None}
    direct_users = {dn for dn in samba_ad.engineering.member_dns if dn != samba_ad.backend.dn}
    assert set(samba_ad.backend.member_dns) <= found
    assert found == direct_users | set(samba_ad.backend.member_dns)
    # The plain (direct) memberOf does not reach through Backend.
    plain = f"(&{AD_USERS}(|{candidates})(memberOf={samba_ad.engineering.dn}))"
    result = conn.search_s(samba_ad.users_ou_dn, ldap.SCOPE_SUBTREE, plain, ["cn"])
    assert {dn for dn, _ in result if dn is not None} == direct_users


def test_disabled_users_have_bit_2(samba_ad: ADDataSet, conn):
    filterstr = f"(&{AD_USERS}(userAccountControl:{BIT_AND}:=2))"
    result = conn.search_s(
        samba_ad.users_ou_dn, ldap.SCOPE_SUBTREE, filterstr, ["userAccountControl"]
    )
    assert {dn for dn, _ in result} == {u.dn for u in samba_ad.disabled_users}
    assert len(samba_ad.disabled_users) >= 3
    for _, attrs in result:
        assert int(attrs["userAccountControl"][0]) & 2
    enabled = samba_ad.users_by_sam["carol.cooper"].dn
    ((_, attrs),) = conn.search_s(
        enabled, ldap.SCOPE_BASE, "(objectClass=*)", ["userAccountControl"]
    )
    assert not int(attrs["userAccountControl"][0]) & 2


def test_non_ascii_names_read_back_intact(samba_ad: ADDataSet, conn):
    names = {u.display_name for u in samba_ad.non_ascii_users}
    assert {"Zoë Ångström", "Jürgen Müller", "李雷"} <= names
    for user in samba_ad.non_ascii_users:
        attrs_wanted = ["sAMAccountName", "givenName", "sn", "displayName", "userPrincipalName"]
        ((dn, attrs),) = conn.search_s(user.dn, ldap.SCOPE_BASE, "(objectClass=*)", attrs_wanted)
        assert dn == user.dn
        assert text(attrs["displayName"]) == [user.display_name]
        assert text(attrs["givenName"]) == [user.given_name]
        assert text(attrs["sn"]) == [user.sn]
        assert text(attrs["userPrincipalName"]) == [user.upn]
        # Searching by a non-ASCII value finds the same entry.
        hits = conn.search_s(
            samba_ad.users_ou_dn, ldap.SCOPE_SUBTREE, f"(displayName={user.display_name})", ["cn"]
        )
        assert [h[0] for h in hits] == [user.dn]


def test_paged_search_returns_all_users(samba_ad: ADDataSet, conn):
    attrs = ["objectGUID", "sAMAccountName"]
    entries, pages = paged_search(conn, samba_ad.users_ou_dn, AD_USERS, attrs, page_size=500)
    assert pages > 1
    assert len(entries) == samba_ad.user_count == 3010
    assert {dn for dn, _ in entries} == set(samba_ad.users_by_dn)
    everyone, _ = paged_search(conn, samba_ad.base_dn, AD_USERS, ["sAMAccountName"], 1000)
    sams = {text(a["sAMAccountName"])[0] for _, a in everyone}
    assert len(everyone) == samba_ad.user_count + len(samba_ad.builtin_user_sams)
    assert set(samba_ad.builtin_user_sams) <= sams


def test_optional_attributes_may_be_absent(samba_ad: ADDataSet, conn):
    grace = samba_ad.users_by_sam["grace"]
    wanted = ["mail", "userPrincipalName", "givenName", "sn"]
    ((_, attrs),) = conn.search_s(grace.dn, ldap.SCOPE_BASE, "(objectClass=*)", wanted)
    assert set(attrs) == {"sn"}


def test_groups_under_the_groups_ou(samba_ad: ADDataSet, conn):
    result = conn.search_s(
        samba_ad.groups_ou_dn, ldap.SCOPE_SUBTREE, "(objectClass=group)", ["sAMAccountName"]
    )
    assert {dn for dn, _ in result} == {g.dn for g in samba_ad.groups}
    assert samba_ad.group_count == 4


@pytest.mark.parametrize("mode", ["ldaps", "starttls"])
def test_tls_binds(samba_ad: ADDataSet, mode: str):
    uri = samba_ad.ldaps_uri if mode == "ldaps" else samba_ad.uri
    conn = ldap.initialize(uri)
    # The DC's certificate is self-signed.
    conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_NEVER)
    conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
    if mode == "starttls":
        conn.start_tls_s()
    conn.simple_bind_s(samba_ad.bind_dn, samba_ad.password)
    assert conn.search_s(samba_ad.base_dn, ldap.SCOPE_BASE, "(objectClass=*)", ["dc"])
    conn.unbind_s()


def test_ldap_helpers_add_objects_the_dc_serves(samba_ad: ADDataSet, conn):
    ou = f"OU=HelperCheck,{samba_ad.base_dn}"
    user = f"CN=Helper Person,{ou}"
    group = f"CN=HelperGroup,{ou}"
    add_ou(conn, ou)
    try:
        add_user(conn, user, sam="helper.person", given_name="Hélène", sn="Person", disabled=True)
        add_group(conn, group, members=[user, samba_ad.backend.dn])
        add_members(conn, samba_ad.empty.dn, [user])
        try:
            ((_, attrs),) = conn.search_s(user, ldap.SCOPE_BASE, "(objectClass=*)", ["*"])
            assert text(attrs["givenName"]) == ["Hélène"]
            assert int(attrs["userAccountControl"][0]) & 2
            ((_, attrs),) = conn.search_s(group, ldap.SCOPE_BASE, "(objectClass=*)", ["member"])
            assert sorted(text(attrs["member"])) == sorted([user, samba_ad.backend.dn])
            uuid.UUID(object_guid(conn, group))
        finally:
            conn.modify_s(samba_ad.empty.dn, [(ldap.MOD_DELETE, "member", [user.encode()])])
    finally:
        # Later tests count what lies under the base DN: leave nothing behind.
        for dn in (group, user, ou):
            try:
                conn.delete_s(dn)
            except ldap.NO_SUCH_OBJECT:
                pass


def test_dc_can_be_stopped_and_started_again(samba_ad: ADDataSet):
    dc = samba_ad.dc
    assert dc is not None and dc.running
    dc.stop()
    try:
        with pytest.raises(ldap.SERVER_DOWN):
            samba_ad.connect()
    finally:
        dc.start()
    conn = samba_ad.connect()
    dn = samba_ad.users_by_sam["li.lei"].dn
    assert conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", ["cn"])[0][0] == dn
    conn.unbind_s()
