"""A real Celery worker process bound to the test database, for tests across processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis
from django.conf import settings
from django.db import connection

from testbed.processes import dies_with_parent

REPO = Path(__file__).resolve().parents[1]

# Short timeouts keep failover tests quick; each test states the figures it relies on.
WORKER_ENV = {
    "CONNECTOR_PROBE_TIMEOUT": "2",
    "CONNECTOR_STREAM_TIMEOUT": "10",
    "CONNECTOR_BUSY_WAIT": "5",
    "SYNC_LEASE_SECONDS": "8",
}


def database_url() -> str:
    """The URL of the database the tests are using (pytest-django's test database)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] or ""
    if s.get("PASSWORD"):
        auth += f":{s['PASSWORD']}"
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def celery_env(*layers: dict[str, str]) -> dict[str, str]:
    """The environment of a Celery process bound to the test database and broker."""
    env: dict[str, str] = {**os.environ}
    for layer in layers:
        env.update(layer)
    env.update(
        DATABASE_URL=database_url(),
        REDIS_URL=settings.CELERY_BROKER_URL,
        PYTHONUNBUFFERED="1",
    )
    return env


def start_celery(
    args: list[str],
    log_path: Path,
    env: dict[str, str],
    ready: Callable[[], bool],
    log: Callable[[], str],
    timeout: float,
) -> subprocess.Popen:
    """`celery -A console <args>` in its own session, logging to `log_path`, returned once
    `ready()`; stopped and named with its log if it exits or is not ready in time."""
    what = args[0]
    with open(log_path, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "console", *args],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            # A process left behind by a killed test session would take the next session's
            # tasks from the shared broker and run them against a database that is gone.
            preexec_fn=dies_with_parent(signal.SIGTERM),
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited: {log()}")
        if ready():
            return process
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=5)
    raise RuntimeError(f"{what} not ready within {timeout:g} s: {log()}")


def flush_broker() -> None:
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()


class Worker:
    def __init__(
        self, name: str, log_dir: Path, concurrency: int = 2, pool: str = "prefork", **env: str
    ) -> None:
        self.name = name
        self.pool = pool
        self.log_path = log_dir / f"worker-{name}.log"
        self.concurrency = concurrency
        self.env = celery_env(WORKER_ENV, env)
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> Worker:
        self.process = start_celery(
            [
                "worker",
                "-l",
                "info",
                "-c",
                str(self.concurrency),
                "-P",
                self.pool,
                "-n",
                f"{self.name}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            self.log_path,
            self.env,
            ready=lambda: b"ready." in self.log_path.read_bytes(),
            log=self.log_tail,
            timeout=timeout,
        )
        return self

    def children(self) -> list[int]:
        import psutil

        if self.process is None:
            return []
        return [c.pid for c in psutil.Process(self.process.pid).children(recursive=True)]

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool), as a crashed machine would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM, then wait for the pool processes too, so none keeps a database session."""
        import psutil

        if self.process is None or self.process.poll() is not None:
            return
        procs = [psutil.Process(self.process.pid)]
        procs += procs[0].children(recursive=True)
        os.killpg(self.process.pid, signal.SIGTERM)
        _gone, alive = psutil.wait_procs(procs, timeout=15)
        if alive:
            self.kill()
            psutil.wait_procs(alive, timeout=5)
        self.process.wait(timeout=5)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"
