"""A /sync streams the directory as NDJSON: begin, users, groups, end."""

from __future__ import annotations

import json
import socket
import time

import pytest

from connectors.agent import VERSION
from testbed.agents import sync_body
from tests.agent.helpers import WATERMARK

pytestmark = pytest.mark.ldap


def by_type(records):
    out = {"begin": [], "user": [], "group": [], "end": [], "error": []}
    for record in records:
        out[record["type"]].append(record)
    return out


def test_full_sync_streams_begin_then_users_then_groups_then_end(agent, slapd):
    records = agent.sync(sync_body(slapd, directory_id=7))

    kinds = [r["type"] for r in records]
    users, groups = slapd.dataset.users, slapd.dataset.groups
    assert kinds == ["begin"] + ["user"] * users + ["group"] * groups + ["end"]
    assert records[0] == {
        "type": "begin",
        "connector": "connector-1",
        "version": VERSION,
        "directory": 7,
        "read": "full",
    }
    assert records[-1] == {"type": "end", "users": users, "groups": groups, "watermark": WATERMARK}


def test_user_records_carry_entry_uuid_dn_and_default_mapped_attributes(agent, slapd):
    uuids = slapd.entry_uuids(slapd.people_dn, "(objectClass=inetOrgPerson)")

    users = by_type(agent.sync(sync_body(slapd)))["user"]

    expected = []
    for n in range(slapd.dataset.users):
        attrs = slapd.dataset.user(n)
        dn = slapd.dataset.user_dn(n).lower()
        expected.append(
            {
                "type": "user",
                "id": uuids[dn],
                "dn": dn,
                "username": attrs["uid"],
                "first_name": attrs["givenName"],
                "last_name": attrs["sn"],
                "email": attrs["mail"],
                "display_name": attrs["displayName"],
                "upn": None,
                "disabled": False,
            }
        )
    assert sorted(users, key=lambda r: r["dn"]) == sorted(expected, key=lambda r: r["dn"])


def test_mapped_attributes_decide_which_ldap_attribute_fills_each_field(agent, slapd):
    body = sync_body(
        slapd, mapped_attributes={"username": "mail", "display_name": "cn", "email": "mail"}
    )

    users = {r["dn"]: r for r in by_type(agent.sync(body))["user"]}

    user3 = users[slapd.dataset.user_dn(3).lower()]
    attrs = slapd.dataset.user(3)
    assert user3["username"] == attrs["mail"] == "user3@example.com"
    assert user3["email"] == attrs["mail"]
    assert user3["display_name"] == attrs["cn"]
    assert user3["first_name"] == attrs["givenName"]  # unmapped fields keep the defaults


def test_mapped_attribute_names_match_whatever_case_the_server_uses(agent, slapd):
    body = sync_body(slapd, mapped_attributes={"username": "UID", "last_name": "SN"})

    users = {r["dn"]: r for r in by_type(agent.sync(body))["user"]}

    assert users[slapd.dataset.user_dn(4).lower()]["username"] == "user4"
    assert users[slapd.dataset.user_dn(4).lower()]["last_name"] == "Last4"


def test_mapped_attribute_missing_on_an_entry_comes_as_null(agent, slapd):
    slapd.modify_user("user5", displayName=None)

    users = {r["dn"]: r for r in by_type(agent.sync(sync_body(slapd)))["user"]}

    assert users[slapd.dataset.user_dn(5).lower()]["display_name"] is None
    assert users[slapd.dataset.user_dn(6).lower()]["display_name"] == "First6 Last6 (6)"


def test_non_ascii_names_arrive_intact(agent, slapd):
    users = {r["dn"]: r for r in by_type(agent.sync(sync_body(slapd)))["user"]}

    non_ascii = [n for n in range(slapd.dataset.users) if not slapd.dataset.user(n)["sn"].isascii()]
    assert len(non_ascii) >= 5
    for n in non_ascii:
        record = users[slapd.dataset.user_dn(n).lower()]
        attrs = slapd.dataset.user(n)
        assert (record["first_name"], record["last_name"], record["display_name"]) == (
            attrs["givenName"],
            attrs["sn"],
            attrs["displayName"],
        )


