"""The agent process answers /health only to its own secret and stops cleanly."""

from __future__ import annotations

import json
import signal

import pytest

from connectors.agent import VERSION
from testbed.agents import sync_body

pytestmark = pytest.mark.ldap


def test_health_with_the_right_secret_reports_name_version_and_ok(agent):
    status, payload = agent.health()

    assert status == 200
    assert payload == {"name": "connector-1", "version": VERSION, "status": "ok"}


def test_health_without_authorization_header_is_refused_with_401(agent):
    status, raw = agent.request("GET", "/health")

    assert status == 401
    assert json.loads(raw) == {"error": "unauthorized"}


def test_health_with_another_connectors_secret_is_refused_with_401(agent_factory):
    first = agent_factory("connector-1")
    second = agent_factory("connector-2")

    status, payload = first.health(secret=second.secret)

    assert status == 401
    assert payload == {"error": "unauthorized"}


@pytest.mark.parametrize(
    "header",
    ["Basic {secret}", "Bearer", "Bearer ", "{secret}", "Bearer {secret}x"],
    ids=["basic-scheme", "no-token", "empty-token", "no-scheme", "secret-plus-char"],
)
def test_health_with_a_malformed_or_altered_authorization_is_refused(agent, header):
    status, _ = agent.request(
        "GET", "/health", headers={"Authorization": header.format(secret=agent.secret)}
    )

    assert status == 401


def test_unknown_paths_are_401_without_the_secret_and_404_with_it(agent):
    anonymous, _ = agent.request("GET", "/admin")
    authorized, raw = agent.request("GET", "/admin", headers=agent.auth_headers())

    assert anonymous == 401
    assert authorized == 404
    assert json.loads(raw) == {"error": "not found"}


def test_sync_without_the_secret_is_refused_before_touching_the_directory(agent, slapd):
    slapd.stop()  # were the agent to connect, it would answer 200 with an error record

    status, raw = agent.request("POST", "/sync", sync_body(slapd))

    assert status == 401
    assert json.loads(raw) == {"error": "unauthorized"}


def test_reported_version_comes_from_connector_agent_version_when_set(agent_factory):
    outdated = agent_factory("old-connector", version="18.11.0.0")

    status, payload = outdated.health()

    assert status == 200
    assert payload["version"] == "18.11.0.0"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_agent_exits_with_status_0_on_signal_and_can_restart_on_the_same_port(agent, sig):
    agent.process.send_signal(sig)
    status = agent.process.wait(10)

    assert status == 0
    assert "shutting down" in agent.log()
    agent.start()  # raises unless the new process binds the port and answers
    assert agent.health()[0] == 200
