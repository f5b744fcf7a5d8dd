"""Domain operations on directories, identity providers and Sync Connectors lists."""

from __future__ import annotations

import json
import logging

from django.core.exceptions import ValidationError
from django.db import transaction

from connectors.models import Connector
from console.api import as_id
from console.timezones import server_time_zone
from directories import syncplan
from directories.choices import DEFAULT_FILTERS, DEFAULT_MAPPED_ATTRIBUTES
from directories.failover import sync_connector_list, sync_connectors_feature
from directories.models import Directory, IdentityProvider, SyncConnectorEntry

log = logging.getLogger(__name__)


class SyncConnectorsUnavailable(Exception):
    """The Sync Connectors feature is switched off (cloud mode or outdated connectors)."""


class StaleSyncConnectors(Exception):
    """The list was saved by someone else since the form was loaded."""


def parse_connector_ids(values) -> list[int]:
    """Connector ids as given (numbers or digit strings); a value that cannot be an id
    (not a number, beyond 64 bits) is refused by name instead of reaching the database."""
    ids, bad = [], []
    for value in values:
        cid = as_id(value)
        if cid is None:
            bad.append(str(value).strip()[:40])
        else:
            ids.append(cid)
    if bad:
        raise ValidationError(f"Unknown connector id(s): {', '.join(bad)}.", code="unknown")
    return ids


# Where the stored bind password is sent: changing any of these needs the password again,
# or an admin who may edit directories could point the agent at their own server and read it.
CONNECTION_FIELDS = ("host", "port", "security", "ca_cert", "bind_dn")


def check_password_for_connection_change(
    directory: Directory, changes: dict, new_password: str | None
) -> None:
    """Refuse a change of where the bind password goes unless the password is given again."""
    moved = [f for f in CONNECTION_FIELDS if f in changes and changes[f] != getattr(directory, f)]
    if moved and not new_password:
        raise ValidationError(
            {
                "bind_password": "Enter the bind password again: it is only sent to a changed "
                f"{', '.join(moved)} when you type it."
            }
        )


# Chosen when the directory is created; changing them later would orphan its history.
CREATE_ONLY_FIELDS = {
    "type": "The directory type cannot be changed; add a new directory instead.",
    "sync_connector": "The sync connector is chosen when the directory is added; set the "
    "failover order on its Sync Connectors list instead.",
    "identity_provider": "The identity provider is chosen when the directory is added.",
}
SCHEDULE_FIELDS = frozenset({"sync_frequency", "sync_time", "sync_weekday", "sync_time_zone"})
# Written only by their own operations (save_sync_connectors, the failure e-mail's streak),
# never by an update.
NOT_UPDATABLE = frozenset(
    {"id", "sync_connectors_version", "failure_notified_at", "created", "updated"}
)


@transaction.atomic
def update_directory(
    directory: Directory, changes: dict, *, typed_password: str | None = None
) -> Directory:
    """Write `changes` (field -> value) to the directory: those columns only, checked by
    the model, with the schedule kept in step. The one writer of an existing directory.

    A blank or absent bind password keeps the stored one; a change of where the password
    is sent needs it typed again (`typed_password`). `directory` is refreshed in place.
    """
    changes = dict(changes)
    if not changes.get("bind_password"):
        changes.pop("bind_password", None)
    elif typed_password is None:
        typed_password = changes["bind_password"]
    refused = sorted(NOT_UPDATABLE & changes.keys())
    if refused:
        raise ValidationError({name: "This field is set by the service." for name in refused})
    stored = Directory.objects.select_for_update().get(pk=directory.pk)
    errors = {
        name: message
        for name, message in CREATE_ONLY_FIELDS.items()
        if name in changes and changes[name] != getattr(stored, name)
    }
    if errors:
        raise ValidationError(errors)
    check_password_for_connection_change(stored, changes, typed_password)
    for name, value in changes.items():
        setattr(stored, name, value)
    stored.full_clean()
    # Only these columns: a whole-row save could undo a Sync Connectors list saved meanwhile.
    stored.save(update_fields=[*changes, "updated"])
    if SCHEDULE_FIELDS & changes.keys():
        update_schedule(stored)
    directory.refresh_from_db()
    return directory


