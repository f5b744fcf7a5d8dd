"""A real agent process keeps serving the service while strangers misbehave, and answers
malformed requests with 400 as docs/agent-protocol.md promises."""

from __future__ import annotations

import json
import socket
import time

import pytest

from testbed.agents import sync_body

pytestmark = pytest.mark.ldap


def test_forty_idle_connections_do_not_keep_the_service_out(agent):
    idle = [socket.create_connection((agent.host, agent.port)) for _ in range(40)]
    try:
        started = time.monotonic()
        status, payload = agent.health(timeout=3)
        assert status == 200 and payload["status"] == "ok"
        assert time.monotonic() - started < 2
        # The strangers are let go after the request timeout (5 s), not after minutes.
        time.sleep(6)
        closed = 0
        for sock in idle:
            sock.settimeout(1)
            try:
                if sock.recv(1) == b"":
                    closed += 1
            except (ConnectionResetError, TimeoutError, OSError):
                closed += 1
        assert closed == 40
    finally:
        for sock in idle:
            sock.close()


def raw_request(agent, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    with socket.create_connection((agent.host, agent.port), timeout=10) as sock:
        sock.sendall(head + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 50_000,
        b'{"timeout": NaN}',
        b'{"directory": {"type": "ldap"}, "connection": {"host": "h", "timeout": NaN}}',
        b'{"directory": {"type": "ldap"}, "connection": {"host": "\\ud800", "base_dn": "dc=x"}}',
        '{"a": "caf\xe9"}'.encode("latin-1"),
        b'{"directory": {"type": "ldap"}, "connection": {"host": "h\\u0000x", "base_dn": "dc=x"}}',
    ],
)
def test_malformed_bodies_are_a_400(agent, body):
    status, raw = agent.request(
        "POST", "/sync", body=body,
        headers={**agent.auth_headers(), "Content-Type": "application/json"},
    )  # fmt: skip
    assert status == 400, raw[:200]
    assert "error" in json.loads(raw)


def test_a_host_with_a_line_break_is_refused_and_forges_no_log_line(agent):
    body = {
        "directory": {"id": 1, "type": "ldap"},
        "connection": {"host": "evil\nINFO forged line", "base_dn": "dc=x"},
    }
    status, raw = agent.request(
        "POST", "/sync", body=body,
        headers={**agent.auth_headers(), "Content-Type": "application/json"},
    )  # fmt: skip
    assert status == 400 and b"connection.host" in raw
    lines = agent.log_path.read_text().splitlines()
    assert not any(line.startswith("INFO forged") for line in lines)


def test_a_content_length_in_other_digits_is_a_400(agent):
    head = (
        f"POST /sync HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {agent.secret}\r\n"
        "Content-Length: ²\r\n\r\n"
    ).encode()
    status, raw = raw_request(agent, head)
    assert status == 400 and b"Content-Length" in raw


def test_the_agent_still_syncs_after_all_that(agent, slapd):
    records = agent.sync(sync_body(slapd))
    assert records[-1]["type"] == "end"
