"""Failover on what goes wrong in real deployments: silent streams, broken or lying agents,
agents that cannot reach the directory, connectors not activated or outdated, stalled
workers and redelivered tasks."""

from __future__ import annotations

import os
import signal
import socket
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.choices import ActivationState, HealthState
from connectors.models import Connector
from directories.models import DirectoryUser
from directories.services import save_sync_connectors
from directories.tasks import start_sync
from synclog.choices import AttemptOutcome, RunStatus, Trigger
from synclog.models import SyncChange, SyncRun
from testbed.worker import WORKER_ENV, Worker
from tests.support.proxy import Relay
from tests.support.scripted_agent import ScriptedAgent, record

from .conftest import (
    assert_db_equals_ldap,
    make_directory,
    register,
    sync,
    wait_for_run,
    wait_until,
)

pytestmark = [pytest.mark.ldap, pytest.mark.slow]
STREAM_TIMEOUT = float(WORKER_ENV["CONNECTOR_STREAM_TIMEOUT"])
LEASE = float(WORKER_ENV["SYNC_LEASE_SECONDS"])


def outcomes(run):
    return [(a.connector_name, a.outcome) for a in run.attempts.order_by("position")]


@pytest.fixture
def scripted(transactional_db):
    agents = []

    def start(name, lines, version="19.03.0.0"):
        agent = ScriptedAgent(name, lines, version)
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        agent.close()


def directory_behind(ldap_server, first, second):
    """A directory whose list is [first, second]; `second` is a real agent."""
    directory = make_directory("corp.example.com", ldap_server, first)
    save_sync_connectors(directory, [first.pk, second.pk])
    return directory


def test_a_stream_silent_past_the_stream_timeout_fails_over(
    worker, agent_factory, slapd_factory, transactional_db
):
    server = slapd_factory(users=600, groups=4, members_per_group=20)
    silent, healthy = agent_factory("connector-1"), agent_factory("connector-2")
    relay = Relay(silent.port, cut_after=20_000, stall=True)
    try:
        directory = directory_behind(server, register(silent, url=relay.url), register(healthy))
        run = sync(directory, timeout=60)
    finally:
        relay.close()

    assert relay.cut_event.is_set()
    assert run.status == RunStatus.COMPLETED, run.message
    assert outcomes(run) == [
        ("connector-1", AttemptOutcome.INCOMPLETE),
        ("connector-2", AttemptOutcome.SUCCEEDED),
    ]
    broken = run.attempts.get(position=1)
    assert f"within {STREAM_TIMEOUT:g} s" in broken.message
    assert broken.duration.total_seconds() >= STREAM_TIMEOUT
    assert_db_equals_ldap(directory, server)


@pytest.mark.parametrize(
    "lines, words",
    [
        pytest.param(
            [
                record(type="begin", connector="liar"),
                record(type="user", id="u-1", dn="uid=a,ou=people,dc=example,dc=com", username="a"),
                record(type="end", users=2, groups=0),
            ],
            "announced 2 users and 0 groups but sent 1 and 0",
            id="end-counts-disagree",
        ),
        pytest.param(
            [
                record(type="begin", connector="liar"),
                record(type="user", id=["not", "an", "id"], dn="uid=a,dc=x", username="a"),
                record(type="end", users=1, groups=0),
            ],
            "malformed record",
            id="malformed-record",
        ),
        pytest.param(
            [record(type="begin", connector="liar"), b'{"type": "user", "id": '],
            "without its end record",
            id="cut-mid-record",
        ),
        pytest.param(
            [record(type="user", id="u-1", dn="uid=a,dc=x", username="a"), record(type="end")],
            "no begin record",
            id="no-begin",
        ),
    ],
)
def test_a_stream_that_cannot_be_trusted_is_discarded_and_the_next_connector_syncs(
    worker, ldap_server, agent_factory, scripted, lines, words
):
    liar = scripted("liar", lines)
    directory = directory_behind(ldap_server, register(liar), register(agent_factory("good")))

    run = sync(directory)

    assert run.status == RunStatus.COMPLETED, run.message
    assert outcomes(run) == [("liar", AttemptOutcome.INCOMPLETE), ("good", "succeeded")]
    assert words in run.attempts.get(position=1).message
    assert liar.sync_requests == 1
    # Nothing of the discarded stream reached the store.
    assert not DirectoryUser.objects.filter(directory=directory, external_id="u-1").exists()
    assert_db_equals_ldap(directory, ldap_server)