def workspace_idp_name(directory_name: str) -> str:
    return f"WorkspaceIDP__{directory_name}"[:100]


def new_directory(**fields) -> Directory:
    """An unsaved directory from `fields`, with its type's default filters and mappings
    where none are given: what create_directory stores, and what Add Directory's Test
    Connection tests."""
    fields = dict(fields)
    dtype = fields["type"]
    user_default, group_default = DEFAULT_FILTERS[dtype]
    fields.setdefault("user_filter", user_default)
    fields.setdefault("group_filter", group_default)
    mapped = {**DEFAULT_MAPPED_ATTRIBUTES[dtype], **(fields.pop("mapped_attributes", None) or {})}
    return Directory(mapped_attributes=mapped, **fields)


def directory_with_changes(
    directory: Directory, changes: dict, *, typed_password: str | None = None
) -> Directory:
    """The stored row of `directory` with `changes` set on it and not saved, for testing
    typed settings before saving them.

    The same password rule as update_directory: a blank password keeps the stored one,
    and the stored one is never sent to a changed host, port, security or bind DN.
    """
    stored = Directory.objects.get(pk=directory.pk)
    changes = {k: v for k, v in changes.items() if k != "bind_password" or v}
    check_password_for_connection_change(stored, changes, typed_password)
    for name, value in changes.items():
        setattr(stored, name, value)
    return stored


@transaction.atomic
def create_directory(*, identity_provider: IdentityProvider | None = None, **fields) -> Directory:
    """Create a directory whose list starts with its sync connector (rule S4)."""
    directory = new_directory(**fields)
    if identity_provider is None:
        # Each directory gets its own WorkspaceIDP, so associating a connector with one
        # directory's identity provider leaves the others alone.
        identity_provider, _ = IdentityProvider.objects.get_or_create(
            name=workspace_idp_name(fields["name"])
        )
    directory.identity_provider = identity_provider
    directory.full_clean()
    directory.save()
    SyncConnectorEntry.objects.create(
        directory=directory, connector=directory.sync_connector, position=1
    )
    directory.sync_connectors_version = 1
    directory.save(update_fields=["sync_connectors_version"])
    identity_provider.connectors.add(directory.sync_connector)
    update_schedule(directory)
    return directory


def save_sync_connectors(
    directory: Directory, connector_ids: list[int], expected_version: int | None = None
) -> list[Connector]:
    """Replace the list with `connector_ids` in that order (rules S1, S8, S9).

    Nothing is stored unless the whole list is valid; positions come out 1..n.
    """
    feature = sync_connectors_feature()
    if not feature.available:
        raise SyncConnectorsUnavailable(feature.reason)
    ids = parse_connector_ids(connector_ids)
    seen: set[int] = set()
    for cid in ids:
        if cid in seen:
            name = Connector.objects.filter(pk=cid).values_list("name", flat=True).first()
            raise ValidationError(
                f"{name or cid} is already in the Sync Connectors list; a connector can be "
                "listed once.",
                code="duplicate",
            )
        seen.add(cid)
    connectors = Connector.objects.in_bulk(ids)
    missing = [cid for cid in ids if cid not in connectors]
    if missing:
        raise ValidationError(
            f"Unknown connector id(s): {', '.join(map(str, missing))}.", code="unknown"
        )
    with transaction.atomic():
        locked = Directory.objects.select_for_update().get(pk=directory.pk)
        if expected_version is not None and locked.sync_connectors_version != expected_version:
            raise StaleSyncConnectors(
                "Someone else saved this directory's Sync Connectors list after you opened it. "
                "Reload to see their list, then make your change again."
            )
        locked.sync_entries.all().delete()
        SyncConnectorEntry.objects.bulk_create(
            SyncConnectorEntry(directory=locked, connector=connectors[cid], position=pos)
            for pos, cid in enumerate(ids, start=1)
        )
        locked.sync_connectors_version += 1
        locked.save(update_fields=["sync_connectors_version", "updated"])
    directory.sync_connectors_version = locked.sync_connectors_version
    return [connectors[cid] for cid in ids]


