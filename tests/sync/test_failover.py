"""Failover through the Sync Connectors list, end to end: slapd, agents, a Celery worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from directories.models import DirectoryUser
from directories.services import save_sync_connectors
from directories.tasks import start_sync
from synclog.choices import AttemptOutcome, RunStatus, Trigger
from testbed.worker import WORKER_ENV
from tests.support.proxy import Relay

from .conftest import (
    assert_db_equals_ldap,
    make_directory,
    register,
    sync,
    wait_for_run,
    wait_until,
)

pytestmark = [pytest.mark.ldap, pytest.mark.slow]
PROBE_TIMEOUT = float(WORKER_ENV["CONNECTOR_PROBE_TIMEOUT"])
BUSY_WAIT = float(WORKER_ENV["CONNECTOR_BUSY_WAIT"])


def outcomes(run):
    return [(a.connector_name, a.outcome) for a in run.attempts.order_by("position")]


def test_first_healthy_connector_syncs_and_the_log_names_it(
    worker, directory_with_list, ldap_server
):
    run = sync(directory_with_list)

    assert run.status == RunStatus.COMPLETED, run.message
    assert run.connector_used_name == "connector-1"
    assert outcomes(run) == [("connector-1", AttemptOutcome.SUCCEEDED)]
    assert run.snapshot_names == ["connector-1", "connector-2", "connector-3"]
    assert run.users_added == 120 and run.groups_added == 6
    assert run.changes.count() == 126
    assert_db_equals_ldap(directory_with_list, ldap_server)


def test_sync_falls_over_to_second_connector_when_first_refuses(
    worker, directory_with_list, agents, ldap_server
):
    agents[0].process.stop()

    run = sync(directory_with_list)

    assert run.status == RunStatus.COMPLETED, run.message
    assert run.connector_used_name == "connector-2"
    assert outcomes(run) == [
        ("connector-1", AttemptOutcome.UNAVAILABLE),
        ("connector-2", AttemptOutcome.SUCCEEDED),
    ]
    assert "connection refused" in run.attempts.get(position=1).message
    agents[0].connector.refresh_from_db()
    assert agents[0].connector.health == "unreachable"
    assert_db_equals_ldap(directory_with_list, ldap_server)


def test_frozen_first_agent_is_passed_over_after_the_probe_timeout(
    worker, directory_with_list, agents, ldap_server
):
    agents[0].process.freeze()
    try:
        run = sync(directory_with_list)
    finally:
        agents[0].process.thaw()

    assert run.status == RunStatus.COMPLETED, run.message
    assert run.connector_used_name == "connector-2"
    first = run.attempts.get(position=1)
    assert first.outcome == AttemptOutcome.UNAVAILABLE
    assert f"within {PROBE_TIMEOUT:g} s" in first.message
    # The frozen agent costs the probe timeout, not the 10 s stream timeout.
    assert first.duration.total_seconds() < PROBE_TIMEOUT + 1.5
    assert_db_equals_ldap(directory_with_list, ldap_server)


def test_partial_stream_of_a_killed_agent_is_discarded(
    worker, agent_factory, slapd_factory, transactional_db
):
    server = slapd_factory(users=3000, groups=10, members_per_group=50)
    first = agent_factory("connector-1")
    second = agent_factory("connector-2")
    # The relay passes 150 kB of the first agent's answer, then kills the agent.
    relay = Relay(first.port, cut_after=150_000, on_cut=first.kill)
    try:
        c1 = register(first, url=relay.url)
        c2 = register(second)
        directory = make_directory("big.example.com", server, c1)
        save_sync_connectors(directory, [c1.pk, c2.pk])

        run = sync(directory)
    finally:
        relay.close()

    assert relay.cut_event.is_set()
    assert run.status == RunStatus.COMPLETED, run.message
    assert outcomes(run) == [
        ("connector-1", AttemptOutcome.INCOMPLETE),
        ("connector-2", AttemptOutcome.SUCCEEDED),
    ]
    assert "without its end record" in run.attempts.get(position=1).message
    assert run.users_added == 3000
    assert DirectoryUser.objects.filter(directory=directory).count() == 3000
    assert_db_equals_ldap(directory, server)


def test_wrong_secret_is_unauthorized_and_next_connector_syncs(
    worker, directory_with_list, agents, ldap_server
):
    c1 = agents[0].connector
    c1.secret = "not-the-agents-secret"
    c1.save()

    run = sync(directory_with_list)

    assert run.status == RunStatus.COMPLETED, run.message
    assert outcomes(run) == [
        ("connector-1", AttemptOutcome.UNAUTHORIZED),
        ("connector-2", AttemptOutcome.SUCCEEDED),
    ]
    c1.refresh_from_db()
    assert c1.health == "unauthorized"
    assert_db_equals_ldap(directory_with_list, ldap_server)


def test_run_fails_listing_every_connector_when_all_are_down(worker, directory_with_list, agents):
    for agent in agents:
        agent.process.stop()

    run = sync(directory_with_list)

    assert run.status == RunStatus.FAILED
    assert [o for _, o in outcomes(run)] == [AttemptOutcome.UNAVAILABLE] * 3
    for agent in agents:
        assert f"{agent.connector.name} (unavailable): connection refused" in run.message
    assert run.message.startswith("No connector could sync corp.example.com")
    assert not DirectoryUser.objects.exists()


def test_empty_list_uses_the_sync_connector_without_fallback(
    worker, ldap_server, agents, transactional_db
):
    directory = make_directory("legacy.example.com", ldap_server, agents[1].connector)
    save_sync_connectors(directory, [])

    run = sync(directory)
    assert run.status == RunStatus.COMPLETED, run.message
    assert outcomes(run) == [("connector-2", AttemptOutcome.SUCCEEDED)]
    assert run.used_fallback_list is False

    agents[1].process.stop()
    run = sync(directory)
    assert run.status == RunStatus.FAILED
    assert outcomes(run) == [("connector-2", AttemptOutcome.UNAVAILABLE)]
    assert "no fallback" in run.message


def test_running_sync_keeps_its_snapshot_and_next_sync_uses_the_new_order(
    worker, directory_with_list, agents
):
    agents[0].process.freeze()
    try:
        run, _ = start_sync(directory_with_list, Trigger.MANUAL)
        wait_until(
            lambda: run.attempts.filter(connector_name="connector-1").exists(),
            what="the first attempt",
        )
        save_sync_connectors(directory_with_list, [agents[2].connector.pk, agents[1].connector.pk])
        # The list changed while this run was still going: the window the rule is about.
        run.refresh_from_db()
        assert run.status == RunStatus.RUNNING and run.finished_at is None
        run = wait_for_run(run)
    finally:
        agents[0].process.thaw()

    assert run.snapshot_names == ["connector-1", "connector-2", "connector-3"]
    assert run.connector_used_name == "connector-2"

    following = sync(directory_with_list)
    assert following.snapshot_names == ["connector-3", "connector-2"]
    assert following.connector_used_name == "connector-3"


def test_triggers_during_a_run_queue_at_most_one_follow_up(worker, directory_with_list, agents):
    agents[0].process.freeze()
    try:
        first, _ = start_sync(directory_with_list, Trigger.MANUAL)
        wait_until(lambda: first.attempts.exists(), what="the first attempt")
        second, created_second = start_sync(directory_with_list, Trigger.SCHEDULED)
        third, created_third = start_sync(directory_with_list, Trigger.MANUAL)
        # Both triggers came while the first run was going.
        first.refresh_from_db()
        assert first.status == RunStatus.RUNNING and first.finished_at is None
    finally:
        agents[0].process.thaw()

    assert created_second and not created_third
    assert third.pk == second.pk
    first, second = wait_for_run(first), wait_for_run(second)
    assert first.status == RunStatus.COMPLETED
    assert second.status == RunStatus.COMPLETED
    # The follow-up started only once the first had ended.
    assert second.started_at >= first.finished_at
    assert directory_with_list.sync_runs.count() == 2


def test_shared_connector_never_syncs_two_directories_at_once(
    worker, agent_factory, slapd_factory, transactional_db
):
    server = slapd_factory(users=2000, groups=10, members_per_group=50)
    shared = agent_factory("shared")
    relay = Relay(shared.port)
    try:
        connector = register(shared, url=relay.url)
        one = make_directory("one.example.com", server, connector)
        two = make_directory("two.example.com", server, connector)

        run_one, _ = start_sync(one, Trigger.MANUAL)
        run_two, _ = start_sync(two, Trigger.MANUAL)
        run_one, run_two = wait_for_run(run_one), wait_for_run(run_two)
    finally:
        relay.close()

    assert run_one.status == RunStatus.COMPLETED, run_one.message
    assert run_two.status == RunStatus.COMPLETED, run_two.message
    # The two runs were going at the same time (two worker processes) ...
    assert run_one.started_at < run_two.finished_at and run_two.started_at < run_one.finished_at
    # ... yet the shared connector streamed one directory at a time.
    assert relay.sync_requests == 2
    assert relay.max_active_syncs == 1
    assert {run_one.connector_used_name, run_two.connector_used_name} == {"shared"}


def test_busy_connector_is_recorded_and_the_next_one_used(
    worker, agent_factory, slapd_factory, transactional_db
):
    """A connector held by another run past the busy wait is passed over as busy."""
    from synclog import lifecycle as leases
    from synclog.models import SyncRun
    from tests.support.claims import set_claim

    server = slapd_factory(users=50, groups=2, members_per_group=5)
    a, b = agent_factory("connector-a"), agent_factory("connector-b")
    ca, cb = register(a), register(b)
    holder_dir = make_directory("holder.example.com", server, ca)
    directory = make_directory("waiting.example.com", server, ca)
    save_sync_connectors(directory, [ca.pk, cb.pk])
    # Another directory's run holds connector-a for longer than the worker's busy wait.
    holder = SyncRun.objects.create(
        directory=holder_dir,
        status=RunStatus.RUNNING,
        worker="elsewhere:1:1",
        lease_until=leases.lease_deadline(),
    )
    set_claim(ca, holder, timezone.now() + timedelta(hours=1))

    run = sync(directory, timeout=90)

    assert run.status == RunStatus.COMPLETED, run.message
    assert outcomes(run) == [
        ("connector-a", AttemptOutcome.BUSY),
        ("connector-b", AttemptOutcome.SUCCEEDED),
    ]
    busy = run.attempts.get(position=1)
    assert "syncing another directory" in busy.message
    assert busy.duration.total_seconds() >= BUSY_WAIT


def test_a_pause_longer_than_the_probe_timeout_does_not_break_the_stream(
    worker, agent_factory, slapd_factory, transactional_db
):
    """Quiet gaps (a slow LDAP page) are allowed up to the stream timeout, not the probe's."""
    server = slapd_factory(users=500, groups=4, members_per_group=10)
    agent = agent_factory("connector-1")
    relay = Relay(agent.port, cut_after=20_000, pause=PROBE_TIMEOUT + 2)
    try:
        connector = register(agent, url=relay.url)
        directory = make_directory("slow.example.com", server, connector)
        run = sync(directory)
    finally:
        relay.close()

    assert relay.cut_event.is_set()
    assert run.status == RunStatus.COMPLETED, run.message
    assert run.attempts.get().duration.total_seconds() > PROBE_TIMEOUT + 2
    assert_db_equals_ldap(directory, server)


def test_values_longer_than_their_column_are_cut_not_fatal(
    worker, directory_with_list, ldap_server
):
    long_name = "Ω" * 300
    ldap_server.add_user("longname", displayName=long_name, sn="L" * 400)

    run = sync(directory_with_list)

    assert run.status == RunStatus.COMPLETED, run.message
    user = DirectoryUser.objects.get(directory=directory_with_list, username="longname")
    assert user.display_name == "Ω" * 255
    assert user.last_name == "L" * 255
    assert sync(directory_with_list).changes.count() == 0


def test_an_internal_error_closes_the_attempt_it_interrupted(directory_with_list, monkeypatch):
    from django.db import OperationalError

    from directories.sync import runner
    from synclog.lifecycle import ConnectorClaims
    from synclog.models import SyncRun

    def broken_claim(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(ConnectorClaims, "take", broken_claim)
    run = SyncRun.objects.create(directory=directory_with_list)

    runner.run_sync(run.pk)

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "database is locked" in run.message
    attempt = run.attempts.get()
    assert attempt.outcome == AttemptOutcome.INCOMPLETE and attempt.finished_at is not None
