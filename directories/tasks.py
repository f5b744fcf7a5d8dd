"""Celery tasks that run directory syncs; the work itself is in directories.sync."""

from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
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
    from directories.sync.runner import reap_stale_runs as reap

    reap()
