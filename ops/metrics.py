"""The Prometheus metrics, read from the database at each scrape.

A fixed number of aggregate queries whatever the number of directories, runs or
connectors: no query per row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime

from django.db.models import Count, OuterRef, Subquery
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from connectors.choices import HealthState
from connectors.models import Connector
from directories.models import Directory, DirectoryGroup, DirectoryUser
from synclog.choices import RunStatus
from synclog.models import SyncRun
from synclog.queries import syncs

PREFIX = "dirsync"
# How a sync can end; a review (dry run) is not a sync and is left out of "last sync".
FINAL_STATUSES = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.SAFEGUARD)


def _seconds(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def _last(statuses) -> Subquery:
    """The id of a directory's newest sync that ended with one of `statuses` (the console's
    "last sync" rule and order: reviews left out, newest first)."""
    runs = syncs().filter(directory=OuterRef("pk"), status__in=statuses).order_by("-created", "-id")
    return Subquery(runs.values("pk")[:1])


class ConsoleCollector(Collector):
    """Directories, their syncs and the connectors, as Prometheus gauges."""

    def collect(self) -> Iterator[Metric]:
        directories = list(
            Directory.objects.annotate(
                last_run=_last(FINAL_STATUSES), last_success=_last([RunStatus.COMPLETED])
            ).values_list("pk", "name", "last_run", "last_success")
        )
        names = {pk: name for pk, name, _, _ in directories}
        wanted = {r for _, _, last, ok in directories for r in (last, ok) if r is not None}
        runs = {
            row["pk"]: row
            for row in SyncRun.objects.filter(pk__in=wanted).values(
                "pk", "status", "started_at", "finished_at", "unresolved_references"
            )
        }
        yield from self._directories(directories, runs)
        yield from self._counts(names)
        yield from self._runs(names)
        yield from self._connectors()

    def _directories(self, directories, runs) -> Iterator[Metric]:
        status = GaugeMetricFamily(
            f"{PREFIX}_directory_last_sync_status",
            "1 for how the directory's last sync ended (completed, failed, safeguard), "
            "0 for the others; all 0 before its first sync",
            labels=["directory", "status"],
        )
        finished = GaugeMetricFamily(
            f"{PREFIX}_directory_last_sync_timestamp_seconds",
            "When the directory's last sync ended (Unix time)",
            labels=["directory"],
        )
        succeeded = GaugeMetricFamily(
            f"{PREFIX}_directory_last_success_timestamp_seconds",
            "When the directory's last completed sync ended (Unix time)",
            labels=["directory"],
        )
        duration = GaugeMetricFamily(
            f"{PREFIX}_directory_last_sync_duration_seconds",
            "How long the directory's last sync took, from start to end",
            labels=["directory"],
        )
        unresolved = GaugeMetricFamily(
            f"{PREFIX}_directory_unresolved_member_references",
            "Group member values the directory's last sync could not match to a synced "
            "user or group",
            labels=["directory"],
        )
        for _, name, last_id, success_id in directories:
            last = runs.get(last_id)
            for value in FINAL_STATUSES:
                status.add_metric([name, value], 1.0 if last and last["status"] == value else 0.0)
            if last is not None:
                ended = _seconds(last["finished_at"])
                if ended is not None:
                    finished.add_metric([name], ended)
                    if last["started_at"] is not None:
                        took = (last["finished_at"] - last["started_at"]).total_seconds()
                        duration.add_metric([name], took)
                unresolved.add_metric([name], last["unresolved_references"])
            success = runs.get(success_id)
            if success is not None and success["finished_at"] is not None:
                succeeded.add_metric([name], success["finished_at"].timestamp())
        yield from (status, finished, succeeded, duration, unresolved)

    def _counts(self, names: dict[int, str]) -> Iterator[Metric]:
        for model, noun in ((DirectoryUser, "users"), (DirectoryGroup, "groups")):
            counts = dict(
                model.objects.values("directory_id")
                .annotate(n=Count("pk"))
                .values_list("directory_id", "n")
                .order_by()
            )
            family = GaugeMetricFamily(
                f"{PREFIX}_directory_{noun}",
                f"Synced {noun} the console holds for the directory",
                labels=["directory"],
            )
            for pk, name in names.items():
                family.add_metric([name], counts.get(pk, 0))
            yield family

    def _runs(self, names: dict[int, str]) -> Iterator[Metric]:
        counts: dict[tuple[int, str], int] = defaultdict(int)
        rows = (
            SyncRun.objects.values("directory_id", "status")
            .annotate(n=Count("pk"))
            .values_list("directory_id", "status", "n")
            .order_by()
        )
        for directory_id, value, n in rows:
            counts[(directory_id, value)] = n
        family = GaugeMetricFamily(
            f"{PREFIX}_sync_runs",
            "Sync runs (reviews included) in the Sync Log, by directory and status",
            labels=["directory", "status"],
        )
        for pk, name in names.items():
            for value in RunStatus.values:
                family.add_metric([name, value], counts[(pk, value)])
        yield family

    def _connectors(self) -> Iterator[Metric]:
        health = GaugeMetricFamily(
            f"{PREFIX}_connector_health",
            "1 for the connector's health state from its last check, 0 for the others",
            labels=["connector", "state"],
        )
        seen = GaugeMetricFamily(
            f"{PREFIX}_connector_last_seen_timestamp_seconds",
            "When the connector last answered a health check (Unix time)",
            labels=["connector"],
        )
        for name, state, last_seen in Connector.objects.values_list(
            "name", "health", "last_seen"
        ).order_by("name"):
            for value in HealthState.values:
                health.add_metric([name, value], 1.0 if state == value else 0.0)
            if last_seen is not None:
                seen.add_metric([name], last_seen.timestamp())
        yield from (health, seen)


registry = CollectorRegistry(auto_describe=False)
registry.register(ConsoleCollector())
