# ruff: noqa: F811 -- the failover loop's fixtures (agents, sent, quick) are imported by name
"""Review (dry run) and Sync without safeguards through the runner: the same failover as a
sync, nothing written by a review, the next sync doing what it listed, an ignore once."""

from __future__ import annotations

import pytest

from directories.models import (
    SAFEGUARD_FIELDS,
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    GroupNesting,
    SkippedEntry,
)
from directories.sync import runner
from directories.tasks import start_sync, sync_directory
from synclog import lifecycle
from synclog.choices import RunStatus, Trigger
from synclog.models import SyncChange, SyncRun
from tests.support.scripted_agent import record

from .conftest import GROUPS, PEOPLE
from .test_failover_loop import agents, connector, for_agent, make, quick, sent  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def lines(users: dict[str, str], groups: dict[str, tuple[str, list[str]]], **emails) -> list:
    """An agent's answer: users by id -> name, groups by id -> (name, member names)."""
    out = [record(type="begin")]
    for ext, name in users.items():
        fields = {"email": emails[name]} if name in emails else {}
        out.append(record(type="user", id=ext, dn=f"uid={name},{PEOPLE}", username=name, **fields))
    for ext, (name, members) in groups.items():
        out.append(
            record(
                type="group",
                id=ext,
                dn=f"cn={name},{GROUPS}",
                name=name,
                members=[f"uid={m},{PEOPLE}" for m in members],
            )
        )
    out.append(record(type="end", users=len(users), groups=len(groups)))
    return out


TEN = {f"u{i}": f"user{i}" for i in range(10)}
BEFORE = lines(TEN, {"g1": ("admins", ["user0", "user1"]), "g2": ("staff", ["user2"])})
# user9 leaves, user0's email changes, user10 joins; admins loses user1, staff is deleted,
# team is new.
AFTER = lines(
    {**{k: v for k, v in TEN.items() if k != "u9"}, "u10": "user10"},
    {"g1": ("admins", ["user0"]), "g3": ("team", ["user10"])},
    user0="new@example.com",
)


# Every table a sync writes (the run's own rows, changes and warnings, are not the store).
STORE = (DirectoryUser, DirectoryGroup, GroupMembership, GroupNesting, SkippedEntry)


def store_rows() -> dict[str, list[dict]]:
    """Every row of every table a sync writes, each column's value: a review must leave
    them as they were, not only as many (a group's member values and digest included)."""
    return {m.__name__: list(m.objects.order_by("pk").values()) for m in STORE}


def start(directory, trigger=Trigger.MANUAL, **kwargs) -> SyncRun:
    queued, created = start_sync(directory, trigger, **kwargs)
    assert created
    sync_directory(queued.pk)
    queued.refresh_from_db()
    return queued


def changes(run: SyncRun) -> set[tuple]:
    return {
        (c.kind, c.action, c.external_id, c.name, c.dn, str(sorted(c.details.items())))
        for c in run.changes.all()
    }


def thresholds_off(directory) -> None:
    """Every safeguard threshold blank: the plans here are large on purpose."""
    for name in SAFEGUARD_FIELDS:
        setattr(directory, name, None)
    directory.save()


@pytest.fixture
def synced(agents):
    agent = agents("c1", BEFORE)
    directory = make(connector("c0"), for_agent(agent))
    assert start(directory).status == RunStatus.COMPLETED
    thresholds_off(directory)
    agent.lines = AFTER
    return directory, agent


def test_a_review_fails_over_like_a_sync_writes_nothing_and_lists_what_the_sync_then_does(
    synced, sent, monkeypatch
):
    directory, _agent = synced
    before = store_rows()
    monkeypatch.setattr(runner, "write", None)  # a review that called the writer would fail

    review = start(directory, Trigger.REVIEW)

    assert review.status == RunStatus.COMPLETED, review.message
    assert review.trigger == Trigger.REVIEW and review.is_review
    assert [(a.connector_name, a.outcome) for a in review.attempts.all()] == [
        ("c0", "unavailable"),
        ("c1", "succeeded"),
    ]
    assert review.snapshot_names == ["c0", "c1"]
    assert store_rows() == before
    assert review.message.startswith(
        "Review: nothing was written. A sync would pass every safeguard."
    )
    assert review.counts == {
        "users_added": 1,
        "users_updated": 1,
        "users_deleted": 1,
        "groups_added": 1,
        "groups_updated": 1,
        "groups_deleted": 1,
        "memberships_added": 1,
        "memberships_removed": 2,
    }
    updated = review.changes.get(action="updated", kind="user")
    assert (updated.name, updated.details) == ("user0", {"email": ["", "new@example.com"]})
    admins = review.changes.get(kind="group", action="updated")
    assert (admins.name, admins.details) == ("admins", {"members_removed": 1})

    monkeypatch.undo()
    applied = start(directory, reviewed_run=review)

    assert applied.status == RunStatus.COMPLETED
    assert applied.reviewed_run == review and applied.trigger == Trigger.MANUAL
    assert applied.counts == review.counts
    assert changes(applied) == changes(review)
    assert DirectoryUser.objects.filter(username="user10").exists()


