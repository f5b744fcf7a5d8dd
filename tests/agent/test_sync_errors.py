"""Failures the agent can name come as an error record; bad requests as 400; overlap as 409."""

from __future__ import annotations

import json
import time

import pytest

from testbed.agents import iter_records, sync_body
from testbed.slapd import free_port
from tests.agent.helpers import WATERMARK

pytestmark = pytest.mark.ldap


def assert_error_stream(records, code):
    """begin, then exactly one error record with ``code``, and no end."""
    assert [r["type"] for r in records] == ["begin", "error"], records
    error = records[-1]
    assert error["code"] == code
    assert set(error) == {"type", "code", "message"}
    return error["message"]


def test_stopped_ldap_server_gives_an_unreachable_error_naming_host_and_port(agent, slapd):
    slapd.stop()

    message = assert_error_stream(agent.sync(sync_body(slapd)), "unreachable")

    assert f"127.0.0.1:{slapd.port}" in message


def test_closed_port_gives_an_unreachable_error(agent, slapd):
    port = free_port()

    message = assert_error_stream(agent.sync(sync_body(slapd, port=port)), "unreachable")

    assert f"127.0.0.1:{port}" in message


def test_ldap_server_that_accepts_but_never_answers_times_out_as_unreachable(agent, slapd):
    slapd.freeze()
    try:
        started = time.monotonic()
        message = assert_error_stream(agent.sync(sync_body(slapd, timeout=1)), "unreachable")
        elapsed = time.monotonic() - started
    finally:
        slapd.thaw()

    assert "did not answer within 1 s" in message
    assert elapsed < 10


def test_wrong_bind_password_gives_invalid_credentials_without_revealing_it(agent, slapd):
    records = agent.sync(sync_body(slapd, bind_password="not-the-password-42"))

    message = assert_error_stream(records, "invalid_credentials")
    assert slapd.root_dn in message
    assert "not-the-password-42" not in message
    assert "not-the-password-42" not in agent.log()


def test_bind_dn_without_password_is_refused_instead_of_binding_anonymously(agent, slapd):
    records = agent.sync(sync_body(slapd, bind_password=""))

    assert assert_error_stream(records, "invalid_credentials")


def test_missing_base_dn_gives_no_such_object_naming_it(agent, slapd):
    body = sync_body(slapd, base_dn="dc=nowhere,dc=com", users={"dns": []}, groups={"dns": []})

    message = assert_error_stream(agent.sync(body), "no_such_object")

    assert "dc=nowhere,dc=com" in message


def test_missing_group_dn_gives_no_such_object_after_the_users(agent, slapd):
    body = sync_body(slapd, groups={"dns": ["ou=missing,dc=example,dc=com"]})

    records = agent.sync(body)

    kinds = [r["type"] for r in records]
    assert kinds[-1] == "error" and "end" not in kinds
    assert kinds.count("user") == slapd.dataset.users
    assert records[-1]["code"] == "no_such_object"
    assert "ou=missing,dc=example,dc=com" in records[-1]["message"]


def test_invalid_filter_gives_an_ldap_error_naming_the_filter(agent, slapd):
    body = sync_body(slapd, users={"dns": [slapd.people_dn], "filter": "(uid=user1"})

    message = assert_error_stream(agent.sync(body), "ldap_error")

    assert "(uid=user1" in message


def test_starttls_to_a_server_without_tls_gives_a_tls_error(agent, slapd):
    message = assert_error_stream(agent.sync(sync_body(slapd, security="starttls")), "tls")

    assert f"127.0.0.1:{slapd.port}" in message


def test_ldaps_certificate_from_an_unknown_ca_gives_a_tls_error(agent, slapd_factory):
    server = slapd_factory(users=2, groups=1, tls=True)

    records = agent.sync(sync_body(server, security="ssl", port=server.tls_port))

    assert "certificate" in assert_error_stream(records, "tls")


