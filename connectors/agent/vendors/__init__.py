"""Directory vendors: each reads ids, user fields and group members its own way."""

from __future__ import annotations

from connectors.agent.ldapsource import DirectorySource
from connectors.agent.request import SyncSettings
from connectors.agent.vendors.active_directory import ActiveDirectorySource
from connectors.agent.vendors.openldap import OpenLDAPSource

SOURCES: dict[str, type[DirectorySource]] = {
    "ldap": OpenLDAPSource,
    "ad": ActiveDirectorySource,
}


def source_for(settings: SyncSettings) -> DirectorySource:
    """The reader for the directory's type."""
    return SOURCES[settings.directory_type](settings)
