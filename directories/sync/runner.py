"""A sync run from claim to finish: failover over the snapshot, then plan and write at once."""

from __future__ import annotations

import gc
import logging

from django.db import transaction

from connectors.client import AgentError
from connectors.models import Connector
from directories.failover import effective_sync_connectors, why_no_fallback
from directories.models import Directory
from directories.sync.fetch import Received, fetch, request_body
from directories.sync.incremental import choose_read
from directories.sync.plan import Plan, Stored, StoreLoad, make_plan
from directories.sync.report import record_warnings, warning_message
from directories.sync.stage import UserStage
from directories.sync.writer import change_rows, record_changes, write
from synclog import lifecycle
from synclog.choices import AttemptOutcome, RunPhase, RunStatus
from synclog.lifecycle import LeaseLost, finish
from synclog.models import SyncRun

log = logging.getLogger(__name__)


def run_sync(run_id: int) -> float | None:
    """Run a queued sync to its end; safe to call again for the same run.

    Returns the seconds after which to try again when the directory is busy with another
    run (the caller re-enqueues), else None.
    """
    run = SyncRun.objects.select_related("directory").filter(pk=run_id).first()
    if run is None:
        return None
    if run.status == RunStatus.RUNNING:
        # A redelivered message: the worker that had it is gone (reaped here) or still busy.
        lifecycle.reap_stale(run.directory_id)
        return None
    if run.status != RunStatus.QUEUED:
        return None
    lifecycle.reap_stale(run.directory_id)
    if not lifecycle.claim(run):
        return min(max(lifecycle.seconds_until_free(run.directory_id), 0.5), 5.0)
    # A read builds millions of acyclic objects; the cycle collector would rescan them
    # again and again for nothing (reference counting still frees them). It is turned back
    # on once `execute` has returned and they are gone, or its first pass would walk them.
    gc_enabled = gc.isenabled()
    gc.disable()
    try:
        execute(run)
    except LeaseLost:
        log.warning("sync run %s lost its lease; its result was dropped", run_id)
    except Exception as exc:
        log.exception("sync run %s failed", run_id)
        lifecycle.fail(run, f"The sync stopped on an internal error: {exc}")
    finally:
        if gc_enabled:
            gc.enable()
    return None


def execute(run: SyncRun) -> None:
    directory = run.directory
    connectors, fallback = effective_sync_connectors(directory)
    lifecycle.begin(run, connectors, fallback)

    # One choice for every connector tried: it depends on the directory and its runs only.
    choice = choose_read(directory, request_body(directory))
    # The stored users, groups and memberships, loaded while the agent streams.
    store = StoreLoad(directory.pk, with_base=choice.changes_since is not None)
    beat = lifecycle.Heartbeat(run)
    # The users a read may write, on this worker's connection until the run ends.
    stage = UserStage()
    beat.start()
    try:
        received, used, reasons = None, None, []
        for position, connector in enumerate(connectors, start=1):
            beat.connector_name = connector.name
            beat.entries_received = 0
            attempt = lifecycle.start_attempt(run, position, connector)
            try:
                received = fetch(connector, directory, beat.claims, beat, choice, store, stage)
            except AgentError as exc:
                lifecycle.end_attempt(attempt, exc.outcome, exc.message, beat.entries_received)
                reasons.append(f"{connector.name} ({exc.outcome}): {exc.message}")
                if beat.lost:
                    raise LeaseLost from exc
                continue
            lifecycle.end_attempt(attempt, AttemptOutcome.SUCCEEDED, "", received.entries)
            used = connector
            break
        if received is None or used is None:
            tried = "; ".join(reasons)
            scope = (
                f"its sync connector ({why_no_fallback(directory)})"
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
        stored = (
            store.stored()  # pragma: no mutate
            if received.carried is None
            else Stored.of_changed(directory.pk, received.carried.stored_users)
        )
        beat.announce(RunPhase.APPLYING)
        _apply(run, directory, received, used, stored)  # pragma: no mutate
    finally:
        beat.stop()
        try:
            stage.close()
        except Exception:
            # A broken connection must not hide what ended the run; its session (and the
            # table with it) is gone or goes when the connection is closed.
            log.exception("sync run %s could not drop its staging table", run.pk)


REVIEW_NOTE = "Review: nothing was written."
SAFEGUARD_ADVICE = (
    "Nothing was changed. If the change is intended, raise or clear the thresholds on the "
    "Safeguards tab, or use Sync without safeguards once."
)


def _verdict(plan: Plan, run: SyncRun) -> str:
    """What the safeguards say of this plan, for a review's message."""
    if run.first_sync:
        return "Safeguards do not apply: this would be the directory's first sync."
    if plan.violations:
        return f"A sync would be stopped by safeguard: {plan.safeguard}."
    return "A sync would pass every safeguard."


def _apply(
    run: SyncRun, directory: Directory, received: Received, used: Connector, stored: Stored | None
) -> None:
    """Plan, then write and finish in one transaction (or stop at the safeguard verdict).

    A review records the plan's changes as its own and writes nothing else; a run asked to
    ignore the safeguards writes past them and keeps what it ignored.
    """
    read = {
        "connector_used": used,
        "connector_used_name": used.name,
        "entries_received": received.entries,
        "read_mode": received.read_mode,
        "read_reason": received.read_reason,
        "read_watermark": received.watermark,
    }
    with transaction.atomic():
        lifecycle.hold(run)
        plan = make_plan(
            directory,
            received,
            safeguards=not run.first_sync,
            stored=stored,
            first_sync=run.first_sync,
        )
        violations = {"safeguard_violations": [str(v) for v in plan.violations]}
        if run.is_review:
            record_changes(change_rows(plan, run.pk))
            warnings = record_warnings(run.pk, received)
            counts = plan.counts.as_dict()
            status = RunStatus.COMPLETED
            message = " ".join(
                part
                for part in (REVIEW_NOTE, _verdict(plan, run), warning_message(warnings))
                if part
            )
        elif plan.violations and not run.ignore_safeguards:
            # Nothing is written to the store; the run still says what it could not sync.
            warnings = record_warnings(run.pk, received)
            status, counts = RunStatus.SAFEGUARD, {}
            message = f"Stopped by safeguard: {plan.safeguard}. {SAFEGUARD_ADVICE}"
        else:
            counts = write(plan, run.pk).as_dict()
            warnings = record_warnings(run.pk, received)
            status, message = RunStatus.COMPLETED, warning_message(warnings)
            if plan.violations:
                message = " ".join(
                    part
                    for part in (
                        f"Synced without safeguards, once: {plan.safeguard}.",
                        message,
                    )
                    if part
                )
        if not finish(run, status, message, **read, **counts, **warnings, **violations):
            raise LeaseLost
