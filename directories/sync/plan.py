"""The plan of a sync: what a complete read changes in the store, decided before any write.

Pure apart from reading the store: the diff by stable id and fingerprint, the memberships
gained and lost, the counts, and the safeguard verdict. A review (dry run) stops here; a
sync hands the plan to `writer.write`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from connectors.protocol import dn as dnlib
from directories.models import (
    SAFEGUARD_FIELDS,
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    GroupNesting,
)
from directories.sync.background import Loading, Waited
from directories.sync.fetch import USER_COLUMNS, Received
from directories.sync.incremental import Base, StoredUsers, matching, members_digest
from directories.sync.members import Memberships

GROUP_COLUMNS = ("dn", "name")


def users_digest(exts: Iterable[str]) -> str:
    """Digest of the users a group holds as members: their stable ids, sorted (what
    `DirectoryGroup.users_digest` keeps of the memberships the store holds)."""
    return members_digest(sorted(exts))


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
    """What the store holds for a directory, keyed by stable id (loaded before the plan).

    A user is held by its fingerprint alone: the primary keys of the few a plan updates,
    deletes or takes out of a group are read when it needs them (`user_pks`), not held for
    a million users. A group's user memberships are held by their digest alone
    (`users_digests`): the plan reads the memberships of the groups whose digest is not
    the one their read resolves to (`read_members`), not a million pairs."""

    # A full read takes out the users it reads (`StoredUsers.take`).
    users: dict[str, str]
    groups: dict[str, tuple[int, str]] = field(default_factory=dict)
    # The user memberships, as (group id, user id) pairs of stable ids, of the groups
    # read by `read_members` (the plan reads those it compares).
    members: set[tuple[str, str]] = field(default_factory=set)
    nesting: set[tuple[str, str]] = field(default_factory=set)
    # Digest of each group's kept member values ("" while none are kept).
    member_digests: dict[str, str] = field(default_factory=dict)
    # Digest of each group's member users (`users_digest`; "" while none is kept).
    users_digests: dict[str, str] = field(default_factory=dict)
    # The groups whose user memberships `members` holds.
    members_read: set[str] = field(default_factory=set)
    # The directory whose users `users` holds only some of (those a read of changed values
    # alone changed, `incremental.values_only`, which changes no group): its users are
    # counted in the database, when asked.
    partial_of: int | None = None
    directory_id: int | None = None
    # The primary keys of the stored users read so far (`user_pks`).
    pks: dict[str, int] = field(default_factory=dict)
    # Stored values (`USER_COLUMNS` order) by primary key of users read with them
    # (`old_user_values`).
    values: dict[int, tuple] = field(default_factory=dict)

    def user_pks(self, exts: Iterable[str]) -> dict[str, int]:
        """The primary keys by stable id of stored users, `exts` among them (read from the
        store for those not read before)."""
        assert self.directory_id is not None, "a store not loaded has no primary keys to read"
        missing = [ext for ext in exts if ext not in self.pks]
        rows = DirectoryUser.objects.filter(directory_id=self.directory_id).order_by()
        for part in matching(rows, "external_id", missing):
            self.pks.update(part.values_list("external_id", "pk"))
        return self.pks

    def read_members(self, group_exts: Iterable[str]) -> set[tuple[str, str]]:
        """The user memberships (pairs of stable ids) the store holds of the stored groups
        `group_exts`, read into `members` for those not read before."""
        group_exts = set(group_exts)
        by_pk = {self.groups[ext][0]: ext for ext in group_exts if ext not in self.members_read}
        rows = GroupMembership.objects.order_by()
        found: set[tuple[str, str]] = set()
        for part in matching(rows, "group_id", list(by_pk)):
            found.update(
                (by_pk[g], u) for g, u in part.values_list("group_id", "user__external_id")
            )
        self.members |= found
        self.members_read.update(by_pk.values())
        if len(self.members_read) == len(group_exts):
            return self.members
        return {pair for pair in self.members if pair[0] in group_exts}

    def old_user_values(self, ids: list[int]) -> dict[int, tuple]:
        """The stored values (`USER_COLUMNS` order) of the users with primary keys `ids`,
        read from the store for those not read before."""
        held = self.values
        out = {pk: held[pk] for pk in ids if pk in held}
        if len(out) < len(ids):
            out.update(old_values(DirectoryUser, [pk for pk in ids if pk not in out], USER_COLUMNS))
        return out

    def totals(self, enough: int) -> tuple[int, int]:
        """How many users and groups the store holds (what the safeguards count against).

        The users may be counted up to `enough` only: the caller's verdict is the same for
        any number from there on."""
        if isinstance(self.users, StoredUsers):
            return self.users.total, len(self.groups)
        if self.partial_of is None:
            return len(self.users), len(self.groups)
        if enough <= 0:
            return 0, len(self.groups)
        # A count that stops at `enough` reads that many rows, not the directory's.
        users = DirectoryUser.objects.filter(directory_id=self.partial_of).order_by()
        return users[:enough].count(), len(self.groups)

    @classmethod
    def of_changed(cls, directory_id: int, users: dict[str, tuple[int, str, tuple]]) -> Stored:
        """The store as a read of changed values alone needs it (`Carried.stored_users`:
        primary key, fingerprint and values by stable id): those users, the others counted
        when asked; no group, no membership."""
        return cls(
            {ext: fp for ext, (_, fp, _) in users.items()},
            partial_of=directory_id,
            directory_id=directory_id,
            pks={ext: pk for ext, (pk, _, _) in users.items()},
            values={pk: values for pk, _, values in users.values()},
        )

    @classmethod
    def load(cls, directory_id: int, base: Base | None = None) -> Stored:
        """The store of `directory_id`; its users and groups taken from `base` when given
        (an incremental read's base, loaded from the same rows just before)."""
        if base is not None:
            users, groups = base.stored_users, base.stored_groups
            member_digests, users_digests = base.group_digests, base.users_digests
            base.stored_users, base.stored_groups = StoredUsers(), {}
            base.group_digests, base.users_digests = {}, {}
        else:
            groups, member_digests, users_digests = _load_groups(directory_id)
            users = _load_users(directory_id)
        group_ext = {pk: ext for ext, (pk, _) in groups.items()}
        nesting = {
            (group_ext[p], group_ext[c])
            for p, c in GroupNesting.objects.filter(parent__directory_id=directory_id)
            .order_by()
            .values_list("parent_id", "child_id")
        }
        return cls(
            users,
            groups,
            nesting=nesting,
            member_digests=member_digests,
            users_digests=users_digests,
            directory_id=directory_id,
        )


def _load_groups(
    directory_id: int,
) -> tuple[dict[str, tuple[int, str]], dict[str, str], dict[str, str]]:
    """(primary key, fingerprint), member digest and users digest of each stored group,
    by stable id."""
    groups, member_digests, users_digests = {}, {}, {}
    for ext, pk, fp, digest, users in (
        DirectoryGroup.objects.filter(directory_id=directory_id)
        .order_by()
        .values_list("external_id", "pk", "fingerprint", "members_digest", "users_digest")
    ):
        groups[ext] = (pk, fp)
        member_digests[ext] = digest
        users_digests[ext] = users
    return groups, member_digests, users_digests


def _load_users(directory_id: int) -> StoredUsers:
    """Each stored user's fingerprint by stable id."""
    return StoredUsers(
        DirectoryUser.objects.filter(directory_id=directory_id)
        .order_by("pk")
        .values_list("external_id", "fingerprint")
        .iterator(chunk_size=10_000)
    )


class StoreLoad:
    """The store a sync run plans against, loaded once in the background while the agent
    answers; for a run that asks for an incremental read, the base that read is merged
    with (`incremental.Base`) comes from the same rows instead of a second load."""

    def __init__(self, directory_id: int, with_base: bool) -> None:
        self.with_base = with_base
        # For an incremental read, loaded once the read says it needs the whole store
        # (`Waited.want`): a read of changed values alone never does.
        self.loading: Loading[tuple[Stored, Base | None]] = Loading(
            self._load, directory_id, "store", wanted=not with_base
        )
        # Whether a read was given the stored users (and took some out, `users_reader`).
        self.users_given = False

    def _load(self, directory_id: int) -> tuple[Stored, Base | None]:
        if not self.with_base:
            return Stored.load(directory_id), None
        base = Base.load(directory_id)
        return Stored.load(directory_id, base), base

    def base(self) -> Waited[Base]:
        """An incremental read's base: the one loaded with the store while no read has
        started that load (a read takes the base's dicts over; a connector that failed
        before its read needed them left them whole), a load of its own after that."""
        if self.with_base and not self.loading.wanted:
            return _BaseOf(self.loading)
        return Loading(Base.load, self.loading.directory_id, "incremental base", wanted=False)

    def users_reader(self) -> Callable[[], StoredUsers | None]:
        """For one full read: what gives the stored users once loaded, else None at once
        (a read keeps less of a user whose fingerprint is the stored one, and takes the
        users it reads out of them). A read after one that was given them (a connector
        tried after another broke off) has the store loaded again, for itself."""
        if self.users_given:
            self.users_given = False
            self.loading = Loading(self._load, self.loading.directory_id, "store")

        def users() -> StoredUsers | None:
            loaded = self.loading.ready()
            if loaded is None:
                return None
            self.users_given = True
            users = loaded[0].users
            assert isinstance(users, StoredUsers)
            return users

        return users

    def stored(self) -> Stored:
        stored, _ = self.loading.result()
        # The base belongs to the read now; this load no longer keeps it alive.
        self.loading.value = (stored, None)
        return stored


class _BaseOf:
    """The base half of a store load, waited for like a Loading."""

    def __init__(self, loading: Loading[tuple[Stored, Base | None]]) -> None:
        self.loading = loading

    def want(self) -> None:
        self.loading.want()

    def result(self) -> Base:
        base = self.loading.result()[1]
        assert base is not None
        return base


@dataclass
class Diff:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """Everything a sync would change, by stable id, and whether a safeguard stops it."""

    directory_id: int
    received: Received
    stored: Stored
    users: Diff
    groups: Diff
    # Stored values (by primary key) of the users and groups the plan updates.
    old_users: dict[int, tuple]
    # The values read of the users updated (`USER_COLUMNS` order), by stable id.
    new_users: dict[str, tuple]
    old_groups: dict[int, tuple]
    # A first sync's are the read's own (`members.Memberships`); a resync's a set.
    members_added: Memberships | set[tuple[str, str]]
    members_removed: set[tuple[str, str]]
    nesting_added: set[tuple[str, str]]
    nesting_removed: set[tuple[str, str]]
    # Per group: how many members (users or subgroups) it gains and loses.
    member_gain: Counter
    member_loss: Counter
    # Stored groups whose only change is their members.
    membership_only: set[str]
    # Digest of each received group's member values, and the stored groups neither
    # updated nor deleted whose kept member values differ from those (rewritten silently:
    # what they resolve to is in the memberships above).
    member_digests: dict[str, str] = field(default_factory=dict)
    member_values_rewritten: list[str] = field(default_factory=list)
    # Digest of each received group's member users once written (`users_digest`), and
    # the stored groups neither deleted nor updated whose stored digest differs from it.
    users_digests: dict[str, str] = field(default_factory=dict)
    users_digests_rewritten: list[str] = field(default_factory=list)
    # Each safeguard this sync goes past; empty when it may be written.
    violations: list[Violation] = field(default_factory=list)
    # The directory's first sync: every membership is new, so none is listed on its own.
    first_sync: bool = False

    @property
    def safeguard(self) -> str:
        """Why the safeguards stop this sync, naming each one; empty when none does."""
        return "; ".join(map(str, self.violations))

    @property
    def counts(self) -> Counts:
        return Counts(
            users_added=len(self.users.added),
            users_updated=len(self.users.updated),
            users_deleted=len(self.users.deleted),
            groups_added=len(self.groups.added),
            groups_updated=len(self.groups.updated) + len(self.membership_only),
            groups_deleted=len(self.groups.deleted),
            memberships_added=len(self.members_added) + len(self.nesting_added),
            memberships_removed=len(self.members_removed) + len(self.nesting_removed),
        )

    def member_details(self, ext: str) -> dict[str, int]:
        out: dict[str, int] = {}
        if self.member_gain.get(ext):
            out["members_added"] = self.member_gain[ext]
        if self.member_loss.get(ext):
            out["members_removed"] = self.member_loss[ext]
        return out


def _diff(
    stored: dict[str, str],
    incoming: dict[str, Any],
    fp_of: Callable[[str], str | None],
    touched: set[str] | None,
) -> Diff:
    """Entries added, updated (by fingerprint: `fp_of` an id in `incoming`, None for one
    known to differ from the stored one) and deleted; with `touched`, the only ids that
    can be any of those (`Received.touched`), looked at alone. A fingerprint is asked for
    only when the store holds one to compare it with."""
    d = Diff()
    if touched is not None:
        for ext in sorted(touched):
            old = stored.get(ext)
            if ext not in incoming:
                if old is not None:
                    d.deleted.append(ext)
            elif old is None:
                d.added.append(ext)
            elif old != fp_of(ext):
                d.updated.append(ext)
        return d
    for ext in incoming:
        old = stored.get(ext)
        if old is None:
            d.added.append(ext)
        elif old != fp_of(ext):
            d.updated.append(ext)
    d.deleted = [ext for ext in stored if ext not in incoming]
    return d


def _user_diff(stored: Stored, received: Received, touched: set[str] | None) -> Diff:
    """The users added, updated and deleted: as a full read sorted them once it was given
    the stored users (`Received.consumed`), else by `_diff`."""
    consumed = received.consumed
    if consumed is None:
        return _diff(stored.users, received.users, received.user_fp, touched)
    users = received.users
    return Diff(
        added=[ext for ext in received.added if ext in users],
        updated=[ext for ext in received.updated if ext in users],
        deleted=[*consumed, *received.dropped],
    )


@dataclass(frozen=True)
class Violation:
    """One safeguard a plan goes past: `count` of `total` against `limit` percent.

    `limit` is None for the zero-result guard, which stops more than half.
    """

    label: str
    count: int
    total: int
    limit: int | None

    @property
    def share(self) -> float:
        return 100.0 * self.count / self.total

    def __str__(self) -> str:
        share = f"{self.share:.1f}".removesuffix(".0")
        limit = f"limit {self.limit}%" if self.limit is not None else "more than half"
        return f"{self.label}: {self.count} of {self.total} ({share}%), {limit}"


def _check_safeguard(label: str, count: int, total: int, limit: int | None) -> Violation | None:
    """One threshold: a violation when `count` is more than `limit` percent of `total`.

    A blank (None) limit is disabled; nothing stored, nothing to protect.
    """
    if limit is None or not total or not count:
        return None
    if 100 * count > limit * total:
        return Violation(label, count, total, limit)
    return None


def _check_zero_result(deleted: int, stored: int) -> Violation | None:
    """Always on: deleting more than half of the stored users (or all of them) stops a sync.

    An unreachable base DN or a wrong filter reads as an empty directory; this keeps such a
    read from emptying the store whatever the thresholds say.
    """
    if stored and 2 * deleted > stored:
        return Violation("Users deleted (zero-result guard)", deleted, stored, None)
    return None


def group_member_counts(stored: Stored, groups: Iterable[str]) -> Counter:
    """How many members (users and subgroups) each of the stored `groups` has now."""
    groups = set(groups)
    nested = (pair for pair in stored.nesting if pair[0] in groups)
    return Counter(g for g, _ in chain(stored.read_members(groups), nested))


def users_enough(limits: dict[str, int | None], updated: int, deleted: int) -> int:
    """The fewest stored users past which no user safeguard stops a sync that updates
    `updated` and deletes `deleted` (counted) users: the verdict is the same for every
    store at least that large, so the store need not be counted further."""
    enough = 2 * deleted  # the zero-result guard stops more than half
    for limit, count in (
        (limits["safeguard_users_updated_percent"], updated),
        (limits["safeguard_users_deleted_percent"], deleted),
    ):
        if limit:
            enough = max(enough, -(-100 * count // limit))
    return enough


def safeguard_violations(
    limits: dict[str, int | None],
    users: tuple[int, int, int],
    groups: tuple[int, int],
    member_loss: dict[str, int],
    members_now: dict[str, int],
    group_names: dict[str, str],
) -> list[Violation]:
    """Every safeguard a sync goes past, in the order the Safeguards tab lists them.

    `users` is (counted updates, deletions, stored), `groups` (deletions, stored);
    `member_loss` and `members_now` count members lost and held per existing group.
    """
    updated, deleted, stored_users = users
    groups_deleted, stored_groups = groups
    found = [
        _check_safeguard(
            "Users updated", updated, stored_users, limits["safeguard_users_updated_percent"]
        ),
        _check_safeguard(
            "Users deleted", deleted, stored_users, limits["safeguard_users_deleted_percent"]
        ),
        _check_zero_result(deleted, stored_users),
        _check_safeguard(
            "Groups deleted",
            groups_deleted,
            stored_groups,
            limits["safeguard_groups_deleted_percent"],
        ),
    ]
    members_limit = limits["safeguard_members_removed_percent"]
    for ext in sorted(member_loss, key=lambda e: (group_names.get(e, e), e)):
        found.append(
            _check_safeguard(
                f"Members removed from group {group_names.get(ext, ext)}",
                member_loss[ext],
                members_now.get(ext, 0),
                members_limit,
            )
        )
    return [v for v in found if v is not None]


def old_values(model, ids: list[int], columns: tuple[str, ...]) -> dict[int, tuple]:
    out: dict[int, tuple] = {}
    for part in matching(model.objects.order_by(), "pk", ids):
        for row in part.values_list("pk", *columns):
            out[row[0]] = row[1:]
    return out


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


def _counted(
    diff: Diff, old: dict[int, tuple], pks: dict[str, int], new: dict[str, tuple]
) -> tuple[int, int]:
    """(updates, deletions) that count towards a safeguard."""
    respelled = sum(1 for ext in diff.updated if _respelled(old[pks[ext]], new[ext]))
    return len(diff.updated) - respelled, len(diff.deleted)


def _member_changes(
    stored: Stored, received: Received
) -> tuple[Memberships | set[tuple[str, str]], set[tuple[str, str]], dict[str, str]]:
    """The user memberships gained and lost, and the digest of each received group's
    member users. Only the stored groups whose digest differs from the one their read
    resolves to (the deleted ones among them) have their memberships read and compared;
    a group with the same digest holds the same users."""
    want = received.resolution.members
    digests = {ext: users_digest(want.of(ext)) for ext in received.groups}
    if not stored.groups:
        # Against a store without groups (a first sync) the pairs read are the pairs
        # added: the same ones, not a copy of a million pairs.
        return want, set(), digests
    compared = {ext for ext in stored.groups if digests.get(ext) != stored.users_digests.get(ext)}
    held = stored.read_members(compared)
    added: set[tuple[str, str]] = set()
    for group, users in want.by_group.items():
        if group not in stored.groups:
            added.update((group, user) for user in users)
        elif group in compared:
            added.update(pair for pair in ((group, user) for user in users) if pair not in held)
    wanted = {group: set(want.of(group)) for group in compared}
    removed = {(group, user) for group, user in held if user not in wanted[group]}
    return added, removed, digests


def _rewritten(
    digests: dict[str, str], held: dict[str, str], stored: Stored, updated: set[str]
) -> list[str]:
    """The stored groups, of those read (`digests`: a digest each) and not `updated`,
    whose digest the store holds (`held`) is another."""
    return [
        ext
        for ext, digest in digests.items()
        if ext in stored.groups and ext not in updated and digest != held.get(ext)
    ]


def make_plan(
    directory,
    received: Received,
    safeguards: bool,
    stored: Stored | None = None,
    first_sync: bool = False,
) -> Plan:
    """The plan of writing `received` over what the store holds for `directory`.

    `stored` may be loaded ahead (while the agent streams); the directory's running-sync
    claim keeps anyone else from writing it in between.
    """
    if stored is None:
        stored = Stored.load(directory.pk)
    touched = received.touched or {}
    users = _user_diff(stored, received, touched.get("user"))
    # Groups are held with their primary keys (a group is a few per thousand users).
    group_fps = {ext: fp for ext, (_, fp) in stored.groups.items()}
    groups = _diff(
        group_fps, received.group_fps, received.group_fps.__getitem__, touched.get("group")
    )
    # Read once here for the writer as well: the users it updates or deletes.
    pks = stored.user_pks(chain(users.updated, users.deleted))
    old_users = stored.old_user_values([pks[e] for e in users.updated])
    new_users = received.values_of(users.updated)
    old_groups = old_values(
        DirectoryGroup, [stored.groups[e][0] for e in groups.updated], GROUP_COLUMNS
    )
    # Memberships wanted, as (group id, member id) pairs of stable ids.
    want_nesting = received.resolution.nesting
    members_added, members_removed, users_digests = _member_changes(stored, received)
    nesting_added = want_nesting - stored.nesting
    nesting_removed = stored.nesting - want_nesting

    gain = Counter(g for g, _ in chain(members_added, nesting_added))
    loss = Counter(g for g, _ in chain(members_removed, nesting_removed))
    gone_groups, updated_groups = set(groups.deleted), set(groups.updated)
    membership_only = {
        g
        for g in (gain.keys() | loss.keys())
        if g in stored.groups and g not in gone_groups and g not in updated_groups
    }
    member_digests = {ext: members_digest(group[2]) for ext, group in received.groups.items()}
    member_values_rewritten = _rewritten(
        member_digests, stored.member_digests, stored, updated_groups
    )
    users_digests_rewritten = _rewritten(
        users_digests, stored.users_digests, stored, updated_groups
    )
    violations: list[Violation] = []
    if safeguards:
        updates, deletions = _counted(users, old_users, pks, new_users)
        limits = {name: getattr(directory, name) for name in SAFEGUARD_FIELDS}
        user_total, group_total = stored.totals(users_enough(limits, updates, deletions))
        # Members lost by groups that stay (a deleted group counts as a deleted group).
        kept_loss = {g: n for g, n in loss.items() if g not in gone_groups}
        violations = safeguard_violations(
            limits,
            (updates, deletions, user_total),
            (len(groups.deleted), group_total),
            kept_loss,
            # Members held now matter only for groups that lose some: no count otherwise.
            group_member_counts(stored, kept_loss) if kept_loss else {},
            # A group that stays was read, so its name is the one it has now.
            {g: received.groups[g][1] for g in kept_loss},
        )
    return Plan(
        directory_id=directory.pk,
        received=received,
        stored=stored,
        users=users,
        groups=groups,
        old_users=old_users,
        new_users=new_users,
        old_groups=old_groups,
        members_added=members_added,
        members_removed=members_removed,
        nesting_added=nesting_added,
        nesting_removed=nesting_removed,
        member_gain=gain,
        member_loss=loss,
        membership_only=membership_only,
        member_digests=member_digests,
        member_values_rewritten=member_values_rewritten,
        users_digests=users_digests,
        users_digests_rewritten=users_digests_rewritten,
        violations=violations,
        first_sync=first_sync,
    )
