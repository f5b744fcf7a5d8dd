"""Incremental reads of OpenLDAP: a presence listing, then the entries whose
modifyTimestamp is at or after the watermark, then the next watermark.

Each test checks the agent's stream against the test's own python-ldap reads of slapd.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from datetime import UTC, datetime, timedelta

import ldap
import pytest
from ldap.controls import LDAPControl

from connectors.agent.vendors.openldap import OVERLAP
from connectors.protocol.changes import format_generalized_time, parse_generalized_time
from testbed.agents import AgentFactory, iter_records, sync_body
from testbed.slapd import Dataset, Slapd, slapd_available
from tests.agent.helpers import WATERMARK
from tests.agent.ldap_relay import GatedRelay

pytestmark = pytest.mark.ldap

USERS_FILTER = "(objectClass=inetOrgPerson)"
GROUPS_FILTER = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"
# slapd lets the root DN set operational attributes such as modifyTimestamp under the
# Relax Rules control (draft-zeilenga-ldap-relax).
RELAX = LDAPControl("1.3.6.1.4.1.4203.666.5.12", True)
TWO_HOURS_AGO = format_generalized_time(datetime.now(UTC) - timedelta(hours=2))


def by_type(records):
    out = {"begin": [], "present": [], "user": [], "group": [], "end": [], "error": []}
    for record in records:
        out[record["type"]].append(record)
    return out


def incremental_body(server, since, **overrides):
    body = sync_body(server, **overrides)
    body["changes_since"] = since
    return body


def stamp(server, dn, value):
    """Set `dn`'s modifyTimestamp, as if it had last changed then."""
    server.connect().modify_ext_s(
        dn, [(ldap.MOD_REPLACE, "modifyTimestamp", [value.encode()])], serverctrls=[RELAX]
    )


def in_scope(server, base, filterstr, attrs=("entryUUID", "modifyTimestamp")):
    """DN -> attributes of every entry the agent's read covers, read directly."""
    found = server.connect().search_s(base, ldap.SCOPE_SUBTREE, filterstr, list(attrs))
    return {dn: {k: v[0].decode() for k, v in entry.items()} for dn, entry in found if dn}


def presence(server):
    """[id, dn] of every user, then every group, in scope."""
    users = in_scope(server, server.people_dn, USERS_FILTER)
    groups = in_scope(server, server.groups_dn, GROUPS_FILTER)
    return (
        sorted([attrs["entryUUID"], dn] for dn, attrs in users.items()),
        sorted([attrs["entryUUID"], dn] for dn, attrs in groups.items()),
    )


def listed(records, kind):
    return sorted(entry for r in records["present"] if r["kind"] == kind for entry in r["entries"])


class Unreached:
    """Connection settings for requests refused before any LDAP: no server behind them."""

    people_dn, groups_dn = "ou=people,dc=example,dc=com", "ou=groups,dc=example,dc=com"

    def connection(self, **overrides):
        return {"host": "127.0.0.1", "port": 1, "base_dn": "dc=example,dc=com", **overrides}


@pytest.fixture(scope="module")
def shared_agent(tmp_path_factory):
    """One agent for the tests that only send requests it refuses."""
    factory = AgentFactory(tmp_path_factory.mktemp("agents"))
    try:
        yield factory("refuser")
    finally:
        factory.close()


@pytest.fixture
def aged(slapd):
    """The 50-user slapd with every user and group last changed two hours ago, except
    user49 (loaded just now): the newest modifyTimestamp the agent sees is user49's."""
    dataset = slapd.dataset
    for n in range(dataset.users - 1):
        stamp(slapd, dataset.user_dn(n), TWO_HOURS_AGO)
    for j in range(dataset.groups):
        stamp(slapd, dataset.group_dn(j), TWO_HOURS_AGO)
    return slapd


