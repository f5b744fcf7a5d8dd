"""The beat heartbeat: a task the beat sends on a fixed interval, so /readyz can tell it runs."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True)
def beat_heartbeat() -> None:
    """Nothing to do: the beat's sending it is the heartbeat (its PeriodicTask.last_run_at)."""
