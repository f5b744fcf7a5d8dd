"""Writing a sync plan to the store with bulk statements, and its Sync Details rows.

The caller runs `write` inside the transaction that finishes the run, after checking the
plan's safeguard verdict. A review records `change_rows` of its plan and writes nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from functools import partial
from itertools import chain
from typing import Any

import orjson
from django.db import connection, transaction
from django.utils import timezone

from directories import search
from directories.models import (
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    GroupNesting,
    SkippedEntry,
)
from directories.sync import bulk
from directories.sync.fetch import USER_COLUMNS, is_staged, user_values
from directories.sync.membership_changes import membership_rows
from directories.sync.plan import GROUP_COLUMNS, Counts, Plan, old_values
from directories.sync.stage import UserStage
from synclog.choices import ChangeAction, ChangeKind
from synclog.models import SyncChange


def _changed_fields(columns: tuple[str, ...], old: tuple, new: tuple) -> dict[str, Any]:
    return {c: [o, n] for c, o, n in zip(columns, old, new, strict=True) if o != n}


def change_rows(plan: Plan, run_id: int) -> Iterable[tuple]:
    """The Sync Details rows of `plan`: one per user or group it adds, updates or deletes,
    and one per member that joins or leaves a group.

    Reads the store only, so a review records the very rows a sync of the same plan would.
    Everything read from the store is read before this returns (a sync deletes rows
    next); the rows of added entries, which need nothing stored and are most of a first
    sync, are made only as they are recorded, so a million of them are never held at once.
    """
    received, stored = plan.received, plan.stored
    stored_groups = stored.groups
    users, groups = plan.users, plan.groups
    pks = stored.user_pks(chain(users.deleted, users.updated))
    changes: list[tuple] = []
    if users.deleted:
        ids = [pks[e] for e in users.deleted]
        old = old_values(DirectoryUser, ids, ("username", "dn"))
        for ext in users.deleted:
            name, dn = old[pks[ext]]
            changes.append((run_id, ChangeKind.USER, ChangeAction.DELETED, ext, name, dn, "{}"))
    if groups.deleted:
        ids = [stored_groups[e][0] for e in groups.deleted]
        old = old_values(DirectoryGroup, ids, ("name", "dn"))
        for ext in groups.deleted:
            name, dn = old[stored_groups[ext][0]]
            changes.append((run_id, ChangeKind.GROUP, ChangeAction.DELETED, ext, name, dn, "{}"))
    for ext in users.updated:
        new = plan.new_users[ext]
        details = _changed_fields(USER_COLUMNS, plan.old_users[pks[ext]], new)
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
    for ext in groups.updated:
        dn, name, _members = received.groups[ext]
        details = _changed_fields(GROUP_COLUMNS, plan.old_groups[stored_groups[ext][0]], (dn, name))
        details.update(plan.member_details(ext))
        changes.append(
            (run_id, ChangeKind.GROUP, ChangeAction.UPDATED, ext, name, dn, json.dumps(details))
        )
    for ext in sorted(plan.membership_only):
        dn, name, _members = received.groups[ext]
        details = plan.member_details(ext)
        changes.append(
            (run_id, ChangeKind.GROUP, ChangeAction.UPDATED, ext, name, dn, json.dumps(details))
        )
    return chain(changes, _added_rows(plan, run_id), membership_rows(plan, run_id))


def _added_rows(plan: Plan, run_id: int) -> Iterator[tuple]:
    received = plan.received
    for ext in plan.users.added:
        values = received.users[ext]
        yield (run_id, ChangeKind.USER, ChangeAction.ADDED, ext, values[1], values[0], "{}")
    for ext in plan.groups.added:
        dn, name, _members = received.groups[ext]
        details = {"members": plan.member_gain.get(ext, 0)}
        yield (run_id, ChangeKind.GROUP, ChangeAction.ADDED, ext, name, dn, json.dumps(details))


def record_changes(changes: Iterable[tuple]) -> None:
    bulk.insert(
        SyncChange._meta.db_table,
        ("run_id", "kind", "action", "external_id", "name", "dn", "details"),
        changes,
    )


def write(plan: Plan, run_id: int) -> Counts:
    """Apply `plan` and record each change against `run_id`; returns the plan's counts."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    received, stored = plan.received, plan.stored
    stored_groups = stored.groups
    user_fp, group_fps = received.user_fp, received.group_fps
    users, groups = plan.users, plan.groups
    directory_id = plan.directory_id
    # Read before anything is removed: deleted rows' names come from the store.
    changes = change_rows(plan, run_id)

    U, G = DirectoryUser._meta.db_table, DirectoryGroup._meta.db_table
    M, N = GroupMembership._meta.db_table, GroupNesting._meta.db_table

    # Removals first, so unique constraints never see an old and a new row together.
    gone_users, gone_groups = set(users.deleted), set(groups.deleted)
    removed = [
        (g, u) for g, u in plan.members_removed if g not in gone_groups and u not in gone_users
    ]
    pks = stored.user_pks(chain(users.deleted, users.updated, (u for _, u in removed)))
    deleted_user_ids = [pks[e] for e in users.deleted]
    deleted_group_ids = [stored_groups[e][0] for e in groups.deleted]
    removed_pairs = [(stored_groups[g][0], pks[u]) for g, u in removed]
    removed_nest = [
        (stored_groups[p][0], stored_groups[c][0])
        for p, c in plan.nesting_removed
        if p not in gone_groups and c not in gone_groups
    ]
    bulk.delete_pairs(M, "group_id", "user_id", removed_pairs)
    bulk.delete_pairs(N, "parent_id", "child_id", removed_nest)
    bulk.delete(M, "user_id", deleted_user_ids)
    bulk.delete(M, "group_id", deleted_group_ids)
    bulk.delete(N, "parent_id", deleted_group_ids)
    bulk.delete(N, "child_id", deleted_group_ids)
    if users.deleted:
        bulk.delete(U, "id", deleted_user_ids)
    if groups.deleted:
        bulk.delete(G, "id", deleted_group_ids)

    # The users written come from the stage, set-based: the read staged most of them as
    # they arrived (`fetch._take_user`); the others (an incremental read's, or read before
    # the store was known) join them here. A row the fingerprint calls unchanged keeps its
    # search text (folded on staging), and every change to a folded field changes the
    # fingerprint.
    stage = received.stage or UserStage()
    try:
        for new, exts in ((False, users.updated), (True, users.added)):
            for ext in exts:
                held = received.users[ext]
                if not is_staged(held):
                    fp = user_fp(ext)
                    assert fp is not None
                    stage.add(ext, user_values(held), fp, new)
        stage.write(directory_id, now, [pks[e] for e in users.updated], len(users.added))
    finally:
        if received.stage is None:
            stage.close()
    digests, users_digests = plan.member_digests, plan.users_digests
    if groups.updated:
        rows = [
            (
                stored_groups[ext][0],
                *received.groups[ext][:2],
                search.group_text(received.groups[ext][1]),
                group_fps[ext],
                now,
                _json(received.groups[ext][2]),
                digests[ext],
                users_digests[ext],
            )
            for ext in groups.updated
        ]
        bulk.update(
            G,
            (*GROUP_COLUMNS, "search_text", "fingerprint", "synced_at", *KEPT, USERS_DIGEST),
            rows,
        )
    if plan.member_values_rewritten:
        rewritten = [
            (stored_groups[ext][0], _json(received.groups[ext][2]), digests[ext])
            for ext in plan.member_values_rewritten
        ]
        bulk.update(G, KEPT, rewritten)
    if plan.users_digests_rewritten:
        bulk.update(
            G,
            (USERS_DIGEST,),
            [(stored_groups[e][0], users_digests[e]) for e in plan.users_digests_rewritten],
        )

    if groups.added:
        bulk.insert(
            G,
            (
                "directory_id",
                "external_id",
                *GROUP_COLUMNS,
                "search_text",
                "fingerprint",
                "synced_at",
                *KEPT,
                USERS_DIGEST,
            ),
            (
                (
                    directory_id,
                    ext,
                    *received.groups[ext][:2],
                    search.group_text(received.groups[ext][1]),
                    group_fps[ext],
                    now,
                    _json(received.groups[ext][2]),
                    digests[ext],
                    users_digests[ext],
                )
                for ext in groups.added
            ),
        )

    if plan.members_added or plan.nesting_added:
        group_ids = (
            dict(
                DirectoryGroup.objects.filter(directory_id=directory_id).values_list(
                    "external_id", "pk"
                )
            )
            if groups.added
            else {e: v[0] for e, v in stored_groups.items()}
        )
        # Users are held without their ids: memberships name them by stable id and the
        # database finds the ids (a million users' ids are never held in the worker), in
        # the users' order: checking each row's user (its foreign key) then reads the
        # users' pages one after the other instead of all over the table.
        bulk.insert_by_external_id(
            M,
            ("group_id", "user_id"),
            U,
            directory_id,
            ((group_ids[g], u) for g, u in plan.members_added),
        )
        bulk.insert(
            N,
            ("parent_id", "child_id"),
            ((group_ids[p], group_ids[c]) for p, c in plan.nesting_added),
        )

    if received.carried is None:
        # A read of changed values alone skipped nothing new: the last sync's stand.
        _keep_skipped(directory_id, received.skipped_records)
    record_changes(changes)
    # Once the sync is committed (its run finished): the next one is planned by them.
    transaction.on_commit(partial(bulk.analyze_reshaped, _rows_changed(plan)), robust=True)
    return plan.counts


