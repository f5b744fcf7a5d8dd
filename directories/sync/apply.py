"""Diff a complete read against the stored directory and apply it with bulk writes."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from django.db import connection
from django.utils import timezone

from connectors.protocol import dn as dnlib
from directories.models import (
    Directory,
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    GroupNesting,
)
from directories.sync import bulk
from directories.sync.fetch import USER_COLUMNS, Received
from synclog.choices import ChangeAction, ChangeKind
from synclog.models import SyncChange

GROUP_COLUMNS = ("dn", "name")


class SafeguardTripped(Exception):
    """The sync would change more than the directory's safeguards allow; nothing was written."""


@dataclass
class Counts:
    users_added: int = 0
    users_updated: int = 0
    users_deleted: int = 0
    groups_added: int = 0
    groups_updated: int = 0
    groups_deleted: int = 0
    memberships_added: int = 0
    memberships_removed: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Stored:
    """What the store holds for a directory, keyed by stable id (loaded before the apply)."""

    users: dict[str, tuple[int, str]]
    groups: dict[str, tuple[int, str]]
    members: set[tuple[str, str]]
    nesting: set[tuple[str, str]]

    @classmethod
    def load(cls, directory_id: int) -> Stored:
        users = {
            ext: (pk, fp)
            for ext, pk, fp in DirectoryUser.objects.filter(directory_id=directory_id)
            .order_by()
            .values_list("external_id", "pk", "fingerprint")
            .iterator(chunk_size=10_000)
        }
        groups = {
            ext: (pk, fp)
            for ext, pk, fp in DirectoryGroup.objects.filter(directory_id=directory_id)
            .order_by()
            .values_list("external_id", "pk", "fingerprint")
        }
        # Pairs of primary keys mapped back to stable ids: cheaper than joining in SQL.
        user_ext = {pk: ext for ext, (pk, _) in users.items()}
        group_ext = {pk: ext for ext, (pk, _) in groups.items()}
        members = {
            (group_ext[g], user_ext[u])
            for g, u in GroupMembership.objects.filter(group__directory_id=directory_id)
            .order_by()
            .values_list("group_id", "user_id")
            .iterator(chunk_size=10_000)
        }
        nesting = {
            (group_ext[p], group_ext[c])
            for p, c in GroupNesting.objects.filter(parent__directory_id=directory_id)
            .order_by()
            .values_list("parent_id", "child_id")
        }
        return cls(users, groups, members, nesting)


@dataclass
class _Diff:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def _diff(stored: dict[str, tuple[int, str]], incoming: dict[str, str]) -> _Diff:
    d = _Diff()
    for ext, fp in incoming.items():
        old = stored.get(ext)
        if old is None:
            d.added.append(ext)
        elif old[1] != fp:
            d.updated.append(ext)
    d.deleted = [ext for ext in stored if ext not in incoming]
    return d


def _check_safeguard(kind: str, changed: int, stored: int, percent: int) -> None:
    if not stored:
        return
    share = 100.0 * changed / stored
    if share > percent:
        raise SafeguardTripped(
            f"This sync would update or delete {changed} of {stored} {kind} ({share:.1f}%), "
            f"more than the {percent}% safeguard allows; nothing was changed. Raise the "
            f"safeguard on the Safeguards tab if the change is intended."
        )


def _old_values(model, ids: list[int], columns: tuple[str, ...]) -> dict[int, tuple]:
    out: dict[int, tuple] = {}
    for i in range(0, len(ids), 900):
        for row in model.objects.filter(pk__in=ids[i : i + 900]).values_list("pk", *columns):
            out[row[0]] = row[1:]
    return out


def _changed_fields(columns: tuple[str, ...], old: tuple, new: tuple) -> dict[str, Any]:
    return {c: [o, n] for c, o, n in zip(columns, old, new, strict=True) if o != n}


def _respelled(old: tuple, new: tuple) -> bool:
    """Only the DN's spelling changed (its first value); the entry is the same as before.

    Such updates are written (names are kept as the directory spells them) but do not
    count towards a safeguard: nothing anyone's access depends on changed.
    """
    if old[1:] != new[1:]:
        return False
    try:
        return dnlib.key(old[0]) == dnlib.key(new[0])
    except dnlib.InvalidDN:
        return False


