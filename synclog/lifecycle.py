"""Every state change of a sync run, and the one event sent when a run ends.

queued -> running (claim) -> completed / failed / stopped by safeguard (finish, fail),
or running -> failed by another worker when the owner is gone (reap). Nothing else
writes a run's status. When a run ends, `run_finished` is sent once, after the commit
that ended it: the follow-up run, notifications and metrics subscribe to it.

Leases keep one sync per directory and one directory per connector, on any worker: a
run's lease lives on the run, a connector's claim in ConnectorClaim; the Heartbeat
renews both while the run works.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import timedelta
from functools import lru_cache
from typing import Any

import psutil
from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.models import Q
from django.dispatch import Signal
from django.utils import timezone

from synclog.choices import AttemptOutcome, RunPhase, RunStatus, Trigger
from synclog.models import ConnectorClaim, SyncAttempt, SyncRun

log = logging.getLogger(__name__)

# Sent with run_id, directory_id and status once a run has ended and that is committed.
run_finished = Signal()


class LeaseLost(Exception):
    """Another worker declared this run dead; its result must not be written."""


LOST_MESSAGE = (
    "The worker running this sync stopped before it finished ({why}); "
    "nothing from this run was applied."
)


def _announce_end(run_id: int, directory_id: int, status: str) -> None:
    transaction.on_commit(
        lambda: run_finished.send(SyncRun, run_id=run_id, directory_id=directory_id, status=status)
    )


# --- queue ---------------------------------------------------------------------------


class RunWaiting(Exception):
    """A different kind of run (a review, a sync, one without safeguards) already waits."""

    def __init__(self, run: SyncRun) -> None:
        self.run = run
        kind = "review" if run.is_review else "sync"
        if run.ignore_safeguards:
            kind = "sync without safeguards"
        super().__init__(
            f"A {kind} (run {run.pk}) is already waiting for this directory; "
            "ask again once it has started."
        )


class NotAReview(ValueError):
    """Apply was asked of a run that is not a completed review of the directory."""


def queue(
    directory,
    trigger: str = Trigger.MANUAL,
    user=None,
    *,
    ignore_safeguards: bool = False,
    reviewed_run: SyncRun | None = None,
) -> tuple[SyncRun, bool]:
    """Queue a run of `directory`, or return the one already waiting: (run, created).

    A trigger while a run is queued joins that run, so a directory never piles up more
    than one follow-up behind the running sync. A review, a sync without safeguards and an
    applied review join only a waiting run of their own kind (RunWaiting otherwise): one
    never silently becomes another. The caller enqueues a created run.
    """
    requested_by = user if user and user.is_authenticated else None
    if reviewed_run is not None and not (
        reviewed_run.directory_id == directory.pk
        and reviewed_run.is_review
        and reviewed_run.status == RunStatus.COMPLETED
    ):
        raise NotAReview(f"Run {reviewed_run.pk} is not a finished review of {directory}.")
    # Two rounds: the queued run we collide with may be claimed before we can read it.
    for _ in range(2):
        existing = SyncRun.objects.filter(directory=directory, status=RunStatus.QUEUED).first()
        if existing:
            same_kind = (
                existing.is_review == (trigger == Trigger.REVIEW)
                and existing.ignore_safeguards == ignore_safeguards
                and reviewed_run is None
            )
            if not same_kind:
                raise RunWaiting(existing)
            return existing, False
        try:
            with transaction.atomic():
                run = SyncRun.objects.create(
                    directory=directory,
                    trigger=trigger,
                    requested_by=requested_by,
                    ignore_safeguards=ignore_safeguards,
                    safeguards_ignored_by=requested_by if ignore_safeguards else None,
                    reviewed_run=reviewed_run,
                )
            return run, True
        except IntegrityError:
            continue  # another trigger queued one between our check and insert: join it
    raise RuntimeError(f"could not queue a sync of {directory}: the queue kept changing")


def waiting_run(directory_id: int) -> int | None:
    """The queued run of a directory, if any."""
    return (
        SyncRun.objects.filter(directory_id=directory_id, status=RunStatus.QUEUED)
        .values_list("pk", flat=True)
        .first()
    )


def forgotten_runs(older_than: timedelta = timedelta(minutes=1)) -> list[int]:
    """Queued runs whose message may have been lost: old, with nothing running before them."""
    idle = SyncRun.objects.filter(
        status=RunStatus.QUEUED, created__lt=timezone.now() - older_than
    ).exclude(directory__sync_runs__status=RunStatus.RUNNING)
    return list(idle.values_list("pk", flat=True))


# --- claim ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _process_start() -> int:
    return int(psutil.Process(os.getpid()).create_time())


def worker_id() -> str:
    """host:pid:start-time, so a dead owner on this host is recognised despite pid reuse."""
    return f"{socket.gethostname()}:{os.getpid()}:{_process_start()}"


def owner_is_dead(worker: str) -> bool:
    """True only when the owner ran on this host and its process is gone."""
    try:
        host, pid, started = worker.rsplit(":", 2)
        pid_n, started_n = int(pid), int(started)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    try:
        return int(psutil.Process(pid_n).create_time()) != started_n
    except psutil.NoSuchProcess:
        return True


def lease_deadline():
    return timezone.now() + timedelta(seconds=settings.SYNC_LEASE_SECONDS)


def claim(run: SyncRun) -> bool:
    """queued -> running for this worker; False when the directory already has a running sync."""
    try:
        with transaction.atomic():
            claimed = SyncRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
                status=RunStatus.RUNNING,
                lease_until=lease_deadline(),
                worker=worker_id(),
            )
            if claimed:
                # Stamped once the claim holds: the update above may have waited for the
                # directory's previous run to commit its end, and a follow-up never starts
                # before the run it follows finished.
                SyncRun.objects.filter(pk=run.pk).update(started_at=timezone.now())
    except IntegrityError:
        return False
    if claimed:
        run.refresh_from_db()
    return bool(claimed)


def begin(run: SyncRun, connectors: list, fallback: bool) -> None:
    """Freeze the connectors this run will try, in order (rule S9), and whether it is the
    directory's first sync (no completed sync before it; a review never counts as one)."""
    run.connector_snapshot = [
        {"id": c.pk, "name": c.name, "position": i} for i, c in enumerate(connectors, start=1)
    ]
    run.used_fallback_list = fallback
    earlier_syncs = SyncRun.objects.filter(
        directory_id=run.directory_id, status=RunStatus.COMPLETED
    ).exclude(trigger=Trigger.REVIEW)
    run.first_sync = not earlier_syncs.exists()
    run.save(update_fields=["connector_snapshot", "used_fallback_list", "first_sync"])