def test_full_read_ends_with_the_newest_timestamp_less_the_reads_duration_and_overlap(agent, aged):
    newest = max(
        attrs["modifyTimestamp"]
        for attrs in [
            *in_scope(aged, aged.people_dn, USERS_FILTER).values(),
            *in_scope(aged, aged.groups_dn, GROUPS_FILTER).values(),
        ]
    )
    assert (
        newest
        == in_scope(aged, aged.dataset.user_dn(49), USERS_FILTER)[aged.dataset.user_dn(49)][
            "modifyTimestamp"
        ]
    )

    started = time.monotonic()
    records = agent.sync(sync_body(aged))
    took = time.monotonic() - started

    begin, end = records[0], records[-1]
    assert begin["read"] == "full" and "reason" not in begin
    assert end == {"type": "end", "users": 50, "groups": 5, "watermark": WATERMARK}
    assert [r["type"] for r in records if r["type"] not in ("user", "group")] == ["begin", "end"]
    behind = parse_generalized_time(newest) - parse_generalized_time(end["watermark"]["value"])
    # The read's duration, rounded up, is at least 1 s and at most what the test saw.
    assert OVERLAP + 1 <= behind.total_seconds() <= OVERLAP + math.ceil(took)


def test_incremental_read_lists_what_is_in_scope_and_sends_only_changed_entries(agent, aged):
    dataset = aged.dataset
    full = by_type(agent.sync(sync_body(aged)))
    full_users = {r["dn"]: r for r in full["user"]}
    since = full["end"][0]["watermark"]

    modified = aged.modify_user("user3", mail="changed@example.com")
    renamed = aged.rename_user("user1", "user1-renamed")
    aged.connect().add_s(
        f"ou=former,{aged.suffix}", [("objectClass", [b"organizationalUnit"]), ("ou", [b"former"])]
    )
    moved_out = aged.rename(dataset.user_dn(5), "uid=user5", f"ou=former,{aged.suffix}")
    aged.delete_user("user2")
    added = aged.add_user("newcomer", givenName="Nora")
    aged.add_members(dataset.group_dn(4), [added])
    # What the agent must send, by the test's own reading of the directory: every entry
    # in scope whose modifyTimestamp is at or after the watermark.
    users_now = in_scope(aged, aged.people_dn, USERS_FILTER)
    groups_now = in_scope(aged, aged.groups_dn, GROUPS_FILTER)
    changed_users = {dn for dn, a in users_now.items() if a["modifyTimestamp"] >= since["value"]}
    changed_groups = {dn for dn, a in groups_now.items() if a["modifyTimestamp"] >= since["value"]}
    assert {modified, renamed, added} <= changed_users
    assert changed_users <= {modified, renamed, added, dataset.user_dn(49)}
    assert changed_groups == {dataset.group_dn(4)}

    records = agent.sync(incremental_body(aged, since, page_size=7))

    kinds = [r["type"] if r["type"] != "present" else f"present {r['kind']}" for r in records]
    assert kinds == sorted(
        kinds,
        key=["begin", "present user", "present group", "user", "group", "end"].index,
    )
    got = by_type(records)
    assert got["begin"][0]["read"] == "incremental" and "reason" not in got["begin"][0]
    # The presence listing: every entry in scope, by id and DN, and nothing else.
    users_present, groups_present = presence(aged)
    assert listed(got, "user") == users_present
    assert listed(got, "group") == groups_present
    assert all(0 < len(r["entries"]) <= 7 for r in got["present"])
    assert moved_out not in {dn for _, dn in users_present}
    assert dataset.user_dn(2) not in {dn for _, dn in users_present}
    assert len(users_present) == 49  # 50, one deleted, one moved out, one added
    # The changed entries, as a full read sends them; untouched ones are left out.
    assert {r["dn"] for r in got["user"]} == changed_users
    assert dataset.user_dn(0) not in changed_users and dataset.user_dn(4) not in changed_users
    again = by_type(agent.sync(sync_body(aged)))
    now_users = {r["dn"]: r for r in again["user"]}
    now_groups = {r["dn"]: r for r in again["group"]}
    for record in got["user"]:
        assert record == now_users[record["dn"]]
    assert got["group"] == [now_groups[dataset.group_dn(4)]]
    assert added in got["group"][0]["members"]
    assert len(got["group"][0]["members"]) == len(dataset.group_members(4)) + 1
    assert now_users[renamed]["id"] == full_users[dataset.user_dn(1)]["id"]
    assert got["end"] == [
        {
            "type": "end",
            "users": len(changed_users),
            "groups": 1,
            "present_users": 49,
            "present_groups": 5,
            "watermark": WATERMARK,
        }
    ]
    assert got["end"][0]["watermark"]["value"] >= since["value"]


