"""Incremental reads: when a sync may read only what changed, and how what changed plus
what the store holds becomes the same complete read a full read would have given.

The agent sends a listing of every entry in scope (stable id and DN), or where the server
can name them (RFC 4533 content synchronization) the ids of the entries that left the
scope, and the records of the entries changed since the last completed sync's watermark.
Named departures stand for the listing: the store less those ids (`Base.adopt`). Every
listed entry that did not change is taken from the store as that sync wrote it: users
with their values, groups with the member values the directory sent then, and entries
that sync skipped as the agent sent them. Anything that does not add up (an entry listed
that is neither read nor stored, a DN that moved without a change, an id listed twice)
makes the worker read the directory in full instead: an incremental read is a shortcut
to the result of a full read, never a different result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import orjson
from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from directories.models import Directory, DirectoryGroup, DirectoryUser, SkippedEntry
from directories.sync.columns import USER_COLUMNS
from synclog.choices import ReadMode, RunStatus, Trigger, WarningReason
from synclog.models import SyncRun

T = TypeVar("T")

# Part of every watermark's scope digest: a change to how records are kept reads in full.
FORMAT = 1

# What is kept of a user that did not change: the plan reads no other value of it (a user
# whose values change comes as its record; a kept one is never written, since its
# fingerprint is the store's, and it keeps its username against any newcomer).
KEPT_USER_VALUES = USER_COLUMNS[:2]  # the DN and the username


class NeedFullRead(Exception):
    """The incremental read cannot stand for a full one; the message says why."""


def members_digest(values: Iterable[str]) -> str:
    """Digest of a group's member values as sent, in order."""
    return hashlib.md5(orjson.dumps(list(values)), usedforsecurity=False).hexdigest()


