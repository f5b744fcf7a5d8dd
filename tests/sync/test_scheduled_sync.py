"""A real beat (DatabaseScheduler) and worker: scheduled runs in the Sync Log, never two at
once, and a schedule changed through the service followed without restarting the beat."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from console.models import Role, User
from directories.services import save_schedule_task, schedule_task_name, update_directory
from synclog.choices import ACTIVE_STATUSES, RunStatus, Trigger
from synclog.models import SyncRun
from testbed.beat import Beat
from tests.api.conftest import client_for
from tests.console.conftest import make_run
from tests.support.sync_log_rows import run_rows

from .conftest import assert_db_equals_ldap, wait_until

pytestmark = [pytest.mark.ldap, pytest.mark.slow]

EVERY = 2  # seconds between due times: shorter than a sync, so some come due mid-sync


@pytest.fixture
def beat(worker, worker_log_dir):
    started = Beat(worker_log_dir).start()
    yield started
    started.stop()


def scheduled_runs(directory) -> list[SyncRun]:
    return list(SyncRun.objects.filter(directory=directory, trigger=Trigger.SCHEDULED))


def ended(runs: list[SyncRun]) -> list[SyncRun]:
    return [r for r in runs if r.status not in ACTIVE_STATUSES]


def test_a_running_beat_syncs_on_schedule_one_run_at_a_time_and_follows_a_changed_schedule(
    beat, directory_with_list, ldap_server
):
    directory = directory_with_list
    assert not PeriodicTask.objects.filter(name=schedule_task_name(directory)).exists()

    # The product's shortest schedule (every 15 minutes) is too long for a test: the
    # directory's PeriodicTask gets a few-second interval through the service's own
    # writer of that row (the one update_schedule uses), while the beat is running.
    every, _ = IntervalSchedule.objects.get_or_create(every=EVERY, period=IntervalSchedule.SECONDS)
    save_schedule_task(directory, interval=every)

    wait_until(
        lambda: len(ended(scheduled_runs(directory))) >= 3,
        timeout=90,
        what="three scheduled runs ended",
    )
    done = ended(scheduled_runs(directory))
    assert all(r.status == RunStatus.COMPLETED for r in done), [r.message for r in done]
    assert_db_equals_ldap(directory, ldap_server)

    # The schedule changes through the service, to a time that is not soon.
    later = timezone.localtime() + timedelta(hours=12)
    update_directory(
        directory, {"sync_frequency": "daily", "sync_time": later.time().replace(second=0)}
    )
    changes_seen = beat.log().count("DatabaseScheduler: Schedule changed.")
    task = PeriodicTask.objects.get(name=schedule_task_name(directory))
    assert task.interval is None and task.crontab.hour == str(later.hour)

    # The running beat notices (it looks at most every second) and stops sending.
    wait_until(
        lambda: beat.log().count("DatabaseScheduler: Schedule changed.") > changes_seen,
        timeout=15,
        what="the beat noticing the new schedule",
    )
    wait_until(
        lambda: (
            not SyncRun.objects.filter(directory=directory, status__in=ACTIVE_STATUSES).exists()
        ),
        timeout=60,
        what="the last scheduled run to end",
    )
    settled = len(scheduled_runs(directory))
    time.sleep(4 * EVERY)
    assert len(scheduled_runs(directory)) == settled
    assert beat.alive()

    # Never two at once: each run started after the one before it had ended.
    runs = sorted(scheduled_runs(directory), key=lambda r: r.started_at)
    for before, after in zip(runs, runs[1:], strict=False):
        assert after.started_at >= before.finished_at, (before.pk, after.pk)

    # The Sync Log (page and API) lists them with their trigger.
    viewer = User.objects.create_user("watcher", role=Role.READ_ONLY_ADMIN)
    listed = client_for(viewer).get(
        "/api/v1/sync-runs/", {"directory": directory.pk, "trigger": "scheduled"}
    )
    assert listed.json()["count"] == settled
    assert {row["trigger"] for row in listed.json()["results"]} == {"scheduled"}

    # The console's Sync Log, filtered by trigger as a user would, beside a Sync Now run.
    clicked = make_run(directory, trigger=Trigger.MANUAL)
    newest_first = [r.pk for r in sorted(runs, key=lambda r: (r.created, r.pk), reverse=True)]
    console = Client()
    console.force_login(viewer)
    sync_log = reverse("synclog:syncrun_list")
    everything = run_rows(console.get(sync_log, {"directory": directory.pk}).content.decode())
    assert everything[clicked.pk]["Trigger"] == "Sync Now"
    page = console.get(sync_log, {"directory": directory.pk, "trigger": "scheduled"})
    html = page.content.decode()
    shown = run_rows(html)
    assert list(shown) == newest_first[:20]  # a page holds 20 runs
    assert {(row["Trigger"], row["Status"]) for row in shown.values()} == {
        ("Scheduled", "Completed")
    }
    assert '<option value="scheduled" selected>Scheduled</option>' in html
