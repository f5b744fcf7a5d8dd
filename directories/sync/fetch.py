"""Reading a directory through one connector agent, checked for completeness."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from django.conf import settings

from connectors import client
from connectors.choices import HealthState
from connectors.client import AgentError
from connectors.models import Connector
from connectors.services import record_health
from directories.models import Directory
from directories.sync.leases import Heartbeat, claim_connector, release_connector
from synclog.models import SyncRun

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
    body = {
        "directory": {"id": directory.pk, "name": directory.name, "type": directory.type},
        "connection": {
            "host": directory.host,
            "port": directory.port,
            "security": directory.security,
            "base_dn": directory.base_dn,
            "bind_dn": directory.bind_dn,
            "bind_password": directory.bind_password or "",
            "timeout": settings.CONNECTOR_STREAM_TIMEOUT,
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
        stream = client.SyncStream(
            connector.url,
            connector.secret,
            request_body(directory),
            connect_timeout=settings.CONNECTOR_PROBE_TIMEOUT,
            read_timeout=settings.CONNECTOR_STREAM_TIMEOUT,
        )
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
            ext = record["id"]
            users[ext] = values
            user_fps[ext] = fingerprint(values)
        elif kind == "group":
            ext = record["id"]
            dn, name = record["dn"], record.get("name") or ""
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
            stream = client.SyncStream(
                connector.url,
                connector.secret,
                request_body(directory),
                connect_timeout=settings.CONNECTOR_PROBE_TIMEOUT,
                read_timeout=settings.CONNECTOR_STREAM_TIMEOUT,
            )
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
