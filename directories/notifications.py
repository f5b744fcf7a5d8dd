"""The failure e-mail: one per directory per failure streak, and one when syncs recover.

A receiver of `synclog.lifecycle.run_finished`, so every way a run ends is covered (a
worker that died included: the reaper ends its run). The streak lives on the directory
(`failure_notified_at`) and is opened and closed by single conditional UPDATEs, so two
processes finishing runs at once never both send.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.db.models import Q
from django.dispatch import receiver
from django.utils import timezone

from console.models import Role, User
from directories.models import Directory
from synclog import lifecycle
from synclog.choices import ACTIVE_STATUSES, RunStatus, Trigger
from synclog.models import SyncRun

log = logging.getLogger(__name__)


def super_admin_addresses() -> list[str]:
    """The e-mail addresses of active Super Admins, each once."""
    admins = (
        User.objects.filter(is_active=True)
        .filter(Q(role=Role.SUPER_ADMIN) | Q(is_superuser=True))
        .exclude(email="")
        .order_by("email")
        .values_list("email", flat=True)
    )
    return list(dict.fromkeys(admins))


def recipients(directory: Directory) -> list[str]:
    """Who is told about the directory's syncs: its own addresses, else the Super Admins."""
    return list(directory.notification_emails) or super_admin_addresses()


def trouble(run: SyncRun) -> tuple[str, str] | None:
    """(what happened, why) when the run opens or continues a failure streak, else None."""
    if run.status == RunStatus.FAILED:
        return "sync failed", run.message or "The sync failed."
    if run.status == RunStatus.SAFEGUARD:
        return (
            "sync stopped by a safeguard",
            f"Stopped by a safeguard before anything was written: {run.message}",
        )
    if run.status == RunStatus.COMPLETED and run.unresolved_references:
        n = run.unresolved_references
        return (
            f"{n} unresolved member reference{'s' if n != 1 else ''}",
            f"The sync completed, but {n} group member "
            f"{'values match' if n != 1 else 'value matches'} no synced user or group; "
            "those memberships are missing (the run lists each value).",
        )
    return None


def run_link(run: SyncRun) -> str:
    return settings.CONSOLE_URL.rstrip("/") + run.get_absolute_url()


def _attempt_lines(run: SyncRun) -> list[str]:
    attempts = list(run.attempts.order_by("position"))
    if not attempts:
        return ["  No connector was tried."]
    lines = []
    for attempt in attempts:
        why = f": {attempt.message}" if attempt.message else ""
        lines.append(
            f"  {attempt.position}. {attempt.connector_name} ({attempt.get_outcome_display()}){why}"
        )
    return lines


def _when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S %Z") if moment else "-"


def failure_message(run: SyncRun, what: str, why: str) -> tuple[str, str]:
    directory = run.directory
    body = [
        f"Directory: {directory.name}",
        f"Sync run:  #{run.pk} ({run.get_trigger_display()}), "
        f"started {_when(run.started_at)}, ended {_when(run.finished_at)}",
        f"Result:    {run.get_status_display()}",
        "",
        f"Reason: {why}",
        "",
        "Connectors tried, in order:",
        *_attempt_lines(run),
        "",
        f"The run in the Sync Log: {run_link(run)}",
        "",
        "Further failures of this directory send no e-mail until a sync completes cleanly; "
        "then one e-mail says it has recovered.",
    ]
    return f"{directory.name}: {what}", "\n".join(body)


def recovery_message(run: SyncRun, since) -> tuple[str, str]:
    directory = run.directory
    body = [
        f"Directory: {directory.name}",
        f"Sync run #{run.pk} ({run.get_trigger_display()}) completed cleanly at "
        f"{_when(run.finished_at)} through {run.connector_used_name or 'its connector'}.",
        f"Syncs of this directory had been failing since {_when(since)}.",
        "",
        f"The run in the Sync Log: {run_link(run)}",
    ]
    return f"{directory.name}: syncs recovered", "\n".join(body)


def _send(subject: str, body: str, to: list[str]) -> None:
    EmailMessage(
        subject=f"{settings.EMAIL_SUBJECT_PREFIX}{subject}",
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
    ).send()


def notify(run_id: int) -> str | None:
    """Send what the end of this run calls for: "failure", "recovered" or nothing (None)."""
    run = SyncRun.objects.select_related("directory").filter(pk=run_id).first()
    # A review writes nothing and its admin is looking at it: it neither starts nor ends
    # a streak.
    if run is None or run.status in ACTIVE_STATUSES or run.trigger == Trigger.REVIEW:
        return None
    newer_ended = (
        SyncRun.objects.filter(directory_id=run.directory_id, pk__gt=run.pk)
        .exclude(status__in=ACTIVE_STATUSES)
        .exclude(trigger=Trigger.REVIEW)
        .exists()
    )
    if newer_ended:
        return None  # a later run's end already decided the streak
    directory = run.directory
    problem = trouble(run)
    if problem is None:
        if run.status != RunStatus.COMPLETED:
            return None
        since = directory.failure_notified_at
        closed = Directory.objects.filter(
            pk=directory.pk, failure_notified_at__isnull=False
        ).update(failure_notified_at=None)
        if not closed:
            return None
        to = recipients(directory)
        if to:
            _send(*recovery_message(run, since), to)
        return "recovered"

    to = recipients(directory)
    if not to:
        log.warning("sync run %s of %s: nobody to e-mail about it", run.pk, directory.name)
        return None
    stamp = timezone.now()
    opened = Directory.objects.filter(pk=directory.pk, failure_notified_at__isnull=True).update(
        failure_notified_at=stamp
    )
    if not opened:
        return None  # this streak's e-mail went out already
    try:
        _send(*failure_message(run, *problem), to)
    except Exception:
        # Not told: the next failure tries again.
        Directory.objects.filter(pk=directory.pk, failure_notified_at=stamp).update(
            failure_notified_at=None
        )
        raise
    return "failure"


@receiver(lifecycle.run_finished, dispatch_uid="directories.notify_run_finished")
def notify_run_finished(sender, run_id: int, directory_id: int, **kwargs) -> None:
    try:
        notify(run_id)
    except Exception:
        # A mail server that is down must not stop the other receivers (the follow-up run).
        log.exception("could not send the e-mail about sync run %s", run_id)
