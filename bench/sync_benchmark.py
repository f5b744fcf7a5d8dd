"""Sync benchmark: 100k users and 2k groups through one agent into PostgreSQL.

Prints the raw limit (python-ldap paged read + COPY of the same rows), the full first
sync, a no-change resync, a 1% resync, peak memory of worker and agent, failover
delays and the cost of matching member values spelled unlike their entries, then one
`name=value` line per figure. Beside the timing it checks that the memberships in the
store are exactly those in the directory.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dirsync_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/8")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")


def fresh_database(url: str) -> None:
    """Drop and create the benchmark's own database, so no earlier run's rows (or rows
    encrypted under another secret key) are in the way."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def vm_hwm_mb(pid: int) -> float:
    """Peak resident memory of a process and its children (the largest of them)."""
    import psutil

    peaks = []
    for proc in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks)


def raw_read(server, page_size: int) -> tuple[float, list, list]:
    """python-ldap paged read of the users and groups a sync reads."""
    import ldap
    from ldap.controls import SimplePagedResultsControl

    t0 = time.perf_counter()
    conn = ldap.initialize(server.uri)
    conn.simple_bind_s(server.root_dn, server.root_password)

    def paged(base, flt, attrs):
        ctrl = SimplePagedResultsControl(True, size=page_size, cookie="")
        out = []
        while True:
            msgid = conn.search_ext(base, ldap.SCOPE_SUBTREE, flt, attrs, serverctrls=[ctrl])
            _, data, _, controls = conn.result3(msgid)
            out.extend(data)
            cookie = next(
                (
                    c.cookie
                    for c in controls
                    if c.controlType == SimplePagedResultsControl.controlType
                ),
                b"",
            )
            if not cookie:
                return out
            ctrl.cookie = cookie

    users = paged(
        server.people_dn,
        "(objectClass=inetOrgPerson)",
        ["entryUUID", "uid", "givenName", "sn", "mail", "displayName"],
    )
    groups = paged(server.groups_dn, "(objectClass=groupOfNames)", ["entryUUID", "cn", "member"])
    conn.unbind_s()
    return time.perf_counter() - t0, users, groups


def raw_copy(users: list, groups: list) -> float:
    """COPY the rows a first sync writes (users, groups, memberships, change rows).

    Into regular tables shaped like the store's (same columns and indexes, WAL-logged like
    them) but without foreign keys: the floor any writer of these rows pays.
    """
    from django.db import connection, transaction

    from directories import search
    from directories.models import DirectoryGroup, DirectoryUser, GroupMembership
    from synclog.models import SyncChange

    t0 = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        raw = cur.cursor
        for model in (DirectoryUser, DirectoryGroup, GroupMembership, SyncChange):
            table = model._meta.db_table
            raw.execute(f"CREATE TABLE raw_{table} (LIKE {table} INCLUDING ALL)")

        def first(attrs, name):
            return attrs.get(name, [b""])[0].decode()

        with raw.copy(
            "COPY raw_directories_directoryuser (directory_id, external_id, dn, "
            "username, first_name, last_name, email, display_name, upn, disabled, "
            "search_text, fingerprint, synced_at) FROM STDIN"
        ) as copy:
            for dn, a in users:
                copy.write_row(
                    (
                        1,
                        first(a, "entryUUID"),
                        dn,
                        first(a, "uid"),
                        first(a, "givenName"),
                        first(a, "sn"),
                        first(a, "mail"),
                        first(a, "displayName"),
                        "",
                        False,
                        search.user_text(
                            first(a, "uid"),
                            first(a, "givenName"),
                            first(a, "sn"),
                            first(a, "mail"),
                            first(a, "displayName"),
                        ),
                        "0" * 32,
                        "2026-01-01T00:00:00Z",
                    )
                )
        with raw.copy(
            "COPY raw_directories_directorygroup (id, directory_id, external_id, dn, "
            "name, search_text, fingerprint, synced_at) FROM STDIN"
        ) as copy:
            for i, (dn, a) in enumerate(groups):
                copy.write_row(
                    (
                        i + 1,
                        1,
                        first(a, "entryUUID"),
                        dn,
                        first(a, "cn"),
                        search.group_text(first(a, "cn")),
                        "0" * 32,
                        "2026-01-01T00:00:00Z",
                    )
                )
        with raw.copy(
            "COPY raw_directories_groupmembership (group_id, user_id) FROM STDIN"
        ) as copy:
            for i, (_dn, a) in enumerate(groups):
                for j, _member in enumerate(a.get("member", [])):
                    copy.write_row((i + 1, i * 1000 + j))
        with raw.copy(
            "COPY raw_synclog_syncchange (run_id, kind, action, external_id, name, dn, "
            "details) FROM STDIN"
        ) as copy:
            for dn, a in users:
                copy.write_row(
                    (1, "user", "added", first(a, "entryUUID"), first(a, "uid"), dn, "{}")
                )
            for dn, a in groups:
                copy.write_row(
                    (1, "group", "added", first(a, "entryUUID"), first(a, "cn"), dn, "{}")
                )
    elapsed = time.perf_counter() - t0
    with connection.cursor() as cur:
        for model in (DirectoryUser, DirectoryGroup, GroupMembership, SyncChange):
            cur.execute(f"DROP TABLE raw_{model._meta.db_table}")
    return elapsed