def test_a_review_never_counts_as_the_first_sync(agents, sent):
    agent = agents("c1", BEFORE)
    directory = make(for_agent(agent))

    review = start(directory, Trigger.REVIEW)
    assert review.first_sync is True
    assert review.message == (
        "Review: nothing was written. "
        "Safeguards do not apply: this would be the directory's first sync."
    )
    assert store_rows()["DirectoryUser"] == []

    first = start(directory)
    assert first.first_sync is True and first.status == RunStatus.COMPLETED
    assert DirectoryUser.objects.count() == 10


def membership_rows(run: SyncRun) -> list[tuple]:
    return [
        (c.action, c.external_id, c.name, c.details["group"], c.details["member_type"])
        for c in run.changes.filter(kind="membership").order_by("id")
    ]


def test_a_review_lists_each_membership_that_would_change_and_the_sync_records_the_same(
    synced, sent
):
    directory, _agent = synced
    first = SyncRun.objects.get(directory=directory)
    assert first.first_sync and first.changes.filter(kind="group").exists()
    assert membership_rows(first) == []  # the first sync's group rows count its members
    before = store_rows()

    review = start(directory, Trigger.REVIEW)

    # team (new) gains user10; admins loses user1; staff (deleted) loses user2.
    assert membership_rows(review) == [
        ("added", "u10", "user10", "team", "user"),
        ("deleted", "u1", "user1", "admins", "user"),
        ("deleted", "u2", "user2", "staff", "user"),
    ]
    assert store_rows() == before

    applied = start(directory, reviewed_run=review)

    assert applied.status == RunStatus.COMPLETED
    assert membership_rows(applied) == membership_rows(review)
    assert set(GroupMembership.objects.values_list("group__name", "user__username")) == {
        ("admins", "user0"),
        ("team", "user10"),
    }


def entries(users: list[tuple[str, str]], groups: list[tuple[str, str, list[str]]], **emails):
    """An agent's answer: (id, username) users, possibly sharing a username, and
    (id, name, members) groups whose members name users (uid=) or groups (cn=)."""
    out = [record(type="begin")]
    for ext, name in users:
        fields = {"email": emails[ext]} if ext in emails else {}
        out.append(record(type="user", id=ext, dn=f"uid={ext},{PEOPLE}", username=name, **fields))
    for ext, name, members in groups:
        values = [f"uid={m},{PEOPLE}" if m.startswith("u") else f"cn={m},{GROUPS}" for m in members]
        out.append(
            record(type="group", id=ext, dn=f"cn={name},{GROUPS}", name=name, members=values)
        )
    out.append(record(type="end", users=len(users), groups=len(groups)))
    return out


def test_a_review_leaves_every_row_a_sync_writes_as_it_was_and_the_sync_then_rewrites_each(
    agents, sent
):
    # u5 and u0 share a username: u5 is skipped. admins holds staff, staff holds u2 and u3.
    first = entries(
        [("u0", "user0"), ("u1", "user1"), ("u2", "user2"), ("u3", "user3"), ("u4", "user4")]
        + [("u5", "user0")],
        [
            ("g1", "admins", ["u0", "u1", "staff"]),
            ("g2", "staff", ["u2", "u3"]),
            ("g4", "ops", ["u4"]),
        ],
    )
    # u0's email changes, u4 leaves, u6 joins; u7 now clashes with u1 (u5 is gone). admins
    # loses u1 and staff and gains ops; staff is deleted; ops trades u4 for u6; team is new
    # and holds ops.
    then = entries(
        [("u0", "user0"), ("u1", "user1"), ("u2", "user2"), ("u3", "user3"), ("u6", "user6")]
        + [("u7", "user1")],
        [
            ("g1", "admins", ["u0", "ops"]),
            ("g4", "ops", ["u6"]),
            ("g3", "team", ["u2", "ops"]),
        ],
        u0="new@example.com",
    )
    agent = agents("c1", first)
    directory = make(for_agent(agent))
    assert start(directory).status == RunStatus.COMPLETED
    thresholds_off(directory)
    agent.lines = then
    before = store_rows()
    assert [e["external_id"] for e in before["SkippedEntry"]] == ["u5"]
    assert len(before["GroupNesting"]) == 1

    review = start(directory, Trigger.REVIEW)

    assert review.status == RunStatus.COMPLETED, review.message
    assert {k: v for k, v in review.counts.items() if v} == {
        "users_added": 1,
        "users_updated": 1,
        "users_deleted": 1,
        "groups_added": 1,
        "groups_updated": 2,
        "groups_deleted": 1,
        "memberships_added": 4,  # ops+u6, team+u2, and ops into admins and into team
        "memberships_removed": 5,  # admins-u1, admins-staff, staff-u2, staff-u3, ops-u4
    }
    assert review.skipped_entries == 1
    assert store_rows() == before

    applied = start(directory, reviewed_run=review)

    assert applied.status == RunStatus.COMPLETED, applied.message
    assert changes(applied) == changes(review)
    # The review had something to write in every table: the sync rewrote each one.
    after = store_rows()
    assert [name for name in before if after[name] == before[name]] == []
    assert [e["external_id"] for e in after["SkippedEntry"]] == ["u7"]


