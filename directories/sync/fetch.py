"""Reading a directory through one connector agent, checked for completeness."""

from __future__ import annotations

import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from django.conf import settings

from connectors import client
from connectors.client import AgentError, RequestRefused
from connectors.models import Connector
from connectors.protocol import changes
from connectors.protocol import dn as dnlib
from connectors.protocol.changes import REFRESH_REQUIRED
from connectors.services import probe
from directories.choices import DEFAULT_MAPPED_ATTRIBUTES, DirectoryType
from directories.failover import effective_sync_connectors
from directories.models import Directory, DirectoryUser
from directories.sync import incremental, members
from directories.sync.background import Waited
from directories.sync.columns import USER_COLUMNS
from directories.sync.members import Resolution, Unsynced
from directories.sync.stage import UserStage
from synclog.choices import ChangeKind, ReadMode, WarningReason
from synclog.lifecycle import ConnectorClaims, Heartbeat, LeaseLost

log = logging.getLogger(__name__)

# Most distinct unresolved member values one sync asks the connector about.
LOOKUP_LIMIT = 1000

# Longest username, name, email or UPN the store keeps (the columns' max_length).
FIELD_LIMIT = 255

# A user kept as the store holds it has the first of those values only.
KEPT = len(incremental.KEPT_USER_VALUES)
# A user the sync may write is held as its DN, its username and its other values packed in
# one UTF-8 string with its fingerprint last (`_packed`; `user_values` gives every value
# back, `packed_fp` the fingerprint): one object instead of seven, most of a read's memory
# per user. NUL separates the values: the client drops it from what the agent sends, and
# a value holding one is kept as it is (its fingerprint in `Received.user_fps`).
PACKED = KEPT + 1


def _packed(values: tuple, fp: str) -> tuple:
    rest = "\0".join((*values[KEPT:-1], "1" if values[-1] else "", fp))
    if rest.count("\0") != len(USER_COLUMNS) - KEPT:
        return values
    return (*values[:KEPT], rest.encode())


def is_staged(values: tuple) -> bool:
    """Whether a user `Received.users` holds has its values and fingerprint in the
    read's stage (`stage.UserStage`): held as its `KEPT` values and None."""
    return len(values) == PACKED and values[KEPT] is None


def packed_fp(values: tuple) -> str:
    """The fingerprint a packed user (`PACKED` values) carries."""
    return values[KEPT].rsplit(b"\0", 1)[1].decode()


