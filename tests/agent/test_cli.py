"""``python -m connectors.agent activate`` and ``run`` as real processes."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.agent import VERSION
from testbed.agents import REPO_ROOT, AgentProcess
from testbed.slapd import free_port

pytestmark = pytest.mark.ldap

GOOD_CODE = "K3Y9-ACTIVATE-ME"
ISSUED_SECRET = "issued-secret-QmF0dGVyeSBzdGFwbGU"


class StubService:
    """A stand-in for the service's activation endpoint that records what it was sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append((self.path, body))
                if self.path != "/api/v1/connectors/activate/":
                    status, answer = 404, {"detail": "Not found."}
                elif body.get("code") == GOOD_CODE:
                    status, answer = 201, {"id": 3, "name": "connector-3", "secret": ISSUED_SECRET}
                else:
                    status, answer = 400, {"code": ["Unknown, used or expired activation code."]}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service():
    stub = StubService()
    yield stub
    stub.close()


def agent_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "connectors.agent", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_activate_sends_code_url_host_and_version_and_writes_the_state(service, tmp_path):
    state = tmp_path / "agent.json"
    port = free_port()

    result = agent_cli(
        "activate", "--service", service.url + "/", "--code", GOOD_CODE,
        "--listen", f"127.0.0.1:{port}", "--state", str(state),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    [(path, body)] = service.requests
    assert path == "/api/v1/connectors/activate/"
    assert body["code"] == GOOD_CODE
    assert body["url"] == f"http://127.0.0.1:{port}"
    assert body["version"] == VERSION
    assert isinstance(body["host"], str) and body["host"]
    assert "name" not in body
    assert json.loads(state.read_text()) == {
        "service": service.url,
        "connector_id": 3,
        "name": "connector-3",
        "listen": f"127.0.0.1:{port}",
        "secret_sha256": hashlib.sha256(ISSUED_SECRET.encode()).hexdigest(),
    }
    assert "connector-3" in result.stderr
    assert GOOD_CODE not in result.stderr and ISSUED_SECRET not in result.stderr


def test_state_file_is_private_and_holds_no_plain_secret(service, tmp_path):
    state = tmp_path / "agent.json"

    result = agent_cli(
        "activate", "--service", service.url, "--code", GOOD_CODE,
        "--listen", "127.0.0.1:9999", "--state", str(state),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert ISSUED_SECRET not in state.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["agent.json"]  # no temporary left over


def test_activated_agent_runs_and_answers_health_only_with_the_issued_secret(service, tmp_path):
    state = tmp_path / "agent.json"
    port = free_port()
    activated = agent_cli(
        "activate", "--service", service.url, "--code", GOOD_CODE,
        "--listen", f"127.0.0.1:{port}", "--state", str(state),
    )  # fmt: skip
    assert activated.returncode == 0, activated.stderr

    log = open(tmp_path / "run.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "connectors.agent", "run", "--state", str(state)],
        cwd=REPO_ROOT, stdout=log, stderr=log,
    )  # fmt: skip
    try:
        probe = AgentProcess(tmp_path, name="probe", port=port, secret=ISSUED_SECRET)
        deadline = time.monotonic() + 15
        while True:
            try:
                status, payload = probe.health()
                break
            except OSError:
                assert process.poll() is None, (tmp_path / "run.log").read_text()
                assert time.monotonic() < deadline, "agent did not start listening"
                time.sleep(0.05)
        wrong, _ = probe.health(secret="some-other-secret")
    finally:
        process.terminate()
        process.wait(10)
        log.close()

    assert status == 200
    assert payload == {"name": "connector-3", "version": VERSION, "status": "ok"}
    assert wrong == 401
    assert process.returncode == 0


def test_activate_with_a_refused_code_fails_with_the_services_reason(service, tmp_path):
    state = tmp_path / "agent.json"

    result = agent_cli(
        "activate", "--service", service.url, "--code", "used-code",
        "--listen", "127.0.0.1:9999", "--state", str(state),
    )  # fmt: skip

    assert result.returncode == 1
    assert "HTTP 400" in result.stderr
    assert "Unknown, used or expired activation code." in result.stderr
    assert not state.exists()


def test_activate_with_the_service_down_fails_clearly(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"

    result = agent_cli(
        "activate", "--service", url, "--code", GOOD_CODE,
        "--listen", "127.0.0.1:9999", "--state", str(tmp_path / "agent.json"),
    )  # fmt: skip

    assert result.returncode == 1
    assert f"cannot reach the service at {url}" in result.stderr


def test_activate_reports_the_version_from_the_environment_and_the_suggested_name(
    service, tmp_path
):
    result = agent_cli(
        "activate", "--service", service.url, "--code", GOOD_CODE, "--name", "branch-office",
        "--listen", "0.0.0.0:9999", "--state", str(tmp_path / "agent.json"),
        env={"CONNECTOR_AGENT_VERSION": "18.11.0.0"},
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    [(_, body)] = service.requests
    assert body["version"] == "18.11.0.0"
    assert body["name"] == "branch-office"
    # A wildcard listen address is useless to the service: the host name stands in.
    assert body["url"].endswith(":9999") and "0.0.0.0" not in body["url"]


def test_state_file_location_defaults_to_the_environment_variable(service, tmp_path):
    state = tmp_path / "from-env.json"

    result = agent_cli(
        "activate", "--service", service.url, "--code", GOOD_CODE, "--listen", "127.0.0.1:9999",
        env={"CONNECTOR_AGENT_STATE": str(state)},
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert json.loads(state.read_text())["name"] == "connector-3"


def test_run_without_a_state_file_exits_and_says_to_activate_first(tmp_path):
    result = agent_cli("run", "--state", str(tmp_path / "missing.json"))

    assert result.returncode == 2
    assert "activate" in result.stderr and "missing.json" in result.stderr


def test_run_on_a_port_in_use_exits_with_a_clear_message(agent_factory, tmp_path):
    busy = agent_factory("busy")
    other = AgentProcess(tmp_path, name="second", port=busy.port)
    other.write_state()

    result = agent_cli("run", "--state", str(other.state_path))

    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{busy.port}" in result.stderr


def test_run_listen_option_overrides_the_stored_address(tmp_path):
    stored = AgentProcess(tmp_path, name="mover")
    stored.write_state()
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "connectors.agent", "run", "--state", str(stored.state_path),
         "--listen", f"127.0.0.1:{port}"],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        probe = AgentProcess(tmp_path, name="probe", port=port, secret=stored.secret)
        deadline = time.monotonic() + 15
        while True:
            try:
                status, _ = probe.health()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(10)

    assert status == 200


@pytest.mark.parametrize(
    "args",
    [
        ["activate", "--service", "http://x", "--code", "c", "--listen", "no-port"],
        ["run", "--page-size", "0"],
        ["run", "--listen", "host:notaport"],
        ["sync"],
    ],
    ids=["listen-without-port", "zero-page-size", "bad-listen", "unknown-command"],
)
def test_bad_command_lines_are_rejected_with_usage(args):
    result = agent_cli(*args)

    assert result.returncode == 2
    assert "usage:" in result.stderr


def test_activate_against_the_real_service_then_the_service_probes_the_agent(
    live_server, transactional_db, tmp_path
):
    """The whole round trip across processes: the console's activation endpoint, the
    state file, and the service's own health probe with the secret it stored."""
    from connectors.client import probe
    from connectors.models import Connector
    from connectors.services import add_connector

    connector, code = add_connector("connector-live")
    state = tmp_path / "agent.json"
    port = free_port()

    result = agent_cli(
        "activate", "--service", live_server.url, "--code", code,
        "--listen", f"127.0.0.1:{port}", "--state", str(state),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    connector = Connector.objects.get(pk=connector.pk)
    assert connector.is_active and connector.url == f"http://127.0.0.1:{port}"
    assert connector.version == VERSION
    assert json.loads(state.read_text())["connector_id"] == connector.pk
    again = agent_cli(
        "activate", "--service", live_server.url, "--code", code,
        "--listen", f"127.0.0.1:{port}", "--state", str(tmp_path / "again.json"),
    )  # fmt: skip
    assert again.returncode == 1  # the code worked once
    process = subprocess.Popen(
        [sys.executable, "-m", "connectors.agent", "run", "--state", str(state)],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                health = probe(connector.url, connector.secret, 2.0)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert (health.name, health.version) == ("connector-live", VERSION)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_codes_cannot_be_misread_and_a_code_starting_with_a_dash_still_activates(
    live_server, transactional_db, tmp_path
):
    """Issued codes have no leading dash and no look-alike characters, are accepted in
    any case with or without their dashes, and `--code=` carries even a code that starts
    with "-" (as codes of the earlier format could) to the service."""
    from datetime import timedelta

    from django.utils import timezone

    from connectors.models import CODE_ALPHABET, ActivationCode, Connector, hash_code
    from connectors.services import add_connector

    for _ in range(200):
        _, code = add_connector(f"c-{_}")
        assert not code.startswith("-")
        assert set(code.replace("-", "")) <= set(CODE_ALPHABET)
        assert not set(code) & set("0O1IL5S2Z8BUV")
    connector, code = add_connector("typed-loosely")
    loose = code.replace("-", " ").lower()
    assert hash_code(loose) == hash_code(code)

    dashed = Connector.objects.create(name="dashed")
    legacy = "-filsE8vQ3xYz_k2Lm9Np0Qr4Ts7Uv"
    ActivationCode.objects.create(
        connector=dashed,
        code_sha256=hash_code(legacy),
        expires_at=timezone.now() + timedelta(hours=1),
    )
    state = tmp_path / "agent.json"
    result = agent_cli(
        "activate", "--service", live_server.url, f"--code={legacy}",
        "--listen", f"127.0.0.1:{free_port()}", "--state", str(state),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert Connector.objects.get(pk=dashed.pk).is_active
    # The same code after the option, as two arguments, is what used to break.
    broken = agent_cli(
        "activate", "--service", live_server.url, "--code", legacy,
        "--listen", f"127.0.0.1:{free_port()}", "--state", str(tmp_path / "b.json"),
    )  # fmt: skip
    assert broken.returncode != 0 and "expected one argument" in broken.stderr

    activated = agent_cli(
        "activate", "--service", live_server.url, f"--code={loose}",
        "--listen", f"127.0.0.1:{free_port()}", "--state", str(tmp_path / "c.json"),
    )  # fmt: skip
    assert activated.returncode == 0, activated.stderr
    assert Connector.objects.get(pk=connector.pk).is_active
