"""Reading a directory through one connector agent, checked for completeness."""

from __future__ import annotations

import hashlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from connectors import client
from connectors.client import AgentError
from connectors.models import Connector
from connectors.protocol import dn as dnlib
from connectors.services import probe
from directories.choices import DEFAULT_MAPPED_ATTRIBUTES, DirectoryType
from directories.failover import effective_sync_connectors
from directories.models import Directory, DirectoryUser
from directories.sync import members
from directories.sync.members import Resolution, Unsynced
from synclog.choices import ChangeKind, WarningReason
from synclog.lifecycle import ConnectorClaims, Heartbeat, LeaseLost

log = logging.getLogger(__name__)

# Most distinct unresolved member values one sync asks the connector about.
LOOKUP_LIMIT = 1000

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
    """Digest of synced values; a resync compares digests instead of every column.

    Any separator and digest would do as long as they stay the same between versions
    (tests/sync's upgrade test stores digests made the old way).
    """
    joined = "\x1f".join(map(str, values))  # pragma: no mutate
    return hashlib.md5(joined.encode(), usedforsecurity=False).hexdigest()  # pragma: no mutate


@dataclass
class Received:
    """A complete read of a directory: users and groups keyed by their stable ids.

    Fingerprints are computed as records arrive, while the agent is still streaming.
    Entries that cannot be synced are in ``skipped``; once the read is complete,
    ``resolution`` holds the memberships and the member values that matched nothing.
    """

    users: dict[str, tuple] = field(default_factory=dict)
    groups: dict[str, tuple[str, str, list[str]]] = field(default_factory=dict)
    user_fps: dict[str, str] = field(default_factory=dict)
    group_fps: dict[str, str] = field(default_factory=dict)
    skipped: list[Unsynced] = field(default_factory=list)
    resolution: Resolution = field(default_factory=Resolution)
    # User and group records the agent sent, skipped ones included.
    entries: int = 0


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


def fetch(
    connector: Connector, directory: Directory, claims: ConnectorClaims, beat: Heartbeat
) -> Received:
    """Everything the directory holds, read through `connector`; AgentError if it can't.

    The connector is held through `claims` for the read; `beat` publishes progress and
    says when the run was declared dead.
    """
    probe(connector)
    if not claims.take(connector, settings.CONNECTOR_BUSY_WAIT):
        raise AgentError(
            "busy",
            f"{connector.name} was syncing another directory for the whole "
            f"{settings.CONNECTOR_BUSY_WAIT:g} s wait",
        )
    beat.connector_id = connector.pk
    try:
        stream = _open_stream(connector, directory)
        try:
            received = _consume(stream, connector, beat, _username_attribute(directory))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise AgentError(
                "incomplete", f"{connector.name} sent a malformed record ({exc!r}); discarded"
            ) from exc
        finally:
            stream.close()
        settle(received, directory)
        _confirm_unresolved(received, connector, directory)
        return received
    finally:
        beat.connector_id = None
        claims.release(connector)


def _username_attribute(directory: Directory) -> str:
    mapped = directory.mapped_attributes or {}
    default = DEFAULT_MAPPED_ATTRIBUTES[DirectoryType(directory.type)]["username"]
    return mapped.get("username") or default


def settle(received: Received, directory: Directory) -> None:
    """Skip users whose username another entry holds, then resolve every member value."""
    _skip_duplicate_usernames(received, directory)
    scopes = members.scope_keys(
        [
            *(directory.user_dns or [directory.base_dn]),
            *(directory.group_dns or [directory.base_dn]),
        ]
    )
    received.resolution = members.resolve(received.users, received.groups, received.skipped, scopes)


def _skip_duplicate_usernames(received: Received, directory: Directory) -> None:
    """One entry per username (compared without case): the one already stored keeps it,
    else the first the directory returned; the others are skipped, named in the run."""
    first: dict[str, str] = {}
    clashes: dict[str, list[str]] = defaultdict(list)
    for ext, values in received.users.items():
        name = values[1].casefold()
        holder = first.setdefault(name, ext)
        if holder != ext:
            clashes[name].append(ext)
    if not clashes:
        return
    candidates = [ext for name, exts in clashes.items() for ext in (first[name], *exts)]
    stored: dict[str, str] = {}
    for start in range(0, len(candidates), 500):
        stored.update(
            DirectoryUser.objects.filter(
                directory=directory, external_id__in=candidates[start : start + 500]
            ).values_list("external_id", "username")
        )
    attribute = _username_attribute(directory)
    for name, exts in clashes.items():
        contenders = [first[name], *exts]
        winner = next(
            (e for e in contenders if (stored.get(e) or "").casefold() == name), contenders[0]
        )
        winner_dn = received.users[winner][0]
        for ext in contenders:
            if ext == winner:
                continue
            values = received.users.pop(ext)
            received.user_fps.pop(ext)
            received.skipped.append(
                Unsynced(
                    WarningReason.DUPLICATE_USERNAME,
                    ChangeKind.USER,
                    ext,
                    values[1],
                    values[0],
                    detail=f"{attribute} {values[1]!r} is also the username of {winner_dn}",
                )
            )


