"""Reading a directory through one connector agent, checked for completeness."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from connectors import client
from connectors.choices import HealthState
from connectors.client import AgentError
from connectors.models import Connector
from connectors.services import record_health
from directories.models import Directory
from directories.sync.leases import Heartbeat, LeaseLost, claim_connector, release_connector
from synclog.models import SyncRun

# Longest username, name, email or UPN the store keeps (the columns' max_length).
FIELD_LIMIT = 255

# Order of the values kept per received user; the apply step relies on it.
USER_COLUMNS = (
    "dn",
    "username",
    "first_name",
    "last_name",
    "email",
    "display_name",
    "upn",
    "disabled",
)


def fingerprint(values: tuple) -> str:
    """Digest of synced values; a resync compares digests instead of every column."""
    joined = "\x1f".join(map(str, values))
    return hashlib.md5(joined.encode(), usedforsecurity=False).hexdigest()


@dataclass
class Received:
    """A complete read of a directory: users and groups keyed by their stable ids.

    Fingerprints are computed as records arrive, while the agent is still streaming.
    """

    users: dict[str, tuple] = field(default_factory=dict)
    groups: dict[str, tuple[str, str, list[str]]] = field(default_factory=dict)
    user_fps: dict[str, str] = field(default_factory=dict)
    group_fps: dict[str, str] = field(default_factory=dict)

    @property
    def entries(self) -> int:
        return len(self.users) + len(self.groups)


def request_body(directory: Directory) -> dict:
    body: dict[str, Any] = {
        "directory": {"id": directory.pk, "name": directory.name, "type": directory.type},
        "connection": {
            "host": directory.host,
            "port": directory.port,
            "security": directory.security,
            "base_dn": directory.base_dn,
            "bind_dn": directory.bind_dn,
            "bind_password": directory.bind_password or "",
            # Shorter than the service's read timeout, so the agent's own error arrives first.
            "timeout": max(3.0, settings.CONNECTOR_STREAM_TIMEOUT / 3),
        },
        "users": {"dns": list(directory.user_dns), "filter": directory.user_filter},
        "groups": {"dns": list(directory.group_dns), "filter": directory.group_filter},
        "mapped_attributes": dict(directory.mapped_attributes),
        "page_size": settings.SYNC_PAGE_SIZE,
    }
    if directory.ca_cert.strip():
        body["connection"]["ca_cert"] = directory.ca_cert
    return body


_HEALTH_FOR_OUTCOME = {
    "unauthorized": HealthState.UNAUTHORIZED,
    "unavailable": HealthState.UNREACHABLE,
}


def probe(connector: Connector) -> client.Health:
    """Health-check a connector and record what was seen on it."""
    if not connector.is_active or not connector.url or not connector.secret:
        raise AgentError("unavailable", f"{connector.name} has not been activated by its agent")
    try:
        health = client.probe(connector.url, connector.secret, settings.CONNECTOR_PROBE_TIMEOUT)
    except AgentError as exc:
        record_health(
            connector, _HEALTH_FOR_OUTCOME.get(exc.outcome, HealthState.UNREACHABLE), exc.message
        )
        raise
    state = (
        HealthState.OK
        if client.is_supported(health, settings.MINIMUM_CONNECTOR_VERSION)
        else HealthState.OUTDATED
    )
    record_health(connector, state, version=health.version)
    return health


def fetch(connector: Connector, directory: Directory, run: SyncRun, beat: Heartbeat) -> Received:
    """Everything the directory holds, read through `connector`; AgentError if it can't."""
    probe(connector)
    if not claim_connector(connector, run, settings.CONNECTOR_BUSY_WAIT):
        raise AgentError(
            "busy",
            f"{connector.name} was syncing another directory for the whole "
            f"{settings.CONNECTOR_BUSY_WAIT:g} s wait",
        )
    beat.connector_id = connector.pk
    try:
        stream = _open_stream(connector, directory)
        try:
            return _consume(stream, connector, beat)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise AgentError(
                "incomplete", f"{connector.name} sent a malformed record ({exc!r}); discarded"
            ) from exc
        finally:
            stream.close()
    finally:
        beat.connector_id = None
        release_connector(connector, run)


def _stable_id(record: dict) -> str:
    ext = record["id"]
    if not isinstance(ext, str) or not 0 < len(ext) <= 64:
        raise ValueError(f"stable id {ext!r} is not an entryUUID/objectGUID")
    return ext


