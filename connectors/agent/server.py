"""The agent's HTTP endpoint: ``GET /health`` and a streaming ``POST /sync``."""

from __future__ import annotations

import gc
import json
import logging
import signal
import socket
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .ldapsource import DirectoryError, DirectorySource
from .request import DEFAULT_PAGE_SIZE, RequestError, SyncSettings, lookup_dns
from .state import AgentState
from .vendors import source_for

log = logging.getLogger("connectors.agent")

MAX_BODY = 1 << 20
# Beyond this many simultaneous connections new ones are dropped. Far more than a service
# opens: strangers holding idle sockets must leave room for the service.
MAX_CONNECTIONS = 256
# A client has this long to send its request line, headers and body; idle connections
# are closed after it, so they cannot hold the agent's slots.
REQUEST_TIMEOUT = 5.0
# Records are sent in batches of about this many bytes: few syscalls, little memory.
BATCH_BYTES = 64 * 1024
# A service that stops reading for this long has given up on the stream.
SOCKET_TIMEOUT = 120.0

# ASCII output (non-ASCII as \u escapes) and no circular check: records are flat, and
# this is the fastest encoding the json module offers.
_json_dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode

try:  # orjson, when installed, encodes several times faster; the agent runs without it too
    import orjson

    def _encode(record: dict[str, Any]) -> bytes:
        try:
            return orjson.dumps(record)
        except orjson.JSONEncodeError:  # e.g. undecodable bytes kept as surrogates
            return _json_dumps(record).encode()

except ImportError:  # pragma: no cover - exercised where orjson is not installed

    def _encode(record: dict[str, Any]) -> bytes:
        return _json_dumps(record).encode()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _load_json(body: bytes) -> Any:
    """Strict JSON: UTF-8, no NaN or Infinity, no NUL character and no lone surrogates
    (none of which could be sent on to the directory or written to a log)."""
    payload = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    pending = [payload]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            if "\x00" in value:
                raise ValueError("a NUL character is not allowed in any value")
            value.encode("utf-8")  # UnicodeEncodeError on a lone surrogate
    return payload


class ClientGone(Exception):
    """The service closed the connection while the agent was still sending."""


def parse_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) -> ``(host, port)``."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"listen address must be HOST:PORT, not {listen!r}")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