def test_a_directory_error_on_the_first_connector_then_success_on_the_second(
    worker, ldap_server, agent_factory, scripted
):
    # Connector 1 stands where the directory cannot be reached (a firewall, another site).
    cut_off = scripted(
        "site-a",
        [
            record(type="begin", connector="site-a"),
            record(
                type="error",
                code="unreachable",
                message=f"cannot reach LDAP server {ldap_server.host}:{ldap_server.port}",
            ),
        ],
    )
    directory = directory_behind(ldap_server, register(cut_off), register(agent_factory("site-b")))

    run = sync(directory)

    assert run.status == RunStatus.COMPLETED, run.message
    assert outcomes(run) == [
        ("site-a", AttemptOutcome.DIRECTORY_ERROR),
        ("site-b", AttemptOutcome.SUCCEEDED),
    ]
    assert "site-a could not read the directory: cannot reach LDAP server" in (
        run.attempts.get(position=1).message
    )
    assert run.connector_used_name == "site-b"
    assert_db_equals_ldap(directory, ldap_server)


def test_a_connector_not_yet_activated_is_passed_over(worker, ldap_server, agent_factory):
    pending = Connector.objects.create(name="pending", host="dc3.example.com")
    assert pending.activation_state == ActivationState.PENDING
    directory = directory_behind(ldap_server, pending, register(agent_factory("active")))

    run = sync(directory)

    assert run.status == RunStatus.COMPLETED, run.message
    assert outcomes(run) == [
        ("pending", AttemptOutcome.UNAVAILABLE),
        ("active", AttemptOutcome.SUCCEEDED),
    ]
    assert "has not been activated" in run.attempts.get(position=1).message


def test_an_outdated_connector_anywhere_means_the_sync_connector_alone(
    worker, ldap_server, agent_factory, scripted
):
    first, second = register(agent_factory("connector-1")), register(agent_factory("connector-2"))
    directory = directory_behind(ldap_server, first, second)
    # A connector of the service (in no list) is older than 19.03.0.0: no failover (rule S5).
    old = scripted("legacy", [], version="18.11.0.0")
    legacy = register(old)
    legacy.version = "18.11.0.0"
    legacy.save()

    run = sync(directory)

    assert run.status == RunStatus.COMPLETED, run.message
    assert run.used_fallback_list is False
    assert outcomes(run) == [("connector-1", AttemptOutcome.SUCCEEDED)]
    assert run.snapshot_names == ["connector-1"]


def test_a_probe_finding_an_outdated_agent_records_it(worker, ldap_server, scripted):
    old = scripted("legacy", [], version="18.11.0.0")
    connector = register(old)
    directory = make_directory("legacy.example.com", ldap_server, connector)

    sync(directory)

    connector.refresh_from_db()
    assert connector.health == HealthState.OUTDATED
    assert connector.version == "18.11.0.0"


