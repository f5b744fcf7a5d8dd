"""Failure e-mail through a real SMTP server: one per failure streak, one on recovery,
for every way a run ends (failed, stopped by a safeguard, unresolved references, reaped)."""

from __future__ import annotations

import socket
import subprocess
import threading

import pytest
from aiosmtpd.controller import Controller
from django.db import connection
from django.utils import timezone

from console.models import Role, User
from directories import notifications
from directories.models import Directory
from directories.services import update_directory
from directories.tasks import reap_stale_runs
from synclog import lifecycle
from synclog.choices import RunStatus, Trigger
from synclog.models import SyncRun
from tests.engine.conftest import GROUPS, PEOPLE

# The failover loop's helpers (its fixtures come in through conftest.py).
from tests.engine.test_failover_loop import GOOD, connector, for_agent, make, run
from tests.support.scripted_agent import record

from .conftest import Inbox

pytestmark = pytest.mark.django_db(transaction=True)

CLEAN = [
    record(type="begin"),
    record(type="user", id="u1", dn=f"uid=ann,{PEOPLE}", username="ann"),
    record(type="user", id="u2", dn=f"uid=bob,{PEOPLE}", username="bob"),
    record(
        type="group",
        id="g1",
        dn=f"cn=staff,{GROUPS}",
        name="staff",
        members=[f"uid=ann,{PEOPLE}", f"uid=bob,{PEOPLE}"],
    ),
    record(type="end", users=2, groups=1),
]
BROKEN = [record(type="begin"), record(type="error", message="bind refused")]
OPS = ["ops@example.com", "dba@example.com"]


def told(directory: Directory, addresses: list[str] = OPS) -> Directory:
    return update_directory(directory, {"notification_emails": addresses})


def test_a_failed_run_emails_the_directory_the_reason_each_connector_tried_and_a_link(
    agents, sent, inbox
):
    directory = told(make(connector("c1"), for_agent(agents("c2", BROKEN))))

    done = run(directory)

    assert done.status == RunStatus.FAILED
    [message] = inbox.messages
    assert inbox.recipients == [OPS]
    assert message["Subject"] == "[Directory sync] corp.example.com: sync failed"
    assert message["From"] == "dirsync@console.example.com"
    [body] = inbox.bodies()
    assert "Directory: corp.example.com" in body
    assert "Reason: No connector could sync corp.example.com. Tried 2 connector(s)" in body
    assert "1. c1 (Unavailable): connection refused at http://127.0.0.1:9" in body
    assert "2. c2 (Directory error): c2 could not read the directory: bind refused" in body
    assert f"https://console.example.com/sync-log/runs/{done.pk}/" in body


def test_a_failure_streak_sends_one_email_and_the_first_clean_run_one_recovered_email(
    agents, sent, inbox
):
    agent = agents("c1", BROKEN)
    directory = told(make(for_agent(agent)))

    assert run(directory).status == RunStatus.FAILED
    assert run(directory).status == RunStatus.FAILED
    assert inbox.subjects() == ["[Directory sync] corp.example.com: sync failed"]

    agent.lines = CLEAN
    recovered = run(directory)
    assert recovered.status == RunStatus.COMPLETED and recovered.unresolved_references == 0
    assert inbox.subjects()[1:] == ["[Directory sync] corp.example.com: syncs recovered"]
    body = inbox.bodies()[1]
    assert f"Sync run #{recovered.pk} (Sync Now) completed cleanly" in body
    assert f"https://console.example.com/sync-log/runs/{recovered.pk}/" in body

    assert run(directory).status == RunStatus.COMPLETED
    assert len(inbox.messages) == 2
    # A new streak is told again.
    agent.lines = BROKEN
    assert run(directory).status == RunStatus.FAILED
    assert len(inbox.messages) == 3


