"""Group graph queries: the groups above a user and the users below a group, over nesting."""

from __future__ import annotations

from django.db.models import CharField, F, Value

from directories.models import DirectoryGroup, DirectoryUser, GroupMembership, GroupNesting


def walk(start: set[int], step: str) -> dict[int, int]:
    """Groups reachable from `start` over GroupNesting, each with the group it was reached from.

    `step` is "up" (parents) or "down" (subgroups). The visited map guards against cycles,
    which directories allow (A in B, B in A).
    """
    reached: dict[int, int] = {}
    frontier = set(start)
    seen = set(start)
    source, target = ("child_id", "parent_id") if step == "up" else ("parent_id", "child_id")
    while frontier:
        edges = GroupNesting.objects.filter(**{f"{source}__in": frontier}).values_list(
            source, target
        )
        frontier = set()
        for origin, found in edges:
            if found not in seen:
                seen.add(found)
                reached[found] = origin
                frontier.add(found)
    return reached


def nested_users(group: DirectoryGroup, below: dict[int, int]) -> list[tuple]:
    """Users reached only through subgroups, each with the subgroup that holds them."""
    if not below:
        return []
    direct = GroupMembership.objects.filter(group=group).values_list("user_id", flat=True)
    rows = (
        GroupMembership.objects.filter(group_id__in=below)
        .exclude(user_id__in=direct)
        .values_list("user_id", "group_id")
        .order_by("group_id")
    )
    via: dict[int, int] = {}
    for user_id, group_id in rows:
        via.setdefault(user_id, group_id)
    users = DirectoryUser.objects.in_bulk(via)
    groups = DirectoryGroup.objects.in_bulk(set(via.values()))
    return sorted(
        ((users[uid], groups[gid]) for uid, gid in via.items()),
        key=lambda pair: pair[0].username.lower(),
    )


def user_groups(
    user: DirectoryUser,
) -> tuple[list[DirectoryGroup], list[tuple[DirectoryGroup, DirectoryGroup]]]:
    """A user's direct groups by name, and the groups it is in through nesting, each with the
    group it was reached from: what the user's page and the API's user groups list show."""
    direct = list(user.memberships.order_by("name"))
    via = walk({g.pk for g in direct}, "up")
    groups = DirectoryGroup.objects.in_bulk(set(via) | set(via.values()))
    inherited = sorted(
        ((groups[gid], groups[origin]) for gid, origin in via.items()),
        key=lambda pair: pair[0].name.lower(),
    )
    return direct, inherited


MEMBER_COLUMNS = ("type", "id", "external_id", "dn", "name")


def direct_members(group: DirectoryGroup):
    """A group's direct members as rows of MEMBER_COLUMNS: users, then groups, by name."""
    users = (
        DirectoryUser.objects.filter(memberships=group)
        .annotate(type=Value("user", output_field=CharField()), name=F("username"))
        .order_by()
        .values_list(*MEMBER_COLUMNS)
    )
    subgroups = (
        DirectoryGroup.objects.filter(parent_groups=group)
        .annotate(type=Value("group", output_field=CharField()))
        .order_by()
        .values_list(*MEMBER_COLUMNS)
    )
    return users.union(subgroups, all=True).order_by("type", "name", "id")