def _counted(diff: _Diff, old: dict[int, tuple], stored: dict, new: dict) -> int:
    """Updates and deletions that count towards a safeguard."""
    respelled = sum(1 for ext in diff.updated if _respelled(old[stored[ext][0]], new[ext]))
    return len(diff.updated) - respelled + len(diff.deleted)


def apply(
    run_id: int,
    directory: Directory,
    received: Received,
    safeguards: bool,
    stored: Stored | None = None,
) -> Counts:
    """Write the difference; the caller wraps this in the transaction that finishes the run.

    `stored` may be loaded ahead (while the agent streams); the directory's running-sync
    claim keeps anyone else from writing it in between.
    """
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    counts = Counts()
    changes: list[tuple] = []
    if stored is None:
        stored = Stored.load(directory.pk)
    stored_users, stored_groups = stored.users, stored.groups
    user_fps, group_fps = received.user_fps, received.group_fps
    users = _diff(stored_users, user_fps)
    groups = _diff(stored_groups, group_fps)
    old_users = _old_values(
        DirectoryUser, [stored_users[e][0] for e in users.updated], USER_COLUMNS
    )
    new_groups = {ext: received.groups[ext][:2] for ext in groups.updated}
    old_groups = _old_values(
        DirectoryGroup, [stored_groups[e][0] for e in groups.updated], GROUP_COLUMNS
    )
    if safeguards:
        _check_safeguard(
            "users",
            _counted(users, old_users, stored_users, received.users),
            len(stored_users),
            directory.safeguard_users_percent,
        )
        _check_safeguard(
            "groups",
            _counted(groups, old_groups, stored_groups, new_groups),
            len(stored_groups),
            directory.safeguard_groups_percent,
        )

    # Memberships wanted, as (group id, member id) pairs of stable ids.
    want_members = received.resolution.members
    want_nesting = received.resolution.nesting
    have_members, have_nesting = stored.members, stored.nesting
    members_added = want_members - have_members
    members_removed = have_members - want_members
    nesting_added = want_nesting - have_nesting
    nesting_removed = have_nesting - want_nesting

    U, G = DirectoryUser._meta.db_table, DirectoryGroup._meta.db_table
    M, N = GroupMembership._meta.db_table, GroupNesting._meta.db_table

    # Removals first, so unique constraints never see an old and a new row together.
    deleted_user_ids = [stored_users[e][0] for e in users.deleted]
    deleted_group_ids = [stored_groups[e][0] for e in groups.deleted]
    gone_users, gone_groups = set(users.deleted), set(groups.deleted)
    removed_pairs = [
        (stored_groups[g][0], stored_users[u][0])
        for g, u in members_removed
        if g not in gone_groups and u not in gone_users
    ]
    removed_nest = [
        (stored_groups[p][0], stored_groups[c][0])
        for p, c in nesting_removed
        if p not in gone_groups and c not in gone_groups
    ]
    bulk.delete_pairs(M, "group_id", "user_id", removed_pairs)
    bulk.delete_pairs(N, "parent_id", "child_id", removed_nest)
    bulk.delete(M, "user_id", deleted_user_ids)
    bulk.delete(M, "group_id", deleted_group_ids)
    bulk.delete(N, "parent_id", deleted_group_ids)
    bulk.delete(N, "child_id", deleted_group_ids)

    if users.deleted:
        old = _old_values(DirectoryUser, deleted_user_ids, ("username", "dn"))
        for ext in users.deleted:
            name, dn = old[stored_users[ext][0]]
            changes.append((run_id, ChangeKind.USER, ChangeAction.DELETED, ext, name, dn, "{}"))
        bulk.delete(U, "id", deleted_user_ids)
    if groups.deleted:
        old = _old_values(DirectoryGroup, deleted_group_ids, ("name", "dn"))
        for ext in groups.deleted:
            name, dn = old[stored_groups[ext][0]]
            changes.append((run_id, ChangeKind.GROUP, ChangeAction.DELETED, ext, name, dn, "{}"))
        bulk.delete(G, "id", deleted_group_ids)

    if users.updated:
        ids = [stored_users[e][0] for e in users.updated]
        rows = []
        for ext, pk in zip(users.updated, ids, strict=True):
            new = received.users[ext]
            rows.append((pk, *new, user_fps[ext], now))
            details = _changed_fields(USER_COLUMNS, old_users[pk], new)
            changes.append(
                (
                    run_id,
                    ChangeKind.USER,
                    ChangeAction.UPDATED,
                    ext,
                    new[1],
                    new[0],
                    json.dumps(details),
                )
            )
        bulk.update(U, (*USER_COLUMNS, "fingerprint", "synced_at"), rows)

    # Per group: how many members (users or subgroups) it gained and lost.
    group_member_delta = Counter(g for g, _ in chain(members_added, nesting_added))
    group_member_loss = Counter(g for g, _ in chain(members_removed, nesting_removed))

    updated_groups = set(groups.updated)
    membership_only = {
        g
        for g in (group_member_delta.keys() | group_member_loss.keys())
        if g in stored_groups and g not in gone_groups and g not in updated_groups
    }
    if groups.updated:
        ids = [stored_groups[e][0] for e in groups.updated]
        rows = []
        for ext, pk in zip(groups.updated, ids, strict=True):
            dn, name, _members = received.groups[ext]
            rows.append((pk, dn, name, group_fps[ext], now))
            details = _changed_fields(GROUP_COLUMNS, old_groups[pk], (dn, name))
            details.update(_member_details(ext, group_member_delta, group_member_loss))
            changes.append(
                (run_id, ChangeKind.GROUP, ChangeAction.UPDATED, ext, name, dn, json.dumps(details))
            )
        bulk.update(G, (*GROUP_COLUMNS, "fingerprint", "synced_at"), rows)
    for ext in sorted(membership_only):
        dn, name, _members = received.groups[ext]
        details = _member_details(ext, group_member_delta, group_member_loss)
        changes.append(
            (run_id, ChangeKind.GROUP, ChangeAction.UPDATED, ext, name, dn, json.dumps(details))
        )

    if users.added:
        bulk.insert(
            U,
            ("directory_id", "external_id", *USER_COLUMNS, "fingerprint", "synced_at"),
            ((directory.pk, ext, *received.users[ext], user_fps[ext], now) for ext in users.added),
        )
        for ext in users.added:
            values = received.users[ext]
            changes.append(
                (run_id, ChangeKind.USER, ChangeAction.ADDED, ext, values[1], values[0], "{}")
            )
    if groups.added:
        bulk.insert(
            G,
            ("directory_id", "external_id", *GROUP_COLUMNS, "fingerprint", "synced_at"),
            (
                (directory.pk, ext, *received.groups[ext][:2], group_fps[ext], now)
                for ext in groups.added
            ),
        )
        for ext in groups.added:
            dn, name, _members = received.groups[ext]
            details = {"members": group_member_delta.get(ext, 0)}
            changes.append(
                (run_id, ChangeKind.GROUP, ChangeAction.ADDED, ext, name, dn, json.dumps(details))
            )

    if members_added or nesting_added:
        user_ids = (
            dict(DirectoryUser.objects.filter(directory=directory).values_list("external_id", "pk"))
            if users.added
            else {e: v[0] for e, v in stored_users.items()}
        )
        group_ids = (
            dict(
                DirectoryGroup.objects.filter(directory=directory).values_list("external_id", "pk")
            )
            if groups.added
            else {e: v[0] for e, v in stored_groups.items()}
        )
        bulk.insert(
            M, ("group_id", "user_id"), ((group_ids[g], user_ids[u]) for g, u in members_added)
        )
        bulk.insert(
            N, ("parent_id", "child_id"), ((group_ids[p], group_ids[c]) for p, c in nesting_added)
        )

    bulk.insert(
        SyncChange._meta.db_table,
        ("run_id", "kind", "action", "external_id", "name", "dn", "details"),
        changes,
    )
    counts.users_added, counts.users_updated = len(users.added), len(users.updated)
    counts.users_deleted = len(users.deleted)
    counts.groups_added = len(groups.added)
    counts.groups_updated = len(groups.updated) + len(membership_only)
    counts.groups_deleted = len(groups.deleted)
    counts.memberships_added = len(members_added) + len(nesting_added)
    counts.memberships_removed = len(members_removed) + len(nesting_removed)
    return counts


def _member_details(ext: str, added: Counter, removed: Counter) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if added.get(ext):
        out["members_added"] = added[ext]
    if removed.get(ext):
        out["members_removed"] = removed[ext]
    return out
