"""Fixtures for the operations endpoints: the beat's heartbeat row, directories, runs."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from directories.models import Directory
from synclog.choices import RunStatus, Trigger
from synclog.models import SyncRun


def beat_sent_heartbeat(seconds_ago: float | None) -> PeriodicTask:
    """The heartbeat's row as the DatabaseScheduler leaves it: created from
    CELERY_BEAT_SCHEDULE when the beat starts, its last_run_at stamped at each send
    (None: the beat started but has not sent it yet)."""
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=int(settings.BEAT_HEARTBEAT_INTERVAL), period=IntervalSchedule.SECONDS
    )
    task, _ = PeriodicTask.objects.update_or_create(
        name=settings.BEAT_HEARTBEAT_ENTRY,
        defaults={"task": "ops.tasks.beat_heartbeat", "interval": interval},
    )
    task.last_run_at = (
        None if seconds_ago is None else timezone.now() - timedelta(seconds=seconds_ago)
    )
    task.save(update_fields=["last_run_at"])
    return task


@pytest.fixture
def fresh_heartbeat(db) -> PeriodicTask:
    return beat_sent_heartbeat(seconds_ago=1)


def ended_run(
    directory: Directory,
    status: str,
    finished: datetime,
    took: float,
    trigger: str = Trigger.SCHEDULED,
    **fields: object,
) -> SyncRun:
    """A run that ended at `finished` after `took` seconds (the console tests' make_run)."""
    return SyncRun.objects.create(
        directory=directory,
        status=status,
        trigger=trigger,
        created=finished - timedelta(seconds=took + 1),
        started_at=finished - timedelta(seconds=took),
        finished_at=finished,
        **fields,
    )


def waiting_run(directory: Directory, status: str = RunStatus.QUEUED) -> SyncRun:
    now = timezone.now()
    return SyncRun.objects.create(
        directory=directory,
        status=status,
        started_at=None if status == RunStatus.QUEUED else now,
        lease_until=None if status == RunStatus.QUEUED else now + timedelta(seconds=60),
    )