def user_values(values: tuple) -> tuple:
    """A received user's values in `USER_COLUMNS` order, from any user `Received.users`
    holds but one kept as the store holds it (`KEPT` values: never written)."""
    if len(values) != PACKED:
        return values
    if values[KEPT] is None:
        raise ValueError("a staged user's values are in the stage (`Received.values_of`)")
    *rest, disabled, _fp = values[KEPT].decode().split("\0")
    return (*values[:KEPT], *rest, disabled == "1")


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
    # The fingerprints of the users held whole (a value with NUL) or kept as an
    # incremental read's base holds them (`user_fp` gives every user's but those a full
    # read kept as stored).
    user_fps: dict[str, str] = field(default_factory=dict)
    group_fps: dict[str, str] = field(default_factory=dict)
    skipped: list[Unsynced] = field(default_factory=list)
    resolution: Resolution = field(default_factory=Resolution)
    # User and group records the agent sent, skipped ones included.
    entries: int = 0
    # How the directory was read, why in full when that was a choice, and the watermark
    # the agent gave for the next incremental read (with the scope it holds for).
    read_mode: str = ReadMode.FULL
    read_reason: str = ""
    watermark: dict | None = None
    # The skipped entries as the agent sent them: (kind, stable id or "", DN, record).
    skipped_records: list[tuple[str, str, str, dict]] = field(default_factory=list)
    # Whether `users` is in the order the directory returns its entries: not when an
    # incremental read named departures (unchanged entries come in the store's order).
    in_directory_order: bool = True
    # For a read that named departures, by kind: the ids that left, changed or were taken
    # again from what the last sync skipped. Every other entry is the store's own row, so
    # the plan compares these alone.
    touched: dict[str, set[str]] | None = None
    # For a read whose only changes are values of stored users (`incremental.values_only`):
    # those users' stored rows and what the read keeps of the sync it reads since. `users`
    # then holds those users alone.
    carried: incremental.Carried | None = None
    # The stored users a full read was given once they were loaded (`_keep_as_stored`),
    # less those it read (`StoredUsers.take`: those left are the users it did not read),
    # and the users it read from then on, listed as new to the store (`added`) or unlike
    # the stored one (`updated`); every other user it holds is kept as stored. A stored
    # user it read and then skipped (its username another entry's) is in `dropped`.
    consumed: incremental.StoredUsers | None = None
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    # Where a full read puts the users it may write once it knows the stored ones
    # (`_take_user`): each then held as its `KEPT` values and None (`is_staged`).
    stage: UserStage | None = None

    def user_fp(self, ext: str) -> str | None:
        """The fingerprint of the user `users` holds as `ext`; None for a staged one,
        whose fingerprint is not the stored one (or it would have been kept). A user a
        full read kept as stored has none here: its fingerprint is the stored one."""
        values = self.users[ext]
        if len(values) == PACKED:
            return None if values[KEPT] is None else packed_fp(values)
        fp = self.user_fps.get(ext)
        if fp is None:
            raise KeyError(f"no fingerprint of user {ext}")
        return fp

    def values_of(self, exts: Iterable[str]) -> dict[str, tuple]:
        """The values (`USER_COLUMNS` order) of the users `users` holds as `exts`, none of
        them kept as stored: from memory, or from the stage for the staged ones."""
        out: dict[str, tuple] = {}
        staged: list[str] = []
        for ext in exts:
            held = self.users[ext]
            if is_staged(held):
                staged.append(ext)
            else:
                out[ext] = user_values(held)
        if staged:
            assert self.stage is not None
            out.update(self.stage.values(staged))
        return out


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


class StoreView(Protocol):
    """What a read is given of the store (`plan.StoreLoad`, loading while the agent answers)."""

    def base(self) -> Waited[incremental.Base]:
        """What an incremental read is merged with."""

    def users_reader(self) -> Callable[[], incremental.StoredUsers | None]:
        """For one read: what gives the stored users once loaded (None while loading),
        for it to take out those it reads."""


# `incremental.values_only` for one directory and the sync its read is since.
ValuesOnly = Callable[
    [dict[str, tuple], dict[str, set[str]], dict[str, tuple[str, str]]],
    incremental.Carried | None,
]


