"""/healthz and /readyz: answered without a login; readiness names each check that fails."""

from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from testbed.slapd import free_port
from tests.support.database import database_unreachable

from .conftest import beat_sent_heartbeat


def readyz(client):
    response = client.get("/readyz")
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    return response, response.json()


# --- /healthz ------------------------------------------------------------------------


def test_healthz_answers_ok_to_anyone_without_a_login_or_the_database(client):
    # No database fixture: pytest-django refuses any query, so this also proves none is made.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]


def test_healthz_and_readyz_answer_only_reads(client):
    assert client.post("/healthz").status_code == 405
    assert client.post("/readyz").status_code == 405
    assert client.head("/healthz").status_code == 200


# --- /readyz: everything up ----------------------------------------------------------


def test_readyz_is_ok_when_database_broker_and_beat_answer(client, fresh_heartbeat):
    response, body = readyz(client)
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker", "beat"}
    assert all(check["status"] == "ok" for check in body["checks"].values()), body
    assert not any("error" in check for check in body["checks"].values())
    beat = body["checks"]["beat"]
    assert 0 <= beat["age_seconds"] < 30
    assert beat["last_run_at"] == fresh_heartbeat.last_run_at.isoformat()


def test_readyz_is_open_to_anonymous_clients_whatever_the_login_rule(client, fresh_heartbeat):
    # The console sends anonymous visitors to the login page; a load balancer must not be.
    response = client.get("/readyz", follow=False)
    assert response.status_code == 200
    assert "Location" not in response


# --- /readyz: the database -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_readyz_fails_and_names_the_database_when_it_cannot_be_reached(client):
    beat_sent_heartbeat(seconds_ago=1)
    with database_unreachable():
        response, body = readyz(client)
        healthz = client.get("/healthz")
    assert response.status_code == 503
    assert body["status"] == "fail"
    database = body["checks"]["database"]
    assert database["status"] == "fail"
    assert "OperationalError" in database["error"]
    assert "unable to open database file" in database["error"] or "connect" in database["error"]
    # The broker is up all the same, and says so.
    assert body["checks"]["broker"]["status"] == "ok"
    # The process itself is alive: liveness stays green while the database is away.
    assert healthz.status_code == 200
    # Once the database is back, so is readiness.
    response, body = readyz(client)
    assert response.status_code == 200, body


# --- /readyz: the broker -------------------------------------------------------------


def test_readyz_fails_and_names_the_broker_when_its_port_is_closed(
    client, fresh_heartbeat, settings
):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    response, body = readyz(client)
    assert response.status_code == 503
    assert body["status"] == "fail"
    broker = body["checks"]["broker"]
    assert broker["status"] == "fail"
    assert "Connection refused" in broker["error"]
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["beat"]["status"] == "ok"


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never answers (a hung broker)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for sock in held:
        sock.close()
    server.close()


def test_readyz_gives_up_on_a_hung_broker_within_the_timeout(
    client, fresh_heartbeat, settings, silent_server
):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{silent_server}/0"
    settings.READYZ_TIMEOUT = 0.5
    started = time.monotonic()
    response, body = readyz(client)
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    broker = body["checks"]["broker"]
    assert broker["status"] == "fail"
    assert "timeout" in broker["error"].lower() or "timed out" in broker["error"].lower()
    assert elapsed < 2.0, f"the broker check took {elapsed:.1f} s with a 0.5 s timeout"


# --- /readyz: the beat ---------------------------------------------------------------


def test_readyz_fails_when_the_beat_never_sent_its_heartbeat(client, db):
    response, body = readyz(client)
    assert response.status_code == 503
    beat = body["checks"]["beat"]
    assert beat["status"] == "fail"
    assert "not sent its heartbeat" in beat["error"]
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["broker"]["status"] == "ok"


def test_readyz_fails_when_the_beat_started_but_has_not_sent_it_yet(client, db):
    beat_sent_heartbeat(seconds_ago=None)
    response, body = readyz(client)
    assert response.status_code == 503
    assert body["checks"]["beat"]["status"] == "fail"
    assert body["checks"]["beat"]["last_run_at"] is None


def test_readyz_fails_when_the_heartbeat_is_older_than_the_max_age(client, db, settings):
    settings.BEAT_HEARTBEAT_MAX_AGE = 60
    beat_sent_heartbeat(seconds_ago=75)
    response, body = readyz(client)
    assert response.status_code == 503
    beat = body["checks"]["beat"]
    assert beat["status"] == "fail"
    assert beat["error"] == "The beat's last heartbeat is 75 s old (more than 60 s)"
    assert 75 <= beat["age_seconds"] < 80
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["broker"]["status"] == "ok"


def test_a_heartbeat_just_inside_the_max_age_is_ready(client, db, settings):
    settings.BEAT_HEARTBEAT_MAX_AGE = 60
    beat_sent_heartbeat(seconds_ago=55)
    response, body = readyz(client)
    assert response.status_code == 200, body
    assert body["checks"]["beat"]["max_age_seconds"] == 60


def test_the_beat_loads_the_heartbeat_and_sends_it_every_interval(transactional_db, settings):
    """What celery beat itself loads (the DatabaseScheduler) and when it says it is due."""
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    from console.celery import app

    app.loader.import_default_modules()  # what a worker does at start: finds the apps' tasks
    scheduler = DatabaseScheduler(app=app, lazy=False)
    stored = PeriodicTask.objects.get(name=settings.BEAT_HEARTBEAT_ENTRY)
    assert stored.task == "ops.tasks.beat_heartbeat" and stored.enabled
    assert app.tasks[stored.task].name == stored.task
    assert app.conf.beat_sync_every == 1  # each send is written at once for /readyz to read
    entry = scheduler.schedule[settings.BEAT_HEARTBEAT_ENTRY]
    entry.last_run_at = timezone.now() - timedelta(seconds=14)
    due, wait = entry.is_due()
    assert not due and 0 < wait <= 1.5
    entry.last_run_at = timezone.now() - timedelta(seconds=16)
    assert entry.is_due()[0]
