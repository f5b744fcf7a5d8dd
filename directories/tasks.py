"""Celery tasks that run directory syncs; the work itself is in directories.sync.

The only module that imports the engine for a worker, and the one place a sync run is
handed to Celery (`enqueue`).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction
from django.dispatch import receiver

from synclog import lifecycle
from synclog.choices import Trigger
from synclog.models import SyncRun

log = logging.getLogger(__name__)


def enqueue(run_id: int, countdown: float | None = None) -> None:
    """Hand a queued run to a worker once the transaction that queued it commits.

    A broker that cannot take the message leaves the run queued; the beat's sweep
    (`reap_stale_runs`) sends it again.
    """

    def send() -> None:
        try:
            if countdown is None:
                sync_directory.delay(run_id)
            else:
                sync_directory.apply_async((run_id,), countdown=countdown)
        except Exception:
            log.exception("could not enqueue sync run %s; it will be retried", run_id)

    transaction.on_commit(send)


def start_sync(
    directory,
    trigger: str = Trigger.MANUAL,
    user=None,
    *,
    ignore_safeguards: bool = False,
    reviewed_run: SyncRun | None = None,
) -> tuple[SyncRun, bool]:
    """Queue a sync of `directory` (or join the one waiting) and hand it to a worker.

    Returns (run, created). The one way a sync starts: console, API, schedule and demo.
    A review is a run with trigger REVIEW; `ignore_safeguards` and `reviewed_run` follow
    `lifecycle.queue` (which raises RunWaiting or NotAReview).
    """
    run, created = lifecycle.queue(
        directory, trigger, user, ignore_safeguards=ignore_safeguards, reviewed_run=reviewed_run
    )
    if created:
        enqueue(run.pk)
    return run, created


@receiver(lifecycle.run_finished, dispatch_uid="directories.start_follow_up")
def start_follow_up(sender, run_id: int, directory_id: int, **kwargs) -> None:
    """When a run ends, the run waiting behind it (if any) starts."""
    waiting = lifecycle.waiting_run(directory_id)
    if waiting is not None:
        enqueue(waiting)


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=3300, time_limit=3600)
def sync_directory(run_id: int) -> None:
    from directories.sync.runner import run_sync

    retry_after = run_sync(run_id)
    if retry_after is not None:
        # The directory's running sync starts this one when it ends; the retry covers
        # that sync's worker dying.
        enqueue(run_id, countdown=retry_after)


@shared_task(ignore_result=True)
def scheduled_sync(directory_id: int) -> None:
    from directories.models import Directory

    directory = Directory.objects.filter(pk=directory_id).first()
    if directory is not None:
        try:
            start_sync(directory, Trigger.SCHEDULED)
        except lifecycle.RunWaiting as exc:
            log.info("scheduled sync of %s skipped: %s", directory, exc)


@shared_task(ignore_result=True)
def reap_stale_runs() -> None:
    """Fail runs whose worker died (their follow-ups start on the run-finished event), and
    send again queued runs whose message was lost."""
    lifecycle.reap_stale()
    for run_id in lifecycle.forgotten_runs():
        enqueue(run_id)
