"""A worker that dies mid-sync loses its lease; the directory syncs again without a restart."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from directories.models import DirectoryGroup, DirectoryUser
from directories.services import save_sync_connectors
from directories.tasks import start_sync
from synclog.choices import AttemptOutcome, RunPhase, RunStatus, Trigger
from synclog.models import SyncChange, SyncRun
from tests.support.claims import claim_of
from tests.support.proxy import Relay

from .conftest import assert_db_equals_ldap, make_directory, register, wait_for_run, wait_until

pytestmark = [pytest.mark.ldap, pytest.mark.slow]


def temporary_tables() -> int | None:
    """How many temporary tables the database's sessions hold (the run's staged users
    live in one); None on SQLite, whose temporary tables no other connection sees."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname LIKE 'pg_temp%%' AND c.relkind = 'r'"
        )
        return cursor.fetchone()[0]


def test_killed_worker_leaves_nothing_applied_and_a_new_sync_runs(
    worker, agent_factory, slapd_factory
):
    server = slapd_factory(users=2000, groups=5, members_per_group=40)
    agent = agent_factory("connector-1")
    # The first /sync answer stops half-way and stays open, so the worker is mid-stream.
    relay = Relay(agent.port, cut_after=120_000, stall=True)
    try:
        connector = register(agent, url=relay.url)
        directory = make_directory("crash.example.com", server, connector)
        save_sync_connectors(directory, [connector.pk])
        lost, _ = start_sync(directory, Trigger.MANUAL)
        assert relay.cut_event.wait(30)
        wait_until(lambda: SyncRun.objects.get(pk=lost.pk).status == RunStatus.RUNNING)
        on_postgresql = temporary_tables() is not None
        if on_postgresql:
            # Mid-stream, the worker's session holds the table its read stages users in.
            wait_until(lambda: temporary_tables() == 1, what="the run's staging table")

        worker.kill()

        lost.refresh_from_db()
        assert lost.status == RunStatus.RUNNING
        assert not DirectoryUser.objects.filter(directory=directory).exists()
        if on_postgresql:
            # The killed run's staged rows went with its session.
            wait_until(lambda: temporary_tables() == 0, what="no staging table left")
        lease_at_kill = lost.lease_until

        worker.start()
        fresh, created = start_sync(directory, Trigger.MANUAL)
        fresh = wait_for_run(fresh)
    finally:
        relay.close()

    assert created
    assert fresh.status == RunStatus.COMPLETED, fresh.message
    # A dead worker on this host is recognised at once, not when its lease runs out.
    assert fresh.started_at < lease_at_kill
    lost.refresh_from_db()
    assert lost.status == RunStatus.FAILED
    assert "its process is gone" in lost.message
    assert "nothing from this run was applied" in lost.message
    assert list(lost.attempts.values_list("outcome", flat=True)) == [AttemptOutcome.INCOMPLETE]
    assert claim_of(connector) == (None, None)
    assert_db_equals_ldap(directory, server)
    # The worker lives on; the run it finished dropped its staging table.
    assert temporary_tables() in (0, None)


def test_worker_killed_inside_the_apply_transaction_leaves_nothing_applied(
    worker, agent_factory, slapd_factory
):
    server = slapd_factory(users=40_000, groups=40, members_per_group=200, non_ascii_every=0)
    connector = register(agent_factory("connector-1"))
    directory = make_directory("crash.example.com", server, connector)
    lost, _ = start_sync(directory, Trigger.MANUAL)

    def applying_or_ended():
        run = SyncRun.objects.get(pk=lost.pk)
        ended = run.status not in (RunStatus.QUEUED, RunStatus.RUNNING)
        return run if run.phase == RunPhase.APPLYING or ended else None

    # Polled closely: the apply step is short, and on a busy machine a poll every 50 ms
    # once missed it (the run had completed by the next look).
    reached = wait_until(applying_or_ended, timeout=120, what="the apply step", interval=0.005)
    assert reached.phase == RunPhase.APPLYING, (reached.status, reached.message)

    worker.kill()

    lost.refresh_from_db()
    # The kill landed inside the transaction: the run never completed, nothing is stored.
    assert lost.status == RunStatus.RUNNING
    assert not DirectoryUser.objects.filter(directory=directory).exists()
    assert not DirectoryGroup.objects.filter(directory=directory).exists()
    assert not SyncChange.objects.filter(run=lost).exists()

    lease_at_kill = lost.lease_until
    worker.start()
    fresh = wait_for_run(start_sync(directory, Trigger.MANUAL)[0], timeout=120)

    assert fresh.status == RunStatus.COMPLETED, fresh.message
    assert fresh.started_at < lease_at_kill
    lost.refresh_from_db()
    assert lost.status == RunStatus.FAILED and "its process is gone" in lost.message
    assert fresh.users_added == 40_000
    assert DirectoryUser.objects.filter(directory=directory).count() == 40_000


def test_run_of_an_unreachable_worker_is_taken_over_when_its_lease_expires(
    worker, directory_with_list, ldap_server
):
    # A run held by a worker on another machine that stopped renewing its lease.
    ghost = SyncRun.objects.create(
        directory=directory_with_list,
        status=RunStatus.RUNNING,
        started_at=timezone.now(),
        worker="other-host:4242:1",
        lease_until=timezone.now() + timedelta(seconds=3),
    )

    run, _ = start_sync(directory_with_list, Trigger.MANUAL)
    run = wait_for_run(run)

    assert run.status == RunStatus.COMPLETED, run.message
    assert run.started_at >= ghost.lease_until
    ghost.refresh_from_db()
    assert ghost.status == RunStatus.FAILED
    assert "lease expired" in ghost.message
    assert_db_equals_ldap(directory_with_list, ldap_server)


def test_sweep_fails_dead_runs_and_restarts_queued_runs_whose_message_was_lost(
    worker, directory_with_list, ldap_server
):
    from directories.tasks import reap_stale_runs

    dead = SyncRun.objects.create(
        directory=directory_with_list,
        status=RunStatus.RUNNING,
        started_at=timezone.now() - timedelta(minutes=5),
        worker="gone-host:1:1",
        lease_until=timezone.now() - timedelta(seconds=1),
    )
    # Queued two minutes ago, but its task message never reached a worker (e.g. Redis restart).
    orphan = SyncRun.objects.create(
        directory=directory_with_list, created=timezone.now() - timedelta(minutes=2)
    )

    reap_stale_runs()

    dead.refresh_from_db()
    assert dead.status == RunStatus.FAILED and "lease expired" in dead.message
    orphan = wait_for_run(orphan)
    assert orphan.status == RunStatus.COMPLETED, orphan.message
    assert_db_equals_ldap(directory_with_list, ldap_server)
