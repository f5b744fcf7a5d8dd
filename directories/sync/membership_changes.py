"""The Sync Details rows of a plan's membership changes: which member joins or leaves which group.

One row per (group, member) pair the plan adds or removes, users and nested groups alike.
The member is the row's own entry (`external_id`, `name`, `dn`); the group is named in its
details. Names come from the read for entries still there and from the store (one chunked
query per table) for deleted ones, so a review and a sync of one plan record the same rows.
A first sync records none: every membership is new then, and its group rows count them.
"""

from __future__ import annotations

import json
from itertools import chain

from directories.models import DirectoryGroup, DirectoryUser
from directories.sync.plan import Plan, old_values
from synclog.choices import ChangeAction, ChangeKind

USER, GROUP = str(ChangeKind.USER), str(ChangeKind.GROUP)


def _names(plan: Plan) -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    """(name, DN) of each user and group a changed membership names, by stable id.

    Touches only those entries (a 1% resync of 100,000 users names about a thousand).
    """
    received, stored = plan.received, plan.stored
    added, removed = (
        chain(plan.members_added, plan.nesting_added),
        chain(plan.members_removed, plan.nesting_removed),
    )
    user_ids = {u for _, u in chain(plan.members_added, plan.members_removed)}
    group_ids = {g for g, _ in chain(added, removed)}
    group_ids.update(c for _, c in chain(plan.nesting_added, plan.nesting_removed))
    users: dict[str, tuple[str, str]] = {}
    groups: dict[str, tuple[str, str]] = {}
    gone_users, gone_groups = [], []
    for ext in user_ids:
        values = received.users.get(ext)
        if values is None:
            gone_users.append(ext)
        else:
            users[ext] = (values[1], values[0])
    for ext in group_ids:
        entry = received.groups.get(ext)
        if entry is None:
            gone_groups.append(ext)
        else:
            groups[ext] = (entry[1], entry[0])
    # Deleted entries (only a removed membership names one): as the store holds them.
    if gone_users:
        pks = stored.user_pks(gone_users)
        by_pk = {pks[e]: e for e in gone_users}
        for pk, (name, dn) in old_values(DirectoryUser, list(by_pk), ("username", "dn")).items():
            users[by_pk[pk]] = (name, dn)
    if gone_groups:
        by_pk = {stored.groups[e][0]: e for e in gone_groups}
        for pk, (name, dn) in old_values(DirectoryGroup, list(by_pk), ("name", "dn")).items():
            groups[by_pk[pk]] = (name, dn)
    return users, groups


def membership_rows(plan: Plan, run_id: int) -> list[tuple]:
    """One Sync Details row per member that joins or leaves a group, in group-name order."""
    if plan.first_sync:
        return []
    users, groups = _names(plan)
    pairs = chain(
        ((ChangeAction.ADDED, g, m, USER) for g, m in plan.members_added),
        ((ChangeAction.ADDED, g, m, GROUP) for g, m in plan.nesting_added),
        ((ChangeAction.DELETED, g, m, USER) for g, m in plan.members_removed),
        ((ChangeAction.DELETED, g, m, GROUP) for g, m in plan.nesting_removed),
    )
    named = []
    for action, group_ext, member_ext, member_type in pairs:
        group_name = groups[group_ext][0]
        name, dn = (users if member_type == USER else groups)[member_ext]
        named.append((action, group_name, name, member_ext, dn, group_ext, member_type))
    named.sort()
    return [
        (
            run_id,
            ChangeKind.MEMBERSHIP,
            action,
            member_ext,
            name,
            dn,
            json.dumps({"group": group_name, "group_id": group_ext, "member_type": member_type}),
        )
        for action, group_name, name, member_ext, dn, group_ext, member_type in named
    ]
