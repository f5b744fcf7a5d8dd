"""The rows that connect a running agent and a throwaway slapd to the console."""

from __future__ import annotations

from connectors.choices import ActivationState, HealthState
from connectors.models import Connector
from directories.choices import DirectoryType
from directories.models import Directory
from directories.services import create_directory
from testbed.agents import AgentProcess
from testbed.slapd import Slapd


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


def make_directory(
    name: str, server: Slapd, sync_connector: Connector, port_override: int | None = None, **extra
) -> Directory:
    """An LDAP directory reading `server`'s people and groups through `sync_connector`."""
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
