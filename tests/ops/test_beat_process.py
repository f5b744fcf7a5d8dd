"""A real beat (DatabaseScheduler) keeps /readyz green through its heartbeat; once it stops,
readiness fails within the max age."""

from __future__ import annotations

import time

import pytest
from django_celery_beat.models import PeriodicTask

from testbed.beat import Beat
from testbed.worker import flush_broker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout:g} s")


def beat_check(client) -> tuple[int, dict]:
    response = client.get("/readyz")
    return response.status_code, response.json()["checks"]["beat"]


def test_a_running_beat_keeps_readiness_green_and_a_stopped_one_turns_it_red(
    client, settings, tmp_path
):
    settings.BEAT_HEARTBEAT_MAX_AGE = 4
    status, beat = beat_check(client)
    assert status == 503 and "not sent its heartbeat" in beat["error"]

    # No worker runs: the beat's sending the heartbeat is what counts, not its execution.
    process = Beat(tmp_path, BEAT_HEARTBEAT_INTERVAL="1").start()
    try:
        wait_for(lambda: beat_check(client)[0] == 200, 20, "green readiness from the beat")
        # It stays green: each send is written at once (CELERY_BEAT_SYNC_EVERY=1).
        for _ in range(3):
            time.sleep(1.5)
            status, beat = beat_check(client)
            assert status == 200, beat
            assert beat["age_seconds"] < 3
        row = PeriodicTask.objects.get(name=settings.BEAT_HEARTBEAT_ENTRY)
        assert row.task == "ops.tasks.beat_heartbeat"
        assert row.total_run_count >= 3
    finally:
        process.stop()
        flush_broker()  # the heartbeats no worker took

    status, beat = wait_for(
        lambda: (lambda answer: answer if answer[0] == 503 else None)(beat_check(client)),
        10,
        "red readiness after the beat stopped",
    )
    assert "more than 4 s" in beat["error"]
