"""Incremental syncs give what a full read gives: two directories see the same changing
directory, one read incrementally, the other always in full; after every change both
stores, runs and warnings are equal.

The directory here is a model that answers the agent protocol the way the agent does: a
full read, or (asked with `changes_since`) a listing of every entry in scope and the
entries changed since; or, as a server offering content synchronization does, the
entries changed since a cookie and the ids of the entries removed since (of either
kind, as slapd names every entry deleted under a search base whatever the filter). Its
member values name DNs as written and are never rewritten when an entry is renamed or
deleted (a server without referential integrity), so an unchanged group may name a DN
that moved.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from connectors.client import AgentError
from directories.models import (
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    GroupNesting,
    SkippedEntry,
)
from directories.services import create_directory
from directories.sync.fetch import USER_COLUMNS, _consume, fingerprint
from directories.sync.incremental import (
    FORMAT,
    Base,
    NeedFullRead,
    listed_entries,
    lists_the_store,
    merge_groups,
    merge_users,
    scope_digest,
)
from directories.tasks import sync_directory
from synclog.choices import ReadMode, RunStatus, Trigger
from synclog.lifecycle import LeaseLost
from synclog.models import SyncRun, SyncWarning
from tests.support.scripted_agent import ScriptedAgent, record

from .conftest import GROUPS, PEOPLE, FakeBeat, FakeConnector, FakeStream, user
from .test_failover_loop import for_agent, run

pytestmark = pytest.mark.django_db(transaction=True)

COUNTS = (
    "users_added",
    "users_updated",
    "users_deleted",
    "groups_added",
    "groups_updated",
    "groups_deleted",
    "memberships_added",
    "memberships_removed",
    "unresolved_references",
    "skipped_entries",
)


@dataclass
class Entry:
    kind: str
    id: str | None
    dn: str
    fields: dict
    members: list[str] = field(default_factory=list)
    changed: int = 0


EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def moment(clock: int) -> str:
    """The model's change counter as a modifyTimestamp (one second per change)."""
    return (EPOCH + timedelta(seconds=clock)).strftime("%Y%m%d%H%M%SZ")


def tick(value: str) -> int:
    return int(
        (datetime.strptime(value, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC) - EPOCH).total_seconds()
    )


class ModelDirectory:
    """Entries with a change counter; what a full or incremental read of them sends."""

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.clock = 0
        self.serial = itertools.count(1)
        # Directory ids whose reads are always full, whatever they ask.
        self.full_only: set[int] = set()
        # Answer by sync cookie (every entry then has an id, as every entry of slapd has
        # an entryUUID); the ids removed, with the change counter at their removal.
        self.by_cookie = False
        self.removed: list[tuple[str, int]] = []
        # The next read by cookie stops with refresh_required once it has begun.
        self.refuse_refresh = False
        # A listing read sends every group, changed or not (as Active Directory's does).
        self.every_group = False

    def remove(self, entry: Entry) -> None:
        self.entries.remove(entry)
        self.clock += 1
        if entry.id is not None:
            self.removed.append((entry.id, self.clock))

    def touch(self, entry: Entry) -> Entry:
        self.clock += 1
        entry.changed = self.clock
        return entry

    def add_user(self, name: str | None, with_id: bool = True) -> Entry:
        with_id = with_id or self.by_cookie
        n = next(self.serial)
        uid = name or f"nameless{n}"
        fields = {"username": name or "", "first_name": f"First {n}", "email": f"{uid}@x.org"}
        entry = Entry("user", f"u{n}" if with_id else None, f"uid={uid}{n},{PEOPLE}", fields)
        self.entries.append(entry)
        return self.touch(entry)

    def add_group(self, members: list[str], with_id: bool = True) -> Entry:
        n = next(self.serial)
        ext = f"g{n}" if with_id else None
        entry = Entry("group", ext, f"cn=group{n},{GROUPS}", {"name": f"group{n}"}, members)
        self.entries.append(entry)
        return self.touch(entry)

    def of(self, kind: str) -> list[Entry]:
        return [e for e in self.entries if e.kind == kind]

    @staticmethod
    def record(entry: Entry) -> dict:
        out = {"type": entry.kind, "id": entry.id, "dn": entry.dn, **entry.fields}
        if entry.kind == "group":
            out["members"] = list(entry.members)
        return out

    def answer(self, body: dict) -> list[bytes]:
        since = body.get("changes_since")
        watermark = {"kind": "modify_timestamp", "value": moment(self.clock + 1)}
        if self.by_cookie:
            cookie = f"csn={self.clock + 1}"
            watermark = {"kind": "sync_cookie", "cookies": {PEOPLE: cookie, GROUPS: cookie}}
        users, groups = self.of("user"), self.of("group")
        if since is None or body["directory"]["id"] in self.full_only:
            return [
                record(type="begin", read="full"),
                *(record(**self.record(e)) for e in users + groups),
                record(type="end", users=len(users), groups=len(groups), watermark=watermark),
            ]
        if since["kind"] == "sync_cookie":
            return self.answer_by_cookie(int(since["cookies"][PEOPLE][4:]), watermark)
        start = tick(since["value"])
        lines = [record(type="begin", read="incremental")]
        for kind, entries in (("user", users), ("group", groups)):
            pairs = [[e.id, e.dn] for e in entries]
            # Two entries per presence record, so a listing spans several.
            for i in range(0, len(pairs), 2):
                lines.append(record(type="present", kind=kind, entries=pairs[i : i + 2]))
        lines += self.changed_since(start)
        lines.append(
            self.end(start, watermark, present_users=len(users), present_groups=len(groups))
        )
        return lines

    def answer_by_cookie(self, start: int, watermark: dict) -> list[bytes]:
        """As the agent answers by sync cookie: the changed records, then the ids removed
        since (of either kind, under both kinds)."""
        gone = [ext for ext, clock in self.removed if clock >= start]
        lines = [record(type="begin", read="incremental", scope="deleted")]
        lines += self.changed_since(start)
        if self.refuse_refresh:
            self.refuse_refresh = False
            message = "size limit exceeded; the directory is read in full instead"
            return [*lines, record(type="error", code="refresh_required", message=message)]
        for kind in ("user", "group"):
            # Two ids per record, so the departures span several.
            for i in range(0, len(gone), 2):
                lines.append(record(type="deleted", kind=kind, ids=gone[i : i + 2]))
        lines.append(self.end(start, watermark, deleted_users=len(gone), deleted_groups=len(gone)))
        return lines

    def changed_since(self, start: int) -> list[bytes]:
        """The records of the entries changed since `start`, users first."""
        return [record(**self.record(e)) for e in self.sent_since(start)]

    def sent_since(self, start: int) -> list[Entry]:
        every_group = self.every_group and not self.by_cookie
        users = [e for e in self.of("user") if e.changed >= start]
        return users + [e for e in self.of("group") if every_group or e.changed >= start]

    def end(self, start: int, watermark: dict, **counts: int) -> bytes:
        changed = self.sent_since(start)
        users = sum(e.kind == "user" for e in changed)
        return record(
            type="end", users=users, groups=len(changed) - users, watermark=watermark, **counts
        )