def test_a_change_made_while_a_read_is_under_way_is_in_the_next_incremental_read(agent, aged):
    dataset = aged.dataset
    # Hold the agent's search for the second page (after the bind, the root DSE read and
    # the first page's search): it streams the first page, then waits.
    relay = GatedRelay(aged.port, hold_at=4)
    try:
        conn, response = agent.open_sync(sync_body(aged, port=relay.port, page_size=5, timeout=30))
        try:
            stream = iter_records(response)
            first = [next(stream)]
            assert first[0]["type"] == "begin"
            # The agent has the first page (user0 to user4) and waits for the second.
            assert relay.held.wait(10)
            # user0 was already sent; its change comes a second before user40's, which
            # the read has yet to see: the newest timestamp the read sees is later than
            # user0's change, and the watermark must still not pass it.
            aged.modify_user("user0", mail="during@example.com")
            time.sleep(1.1)
            aged.modify_user("user40", mail="later@example.com")
            relay.release()
            rest = list(stream)
        finally:
            conn.close()
    finally:
        relay.close()
    records = by_type(first + rest)
    sent = {r["dn"]: r for r in records["user"]}
    assert sent[dataset.user_dn(0)]["email"] == "user0@example.com"
    assert sent[dataset.user_dn(40)]["email"] == "later@example.com"
    since = records["end"][0]["watermark"]
    # Just after the read, too.
    aged.modify_user("user10", mail="after@example.com")

    got = by_type(agent.sync(incremental_body(aged, since)))

    changed = {r["dn"]: r["email"] for r in got["user"]}
    assert changed[dataset.user_dn(0)] == "during@example.com"
    assert changed[dataset.user_dn(10)] == "after@example.com"
    assert changed[dataset.user_dn(40)] == "later@example.com"
    assert dataset.user_dn(20) not in changed


def test_an_incremental_read_of_an_unchanged_directory_sends_the_listing_alone(agent, aged):
    stamp(aged, aged.dataset.user_dn(49), TWO_HOURS_AGO)
    since = {"kind": "modify_timestamp", "value": "20990101000000Z"}
    body = incremental_body(aged, since, users={"dns": [], "filter": "objectClass=inetOrgPerson"})

    got = by_type(agent.sync(body))

    assert got["user"] == got["group"] == []
    assert got["end"][0]["present_users"] == 50
    assert got["end"][0]["present_groups"] == 5
    # The newest entry is two hours old: the watermark is two hours old, less a minute.
    value = parse_generalized_time(got["end"][0]["watermark"]["value"])
    assert value < parse_generalized_time(TWO_HOURS_AGO) - timedelta(seconds=OVERLAP)


def test_an_empty_scope_keeps_the_watermark_given_and_a_full_read_of_it_has_none(agent, aged):
    since = {"kind": "modify_timestamp", "value": "20240101000000Z"}
    nothing = {"dns": [aged.people_dn], "filter": "(uid=nobody)"}

    incremental = agent.sync(incremental_body(aged, since, users=nothing, groups=nothing))
    full = agent.sync(sync_body(aged, users=nothing, groups=nothing))

    assert incremental[-1] == {
        "type": "end",
        "users": 0,
        "groups": 0,
        "present_users": 0,
        "present_groups": 0,
        "watermark": since,
    }
    assert full[-1] == {"type": "end", "users": 0, "groups": 0, "watermark": None}


class SlapdWithoutTimestamps(Slapd):
    """slapd with ``lastmod off``: its entries carry no modifyTimestamp (nor entryUUID)."""

    def write_config(self) -> None:
        super().write_config()
        text = self.conf_path.read_text()
        self.conf_path.write_text(text.replace("database mdb\n", "database mdb\nlastmod off\n"))


def test_entries_without_modify_timestamp_leave_no_watermark(agent, tmp_path):
    if not slapd_available():
        pytest.skip("slapd is not installed")
    server = SlapdWithoutTimestamps(tmp_path, Dataset(users=5, groups=1, members_per_group=2))
    try:
        server.start()
        assert (
            "modifyTimestamp"
            not in in_scope(server, server.people_dn, USERS_FILTER)[server.dataset.user_dn(0)]
        )
        since = {"kind": "modify_timestamp", "value": "20240101000000Z"}

        full = agent.sync(sync_body(server))
        incremental = by_type(agent.sync(incremental_body(server, since)))
    finally:
        server.cleanup()

    assert full[-1] == {"type": "end", "users": 5, "groups": 1, "watermark": None}
    assert incremental["end"][0]["watermark"] is None
    assert incremental["end"][0]["present_users"] == 5
    # No entryUUID either: the listing says so with a null id.
    assert {entry[0] for r in incremental["present"] for entry in r["entries"]} == {None}


