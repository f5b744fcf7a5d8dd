"""The service's HTTP client for connector agents: health probes, sync streams, lookups."""

from __future__ import annotations

import codecs
import http.client
import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from connectors.versions import is_at_least


class AgentError(Exception):
    """The agent could not be used; `outcome` says how (an AttemptOutcome value)."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


class RequestRefused(AgentError):
    """The agent answered 400: it refused the request, naming the problem (`detail`)."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__("unavailable", message)
        self.detail = detail


@dataclass(frozen=True)
class Health:
    name: str
    version: str


def _connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AgentError("unavailable", f"the agent URL '{url}' is not valid")
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return cls(parts.hostname, port, timeout=timeout), parts.path.rstrip("/")


def _describe(exc: BaseException, url: str, timeout: float) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused at {url}"
    if isinstance(exc, socket.timeout | TimeoutError):
        return f"no answer from {url} within {timeout:g} s"
    return f"cannot reach {url}: {exc}"


def probe(url: str, secret: str, timeout: float) -> Health:
    """GET /health within `timeout` seconds; raises AgentError when the agent can't be used."""
    conn, prefix = _connection(url, timeout)
    try:
        conn.request("GET", f"{prefix}/health", headers={"Authorization": f"Bearer {secret}"})
        resp = conn.getresponse()
        body = resp.read(65536)
    except (OSError, http.client.HTTPException) as exc:
        raise AgentError("unavailable", _describe(exc, url, timeout)) from exc
    finally:
        conn.close()
    if resp.status == 401:
        raise AgentError("unauthorized", f"{url} refused the connector secret (401)")
    if resp.status != 200:
        raise AgentError("unavailable", f"{url} answered /health with HTTP {resp.status}")
    try:
        data = json.loads(body)
        return Health(name=str(data.get("name", "")), version=str(data.get("version", "")))
    except (ValueError, AttributeError) as exc:
        raise AgentError("unavailable", f"{url} sent an unreadable /health answer") from exc


def lookup(url: str, secret: str, body: dict, timeout: float) -> list[dict]:
    """POST /lookup: whether each of ``body["dns"]`` names an entry (see the protocol)."""
    conn, prefix = _connection(url, timeout)
    try:
        conn.request(
            "POST",
            f"{prefix}/lookup",
            body=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        )
        resp = conn.getresponse()
        data = resp.read(64 << 20)
    except (OSError, http.client.HTTPException) as exc:
        raise AgentError("unavailable", _describe(exc, url, timeout)) from exc
    finally:
        conn.close()
    if resp.status == 401:
        raise AgentError("unauthorized", f"{url} refused the connector secret (401)")
    try:
        answer = json.loads(data)
        if not isinstance(answer, dict):
            raise ValueError("not an object")
    except ValueError as exc:
        raise AgentError("unavailable", f"{url} sent an unreadable /lookup answer") from exc
    if resp.status != 200 or not isinstance(answer.get("entries"), list):
        detail = answer.get("message") or answer.get("error") or f"HTTP {resp.status}"
        raise AgentError("directory_error", f"{url} could not look the DNs up: {detail}")
    return answer["entries"]


def is_supported(health: Health, minimum: str) -> bool:
    return is_at_least(health.version, minimum)


try:  # several times faster than json on the stream's hot path
    from orjson import loads as _loads
except ImportError:  # pragma: no cover
    _loads = json.loads


def _without_nul(record: dict) -> dict:
    """NUL cannot be stored in a text column and never belongs in a name: drop it."""

    def clean(value):
        if isinstance(value, str):
            return value.replace("\x00", "")
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return {key: clean(value) for key, value in record.items()}


class SyncStream:
    """POST /sync and iterate the NDJSON records as they arrive.

    Raises AgentError on connection failures, 401, busy agents and broken streams; the caller
    decides what a missing `end` record means.
    """

    def __init__(
        self, url: str, secret: str, body: dict, connect_timeout: float, read_timeout: float
    ) -> None:
        self.url = url
        self._conn, prefix = _connection(url, connect_timeout)
        self._read_timeout = read_timeout
        payload = json.dumps(body).encode()
        try:
            self._conn.request(
                "POST",
                f"{prefix}/sync",
                body=payload,
                headers={
                    "Authorization": f"Bearer {secret}",
                    "Content-Type": "application/json",
                    "Accept": "application/x-ndjson",
                },
            )
            # getresponse() hands a "Connection: close" socket to the response and forgets it,
            # so the stream's read timeout is set on this reference.
            sock = self._conn.sock
            self._resp = self._conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise AgentError("unavailable", _describe(exc, url, connect_timeout)) from exc
        status = self._resp.status
        if status != 200:
            detail = self._resp.read(2048).decode("utf-8", "replace").strip()
            self.close()
            if status == 401:
                raise AgentError("unauthorized", f"{url} refused the connector secret (401)")
            if status == 409:
                raise AgentError("busy", f"{url} is already running a sync")
            message = f"{url} answered /sync with HTTP {status}: {detail}"
            if status == 400:
                raise RequestRefused(message, detail)
            raise AgentError("unavailable", message)
        if sock is not None:
            sock.settimeout(read_timeout)

    def records(self) -> Iterator[dict]:
        """Parsed records as they arrive; a last line cut off mid-way is dropped (no `end`)."""
        fp = self._resp
        loads = _loads
        # Decoding whole chunks (safe across split characters) spares json a per-line decode.
        decode = codecs.getincrementaldecoder("utf-8")().decode
        tail = ""
        try:
            while True:
                # read1 returns what has arrived, so a record is never held back for more.
                chunk = fp.read1(1 << 18)
                if not chunk:
                    return
                lines = (tail + decode(chunk)).split("\n")
                tail = lines.pop()
                for line in lines:
                    if line:
                        record = loads(line)
                        if "\\u0000" in line:
                            record = _without_nul(record)
                        yield record
        except (OSError, http.client.HTTPException) as exc:
            why = _describe(exc, self.url, self._read_timeout)
            raise AgentError("incomplete", f"the stream from {self.url} broke: {why}") from exc
        except ValueError as exc:
            raise AgentError(
                "incomplete", f"the stream from {self.url} held a broken record"
            ) from exc

    def close(self) -> None:
        try:
            self._conn.close()
        except OSError:
            pass