def store(directory) -> dict:
    """Everything a sync leaves for a directory, by stable id."""
    users = {
        ext: rest
        for ext, *rest in DirectoryUser.objects.filter(directory=directory).values_list(
            "external_id", "dn", "username", "first_name", "email", "disabled"
        )
    }
    groups = {
        ext: rest
        for ext, *rest in DirectoryGroup.objects.filter(directory=directory).values_list(
            "external_id", "dn", "name", "member_values"
        )
    }
    members = set(
        GroupMembership.objects.filter(group__directory=directory).values_list(
            "group__external_id", "user__external_id"
        )
    )
    nesting = set(
        GroupNesting.objects.filter(parent__directory=directory).values_list(
            "parent__external_id", "child__external_id"
        )
    )
    skipped = sorted(
        SkippedEntry.objects.filter(directory=directory).values_list("kind", "external_id", "dn")
    )
    return {"users": users, "groups": groups, "members": members, "nesting": nesting,
            "skipped": skipped}  # fmt: skip


def outcome(run_: SyncRun) -> dict:
    warnings = sorted(
        SyncWarning.objects.filter(run=run_).values_list(
            "reason", "entry_type", "external_id", "dn", "value"
        )
    )
    return {"status": run_.status, **{c: getattr(run_, c) for c in COUNTS}, "warnings": warnings}


@pytest.fixture
def twins():
    """(model, incremental directory, full directory, their agents)."""
    model = ModelDirectory()
    made = []
    serial = itertools.count(1)

    def make():
        n = next(serial)
        agents = [ScriptedAgent(f"agent-{n}-{side}", model.answer) for side in ("inc", "full")]
        dirs = []
        for agent, side in zip(agents, ("inc", "full"), strict=True):
            dirs.append(
                create_directory(
                    name=f"{side}{n}.example.com",
                    type="ldap",
                    sync_connector=for_agent(agent),
                    host="127.0.0.1",
                    base_dn="dc=example,dc=com",
                    bind_dn="cn=admin,dc=example,dc=com",
                    bind_password="pw",
                    user_dns=[PEOPLE],
                    group_dns=[GROUPS],
                )
            )
        model.full_only.add(dirs[1].pk)
        made.extend(agents)
        return dirs, agents

    yield model, make
    for agent in made:
        agent.close()


def run_past_safeguards(directory) -> SyncRun:
    """A sync that writes whatever it finds (changes here are random, not mistakes)."""
    queued = SyncRun.objects.create(directory=directory, ignore_safeguards=True)
    sync_directory(queued.pk)
    queued.refresh_from_db()
    return queued


def sync_both(inc, full) -> tuple[SyncRun, SyncRun]:
    a, b = run_past_safeguards(inc), run_past_safeguards(full)
    assert a.status == RunStatus.COMPLETED, a.message
    assert b.status == RunStatus.COMPLETED, b.message
    return a, b


operation = st.one_of(
    st.tuples(st.just("add_user"), st.sampled_from(["ann", "bob", None, "zoë"]), st.booleans()),
    st.tuples(st.just("modify"), st.integers(0, 99)),
    st.tuples(st.just("rename"), st.integers(0, 99)),
    st.tuples(st.just("delete"), st.integers(0, 99)),
    st.tuples(st.just("same_username"), st.integers(0, 99), st.integers(0, 99)),
    st.tuples(st.just("add_group"), st.lists(st.integers(0, 99), max_size=4)),
    st.tuples(st.just("members"), st.integers(0, 99), st.lists(st.integers(0, 99), max_size=4)),
    st.tuples(st.just("delete_group"), st.integers(0, 99)),
)


def member_value(model: ModelDirectory, i: int) -> str:
    """A DN to name as a member: an entry's (as spelled, or in upper case), or one of no
    entry."""
    entries = model.entries
    if not entries or i % 7 == 6:
        return f"uid=ghost{i},{PEOPLE}"
    dn = entries[i % len(entries)].dn
    return dn.upper() if i % 5 == 4 else dn


def apply(model: ModelDirectory, op: tuple) -> None:
    users, groups = model.of("user"), model.of("group")
    name = op[0]
    if name == "add_user":
        model.add_user(op[1], with_id=op[2] or op[1] is None)
    elif name == "add_group":
        model.add_group([member_value(model, i) for i in op[1]])
    elif name in ("modify", "rename", "delete", "same_username") and users:
        entry = users[op[1] % len(users)]
        if name == "modify":
            entry.fields["first_name"] += "'"
            model.touch(entry)
        elif name == "rename":
            rdn, rest = entry.dn.split(",", 1)
            entry.dn = f"{rdn}r,{rest}"
            model.touch(entry)
        elif name == "delete":
            model.remove(entry)
        else:
            other = users[op[2] % len(users)]
            if other.fields["username"] and other is not entry:
                entry.fields["username"] = other.fields["username"].upper()
                model.touch(entry)
    elif name in ("members", "delete_group") and groups:
        entry = groups[op[1] % len(groups)]
        if name == "delete_group":
            model.remove(entry)
        else:
            entry.members = [member_value(model, i) for i in op[2]]
            model.touch(entry)