def test_a_failing_listing_ends_with_an_error_record(agent, aged):
    since = {"kind": "modify_timestamp", "value": "20240101000000Z"}
    body = incremental_body(aged, since, users={"dns": [f"ou=nowhere,{aged.suffix}"]})

    records = agent.sync(body)

    assert [r["type"] for r in records] == ["begin", "error"]
    assert records[0]["read"] == "incremental"
    assert records[1]["code"] == "no_such_object"


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        ("20240101000000Z", "changes_since must be a JSON object"),
        ({"kind": "usn", "usn": 5, "invocation_id": "x"}, "changes_since.kind must be"),
        ({"value": "20240101000000Z"}, "changes_since.kind must be"),
        ({"kind": "modify_timestamp"}, "changes_since.value must be"),
        ({"kind": "modify_timestamp", "value": "2024010100000Z"}, "changes_since.value must be"),
        ({"kind": "modify_timestamp", "value": "20240101000000"}, "changes_since.value must be"),
        ({"kind": "modify_timestamp", "value": "20240101000000.5Z"}, "changes_since.value"),
        ({"kind": "modify_timestamp", "value": "20240101000000+0100"}, "changes_since.value"),
        ({"kind": "modify_timestamp", "value": "20241301000000Z"}, "changes_since.value must"),
        ({"kind": "modify_timestamp", "value": "20240101246000Z"}, "changes_since.value must"),
        ({"kind": "modify_timestamp", "value": "２0240101000000Z"}, "changes_since.value must"),
        ({"kind": "modify_timestamp", "value": 20240101000000}, "changes_since.value must be"),
        (
            {"kind": "modify_timestamp", "value": "20240101000000Z", "usn": 1},
            "changes_since.usn is not a field",
        ),
    ],
    ids=[
        "not-an-object",
        "kind-of-ad",
        "no-kind",
        "no-value",
        "short",
        "no-zone",
        "fraction",
        "offset",
        "month-13",
        "hour-24",
        "non-ascii-digit",
        "number",
        "extra-field",
    ],
)
def test_malformed_changes_since_is_400_naming_the_field(shared_agent, since, expected):
    agent = shared_agent
    status, raw = agent.request(
        "POST", "/sync", incremental_body(Unreached(), since), headers=agent.auth_headers()
    )

    assert status == 400
    assert json.loads(raw)["error"].startswith(expected), raw


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        ({"kind": "usn", "usn": -1, "invocation_id": str(uuid.uuid4())}, "changes_since.usn"),
        ({"kind": "usn", "usn": "5", "invocation_id": str(uuid.uuid4())}, "changes_since.usn"),
        ({"kind": "usn", "usn": True, "invocation_id": str(uuid.uuid4())}, "changes_since.usn"),
        ({"kind": "usn", "usn": 2**63, "invocation_id": str(uuid.uuid4())}, "changes_since.usn"),
        ({"kind": "usn", "usn": 5}, "changes_since.invocation_id"),
        ({"kind": "usn", "usn": 5, "invocation_id": "not-a-uuid"}, "changes_since.invocation_id"),
        (
            {"kind": "usn", "usn": 5, "invocation_id": uuid.uuid4().hex},
            "changes_since.invocation_id",
        ),
        ({"kind": "modify_timestamp", "value": "20240101000000Z"}, "changes_since.kind"),
    ],
    ids=["negative", "text", "bool", "too-big", "no-id", "not-uuid", "no-hyphens", "kind-ldap"],
)
def test_malformed_usn_changes_since_is_400_naming_the_field(shared_agent, since, expected):
    agent = shared_agent
    body = incremental_body(Unreached(), since, directory_type="ad")

    status, raw = agent.request("POST", "/sync", body, headers=agent.auth_headers())

    assert status == 400
    assert json.loads(raw)["error"].startswith(expected), raw
