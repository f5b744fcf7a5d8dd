"""Leases that keep one sync per directory and one directory per connector, on any worker."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import timedelta
from functools import lru_cache

import psutil
from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from connectors.models import Connector
from synclog.choices import AttemptOutcome, RunPhase, RunStatus
from synclog.models import SyncAttempt, SyncRun

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another worker declared this run dead; its result must not be written."""


LOST_MESSAGE = (
    "The worker running this sync stopped before it finished ({why}); "
    "nothing from this run was applied."
)


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


def claim_run(run: SyncRun) -> bool:
    """queued -> running for this worker; False when the directory already has a running sync."""
    try:
        with transaction.atomic():
            claimed = SyncRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
                status=RunStatus.RUNNING,
                started_at=timezone.now(),
                lease_until=lease_deadline(),
                worker=worker_id(),
            )
    except IntegrityError:
        return False
    if claimed:
        run.refresh_from_db()
    return bool(claimed)


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
            SyncAttempt.objects.filter(run=run, outcome=AttemptOutcome.RUNNING).update(
                outcome=AttemptOutcome.INCOMPLETE,
                finished_at=timezone.now(),
                message="The worker stopped during this attempt.",
            )
            Connector.objects.filter(claimed_by_run=run).update(
                claimed_by_run=None, claim_until=None
            )
    if done:
        log.warning("sync run %s failed: worker lost (%s)", run.pk, why)
    return bool(done)


def reap_stale_runs(directory_id: int | None = None) -> list[int]:
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


def claim_connector(connector: Connector, run: SyncRun, wait: float) -> bool:
    """Take the connector for this run, waiting up to `wait` seconds while another run holds it."""
    deadline = time.monotonic() + wait
    while True:
        now = timezone.now()
        claimed = (
            Connector.objects.filter(pk=connector.pk)
            .filter(Q(claimed_by_run__isnull=True) | Q(claim_until__lt=now) | Q(claimed_by_run=run))
            .update(claimed_by_run=run, claim_until=lease_deadline())
        )
        if claimed:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))


def release_connector(connector: Connector, run: SyncRun) -> None:
    Connector.objects.filter(pk=connector.pk, claimed_by_run=run).update(
        claimed_by_run=None, claim_until=None
    )


class Heartbeat(threading.Thread):
    """Renews the run's lease (and its connector's) and publishes progress every second."""

    def __init__(self, run: SyncRun) -> None:
        super().__init__(name=f"sync-heartbeat-{run.pk}", daemon=True)
        self.run_id = run.pk
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
            Connector.objects.filter(pk=self.connector_id, claimed_by_run_id=self.run_id).update(
                claim_until=until
            )

    def announce(self, phase: str) -> None:
        """Publish a new phase at once (not at the next beat)."""
        self.phase = phase
        self.beat()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=30)