def timed_sync(directory) -> tuple[float, object]:
    from directories.tasks import start_sync
    from synclog.choices import RunStatus, Trigger
    from synclog.models import SyncRun

    t0 = time.perf_counter()
    run, _ = start_sync(directory, Trigger.API)
    while True:
        run = SyncRun.objects.get(pk=run.pk)
        if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
            break
        time.sleep(0.01)
    elapsed = time.perf_counter() - t0
    if run.status != RunStatus.COMPLETED:
        raise SystemExit(f"sync failed: {run.status} {run.message}")
    return elapsed, run


def membership_check(server, dataset, directory) -> dict[str, int]:
    """Memberships in the store against those the directory holds.

    The directory side comes from the data set's own indices (group j holds these user
    numbers) mapped to entryUUIDs read with python-ldap; nothing of the engine is used.
    """
    import ldap

    from directories.models import GroupMembership

    conn = ldap.initialize(server.uri)
    conn.simple_bind_s(server.root_dn, server.root_password)
    uuids = {}
    for base, flt in (
        (server.people_dn, "(objectClass=inetOrgPerson)"),
        (server.groups_dn, "(objectClass=groupOfNames)"),
    ):
        for dn, attrs in conn.search_s(base, ldap.SCOPE_SUBTREE, flt, ["entryUUID"]):
            uuids[dn] = attrs["entryUUID"][0].decode()
    conn.unbind_s()
    # Group j holds users (j * members_per_group + k) % users, k < members_per_group.
    per_group = min(dataset.members_per_group, dataset.users)
    want = set()
    for j in range(dataset.groups):
        group = uuids[dataset.group_dn(j)]
        for k in range(per_group):
            user = (j * dataset.members_per_group + k) % dataset.users
            want.add((group, uuids[dataset.user_dn(user)]))
    have = set(
        GroupMembership.objects.filter(group__directory=directory).values_list(
            "group__external_id", "user__external_id"
        )
    )
    return {
        "directory": len(want),
        "store": len(have),
        "missing": len(want - have),
        "extra": len(have - want),
    }


def respelled_resolution_s(users: int, groups: int, members: int) -> float:
    """Matching every member value by DN key: all of them spelled unlike their entries.

    In a sync, member values spelled like the entry DNs are matched as they are; this
    is the cost when none is (upper-case types, hex escapes, as some tools write them).
    """
    from directories.sync.members import resolve, scope_keys

    base = "ou=people,dc=example,dc=com"
    received_users = {f"u{n}": (f"cn=Smith\\, Jr. {n},{base}", f"user{n}") for n in range(users)}
    received_groups = {
        f"g{j}": (
            f"cn=group{j},ou=groups,dc=example,dc=com",
            f"group{j}",
            [
                f"CN=smith\\2c jr. {(j * members + k) % users},OU=People,DC=Example,DC=com"
                for k in range(members)
            ],
        )
        for j in range(groups)
    }
    scopes = scope_keys([base, "ou=groups,dc=example,dc=com"])
    t0 = time.perf_counter()
    resolution = resolve(received_users, received_groups, [], scopes)
    elapsed = time.perf_counter() - t0
    assert len(resolution.members) == min(users, groups * members), len(resolution.members)
    assert not resolution.unresolved
    return elapsed


