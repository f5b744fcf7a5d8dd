"""A sync run from claim to finish: failover over the snapshot, then one-transaction apply."""

from __future__ import annotations

import gc
import logging
import threading
from typing import Any

from django.db import transaction
from django.utils import timezone

from connectors.client import AgentError
from connectors.models import Connector
from directories.models import Directory
from directories.services import effective_sync_connectors
from directories.sync import leases
from directories.sync.apply import SafeguardTripped, Stored, apply
from directories.sync.fetch import Received, fetch
from directories.sync.leases import LeaseLost
from directories.sync.report import record_warnings, warning_message
from synclog.choices import AttemptOutcome, RunPhase, RunStatus
from synclog.models import SyncAttempt, SyncRun

log = logging.getLogger(__name__)


def run_sync(run_id: int) -> None:
    """Entry point of the Celery task; safe to call again for the same run."""
    from directories.tasks import sync_directory

    run = SyncRun.objects.select_related("directory").filter(pk=run_id).first()
    if run is None:
        return
    if run.status == RunStatus.RUNNING:
        # A redelivered message: the worker that had it is gone or still busy with it.
        if leases.reap_stale_runs(run.directory_id):
            kick_queued(run.directory_id)
        return
    if run.status != RunStatus.QUEUED:
        return
    leases.reap_stale_runs(run.directory_id)
    if not leases.claim_run(run):
        blocking = SyncRun.objects.filter(
            directory_id=run.directory_id, status=RunStatus.RUNNING
        ).first()
        wait = 1.0
        if blocking is not None and blocking.lease_until is not None:
            wait = (blocking.lease_until - timezone.now()).total_seconds() + 0.5
        # The running sync starts us when it ends; this retry covers its worker dying.
        sync_directory.apply_async((run_id,), countdown=min(max(wait, 0.5), 5.0))
        return
    try:
        execute(run)
    except LeaseLost:
        log.warning("sync run %s lost its lease; its result was dropped", run_id)
    except Exception as exc:
        log.exception("sync run %s failed", run_id)
        message = f"The sync stopped on an internal error: {exc}"
        if finish(run, RunStatus.FAILED, message):
            SyncAttempt.objects.filter(run=run, outcome=AttemptOutcome.RUNNING).update(
                outcome=AttemptOutcome.INCOMPLETE, finished_at=timezone.now(), message=message
            )
    finally:
        kick_queued(run.directory_id)


def kick_queued(directory_id: int) -> None:
    """Start the follow-up run waiting behind the one that just ended, if any."""
    from directories.tasks import sync_directory

    waiting = (
        SyncRun.objects.filter(directory_id=directory_id, status=RunStatus.QUEUED)
        .values_list("pk", flat=True)
        .first()
    )
    if waiting is not None:
        transaction.on_commit(lambda: sync_directory.delay(waiting))


def finish(run: SyncRun, status: str, message: str = "", **fields: Any) -> bool:
    """running -> final status, only if this worker still holds the run."""
    done = SyncRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING, worker=run.worker).update(
        status=status,
        message=message,
        finished_at=timezone.now(),
        current_connector_name="",
        phase=RunPhase.NONE,
        lease_until=None,
        **fields,
    )
    return bool(done)


def execute(run: SyncRun) -> None:
    directory = run.directory
    connectors, fallback = effective_sync_connectors(directory)
    run.connector_snapshot = [
        {"id": c.pk, "name": c.name, "position": i} for i, c in enumerate(connectors, start=1)
    ]
    run.used_fallback_list = fallback
    run.first_sync = not SyncRun.objects.filter(
        directory=directory, status=RunStatus.COMPLETED
    ).exists()
    run.save(update_fields=["connector_snapshot", "used_fallback_list", "first_sync"])

    beat = leases.Heartbeat(run)
    beat.start()
    preload = _Preload(directory.pk)
    # A read builds hundreds of thousands of acyclic objects; the cycle collector would rescan
    # them again and again for nothing. Reference counting still frees them.
    gc_enabled = gc.isenabled()
    gc.disable()
    try:
        received, used, reasons = None, None, []
        for position, connector in enumerate(connectors, start=1):
            beat.connector_name = connector.name
            beat.entries_received = 0
            attempt = SyncAttempt.objects.create(
                run=run, position=position, connector=connector, connector_name=connector.name
            )
            try:
                received = fetch(connector, directory, run, beat)
            except AgentError as exc:
                _end_attempt(attempt, exc.outcome, exc.message, beat.entries_received)
                reasons.append(f"{connector.name} ({exc.outcome}): {exc.message}")
                if beat.lost:
                    raise LeaseLost from exc
                continue
            _end_attempt(attempt, AttemptOutcome.SUCCEEDED, "", received.entries)
            used = connector
            break
        if received is None or used is None:
            tried = "; ".join(reasons)
            scope = (
                "its sync connector (the Sync Connectors list is empty, so no fallback)"
                if not fallback
                else f"{len(connectors)} connector(s) in order"
            )
            finish(
                run,
                RunStatus.FAILED,
                f"No connector could sync {directory.name}. Tried {scope}: {tried}.",
                entries_received=beat.entries_received,
            )
            return
        beat.connector_name = used.name
        stored = preload.result()  # pragma: no mutate
        beat.announce(RunPhase.APPLYING)
        _apply(run, directory, received, used, stored)  # pragma: no mutate
    finally:
        if gc_enabled:
            gc.enable()
        beat.stop()


def _end_attempt(attempt: SyncAttempt, outcome: str, message: str, entries: int) -> None:
    attempt.outcome = outcome
    attempt.message = message
    attempt.entries_received = entries
    attempt.finished_at = timezone.now()
    attempt.save(update_fields=["outcome", "message", "entries_received", "finished_at"])


class _Preload(threading.Thread):
    """Loads the stored users, groups and memberships while the agent streams.

    A speed-up only: without it the apply step loads the same store itself, so no test
    can tell its mutants apart (hence the pragmas).
    """

    def __init__(self, directory_id: int) -> None:
        super().__init__(name=f"sync-preload-{directory_id}", daemon=True)  # pragma: no mutate
        self.directory_id = directory_id
        self.stored: Stored | None = None  # pragma: no mutate
        self.start()

    def run(self) -> None:
        from django.db import connection

        try:
            self.stored = Stored.load(self.directory_id)  # pragma: no mutate
        except Exception:  # the apply step loads it itself
            log.exception("preloading the stored directory failed")  # pragma: no mutate
        finally:
            connection.close()

    def result(self) -> Stored | None:
        self.join()
        return self.stored


def _apply(
    run: SyncRun, directory: Directory, received: Received, used: Connector, stored: Stored | None
) -> None:
    read = {
        "connector_used": used,
        "connector_used_name": used.name,
        "entries_received": received.entries,
    }
    try:
        with transaction.atomic():
            locked = SyncRun.objects.select_for_update().get(pk=run.pk)
            if locked.status != RunStatus.RUNNING or locked.worker != run.worker:
                raise LeaseLost
            counts = apply(
                run.pk, directory, received, safeguards=not run.first_sync, stored=stored
            )
            warnings = record_warnings(run.pk, received)
            message = warning_message(warnings)
            if not finish(
                run, RunStatus.COMPLETED, message, **read, **counts.as_dict(), **warnings
            ):
                raise LeaseLost
    except SafeguardTripped as exc:
        # Nothing was written to the store; the run still says what it could not sync.
        with transaction.atomic():
            warnings = record_warnings(run.pk, received)
            if not finish(run, RunStatus.SAFEGUARD, str(exc), **read, **warnings):
                transaction.set_rollback(True)
