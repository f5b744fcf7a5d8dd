"""pytest plugin: the tests' Redis. The one at $REDIS_URL if it answers, else a private one.

Loaded with ``-p`` before Django reads its settings, so a machine where Redis is
installed but not running (a container, a chroot, a fresh install without systemd)
still runs the suite: a private ``redis-server`` on a free port, stopped at exit.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import time
from urllib.parse import urlsplit

# Database 9, not the demo's 0: a running `make run` worker must not take the tests' tasks.
DEFAULT_URL = "redis://127.0.0.1:6379/9"


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_redis() -> None:
    url = os.environ.setdefault("REDIS_URL", DEFAULT_URL)
    parts = urlsplit(url)
    if parts.scheme != "redis" or _answers(parts.hostname or "127.0.0.1", parts.port or 6379):
        return
    server = shutil.which("redis-server")
    if server is None:
        return  # the tests that need it say so
    port = _free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    atexit.register(lambda: (process.kill(), process.wait()))
    deadline = time.monotonic() + 10
    while not _answers("127.0.0.1", port):
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"a private redis-server on port {port} did not start")
        time.sleep(0.05)
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{port}{parts.path or '/0'}"


ensure_redis()
