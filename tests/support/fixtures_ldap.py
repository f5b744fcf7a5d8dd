"""pytest fixtures: throwaway slapd directories and real connector agent processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from testbed.agents import AgentFactory, AgentProcess
from testbed.slapd import Dataset, Slapd, slapd_available

from .components import missing

__all__ = ["agent", "agent_factory", "slapd", "slapd_factory"]


@pytest.fixture
def slapd_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Slapd]]:
    """Build and start slapd servers: ``slapd_factory(users=..., groups=...,
    members_per_group=..., nested=..., non_ascii_every=..., group_class=..., tls=...,
    syncprov=..., start=True)``. Every server is stopped and removed at teardown."""
    if not slapd_available():
        missing("OpenLDAP slapd", "slapd/slapadd or its schemas are not installed")
    servers: list[Slapd] = []

    def build(
        *, tls: bool = False, syncprov: bool = False, start: bool = True, **dataset: Any
    ) -> Slapd:
        server = Slapd(
            tmp_path_factory.mktemp("slapd"), Dataset(**dataset), tls=tls, syncprov=syncprov
        )
        servers.append(server)
        return server.start() if start else server

    yield build
    for server in servers:
        server.cleanup()


@pytest.fixture
def slapd(slapd_factory: Callable[..., Slapd]) -> Slapd:
    """A running slapd with 50 users (some with non-ASCII names) and 5 groups, one nested."""
    return slapd_factory(users=50, groups=5, members_per_group=10, nested=True, non_ascii_every=7)


@pytest.fixture
def agent_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentFactory]:
    """Start agent processes: ``agent_factory(name=None, *, secret=None, port=None,
    version=None, page_size=None, env=None, start=True)``; all are stopped at teardown."""
    factory = AgentFactory(tmp_path_factory.mktemp("agents"))
    yield factory
    factory.close()


@pytest.fixture
def agent(agent_factory: AgentFactory) -> AgentProcess:
    """One running agent named ``connector-1``."""
    return agent_factory("connector-1")
