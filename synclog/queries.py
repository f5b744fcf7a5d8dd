"""Querysets of runs shared by the console and the API."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from synclog.models import SyncAttempt, SyncRun


def runs_with_attempts() -> QuerySet[SyncRun]:
    """Runs with their directory, requester and attempts in failover order."""
    return SyncRun.objects.select_related("directory", "requested_by").prefetch_related(
        Prefetch("attempts", queryset=SyncAttempt.objects.order_by("position"))
    )
