"""An HTTP endpoint that speaks the agent protocol with a script: what a broken agent
(or one that cannot reach the directory from where it stands) sends the service."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ScriptedAgent:
    """Answers GET /health with ``version`` and POST /sync with ``lines``, sent as they are
    (:func:`record` ends each with a newline; a line without one is cut off). ``lines``
    may be a function of the request body (a directory that answers what it is asked)."""

    def __init__(
        self,
        name: str,
        lines: list[bytes] | Callable[[dict], list[bytes]],
        version: str = "19.03.0.0",
        lookup: dict[str, dict] | None = None,
    ) -> None:
        self.name = name
        self.lines = lines
        self.version = version
        # POST /lookup answers: DN -> entry (the dn field is filled in); others: no entry.
        self.lookup = lookup or {}
        # When set, /lookup answers 502 with this message (the directory cannot be reached).
        self.lookup_error: str | None = None
        # Seconds /lookup waits before answering (an agent that hangs).
        self.lookup_delay = 0.0
        # How many /sync requests are answered 409 (busy) before one is served.
        self.busy_times = 0
        # A function of the /sync body: an error text to answer 400 with (a request this
        # agent refuses), or None to serve it.
        self.refuse: Callable[[dict], str | None] | None = None
        self.secret = f"secret-of-{name}"
        self.sync_requests = 0
        # The /sync request bodies, in order.
        self.bodies: list[dict] = []
        self.lookups: list[list[str]] = []
        agent = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _authorized(self) -> bool:
                return self.headers.get("Authorization") == f"Bearer {agent.secret}"

            def do_GET(self) -> None:
                if not self._authorized():
                    return self._json(401, {"error": "unauthorized"})
                body = {"name": agent.name, "version": agent.version, "status": "ok"}
                self._json(200, body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not self._authorized():
                    return self._json(401, {"error": "unauthorized"})
                if self.path == "/lookup":
                    return self._lookup(json.loads(body)["dns"])
                agent.sync_requests += 1
                agent.bodies.append(json.loads(body))
                if agent.busy_times > 0:
                    agent.busy_times -= 1
                    return self._json(409, {"error": "busy"})
                refused = agent.refuse(agent.bodies[-1]) if agent.refuse else None
                if refused:
                    return self._json(400, {"error": refused})
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                lines = agent.lines(agent.bodies[-1]) if callable(agent.lines) else agent.lines
                for line in lines:
                    self.wfile.write(line)
                self.wfile.flush()

            def _lookup(self, dns: list[str]) -> None:
                agent.lookups.append(dns)
                time.sleep(agent.lookup_delay)
                if agent.lookup_error:
                    error = {"error": "unreachable", "message": agent.lookup_error}
                    return self._json(502, error)
                missing = {"exists": False, "detail": "No such object"}
                entries = [{"dn": dn, **agent.lookup.get(dn, missing)} for dn in dns]
                self._json(200, {"entries": entries})

            def _json(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def record(**fields: object) -> bytes:
    """One NDJSON line."""
    return json.dumps(fields).encode() + b"\n"
