"""Celery tasks that run directory syncs; the work itself is in directories.sync."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=3300, time_limit=3600)
def sync_directory(run_id: int) -> None:
    from directories.sync.runner import run_sync

    run_sync(run_id)


@shared_task(ignore_result=True)
def scheduled_sync(directory_id: int) -> None:
    from directories.models import Directory
    from synclog.choices import Trigger
    from synclog.services import trigger_sync

    directory = Directory.objects.filter(pk=directory_id).first()
    if directory is not None:
        trigger_sync(directory, Trigger.SCHEDULED)


@shared_task(ignore_result=True)
def reap_stale_runs() -> None:
    """Fail runs whose worker died, and restart queued runs whose message was lost."""
    from directories.sync.leases import reap_stale_runs as reap
    from directories.sync.runner import kick_queued
    from synclog.choices import RunStatus
    from synclog.models import SyncRun

    for run_id in reap():
        kick_queued(SyncRun.objects.get(pk=run_id).directory_id)
    idle = SyncRun.objects.filter(
        status=RunStatus.QUEUED, created__lt=timezone.now() - timedelta(minutes=1)
    ).exclude(directory__sync_runs__status=RunStatus.RUNNING)
    for run_id in idle.values_list("pk", flat=True):
        sync_directory.delay(run_id)
