"""Fixtures for console page tests: a Directory Admin client, sync runs, users and groups."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from directories.models import (
    Directory,
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    GroupNesting,
)
from directories.services import create_directory
from synclog.choices import AttemptOutcome, ChangeAction, ChangeKind, RunStatus, Trigger
from synclog.models import SyncAttempt, SyncChange, SyncRun

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    # The admins' passwords are hashed in every test; the production hasher takes ~1 s each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def diradmin_client(directory_admin) -> Client:
    client = Client()
    client.force_login(directory_admin)
    return client


def make_run(directory: Directory, status: str = RunStatus.COMPLETED, **fields: object) -> SyncRun:
    now = timezone.now()
    defaults = {
        "trigger": Trigger.MANUAL,
        "started_at": None if status == RunStatus.QUEUED else now - timedelta(seconds=42),
        "finished_at": now if status not in (RunStatus.QUEUED, RunStatus.RUNNING) else None,
    }
    return SyncRun.objects.create(directory=directory, status=status, **{**defaults, **fields})


def daily_branch(sync_connector) -> Directory:
    """branch.example.com, synced by `sync_connector` alone, daily at 02:00 UTC: the
    corp directory's partner in the sync plan's collisions."""
    return create_directory(
        name="branch.example.com",
        type="ldap",
        sync_connector=sync_connector,
        host="10.0.0.2",
        base_dn="dc=branch",
        bind_dn="cn=admin,dc=branch",
        sync_frequency="daily",
        sync_time="02:00",
        sync_time_zone="UTC",
    )


@pytest.fixture
def finished_run(directory, connectors) -> SyncRun:
    """A run that fell over from connector-1 to connector-2 and changed 60 users, 15 groups."""
    run = make_run(
        directory,
        connector_used=connectors[1],
        connector_used_name=connectors[1].name,
        connector_snapshot=[
            {"id": c.pk, "name": c.name, "position": i} for i, c in enumerate(connectors, 1)
        ],
        users_added=40,
        users_updated=15,
        users_deleted=5,
        groups_added=15,
        message="Synced through connector-2 after connector-1 was unreachable.",
    )
    SyncAttempt.objects.create(
        run=run,
        position=1,
        connector=connectors[0],
        connector_name=connectors[0].name,
        outcome=AttemptOutcome.UNAVAILABLE,
        finished_at=timezone.now(),
        message="connection refused",
    )
    SyncAttempt.objects.create(
        run=run,
        position=2,
        connector=connectors[1],
        connector_name=connectors[1].name,
        outcome=AttemptOutcome.SUCCEEDED,
        finished_at=timezone.now(),
        entries_received=75,
    )
    changes = [
        SyncChange(
            run=run,
            kind=ChangeKind.USER,
            action=action,
            external_id=f"u-{action}-{n}",
            name=f"user-{action}-{n:03d}",
            dn=f"uid=user-{action}-{n:03d},ou=people,dc=example,dc=com",
        )
        for action, count in (
            (ChangeAction.ADDED, 40),
            (ChangeAction.UPDATED, 15),
            (ChangeAction.DELETED, 5),
        )
        for n in range(count)
    ]
    changes += [
        SyncChange(
            run=run,
            kind=ChangeKind.GROUP,
            action=ChangeAction.ADDED,
            external_id=f"g-{n}",
            name=f"group-{n:03d}",
        )
        for n in range(15)
    ]
    SyncChange.objects.bulk_create(changes)
    return run


@pytest.fixture
def directory_data(directory) -> dict:
    """120 users; groups all-staff > engineering > backend > all-staff (a nesting cycle)."""
    now = timezone.now()
    users = DirectoryUser.objects.bulk_create(
        DirectoryUser(
            directory=directory,
            external_id=f"uuid-{n}",
            dn=f"uid=user{n:03d},ou=people,dc=example,dc=com",
            username=f"user{n:03d}",
            first_name="Ada" if n == 7 else f"First{n}",
            last_name="Lovelace" if n == 7 else f"Last{n}",
            email=f"user{n:03d}@example.com",
            upn=f"user{n:03d}@example.com",
            disabled=n == 9,
            synced_at=now,
        )
        for n in range(120)
    )
    names = ["all-staff", "engineering", "backend", "sales"]
    groups = {
        name: DirectoryGroup.objects.create(
            directory=directory,
            external_id=f"g-{name}",
            dn=f"cn={name},ou=groups,dc=example,dc=com",
            name=name,
            synced_at=now,
        )
        for name in names
    }
    GroupNesting.objects.create(parent=groups["all-staff"], child=groups["engineering"])
    GroupNesting.objects.create(parent=groups["engineering"], child=groups["backend"])
    GroupNesting.objects.create(parent=groups["backend"], child=groups["all-staff"])
    memberships = [GroupMembership(group=groups["all-staff"], user=users[0])]
    memberships += [GroupMembership(group=groups["engineering"], user=u) for u in users[1:4]]
    memberships += [GroupMembership(group=groups["backend"], user=u) for u in users[4:7]]
    memberships += [GroupMembership(group=groups["sales"], user=u) for u in users[7:10]]
    GroupMembership.objects.bulk_create(memberships)
    return {"users": users, "groups": groups}


@pytest.fixture
def page_urls(directory, finished_run, directory_data, connectors) -> list[str]:
    """Every console page a GET can open."""
    d = directory.pk
    user = directory_data["users"][0]
    group = directory_data["groups"]["engineering"]
    urls = [
        reverse("directories:directory_list"),
        reverse("directories:directory_add"),
        reverse("directories:directory_detail", args=[d]),
        reverse("directories:directory_sync_connectors", args=[d]),
        reverse("directories:directory_sync_log", args=[d]),
        reverse("directories:directory_users", args=[d]),
        reverse("directories:directory_groups", args=[d]),
        reverse("directories:directoryuser_detail", args=[d, user.pk]),
        reverse("directories:directorygroup_detail", args=[d, group.pk]),
        reverse("directories:identityprovider_list"),
        reverse("directories:identityprovider_detail", args=[directory.identity_provider_id]),
        reverse("connectors:connector_list"),
        reverse("connectors:connector_add"),
        reverse("connectors:connector_activation_code", args=[connectors[0].pk]),
        reverse("directories:sync_plan"),
        reverse("synclog:syncrun_list"),
        reverse("synclog:syncrun_detail", args=[finished_run.pk]),
        reverse("directories:directory_sync_without_safeguards", args=[d]),
        reverse("vidm-console:oauth_clients"),
        reverse("apitokens:token_list"),
    ]
    urls += [
        reverse("directories:directory_sync_settings", args=[d, section])
        for section in ("frequency", "users", "groups", "attributes", "safeguards", "notifications")
    ]
    return urls


@pytest.fixture
def change_only_urls(directory, connectors) -> list[str]:
    """Every console page that exists only to change something: refused to a Read-only
    Admin whether opened (GET) or sent (POST)."""
    return [
        reverse("directories:directory_add"),
        reverse("directories:directory_delete", args=[directory.pk]),
        reverse("directories:directory_sync_now", args=[directory.pk]),
        reverse("connectors:connector_add"),
        reverse("connectors:connector_activation_code", args=[connectors[0].pk]),
        reverse("connectors:connector_delete", args=[connectors[2].pk]),
        reverse("directories:directory_review", args=[directory.pk]),
        reverse("directories:directory_sync_without_safeguards", args=[directory.pk]),
        reverse("vidm-console:oauth_clients"),
    ]