def test_group_records_list_direct_members_as_dns_including_nested_groups(agent, slapd):
    uuids = slapd.entry_uuids(slapd.groups_dn, "(objectClass=groupOfNames)")

    groups = {r["dn"]: r for r in by_type(agent.sync(sync_body(slapd)))["group"]}

    dataset = slapd.dataset
    assert set(groups) == {dataset.group_dn(j).lower() for j in range(dataset.groups)}
    for j in range(dataset.groups):
        record = groups[dataset.group_dn(j).lower()]
        assert record["id"] == uuids[dataset.group_dn(j).lower()]
        assert record["name"] == f"group{j}"
        assert sorted(record["members"]) == sorted(dataset.group_members(j))
    parent, child = dataset.nested_pairs()[0]
    assert dataset.group_dn(child).lower() in groups[dataset.group_dn(parent).lower()]["members"]


def test_dns_and_member_values_come_exactly_as_the_directory_returns_them(agent, slapd):
    slapd.add_user("Mixed")
    group = slapd.add_group("Team", ["UID=Mixed,OU=People,DC=Example,DC=Com"])
    # What slapd itself answers (it rewrites values written over LDAP into its own form).
    [(stored_dn, attrs)] = slapd.connect().search_s(group, 0, attrlist=["member"])
    stored_members = [v.decode() for v in attrs["member"]]
    assert stored_members != ["uid=mixed,ou=people,dc=example,dc=com"]

    records = by_type(agent.sync(sync_body(slapd)))
    groups = {r["dn"]: r for r in records["group"]}
    users = {r["username"]: r for r in records["user"]}

    assert groups[stored_dn]["members"] == stored_members
    assert groups[stored_dn]["name"] == "Team"
    assert users["Mixed"]["dn"] == "uid=Mixed,ou=people,dc=example,dc=com"


def test_group_of_unique_names_members_are_read(agent, slapd_factory):
    server = slapd_factory(
        users=12, groups=3, members_per_group=4, nested=False, group_class="groupOfUniqueNames"
    )

    groups = {r["dn"]: r for r in by_type(agent.sync(sync_body(server)))["group"]}

    assert len(groups) == 3
    for j in range(3):
        expected = sorted(server.dataset.group_members(j))
        assert sorted(groups[server.dataset.group_dn(j).lower()]["members"]) == expected
        assert len(expected) == 4


def test_empty_group_placeholder_self_membership_is_reported_as_read(agent, slapd):
    group = slapd.add_group("empty")  # groupOfNames needs a member: it names itself

    groups = {r["dn"]: r for r in by_type(agent.sync(sync_body(slapd)))["group"]}

    # The agent reports what it read; the service leaves a group's own DN out.
    assert groups[group]["members"] == [group]


def test_empty_dns_mean_search_under_the_base_dn(agent, slapd):
    body = sync_body(slapd, users={"dns": [], "filter": ""}, groups={"dns": []})

    records = by_type(agent.sync(body))

    assert len(records["user"]) == slapd.dataset.users
    assert len(records["group"]) == slapd.dataset.groups


def test_user_filter_limits_which_entries_are_users(agent, slapd):
    body = sync_body(slapd, users={"dns": [slapd.people_dn], "filter": "(uid=user1*)"})

    records = by_type(agent.sync(body))

    usernames = {r["username"] for r in records["user"]}
    assert usernames == {f"user{n}" for n in range(slapd.dataset.users) if str(n).startswith("1")}
    assert records["end"][0]["users"] == len(usernames)


def test_small_pages_return_every_entry_exactly_once(agent, slapd):
    records = by_type(agent.sync(sync_body(slapd, page_size=7)))

    dns = [r["dn"] for r in records["user"]]
    assert len(dns) == len(set(dns)) == slapd.dataset.users
    assert records["end"] == [
        {"type": "end", "users": slapd.dataset.users, "groups": 5, "watermark": WATERMARK}
    ]


def test_agent_page_size_option_is_used_when_the_request_names_none(agent_factory, slapd):
    # A page of 3 over 50 users: a server limit of 3 would cut an unpaged search.
    slapd.connect()  # fail early if the server is not up
    small_pages = agent_factory("pager", page_size=3)

    records = by_type(small_pages.sync(sync_body(slapd)))

    assert len(records["user"]) == slapd.dataset.users


def test_overlapping_search_dns_do_not_repeat_entries(agent, slapd):
    body = sync_body(
        slapd,
        users={"dns": [slapd.people_dn, slapd.suffix, slapd.people_dn.upper()]},
        groups={"dns": [slapd.groups_dn, slapd.groups_dn]},
    )

    records = by_type(agent.sync(body))

    assert len(records["user"]) == len({r["id"] for r in records["user"]}) == 50
    assert len(records["group"]) == 5