def append_sync_connector(directory: Directory, connector: Connector) -> None:
    """Add one connector at the end of the list (used by the API and the demo)."""
    ids = [c.pk for c in sync_connector_list(directory)] + [connector.pk]
    save_sync_connectors(directory, ids)


@transaction.atomic
def set_identity_provider_connectors(idp: IdentityProvider, connector_ids: list[int]) -> None:
    """Rule S7: the connectors associated with a WorkspaceIDP.

    A connector that is a directory's sync connector cannot be taken away from its IdP.
    """
    ids = list(dict.fromkeys(parse_connector_ids(connector_ids)))
    found = Connector.objects.in_bulk(ids)
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValidationError(f"Unknown connector id(s): {', '.join(map(str, missing))}.")
    required = Connector.objects.filter(directories_as_sync__identity_provider=idp).distinct()
    kept_out = [c.name for c in required if c.pk not in found]
    if kept_out:
        raise ValidationError(
            f"{', '.join(kept_out)} syncs a directory of {idp.name} and cannot be removed from it."
        )
    idp.connectors.set(found.values())


def _crontab_for(directory: Directory) -> dict[str, str] | None:
    # The plan of syncs reads the same fields (`syncplan.fire_times`): one rule for both.
    return syncplan.crontab_spec(
        directory.sync_frequency,
        syncplan.as_time(directory.sync_time),
        int(directory.sync_weekday),
    )


def schedule_time_zone(directory: Directory) -> str:
    """The IANA zone a directory's sync time is read in (stored with its schedule)."""
    return directory.sync_time_zone or server_time_zone()


def schedule_task_name(directory: Directory) -> str:
    return f"sync-directory-{directory.pk}"


def update_schedule(directory: Directory) -> None:
    """Keep the directory's beat schedule in step with its sync frequency, read in the
    directory's time zone.

    Saved with `.save()` so django-celery-beat notices the change.
    """
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    spec = _crontab_for(directory)
    if spec is None:
        PeriodicTask.objects.filter(name=schedule_task_name(directory)).delete()
        return
    crontab, _ = CrontabSchedule.objects.get_or_create(
        day_of_month="*",
        month_of_year="*",
        timezone=schedule_time_zone(directory),
        **{"day_of_week": "*", **spec},
    )
    save_schedule_task(directory, crontab=crontab)


def save_schedule_task(directory: Directory, *, crontab=None, interval=None):
    """Point the directory's PeriodicTask (one per directory) at `crontab` or `interval`.

    The one writer of that row; `update_schedule` decides what the schedule is.
    """
    from django_celery_beat.models import PeriodicTask

    if (crontab is None) == (interval is None):
        raise ValueError("give a crontab or an interval")
    name = schedule_task_name(directory)
    task = PeriodicTask.objects.filter(name=name).first() or PeriodicTask(name=name)
    task.task = "directories.tasks.scheduled_sync"
    task.crontab = crontab
    task.interval = interval
    task.kwargs = json.dumps({"directory_id": directory.pk})
    task.enabled = True
    task.save()
    return task


def deletion_summary(directory: Directory) -> dict:
    """What deleting `directory` removes, for the confirmation an admin reads first."""
    from django_celery_beat.models import PeriodicTask

    idp = directory.identity_provider
    return {
        "users": directory.users.count(),
        "groups": directory.groups.count(),
        "runs": directory.sync_runs.count(),
        "schedule": PeriodicTask.objects.filter(name=schedule_task_name(directory)).exists(),
        "identity_provider": idp if not idp.directories.exclude(pk=directory.pk).exists() else None,
    }


def delete_directory(directory: Directory) -> None:
    """Delete a directory with its synced users and groups, runs and schedule.

    Its identity provider goes too when no other directory uses it; otherwise the
    directory's sync connector leaves that provider unless another of its directories
    syncs through it (creating the directory had added it there).
    """
    from django_celery_beat.models import PeriodicTask

    with transaction.atomic():
        idp, connector = directory.identity_provider, directory.sync_connector
        PeriodicTask.objects.filter(name=schedule_task_name(directory)).delete()
        directory.delete()
        if not idp.directories.exists():
            idp.delete()
        elif not idp.directories.filter(sync_connector=connector).exists():
            idp.connectors.remove(connector)
