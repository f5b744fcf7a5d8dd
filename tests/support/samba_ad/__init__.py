"""A throwaway Samba Active Directory domain controller with a standard test data set.

entries: the objects and the LDAP helpers that add them; dc: the domain controller's
life; dataset: the standard data; templates: cached provisioned DCs; offline_load: the
loader run under the system Python.
"""

from __future__ import annotations

from tests.support.samba_ad.dataset import ADDataSet, ADGroup, ADUser, standard_dataset
from tests.support.samba_ad.dc import SambaDC, SambaDCError, samba_available
from tests.support.samba_ad.entries import (
    add_entries,
    add_group,
    add_members,
    add_ou,
    add_user,
    connect,
    group_entry,
    object_guid,
    ou_entry,
    user_entry,
)
from tests.support.samba_ad.templates import default_cache_dir, prepare_dc, running_standard_dc

__all__ = [
    "ADDataSet",
    "ADGroup",
    "ADUser",
    "SambaDC",
    "SambaDCError",
    "add_entries",
    "add_group",
    "add_members",
    "add_ou",
    "add_user",
    "connect",
    "default_cache_dir",
    "group_entry",
    "object_guid",
    "ou_entry",
    "prepare_dc",
    "running_standard_dc",
    "samba_available",
    "standard_dataset",
    "user_entry",
]
