"""Fixtures for end-to-end syncs: slapd, real agents, connectors and a real Celery worker."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from connectors.models import Connector
from directories.models import (
    Directory,
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    GroupNesting,
)
from directories.services import save_sync_connectors
from directories.tasks import start_sync
from synclog.choices import RunStatus, Trigger
from synclog.models import SyncRun
from testbed.agents import AgentProcess
from testbed.slapd import Slapd
from testbed.wiring import make_directory, register
from testbed.worker import Worker, flush_broker
from tests.support.fidelity import read_directory


@pytest.fixture(scope="session")
def worker_log_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("workers")


@pytest.fixture(scope="session")
def sync_worker(django_db_setup, django_db_blocker, worker_log_dir):
    """One real Celery worker (2 processes) for the session, on the test database."""
    flush_broker()
    worker = Worker("sync", worker_log_dir, concurrency=2).start()
    yield worker
    worker.stop()


@pytest.fixture
def worker(sync_worker, transactional_db):
    if sync_worker.process.poll() is not None:
        # A test that kills the worker on purpose leaves it dead; the next one gets a new one.
        sync_worker.start()
    yield sync_worker
    if SyncRun.objects.filter(status__in=(RunStatus.QUEUED, RunStatus.RUNNING)).exists():
        # A run still in flight (a stalled stream, a queued follow-up) would keep a pool
        # process busy into the next test, whose rows it no longer has: start that test
        # with an idle worker and an empty queue instead.
        sync_worker.kill()
        flush_broker()


@dataclass
class Agent:
    connector: Connector
    process: AgentProcess


@pytest.fixture
def ldap_server(slapd_factory) -> Slapd:
    return slapd_factory(users=120, groups=6, members_per_group=20, nested=True)


@pytest.fixture
def agents(agent_factory, transactional_db) -> list[Agent]:
    """Three running agents, each registered as an activated connector."""
    out = []
    for n in (1, 2, 3):
        process = agent_factory(f"connector-{n}")
        out.append(Agent(register(process), process))
    return out


@pytest.fixture
def directory_with_list(ldap_server, agents) -> Directory:
    """corp.example.com, sync connector connector-1, list connector-1, -2, -3."""
    directory = make_directory("corp.example.com", ldap_server, agents[0].connector)
    save_sync_connectors(directory, [a.connector.pk for a in agents])
    return directory


def wait_for_run(run: SyncRun, timeout: float = 60.0) -> SyncRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
            return run
        time.sleep(0.1)
    raise AssertionError(f"sync run {run.pk} still {run.status} after {timeout:g} s")


def wait_until(predicate, timeout: float = 30.0, what: str = "condition", interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout:g} s")


def sync(directory: Directory, timeout: float = 60.0) -> SyncRun:
    """Sync Now through the real worker, and wait for the run to end."""
    run, _ = start_sync(directory, Trigger.MANUAL)
    return wait_for_run(run, timeout)


# Every column the store keeps of a user, as the REST API names them.
USER_FIELDS = (
    "dn",
    "username",
    "first_name",
    "last_name",
    "email",
    "display_name",
    "upn",
    "disabled",
)


def store_state(directory: Directory) -> dict:
    """What the store holds for a directory, every synced column, keyed by stable id."""
    return {
        "users": {
            row["external_id"]: {k: row[k] for k in USER_FIELDS}
            for row in DirectoryUser.objects.filter(directory=directory).values(
                "external_id", *USER_FIELDS
            )
        },
        "groups": {
            ext: {"dn": dn, "name": name}
            for ext, dn, name in DirectoryGroup.objects.filter(directory=directory).values_list(
                "external_id", "dn", "name"
            )
        },
        "members": set(
            GroupMembership.objects.filter(group__directory=directory).values_list(
                "group__external_id", "user__external_id"
            )
        ),
        "nesting": set(
            GroupNesting.objects.filter(parent__directory=directory).values_list(
                "parent__external_id", "child__external_id"
            )
        ),
    }


def assert_db_equals_ldap(directory: Directory, server: Slapd) -> None:
    """The store equals an independent python-ldap read of the directory (slapd itself
    resolves every member value), column by column."""
    want = read_directory(
        server,
        user_bases=tuple(directory.user_dns or [directory.base_dn]),
        group_bases=tuple(directory.group_dns or [directory.base_dn]),
        user_filter=directory.user_filter,
    )
    have = store_state(directory)
    assert have["users"] == want.users
    assert have["groups"] == want.groups
    assert have["members"] == want.members
    assert have["nesting"] == want.nesting