def fetch(
    connector: Connector,
    directory: Directory,
    claims: ConnectorClaims,
    beat: Heartbeat,
    choice: incremental.ReadChoice,
    store: StoreView,
    stage: UserStage | None = None,
) -> Received:
    """Everything the directory holds, read through `connector`; AgentError if it can't.

    The connector is held through `claims` for the read; `beat` publishes progress and
    says when the run was declared dead. `choice` says whether to ask for the changes
    since the last sync (`incremental.choose_read`), and `store` gives what the store
    holds to merge them with, and which users it holds as they are read; a full read puts
    the users it may write in `stage` (emptied first).
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
        body = request_body(directory)
        merge_base = None
        if choice.changes_since is not None:
            body["changes_since"] = choice.changes_since
            # Loaded while the agent answers once the read needs it (`_consume`); the merge
            # at the stream's end waits for it.
            merge_base = store.base()
        values_only = (
            partial(incremental.values_only, directory.pk, choice.base_run_id)
            if choice.base_run_id is not None
            else None
        )
        try:
            received = _read(
                connector,
                directory,
                body,
                beat,
                merge_base,
                store.users_reader(),
                values_only,
                stage,
            )
            received.read_reason = received.read_reason or choice.reason
            if received.carried is None:
                settle(received, directory)
        except (incremental.NeedFullRead, RequestRefused) as exc:
            if isinstance(exc, RequestRefused) and not _refused_watermark(exc, body):
                raise
            assert merge_base is not None
            merge_base.want()
            del body["changes_since"]
            beat.entries_received = 0
            received = _read(
                connector, directory, body, beat, None, store.users_reader(), stage=stage
            )
            received.read_reason = (
                f"{connector.name} does not read changes since this watermark "
                f"({_text(exc.detail, 500)}); it read the directory in full"
                if isinstance(exc, RequestRefused)
                else f"the incremental read could not stand for a full one: {exc}"
            )
            settle(received, directory)
        received.watermark = (
            {"agent": received.watermark, "scope": incremental.scope_digest(body)}
            if received.watermark
            else None
        )
        _confirm_unresolved(received, connector, directory)
        return received
    finally:
        beat.connector_id = None
        claims.release(connector)


def _read(
    connector: Connector,
    directory: Directory,
    body: dict,
    beat: Heartbeat,
    base: Waited[incremental.Base] | None,
    stored_users: Callable[[], incremental.StoredUsers | None] | None = None,
    values_only: ValuesOnly | None = None,
    stage: UserStage | None = None,
) -> Received:
    """One /sync stream read to its end: everything in scope, or (with `base`) what
    changed merged with what the store holds, or changed values alone (`values_only`)."""
    stream = _open_stream(connector, body)
    try:
        return _consume(
            stream,
            connector,
            beat,
            _username_attribute(directory),
            base,
            directory.type,
            stored_users,
            values_only,
            stage,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise AgentError(
            "incomplete", f"{connector.name} sent a malformed record ({exc!r}); discarded"
        ) from exc
    finally:
        stream.close()


def _refused_watermark(exc: RequestRefused, body: dict) -> bool:
    """Whether the agent refused the request for its ``changes_since`` (an agent older
    than the watermark's kind, e.g. one without sync cookies, after an upgrade of some
    connectors): that connector reads in full instead of failing every sync."""
    return "changes_since" in body and "changes_since" in exc.detail


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
    else the first the directory returned; the others are skipped, named in the run.

    NeedFullRead when no contender holds the username and the read does not give the
    directory's order."""
    first: dict[str, str] = {}
    clashes: dict[str, list[str]] = defaultdict(list)
    for ext, values in received.users.items():
        username = values[1]
        # A lower-case ASCII username is its own fold: the dict holds the username itself,
        # not a folded copy of every one (a million users: about 60 MB; memory only).
        name = (
            username  # pragma: no mutate
            if username.isascii() and username.islower()  # pragma: no mutate
            else username.casefold()
        )
        holder = first.setdefault(name, ext)
        if holder != ext:
            clashes[name].append(ext)
    if not clashes:
        return
    candidates = [ext for name, exts in clashes.items() for ext in (first[name], *exts)]
    # Each contender's stored values (USER_COLUMNS), for those the store holds.
    stored: dict[str, tuple] = {}
    rows = DirectoryUser.objects.filter(directory=directory).order_by()
    for part in incremental.matching(rows, "external_id", candidates):
        for ext, *values in part.values_list("external_id", *USER_COLUMNS):
            stored[ext] = tuple(values)
    # The staged contenders' values, read from the stage at once (the losers among them
    # leave it below).
    staged = received.values_of(e for e in candidates if is_staged(received.users[e]))
    attribute = _username_attribute(directory)
    for name, exts in clashes.items():
        contenders = [first[name], *exts]
        winner = next(
            (e for e in contenders if e in stored and stored[e][1].casefold() == name), None
        )
        if winner is None:
            if not received.in_directory_order:
                raise incremental.NeedFullRead(
                    f"entries claim the username {name!r}, which none of them held: the one "
                    "the directory returns first keeps it, which only a full read says"
                )
            winner = contenders[0]
        winner_dn = received.users[winner][0]
        for ext in contenders:
            if ext == winner:
                continue
            values = received.users.pop(ext)
            if len(values) == KEPT:
                # Kept as the store holds it (incremental.KEPT_USER_VALUES), which never
                # happens to a loser while the store holds one user per username.
                if received.read_mode == ReadMode.INCREMENTAL:
                    # Read incrementally, it may have changed since: a full read decides.
                    raise incremental.NeedFullRead(
                        f"the stored user {values[0]} would lose its username"
                    )
                # Read in full with the stored fingerprint: its values are the stored ones.
                values = stored[ext]
            if ext in stored and received.consumed is not None:
                # Taken out of the stored users the read was given: deleted, as the
                # stored users it did not read are.
                received.dropped.append(ext)
            values = staged[ext] if ext in staged else user_values(values)
            received.user_fps.pop(ext, None)
            received.skipped_records.append(
                (ChangeKind.USER, ext, values[0], _user_record(ext, values))
            )
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
    if received.stage is not None:
        received.stage.discard(ext for ext in staged if ext not in received.users)