def scope_digest(body: dict[str, Any]) -> str:
    """Digest of what decides which entries a read returns and what they hold.

    The password, the timeouts and the page size do not change the entries; the server,
    the bind DN (its access rights), the DNs, the filters and the mapped attributes do.
    """
    connection = body["connection"]
    kept = {
        "format": FORMAT,
        "type": body["directory"]["type"],
        "server": [connection["host"], connection["port"], connection["base_dn"]],
        "bind_dn": connection["bind_dn"],
        "users": body["users"],
        "groups": body["groups"],
        "mapped_attributes": body["mapped_attributes"],
    }
    encoded = orjson.dumps(kept, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(encoded).hexdigest()


@dataclass(frozen=True)
class ReadChoice:
    """What to ask the agent for: `changes_since` (None: a full read) and, for a full
    read, why."""

    changes_since: dict[str, Any] | None
    reason: str
    # The completed sync the changes are read since (`values_only`).
    base_run_id: int | None = None


def _base_run(directory: Directory) -> SyncRun | None:
    """The last sync that wrote the store (a review or a stopped sync writes nothing)."""
    return (
        SyncRun.objects.filter(directory=directory, status=RunStatus.COMPLETED)
        .exclude(trigger=Trigger.REVIEW)
        .order_by("-finished_at", "-pk")
        .first()
    )


def choose_read(directory: Directory, body: dict[str, Any]) -> ReadChoice:
    """Whether the next read of `directory` may be incremental (one owner of that rule).

    In full: the first sync; after a sync that left no watermark or found entries that
    share an id; when the server, bind DN, DNs, filters or mapped attributes changed
    since; when the store does not keep every group's member values yet; and when the
    last full read is older than SYNC_FULL_READ_HOURS.
    """
    base = _base_run(directory)
    if base is None:
        return ReadChoice(None, "first sync")
    watermark = base.read_watermark or {}
    if not watermark.get("agent"):
        return ReadChoice(None, "the last sync left no watermark to read changes from")
    if (base.warning_counts or {}).get(WarningReason.DUPLICATE_ID):
        # A listing cannot tell such entries apart: every incremental read would fall back.
        return ReadChoice(None, "the last sync found entries that share one id")
    if watermark.get("scope") != scope_digest(body):
        return ReadChoice(
            None, "the server, bind DN, DNs, filters or mapped attributes changed since"
        )
    hours = settings.SYNC_FULL_READ_HOURS
    last_full = (
        SyncRun.objects.filter(
            directory=directory, status=RunStatus.COMPLETED, read_mode=ReadMode.FULL
        )
        .exclude(trigger=Trigger.REVIEW)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    if last_full is None or last_full < timezone.now() - timedelta(hours=hours):
        return ReadChoice(None, f"a full read is due every {hours:g} hours")
    if DirectoryGroup.objects.filter(directory=directory, member_values=None).exists():
        return ReadChoice(None, "the store does not keep every group's member values yet")
    return ReadChoice(dict(watermark["agent"]), "", base.pk)


def _shrink_below(size: int) -> int:
    """Stored users held in a table sized for `size` move to a smaller one when fewer than
    a quarter are left, if there were a few thousand (memory only)."""
    return size // 4 if size >= 4096 else -1  # pragma: no mutate


class StoredUsers(dict[str, str]):
    """Each stored user's fingerprint by stable id, as a full read is given them: it takes
    out each user it reads (`take`), so at its end they hold the users it did not read,
    and the memory of those it did is freed while it reads (a million users' ids and
    fingerprints are never held beside the read's own)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        # How many users `take` took out.
        self.taken = 0
        # Below this many users left, they move to a table their size: a dict keeps its
        # table as entries leave (a million users' table, 31 MB, would outlive them). Set
        # by the first `take`, once the users are all in (`Base.load` adds them one by one).
        self._shrink_below: int | None = None

    def take(self, ext: str) -> str | None:
        """The stored fingerprint of `ext`, taken out; None when the store holds no such
        user. Once three quarters of the users the table was sized for are out, the rest
        move to a table their size."""
        if self._shrink_below is None:
            self._shrink_below = _shrink_below(len(self))
        fp = self.pop(ext, None)
        if fp is not None:
            self.taken += 1
            if len(self) < self._shrink_below:
                rest = dict(self)
                self.clear()
                self.update(rest)
                self._shrink_below = _shrink_below(len(self))
        return fp

    @property
    def total(self) -> int:
        """How many users the store holds: those taken out and those left."""
        return len(self) + self.taken


@dataclass
class Base:
    """The store as the last completed sync left it, keyed by stable id."""

    # Stable id -> (DN, username): KEPT_USER_VALUES.
    users: dict[str, tuple] = field(default_factory=dict)
    user_fps: dict[str, str] = field(default_factory=dict)
    groups: dict[str, tuple[str, str, list[str] | None]] = field(default_factory=dict)
    group_fps: dict[str, str] = field(default_factory=dict)
    # (kind, stable id or ("dn", DN)) -> the record as the agent sent it.
    skipped: dict[tuple[str, Any], dict] = field(default_factory=dict)
    # Read from the same rows for the plan's view of the store (`plan.Stored.load`), which
    # then takes them: each user's fingerprint and each group's (primary key, fingerprint)
    # by stable id, and each group's member digest and users digest.
    stored_users: StoredUsers = field(default_factory=StoredUsers)
    stored_groups: dict[str, tuple[int, str]] = field(default_factory=dict)
    group_digests: dict[str, str] = field(default_factory=dict)
    users_digests: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, directory_id: int) -> Base:
        base = cls()
        users, user_fps, stored = base.users, base.user_fps, base.stored_users
        for ext, fp, dn, username in (
            DirectoryUser.objects.filter(directory_id=directory_id)
            .order_by()
            .values_list("external_id", "fingerprint", *KEPT_USER_VALUES)
            .iterator(chunk_size=10_000)
        ):
            users[ext] = (dn, username)
            user_fps[ext] = fp
            stored[ext] = fp
        for ext, pk, fp, dn, name, member_values, digest, users_digest in (
            DirectoryGroup.objects.filter(directory_id=directory_id)
            .order_by()
            .values_list(
                "external_id",
                "pk",
                "fingerprint",
                "dn",
                "name",
                "member_values",
                "members_digest",
                "users_digest",
            )
            .iterator(chunk_size=2_000)
        ):
            base.groups[ext] = (dn, name, member_values)
            base.group_fps[ext] = fp
            base.stored_groups[ext] = (pk, fp)
            base.group_digests[ext] = digest
            base.users_digests[ext] = users_digest
        for kind, ext, dn, record in SkippedEntry.objects.filter(
            directory_id=directory_id
        ).values_list("kind", "external_id", "dn", "record"):
            base.skipped[(kind, ext or ("dn", dn))] = record
        return base

    def adopt(
        self, kind: str, departed: set[str], changed: dict[Any, dict]
    ) -> tuple[dict, dict, list[dict]]:
        """What a read that names departures keeps of `kind`: the stored entries and their
        fingerprints less those that left the scope or changed (the base's own dicts,
        handed over: the base is not used afterwards), and the records of the entries
        that sync skipped, to be taken again. The directory's order is not kept.

        NeedFullRead for an entry skipped for want of an id (nothing names its
        departure) and for a group whose member values are not kept yet."""
        entries, fps = (
            (self.users, self.user_fps) if kind == "user" else (self.groups, self.group_fps)
        )
        for ext in (*departed, *(key for key in changed if isinstance(key, str))):
            entries.pop(ext, None)
            fps.pop(ext, None)
        if kind == "group":
            for dn, _, member_values in entries.values():
                if member_values is None:
                    raise NeedFullRead(f"the member values of {dn} are not kept yet")
        skipped = []
        for (skipped_kind, key), record in self.skipped.items():
            if skipped_kind != kind or key in departed or key in changed:
                continue
            if not isinstance(key, str):
                raise NeedFullRead(f"{record.get('dn')} has no id to follow it by")
            skipped.append(record)
        return entries, fps, skipped

    def want(self) -> None:
        """Loaded already (a :class:`~directories.sync.background.Loading` of it starts)."""

    def result(self) -> Base:
        """The base itself (a :class:`~directories.sync.background.Loading` of it waits)."""
        return self


@dataclass(frozen=True)
class Carried:
    """A read of changed values alone (`values_only`): the changed users' (primary key,
    fingerprint, values in `USER_COLUMNS` order) in the store, and what it keeps of the
    sync it reads since beside that sync's memberships and skipped entries: its warnings
    (listed rows and counts)."""

    stored_users: dict[str, tuple[int, str, tuple]]
    run_id: int
    unresolved_references: int
    skipped_entries: int
    warning_counts: dict[str, int]


def values_only(
    directory_id: int,
    run_id: int,
    users: dict[str, tuple],
    departed: dict[str, set[str]],
    groups: dict[str, tuple[str, str]],
) -> Carried | None:
    """For an incremental read that named its departures (`departed`, by kind; none for a
    listing that names what the store holds, `lists_the_store`) and whose changed records
    are `users` (taken, none skipped) and `groups` ((fingerprint, member values' digest)
    by id: Active Directory sends every group again): when every user is
    stored with the DN and username it still has, every group is stored as it is sent,
    and no stored or skipped entry left the scope, the users' stored rows and what the
    read keeps of run `run_id`, the completed sync it reads since. Else None: the changes
    are merged with the whole store (`Base`).

    Nothing a membership, a skipped entry or a warning depends on changed then, so they
    are that sync's: member values resolve by DN, the username rule reads usernames, and
    every other entry is as that sync left it. (slapd names an entry changed outside a
    search base among that base's departures: such ids, stored as nothing of that kind,
    change nothing.) Not when that sync skipped an entry it cannot follow by id (nothing
    would name its departure; `Base.adopt`)."""
    run = (
        SyncRun.objects.filter(pk=run_id)
        .values_list("unresolved_references", "skipped_entries", "warning_counts")
        .first()
    )
    if run is None:
        return None
    if SkippedEntry.objects.filter(directory_id=directory_id, external_id="").exists():
        return None
    if not _stored_as_sent(directory_id, groups):
        return None
    gone = {"user": departed["user"] - users.keys(), "group": departed["group"]}
    for model, kind in ((DirectoryUser, "user"), (DirectoryGroup, "group")):
        if _any_of(model.objects.filter(directory_id=directory_id), gone[kind]):
            return None
        skipped = SkippedEntry.objects.filter(directory_id=directory_id, kind=kind)
        if _any_of(skipped, gone[kind]):
            return None
    # With their stored values, read here once for the plan (an update's changed fields).
    stored: dict[str, tuple[int, str, tuple]] = {}
    rows = DirectoryUser.objects.filter(directory_id=directory_id).order_by()
    kept = len(KEPT_USER_VALUES)
    for part in matching(rows, "external_id", users):
        for ext, pk, fp, *values in part.values_list(
            "external_id", "pk", "fingerprint", *USER_COLUMNS
        ):
            if tuple(values[:kept]) != users[ext][:kept]:
                return None
            stored[ext] = (pk, fp, tuple(values))
    if len(stored) != len(users):
        return None
    unresolved, skipped_entries, counts = run
    return Carried(stored, run_id, unresolved, skipped_entries, dict(counts or {}))


def _stored_as_sent(directory_id: int, groups: dict[str, tuple[str, str]]) -> bool:
    """Whether each group is stored with the fingerprint and member values' digest given."""
    found = 0
    rows = DirectoryGroup.objects.filter(directory_id=directory_id)
    for part in matching(rows, "external_id", groups):
        for ext, *stored in part.values_list("external_id", "fingerprint", "members_digest"):
            if tuple(stored) != groups[ext]:
                return False
            found += 1
    return found == len(groups)


def lists_the_store(base: Base, listed: dict[str, list[tuple[Any, str]]]) -> bool:
    """Whether a listing of every entry in scope (`listed`, by kind) names exactly the
    entries `base` holds, stored or skipped, each once and under the DN it has there.

    Then nothing left the scope, came into it unseen or was renamed along with its
    container since that sync: a listing read stands for no departure (`values_only`).
    Not when an entry has no id (nothing would follow it)."""
    for kind, held in (("user", base.users), ("group", base.groups)):
        skipped = {key: record.get("dn") for (k, key), record in base.skipped.items() if k == kind}
        entries = listed[kind]
        if len(entries) != len(held) + len(skipped):
            return False
        seen: set[str] = set()
        for ext, dn in entries:
            if not isinstance(ext, str) or ext in seen:
                return False
            seen.add(ext)
            entry = held.get(ext)
            if (skipped.get(ext) if entry is None else entry[0]) != dn:
                return False
    return True


def _any_of(rows: QuerySet, ids: set[str]) -> bool:
    """Whether any of `rows` has one of `ids` as its stable id."""
    return any(part.exists() for part in matching(rows, "external_id", ids))


def matching(rows: QuerySet, field: str, ids: Iterable[Any]) -> Iterator[QuerySet]:
    """`rows` whose `field` is one of `ids`, in as few lookups as the database takes: one
    on PostgreSQL (an array, `lookups.AnyOf`), one per LOOKUP_CHUNK ids elsewhere. None
    for no ids; each row once, whatever `ids` repeats."""
    every = list(dict.fromkeys(ids))
    if connection.vendor == "postgresql":
        if every:
            yield rows.filter(**{f"{field}__any_of": every})
        return
    for chunk in chunks(every):
        yield rows.filter(**{f"{field}__in": chunk})


# Ids per lookup: SQLite takes at most 999 variables in a statement.
LOOKUP_CHUNK = 900


def chunks(ids: Iterable[T]) -> Iterator[list[T]]:
    """`ids` in lists of at most LOOKUP_CHUNK (one lookup's worth)."""
    every = list(ids)
    for start in range(0, len(every), LOOKUP_CHUNK):
        yield every[start : start + LOOKUP_CHUNK]


def entry_key(ext: Any, dn: str) -> Any:
    """How a listed or read entry is known: its stable id, else its DN."""
    return ext if isinstance(ext, str) and ext else ("dn", dn)


def merge_users(
    listed: list[tuple[Any, str]],
    changed: dict[Any, dict],
    base: Base,
    take: Callable[[dict], None],
    keep: Callable[[str, tuple, str], None],
) -> None:
    """Every listed user, in the directory's order: its new record when it changed, else
    what the store holds (`keep(id, values, fingerprint)`), else the record a sync skipped.

    Changed entries missing from the listing were created after it passed them: they are
    taken too, last.
    """
    seen: set[Any] = set()
    for ext, dn in listed:
        key = entry_key(ext, dn)
        if key in seen:
            raise NeedFullRead(f"two user entries in scope have the id {ext}")
        seen.add(key)
        record = changed.pop(key, None)
        if record is not None:
            take(record)
            continue
        values = base.users.get(key)  # stored users are keyed by their ids alone
        if values is not None:
            if values[0] != dn:
                raise NeedFullRead(f"{dn} moved or was renamed without a change to read")
            keep(key, values, base.user_fps[key])
            continue
        record = base.skipped.get(("user", key))
        if record is not None and record.get("dn") == dn:
            take(record)
            continue
        raise NeedFullRead(f"{dn} is in scope but was neither read nor synced before")
    for record in changed.values():
        take(record)


def merge_groups(
    listed: list[tuple[Any, str]],
    changed: dict[Any, dict],
    base: Base,
    take: Callable[[dict], None],
    keep: Callable[[str, tuple[str, str, list[str]], str], None],
) -> None:
    """As :func:`merge_users`, for groups: an unchanged group keeps its DN, name and the
    member values the directory sent when it last changed."""
    seen: set[Any] = set()
    for ext, dn in listed:
        key = entry_key(ext, dn)
        if key in seen:
            raise NeedFullRead(f"two group entries in scope have the id {ext}")
        seen.add(key)
        record = changed.pop(key, None)
        if record is not None:
            take(record)
            continue
        stored = base.groups.get(key)
        if stored is not None:
            stored_dn, name, member_values = stored
            if stored_dn != dn:
                raise NeedFullRead(f"{dn} moved or was renamed without a change to read")
            if member_values is None:
                raise NeedFullRead(f"the member values of {dn} are not kept yet")
            keep(key, (stored_dn, name, list(member_values)), base.group_fps[key])
            continue
        record = base.skipped.get(("group", key))
        if record is not None and record.get("dn") == dn:
            take(record)
            continue
        raise NeedFullRead(f"{dn} is in scope but was neither read nor synced before")
    for record in changed.values():
        take(record)


def listed_entries(record: dict, limit: int) -> list[tuple[Any, str]]:
    """The (id, DN) pairs of one ``present`` record; ValueError when malformed."""
    entries = record.get("entries")
    if not isinstance(entries, list) or len(entries) > limit:
        raise ValueError("a presence record's entries are not a list of at most a page")
    out = []
    for item in entries:
        if not isinstance(item, list) or len(item) != 2:
            raise ValueError(f"presence entry {item!r} is not an [id, DN] pair")
        ext, dn = item
        if not isinstance(dn, str) or not dn or (ext is not None and not isinstance(ext, str)):
            raise ValueError(f"presence entry {item!r} is not an [id, DN] pair")
        out.append((ext or None, dn))
    return out
