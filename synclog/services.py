"""Starting sync runs: one queued follow-up at most per directory."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from synclog.choices import RunStatus, Trigger
from synclog.models import SyncRun

log = logging.getLogger(__name__)


def trigger_sync(directory, trigger: str = Trigger.MANUAL, user=None) -> tuple[SyncRun, bool]:
    """Queue a run of `directory`, or return the one already waiting.

    Returns (run, created). A trigger while a run is queued joins that run, so a directory
    never piles up more than one follow-up behind the running sync.
    """
    requested_by = user if user and user.is_authenticated else None
    # Two rounds: the queued run we collide with may be claimed before we can read it.
    for _ in range(2):
        existing = SyncRun.objects.filter(directory=directory, status=RunStatus.QUEUED).first()
        if existing:
            return existing, False
        try:
            with transaction.atomic():
                run = SyncRun.objects.create(
                    directory=directory, trigger=trigger, requested_by=requested_by
                )
            break
        except IntegrityError:
            continue  # another trigger queued one between our check and insert: join it
    else:
        raise RuntimeError(f"could not queue a sync of {directory}: the queue kept changing")
    transaction.on_commit(lambda: _enqueue(run.pk))
    return run, True


def _enqueue(run_id: int) -> None:
    from directories.tasks import sync_directory

    try:
        sync_directory.delay(run_id)
    except Exception:
        # The run stays queued; the stale-run sweep on beat enqueues it again.
        log.exception("could not enqueue sync run %s; it will be retried", run_id)