def seconds_until_free(directory_id: int) -> float:
    """How long until the directory's running sync's lease runs out (1 s when unknown)."""
    blocking = SyncRun.objects.filter(directory_id=directory_id, status=RunStatus.RUNNING).first()
    if blocking is None or blocking.lease_until is None:
        return 1.0
    return (blocking.lease_until - timezone.now()).total_seconds() + 0.5


def hold(run: SyncRun) -> None:
    """Lock the run for its final write; LeaseLost when this worker no longer holds it."""
    locked = SyncRun.objects.select_for_update().get(pk=run.pk)
    if locked.status != RunStatus.RUNNING or locked.worker != run.worker:
        raise LeaseLost


# --- attempts ------------------------------------------------------------------------


def start_attempt(run: SyncRun, position: int, connector) -> SyncAttempt:
    return SyncAttempt.objects.create(
        run=run, position=position, connector=connector, connector_name=connector.name
    )


def end_attempt(attempt: SyncAttempt, outcome: str, message: str, entries: int) -> None:
    attempt.outcome = outcome
    attempt.message = message
    attempt.entries_received = entries
    attempt.finished_at = timezone.now()
    attempt.save(update_fields=["outcome", "message", "entries_received", "finished_at"])


def _close_open_attempts(run_id: int, message: str) -> None:
    SyncAttempt.objects.filter(run_id=run_id, outcome=AttemptOutcome.RUNNING).update(
        outcome=AttemptOutcome.INCOMPLETE, finished_at=timezone.now(), message=message
    )


# --- finish, fail, reap --------------------------------------------------------------


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
    if done:
        _announce_end(run.pk, run.directory_id, status)
    return bool(done)