def test_a_review_gives_the_safeguard_verdict(synced, sent):
    directory, _agent = synced
    directory.safeguard_users_deleted_percent = 5
    directory.save()

    review = start(directory, Trigger.REVIEW)

    assert review.status == RunStatus.COMPLETED
    assert review.safeguard_violations == ["Users deleted: 1 of 10 (10%), limit 5%"]
    assert "A sync would be stopped by safeguard: Users deleted: 1 of 10 (10%)" in review.message


def test_sync_without_safeguards_applies_once_is_marked_and_the_next_run_is_guarded(
    synced, sent, django_user_model
):
    directory, agent = synced
    alice = django_user_model.objects.create_user("alice", password="pw", role="super")
    agent.lines = lines({}, {})  # an emptied base DN
    before = store_rows()

    stopped = start(directory)
    assert stopped.status == RunStatus.SAFEGUARD
    assert stopped.safeguard_violations == [
        "Users deleted (zero-result guard): 10 of 10 (100%), more than half"
    ]
    assert store_rows() == before and stopped.changes.count() == 0

    forced = start(directory, user=alice, ignore_safeguards=True)
    assert forced.status == RunStatus.COMPLETED, forced.message
    assert forced.ignore_safeguards and forced.safeguards_ignored_by == alice
    assert forced.message.startswith("Synced without safeguards, once: Users deleted (zero-result")
    assert DirectoryUser.objects.count() == 0

    agent.lines = BEFORE
    start(directory)  # back to ten users
    agent.lines = lines({}, {})
    again = start(directory)
    assert again.status == RunStatus.SAFEGUARD and not again.ignore_safeguards
    assert DirectoryUser.objects.count() == 10


def test_a_review_joins_a_waiting_review_but_never_a_waiting_sync(synced, sent):
    directory, _agent = synced
    waiting, created = start_sync(directory, Trigger.REVIEW)
    assert created
    assert start_sync(directory, Trigger.REVIEW) == (waiting, False)
    with pytest.raises(lifecycle.RunWaiting) as refused:
        start_sync(directory, Trigger.MANUAL)
    assert refused.value.run == waiting
    assert str(refused.value) == (
        f"A review (run {waiting.pk}) is already waiting for this directory; "
        "ask again once it has started."
    )
    with pytest.raises(lifecycle.RunWaiting):
        start_sync(directory, Trigger.MANUAL, ignore_safeguards=True)


def test_a_sync_or_a_review_meeting_another_kind_of_waiting_run_is_told_which(synced, sent):
    directory, _agent = synced
    plain, _ = start_sync(directory, Trigger.MANUAL)
    with pytest.raises(lifecycle.RunWaiting) as refused:
        start_sync(directory, Trigger.REVIEW)
    assert str(refused.value).startswith(f"A sync (run {plain.pk}) is already waiting")
    SyncRun.objects.filter(pk=plain.pk).delete()
    unguarded, _ = start_sync(directory, Trigger.MANUAL, ignore_safeguards=True)
    with pytest.raises(lifecycle.RunWaiting) as refused:
        start_sync(directory, Trigger.MANUAL)
    assert str(refused.value).startswith(
        f"A sync without safeguards (run {unguarded.pk}) is already waiting"
    )


def test_only_a_finished_review_of_the_directory_can_be_applied(synced, sent):
    directory, _agent = synced
    sync_run = SyncRun.objects.filter(directory=directory).first()
    with pytest.raises(lifecycle.NotAReview):
        start_sync(directory, reviewed_run=sync_run)
    assert not SyncRun.objects.filter(status=RunStatus.QUEUED).exists()
    assert SyncChange.objects.filter(run__trigger=Trigger.REVIEW).count() == 0
