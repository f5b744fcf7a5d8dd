"""Querysets of runs shared by the console and the API."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

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
