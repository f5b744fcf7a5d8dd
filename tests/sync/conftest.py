"""Fixtures for end-to-end syncs: slapd, real agents, connectors and a real Celery worker."""

from __future__ import annotations

import time
from dataclasses import dataclass

import ldap
import pytest

from connectors.choices import ActivationState, HealthState
from connectors.models import Connector
from directories.choices import DirectoryType
from directories.models import (
    Directory,
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    GroupNesting,
)
from directories.services import create_directory, save_sync_connectors
from synclog.choices import RunStatus, Trigger
from synclog.models import SyncRun
from synclog.services import trigger_sync
from tests.support.agents import AgentProcess
from tests.support.slapd import Slapd
from tests.support.worker import Worker, flush_broker


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
    return sync_worker


@dataclass
class Agent:
    connector: Connector
    process: AgentProcess


def register(process: AgentProcess, url: str | None = None) -> Connector:
    """The Connector row an activated agent would have."""
    return Connector.objects.create(
        name=process.name,
        host="127.0.0.1",
        url=url or process.url,
        version="19.03.0.0",
        activation_state=ActivationState.ACTIVE,
        health=HealthState.OK,
        secret=process.secret,
    )


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


def make_directory(
    name: str, server: Slapd, sync_connector: Connector, port_override: int | None = None, **extra
) -> Directory:
    return create_directory(
        name=name,
        type=DirectoryType.LDAP,
        sync_connector=sync_connector,
        host=server.host,
        port=port_override or server.port,
        base_dn=server.suffix,
        bind_dn=server.root_dn,
        bind_password=server.root_password,
        user_dns=[server.people_dn],
        group_dns=[server.groups_dn],
        **extra,
    )


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


def wait_until(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached within {timeout:g} s")


def sync(directory: Directory, timeout: float = 60.0) -> SyncRun:
    """Sync Now through the real worker, and wait for the run to end."""
    run, _ = trigger_sync(directory, Trigger.MANUAL)
    return wait_for_run(run, timeout)


def ldap_state(server: Slapd) -> dict:
    """What the directory holds, read straight from slapd, in the shape of the synced store."""
    conn = ldap.initialize(server.uri)
    conn.simple_bind_s(server.root_dn, server.root_password)
    users, groups, dn_to_id = {}, {}, {}
    for dn, attrs in conn.search_s(
        server.people_dn,
        ldap.SCOPE_SUBTREE,
        "(objectClass=inetOrgPerson)",
        ["entryUUID", "uid", "givenName", "sn", "mail"],
    ):
        uuid = attrs["entryUUID"][0].decode()
        users[uuid] = (
            attrs["uid"][0].decode(),
            attrs.get("givenName", [b""])[0].decode(),
            attrs.get("sn", [b""])[0].decode(),
            attrs.get("mail", [b""])[0].decode(),
        )
        dn_to_id[dn.lower()] = uuid
    raw_groups = conn.search_s(
        server.groups_dn,
        ldap.SCOPE_SUBTREE,
        "(objectClass=groupOfNames)",
        ["entryUUID", "cn", "member"],
    )
    group_ids = set()
    for dn, attrs in raw_groups:
        dn_to_id[dn.lower()] = attrs["entryUUID"][0].decode()
        group_ids.add(attrs["entryUUID"][0].decode())
    members, nesting = set(), set()
    for _dn, attrs in raw_groups:
        gid = attrs["entryUUID"][0].decode()
        groups[gid] = attrs["cn"][0].decode()
        for member in attrs.get("member", []):
            mid = dn_to_id.get(member.decode().lower())
            if mid in users:
                members.add((gid, mid))
            elif mid in group_ids and mid != gid:
                nesting.add((gid, mid))
    conn.unbind_s()
    return {"users": users, "groups": groups, "members": members, "nesting": nesting}


def db_state(directory: Directory) -> dict:
    return {
        "users": {
            ext: (u, f, s, e)
            for ext, u, f, s, e in DirectoryUser.objects.filter(directory=directory).values_list(
                "external_id", "username", "first_name", "last_name", "email"
            )
        },
        "groups": dict(
            DirectoryGroup.objects.filter(directory=directory).values_list("external_id", "name")
        ),
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
    want, have = ldap_state(server), db_state(directory)
    assert have["users"] == want["users"]
    assert have["groups"] == want["groups"]
    assert have["members"] == want["members"]
    assert have["nesting"] == want["nesting"]