def _user_record(ext: str, values: tuple) -> dict:
    """What `_take_user` reads of the record a user's kept values came from (for a skipped
    entry kept for next time)."""
    return {"id": ext, **dict(zip(USER_COLUMNS, values, strict=True))}


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
    return None if ext is None else _id_text(ext)


def _id_text(ext: object) -> str:
    """A stable id as records carry it (text of 1 to 64 characters); ValueError if not."""
    if not isinstance(ext, str) or not 0 < len(ext) <= 64:
        raise ValueError(f"stable id {ext!r} is not an entryUUID/objectGUID")
    return ext


def _open_stream(connector: Connector, body: dict) -> client.SyncStream:
    """POST /sync; an agent still answering someone else (409) is waited for, within bounds."""
    deadline = time.monotonic() + settings.CONNECTOR_BUSY_WAIT
    while True:
        try:
            return client.SyncStream(
                connector.url,
                connector.secret,
                body,
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
    if reason != WarningReason.DUPLICATE_ID:
        # Kept for the next incremental read (an id listed twice makes that read full).
        received.skipped_records.append(
            (kind, ext if isinstance(ext, str) else "", dn, dict(record))
        )
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


def _take_user(
    received: Received,
    record: dict,
    username_attribute: str,
    stored: incremental.StoredUsers | None = None,
) -> None:
    """One user record into `received`, or into its skipped entries with the reason.

    With `stored` (the stored users `_keep_as_stored` gave `received`), the user is
    taken out of them and sorted (`_sort`): one whose fingerprint is the stored one is
    kept as the store would give it to an incremental read, its DN and username only
    (`incremental.KEPT_USER_VALUES`), the only values the plan reads of a user it does not
    write. A full resync of a million mostly unchanged users then holds a third of their
    values."""
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
    users = received.users
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
        fp = fingerprint(values)
        if stored is None:
            _hold(received, ext, _packed(values, fp), fp)
        else:
            _sort(received, ext, values, fp, stored.take(ext))


def _hold(received: Received, ext: str, held: tuple, fp: str) -> None:
    """Hold a user as `_packed` gave it: packed, else (a value with NUL) whole with its
    fingerprint."""
    received.users[ext] = held
    if len(held) != PACKED:
        received.user_fps[ext] = fp


def _sort(received: Received, ext: str, values: tuple, fp: str, old: str | None) -> None:
    """A user read once the stored users are known, `old` its stored fingerprint (None: a
    user the store does not hold): kept as stored when unchanged, else listed as added or
    updated and staged (held when there is no stage, or a value holds NUL)."""
    if old == fp:
        received.users[ext] = values[:KEPT]
        return
    (received.updated if old is not None else received.added).append(ext)
    held = _packed(values, fp)
    if received.stage is not None and len(held) == PACKED:
        received.stage.add(ext, values, fp, old is None)
        received.users[ext] = (*values[:KEPT], None)
    else:
        _hold(received, ext, held, fp)


def _keep_as_stored(
    received: Received, stored_users: Callable[[], incremental.StoredUsers | None]
) -> incremental.StoredUsers | None:
    """The stored users if `stored_users` gives them (they are loaded), else None. Once
    given, `received` holds them: the users read before are taken out of them and sorted
    as `_take_user` sorts those it reads after."""
    stored = stored_users()
    if stored is None:
        return None
    received.consumed = stored
    users, fps = received.users, received.user_fps
    for ext, values in users.items():
        fp = received.user_fp(ext)
        assert fp is not None
        fps.pop(ext, None)
        _sort(received, ext, user_values(values), fp, stored.take(ext))
    return stored


def _take_group(received: Received, record: dict, shared_dns: dict[str, str] | None = None) -> None:
    """One group record (with every member value) into `received`, or into its skipped
    entries with the reason.

    `shared_dns` maps the DNs of the users read before to themselves: a member value
    spelled as one of them is held as that DN's own string, not as a copy per group naming
    it, while the read goes on (memory only; `members.resolve` does the same for the
    values it matches, users read after the groups among them)."""
    groups = received.groups
    ext = _stable_id(record)
    dn, name = _dn(record), _text(record.get("name"), FIELD_LIMIT)
    member_values = record.get("members") or []
    if not isinstance(member_values, list):
        raise ValueError(f"members of {dn} are not a list")
    if shared_dns:
        member_values = [shared_dns.get(value, value) for value in member_values]
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
        received.group_fps[ext] = fingerprint((dn, name or dn))


class _Changes:
    """What an incremental read sends before its end: the listing (or the ids that left
    the scope) and the changed records."""

    def __init__(self, names_departures: bool) -> None:
        self.names_departures = names_departures
        self.listed: dict[str, list] = {"user": [], "group": []}
        self.departed: dict[str, set[str]] = {"user": set(), "group": set()}
        # Ids the departure records named, duplicates included (what the end announces).
        self.departures = {"user": 0, "group": 0}
        self.changed: dict[str, dict] = {"user": {}, "group": {}}

    def add_listing(self, record: dict) -> None:
        kind = record.get("kind")
        if kind not in self.listed:
            raise ValueError(f"presence record of kind {kind!r}")
        if self.names_departures:
            raise ValueError("a presence listing in a read that names departures")
        self.listed[kind] += incremental.listed_entries(record, MAX_LISTED)

    def add_departures(self, record: dict) -> None:
        kind = record.get("kind")
        if kind not in self.departed:
            raise ValueError(f"deleted record of kind {kind!r}")
        if not self.names_departures:
            raise ValueError("a deleted record in a read that lists every entry")
        ids = record.get("ids")
        if not isinstance(ids, list) or len(ids) > MAX_LISTED:
            raise ValueError("a deleted record's ids are not a list of at most a page")
        self.departed[kind].update(map(_id_text, ids))
        self.departures[kind] += len(ids)

    def change(self, kind: str, record: dict) -> None:
        changed = self.changed[kind]
        key = incremental.entry_key(record.get("id"), _dn(record))
        if key in changed:
            # A second record with one id is kept apart, so the full rules skip it as usual.
            key = (key, len(changed))
        changed[key] = record

    def values_only(
        self,
        received: Received,
        username_attribute: str,
        values_only: ValuesOnly,
        base: Waited[incremental.Base],
    ) -> bool:
        """Whether every change is to values of a stored user, any group sent being as
        stored (`incremental.values_only`); if so, `received` holds those users alone,
        what the store has of them and what is carried of the last sync, and nothing is
        merged. A listing read names no departure only when it lists what the store holds
        (`incremental.lists_the_store`)."""
        changed, groups = self.changed["user"], self.changed["group"]
        if not all(isinstance(key, str) for key in (*changed, *groups)):
            return False
        taken = Received()
        for record in changed.values():
            _take_user(taken, record, username_attribute)
        for record in groups.values():
            _take_group(taken, record)
        if taken.skipped:
            return False
        if not self.names_departures and not incremental.lists_the_store(
            base.result(), self.listed
        ):
            return False
        sent = {
            ext: (taken.group_fps[ext], incremental.members_digest(group[2]))
            for ext, group in taken.groups.items()
        }
        carried = values_only(taken.users, self.departed, sent)
        if carried is None:
            return False
        # The plan compares them with their stored rows alone (`Stored.of_changed`).
        received.users, received.user_fps = taken.users, taken.user_fps
        received.carried = carried
        return True

    def merge(self, received: Received, base: incremental.Base, username_attribute: str) -> None:
        def take_user(record: dict) -> None:
            _take_user(received, record, username_attribute)

        def take_group(record: dict) -> None:
            _take_group(received, record)

        if self.names_departures:
            # The store less what left or changed, then what sync skipped, then the changes.
            users = base.adopt("user", self.departed["user"], self.changed["user"])
            groups = base.adopt("group", self.departed["group"], self.changed["group"])
            received.users, received.user_fps = users[0], users[1]
            received.groups, received.group_fps = groups[0], groups[1]
            received.touched = {}
            for take, skipped, kind in (
                (take_user, users[2], "user"),
                (take_group, groups[2], "group"),
            ):
                touched = received.touched[kind] = set(self.departed[kind])
                for record in (*skipped, *self.changed[kind].values()):
                    ext = _stable_id(record)
                    if ext is not None:
                        touched.add(ext)
                    take(record)
            return

        def keep_user(ext: str, values: tuple, fp: str) -> None:
            received.users[ext] = values
            received.user_fps[ext] = fp

        def keep_group(ext: str, group: tuple[str, str, list[str]], fp: str) -> None:
            received.groups[ext] = group
            received.group_fps[ext] = fp

        incremental.merge_users(
            self.listed["user"], self.changed["user"], base, take_user, keep_user
        )
        incremental.merge_groups(
            self.listed["group"], self.changed["group"], base, take_group, keep_group
        )


def _watermark(value: Any, directory_type: str) -> dict | None:
    """The end record's watermark when it is one this agent protocol accepts back as
    `changes_since`; None (the next read is full) for anything else, so a bad watermark
    never makes the next sync's request one the agent refuses."""
    if value is None:
        return None
    try:
        return changes.check_changes_since(value, directory_type)
    except ValueError as exc:
        log.warning("ignoring a watermark the agent sent: %s", exc)
        return None


# Most entries one presence record may list (the agent sends at most a page).
MAX_LISTED = 100_000


def _consume(
    stream: client.SyncStream,
    connector: Connector,
    beat: Heartbeat,
    username_attribute: str,
    base: Waited[incremental.Base] | None = None,
    directory_type: str = DirectoryType.LDAP,
    stored_users: Callable[[], incremental.StoredUsers | None] | None = None,
    values_only: ValuesOnly | None = None,
    stage: UserStage | None = None,
) -> Received:
    """Read a /sync stream to its `end` record; with `base`, the agent may answer with an
    incremental read, which is merged with `base` into a complete read, unless
    `values_only` finds it changed values of stored users alone (a read that names its
    departures then never loads the base; a listing is compared with it). A full read
    asks `stored_users` for the stored users from its begin record, again every few
    hundred records until they are loaded, and takes out of them the users it reads
    (see `_take_user`); it stages in `stage` (emptied first) the users it may write."""
    if stage is not None:
        stage.reset()
    received = Received(stage=stage)
    stored: incremental.StoredUsers | None = None
    shared_dns: dict[str, str] | None = None
    began = False
    changes: _Changes | None = None
    count = 0
    sent = {"user": 0, "group": 0}
    for record in stream.records():
        kind = record.get("type")
        if kind == "user":
            sent["user"] += 1
            if changes is None:
                _take_user(received, record, username_attribute, stored)
            else:
                changes.change("user", record)
        elif kind == "group":
            sent["group"] += 1
            if changes is None:
                if shared_dns is None:
                    # Users come first: a million member values then cost one string per
                    # user, not per value (freed with the read, before the members are
                    # matched, whose lookup takes its memory).
                    shared_dns = {values[0]: values[0] for values in received.users.values()}
                _take_group(received, record, shared_dns)
            else:
                changes.change("group", record)
        elif kind == "present" or kind == "deleted":
            if changes is None:
                raise ValueError(f"a {kind} record in a full read")
            if kind == "present":
                changes.add_listing(record)
            else:
                changes.add_departures(record)
            if beat.lost:
                raise LeaseLost
            continue
        elif kind == "begin":
            if began:
                raise ValueError("a second begin record")
            began = True
            if record.get("read") == "incremental":
                if base is None:
                    raise AgentError(
                        "incomplete",
                        f"{connector.name} sent an incremental read that was not asked for",
                    )
                scope = record.get("scope", "listed")
                if scope not in ("listed", "deleted"):
                    raise ValueError(f"incremental read scope {scope!r}")
                changes = _Changes(names_departures=scope == "deleted")
                received.in_directory_order = not changes.names_departures
                received.read_mode = ReadMode.INCREMENTAL
                if not changes.names_departures or values_only is None:
                    # Loaded while the agent answers: the merge needs the whole store.
                    base.want()
            else:
                if base is not None:
                    base.want()
                    received.read_reason = _text(
                        record.get("reason") or "the agent read the directory in full", 1000
                    )
                if stored_users is not None:
                    stored = _keep_as_stored(received, stored_users)
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
            if changes is not None and changes.names_departures:
                named = (int(record["deleted_users"]), int(record["deleted_groups"]))
                if named != (changes.departures["user"], changes.departures["group"]):
                    raise AgentError(
                        "incomplete",
                        f"{connector.name} announced {named[0]} users and {named[1]} groups "
                        f"deleted but named {changes.departures['user']} and "
                        f"{changes.departures['group']}; the stream was discarded",
                    )
            elif changes is not None:
                listed = (
                    int(record.get("present_users", -1)),
                    int(record.get("present_groups", -1)),
                )
                if listed != (len(changes.listed["user"]), len(changes.listed["group"])):
                    raise AgentError(
                        "incomplete",
                        f"{connector.name} announced {listed[0]} users and {listed[1]} groups "
                        f"in scope but listed {len(changes.listed['user'])} and "
                        f"{len(changes.listed['group'])}; the stream was discarded",
                    )
            if changes is not None:
                assert base is not None
                if values_only is None or not changes.values_only(
                    received, username_attribute, values_only, base
                ):
                    changes.merge(received, base.result(), username_attribute)
            received.watermark = _watermark(record.get("watermark"), directory_type)
            beat.entries_received = count
            received.entries = count
            return received
        elif kind == "error":
            if changes is not None and record.get("code") == REFRESH_REQUIRED:
                raise incremental.NeedFullRead(_text(record.get("message"), 1000))
            raise AgentError(
                "directory_error",
                f"{connector.name} could not read the directory: "
                f"{record.get('message') or record.get('code') or 'unknown error'}",
            )
        else:
            continue
        count += 1
        if count & 255 == 0:
            if stored is None and stored_users is not None and changes is None and began:
                stored = _keep_as_stored(received, stored_users)
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
            stream = _open_stream(connector, request_body(directory))
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
