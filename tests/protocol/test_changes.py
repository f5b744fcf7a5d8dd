"""The changes_since / watermark rules the agent and the service share."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from connectors.protocol.changes import (
    check_changes_since,
    format_generalized_time,
    parse_generalized_time,
    parse_server_time,
)

INVOCATION_ID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
COOKIE = "rid=000,csn=20261206201122.917056Z#000000#000#000000"


def test_no_changes_since_means_a_full_read():
    assert check_changes_since(None, "ldap") is None
    assert check_changes_since(None, "ad") is None


def test_a_watermark_comes_back_as_it_was_sent():
    ldap_mark = {"kind": "modify_timestamp", "value": "20240229235959Z"}
    ad_mark = {"kind": "usn", "usn": 0, "invocation_id": INVOCATION_ID}
    cookie_mark = {"kind": "sync_cookie", "cookies": {"ou=people,dc=x": COOKIE}}

    assert check_changes_since(dict(ldap_mark), "ldap") == ldap_mark
    assert check_changes_since(dict(cookie_mark), "ldap") == cookie_mark
    assert check_changes_since(dict(ad_mark), "ad") == ad_mark


def test_an_invocation_id_in_capitals_is_compared_in_its_usual_form():
    mark = {"kind": "usn", "usn": 9, "invocation_id": INVOCATION_ID.upper()}

    assert check_changes_since(mark, "ad")["invocation_id"] == INVOCATION_ID


@pytest.mark.parametrize(
    ("value", "dtype", "field"),
    [
        ([], "ldap", "changes_since must be"),
        ({"kind": "usn", "usn": 1, "invocation_id": INVOCATION_ID}, "ldap", "changes_since.kind"),
        ({"kind": "modify_timestamp", "value": "20240101000000Z"}, "ad", "changes_since.kind"),
        ({"kind": "modify_timestamp", "value": "20230229000000Z"}, "ldap", "changes_since.value"),
        ({"kind": "modify_timestamp", "value": "20240101000060Z"}, "ldap", "changes_since.value"),
        ({"kind": "modify_timestamp", "value": " 20240101000000Z"}, "ldap", "changes_since.value"),
        ({"kind": "modify_timestamp", "value": "20240101000000z"}, "ldap", "changes_since.value"),
        ({"kind": "usn", "usn": 1.0, "invocation_id": INVOCATION_ID}, "ad", "changes_since.usn"),
        ({"kind": "usn", "usn": 1, "invocation_id": None}, "ad", "changes_since.invocation_id"),
        (
            {"kind": "usn", "usn": 1, "invocation_id": f"{{{INVOCATION_ID}}}"},
            "ad",
            "changes_since.invocation_id",
        ),
        (
            {"kind": "usn", "usn": 1, "invocation_id": INVOCATION_ID, "value": "x"},
            "ad",
            "changes_since.value is not a field",
        ),
        ({"kind": "sync_cookie", "cookies": {"dc=x": COOKIE}}, "ad", "changes_since.kind"),
        ({"kind": "sync_cookie", "cookies": {}}, "ldap", "changes_since.cookies"),
        ({"kind": "sync_cookie", "cookies": [COOKIE]}, "ldap", "changes_since.cookies"),
        ({"kind": "sync_cookie"}, "ldap", "changes_since.cookies"),
        ({"kind": "sync_cookie", "cookies": {"dc=x": ""}}, "ldap", "changes_since.cookies"),
        ({"kind": "sync_cookie", "cookies": {"dc=x": 5}}, "ldap", "changes_since.cookies"),
        ({"kind": "sync_cookie", "cookies": {"dc=x": "csn=ä"}}, "ldap", "changes_since.cookies"),
        ({"kind": "sync_cookie", "cookies": {"dc=x": "a\nb"}}, "ldap", "changes_since.cookies"),
        ({"kind": "sync_cookie", "cookies": {"dc=x": "c" * 1025}}, "ldap", "changes_since.cookies"),
        (
            {"kind": "sync_cookie", "cookies": {f"dc={n}": COOKIE for n in range(401)}},
            "ldap",
            "changes_since.cookies",
        ),
        (
            {"kind": "sync_cookie", "cookies": {"dc=x": COOKIE}, "value": "20240101000000Z"},
            "ldap",
            "changes_since.value is not a field of a sync_cookie watermark",
        ),
    ],
)
def test_a_malformed_changes_since_names_its_field(value, dtype, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        check_changes_since(value, dtype)


def test_generalized_time_round_trips_in_utc_whole_seconds():
    moment = parse_generalized_time("20261204181814Z")

    assert moment == datetime(2026, 12, 4, 18, 18, 14, tzinfo=UTC)
    assert format_generalized_time(moment.replace(microsecond=999_999)) == "20261204181814Z"


def test_a_servers_timestamp_is_read_down_to_the_second_or_not_at_all():
    assert parse_server_time(b"20261204181814Z") == datetime(2026, 12, 4, 18, 18, 14, tzinfo=UTC)
    assert parse_server_time(b"20261204181814.25Z") == datetime(2026, 12, 4, 18, 18, 14, tzinfo=UTC)
    assert parse_server_time(b"20261204181814+0100") is None
    assert parse_server_time(b"202612041818Z") is None
    assert parse_server_time(b"20261304181814Z") is None


@pytest.mark.parametrize(
    ("value", "dtype", "message"),
    [
        ([], "ldap", "changes_since must be a JSON object"),
        (
            {"kind": "modify_timestamp", "value": "2024"},
            "ldap",
            "changes_since.value must be a UTC GeneralizedTime in whole seconds, "
            "YYYYMMDDHHMMSSZ (e.g. 20240131235959Z)",
        ),
        (
            {"kind": "usn", "usn": 1, "invocation_id": "nope"},
            "ad",
            "changes_since.invocation_id must be a UUID string "
            "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
        ),
        (
            {"kind": "modify_timestamp", "value": "20240101000000Z", "usn": 1},
            "ldap",
            "changes_since.usn is not a field of a modify_timestamp watermark "
            "(fields: kind, value)",
        ),
    ],
)
def test_a_refused_changes_since_says_exactly_what_to_send(value, dtype, message):
    """The agent answers a 400 with this text: it is what an operator reads."""
    with pytest.raises(ValueError) as refused:
        check_changes_since(value, dtype)
    assert str(refused.value) == message


def test_the_largest_usn_is_taken_and_one_more_is_refused():
    largest = {"kind": "usn", "usn": 2**63 - 1, "invocation_id": INVOCATION_ID}
    assert check_changes_since(largest, "ad")["usn"] == 2**63 - 1
    with pytest.raises(ValueError, match="between 0 and 9223372036854775807"):
        check_changes_since({**largest, "usn": 2**63}, "ad")


def test_a_moment_in_another_zone_is_written_in_utc():
    from zoneinfo import ZoneInfo

    paris = datetime(2026, 12, 4, 19, 18, 14, tzinfo=ZoneInfo("Europe/Paris"))
    assert format_generalized_time(paris) == "20261204181814Z"


@pytest.fixture
def machine_in_new_york(monkeypatch):
    """The agent's host set to another zone than UTC (its TZ variable)."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_moment_is_written_in_utc_whatever_the_machines_zone(machine_in_new_york):
    assert time.localtime(0).tm_hour == 19  # the zone took effect
    moment = datetime(2026, 12, 4, 18, 18, 14, tzinfo=UTC)
    assert format_generalized_time(moment) == "20261204181814Z"


def test_a_timestamp_that_is_not_ascii_is_no_timestamp():
    assert parse_server_time("2026120418181\u00e9Z".encode()) is None
    assert parse_server_time(b"\xff\xfe") is None


def test_a_malformed_generalized_time_is_named_in_the_error():
    with pytest.raises(ValueError) as refused:
        parse_generalized_time("2024-01-01")
    assert str(refused.value) == "'2024-01-01' is not a GeneralizedTime of the form YYYYMMDDHHMMSSZ"
