"""Template tags of the Sync Log pages."""

from __future__ import annotations

from django import template

from synclog.models import SyncRun
from synclog.queries import Progress, run_progress

register = template.Library()


@register.simple_tag(name="run_progress")
def run_progress_tag(run: SyncRun) -> Progress:
    """`{% run_progress run as progress %}`: the estimate `synclog.queries.run_progress` owns."""
    return run_progress(run)