def _rows_changed(plan: Plan) -> dict[str, int]:
    """How many rows the plan adds to or removes from each table of the store."""
    return {
        DirectoryUser._meta.db_table: len(plan.users.added) + len(plan.users.deleted),
        DirectoryGroup._meta.db_table: len(plan.groups.added) + len(plan.groups.deleted),
        GroupMembership._meta.db_table: len(plan.members_added) + len(plan.members_removed),
        GroupNesting._meta.db_table: len(plan.nesting_added) + len(plan.nesting_removed),
    }


# A group's member values as the directory sent them, and their digest (incremental reads).
KEPT = ("member_values", "members_digest")
# Written with a group's memberships (`plan.users_digest`).
USERS_DIGEST = "users_digest"


def _json(values: list[str]) -> str:
    return orjson.dumps(values).decode()


def _keep_skipped(directory_id: int, records: list[tuple[str, str, str, dict]]) -> None:
    """The entries this sync skipped, as sent, in place of the last sync's."""
    SkippedEntry.objects.filter(directory_id=directory_id).delete()
    bulk.insert(
        SkippedEntry._meta.db_table,
        ("directory_id", "kind", "external_id", "dn", "record"),
        (
            (directory_id, kind, ext[:64], dn, orjson.dumps(record).decode())
            for kind, ext, dn, record in records
        ),
    )