def failover_delay(run) -> float:
    attempts = list(run.attempts.order_by("position"))
    return (attempts[1].started_at - attempts[0].started_at).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=2_000)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--page-size", type=int, default=1000)
    args = parser.parse_args()

    fresh_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.conf import settings
    from django.db import connection

    from directories.services import save_sync_connectors
    from testbed.agents import AgentFactory
    from testbed.slapd import Dataset, Slapd
    from testbed.wiring import make_directory, register
    from testbed.worker import Worker, flush_broker

    if connection.vendor != "postgresql":
        raise SystemExit("the benchmark measures PostgreSQL: set DATABASE_URL=postgres://...")

    work = Path(tempfile.mkdtemp(prefix="dirsync-bench-"))
    out = io.StringIO()

    def say(msg: str) -> None:
        print(msg, flush=True)
        out.write(msg + "\n")

    t0 = time.perf_counter()
    server = Slapd(
        work / "slapd",
        Dataset(
            users=args.users,
            groups=args.groups,
            members_per_group=args.members,
            nested=False,
            non_ascii_every=7,
            # Members spelled as the server spells entry DNs, as over LDAP; the cost of
            # other spellings is respelled_members_s.
            member_spellings=False,
        ),
    ).start()
    say(
        f"slapd loaded {args.users} users, {args.groups} groups x {args.members} members "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    agents = AgentFactory(work / "agents")
    flush_broker()
    # The solo pool runs the sync in the worker's main process, whose peak memory is read.
    worker = Worker(
        "bench",
        work,
        concurrency=1,
        pool="solo",
        SYNC_PAGE_SIZE=str(args.page_size),
        CONNECTOR_PROBE_TIMEOUT=str(settings.CONNECTOR_PROBE_TIMEOUT),
    )
    try:
        worker.start()
        # Best of two, so slapd's caches are as warm for the raw read as for the syncs.
        read_s, users, groups = raw_read(server, args.page_size)
        del users, groups
        second, users, groups = raw_read(server, args.page_size)
        read_s = min(read_s, second)
        copy_s = raw_copy(users, groups)
        del users, groups
        raw_limit = read_s + copy_s
        say(f"raw limit: paged read {read_s:.2f} s + COPY {copy_s:.2f} s = {raw_limit:.2f} s")

        main_agent = agents("bench-agent", page_size=args.page_size)
        connector = register(main_agent)
        directory = make_directory("bench.example.com", server, connector)

        full_s, run = timed_sync(directory)
        say(
            f"full sync: {full_s:.2f} s ({run.users_added} users, {run.groups_added} groups, "
            f"{run.memberships_added} memberships) = {full_s / raw_limit:.2f}x raw limit"
        )
        check = membership_check(server, server.dataset, directory)
        say(
            f"memberships: directory {check['directory']}, store {check['store']}, "
            f"missing {check['missing']}, extra {check['extra']}"
        )
        noop_s, run = timed_sync(directory)
        assert run.changes.count() == 0, "a no-change resync wrote changes"
        say(f"no-change resync: {noop_s:.2f} s = {noop_s / read_s:.2f}x raw read")

        step = 100
        conn = server.connect()
        import ldap

        for n in range(0, args.users, step):
            conn.modify_s(
                f"uid=user{n},{server.people_dn}",
                [(ldap.MOD_REPLACE, "sn", [f"Changed{n}".encode()])],
            )
        pct_s, run = timed_sync(directory)
        say(f"1% resync: {pct_s:.2f} s ({run.users_updated} users updated)")

        respelled_s = respelled_resolution_s(args.users, args.groups, args.members)
        say(
            f"member values all spelled unlike their entries: matched by DN key in "
            f"{respelled_s:.2f} s"
        )

        worker_mb = vm_hwm_mb(worker.process.pid)
        agent_mb = vm_hwm_mb(main_agent.pid)
        say(f"peak memory: worker {worker_mb:.0f} MB, agent {agent_mb:.0f} MB")

        # Failover: a small directory so the delay, not the read, is what is timed.
        small = Slapd(work / "small", Dataset(users=100, groups=2, members_per_group=10)).start()
        down, up = agents("refusing"), agents("healthy")
        c_down, c_up = register(down), register(up)
        fo_dir = make_directory("failover.example.com", small, c_down)
        save_sync_connectors(fo_dir, [c_down.pk, c_up.pk])
        down.stop()
        _, run = timed_sync(fo_dir)
        refused = failover_delay(run)
        frozen_agent = agents("frozen")
        c_frozen = register(frozen_agent)
        save_sync_connectors(fo_dir, [c_frozen.pk, c_up.pk])
        frozen_agent.freeze()
        try:
            _, run = timed_sync(fo_dir)
        finally:
            frozen_agent.thaw()
        frozen = failover_delay(run)
        say(
            f"failover delay: refused {refused:.3f} s, frozen {frozen:.3f} s "
            f"(probe timeout {settings.CONNECTOR_PROBE_TIMEOUT:g} s)"
        )
        small.cleanup()

        figures = {
            "raw_limit_s": f"{raw_limit:.2f}",
            "full_sync_s": f"{full_s:.2f}",
            "full_sync_ratio": f"{full_s / raw_limit:.2f}",
            "noop_resync_s": f"{noop_s:.2f}",
            "noop_resync_ratio": f"{noop_s / read_s:.2f}",
            "resync_1pct_s": f"{pct_s:.2f}",
            "worker_peak_mb": f"{worker_mb:.0f}",
            "agent_peak_mb": f"{agent_mb:.0f}",
            "failover_refused_s": f"{refused:.3f}",
            "failover_frozen_s": f"{frozen:.3f}",
            "users_per_s": f"{args.users / full_s:.0f}",
            "respelled_members_s": f"{respelled_s:.2f}",
            "memberships_missing": str(check["missing"]),
            "memberships_extra": str(check["extra"]),
        }
        targets = [
            (
                "store memberships equal the directory's",
                check["missing"] == check["extra"] == 0 and check["store"] == check["directory"],
            ),
            ("full sync within 2x raw limit", full_s <= 2 * raw_limit),
            ("no-change resync within 1.3x raw read", noop_s <= 1.3 * read_s),
            ("worker peak under 400 MB", worker_mb < 400),
            ("failover (refused) under 0.5 s", refused < 0.5),
            (
                "failover (frozen) under probe timeout + 0.5 s",
                frozen < settings.CONNECTOR_PROBE_TIMEOUT + 0.5,
            ),
        ]
        for name, ok in targets:
            say(f"target {'met' if ok else 'MISSED'}: {name}")
        for key, value in figures.items():
            print(f"{key}={value}")
    finally:
        worker.stop()
        agents.close()
        server.cleanup()


if __name__ == "__main__":
    main()
