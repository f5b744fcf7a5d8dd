"""Querysets of runs shared by the console and the API."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from synclog.chart import MAX_RUNS
from synclog.choices import ACTIVE_STATUSES, RunStatus, Trigger
from synclog.models import SyncAttempt, SyncRun


def runs_with_attempts() -> QuerySet[SyncRun]:
    """Runs with their directory, requester and attempts in failover order."""
    return SyncRun.objects.select_related("directory", "requested_by").prefetch_related(
        Prefetch("attempts", queryset=SyncAttempt.objects.order_by("position"))
    )


def syncs() -> QuerySet[SyncRun]:
    """Runs that sync, without reviews: what "last sync" and the run chart speak of."""
    return SyncRun.objects.exclude(trigger=Trigger.REVIEW)


def chart_runs(directory_id: int) -> QuerySet[SyncRun]:
    """A directory's newest finished syncs (not reviews), as many as its chart draws."""
    return (
        syncs()
        .filter(directory_id=directory_id)
        .exclude(status__in=ACTIVE_STATUSES)
        .order_by("-created", "-id")[:MAX_RUNS]
    )


COUNT_LABELS = (
    ("users_added", "Users added"),
    ("users_updated", "Users updated"),
    ("users_deleted", "Users deleted"),
    ("groups_added", "Groups added"),
    ("groups_updated", "Groups updated"),
    ("groups_deleted", "Groups deleted"),
    ("memberships_added", "Memberships added"),
    ("memberships_removed", "Memberships removed"),
)


@dataclass
class ReviewComparison:
    """An applied sync beside the review it applied."""

    review: SyncRun
    rows: list[tuple[str, int, int]]  # (label, reviewed, applied)
    only_reviewed: int  # changes the review listed that the sync did not make
    only_applied: int  # changes the sync made that the review did not list

    @property
    def changed(self) -> bool:
        return bool(self.only_reviewed or self.only_applied) or any(
            reviewed != applied for _, reviewed, applied in self.rows
        )


def _change_keys(run: SyncRun) -> Counter:
    return Counter(
        (kind, action, ext, json.dumps(details, sort_keys=True))
        for kind, action, ext, details in run.changes.values_list(
            "kind", "action", "external_id", "details"
        )
    )


def review_comparison(run: SyncRun) -> ReviewComparison | None:
    """What a completed sync did against what its review listed; None for other runs."""
    review = run.reviewed_run
    if review is None or run.status != RunStatus.COMPLETED:
        return None
    rows = [(label, getattr(review, name), getattr(run, name)) for name, label in COUNT_LABELS]
    reviewed, applied = _change_keys(review), _change_keys(run)
    return ReviewComparison(
        review=review,
        rows=rows,
        only_reviewed=sum((reviewed - applied).values()),
        only_applied=sum((applied - reviewed).values()),
    )


@dataclass(frozen=True)
class Progress:
    """How far a running sync has read, against the directory's previous completed sync."""

    entries: int
    previous_total: int | None  # None: no previous completed sync to compare with
    percent: int | None
    estimated_end: datetime | None


# A run is not done until it says so, however many entries it has read.
PROGRESS_CAP = 99


def estimate_progress(
    entries: int,
    previous_total: int | None,
    started_at: datetime | None,
    now: datetime,
) -> Progress:
    """Share of the previous run's entries received so far (at most 99%), and the end that
    the pace since `started_at` points to."""
    if not previous_total:
        return Progress(entries, None, None, None)
    share = entries / previous_total
    percent = min(PROGRESS_CAP, int(share * 100))
    end = None
    if started_at is not None and 0 < share < 1:
        elapsed = now - started_at
        end = started_at + elapsed / share
    elif started_at is not None and share >= 1:
        end = now  # past the previous total: it ends as soon as it finishes reading
    return Progress(entries, previous_total, percent, end)


def run_progress(run: SyncRun, now: datetime | None = None) -> Progress:
    """The one estimate of a running run's progress, for the Sync Log row and the run page."""
    previous = (
        syncs()
        .filter(directory_id=run.directory_id, status=RunStatus.COMPLETED, created__lt=run.created)
        .exclude(entries_received=0)
        .order_by("-created", "-id")
        .values_list("entries_received", flat=True)
        .first()
    )
    return estimate_progress(run.entries_received, previous, run.started_at, now or timezone.now())
