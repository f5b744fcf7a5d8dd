"""The Sync Log and a run's changes as CSV: one writer for the console's downloads and the API."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from itertools import chain

from django.db.models import QuerySet
from django.http import StreamingHttpResponse

from synclog.models import SyncChange, SyncRun

RUN_COLUMNS = (
    "id", "directory", "status", "trigger", "requested_by", "created", "started_at",
    "finished_at", "connector_used", "connectors_tried", "entries_received", "users_added",
    "users_updated", "users_deleted", "groups_added", "groups_updated", "groups_deleted",
    "memberships_added", "memberships_removed", "unresolved_references", "skipped_entries",
    "message",
)  # fmt: skip
CHANGE_COLUMNS = ("kind", "action", "name", "dn", "external_id", "details")


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_response(filename: str, header: Iterable[str], rows: Iterable) -> StreamingHttpResponse:
    """Streamed rows, so a long Sync Log never sits in memory whole."""
    writer = csv.writer(_Echo())
    lines = (writer.writerow(row) for row in chain([header], rows))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def cell(value) -> str:
    # A spreadsheet would run a cell starting with = + - @ as a formula.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _run_rows(runs: QuerySet[SyncRun]) -> Iterator[list[str]]:
    for run in runs.iterator(chunk_size=500):
        tried = " > ".join(f"{a.connector_name} ({a.outcome})" for a in run.attempts.all())
        yield [
            cell(v)
            for v in (
                run.pk, run.directory.name, run.status, run.trigger,
                run.requested_by.username if run.requested_by else "",
                run.created.isoformat(),
                run.started_at.isoformat() if run.started_at else "",
                run.finished_at.isoformat() if run.finished_at else "",
                run.connector_used_name, tried, run.entries_received,
                run.users_added, run.users_updated, run.users_deleted,
                run.groups_added, run.groups_updated, run.groups_deleted,
                run.memberships_added, run.memberships_removed,
                run.unresolved_references, run.skipped_entries, run.message,
            )
        ]  # fmt: skip


def sync_log_csv(runs: QuerySet[SyncRun]) -> StreamingHttpResponse:
    """`runs` (with their attempts prefetched) as sync-log.csv."""
    return csv_response("sync-log.csv", RUN_COLUMNS, _run_rows(runs))


def changes_csv(run: SyncRun, changes: QuerySet[SyncChange]) -> StreamingHttpResponse:
    """`changes` of `run` as sync-<id>-changes.csv, oldest first."""
    rows = (
        [cell(v) for v in (c.kind, c.action, c.name, c.dn, c.external_id, json.dumps(c.details))]
        for c in changes.order_by("id").iterator(chunk_size=2000)
    )
    return csv_response(f"sync-{run.pk}-changes.csv", CHANGE_COLUMNS, rows)
