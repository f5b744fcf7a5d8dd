"""Reading and planting connector claims in tests (the rows a sync's heartbeat renews)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from synclog.models import ConnectorClaim, SyncRun


def set_claim(connector, run: SyncRun | None, until: datetime | None = None) -> None:
    """Make `run` hold `connector` until `until` (None: nobody holds it)."""
    ConnectorClaim.objects.filter(connector_id=connector.pk).delete()
    if run is not None:
        ConnectorClaim.objects.create(
            connector_id=connector.pk,
            run=run,
            until=until or timezone.now() + timedelta(minutes=5),
        )


def claim_of(connector) -> tuple[int | None, datetime | None]:
    """(run id, until) of the claim on `connector`, or (None, None)."""
    row = ConnectorClaim.objects.filter(connector_id=connector.pk).first()
    return (row.run_id, row.until) if row else (None, None)