def _confirm_unresolved(received: Received, connector: Connector, directory: Directory) -> None:
    """Ask the connector about member values inside the synced DNs that matched nothing.

    The directory itself says whether such a DN names an entry (and which); a failed
    lookup leaves the values counted as not looked up.
    """
    resolution = received.resolution
    values = resolution.to_confirm()
    if not values:
        return
    asked = values[:LOOKUP_LIMIT]
    by_dn: dict[str, list[str]] = defaultdict(list)
    for value in asked:
        by_dn[dnlib.member_dn(value)].append(value)
    body = request_body(directory)
    body["dns"] = list(by_dn)
    try:
        found = client.lookup(
            connector.url, connector.secret, body, settings.CONNECTOR_STREAM_TIMEOUT
        )
    except AgentError as exc:
        log.warning("looking up unresolved member values through %s failed: %s", connector, exc)
        return
    answers = {}
    for answer in found:
        if isinstance(answer, dict):
            for value in by_dn.get(str(answer.get("dn")), ()):
                answers[value] = answer
    resolution.confirm(answers, received.users, received.groups)


def _stable_id(record: dict) -> str | None:
    """The record's entryUUID / objectGUID; None for an entry that has none."""
    ext = record["id"]
    if ext is None:
        return None
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


def _dn(record: dict) -> str:
    dn = record["dn"]
    if not isinstance(dn, str) or not dn:
        raise ValueError(f"DN {dn!r} is not text")
    return dn


def _skip(received: Received, kind: str, reason: str, record: dict, detail: str) -> None:
    dn = _dn(record)
    name = record.get("username") if kind == ChangeKind.USER else record.get("name")
    ext = record.get("id")
    received.skipped.append(
        Unsynced(
            reason,
            kind,
            ext if isinstance(ext, str) else "",
            _text(name or "", FIELD_LIMIT),
            dn,
            detail=detail,
        )
    )


def _consume(
    stream: client.SyncStream, connector: Connector, beat: Heartbeat, username_attribute: str
) -> Received:
    received = Received()
    users, groups = received.users, received.groups
    user_fps, group_fps = received.user_fps, received.group_fps
    began = False
    count = 0
    sent = {"user": 0, "group": 0}
    for record in stream.records():
        kind = record.get("type")
        if kind == "user":
            sent["user"] += 1
            values: tuple = (
                _dn(record),
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
            if ext is None:
                _skip(received, ChangeKind.USER, WarningReason.NO_STABLE_ID, record, "")
            elif not values[1].strip():
                _skip(
                    received,
                    ChangeKind.USER,
                    WarningReason.NO_USERNAME,
                    record,
                    f"the entry has no {username_attribute}, which holds the username",
                )
            elif ext in users:
                _skip(
                    received,
                    ChangeKind.USER,
                    WarningReason.DUPLICATE_ID,
                    record,
                    f"{users[ext][0]} has the same id",
                )
            else:
                users[ext] = values
                user_fps[ext] = fingerprint(values)
        elif kind == "group":
            sent["group"] += 1
            ext = _stable_id(record)
            dn, name = _dn(record), _text(record.get("name"), FIELD_LIMIT)
            member_values = record.get("members") or []
            if not isinstance(member_values, list):
                raise ValueError(f"members of {dn} are not a list")
            if ext is None:
                _skip(received, ChangeKind.GROUP, WarningReason.NO_STABLE_ID, record, "")
            elif ext in groups:
                _skip(
                    received,
                    ChangeKind.GROUP,
                    WarningReason.DUPLICATE_ID,
                    record,
                    f"{groups[ext][0]} has the same id",
                )
            else:
                groups[ext] = (dn, name or dn, member_values)
                group_fps[ext] = fingerprint((dn, name or dn))
        elif kind == "begin":
            began = True
            continue
        elif kind == "end":
            if not began:
                raise AgentError(
                    "incomplete", f"the stream from {connector.name} had no begin record"
                )
            expected = (int(record.get("users", -1)), int(record.get("groups", -1)))
            if expected != (sent["user"], sent["group"]):
                raise AgentError(
                    "incomplete",
                    f"{connector.name} announced {expected[0]} users and {expected[1]} groups "
                    f"but sent {sent['user']} and {sent['group']}; the stream was discarded",
                )
            beat.entries_received = count
            received.entries = count
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


# What an admin reads first when a test fails: the agent's error code in plain words.
PROBLEMS = {
    "invalid_credentials": "Invalid credentials",
    "unreachable": "Host unreachable",
    "no_such_object": "Bad base DN",
    "tls": "TLS failed",
    "ldap_error": "LDAP error",
}


@dataclass(frozen=True)
class ConnectionTest:
    ok: bool
    message: str
    # The failure in plain words ("Invalid credentials", "Host unreachable", ...); "" on success.
    problem: str = ""


def test_connection(directory: Directory) -> ConnectionTest:
    """Ask the first available connector to bind with `directory`'s settings and read the
    first entry.

    `directory` may be unsaved (Add Directory) or a stored row with typed values set on it
    and not saved (Settings): the values on the instance are the ones tested. An unsaved
    directory is tested through its sync connector, a stored one through its list.
    Nothing is stored; the stream is closed as soon as it shows the directory answers.
    """
    if directory.pk is None:
        connectors = [directory.sync_connector]
    else:
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
                        False,
                        f"{connector.name} reached the agent, but: {record.get('message')}",
                        PROBLEMS.get(str(record.get("code")), "The directory refused"),
                    )
                if kind in ("user", "group", "end"):
                    found = "found entries" if kind != "end" else "found no users or groups"
                    return ConnectionTest(
                        True,
                        f"{connector.name} bound to {directory.host}:{directory.port} as "
                        f"{directory.bind_dn or 'anonymous'} and {found}.",
                    )
            problems.append(f"{connector.name}: the agent's answer ended before it said anything")
        except AgentError as exc:
            problems.append(f"{connector.name}: {exc.message}")
        finally:
            stream.close()
    return ConnectionTest(
        False,
        "No connector could test the connection: " + "; ".join(problems),
        "No connector available",
    )
