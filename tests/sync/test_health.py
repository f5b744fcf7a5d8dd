"""The beat task that probes every connector and records its health and last seen."""

from __future__ import annotations

import pytest

from connectors.tasks import probe_connectors

from .conftest import register

pytestmark = [pytest.mark.ldap]


def test_probe_sets_ok_unreachable_unauthorized_and_outdated(agent_factory, transactional_db):
    healthy = register(agent_factory("healthy"))
    stopped_agent = agent_factory("stopped")
    stopped = register(stopped_agent)
    stopped_agent.stop()
    wrong = register(agent_factory("wrong-secret"))
    wrong.secret = "something-else"
    wrong.save()
    old = register(agent_factory("old", version="3.3.0.0"))

    result = probe_connectors()

    assert result == {
        "healthy": "ok",
        "stopped": "unreachable",
        "wrong-secret": "unauthorized",
        "old": "outdated",
    }
    for connector in (healthy, stopped, wrong, old):
        connector.refresh_from_db()
    assert healthy.last_seen is not None and old.last_seen is not None
    assert old.version == "3.3.0.0"
    assert "connection refused" in stopped.health_message
    assert "401" in wrong.health_message


def test_beat_runs_the_health_probe_of_every_connector_every_30_seconds(transactional_db):
    """What celery beat itself loads (django-celery-beat's DatabaseScheduler), and when it
    says the probe is due, not a restatement of the setting."""
    from datetime import timedelta

    from django.utils import timezone
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    from console.celery import app

    scheduler = DatabaseScheduler(app=app, lazy=False)
    stored = PeriodicTask.objects.get(name="probe-connectors")
    assert stored.task == "connectors.tasks.probe_connectors" and stored.enabled
    assert app.tasks[stored.task].name == stored.task
    entry = scheduler.schedule["probe-connectors"]
    entry.last_run_at = timezone.now() - timedelta(seconds=29)
    due, wait = entry.is_due()
    assert not due and 0 < wait <= 1.5
    entry.last_run_at = timezone.now() - timedelta(seconds=31)
    assert entry.is_due()[0]