def test_malformed_json_body_is_400_with_a_clear_message(agent, slapd):
    status, raw = agent.request("POST", "/sync", b'{"directory": {', headers=agent.auth_headers())

    assert status == 400
    assert json.loads(raw)["error"].startswith("request body is not valid JSON")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda b: b.pop("directory"), "directory must be a JSON object"),
        (lambda b: b["directory"].update(type="novell"), "directory.type must be one of"),
        (lambda b: b["connection"].pop("host"), "connection.host is required"),
        (lambda b: b["connection"].update(port="389"), "connection.port must be an integer"),
        (lambda b: b["connection"].update(port=70000), "connection.port must be an integer"),
        (lambda b: b["connection"].update(security="tls"), "connection.security must be"),
        (lambda b: b["connection"].update(timeout=0), "connection.timeout must be a positive"),
        (lambda b: b["users"].update(dns="ou=people"), "users.dns must be a list of strings"),
        (lambda b: b.update(page_size=0), "page_size must be an integer between"),
        (lambda b: b.update(mapped_attributes={"phone": "tel"}), "mapped_attributes.phone"),
        (lambda b: b.update(mapped_attributes={"email": "mail;x"}), "mapped_attributes.email"),
    ],
    ids=[
        "no-directory",
        "unknown-type",
        "no-host",
        "port-as-text",
        "port-out-of-range",
        "unknown-security",
        "zero-timeout",
        "dns-not-a-list",
        "zero-page-size",
        "unknown-field",
        "attribute-with-option",
    ],
)
def test_sync_body_with_wrong_settings_is_400_naming_the_problem(agent, slapd, change, expected):
    body = sync_body(slapd)
    change(body)

    status, raw = agent.request("POST", "/sync", body, headers=agent.auth_headers())

    assert status == 400
    assert json.loads(raw)["error"].startswith(expected)


def test_non_object_body_is_400(agent):
    status, raw = agent.request("POST", "/sync", b"[1, 2]", headers=agent.auth_headers())

    assert status == 400
    assert json.loads(raw) == {"error": "request body must be a JSON object"}


def test_second_sync_while_one_is_running_is_refused_with_409_busy(agent, slapd):
    slapd.freeze()  # the first sync now waits for the directory
    conn, response = agent.open_sync(sync_body(slapd, timeout=30))
    try:
        records = iter_records(response)
        assert next(records)["type"] == "begin"

        status, raw = agent.request("POST", "/sync", sync_body(slapd), headers=agent.auth_headers())
        health, _ = agent.health()

        slapd.thaw()
        rest = list(records)
    finally:
        slapd.thaw()
        conn.close()

    assert status == 409
    assert json.loads(raw) == {"error": "busy"}
    assert health == 200  # health stays cheap and available during a sync
    assert rest[-1] == {"type": "end", "users": 50, "groups": 5, "watermark": WATERMARK}
    assert len(agent.sync(sync_body(slapd))) == 57  # free again once the first one ended


def test_sync_abandoned_by_the_client_does_not_leave_the_agent_busy(agent, slapd):
    slapd.freeze()
    conn, response = agent.open_sync(sync_body(slapd, timeout=30))
    assert next(iter_records(response))["type"] == "begin"
    conn.close()
    response.close()
    slapd.thaw()

    deadline = time.monotonic() + 20
    while True:
        conn, response = agent.open_sync(sync_body(slapd))
        try:
            if response.status != 409:
                records = list(iter_records(response))
                break
        finally:
            conn.close()
        assert time.monotonic() < deadline, "agent stayed busy after the client left"
        time.sleep(0.1)

    assert records[-1] == {"type": "end", "users": 50, "groups": 5, "watermark": WATERMARK}


def test_agent_log_has_one_line_per_request_and_no_secrets(agent, slapd):
    already = len(agent.log())  # startup lines and the readiness probe

    agent.health()
    agent.health(secret="wrong-secret-value")
    agent.sync(sync_body(slapd))

    log = agent.log()[already:]
    request_lines = [
        line for line in log.splitlines() if " GET /health " in line or "/sync" in line
    ]
    assert len(request_lines) == 3
    assert any(" GET /health 401 " in line for line in request_lines)
    assert any(
        "POST /sync 200" in line and "users=50 groups=5 ok" in line for line in request_lines
    )
    for secret in (agent.secret, "wrong-secret-value", slapd.root_password):
        assert secret not in agent.log()
