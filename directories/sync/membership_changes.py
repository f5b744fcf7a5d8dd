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
    """(name, DN) of every user and group a changed membership names, by stable id."""
    received, stored = plan.received, plan.stored
    users = {ext: (values[1], values[0]) for ext, values in received.users.items()}
    groups = {ext: (name, dn) for ext, (dn, name, _members) in received.groups.items()}
    # Only a removed membership can name a deleted entry; an added one names entries read.
    gone_users = {u for _, u in plan.members_removed if u not in users}
    gone_groups = {
        g
        for g in chain(
            (g for g, _ in plan.members_removed),
            chain.from_iterable(plan.nesting_removed),
        )
        if g not in groups
    }
    if gone_users:
        by_pk = {stored.users[e][0]: e for e in gone_users}
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
