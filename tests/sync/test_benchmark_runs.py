"""`make bench` runs end to end on a small directory, both ways it reads slapd
incrementally, and prints every figure it promises, with the store equal to the
directory after each sync.

Nothing here is timed: the figures are measured by the benchmark itself, against its own
baseline, and read by people (docs/performance.md). This only keeps the benchmark from
breaking unseen, as its raw copy once did when the user table gained a column.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from testbed.slapd import slapd_available
from tests.support.components import missing

REPO = Path(__file__).resolve().parents[2]

# Every figure the benchmark prints as name=value (the scale issue's list and the rest).
FIGURES = [
    "users",
    "groups",
    "incremental_by",
    "slapd_load_s",
    "raw_read_s",
    "raw_limit_s",
    "full_sync_s",
    "full_sync_ratio",
    "users_per_s",
    "noop_resync_s",
    "noop_resync_ratio",
    "resync_1pct_s",
    "incremental_noop_s",
    "incremental_1pct_s",
    "incremental_1pct_ratio",
    "worker_peak_mb",
    "first_sync_worker_peak_mb",
    "full_resync_worker_peak_mb",
    "incremental_worker_peak_mb",
    "agent_peak_mb",
    "failover_refused_s",
    "failover_frozen_s",
    "respelled_members_s",
    "users_missing",
    "users_extra",
    "users_differ",
    "memberships_missing",
    "memberships_extra",
    "load_average_before",
    "load_average_after",
]


def postgres_url() -> str:
    """A database of the benchmark's own on the tests' PostgreSQL server."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        missing("PostgreSQL", "the benchmark measures PostgreSQL (set DATABASE_URL)")
    user = db.get("USER") or "postgres"
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/dirsync_bench_smoke"


@pytest.mark.ldap
@pytest.mark.parametrize("incremental", ["cookie", "timestamp"])
def test_the_benchmark_runs_and_prints_every_figure(incremental):
    if not slapd_available():
        missing("OpenLDAP slapd", "slapd/slapadd or its schemas are not installed")
    url = postgres_url()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        # A broker database of its own: no test worker takes the benchmark's tasks.
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9").rsplit("/", 1)[0]
        + "/13",
    }
    try:
        done = subprocess.run(
            [sys.executable, "bench/sync_benchmark.py", "--users", "500", "--groups", "10",
             "--members", "20", "--incremental", incremental],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    finally:
        with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute('DROP DATABASE IF EXISTS "dirsync_bench_smoke" WITH (FORCE)')
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    printed = dict(re.findall(r"^(\w+)=(.*)$", done.stdout, re.M))
    assert sorted(printed) == sorted(FIGURES)
    assert (printed["users"], printed["groups"], printed["incremental_by"]) == (
        "500",
        "10",
        incremental,
    )
    for name in ("users_missing", "users_extra", "users_differ"):
        assert printed[name] == "0", name
    for name in ("memberships_missing", "memberships_extra"):
        assert printed[name] == "0", name
    # Each sync said what it did: every user and membership added, then 1% of the users
    # (5) changed, read in full and then incrementally.
    assert "full sync: " in done.stdout
    assert "(500 users, 10 groups, 200 memberships)" in done.stdout
    assert "full resync, 1% changed: " in done.stdout and "(5 users updated)" in done.stdout
    assert "(5 of 5 users updated)" in done.stdout
    checks = re.findall(r"^store after .*$", done.stdout, re.M)
    assert len(checks) == 3 and all(
        "users missing 0, extra 0, differ 0" in c and "missing 0, extra 0" in c for c in checks
    ), checks
    assert "target met: store equals the directory after every sync" in done.stdout
