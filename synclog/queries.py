"""Querysets of runs shared by the console and the API."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from synclog.chart import MAX_RUNS
from synclog.choices import ACTIVE_STATUSES
from synclog.models import SyncAttempt, SyncRun


def runs_with_attempts() -> QuerySet[SyncRun]:
    """Runs with their directory, requester and attempts in failover order."""
    return SyncRun.objects.select_related("directory", "requested_by").prefetch_related(
        Prefetch("attempts", queryset=SyncAttempt.objects.order_by("position"))
    )


def chart_runs(directory_id: int) -> QuerySet[SyncRun]:
    """A directory's newest finished runs, as many as its Sync Log chart draws."""
    return (
        SyncRun.objects.filter(directory_id=directory_id)
        .exclude(status__in=ACTIVE_STATUSES)
        .order_by("-created", "-id")[:MAX_RUNS]
    )
