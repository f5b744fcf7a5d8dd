"""Real connector agent processes for tests, with a state file written directly."""

from __future__ import annotations

import atexit
import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from connectors.agent.state import AgentState, hash_secret, save_state
from testbed.slapd import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]


# Agents still running when the interpreter exits (a test run cut short) are killed,
# so no stray process keeps a port.
_LIVE: weakref.WeakSet[AgentProcess] = weakref.WeakSet()


@atexit.register
def _kill_leftovers() -> None:
    for agent in list(_LIVE):
        agent.kill()


class AgentStartError(RuntimeError):
    """The agent process exited or never answered /health."""


class AgentProcess:
    """One ``python -m connectors.agent run`` child process.

    The state file is written straight from ``name`` / ``secret`` / ``port`` so tests
    need no activation round trip. ``version`` sets ``CONNECTOR_AGENT_VERSION``.
    """

    def __init__(
        self,
        workdir: Path | str,
        *,
        name: str = "connector-1",
        secret: str | None = None,
        connector_id: int | None = 1,
        port: int | None = None,
        host: str = "127.0.0.1",
        version: str | None = None,
        page_size: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.name = name
        self.secret = secret if secret is not None else secrets.token_urlsafe(32)
        self.connector_id = connector_id
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.version = version
        self.page_size = page_size
        self.extra_env = dict(env or {})
        self.state_path = self.workdir / f"{name}.json"
        self.log_path = self.workdir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    # --- lifecycle -------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "agent not started"
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.process.poll() if self.process is not None else None

    def write_state(self) -> Path:
        save_state(
            self.state_path,
            AgentState(
                service="http://service.invalid",
                connector_id=self.connector_id,
                name=self.name,
                listen=f"{self.host}:{self.port}",
                secret_sha256=hash_secret(self.secret),
            ),
        )
        return self.state_path

    def start(self, timeout: float = 15.0) -> AgentProcess:
        """Start the agent and wait until ``/health`` answers with its secret."""
        if self.running:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.write_state()
        env = {**os.environ, **self.extra_env}
        env.pop("CONNECTOR_AGENT_VERSION", None)
        if self.version is not None:
            env["CONNECTOR_AGENT_VERSION"] = self.version
        cmd = [sys.executable, "-m", "connectors.agent", "run", "--state", str(self.state_path)]
        if self.page_size is not None:
            cmd += ["--page-size", str(self.page_size)]
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(
                cmd, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        finally:
            log.close()
        _LIVE.add(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AgentStartError(
                    f"agent {self.name} exited with {self.process.returncode}: {self.log()}"
                )
            try:
                status, _ = self.health()
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise AgentStartError(f"agent {self.name} did not answer /health: {self.log()}")

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM and wait; returns the exit status (SIGKILL if it does not stop)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL at once: the agent gets no chance to finish anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def freeze(self) -> None:
        """SIGSTOP: the port stays open but nothing answers."""
        assert self.running, "agent not running"
        self.process.send_signal(signal.SIGSTOP)  # type: ignore[union-attr]

    def thaw(self) -> None:
        """SIGCONT after :meth:`freeze`."""
        assert self.process is not None, "agent not started"
        self.process.send_signal(signal.SIGCONT)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> AgentProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- talking to it ------------------------------------------------------------

    def auth_headers(self, secret: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret if secret is None else secret}"}

    def request(
        self,
        method: str,
        path: str,
        body: bytes | str | dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> tuple[int, bytes]:
        """One request with exactly the headers given; returns ``(status, body)``."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            if isinstance(body, dict):
                body = json.dumps(body)
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def health(self, secret: str | None = None, timeout: float = 5.0) -> tuple[int, Any]:
        status, raw = self.request(
            "GET", "/health", headers=self.auth_headers(secret), timeout=timeout
        )
        return status, json.loads(raw) if raw else None

    def open_sync(
        self, body: dict[str, Any] | bytes | str, *, secret: str | None = None, timeout: float = 60
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Start a /sync and return the open response to read incrementally."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        data = json.dumps(body) if isinstance(body, dict) else body
        conn.request(
            "POST",
            "/sync",
            body=data,
            headers={**self.auth_headers(secret), "Content-Type": "application/json"},
        )
        return conn, conn.getresponse()

    def sync(
        self, body: dict[str, Any], *, secret: str | None = None, timeout: float = 60
    ) -> list[dict[str, Any]]:
        """Run a /sync to the end and return its records (asserts a 200 answer)."""
        conn, response = self.open_sync(body, secret=secret, timeout=timeout)
        try:
            assert response.status == 200, (response.status, response.read())
            return list(iter_records(response))
        finally:
            conn.close()


def iter_records(response: http.client.HTTPResponse) -> Iterator[dict[str, Any]]:
    """Decode an NDJSON response line by line as it arrives."""
    for line in response:
        if line.strip():
            yield json.loads(line)


def sync_body(
    slapd: Any,
    *,
    directory_id: int = 1,
    directory_type: str = "ldap",
    users: dict[str, Any] | None = None,
    groups: dict[str, Any] | None = None,
    mapped_attributes: dict[str, str] | None = None,
    page_size: int | None = None,
    **connection: Any,
) -> dict[str, Any]:
    """A /sync request body for a :class:`testbed.slapd.Slapd`; keywords override
    connection settings (``port=1``, ``bind_password="wrong"``, ...)."""
    body: dict[str, Any] = {
        "directory": {"id": directory_id, "name": "example.com", "type": directory_type},
        "connection": slapd.connection(**connection),
        "users": users if users is not None else {"dns": [slapd.people_dn], "filter": ""},
        "groups": groups if groups is not None else {"dns": [slapd.groups_dn], "filter": ""},
    }
    if mapped_attributes is not None:
        body["mapped_attributes"] = mapped_attributes
    if page_size is not None:
        body["page_size"] = page_size
    return body


class AgentFactory:
    """Starts agents on demand and stops every one of them in :meth:`close`."""

    def __init__(self, workdir: Path | str) -> None:
        self.workdir = Path(workdir)
        self.agents: list[AgentProcess] = []
        self._count = 0

    def __call__(
        self, name: str | None = None, *, start: bool = True, **kwargs: Any
    ) -> AgentProcess:
        self._count += 1
        kwargs.setdefault("connector_id", self._count)
        agent = AgentProcess(self.workdir, name=name or f"connector-{self._count}", **kwargs)
        self.agents.append(agent)
        return agent.start() if start else agent

    def close(self) -> None:
        for agent in self.agents:
            try:
                agent.stop()
            except Exception:  # cleanup must reach every agent
                agent.kill()
        self.agents.clear()

    def __enter__(self) -> AgentFactory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
