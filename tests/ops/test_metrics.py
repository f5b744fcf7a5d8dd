"""/metrics: the console's gauges read back with Prometheus' own parser, who may scrape them,
and a scrape's fixed number of queries."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from connectors.choices import HealthState
from connectors.models import Connector
from connectors.services import record_health
from directories.models import DirectoryGroup, DirectoryUser
from synclog import lifecycle
from synclog.choices import RunStatus, Trigger
from tests.conftest import make_connector, make_directory

from .conftest import ended_run, waiting_run

TOKEN = "scrape-token-3f9a1c"
REMOTE = "198.51.100.20"  # an address outside loopback and every network below


def scrape(client, **extra) -> dict[tuple[str, frozenset], float]:
    """{(sample name, labels): value} of a 200 answer, parsed as Prometheus parses it."""
    extra.setdefault("REMOTE_ADDR", "127.0.0.1")
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float | None:
    return samples.get((f"dirsync_{name}", frozenset(labels.items())))


def add_synced_entries(directory, users: int, groups: int) -> None:
    now = timezone.now()
    DirectoryUser.objects.bulk_create(
        DirectoryUser(
            directory=directory,
            external_id=f"{directory.pk}-u{n}",
            dn=f"uid=user{n},ou=people,dc=example,dc=com",
            username=f"user{n}",
            synced_at=now,
        )
        for n in range(users)
    )
    DirectoryGroup.objects.bulk_create(
        DirectoryGroup(
            directory=directory,
            external_id=f"{directory.pk}-g{n}",
            dn=f"cn=group{n},ou=groups,dc=example,dc=com",
            name=f"group{n}",
            synced_at=now,
        )
        for n in range(groups)
    )


# --- what the metrics say ------------------------------------------------------------


@pytest.fixture
def two_directories(directory, connectors):
    """corp.example.com: a completed sync an hour ago, a failed one a minute ago (3
    unresolved member references), a review since and a waiting run; 5 users, 2 groups.
    hr.example.com: never synced, 1 user."""
    now = timezone.now().replace(microsecond=0)
    hr = make_directory("hr.example.com", connectors[1])
    success = ended_run(
        directory, RunStatus.COMPLETED, now - timedelta(hours=1), took=30, unresolved_references=9
    )
    failed = ended_run(
        directory, RunStatus.FAILED, now - timedelta(minutes=1), took=12.5, unresolved_references=3
    )
    # A review ends later, but a dry run is not a sync: the last sync stays the failed one.
    ended_run(
        directory, RunStatus.COMPLETED, now - timedelta(seconds=10), took=2, trigger=Trigger.REVIEW
    )
    waiting_run(directory)
    add_synced_entries(directory, users=5, groups=2)
    add_synced_entries(hr, users=1, groups=0)
    return {"corp": directory, "hr": hr, "success": success, "failed": failed}


def test_metrics_report_each_directorys_last_sync_entries_and_runs(client, two_directories):
    samples = scrape(client)
    corp, hr = "corp.example.com", "hr.example.com"
    failed, success = two_directories["failed"], two_directories["success"]

    assert value(samples, "directory_last_sync_status", directory=corp, status="failed") == 1
    assert value(samples, "directory_last_sync_status", directory=corp, status="completed") == 0
    assert value(samples, "directory_last_sync_status", directory=corp, status="safeguard") == 0
    assert value(samples, "directory_last_sync_timestamp_seconds", directory=corp) == (
        pytest.approx(failed.finished_at.timestamp())
    )
    assert value(samples, "directory_last_sync_duration_seconds", directory=corp) == 12.5
    assert value(samples, "directory_last_success_timestamp_seconds", directory=corp) == (
        pytest.approx(success.finished_at.timestamp())
    )
    # The last sync's unresolved references, not the earlier sync's 9.
    assert value(samples, "directory_unresolved_member_references", directory=corp) == 3
    assert value(samples, "directory_users", directory=corp) == 5
    assert value(samples, "directory_groups", directory=corp) == 2

    runs = {s: value(samples, "sync_runs", directory=corp, status=s) for s in RunStatus.values}
    assert runs == {"queued": 1, "running": 0, "completed": 2, "failed": 1, "safeguard": 0}

    # A directory never synced: every status 0, no time, duration or unresolved figure.
    for status in ("completed", "failed", "safeguard"):
        assert value(samples, "directory_last_sync_status", directory=hr, status=status) == 0
    for name in (
        "directory_last_sync_timestamp_seconds",
        "directory_last_sync_duration_seconds",
        "directory_last_success_timestamp_seconds",
        "directory_unresolved_member_references",
    ):
        assert value(samples, name, directory=hr) is None, name
    assert value(samples, "directory_users", directory=hr) == 1
    assert value(samples, "directory_groups", directory=hr) == 0
    assert sum(value(samples, "sync_runs", directory=hr, status=s) for s in RunStatus.values) == 0


def test_a_sync_ended_through_the_run_lifecycle_shows_at_the_next_scrape(client, directory):
    name = directory.name
    before = scrape(client)
    assert value(before, "directory_last_sync_status", directory=name, status="completed") == 0

    run, _ = lifecycle.queue(directory, Trigger.SCHEDULED)
    assert lifecycle.claim(run)
    assert value(scrape(client), "sync_runs", directory=name, status="running") == 1
    assert lifecycle.finish(run, RunStatus.SAFEGUARD, "too many deletions", unresolved_references=4)

    run.refresh_from_db()
    after = scrape(client)
    assert value(after, "sync_runs", directory=name, status="running") == 0
    assert value(after, "directory_last_sync_status", directory=name, status="safeguard") == 1
    assert value(after, "directory_last_sync_timestamp_seconds", directory=name) == (
        pytest.approx(run.finished_at.timestamp())
    )
    assert value(after, "directory_last_sync_duration_seconds", directory=name) == (
        pytest.approx((run.finished_at - run.started_at).total_seconds())
    )
    assert value(after, "directory_unresolved_member_references", directory=name) == 4
    # Stopped by a safeguard is not a success.
    assert value(after, "directory_last_success_timestamp_seconds", directory=name) is None


def test_metrics_report_each_connectors_health_and_when_it_was_last_seen(client, connectors):
    ok, down, _ = connectors
    record_health(ok, HealthState.OK)
    record_health(down, HealthState.UNREACHABLE, "connection refused")
    samples = scrape(client)

    for connector, state in ((ok, "ok"), (down, "unreachable")):
        states = {
            s: value(samples, "connector_health", connector=connector.name, state=s)
            for s in HealthState.values
        }
        assert states == {s: (1 if s == state else 0) for s in HealthState.values}
    seen = Connector.objects.get(pk=ok.pk).last_seen
    assert value(samples, "connector_last_seen_timestamp_seconds", connector=ok.name) == (
        pytest.approx(seen.timestamp())
    )
    # Never answered a health check: no last-seen time at all, rather than a made-up one.
    assert value(samples, "connector_last_seen_timestamp_seconds", connector=down.name) is None


def test_prometheus_asking_for_openmetrics_gets_openmetrics(client, two_directories):
    response = client.get(
        "/metrics",
        REMOTE_ADDR="127.0.0.1",
        HTTP_ACCEPT="application/openmetrics-text; version=1.0.0; charset=utf-8",
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    families = {f.name: f for f in openmetrics_families(response.content.decode())}
    users = {s.labels["directory"]: s.value for s in families["dirsync_directory_users"].samples}
    assert users == {"corp.example.com": 5, "hr.example.com": 1}


# --- a scrape costs a fixed number of queries ------------------------------------------

QUERIES_PER_SCRAPE = 6


def scrape_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        scrape(client)
    return len(queries)


def test_a_scrape_costs_the_same_few_queries_for_one_directory_or_many(
    client, directory, connectors, django_assert_max_num_queries
):
    ended_run(directory, RunStatus.COMPLETED, timezone.now(), took=5)
    add_synced_entries(directory, users=3, groups=1)
    with django_assert_max_num_queries(QUERIES_PER_SCRAPE):
        scrape(client)
    one = scrape_queries(client)

    for n in range(12):
        extra = make_directory(f"branch-{n}.example.com", connectors[n % 3])
        ended_run(extra, RunStatus.FAILED, timezone.now() - timedelta(hours=2), took=3)
        ended_run(extra, RunStatus.COMPLETED, timezone.now(), took=4)
        waiting_run(extra)
        add_synced_entries(extra, users=4, groups=2)
    for n in range(10):
        make_connector(f"edge-{n}")
    with django_assert_max_num_queries(QUERIES_PER_SCRAPE):
        samples = scrape(client)
    assert scrape_queries(client) == one
    # The many directories were all reported, so the same queries did cover them.
    assert value(samples, "directory_users", directory="branch-11.example.com") == 4
    assert value(samples, "connector_health", connector="edge-9", state="ok") == 1


# --- who may scrape ------------------------------------------------------------------


def refused(client, status: int, **extra) -> dict:
    response = client.get("/metrics", **extra)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    assert b"dirsync_" not in response.content
    return response.json()


def test_by_default_only_loopback_clients_may_scrape(client, db, settings):
    assert settings.METRICS_TOKEN == "" and settings.METRICS_ALLOWED_NETWORKS == []
    scrape(client, REMOTE_ADDR="127.0.0.1")
    scrape(client, REMOTE_ADDR="::1")
    body = refused(client, 403, REMOTE_ADDR=REMOTE)
    assert body == {
        "detail": f"Metrics are served only to this machine (loopback); {REMOTE} is not."
    }


def test_a_forwarded_for_header_from_an_untrusted_client_is_ignored(client, db, settings):
    settings.TRUSTED_PROXIES = []
    refused(client, 403, REMOTE_ADDR=REMOTE, HTTP_X_FORWARDED_FOR="127.0.0.1")


def test_the_allow_list_replaces_loopback_and_is_matched_by_network(client, db, settings):
    settings.METRICS_ALLOWED_NETWORKS = ["192.0.2.0/24", "2001:db8::/32"]
    scrape(client, REMOTE_ADDR="192.0.2.77")
    scrape(client, REMOTE_ADDR="2001:db8::5")
    scrape(client, REMOTE_ADDR="::ffff:192.0.2.77")  # the same client on a dual-stack socket
    body = refused(client, 403, REMOTE_ADDR="192.0.3.1")
    assert "allowed networks" in body["detail"]
    refused(client, 403, REMOTE_ADDR="127.0.0.1")


def test_the_allow_list_sees_the_client_behind_a_trusted_proxy(client, db, settings):
    settings.METRICS_ALLOWED_NETWORKS = ["192.0.2.0/24"]
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    scrape(client, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.8")
    refused(client, 403, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")


def test_with_a_token_a_scrape_needs_the_bearer_token_from_anywhere(client, db, settings):
    settings.METRICS_TOKEN = TOKEN
    scrape(client, REMOTE_ADDR=REMOTE, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    scrape(client, REMOTE_ADDR=REMOTE, HTTP_AUTHORIZATION=f"bearer {TOKEN}")

    missing = client.get("/metrics", REMOTE_ADDR=REMOTE)
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert "Bearer" in missing.json()["detail"]
    for header in (f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Token {TOKEN}", "Bearer ", TOKEN):
        body = refused(client, 401, REMOTE_ADDR="127.0.0.1", HTTP_AUTHORIZATION=header)
        assert body["detail"]
    # Loopback gets no pass once a token is set.
    refused(client, 401, REMOTE_ADDR="127.0.0.1")


def test_with_a_token_and_networks_a_scrape_needs_both(client, db, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_NETWORKS = ["192.0.2.0/24"]
    scrape(client, REMOTE_ADDR="192.0.2.4", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    refused(client, 403, REMOTE_ADDR=REMOTE, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    refused(client, 401, REMOTE_ADDR="192.0.2.4")


def test_a_malformed_allowed_network_stops_the_console_at_start():
    env = {**os.environ, "METRICS_ALLOWED_NETWORKS": "192.0.2.0/24,not-a-network"}
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={**env, "DJANGO_SETTINGS_MODULE": "console.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "METRICS_ALLOWED_NETWORKS" in result.stderr
    assert "not-a-network" in result.stderr
