"""Syncing a real Active Directory (Samba AD DC) through an agent and a Celery worker."""

from __future__ import annotations

import pytest

from directories.choices import DirectoryType
from directories.models import DirectoryGroup, DirectoryUser, GroupMembership, GroupNesting
from directories.services import create_directory
from synclog.choices import RunStatus
from tests.support.samba_ad import object_guid

from .conftest import register, sync

pytestmark = [pytest.mark.ad, pytest.mark.slow]


@pytest.fixture
def ad_directory(samba_ad, agent_factory, transactional_db):
    connector = register(agent_factory("ad-connector"))
    return create_directory(
        name="example.test",
        type=DirectoryType.ACTIVE_DIRECTORY,
        sync_connector=connector,
        host=samba_ad.host,
        port=samba_ad.port,
        base_dn=samba_ad.base_dn,
        bind_dn=samba_ad.bind_dn,
        bind_password=samba_ad.password,
        user_dns=[samba_ad.users_ou_dn],
        group_dns=[samba_ad.groups_ou_dn],
    )


def test_active_directory_sync_keeps_guids_names_disabled_flags_and_nesting(
    worker, samba_ad, ad_directory
):
    run = sync(ad_directory, timeout=120)

    assert run.status == RunStatus.COMPLETED, run.message
    users = DirectoryUser.objects.filter(directory=ad_directory)
    assert users.count() == len(samba_ad.users)
    assert run.users_added == len(samba_ad.users)

    # Stable ids are objectGUIDs; usernames are sAMAccountNames.
    conn = samba_ad.connect()
    for ad_user in (samba_ad.users[0], samba_ad.users[-1], *samba_ad.non_ascii_users):
        stored = users.get(external_id=object_guid(conn, ad_user.dn))
        assert stored.username == ad_user.sam
        assert stored.upn == (ad_user.upn or "")
        assert stored.first_name == (ad_user.given_name or "")
        assert stored.last_name == (ad_user.sn or "")

    disabled = set(users.filter(disabled=True).values_list("username", flat=True))
    assert disabled == {u.sam for u in samba_ad.disabled_users}

    names = {u.given_name for u in samba_ad.non_ascii_users} | {
        u.sn for u in samba_ad.non_ascii_users
    }
    stored_names = set(users.values_list("first_name", flat=True)) | set(
        users.values_list("last_name", flat=True)
    )
    assert names - {None} <= stored_names

    groups = DirectoryGroup.objects.filter(directory=ad_directory)
    all_staff = groups.get(external_id=object_guid(conn, samba_ad.all_staff.dn))
    # More members than one ranged read returns: all 3,000 arrive.
    assert GroupMembership.objects.filter(group=all_staff).count() == 3000
    engineering = groups.get(external_id=object_guid(conn, samba_ad.engineering.dn))
    backend = groups.get(external_id=object_guid(conn, samba_ad.backend.dn))
    assert GroupNesting.objects.filter(parent=engineering, child=backend).exists()
    backend_members = set(
        GroupMembership.objects.filter(group=backend).values_list("user__username", flat=True)
    )
    assert backend_members == {
        samba_ad.users_by_dn[dn].sam
        for dn in samba_ad.backend.member_dns
        if dn in samba_ad.users_by_dn
    }

    again = sync(ad_directory, timeout=120)
    assert again.status == RunStatus.COMPLETED
    assert again.changes.count() == 0