class AgentServer(ThreadingHTTPServer):
    """Threaded HTTP server holding the agent's identity and its one-sync-at-a-time lock."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        state: AgentState,
        version: str,
        default_page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.state = state
        self.version = version
        self.default_page_size = default_page_size
        self.sync_lock = threading.Lock()
        self.connection_slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, AgentHandler)

    def process_request(self, request, client_address) -> None:
        # A flood of connections must not become a flood of threads.
        if not self.connection_slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connection_slots.release()


class AgentHandler(BaseHTTPRequestHandler):
    """One request. Every response closes the connection; the service opens a new one."""

    server: AgentServer
    protocol_version = "HTTP/1.1"
    server_version = "ConnectorAgent"
    # While the request is read; the answer (a long stream) gets SOCKET_TIMEOUT.
    timeout = REQUEST_TIMEOUT

    # --- plumbing ---------------------------------------------------------------

    def _dispatch(self) -> None:
        started = time.monotonic()
        self._status = 0
        self._note = ""
        path = self.path.split("?", 1)[0]
        try:
            if not self._authorized():
                # The secret is checked before the body is looked at; the body is drained
                # (not kept) so the 401 is not lost to a connection reset.
                self._read_body()
                if self._status == 0:
                    self._send_json(401, {"error": "unauthorized"})
                return
            body = self._read_body()
            if body is None:
                return
            self.connection.settimeout(SOCKET_TIMEOUT)
            if self.command == "GET" and path == "/health":
                self._health()
            elif self.command == "POST" and path == "/sync":
                self._sync(body)
            elif self.command == "POST" and path == "/lookup":
                self._lookup(body)
            else:
                self._send_json(404, {"error": "not found"})
        except (ConnectionError, TimeoutError, ClientGone) as exc:
            self.close_connection = True
            self._note = (self._note + f" client gone ({type(exc).__name__})").strip()
        finally:
            elapsed = time.monotonic() - started
            log.info(
                "%s %s %s %s %.3fs%s",
                self.client_address[0],
                self.command,
                path,
                self._status or "-",
                elapsed,
                f" {self._note}" if self._note else "",
            )

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _dispatch

    def _read_body(self) -> bytes | None:
        """Read the whole request body, or answer 400 and return None."""
        length = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding"):
            self._send_json(400, {"error": "chunked request bodies are not supported"})
            return None
        if length is None:
            return b""
        if not (length.isascii() and length.isdigit()):
            self._send_json(400, {"error": "Content-Length must be a number"})
            return None
        size = int(length)
        if size > MAX_BODY:
            self._send_json(400, {"error": f"request body larger than {MAX_BODY} bytes"})
            return None
        body = self.rfile.read(size)
        if len(body) != size:
            raise ClientGone("request body cut short")
        return body

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        return self.server.state.secret_matches(token.strip())

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silenced: ``_dispatch`` logs one line per request when it is done."""

    def log_message(self, format: str, *args: Any) -> None:
        log.warning("%s %s", self.client_address[0], format % args)

    # --- endpoints --------------------------------------------------------------

    def _health(self) -> None:
        self._send_json(
            200, {"name": self.server.state.name, "version": self.server.version, "status": "ok"}
        )

    def _settings(self, body: bytes) -> tuple[SyncSettings, Any] | None:
        """The request's directory settings and decoded body, or None after a 400."""
        try:
            payload = _load_json(body)
        except (ValueError, UnicodeError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            self._send_json(400, {"error": f"request body is not valid JSON: {reason}"})
            return None
        try:
            return SyncSettings.from_request(payload, self.server.default_page_size), payload
        except RequestError as exc:
            self._send_json(400, {"error": str(exc)})
            return None

    def _lookup(self, body: bytes) -> None:
        """Which of the given DNs name an entry: one JSON answer, no sync lock needed."""
        parsed = self._settings(body)
        if parsed is None:
            return
        settings, payload = parsed
        try:
            dns = lookup_dns(payload)
        except RequestError as exc:
            self._send_json(400, {"error": str(exc)})
            return
        self._note = f"directory={settings.directory_id!r} dns={len(dns)}"
        source = source_for(settings)
        try:
            source.open()
            entries = source.lookup(dns)
        except DirectoryError as exc:
            self._send_json(502, {"error": exc.code, "message": exc.message})
            return
        finally:
            source.close()
        self._send_json(200, {"entries": entries})

    def _sync(self, body: bytes) -> None:
        parsed = self._settings(body)
        if parsed is None:
            return
        settings = parsed[0]
        lock = self.server.sync_lock
        if not lock.acquire(blocking=False):
            self._send_json(409, {"error": "busy"})
            return
        try:
            self._stream(settings)
        finally:
            lock.release()

    def _stream(self, settings: SyncSettings) -> None:
        self._status = 200
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Connection", "close")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.close_connection = True
        write = self.wfile.write
        # Values the request chose are logged quoted: a line break cannot forge a line.
        self._note = f"directory={settings.directory_id!r} {settings.address!r}"
        source = source_for(settings)
        began = False
        users = groups = 0
        try:
            if not source.decides_when_connected:
                # The service learns at once that this agent took the job.
                began = self._begin(write, settings, source)
            source.open()
            source.prepare()
            if not began:
                began = self._begin(write, settings, source)
            incremental = source.read == "incremental"
            # A presence listing comes first; departures named by the server come last,
            # read along with the changed records.
            if incremental and not source.names_departures:
                _send_records(write, source.scope("user"))
                _send_records(write, source.scope("group"))
            users = _send_records(write, source.users())
            groups = _send_records(write, source.groups())
            if incremental and source.names_departures:
                _send_records(write, source.scope("user"))
                _send_records(write, source.scope("group"))
            watermark = source.watermark()
        except DirectoryError as exc:
            if not began:
                self._begin(write, settings, source)
            self._note += f" users={users} groups={groups} error={exc.code}"
            write(_line({"type": "error", "code": exc.code, "message": exc.message}))
            return
        except (ConnectionError, TimeoutError, ClientGone):
            raise
        except Exception:
            # Not a directory failure the service could act on: leave the stream
            # without `end` so it counts as incomplete and the next connector runs.
            log.exception("sync of directory %s failed", settings.directory_id)
            self._note += " aborted (internal error)"
            return
        finally:
            source.close()
        end: dict[str, Any] = {"type": "end", "users": users, "groups": groups}
        if source.read == "incremental" and source.names_departures:
            departed = source.departed_counts
            end["deleted_users"] = departed["user"]
            end["deleted_groups"] = departed["group"]
            self._note += f" incremental deleted={departed['user']}+{departed['group']}"
        elif source.read == "incremental":
            present = source.present_counts
            end["present_users"] = present["user"]
            end["present_groups"] = present["group"]
            self._note += f" incremental present={present['user']}+{present['group']}"
        end["watermark"] = watermark
        self._note += f" users={users} groups={groups} ok"
        write(_line(end))

    def _begin(self, write: Any, settings: SyncSettings, source: DirectorySource) -> bool:
        """Send the ``begin`` record: who reads, and whether in full or incrementally."""
        begin = {
            "type": "begin",
            "connector": self.server.state.name,
            "version": self.server.version,
            "directory": settings.directory_id,
            "read": source.read,
        }
        if source.reason:
            begin["reason"] = source.reason
        if source.read == "incremental":
            # How the scope is told: every entry listed, or the ids that left it named.
            begin["scope"] = "deleted" if source.names_departures else "listed"
        write(_line(begin))
        return True


def _line(record: dict[str, Any]) -> bytes:
    return _encode(record) + b"\n"


def _send_records(write: Any, records: Iterable[dict[str, Any]]) -> int:
    """Encode and send records in batches; return how many were sent."""
    encode = _encode
    batch: list[bytes] = []
    append = batch.append
    size = 0
    count = 0
    for record in records:
        line = encode(record)
        append(line)
        size += len(line)
        if size >= BATCH_BYTES:
            count += len(batch)
            write(b"\n".join(batch) + b"\n")
            batch.clear()
            size = 0
    if batch:
        count += len(batch)
        write(b"\n".join(batch) + b"\n")
    return count


def serve(
    state: AgentState,
    listen: str,
    version: str,
    default_page_size: int = DEFAULT_PAGE_SIZE,
) -> int:
    """Serve until SIGTERM or SIGINT; return the process exit status."""
    host, port = parse_listen(listen)
    # A sync allocates thousands of short-lived, acyclic containers per page; with the
    # default thresholds the cyclic collector keeps rescanning the live page and costs
    # about 15% of the CPU. Freeze what startup created and collect the young
    # generation rarely.
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        server = AgentServer((host, port), state, version, default_page_size)
    except OSError as exc:
        log.error("cannot listen on %s: %s", listen, exc.strerror or exc)
        return 1
    stop = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    # A short poll interval lets shutdown() return promptly after a signal.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="http", daemon=True
    )
    thread.start()
    bound_host, bound_port = server.server_address[:2]
    log.info(
        "connector %s (version %s) listening on %s:%s",
        state.name,
        version,
        bound_host,
        bound_port,
    )
    try:
        stop.wait()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("stopped")
    return 0
