"""The checks behind /readyz: the database answers, the broker answers, the beat is alive.

Each check returns a dict with "status" ("ok" or "fail") and, when it fails, "error" in
words; it never raises, so one failing check never hides the others.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connections
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from kombu import Connection

Check = dict[str, Any]


def _timed(probe: Callable[[], Check]) -> Check:
    started = time.monotonic()
    try:
        result = probe()
    except Exception as error:  # a check reports what went wrong instead of raising
        result = {"status": "fail", "error": f"{type(error).__name__}: {error}".strip()}
    result["seconds"] = round(time.monotonic() - started, 4)
    return result


def _database() -> Check:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        (value,) = cursor.fetchone()
    if value != 1:
        return {"status": "fail", "error": f"SELECT 1 returned {value!r}"}
    return {"status": "ok"}


def _broker() -> Check:
    timeout = settings.READYZ_TIMEOUT
    broker = Connection(
        settings.CELERY_BROKER_URL,
        connect_timeout=timeout,
        transport_options={"socket_timeout": timeout, "socket_connect_timeout": timeout},
    )
    try:
        # One try, no back-off: an unreachable broker answers "fail" within the timeout.
        broker.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
    finally:
        broker.release()
    return {"status": "ok"}


def _beat() -> Check:
    max_age = settings.BEAT_HEARTBEAT_MAX_AGE
    last_run: datetime | None = (
        PeriodicTask.objects.filter(name=settings.BEAT_HEARTBEAT_ENTRY)
        .values_list("last_run_at", flat=True)
        .first()
    )
    if last_run is None:
        return {
            "status": "fail",
            "error": "The beat has not sent its heartbeat yet (is `celery beat` running?)",
            "last_run_at": None,
        }
    if timezone.is_naive(last_run):
        last_run = timezone.make_aware(last_run, timezone.get_default_timezone())
    age = (timezone.now() - last_run).total_seconds()
    result: Check = {
        "status": "ok",
        "last_run_at": last_run.isoformat(),
        "age_seconds": round(age, 1),
        "max_age_seconds": max_age,
    }
    if age > max_age:
        result["status"] = "fail"
        result["error"] = f"The beat's last heartbeat is {age:.0f} s old (more than {max_age:g} s)"
    return result


CHECKS: dict[str, Callable[[], Check]] = {
    "database": _database,
    "broker": _broker,
    "beat": _beat,
}


def readiness() -> tuple[bool, dict[str, Check]]:
    """(all ok, each check's result by name)."""
    results = {name: _timed(probe) for name, probe in CHECKS.items()}
    return all(r["status"] == "ok" for r in results.values()), results
