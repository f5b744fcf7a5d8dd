"""What a run could not sync, recorded on the run: counts by reason and a capped list."""

from __future__ import annotations

from collections import Counter
from typing import Any

from directories.sync.fetch import Received
from synclog.choices import WarningReason
from synclog.models import WARNINGS_LISTED, SyncWarning

# What a warning says (beside the run it belongs to).
WARNING_FIELDS = ("kind", "reason", "entry_type", "external_id", "name", "dn", "value", "detail")


def record_warnings(run_id: int, received: Received) -> dict[str, Any]:
    """Store the run's warnings (skipped entries first) and return the run's fields for them.

    Every one is counted; the first WARNINGS_LISTED are listed one by one. A read of
    changed values alone has the warnings of the sync it read since, copied.
    """
    carried = received.carried
    if carried is not None:
        SyncWarning.objects.bulk_create(
            SyncWarning(run_id=run_id, **row)
            for row in SyncWarning.objects.filter(run_id=carried.run_id)
            .order_by("pk")
            .values(*WARNING_FIELDS)
        )
        return {
            "unresolved_references": carried.unresolved_references,
            "skipped_entries": carried.skipped_entries,
            "warning_counts": dict(carried.warning_counts),
        }
    skipped, unresolved = received.skipped, received.resolution.unresolved
    items = [*skipped, *unresolved]
    SyncWarning.objects.bulk_create(
        SyncWarning(
            run_id=run_id,
            kind=WarningReason.kind(item.reason),
            reason=item.reason,
            entry_type=item.entry_type,
            external_id=item.external_id[:64],
            name=item.name[:255],
            dn=item.dn,
            value=item.value,
            detail=item.detail,
        )
        for item in items[:WARNINGS_LISTED]
    )
    fields: dict[str, Any] = {
        "unresolved_references": len(unresolved),
        "skipped_entries": len(skipped),
        "warning_counts": dict(Counter(str(item.reason) for item in items)),
    }
    return fields


def warning_message(fields: dict[str, Any]) -> str:
    """One line for the run's message, or "" when nothing was left out."""
    parts = []
    if fields["unresolved_references"]:
        n = fields["unresolved_references"]
        parts.append(
            f"{n} group member value{'s' if n != 1 else ''} matched no synced user or group"
        )
    if fields["skipped_entries"]:
        n = fields["skipped_entries"]
        parts.append(f"{n} entr{'ies were' if n != 1 else 'y was'} skipped")
    if not parts:
        return ""
    return "Completed with warnings: " + "; ".join(parts) + ". The run lists each one and why."