def test_changes_in_the_directory_show_in_the_next_sync(agent, slapd):
    before = by_type(agent.sync(sync_body(slapd)))
    ids_before = {r["dn"]: r["id"] for r in before["user"]}

    new_dn = slapd.add_user("newcomer", givenName="Nora")
    renamed_dn = slapd.rename_user("user1", "user1-renamed")
    slapd.delete_user("user2")
    slapd.modify_user("user3", mail="changed@example.com")
    slapd.add_members(slapd.dataset.group_dn(4), [new_dn])
    after = by_type(agent.sync(sync_body(slapd)))

    users = {r["dn"]: r for r in after["user"]}
    assert users[new_dn.lower()]["first_name"] == "Nora"
    assert users[renamed_dn.lower()]["id"] == ids_before[slapd.dataset.user_dn(1).lower()]
    assert slapd.dataset.user_dn(1).lower() not in users
    assert slapd.dataset.user_dn(2).lower() not in users
    assert users[slapd.dataset.user_dn(3).lower()]["email"] == "changed@example.com"
    group4 = next(g for g in after["group"] if g["name"] == "group4")
    assert new_dn.lower() in group4["members"]
    assert after["end"][0]["users"] == 50


def test_sync_response_is_ndjson_closed_by_the_agent_without_content_length(agent, slapd):
    conn, response = agent.open_sync(sync_body(slapd))
    try:
        body = response.read()
    finally:
        conn.close()

    assert response.status == 200
    assert response.getheader("Content-Type") == "application/x-ndjson"
    assert response.getheader("Connection") == "close"
    assert response.getheader("Content-Length") is None
    assert response.getheader("Transfer-Encoding") is None
    lines = body.decode().split("\n")
    assert lines[-1] == ""  # every record ends with a newline
    assert all(json.loads(line)["type"] for line in lines[:-1])


@pytest.mark.slow
def test_records_are_sent_while_the_directory_is_still_being_read(agent, slapd_factory):
    server = slapd_factory(users=20000, groups=1, members_per_group=1, non_ascii_every=0)
    request = json.dumps(sync_body(server, page_size=5, timeout=30)).encode()
    sock = socket.create_connection((agent.host, agent.port), timeout=30)
    try:
        sock.sendall(
            b"POST /sync HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {agent.secret}\r\n".encode()
            + f"Content-Length: {len(request)}\r\n\r\n".encode()
            + request
        )
        received = b""
        while b'"type":"user"' not in received:
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk
        # With the server stopped the agent cannot read further pages, so whatever
        # already arrived was sent before the read finished.
        server.freeze()
        sock.settimeout(1.5)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
        users_while_frozen = received.count(b'"type":"user"')
        assert b'"type":"end"' not in received
        assert 0 < users_while_frozen < 20000

        server.thaw()
        sock.settimeout(60)
        started = time.monotonic()
        while chunk := sock.recv(1 << 20):
            received += chunk
            assert time.monotonic() - started < 60
    finally:
        sock.close()
        server.thaw()

    body = received.split(b"\r\n\r\n", 1)[1]
    records = [json.loads(line) for line in body.splitlines()]
    assert records[-1] == {"type": "end", "users": 20000, "groups": 1, "watermark": WATERMARK}
    assert len({r["id"] for r in records if r["type"] == "user"}) == 20000


def test_ldaps_with_the_given_ca_certificate_streams_the_directory(agent, slapd_factory):
    server = slapd_factory(users=5, groups=1, members_per_group=2, tls=True)
    body = sync_body(server, security="ssl", port=server.tls_port, ca_cert=server.ca_cert_pem)

    records = by_type(agent.sync(body))

    assert records["end"] == [{"type": "end", "users": 5, "groups": 1, "watermark": WATERMARK}]


def test_starttls_with_the_given_ca_certificate_streams_the_directory(agent, slapd_factory):
    server = slapd_factory(users=5, groups=1, members_per_group=2, tls=True)
    body = sync_body(server, security="starttls", ca_cert=server.ca_cert_pem)

    records = by_type(agent.sync(body))

    assert records["end"] == [{"type": "end", "users": 5, "groups": 1, "watermark": WATERMARK}]
