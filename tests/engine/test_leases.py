"""Leases: one running sync per directory and one directory per connector, on any worker;
a dead or silent worker loses its run."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

import psutil
import pytest
from django.utils import timezone

from synclog import lifecycle as leases
from synclog.choices import AttemptOutcome, RunPhase, RunStatus
from synclog.models import SyncAttempt, SyncRun
from tests.support.claims import claim_of, set_claim

pytestmark = pytest.mark.django_db

HOST = socket.gethostname()
GONE_PID = 2**22 + 11  # above the default pid_max: no such process


def running(directory, worker="elsewhere:1:1", lease=60, **fields) -> SyncRun:
    return SyncRun.objects.create(
        directory=directory,
        status=RunStatus.RUNNING,
        started_at=timezone.now(),
        worker=worker,
        lease_until=timezone.now() + timedelta(seconds=lease),
        **fields,
    )


def test_worker_ids_name_the_host_the_process_and_its_start():
    host, pid, started = leases.worker_id().rsplit(":", 2)
    assert (host, int(pid)) == (HOST, os.getpid())
    assert int(started) == int(psutil.Process().create_time())


def test_an_owner_is_dead_only_if_it_ran_here_and_its_process_is_gone():
    me = leases.worker_id()
    assert leases.owner_is_dead(me) is False
    assert leases.owner_is_dead(f"{HOST}:{GONE_PID}:1") is True
    # Our pid, but another start time: the pid was reused, the owner is gone.
    assert leases.owner_is_dead(f"{HOST}:{os.getpid()}:1") is True
    assert leases.owner_is_dead(f"another-host:{GONE_PID}:1") is False
    assert leases.owner_is_dead("") is False
    assert leases.owner_is_dead("no-colons") is False
    assert leases.owner_is_dead(f"{HOST}:x:1") is False


def test_claiming_a_queued_run_makes_it_this_workers_with_a_lease(directory, settings):
    settings.SYNC_LEASE_SECONDS = 60
    run = SyncRun.objects.create(directory=directory)
    before = timezone.now()

    assert leases.claim(run) is True

    run.refresh_from_db()
    assert (run.status, run.worker) == (RunStatus.RUNNING, leases.worker_id())
    assert before <= run.started_at <= timezone.now()
    assert timedelta(seconds=59) < run.lease_until - before <= timedelta(seconds=61)
    assert leases.claim(run) is False  # no longer queued


def test_a_second_run_of_a_directory_cannot_be_claimed_while_one_runs(directory):
    running(directory)
    waiting = SyncRun.objects.create(directory=directory)
    assert leases.claim(waiting) is False
    waiting.refresh_from_db()
    assert waiting.status == RunStatus.QUEUED and waiting.worker == ""


def test_reaping_fails_the_run_closes_its_attempts_and_frees_its_connectors(directory, connectors):
    run = running(directory, current_connector_name="connector-1", phase=RunPhase.APPLYING)
    open_attempt = SyncAttempt.objects.create(run=run, position=1, connector_name="connector-1")
    done_attempt = SyncAttempt.objects.create(
        run=run, position=2, connector_name="connector-2", outcome=AttemptOutcome.BUSY
    )
    set_claim(connectors[0], run, timezone.now() + timedelta(minutes=1))
    set_claim(connectors[1], None)

    assert leases.reap(run, "its lease expired") is True

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.finished_at is not None
    assert run.message == (
        "The worker running this sync stopped before it finished (its lease expired); "
        "nothing from this run was applied."
    )
    assert (run.current_connector_name, run.phase) == ("", "")
    open_attempt.refresh_from_db()
    assert open_attempt.outcome == AttemptOutcome.INCOMPLETE
    assert open_attempt.message == "The worker stopped during this attempt."
    assert open_attempt.finished_at is not None
    done_attempt.refresh_from_db()
    assert done_attempt.outcome == AttemptOutcome.BUSY
    assert claim_of(connectors[0]) == (None, None)
    assert leases.reap(run, "again") is False


def test_the_sweep_reaps_expired_and_orphaned_runs_only(directory, connectors):
    from directories.services import create_directory

    def another(name):
        return create_directory(
            name=name, type="ldap", sync_connector=connectors[0], host="h", base_dn="dc=x",
            bind_dn="cn=x", bind_password="pw",
        )  # fmt: skip

    expired = running(directory, lease=-1)
    orphan = running(another("b.example.com"), worker=f"{HOST}:{GONE_PID}:1")
    alive = running(another("c.example.com"), worker=leases.worker_id())
    remote = running(another("d.example.com"), worker=f"remote:{GONE_PID}:1")
    no_lease = running(another("e.example.com"), worker=f"remote:{GONE_PID}:1", lease=0)
    SyncRun.objects.filter(pk=no_lease.pk).update(lease_until=None)

    assert leases.reap_stale(directory_id=alive.directory_id) == []
    reaped = leases.reap_stale()

    assert sorted(reaped) == sorted([expired.pk, orphan.pk])
    messages = dict(SyncRun.objects.values_list("pk", "message"))
    assert "its lease expired" in messages[expired.pk]
    assert "its process is gone" in messages[orphan.pk]
    for run in (alive, remote, no_lease):
        assert SyncRun.objects.get(pk=run.pk).status == RunStatus.RUNNING


def test_the_sweep_can_keep_to_one_directory(directory, connectors):
    expired = running(directory, lease=-1)
    assert leases.reap_stale(directory_id=directory.pk + 1000) == []
    assert leases.reap_stale(directory_id=directory.pk) == [expired.pk]


def test_a_connector_is_claimed_by_one_run_at_a_time(directory, connectors, settings):
    settings.SYNC_LEASE_SECONDS = 30
    connector = connectors[0]
    mine = running(directory)
    other = SyncRun.objects.create(directory=directory, status=RunStatus.COMPLETED)

    assert leases.ConnectorClaims(mine.pk).take(connector, wait=0) is True
    holder, until = claim_of(connector)
    assert holder == mine.pk
    assert timedelta(seconds=29) < until - timezone.now() <= timedelta(seconds=30)
    # The same run may claim again (a retry); another run waits, then gives up.
    assert leases.ConnectorClaims(mine.pk).take(connector, wait=0) is True
    started = timezone.now()
    assert leases.ConnectorClaims(other.pk).take(connector, wait=0.3) is False
    assert timezone.now() - started >= timedelta(seconds=0.3)

    leases.ConnectorClaims(other.pk).release(connector)  # not its claim: nothing happens
    assert claim_of(connector)[0] == mine.pk
    leases.ConnectorClaims(mine.pk).release(connector)
    assert claim_of(connector) == (None, None)
    assert leases.ConnectorClaims(other.pk).take(connector, wait=0) is True


def test_an_expired_connector_claim_can_be_taken(directory, connectors):
    connector = connectors[0]
    holder = running(directory)
    set_claim(connector, holder, timezone.now() - timedelta(seconds=1))
    other = SyncRun.objects.create(directory=directory, status=RunStatus.COMPLETED)
    assert leases.ConnectorClaims(other.pk).take(connector, wait=0) is True


def test_a_heartbeat_renews_the_leases_and_publishes_progress(directory, connectors, settings):
    settings.SYNC_LEASE_SECONDS = 40
    run = running(directory, lease=1)
    connector = connectors[0]
    set_claim(connector, run, timezone.now())
    beat = leases.Heartbeat(run)
    assert beat.interval == 1.0
    beat.entries_received, beat.connector_name, beat.connector_id = (
        1234,
        "connector-1",
        connector.pk,
    )

    beat.beat()

    run.refresh_from_db()
    assert (run.entries_received, run.current_connector_name, run.phase) == (
        1234,
        "connector-1",
        RunPhase.READING,
    )
    assert run.lease_until - timezone.now() > timedelta(seconds=39)
    assert claim_of(connector)[1] - timezone.now() > timedelta(seconds=39)
    assert beat.lost is False

    beat.announce(RunPhase.APPLYING)
    assert SyncRun.objects.get(pk=run.pk).phase == RunPhase.APPLYING


def test_a_heartbeat_of_a_run_reaped_elsewhere_says_the_lease_is_lost(directory, settings):
    settings.SYNC_LEASE_SECONDS = 2
    run = running(directory)
    beat = leases.Heartbeat(run)
    assert beat.interval == 0.5
    leases.reap(run, "its lease expired")

    beat.beat()

    assert beat.lost is True
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED


@pytest.mark.django_db(transaction=True)
def test_a_heartbeat_thread_beats_until_stopped(directory, settings):
    settings.SYNC_LEASE_SECONDS = 2
    run = running(directory, lease=1)
    beat = leases.Heartbeat(run)
    beat.entries_received = 7
    beat.start()
    try:
        import time

        deadline = time.monotonic() + 5
        while SyncRun.objects.get(pk=run.pk).entries_received != 7:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        beat.stop()
    assert not beat.is_alive()


def test_a_new_heartbeat_starts_reading_with_nothing_counted(directory, settings):
    settings.SYNC_LEASE_SECONDS = 60
    run = running(directory)
    beat = leases.Heartbeat(run)
    assert (beat.name, beat.daemon, beat.run_id) == (f"sync-heartbeat-{run.pk}", True, run.pk)
    assert (beat.entries_received, beat.connector_name, beat.connector_id) == (0, "", None)
    assert (beat.phase, beat.lost, beat.interval) == (RunPhase.READING, False, 1.0)


@pytest.mark.django_db(transaction=True)
def test_a_heartbeat_that_fails_once_keeps_beating(directory, settings, monkeypatch):
    settings.SYNC_LEASE_SECONDS = 2
    run = running(directory, lease=1)
    beat = leases.Heartbeat(run)
    real = leases.Heartbeat.beat
    calls = []

    def flaky(self):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        real(self)

    monkeypatch.setattr(leases.Heartbeat, "beat", flaky)
    beat.entries_received = 9
    beat.start()
    try:
        import time

        deadline = time.monotonic() + 5
        while SyncRun.objects.get(pk=run.pk).entries_received != 9:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        beat.stop()
    assert len(calls) >= 2


def test_queueing_creates_one_waiting_run_and_later_triggers_join_it(directory, super_admin):
    from django.contrib.auth.models import AnonymousUser

    run, created = leases.queue(directory, "api", super_admin)
    assert created and (run.status, run.trigger, run.requested_by) == (
        RunStatus.QUEUED,
        "api",
        super_admin,
    )
    again, joined_created = leases.queue(directory, "scheduled", AnonymousUser())
    assert (again.pk, joined_created) == (run.pk, False)
    assert SyncRun.objects.filter(directory=directory).count() == 1
    # Once it runs, the next trigger queues a follow-up; nobody signed in asked for it.
    SyncRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
    follow_up, created = leases.queue(directory, "scheduled", AnonymousUser())
    assert created and follow_up.pk != run.pk and follow_up.requested_by is None
    assert leases.waiting_run(directory.pk) == follow_up.pk


def test_a_trigger_that_loses_the_race_for_the_queue_joins_the_winner(directory, monkeypatch):
    winner = SyncRun.objects.create(directory=directory)
    real_filter = SyncRun.objects.filter
    calls = []

    def first_sees_nothing(*args, **kwargs):
        calls.append(kwargs)
        found = real_filter(*args, **kwargs)
        return found.none() if len(calls) == 1 else found

    monkeypatch.setattr(SyncRun.objects, "filter", first_sees_nothing)
    run, created = leases.queue(directory)
    assert (run.pk, created) == (winner.pk, False)


def test_a_run_queued_for_another_directory_is_not_joined(directory):
    from directories.services import create_directory

    other = create_directory(
        name="other.example.com", type="ldap", sync_connector=directory.sync_connector,
        host="h", base_dn="dc=o", bind_dn="cn=o", bind_password="pw",
    )  # fmt: skip
    theirs, _ = leases.queue(other)
    ours, created = leases.queue(directory)
    assert created and ours.pk != theirs.pk
    assert (ours.directory_id, theirs.directory_id) == (directory.pk, other.pk)
    assert leases.waiting_run(directory.pk) == ours.pk
    assert leases.waiting_run(other.pk) == theirs.pk


def test_a_queue_that_keeps_changing_is_tried_twice_then_named_in_the_error(directory, monkeypatch):
    """Each insert collides and the run it collided with is gone again before it is read."""
    from django.db import IntegrityError

    real_filter = SyncRun.objects.filter
    looked = []

    def never_there(*args, **kwargs):
        looked.append(kwargs)
        return real_filter(*args, **kwargs).none()

    def collides(**fields):
        raise IntegrityError("one queued run per directory")

    monkeypatch.setattr(SyncRun.objects, "filter", never_there)
    monkeypatch.setattr(SyncRun.objects, "create", collides)
    with pytest.raises(RuntimeError) as failure:
        leases.queue(directory)
    assert str(failure.value) == (
        "could not queue a sync of corp.example.com: the queue kept changing"
    )
    assert len(looked) == 2


def test_forgotten_runs_are_old_queued_runs_with_nothing_running_before_them(directory):
    from directories.services import create_directory

    other = create_directory(
        name="other.example.com", type="ldap", sync_connector=directory.sync_connector,
        host="h", base_dn="dc=o", bind_dn="cn=o", bind_password="pw",
    )  # fmt: skip
    old = timezone.now() - timedelta(minutes=2)
    forgotten = SyncRun.objects.create(directory=directory, created=old)
    SyncRun.objects.create(directory=other, created=old)  # waits behind a running sync
    running(other)
    SyncRun.objects.create(directory=directory, status=RunStatus.COMPLETED, created=old)
    assert leases.forgotten_runs() == [forgotten.pk]
    fresh_dir_run = SyncRun.objects.filter(pk=forgotten.pk)
    fresh_dir_run.update(created=timezone.now())
    assert leases.forgotten_runs() == []
    assert leases.forgotten_runs(older_than=timedelta(seconds=0)) == [forgotten.pk]


def test_only_the_worker_holding_a_running_run_finishes_it_and_the_end_is_announced(
    directory, django_capture_on_commit_callbacks
):
    announced = []

    def listen(sender, **kwargs):
        announced.append(kwargs)

    leases.run_finished.connect(listen)
    try:
        run = running(directory, worker="me:1:1")
        stranger = SyncRun.objects.get(pk=run.pk)
        stranger.worker = "someone-else:2:2"
        assert leases.finish(stranger, RunStatus.COMPLETED) is False
        with django_capture_on_commit_callbacks(execute=True):
            assert leases.finish(run, RunStatus.COMPLETED) is True
        assert leases.finish(run, RunStatus.FAILED, "again") is False  # no longer running
    finally:
        leases.run_finished.disconnect(listen)
    run.refresh_from_db()
    assert (run.status, run.message, run.lease_until) == (RunStatus.COMPLETED, "", None)
    assert announced == [
        {"signal": leases.run_finished, "run_id": run.pk, "directory_id": directory.pk,
         "status": RunStatus.COMPLETED}
    ]  # fmt: skip


def test_failing_closes_only_this_runs_open_attempts_with_the_reason(directory):
    run = running(directory, worker="me:1:1")
    mine = SyncAttempt.objects.create(run=run, position=1, connector_name="c1")
    other_run = SyncRun.objects.create(directory=directory, status=RunStatus.COMPLETED)
    other = SyncAttempt.objects.create(run=other_run, position=1, connector_name="c1")
    assert leases.fail(run, "disk full") is True
    run.refresh_from_db()
    mine.refresh_from_db()
    other.refresh_from_db()
    assert (run.status, run.message) == (RunStatus.FAILED, "disk full")
    assert (mine.outcome, mine.message) == (AttemptOutcome.INCOMPLETE, "disk full")
    assert other.outcome == AttemptOutcome.RUNNING


@pytest.mark.parametrize(
    ("status", "worker"),
    [(RunStatus.FAILED, "me:1:1"), (RunStatus.RUNNING, "taken-over:9:9")],
)
def test_holding_a_run_for_its_last_write_needs_it_running_and_ours(directory, status, worker):
    run = running(directory, worker="me:1:1")
    leases.hold(run)  # ours and running: no error
    SyncRun.objects.filter(pk=run.pk).update(status=status, worker=worker)
    with pytest.raises(leases.LeaseLost):
        leases.hold(run)


def test_renewing_a_claim_touches_only_that_connector_and_that_run(directory, connectors):
    mine, other = running(directory), SyncRun.objects.create(directory=directory)
    before = timezone.now() + timedelta(seconds=5)
    set_claim(connectors[0], mine, before)
    set_claim(connectors[1], mine, before)
    set_claim(connectors[2], other, before)
    later = timezone.now() + timedelta(minutes=10)
    leases.ConnectorClaims(mine.pk).renew(connectors[0].pk, later)
    assert claim_of(connectors[0]) == (mine.pk, later)
    assert claim_of(connectors[1]) == (mine.pk, before)
    leases.ConnectorClaims(mine.pk).renew(connectors[2].pk, later)
    assert claim_of(connectors[2]) == (other.pk, before)