def _open_stream(connector: Connector, directory: Directory) -> client.SyncStream:
    """POST /sync; an agent still answering someone else (409) is waited for, within bounds."""
    deadline = time.monotonic() + settings.CONNECTOR_BUSY_WAIT
    while True:
        try:
            return client.SyncStream(
                connector.url,
                connector.secret,
                request_body(directory),
                connect_timeout=settings.CONNECTOR_PROBE_TIMEOUT,
                read_timeout=settings.CONNECTOR_STREAM_TIMEOUT,
            )
        except AgentError as exc:
            if exc.outcome != "busy" or time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def _text(value: object, limit: int) -> str:
    """A string that fits its column (values longer than the column are cut)."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    return text if len(text) <= limit else text[:limit]


def _consume(stream: client.SyncStream, connector: Connector, beat: Heartbeat) -> Received:
    received = Received()
    users, groups = received.users, received.groups
    user_fps, group_fps = received.user_fps, received.group_fps
    began = False
    count = 0
    for record in stream.records():
        kind = record.get("type")
        if kind == "user":
            values = (
                record["dn"],
                record.get("username") or "",
                record.get("first_name") or "",
                record.get("last_name") or "",
                record.get("email") or "",
                record.get("display_name") or "",
                record.get("upn") or "",
                bool(record.get("disabled")),
            )
            if max(map(len, values[1:7])) > FIELD_LIMIT:
                values = (values[0], *(_text(v, FIELD_LIMIT) for v in values[1:7]), values[7])
            ext = _stable_id(record)
            users[ext] = values
            user_fps[ext] = fingerprint(values)
        elif kind == "group":
            ext = _stable_id(record)
            dn, name = record["dn"], _text(record.get("name"), FIELD_LIMIT)
            groups[ext] = (dn, name, record.get("members") or [])
            group_fps[ext] = fingerprint((dn, name))
        elif kind == "begin":
            began = True
            continue
        elif kind == "end":
            if not began:
                raise AgentError(
                    "incomplete", f"the stream from {connector.name} had no begin record"
                )
            expected = (int(record.get("users", -1)), int(record.get("groups", -1)))
            if expected != (len(users), len(groups)):
                raise AgentError(
                    "incomplete",
                    f"{connector.name} announced {expected[0]} users and {expected[1]} groups "
                    f"but sent {len(users)} and {len(groups)}; the stream was discarded",
                )
            beat.entries_received = count
            return received
        elif kind == "error":
            raise AgentError(
                "directory_error",
                f"{connector.name} could not read the directory: "
                f"{record.get('message') or record.get('code') or 'unknown error'}",
            )
        else:
            continue
        count += 1
        if count & 255 == 0:
            beat.entries_received = count
            if beat.lost:
                # Another worker declared this run dead and freed the connector: stop reading.
                raise LeaseLost
    beat.entries_received = count
    raise AgentError(
        "incomplete",
        f"the stream from {connector.name} ended after {count} entries without its end record; "
        "the partial data was discarded",
    )


@dataclass(frozen=True)
class ConnectionTest:
    ok: bool
    message: str


def test_connection(directory: Directory) -> ConnectionTest:
    """Ask the first available connector of the list to bind and read the first entry.

    Nothing is stored; the stream is closed as soon as it shows the directory answers.
    """
    from directories.services import effective_sync_connectors

    connectors, _ = effective_sync_connectors(directory)
    problems = []
    for connector in connectors:
        try:
            probe(connector)
            stream = _open_stream(connector, directory)
        except AgentError as exc:
            problems.append(f"{connector.name}: {exc.message}")
            continue
        try:
            for record in stream.records():
                kind = record.get("type")
                if kind == "error":
                    return ConnectionTest(
                        False, f"{connector.name} reached the agent, but: {record.get('message')}"
                    )
                if kind in ("user", "group", "end"):
                    found = "found entries" if kind != "end" else "found no users or groups"
                    return ConnectionTest(
                        True,
                        f"{connector.name} bound to {directory.host}:{directory.port} as "
                        f"{directory.bind_dn or 'anonymous'} and {found}.",
                    )
        except AgentError as exc:
            problems.append(f"{connector.name}: {exc.message}")
        finally:
            stream.close()
    return ConnectionTest(False, "No connector could test the connection: " + "; ".join(problems))