def fail(run: SyncRun, message: str) -> bool:
    """running -> failed for this worker; attempts still open are closed as incomplete."""
    with transaction.atomic():
        done = finish(run, RunStatus.FAILED, message)
        if done:
            _close_open_attempts(run.pk, message)
    return done


def reap(run: SyncRun, why: str) -> bool:
    """Fail a run whose worker is gone, close its open attempts and free its connector."""
    with transaction.atomic():
        done = SyncRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
            status=RunStatus.FAILED,
            finished_at=timezone.now(),
            message=LOST_MESSAGE.format(why=why),
            current_connector_name="",
            phase=RunPhase.NONE,
        )
        if done:
            _close_open_attempts(run.pk, "The worker stopped during this attempt.")
            ConnectorClaim.objects.filter(run_id=run.pk).delete()
            _announce_end(run.pk, run.directory_id, RunStatus.FAILED)
    if done:
        log.warning("sync run %s failed: worker lost (%s)", run.pk, why)
    return bool(done)


def reap_stale(directory_id: int | None = None) -> list[int]:
    """Fail every running run whose lease ran out or whose worker died on this host."""
    qs = SyncRun.objects.filter(status=RunStatus.RUNNING)
    if directory_id is not None:
        qs = qs.filter(directory_id=directory_id)
    reaped = []
    for run in qs:
        if run.lease_until is not None and run.lease_until < timezone.now():
            why = "its lease expired"
        elif owner_is_dead(run.worker):
            why = "its process is gone"
        else:
            continue
        if reap(run, why):
            reaped.append(run.pk)
    return reaped


# --- connector claims ----------------------------------------------------------------


class ConnectorClaims:
    """The connectors one run holds (rule S11: a connector syncs one directory at a time)."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id

    def take(self, connector, wait: float) -> bool:
        """Take `connector`, waiting up to `wait` seconds while another run holds it."""
        deadline = time.monotonic() + wait
        while True:
            if self._try(connector.pk):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))

    def _try(self, connector_id: int) -> bool:
        now = timezone.now()
        taken = (
            ConnectorClaim.objects.filter(connector_id=connector_id)
            .filter(Q(until__lt=now) | Q(run_id=self.run_id))
            .update(run_id=self.run_id, until=lease_deadline())
        )
        if taken:
            return True
        try:
            with transaction.atomic():
                ConnectorClaim.objects.create(
                    connector_id=connector_id, run_id=self.run_id, until=lease_deadline()
                )
        except IntegrityError:
            return False  # held by another run (or taken between our update and insert)
        return True

    def release(self, connector) -> None:
        ConnectorClaim.objects.filter(connector_id=connector.pk, run_id=self.run_id).delete()

    def renew(self, connector_id: int, until) -> None:
        ConnectorClaim.objects.filter(connector_id=connector_id, run_id=self.run_id).update(
            until=until
        )


# --- heartbeat -----------------------------------------------------------------------


class Heartbeat(threading.Thread):
    """Renews the run's lease (and its connector's) and publishes progress every second."""

    def __init__(self, run: SyncRun) -> None:
        super().__init__(name=f"sync-heartbeat-{run.pk}", daemon=True)
        self.run_id = run.pk
        self.claims = ConnectorClaims(run.pk)
        self.interval = min(1.0, settings.SYNC_LEASE_SECONDS / 4)
        self.entries_received = 0
        self.connector_name = ""
        self.phase: str = RunPhase.READING
        self.connector_id: int | None = None
        self.lost = False
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.wait(self.interval):
                try:
                    self.beat()
                except Exception:  # a missed beat is retried; the lease outlives several
                    log.exception("heartbeat of sync run %s failed", self.run_id)
                    close_old_connections()
        finally:
            connection.close()

    def beat(self) -> None:
        until = lease_deadline()
        alive = SyncRun.objects.filter(pk=self.run_id, status=RunStatus.RUNNING).update(
            lease_until=until,
            entries_received=self.entries_received,
            current_connector_name=self.connector_name,
            phase=self.phase,
        )
        if not alive:
            self.lost = True
        if self.connector_id is not None:
            self.claims.renew(self.connector_id, until)

    def announce(self, phase: str) -> None:
        """Publish a new phase at once (not at the next beat)."""
        self.phase = phase
        self.beat()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=30)
