"""POST /lookup: whether DNs name entries, answered by the directory itself."""

from __future__ import annotations

import json

import pytest

from testbed.agents import sync_body

pytestmark = pytest.mark.ldap


def lookup(agent, body, secret=None):
    status, raw = agent.request(
        "POST",
        "/lookup",
        body,
        headers={**agent.auth_headers(secret), "Content-Type": "application/json"},
    )
    return status, json.loads(raw) if raw else None


def test_lookup_says_which_dns_name_entries_in_any_spelling(agent, slapd):
    people = slapd.people_dn
    slapd.add_user("smith", cn="Smith, Jr.")
    escaped = slapd.connect().search_s(people, 2, "(uid=smith)", ["1.1"])[0][0]
    asked = [
        f"UID=User3,{people.upper()}",
        f"uid=nobody,{people}",
        "cn=elsewhere,dc=other,dc=org",
        "not a dn",
        slapd.groups_dn,
        f"uid=smith,{people}",
    ]

    status, body = lookup(agent, {**sync_body(slapd), "dns": asked})

    assert status == 200, body
    found = {entry["dn"]: entry for entry in body["entries"]}
    assert [entry["dn"] for entry in body["entries"]] == asked
    user3 = found[asked[0]]
    assert user3["exists"] is True
    assert user3["entry_dn"] == slapd.dataset.user_dn(3)
    assert user3["id"] == slapd.entry_uuid(slapd.dataset.user_dn(3))
    assert "inetOrgPerson" in user3["object_classes"]
    assert found[asked[1]]["exists"] is False
    assert found[asked[2]]["exists"] is False
    assert found[asked[3]]["exists"] is False
    assert found[slapd.groups_dn]["object_classes"] == ["organizationalUnit"]
    assert found[asked[5]]["entry_dn"] == escaped


@pytest.mark.parametrize(
    "extra, message",
    [
        ({}, "dns must be a list of strings"),
        ({"dns": "uid=a"}, "dns must be a list of strings"),
        ({"dns": [1]}, "dns must be a list of strings"),
        ({"dns": ["uid=a"] * 1001}, "at most 1000"),
    ],
)
def test_malformed_lookup_is_refused_with_400(agent, slapd, extra, message):
    status, body = lookup(agent, {**sync_body(slapd), **extra})
    assert status == 400
    assert message in body["error"]


def test_lookup_needs_the_secret(agent, slapd):
    status, body = lookup(agent, {**sync_body(slapd), "dns": []}, secret="wrong")
    assert status == 401


def test_lookup_against_a_stopped_directory_answers_502_naming_it(agent, slapd):
    slapd.stop()
    status, body = lookup(agent, {**sync_body(slapd), "dns": [slapd.people_dn]})
    assert status == 502
    assert body["error"] == "unreachable"
    assert f"127.0.0.1:{slapd.port}" in body["message"]