@hsettings(
    max_examples=int(os.environ.get("INCREMENTAL_EXAMPLES", "12")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rounds=st.lists(st.lists(operation, min_size=1, max_size=5), min_size=1, max_size=4))
@pytest.mark.parametrize(
    "by_cookie, every_group",
    [(False, False), (False, True), (True, False)],
    ids=["listing", "listing every group", "cookie"],
)
def test_an_incremental_sync_leaves_what_a_full_read_leaves(twins, rounds, by_cookie, every_group):
    model, make = twins
    model.by_cookie, model.every_group = by_cookie, every_group
    (inc, full), _ = make()
    model.add_user("first")
    model.add_group([model.entries[0].dn])
    first, _ = sync_both(inc, full)
    assert first.read_mode == ReadMode.FULL and first.read_reason == "first sync"
    for ops in rounds:
        for op in ops:
            apply(model, op)
        a, b = sync_both(inc, full)
        if a.read_mode != ReadMode.INCREMENTAL:
            # By cookie the directory's order is unknown: only a full read says which of
            # two entries claiming a new username keeps it.
            assert by_cookie and "which none of them held" in a.read_reason, a.read_reason
        assert b.read_mode == ReadMode.FULL
        assert store(inc) == store(full)
        assert outcome(a) == outcome(b)


def test_a_group_skipped_for_want_of_an_id_is_reported_again_until_it_changes(twins):
    """A group the directory sends without a stable id is skipped and reported by every
    sync: an incremental read that did not re-read it reports it as the full read does,
    and one that re-reads it after a move reports it at its new DN."""
    model, make = twins
    (inc, full), _ = make()
    ann = model.add_user("ann")
    model.add_group([ann.dn])
    orphan = model.add_group([ann.dn], with_id=False)
    first, _ = sync_both(inc, full)
    assert first.skipped_entries == 1

    model.add_user("bob")  # a change elsewhere: the id-less group is not re-read
    a, b = sync_both(inc, full)
    assert a.read_mode == ReadMode.INCREMENTAL, a.read_reason
    assert store(inc) == store(full)
    assert outcome(a) == outcome(b)
    assert store(inc)["skipped"] == [("group", "", orphan.dn)]
    assert a.skipped_entries == 1

    orphan.dn = f"cn=moved,{GROUPS}"
    model.touch(orphan)
    a, b = sync_both(inc, full)
    assert a.read_mode == ReadMode.INCREMENTAL, a.read_reason
    assert store(inc) == store(full) and outcome(a) == outcome(b)
    assert store(inc)["skipped"] == [("group", "", f"cn=moved,{GROUPS}")]


def test_the_sync_log_says_how_each_run_read_and_why(twins, settings):
    model, make = twins
    (inc, _full), (agent, _) = make()
    model.add_user("ann")
    first = run(inc)
    assert (first.read_mode, first.read_reason) == (ReadMode.FULL, "first sync")
    assert first.read_watermark["agent"] == {"kind": "modify_timestamp", "value": moment(2)}
    assert "changes_since" not in agent.bodies[-1]

    second = run(inc)
    assert (second.read_mode, second.read_reason) == (ReadMode.INCREMENTAL, "")
    assert agent.bodies[-1]["changes_since"] == first.read_watermark["agent"]

    inc.user_filter = "(objectClass=person)"
    inc.save()
    third = run(inc)
    assert third.read_mode == ReadMode.FULL
    assert "filters" in third.read_reason

    settings.SYNC_FULL_READ_HOURS = 1
    for done in SyncRun.objects.filter(directory=inc):
        SyncRun.objects.filter(pk=done.pk).update(finished_at=done.finished_at - timedelta(hours=2))
    fourth = run(inc)
    assert (fourth.read_mode, fourth.read_reason) == (
        ReadMode.FULL,
        "a full read is due every 1 hours",
    )
    assert run(inc).read_mode == ReadMode.INCREMENTAL


def test_a_review_or_a_stopped_sync_is_not_what_the_next_sync_reads_changes_from(twins):
    model, make = twins
    (inc, _full), (agent, _) = make()
    for name in ("ann", "bob", "cy"):
        model.add_user(name)
    base = run(inc)
    model.add_user("dee")
    review = SyncRun.objects.create(directory=inc, trigger=Trigger.REVIEW)
    sync_directory(review.pk)
    review.refresh_from_db()
    assert review.read_mode == ReadMode.INCREMENTAL and review.users_added == 1
    # Everyone but dee leaves for a moment: the zero-result guard stops the sync.
    everyone = list(model.entries)
    model.entries = [e for e in everyone if e.fields["username"] == "dee"]
    assert run(inc).status == RunStatus.SAFEGUARD
    model.entries = everyone
    # The next sync still reads changes since the last sync that wrote the store.
    done = run(inc)
    assert agent.bodies[-1]["changes_since"] == base.read_watermark["agent"]
    assert (done.status, done.read_mode, done.users_added) == (
        RunStatus.COMPLETED,
        ReadMode.INCREMENTAL,
        1,
    )


def test_a_listing_that_does_not_add_up_is_read_again_in_full(twins):
    model, make = twins
    (inc, _full), (agent, _) = make()
    model.add_user("ann")
    run(inc)
    # An entry in scope that no sync has seen, yet not among the changes (a server that
    # lost a modification time): the incremental read cannot stand for a full one.
    ghost = model.add_user("ghost")
    ghost.changed = 0
    done = run(inc)
    assert done.status == RunStatus.COMPLETED
    assert done.read_mode == ReadMode.FULL
    assert "neither read nor synced before" in done.read_reason
    assert [("changes_since" in b) for b in agent.bodies[-2:]] == [True, False]
    assert DirectoryUser.objects.filter(directory=inc, username="ghost").exists()


def test_entries_that_share_an_id_keep_the_directory_on_full_reads(twins):
    model, make = twins
    (inc, _full), (agent, _) = make()
    ann = model.add_user("ann")
    model.entries.append(Entry("user", ann.id, f"uid=copy,{PEOPLE}", {"username": "copy"}))
    first = run(inc)
    assert first.warning_counts == {"duplicate_id": 1}
    second = run(inc)
    assert (second.read_mode, second.read_reason) == (
        ReadMode.FULL,
        "the last sync found entries that share one id",
    )
    assert "changes_since" not in agent.bodies[-1]
    model.entries.pop()
    assert [run(inc).read_mode, run(inc).read_mode] == [ReadMode.FULL, ReadMode.INCREMENTAL]


def incremental_stream(records: list[dict], **end) -> FakeStream:
    return FakeStream([{"type": "begin", "read": "incremental"}, *records, {"type": "end", **end}])


LISTED = {"type": "present", "kind": "user", "entries": [["u1", f"uid=ann,{PEOPLE}"]]}
COUNTS_OK = {"users": 0, "groups": 0, "present_users": 1, "present_groups": 0}


def stored_ann() -> Base:
    base = Base()
    base.users["u1"] = (f"uid=ann,{PEOPLE}", "ann", "", "", "", "", "", False)
    base.user_fps["u1"] = "fp"
    return base


def test_an_incremental_answer_is_checked_like_a_full_one():
    received = _consume(
        incremental_stream([LISTED], **COUNTS_OK), FakeConnector(), FakeBeat(), "uid",
        stored_ann(),
    )  # fmt: skip
    assert received.users == {"u1": stored_ann().users["u1"]}
    assert received.user_fps == {"u1": "fp"}
    assert (received.read_mode, received.entries) == (ReadMode.INCREMENTAL, 0)

    with pytest.raises(AgentError, match="incremental read that was not asked for"):
        _consume(incremental_stream([LISTED], **COUNTS_OK), FakeConnector(), FakeBeat(), "uid")
    with pytest.raises(AgentError, match="announced 2 users and 0 groups in scope but listed 1"):
        _consume(
            incremental_stream([LISTED], **{**COUNTS_OK, "present_users": 2}),
            FakeConnector(), FakeBeat(), "uid", stored_ann(),
        )  # fmt: skip
    with pytest.raises(ValueError, match="a present record in a full read"):
        _consume(FakeStream([{"type": "begin"}, LISTED]), FakeConnector(), FakeBeat(), "uid")
    for entries in ([["u1"]], [[1, "uid=a"]], [["u1", ""]], "u1"):
        with pytest.raises(ValueError):
            _consume(
                incremental_stream([{**LISTED, "entries": entries}], **COUNTS_OK),
                FakeConnector(), FakeBeat(), "uid", stored_ann(),
            )  # fmt: skip
    with pytest.raises(ValueError, match="kind 'users'"):
        _consume(
            incremental_stream([{**LISTED, "kind": "users"}], **COUNTS_OK),
            FakeConnector(), FakeBeat(), "uid", stored_ann(),
        )  # fmt: skip
    lost = FakeBeat()
    lost.lost = True
    with pytest.raises(LeaseLost):
        _consume(
            incremental_stream([LISTED], **COUNTS_OK), FakeConnector(), lost, "uid", stored_ann()
        )


DEPARTED = {"type": "deleted", "kind": "user", "ids": ["u1", "someone-never-stored"]}
DEPARTED_OK = {"users": 0, "groups": 0, "deleted_users": 2, "deleted_groups": 0}


def departures_stream(records: list[dict], **end) -> FakeStream:
    begin = {"type": "begin", "read": "incremental", "scope": "deleted"}
    return FakeStream([begin, *records, {"type": "end", **end}])


def test_named_departures_stand_for_the_store_less_those_ids_and_are_checked():
    kept = _consume(
        departures_stream([], **{**DEPARTED_OK, "deleted_users": 0}),
        FakeConnector(), FakeBeat(), "uid", stored_ann(),
    )  # fmt: skip
    assert kept.users == {"u1": stored_ann().users["u1"]}
    gone = _consume(departures_stream([DEPARTED], **DEPARTED_OK), FakeConnector(), FakeBeat(),
                    "uid", stored_ann())  # fmt: skip
    assert (gone.users, gone.read_mode) == ({}, ReadMode.INCREMENTAL)

    with pytest.raises(AgentError, match="announced 3 users and 0 groups deleted but named 2"):
        _consume(
            departures_stream([DEPARTED], **{**DEPARTED_OK, "deleted_users": 3}),
            FakeConnector(), FakeBeat(), "uid", stored_ann(),
        )  # fmt: skip
    with pytest.raises(KeyError):
        _consume(
            departures_stream([DEPARTED], users=0, groups=0), FakeConnector(), FakeBeat(), "uid",
            stored_ann(),
        )  # fmt: skip
    with pytest.raises(ValueError, match="a deleted record in a full read"):
        _consume(FakeStream([{"type": "begin"}, DEPARTED]), FakeConnector(), FakeBeat(), "uid")
    with pytest.raises(ValueError, match="a deleted record in a read that lists every entry"):
        _consume(
            incremental_stream([DEPARTED], **COUNTS_OK), FakeConnector(), FakeBeat(), "uid",
            stored_ann(),
        )  # fmt: skip
    with pytest.raises(ValueError, match="a presence listing in a read that names departures"):
        _consume(
            departures_stream([LISTED], **DEPARTED_OK), FakeConnector(), FakeBeat(), "uid",
            stored_ann(),
        )  # fmt: skip
    with pytest.raises(ValueError, match="scope 'some'"):
        _consume(
            FakeStream([{"type": "begin", "read": "incremental", "scope": "some"}]),
            FakeConnector(), FakeBeat(), "uid", stored_ann(),
        )  # fmt: skip
    for bad in ({**DEPARTED, "kind": "users"}, {**DEPARTED, "ids": "u1"},
                {**DEPARTED, "ids": [1]}, {**DEPARTED, "ids": [""]},
                {**DEPARTED, "ids": ["x" * 65]}):  # fmt: skip
        with pytest.raises(ValueError):
            _consume(
                departures_stream([bad], **DEPARTED_OK), FakeConnector(), FakeBeat(), "uid",
                stored_ann(),
            )  # fmt: skip


def test_a_username_claimed_anew_by_two_entries_is_settled_by_a_full_read_by_cookie(twins):
    model, make = twins
    model.by_cookie = True
    (inc, full), _ = make()
    ann, bob, cy = model.add_user("ann"), model.add_user("bob"), model.add_user("cy")
    sync_both(inc, full)
    # cy takes ann's name: ann holds it and keeps it, read by cookie.
    cy.fields["username"] = "ANN"
    model.touch(cy)
    a, b = sync_both(inc, full)
    assert a.read_mode == ReadMode.INCREMENTAL, a.read_reason
    assert (store(inc), outcome(a)) == (store(full), outcome(b))
    # ann and bob both take a name no one held: the directory's order decides.
    for entry in (bob, ann):
        entry.fields["username"] = "dee"
        model.touch(entry)
    a, b = sync_both(inc, full)
    assert a.read_mode == ReadMode.FULL
    assert "claim the username 'dee', which none of them held" in a.read_reason
    assert (store(inc), outcome(a)) == (store(full), outcome(b))


def test_a_stored_user_that_would_lose_its_username_makes_the_read_full(twins):
    # A store that holds two users whose usernames differ only in case (as one written
    # before that rule could): an incremental read merged with the store keeps neither
    # user's other values, so it cannot skip either; a full read settles it. (A read
    # whose only changes are other users' values takes the store as the last sync left
    # it, clash included, until the next full read.)
    model, make = twins
    model.by_cookie = True
    (inc, full), _ = make()
    model.add_user("ann"), model.add_user("bob")
    sync_both(inc, full)
    bob = DirectoryUser.objects.get(directory=inc, username="bob")
    values = tuple(getattr(bob, column) for column in USER_COLUMNS)
    bob.username = "ANN"
    bob.fingerprint = fingerprint((values[0], "ANN", *values[2:]))
    bob.save()
    model.add_user("cy")

    a, b = sync_both(inc, full)

    assert a.read_mode == ReadMode.FULL
    assert "would lose its username" in a.read_reason
    # The full read rewrites bob as the directory holds him, and adds cy.
    assert (a.users_updated, a.users_added, a.skipped_entries) == (1, 1, 0)
    assert store(inc) == store(full)


def test_a_read_by_cookie_that_stops_asking_for_a_full_read_gets_one(twins):
    model, make = twins
    model.by_cookie = True
    (inc, full), (agent, _) = make()
    model.add_user("ann")
    sync_both(inc, full)
    model.remove(model.of("user")[0])
    model.refuse_refresh = True
    a, b = sync_both(inc, full)
    assert a.read_mode == ReadMode.FULL
    assert a.read_reason == (
        "the incremental read could not stand for a full one: size limit exceeded; the "
        "directory is read in full instead"
    )
    assert "changes_since" not in agent.bodies[-1]
    assert (store(inc), outcome(a)) == (store(full), outcome(b))
    # The same error in a full read is the agent's failure, as any other.
    with pytest.raises(AgentError, match="could not read the directory: size limit"):
        _consume(
            FakeStream([{"type": "begin", "read": "full"},
                        {"type": "error", "code": "refresh_required", "message": "size limit"}]),
            FakeConnector(), FakeBeat(), "uid",
        )  # fmt: skip


OLDER_AGENT = (
    "changes_since.kind must be 'modify_timestamp' for a directory of type 'ldap', "
    "not 'sync_cookie'"
)


def test_an_agent_that_refuses_the_watermark_reads_in_full_instead(twins):
    """Some connectors upgraded, some not: one that does not know the watermark's kind
    answers 400, and reads the directory in full instead of failing every sync."""
    model, make = twins
    model.by_cookie = True
    (inc, full), (agent, _) = make()
    model.add_user("ann")
    sync_both(inc, full)
    agent.refuse = lambda body: OLDER_AGENT if "changes_since" in body else None
    model.add_user("bob")
    a, b = sync_both(inc, full)
    assert a.read_mode == ReadMode.FULL
    assert a.read_reason == (
        f"{agent.name} does not read changes since this watermark "
        f'({{"error": "{OLDER_AGENT}"}}); it read the directory in full'
    )
    assert [("changes_since" in body) for body in agent.bodies[-2:]] == [True, False]
    assert (store(inc), outcome(a)) == (store(full), outcome(b))
    # A request refused for anything else fails the attempt, as before.
    agent.refuse = lambda body: "page_size must be an integer between 1 and 100000"
    failed = run_past_safeguards(inc)
    assert failed.status == RunStatus.FAILED
    assert "HTTP 400: " in failed.message and "page_size must be" in failed.message


def test_a_full_answer_after_a_connector_that_failed_first_takes_the_stored_users(
    twins, store_loads, monkeypatch, stored_given
):
    """An incremental question, the first connector refused before it read a record, the
    next one answers in full: that read is given the stored users (it holds less of the
    unchanged ones) and the run loads the whole store once."""
    from directories.services import save_sync_connectors
    from directories.sync.plan import StoreLoad

    model, make = twins
    (inc, full), (agent, _) = make()
    for name in ("ann", "bob", "cy"):
        model.add_user(name)
    sync_both(inc, full)
    broken = ScriptedAgent("broken", [])
    broken.refuse = lambda body: "page_size must be an integer between 1 and 100000"
    save_sync_connectors(inc, [for_agent(broken).pk, inc.sync_connector_id])
    model.full_only.add(inc.pk)
    model.add_user("dee")
    # The stored users wait for their load (in a sync this large the read ends first).
    reader = StoreLoad.users_reader

    def loaded_when_wanted(self):
        users = reader(self)

        def waited():
            given = users()
            if given is None and self.loading.wanted:
                self.loading.join()
                given = users()
            return given

        return waited

    monkeypatch.setattr(StoreLoad, "users_reader", loaded_when_wanted)
    store_loads.clear()
    stored_given.clear()
    try:
        a, b = sync_both(inc, full)
    finally:
        broken.close()
    assert (a.connector_used_name, a.read_mode) == (agent.name, ReadMode.FULL)
    assert [body.get("changes_since") is not None for body in broken.bodies] == [True]
    # Both directories' reads, each of four users.
    assert stored_given == [True] * 8
    assert store_loads[inc.pk] == 1
    assert (store(inc), outcome(a)) == (store(full), outcome(b))


def test_departures_keep_the_store_less_what_left_or_changed_and_skipped_records():
    base = stored_ann()
    skipped = {"type": "user", "id": "u3", "dn": f"uid=x,{PEOPLE}", "username": ""}
    base.skipped[("user", "u3")] = skipped
    users, fps, again = base.adopt("user", {"u9"}, {})
    assert (users, fps, again) == ({"u1": stored_ann().users["u1"]}, {"u1": "fp"}, [skipped])
    assert stored_ann().adopt("user", {"u1"}, {})[:2] == ({}, {})
    assert stored_ann().adopt("user", set(), {"u1": {}})[:2] == ({}, {})
    assert base.adopt("user", {"u3"}, {})[2] == []
    groups = Base()
    groups.groups["g1"] = (f"cn=g1,{GROUPS}", "g1", None)
    with pytest.raises(NeedFullRead, match="member values of cn=g1"):
        groups.adopt("group", set(), {})


def test_an_entry_skipped_for_want_of_an_id_makes_departures_read_in_full():
    base = stored_ann()
    base.skipped[("user", ("dn", f"uid=x,{PEOPLE}"))] = {"dn": f"uid=x,{PEOPLE}", "id": None}
    assert base.adopt("group", set(), {}) == ({}, {}, [])
    with pytest.raises(NeedFullRead, match="has no id to follow it by"):
        base.adopt("user", set(), {})


USN = {"kind": "usn", "usn": 7, "invocation_id": "6f5c2f9e-0d0e-4a39-9f3e-1c2b3a4d5e6f"}


def full_answer(watermark) -> FakeStream:
    return FakeStream(
        [
            {"type": "begin", "read": "full", "reason": "the invocationId changed"},
            {"type": "end", "users": 0, "groups": 0, "watermark": watermark},
        ]
    )


def test_a_full_answer_to_an_incremental_question_says_why():
    received = _consume(full_answer(USN), FakeConnector(), FakeBeat(), "uid", stored_ann(), "ad")
    assert (received.read_mode, received.read_reason) == (
        ReadMode.FULL,
        "the invocationId changed",
    )
    assert received.watermark == USN


@pytest.mark.parametrize(
    "watermark",
    [
        {"kind": "usn", "usn": 7},
        {**USN, "usn": -1},
        {"kind": "modify_timestamp", "value": "20261204120000Z"},
        "7",
        [USN],
    ],
)
def test_a_watermark_the_agent_would_refuse_back_is_not_kept(watermark):
    # Kept, it would make every later request one the agent answers 400: no sync at all.
    received = _consume(full_answer(watermark), FakeConnector(), FakeBeat(), "uid", None, "ad")
    assert received.watermark is None


ANN = f"uid=ann,{PEOPLE}"
TEAM = f"cn=team,{GROUPS}"


def stored_team(member_values: list[str] | None = None) -> Base:
    base = stored_ann()
    base.groups["g1"] = (TEAM, "team", [ANN] if member_values is None else member_values)
    base.group_fps["g1"] = "gfp"
    return base


def merged(kind: str, listed: list, base: Base, changed: dict | None = None) -> list:
    """What the merge gives, in order: ("take", record) or ("keep", id, values, fp)."""
    out: list = []
    merge = merge_users if kind == "user" else merge_groups
    merge(
        listed,
        dict(changed or {}),
        base,
        lambda record: out.append(("take", record)),
        lambda ext, values, fp: out.append(("keep", ext, values, fp)),
    )
    return out


BOB = f"uid=bob,{PEOPLE}"


def stored_with_skipped() -> Base:
    """Ann and a team stored, Bob skipped by the last sync."""
    base = stored_team()
    base.skipped[("user", "u2")] = {"type": "user", "id": "u2", "dn": BOB}
    return base


LISTING = {"user": [("u1", ANN), ("u2", BOB)], "group": [("g1", TEAM)]}


@pytest.mark.parametrize(
    "kind, listing, stands",
    [
        ("user", LISTING["user"], True),
        ("user", [("u2", BOB), ("u1", ANN)], True),
        ("user", [("u1", ANN)], False),  # Bob (skipped) left
        ("user", [("u2", BOB)], False),  # Ann (stored) left
        ("user", [("u1", ANN), ("u2", BOB), ("u3", f"uid=cy,{PEOPLE}")], False),  # unseen
        ("user", [("u1", ANN), ("u1", ANN)], False),  # Ann twice, Bob gone
        ("user", [("u1", ANN.upper()), ("u2", BOB)], False),  # spelled otherwise
        ("user", [("u1", f"uid=ann,ou=x,{PEOPLE}"), ("u2", BOB)], False),  # moved along
        ("user", [("u1", ANN), ("u2", f"uid=bob,ou=x,{PEOPLE}")], False),
        ("user", [("u1", ANN), (None, BOB)], False),  # no id to follow
        ("user", [("u1", ANN), ("g1", TEAM)], False),  # the group as a user
        ("group", [("g1", TEAM)], True),
        ("group", [], False),
        ("group", [("g1", f"cn=team,ou=x,{GROUPS}")], False),
        ("group", [("g1", TEAM), ("u1", ANN)], False),
    ],
)
def test_a_listing_stands_for_no_departure_when_it_names_each_entry_once_where_it_was(
    kind, listing, stands
):
    """A listing read is read as changes alone only when its listing names exactly the
    entries the last sync stored or skipped, each once, under the DN it had."""
    assert lists_the_store(stored_with_skipped(), {**LISTING, kind: listing}) is stands


def test_the_merge_keeps_what_did_not_change_and_takes_what_did():
    base = stored_team()
    renamed = {"type": "group", "id": "g1", "dn": TEAM, "name": "team", "members": []}
    assert merged("user", [("u1", ANN)], base) == [("keep", "u1", base.users["u1"], "fp")]
    assert merged("group", [("g1", TEAM)], base) == [("keep", "g1", (TEAM, "team", [ANN]), "gfp")]
    assert merged("group", [("g1", TEAM)], base, {"g1": renamed}) == [("take", renamed)]
    # An entry created after the listing passed it comes last.
    late = {"type": "user", "id": "u9", "dn": f"uid=late,{PEOPLE}", "username": "late"}
    assert merged("user", [("u1", ANN)], base, {"u9": late})[-1] == ("take", late)


@pytest.mark.parametrize(
    "kind, listed, base, reason",
    [
        ("user", [("u1", ANN), ("u1", f"uid=copy,{PEOPLE}")], stored_ann(),
         "two user entries in scope have the id u1"),
        ("group", [("g1", TEAM), ("g1", f"cn=copy,{GROUPS}")], stored_team(),
         "two group entries in scope have the id g1"),
        ("user", [("u1", f"uid=ann2,{PEOPLE}")], stored_ann(),
         f"uid=ann2,{PEOPLE} moved or was renamed without a change to read"),
        ("group", [("g1", f"cn=team2,{GROUPS}")], stored_team(),
         f"cn=team2,{GROUPS} moved or was renamed without a change to read"),
        ("group", [("g1", TEAM)], Base(),
         f"{TEAM} is in scope but was neither read nor synced before"),
        ("user", [(None, ANN)], stored_ann(),
         f"{ANN} is in scope but was neither read nor synced before"),
    ],
)  # fmt: skip
def test_a_listing_the_store_cannot_complete_says_why_it_reads_in_full(kind, listed, base, reason):
    """The reason is the one the Sync Log gives for the full read that follows."""
    with pytest.raises(NeedFullRead) as refused:
        merged(kind, listed, base)
    assert str(refused.value) == reason


def test_a_group_whose_member_values_are_not_kept_yet_is_read_in_full():
    base = stored_team()
    base.groups["g1"] = (TEAM, "team", None)
    with pytest.raises(NeedFullRead) as refused:
        merged("group", [("g1", TEAM)], base)
    assert str(refused.value) == f"the member values of {TEAM} are not kept yet"


def test_a_presence_record_is_a_page_of_id_and_dn_pairs():
    record = {"type": "present", "kind": "user", "entries": [["u1", ANN], [None, TEAM]]}
    assert listed_entries(record, 2) == [("u1", ANN), (None, TEAM)]
    with pytest.raises(ValueError) as refused:
        listed_entries(record, 1)
    assert str(refused.value) == "a presence record's entries are not a list of at most a page"
    for item in (["u1"], ["u1", ANN, "x"], "u1", ["u1", ""], [1, ANN]):
        with pytest.raises(ValueError) as refused:
            listed_entries({**record, "entries": [item]}, 2)
        assert str(refused.value) == f"presence entry {item!r} is not an [id, DN] pair"


def scope_body(**changes) -> dict:
    """A sync request's body as fetch builds it, with `changes` to its parts."""
    body = {
        "directory": {"id": 7, "type": "ldap", "name": "corp.example.com"},
        "connection": {
            "host": "ldap.example.com",
            "port": 389,
            "security": "starttls",
            "base_dn": "dc=example,dc=com",
            "bind_dn": "cn=admin,dc=example,dc=com",
            "bind_password": "pw",
            "timeout": 10,
            "page_size": 500,
        },
        "users": {"dns": [PEOPLE], "filter": "(objectClass=inetOrgPerson)"},
        "groups": {"dns": [GROUPS], "filter": "(objectClass=groupOfNames)"},
        "mapped_attributes": {"email": "mail", "first_name": "givenName"},
    }
    for part, value in changes.items():
        section, _, key = part.partition("__")
        if key:
            body[section] = {**body[section], key: value}
        else:
            body[section] = value
    return body


def test_a_scope_digest_is_the_sha256_of_the_scope_as_sorted_compact_json():
    """A watermark names its scope by this digest, and the next release reads watermarks
    this one stored: the digest is defined by the scope, not by how the code builds it.
    Computed here from that definition (format, type, server, bind DN, DNs and filters,
    mapped attributes), with the standard library."""
    body = scope_body(users__dns=[f"ou=Zoë,{PEOPLE}"])
    scope = {
        "format": FORMAT,
        "type": "ldap",
        "server": ["ldap.example.com", 389, "dc=example,dc=com"],
        "bind_dn": "cn=admin,dc=example,dc=com",
        "users": body["users"],
        "groups": body["groups"],
        "mapped_attributes": body["mapped_attributes"],
    }
    text = json.dumps(scope, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert scope_digest(body) == hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(
    "change, same",
    [
        ({"connection__bind_password": "other"}, True),
        ({"connection__timeout": 30}, True),
        ({"connection__page_size": 1000}, True),
        ({"directory__name": "renamed.example.com"}, True),
        ({"connection__security": "none"}, True),
        ({"directory__type": "ad"}, False),
        ({"connection__host": "ldap2.example.com"}, False),
        ({"connection__port": 636}, False),
        ({"connection__base_dn": "dc=example,dc=org"}, False),
        ({"connection__bind_dn": "cn=reader,dc=example,dc=com"}, False),
        ({"users__filter": "(objectClass=person)"}, False),
        ({"groups__dns": [GROUPS, f"ou=more,{GROUPS}"]}, False),
        ({"mapped_attributes": {"email": "mailPrimaryAddress", "first_name": "cn"}}, False),
    ],
)
def test_the_scope_digest_changes_with_what_decides_the_entries_only(change, same):
    assert (scope_digest(scope_body(**change)) == scope_digest(scope_body())) is same


def test_entries_a_sync_skipped_are_taken_again_and_those_listed_after_them_kept():
    """An entry skipped last time (here for want of an id) and listed first does not end
    the merge: the entries listed after it are kept, and changed entries the listing
    missed come last."""
    lost_user = {"type": "user", "id": None, "dn": f"uid=lost,{PEOPLE}", "username": "lost"}
    orphan = {"type": "group", "id": None, "dn": f"cn=orphan,{GROUPS}", "name": "orphan"}
    late_user = {"type": "user", "id": "u9", "dn": f"uid=late,{PEOPLE}", "username": "late"}
    late_group = {"type": "group", "id": "g9", "dn": f"cn=late,{GROUPS}", "name": "late"}
    base = stored_team()
    base.skipped[("user", ("dn", lost_user["dn"]))] = lost_user
    base.skipped[("group", ("dn", orphan["dn"]))] = orphan

    users = merged("user", [(None, lost_user["dn"]), ("u1", ANN)], base, {"u9": late_user})
    groups = merged("group", [(None, orphan["dn"]), ("g1", TEAM)], base, {"g9": late_group})

    assert users == [
        ("take", lost_user),
        ("keep", "u1", base.users["u1"], "fp"),
        ("take", late_user),
    ]
    assert groups == [
        ("take", orphan),
        ("keep", "g1", (TEAM, "team", [ANN]), "gfp"),
        ("take", late_group),
    ]


def incremental_answer(listed: list[list], records: list[dict]) -> FakeStream:
    """An incremental read listing `listed` users and sending `records` as changed."""
    return incremental_stream(
        [{"type": "present", "kind": "user", "entries": listed}, *records],
        users=len(records), groups=0, present_users=len(listed), present_groups=0,
    )  # fmt: skip


def test_a_changed_record_whose_id_is_not_text_is_refused_as_a_full_read_refuses_it():
    bob = f"uid=bob,{PEOPLE}"
    answer = incremental_answer([["u1", ANN], [None, bob]], [user(5, "bob")])
    with pytest.raises(ValueError, match="stable id 5 is not an entryUUID/objectGUID"):
        _consume(answer, FakeConnector(), FakeBeat(), "uid", stored_ann())


def test_changed_records_that_share_an_id_are_each_skipped_but_the_first():
    copies = [user("u1", "ann"), *(user("u1", n, f"uid={n},{PEOPLE}") for n in ("ann2", "ann3"))]
    received = _consume(
        incremental_answer([["u1", ANN]], copies), FakeConnector(), FakeBeat(), "uid", Base()
    )
    assert received.users["u1"][0] == ANN
    assert [(s.reason, s.dn) for s in received.skipped] == [
        ("duplicate_id", f"uid=ann2,{PEOPLE}"),
        ("duplicate_id", f"uid=ann3,{PEOPLE}"),
    ]


def test_a_changed_user_without_a_username_is_skipped_naming_the_username_attribute():
    nameless = user("u2", "", f"uid=x,{PEOPLE}")
    received = _consume(
        incremental_answer([["u1", ANN], ["u2", nameless["dn"]]], [nameless]),
        FakeConnector(), FakeBeat(), "sAMAccountName", stored_ann(),
    )  # fmt: skip
    (skipped,) = received.skipped
    assert skipped.detail == "the entry has no sAMAccountName, which holds the username"


@pytest.fixture
def store_loads(monkeypatch):
    """How many times a sync loaded the whole store of each directory (as the base an
    incremental read is merged with, or as the plan's view of it), by directory id."""
    from directories.sync.plan import Stored

    loads: Counter = Counter()
    base_load, stored_load = Base.load.__func__, Stored.load.__func__

    def counted_base(cls, directory_id):
        loads[directory_id] += 1
        return base_load(cls, directory_id)

    def counted_stored(cls, directory_id, base=None):
        if base is None:
            loads[directory_id] += 1
        return stored_load(cls, directory_id, base)

    monkeypatch.setattr(Base, "load", classmethod(counted_base))
    monkeypatch.setattr(Stored, "load", classmethod(counted_stored))
    return loads


@pytest.fixture
def merges(monkeypatch):
    """How many incremental reads were merged with the whole store (not read as changes
    of values alone)."""
    from directories.sync.fetch import _Changes

    merged = []
    merge = _Changes.merge

    def counted(self, received, base, username_attribute):
        merged.append(self.names_departures)
        return merge(self, received, base, username_attribute)

    monkeypatch.setattr(_Changes, "merge", counted)
    return merged


READS = pytest.mark.parametrize(
    "by_cookie, every_group",
    [(False, False), (False, True), (True, False)],
    ids=["listing", "listing every group", "cookie"],
)


def a_directory_with_warnings(model: ModelDirectory) -> list[Entry]:
    """Three users, a user without a username (skipped) and a group naming two of the
    users, a DN of no entry and the same user spelled in upper case."""
    users = [model.add_user(name) for name in ("ann", "bob", "cy")]
    model.add_user(None)
    ghost = f"uid=ghost,{PEOPLE}"
    model.add_group([users[0].dn, users[1].dn.upper(), ghost])
    return users


@READS
def test_a_read_of_changed_values_alone_keeps_the_rest_as_the_last_sync_left_it(
    twins, store_loads, merges, by_cookie, every_group
):
    model, make = twins
    model.by_cookie, model.every_group = by_cookie, every_group
    (inc, full), _ = make()
    ann, bob, cy = a_directory_with_warnings(model)
    model.add_group([cy.dn])
    first, _ = sync_both(inc, full)
    assert (first.unresolved_references, first.skipped_entries) == (1, 1)
    for entry in (ann, cy):
        entry.fields["first_name"] += " Jr."
        model.touch(entry)
    # An entry added and deleted between the syncs is named among the departures: it was
    # never stored, so it changes nothing. Skipped entries of another directory (one
    # without an id, one with that id) are not this directory's.
    passing = model.add_user("zed")
    model.remove(passing)
    for ext in (passing.id, ""):
        SkippedEntry.objects.create(
            directory=full, kind="user", external_id=ext, dn=f"uid=x{ext},{PEOPLE}", record={}
        )
    store_loads.clear()

    a, b = sync_both(inc, full)

    assert a.read_mode == ReadMode.INCREMENTAL
    assert merges == []
    # The twin read in full loads its store; the incremental one by cookie does not (a
    # listing is compared with the store as the agent sends it).
    assert store_loads == ({full.pk: 1} if by_cookie else {full.pk: 1, inc.pk: 1})
    assert (a.users_updated, a.entries_received) == (2, 2 + 2 * every_group)
    assert (store(inc), outcome(a)) == (store(full), outcome(b))
    # The warnings are the last sync's, each one, with their counts.
    assert outcome(a)["warnings"] == outcome(first)["warnings"]
    assert a.warning_counts == first.warning_counts
    assert a.message.endswith(first.message)
    # Nothing changed: nothing merged or written (and by cookie nothing loaded).
    store_loads.clear()
    a, b = sync_both(inc, full)
    assert (a.read_mode, a.entries_received, a.users_updated) == (
        ReadMode.INCREMENTAL,
        2 * every_group,
        0,
    )
    assert (merges, store_loads[inc.pk]) == ([], 0 if by_cookie else 1)
    assert (store(inc), outcome(a)) == (store(full), outcome(b))


def rename(model: ModelDirectory, entry: Entry) -> None:
    rdn, rest = entry.dn.split(",", 1)
    entry.dn = f"{rdn}x,{rest}"
    model.touch(entry)


def test_a_read_of_values_alone_looks_up_more_users_than_one_statement_holds(twins, store_loads):
    # SQLite takes at most 999 variables in a statement: ids are looked up 900 at a time.
    model, make = twins
    model.by_cookie = True
    (inc, full), _ = make()
    users = [model.add_user(f"user{n}") for n in range(1_900)]
    sync_both(inc, full)
    for entry in users:
        entry.fields["email"] = entry.fields["email"].upper()
        model.touch(entry)
    store_loads.clear()
    a, b = sync_both(inc, full)
    assert store_loads == {full.pk: 1}
    assert (a.read_mode, a.users_updated) == (ReadMode.INCREMENTAL, 1_900)
    assert (store(inc), outcome(a)) == (store(full), outcome(b))


# Changes a read of values alone cannot stand for: each is merged with the whole store.
MERGED = {
    "a user renamed": lambda model, users, group: rename(model, users[0]),
    "a username changed": lambda model, users, group: (
        users[1].fields.update(username="robert"),
        model.touch(users[1]),
    ),
    "a username changed in case": lambda model, users, group: (
        users[1].fields.update(username="Bob"),
        model.touch(users[1]),
    ),
    "a user added": lambda model, users, group: model.add_user("dee"),
    "a user deleted": lambda model, users, group: model.remove(users[2]),
    "a group changed": lambda model, users, group: (
        group.members.append(users[2].dn),
        model.touch(group),
    ),
    "a group deleted": lambda model, users, group: model.remove(group),
    "a skipped user given a username": lambda model, users, group: (
        model.of("user")[3].fields.update(username="eve"),
        model.touch(model.of("user")[3]),
    ),
    "a skipped user deleted": lambda model, users, group: model.remove(model.of("user")[3]),
    "a user given no username": lambda model, users, group: (
        users[0].fields.update(username=""),
        model.touch(users[0]),
    ),
}


def move_along(model: ModelDirectory, users: list[Entry], group: Entry) -> None:
    """A user's DN changes with its container's: the entry itself is not changed."""
    users[0].dn = users[0].dn.replace(PEOPLE, f"ou=staff,{PEOPLE}")


# What a listing shows beside the changed records: each is merged with the whole store.
MERGED_LISTED = {
    **MERGED,
    "a user renamed along with its container": move_along,
    "a group renamed along with its container": lambda model, users, group: setattr(
        group, "dn", group.dn.replace(GROUPS, f"ou=teams,{GROUPS}")
    ),
    "a skipped user renamed along with its container": lambda model, users, group: setattr(
        model.of("user")[3], "dn", model.of("user")[3].dn.replace(PEOPLE, f"ou=x,{PEOPLE}")
    ),
}


@pytest.mark.parametrize(
    "change, by_cookie, every_group",
    [(change, True, False) for change in MERGED]
    + [(change, False, False) for change in MERGED_LISTED]
    + [(change, False, True) for change in MERGED_LISTED],
)
def test_a_read_that_changed_more_than_values_is_merged_with_the_whole_store(
    twins, store_loads, merges, change, by_cookie, every_group
):
    model, make = twins
    model.by_cookie, model.every_group = by_cookie, every_group
    (inc, full), _ = make()
    users = a_directory_with_warnings(model)
    sync_both(inc, full)
    # A value changes too, so the read is never empty.
    users[2].fields["email"] = "cy@y.org"
    model.touch(users[2])
    MERGED_LISTED[change](model, users, model.of("group")[0])
    store_loads.clear()

    a, b = sync_both(inc, full)

    # A listing that shows an unchanged entry under another DN is read again in full (a
    # group sent again is read under its new DN).
    renamed_along = change.endswith("along with its container") and not (
        every_group and change.startswith("a group")
    )
    assert a.read_mode == (ReadMode.FULL if renamed_along else ReadMode.INCREMENTAL), change
    assert (merges, store_loads) == ([by_cookie], {inc.pk: 1, full.pk: 1}), change
    assert (store(inc), outcome(a)) == (store(full), outcome(b))


def test_a_read_of_values_alone_is_merged_while_an_entry_skipped_for_want_of_an_id_stays(
    twins, store_loads
):
    # Nothing would name that entry's departure: every read by cookie is checked against
    # the whole store, which reads in full (Base.adopt).
    model, make = twins
    model.by_cookie = True
    (inc, full), _ = make()
    users = a_directory_with_warnings(model)
    model.add_group([users[0].dn], with_id=False)
    sync_both(inc, full)
    users[0].fields["email"] = "ann@y.org"
    model.touch(users[0])
    store_loads.clear()
    a, b = sync_both(inc, full)
    assert store_loads[inc.pk] == 1
    assert a.read_mode == ReadMode.FULL, a.read_reason
    assert (store(inc), outcome(a)) == (store(full), outcome(b))


def test_the_safeguards_count_a_read_of_values_alone_against_the_whole_store(twins):
    model, make = twins
    model.by_cookie = True
    (inc, full), _ = make()
    users = [model.add_user(f"user{n}") for n in range(10)]
    model.add_group([users[0].dn])
    sync_both(inc, full)
    inc.safeguard_users_updated_percent = 20
    inc.save()
    for entry in users[:3]:
        entry.fields["first_name"] += "'"
        model.touch(entry)
    stopped = run(inc)
    assert (stopped.status, stopped.read_mode) == (RunStatus.SAFEGUARD, ReadMode.INCREMENTAL)
    assert "Users updated: 3 of 10 (30%), limit 20%" in stopped.message
    inc.safeguard_users_updated_percent = 30
    inc.save()
    passed = run(inc)
    assert (passed.status, passed.users_updated) == (RunStatus.COMPLETED, 3), passed.message