def test_a_stalled_worker_that_lost_its_lease_drops_its_result(
    worker, agent_factory, slapd_factory, worker_log_dir
):
    server = slapd_factory(users=2000, groups=20, members_per_group=100)
    agent = agent_factory("connector-1")
    # The first read pauses half-way (shorter than the stream timeout): the worker is
    # mid-read, waiting, when it is frozen.
    relay = Relay(agent.port, cut_after=100_000, pause=STREAM_TIMEOUT - 2)
    connector = register(agent, url=relay.url)
    directory = make_directory("stall.example.com", server, connector)
    stalled, _ = start_sync(directory, Trigger.MANUAL)
    assert relay.cut_event.wait(30)
    # Freeze between two heartbeats (on SQLite a frozen beat would hold the write lock).
    seen = SyncRun.objects.get(pk=stalled.pk).lease_until
    wait_until(lambda: SyncRun.objects.get(pk=stalled.pk).lease_until != seen, what="a beat")
    time.sleep(LEASE / 16)
    os.killpg(worker.process.pid, signal.SIGSTOP)
    second = Worker("second", worker_log_dir, concurrency=1)
    frozen = True
    try:
        second.start()
        # While the first worker hangs, the directory changes.
        for n in range(0, 200):
            server.delete_user(f"user{n}")
        takeover, _ = start_sync(directory, Trigger.MANUAL)
        takeover = wait_for_run(takeover, timeout=120)
        assert takeover.status == RunStatus.COMPLETED, takeover.message
        stalled.refresh_from_db()
        assert stalled.status == RunStatus.FAILED and "its lease expired" in stalled.message
        assert takeover.started_at >= stalled.lease_until
        settled = list(DirectoryUser.objects.filter(directory=directory).values())

        os.killpg(worker.process.pid, signal.SIGCONT)
        frozen = False
        wait_until(
            lambda: b"lost its lease; its result was dropped" in worker.log_path.read_bytes(),
            timeout=60,
            what="the stalled worker giving up",
        )
        # The stalled worker's old read (with the 200 deleted users) was not written.
        assert list(DirectoryUser.objects.filter(directory=directory).values()) == settled
        assert not SyncChange.objects.filter(run=stalled).exists()
        assert_db_equals_ldap(directory, server)
    finally:
        if frozen:
            os.killpg(worker.process.pid, signal.SIGCONT)
        second.stop()
        relay.close()


def test_a_redelivered_task_of_a_run_whose_worker_died_fails_it_and_starts_the_next(
    worker, directory_with_list, ldap_server
):
    from directories.tasks import sync_directory

    gone_pid = 2**22 + 17  # above the default pid_max: no such process on this host
    host = socket.gethostname()
    orphan = SyncRun.objects.create(
        directory=directory_with_list,
        status=RunStatus.RUNNING,
        started_at=timezone.now(),
        worker=f"{host}:{gone_pid}:1",
        lease_until=timezone.now() + timedelta(minutes=10),
    )
    waiting = SyncRun.objects.create(directory=directory_with_list, trigger=Trigger.SCHEDULED)

    # Redis hands the running run's task to a worker again (its first worker died).
    sync_directory.delay(orphan.pk)

    waiting = wait_for_run(waiting)
    orphan.refresh_from_db()
    assert orphan.status == RunStatus.FAILED and "its process is gone" in orphan.message
    assert waiting.status == RunStatus.COMPLETED, waiting.message
    # Well before the orphan's ten-minute lease would have freed the directory.
    assert waiting.finished_at < orphan.lease_until - timedelta(minutes=9)
    assert_db_equals_ldap(directory_with_list, ldap_server)


def test_a_redelivered_task_of_a_run_still_going_changes_nothing(worker, directory_with_list):
    from directories.tasks import sync_directory
    from synclog import lifecycle as leases

    live = SyncRun.objects.create(
        directory=directory_with_list,
        status=RunStatus.RUNNING,
        started_at=timezone.now(),
        # This test process: alive, on this host.
        worker=leases.worker_id(),
        lease_until=timezone.now() + timedelta(minutes=10),
    )
    before = SyncRun.objects.filter(pk=live.pk).values().get()

    task = sync_directory.delay(live.pk)
    wait_until(
        lambda: f"{task.id}] succeeded".encode() in worker.log_path.read_bytes(),
        what="the worker handling the redelivered task",
    )

    assert SyncRun.objects.filter(pk=live.pk).values().get() == before
    assert not live.attempts.exists()
