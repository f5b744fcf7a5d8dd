"""The Sync plan page: which directories each connector syncs, when, and where they collide."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from directories import syncplan


def sync_plan_view(request: HttpRequest) -> HttpResponse:
    """Read by every admin role; the timeline's hours are in the admin's own zone."""
    plan = syncplan.sync_plan(zone=timezone.get_current_timezone())
    return render(request, "directories/sync_plan.html", {"plan": plan, "nav": "connectors"})
