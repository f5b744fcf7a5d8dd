"""Group member values matched to synced entries by what their DNs mean, and what is left.

A member value is first looked up as spelled (the usual case: the server writes
member values the way it writes entry DNs), then by its DN key
(:mod:`connectors.protocol.dn`). A value that still matches nothing is never
dropped: it becomes an :class:`Unsynced` with the reason, and those inside the
synced DNs are later asked about through the connector (:func:`confirm`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from connectors.protocol import dn as dnlib
from synclog.choices import ChangeKind, WarningReason


@dataclass
class Unsynced:
    """One thing a run could not sync: an entry it skipped, or a group's member value."""

    reason: str
    entry_type: str
    external_id: str
    name: str
    dn: str
    value: str = ""
    detail: str = ""


class Memberships:
    """(group id, user id) pairs of stable ids, held by group: each group's distinct member
    users in one list (a million memberships cost a reference each, not a tuple and a
    set entry each). Iterating gives the pairs; `len` counts them."""

    def __init__(self) -> None:
        self.by_group: dict[str, list[str]] = {}
        self._count = 0

    def set_group(self, group: str, users: Iterable[str]) -> None:
        """The member users of `group` (which has none yet), each once."""
        if group in self.by_group:
            raise ValueError(f"the members of {group} are set already")
        distinct = list(dict.fromkeys(users))
        if distinct:
            self.by_group[group] = distinct
            self._count += len(distinct)

    def merge(self, group: str, users: Iterable[str]) -> None:
        """More member users of `group`, those it does not hold yet."""
        members = self.by_group.setdefault(group, [])
        held = set(members)
        for user in users:
            if user not in held:
                held.add(user)
                members.append(user)
                self._count += 1

    def of(self, group: str) -> list[str]:
        return self.by_group.get(group, [])

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for group, users in self.by_group.items():
            for user in users:
                yield group, user

    def __len__(self) -> int:
        return self._count

    def __eq__(self, other: object) -> bool:
        """Equal to the set of the same pairs (or to Memberships holding them)."""
        if isinstance(other, Memberships | set | frozenset):
            return set(self) == set(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Memberships({set(self)!r})"


@dataclass
class Resolution:
    """Memberships as (group id, user id) pairs (`Memberships`) and (parent id, child id)
    pairs of stable ids."""

    members: Memberships = field(default_factory=Memberships)
    nesting: set[tuple[str, str]] = field(default_factory=set)
    unresolved: list[Unsynced] = field(default_factory=list)

    def to_confirm(self) -> list[str]:
        """Distinct values inside the synced DNs that match no synced entry."""
        values = (u.value for u in self.unresolved if u.reason == WarningReason.NOT_CHECKED)
        return list(dict.fromkeys(values))

    def confirm(
        self,
        answers: dict[str, dict],
        users: Iterable[str],
        groups: Iterable[str],
    ) -> None:
        """Settle looked-up values with the directory's own answer about each.

        ``answers`` maps a value to what the connector found at its DN: ``exists``,
        and for an entry its stable ``id`` and ``object_classes``. An entry whose id
        is a synced user or group is that member (the server matched the DN, so a
        schema this side does not know cannot lose it); anything else keeps a reason.
        """
        user_ids, group_ids = set(users), set(groups)
        kept: list[Unsynced] = []
        found_users: dict[str, list[str]] = {}
        for item in self.unresolved:
            answer = answers.get(item.value) if item.reason == WarningReason.NOT_CHECKED else None
            if answer is None:
                kept.append(item)
                continue
            found = answer.get("id")
            if answer.get("exists") and found in user_ids:
                found_users.setdefault(item.external_id, []).append(found)
                continue
            if answer.get("exists") and found in group_ids:
                if found != item.external_id:
                    self.nesting.add((item.external_id, found))
                continue
            if answer.get("exists"):
                classes = ", ".join(answer.get("object_classes") or ()) or "unknown"
                item.reason = WarningReason.NOT_SYNCED
                item.detail = f"the entry exists (objectClass: {classes}) but is not synced"
            elif answer.get("exists") is False:
                item.reason = WarningReason.NO_ENTRY
                item.detail = answer.get("detail") or "no such entry"
            else:
                item.detail = f"the directory did not say: {answer.get('detail') or 'no answer'}"
            kept.append(item)
        self.unresolved = kept
        for group, found_in_group in found_users.items():
            self.members.merge(group, found_in_group)


def scope_keys(dns: Iterable[str]) -> list[str]:
    """Keys of the synced user and group DNs (text that is no DN left out)."""
    keys = []
    for value in dns:
        try:
            keys.append(dnlib.key(value))
        except dnlib.InvalidDN:
            continue
    return keys


class _Keyed:
    """Entries by DN key, built only once some member value is not spelled like its entry."""

    def __init__(
        self,
        users: dict[str, tuple],
        groups: dict[str, tuple[str, str, list[str]]],
        skipped: list[Unsynced],
    ) -> None:
        keys = dnlib.KeyCache()
        self.users = {keys[values[0]]: ext for ext, values in users.items()}
        self.groups = {keys[group[0]]: ext for ext, group in groups.items()}
        self.skipped = {keys[item.dn]: item for item in skipped}


def resolve(
    users: dict[str, tuple],
    groups: dict[str, tuple[str, str, list[str]]],
    skipped: list[Unsynced],
    scopes: list[str],
) -> Resolution:
    """Match every group's member values to the received users and groups.

    ``users`` maps stable ids to value tuples whose first item is the DN; ``groups``
    maps them to (DN, name, member values). ``scopes`` are the keys of the synced
    user and group DNs.
    """
    out = Resolution()
    members, nesting, unresolved = out.members, out.nesting, out.unresolved
    # Values spelled like their entry's DN are found here; the others by their key. Both
    # give the same answer, so mutating these lookups changes speed only.
    user_at = {values[0]: ext for ext, values in users.items()}  # pragma: no mutate
    group_at = {group[0]: ext for ext, group in groups.items()}  # pragma: no mutate
    keyed: _Keyed | None = None
    member_keys = dnlib.KeyCache(members=True)
    for gext, (gdn, name, values) in groups.items():
        found: list[str] = []
        for i, value in enumerate(values):
            uext = user_at.get(value)  # pragma: no mutate
            if uext is not None:
                found.append(uext)
                # The same text as the member's DN: the group keeps that one string
                # instead of a copy per group naming it (memory only).
                values[i] = users[uext][0]
                continue
            cext = group_at.get(value)  # pragma: no mutate
            if cext is not None:
                values[i] = groups[cext][0]
            else:
                if keyed is None:
                    keyed = _Keyed(users, groups, skipped)
                mkey = member_keys[value]
                uext = keyed.users.get(mkey) if mkey is not None else None  # pragma: no mutate
                if uext is not None:
                    found.append(uext)
                    continue
                cext = keyed.groups.get(mkey) if mkey is not None else None  # pragma: no mutate
                if cext is None:
                    unresolved.append(_unresolved(gext, gdn, name, value, mkey, keyed, scopes))
                    continue
            # A group naming itself is the placeholder that keeps an empty groupOfNames valid.
            if cext != gext:
                nesting.add((gext, cext))
        members.set_group(gext, found)
    return out


def _unresolved(
    gext: str, gdn: str, name: str, value: str, mkey: str | None, keyed: _Keyed, scopes: list[str]
) -> Unsynced:
    item = Unsynced(WarningReason.NOT_CHECKED, ChangeKind.GROUP, gext, name, gdn, value)
    if mkey is None:
        item.reason = WarningReason.INVALID_DN
    elif mkey in keyed.skipped:
        skipped = keyed.skipped[mkey]
        item.reason = WarningReason.SKIPPED_ENTRY
        item.detail = f"the entry was skipped: {WarningReason(skipped.reason).label.lower()}"
    elif not any(dnlib.within(mkey, scope) for scope in scopes):
        item.reason = WarningReason.OUTSIDE_SCOPE
    return item