def test_a_review_neither_starts_nor_ends_a_failure_streak(agents, sent, inbox):
    from directories.tasks import sync_directory

    def review(directory):
        queued = SyncRun.objects.create(directory=directory, trigger=Trigger.REVIEW)
        sync_directory(queued.pk)
        queued.refresh_from_db()
        return queued

    agent = agents("c1", BROKEN)
    directory = told(make(for_agent(agent)))
    assert review(directory).status == RunStatus.FAILED
    assert inbox.messages == []
    assert run(directory).status == RunStatus.FAILED
    assert len(inbox.messages) == 1

    agent.lines = CLEAN
    assert review(directory).status == RunStatus.COMPLETED
    assert len(inbox.messages) == 1  # the streak is still open: only a sync ends it
    assert run(directory).status == RunStatus.COMPLETED
    assert inbox.subjects()[1:] == ["[Directory sync] corp.example.com: syncs recovered"]


def test_a_safeguard_stop_emails_what_the_sync_would_have_done(agents, sent, inbox):
    agent = agents("c1", CLEAN)
    directory = told(make(for_agent(agent)))
    assert run(directory).status == RunStatus.COMPLETED
    assert inbox.messages == []  # a clean first sync ends no streak: nothing to say
    agent.lines = [record(type="begin"), record(type="end", users=0, groups=0)]

    stopped = run(directory)

    assert stopped.status == RunStatus.SAFEGUARD
    assert inbox.subjects() == ["[Directory sync] corp.example.com: sync stopped by a safeguard"]
    [body] = inbox.bodies()
    assert "Reason: Stopped by a safeguard before anything was written:" in body
    assert "Users deleted: 2 of 2 (100%), limit 10%" in body
    assert "1. c1 (Succeeded)" in body


def test_a_completed_run_with_unresolved_member_references_emails(agents, sent, inbox):
    directory = told(make(for_agent(agents("c1", GOOD))))

    done = run(directory)

    assert done.status == RunStatus.COMPLETED and done.unresolved_references == 1
    assert inbox.subjects() == ["[Directory sync] corp.example.com: 1 unresolved member reference"]
    assert "1 group member value matches no synced user or group" in inbox.bodies()[0]


def test_a_run_whose_worker_died_emails_the_super_admins_when_the_reaper_ends_it(
    agents, sent, inbox
):
    User.objects.create_user("root", email="root@example.com", role=Role.SUPER_ADMIN)
    User.objects.create_user("helper", email="helper@example.com", role=Role.DIRECTORY_ADMIN)
    c1 = connector("c1")
    directory = make(c1)
    gone = subprocess.Popen(["true"])
    gone.wait()
    lost = SyncRun.objects.create(
        directory=directory,
        status=RunStatus.RUNNING,
        started_at=timezone.now(),
        worker=f"{socket.gethostname()}:{gone.pid}:1",
        lease_until=timezone.now() + timezone.timedelta(minutes=5),
    )
    lifecycle.start_attempt(lost, 1, c1)

    reap_stale_runs()

    assert SyncRun.objects.get(pk=lost.pk).status == RunStatus.FAILED
    assert inbox.recipients == [["root@example.com"]]
    [body] = inbox.bodies()
    assert "The worker running this sync stopped before it finished (its process is gone)" in body
    assert "1. c1 (Incomplete stream): The worker stopped during this attempt." in body


def test_a_mail_server_that_is_down_leaves_the_streak_untold_until_it_answers(
    agents, sent, mail_settings, smtp_port
):
    directory = told(make(for_agent(agents("c1", BROKEN))))

    assert run(directory).status == RunStatus.FAILED  # the run's end is not held up

    assert Directory.objects.get(pk=directory.pk).failure_notified_at is None
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        assert run(directory).status == RunStatus.FAILED
    finally:
        controller.stop()
    assert inbox.subjects() == ["[Directory sync] corp.example.com: sync failed"]
    assert Directory.objects.get(pk=directory.pk).failure_notified_at is not None


def test_two_processes_ending_the_same_streak_at_once_send_one_email(agents, sent, inbox):
    directory = told(make(connector("c1")))
    failed = SyncRun.objects.create(
        directory=directory,
        status=RunStatus.FAILED,
        message="No connector could sync corp.example.com.",
        finished_at=timezone.now(),
    )
    start = threading.Barrier(2)
    results = []

    def receiver() -> None:
        try:
            start.wait()
            results.append(notifications.notify(failed.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=receiver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(results, key=str) == [None, "failure"]
    assert len(inbox.messages) == 1
