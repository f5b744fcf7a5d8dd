"""A real Celery beat (django-celery-beat's DatabaseScheduler) bound to the test database."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from testbed.worker import celery_env, start_celery


class Beat:
    """`celery beat` reading the PeriodicTask rows of the database the tests use.

    `max_interval` is how long it sleeps at most between looks at the schedule, so a
    changed PeriodicTask is noticed within about that many seconds.
    """

    def __init__(self, log_dir: Path, max_interval: int = 1, **env: str) -> None:
        self.log_path = log_dir / "beat.log"
        self.max_interval = max_interval
        self.env = celery_env(env)
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> Beat:
        self._offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.process = start_celery(
            [
                "beat",
                "-l",
                "info",
                "-S",
                "django_celery_beat.schedulers:DatabaseScheduler",
                "--max-interval",
                str(self.max_interval),
            ],
            self.log_path,
            self.env,
            ready=lambda: "beat: Starting..." in self.log(),
            log=self.log,
            timeout=timeout,
        )
        return self

    def log(self) -> str:
        """What this beat has logged since it started."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._offset)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if not self.alive():
            return
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
