"""Sync benchmark: 100k users (up to 1,000,000) through one agent into PostgreSQL.

Prints the raw limit (python-ldap paged read + COPY of the same rows), the full first
sync, incremental resyncs (nothing changed; 1% of users changed) against the bare read,
the same resyncs read in full, peak memory of worker and agent, failover delays and the
cost of matching member values spelled unlike their entries, then one `name=value`
line per figure. After the first sync and after each 1% change it checks, with its own
python-ldap read, that the users and memberships in the store are exactly those in the
directory.

    make bench                                  # 100k users, 2k groups x 50 members
    make bench BENCH_ARGS="--users 1000000"     # groups default to users / 50
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


def reset_hwm(pid: int) -> None:
    """Start the peak resident memory of a process and its children over from now."""
    import psutil

    for proc in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        Path(f"/proc/{proc.pid}/clear_refs").write_text("5")


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
    import orjson
    from django.db import connection, transaction

    from directories import search
    from directories.models import DirectoryGroup, DirectoryUser, GroupMembership
    from directories.sync.incremental import members_digest
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
            "name, search_text, fingerprint, synced_at, member_values, members_digest, "
            "users_digest) FROM STDIN"
        ) as copy:
            for i, (dn, a) in enumerate(groups):
                # The member values as sent, kept for incremental reads.
                values = [v.decode() for v in a.get("member", [])]
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
                        orjson.dumps(values).decode(),
                        members_digest(values),
                        # Like the fingerprint, a placeholder: no member is resolved here.
                        "0" * 32,
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


def user_check(server, directory) -> dict[str, int]:
    """Users in the store against those the directory holds, read with python-ldap.

    Each user is compared by entryUUID with its uid and sn (the attribute the 1% change
    rewrites): `missing` are in the directory only, `extra` in the store only, `differ`
    in both with other values.
    """
    import ldap

    from directories.models import DirectoryUser

    conn = ldap.initialize(server.uri)
    conn.simple_bind_s(server.root_dn, server.root_password)
    want = {}
    for _dn, attrs in conn.search_s(
        server.people_dn,
        ldap.SCOPE_SUBTREE,
        "(objectClass=inetOrgPerson)",
        ["entryUUID", "uid", "sn"],
    ):
        want[attrs["entryUUID"][0].decode()] = (
            attrs["uid"][0].decode(),
            attrs["sn"][0].decode(),
        )
    conn.unbind_s()
    have = {
        ext: (username, last)
        for ext, username, last in DirectoryUser.objects.filter(directory=directory)
        .values_list("external_id", "username", "last_name")
        .iterator(chunk_size=10_000)
    }
    both = want.keys() & have.keys()
    return {
        "missing": len(want.keys() - have.keys()),
        "extra": len(have.keys() - want.keys()),
        "differ": sum(1 for ext in both if want[ext] != have[ext]),
    }


def change_one_percent(server, users: int, label: str) -> int:
    """Rewrite the sn of every hundredth user; returns how many changed."""
    import ldap

    conn = server.connect()
    changed = 0
    for n in range(0, users, 100):
        conn.modify_s(
            f"uid=user{n},{server.people_dn}",
            [(ldap.MOD_REPLACE, "sn", [f"{label}{n}".encode()])],
        )
        changed += 1
    return changed


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
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--users", type=int, default=100_000, help="users in the directory (up to 1,000,000)"
    )
    parser.add_argument("--groups", type=int, default=None, help="default: users / 50")
    parser.add_argument("--members", type=int, default=50, help="members per group")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument(
        "--incremental",
        choices=("cookie", "timestamp"),
        default="cookie",
        help="how slapd is read incrementally: by sync cookie (syncprov with a session log, "
        "as a server set up for replication runs) or by modifyTimestamp with a listing of "
        "every entry in scope (a server without syncprov)",
    )
    args = parser.parse_args()
    if args.groups is None:
        args.groups = max(1, args.users // 50)
    load_before = os.getloadavg()

    fresh_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.conf import settings
    from django.db import connection

    from directories.services import save_sync_connectors
    from synclog.choices import ReadMode
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

    def expect_mode(run, mode: str) -> None:
        if run.read_mode != mode:
            raise SystemExit(f"run {run.pk} read {run.read_mode!r} ({run.read_reason}), not {mode}")

    def check_store(when: str) -> tuple[dict[str, int], dict[str, int]]:
        users = user_check(server, directory)
        members = membership_check(server, server.dataset, directory)
        say(
            f"store after {when}: users missing {users['missing']}, extra {users['extra']}, "
            f"differ {users['differ']}; memberships directory {members['directory']}, "
            f"store {members['store']}, missing {members['missing']}, extra {members['extra']}"
        )
        return users, members

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
            # Loaded long ago, as a directory is: a read of what changed after the first
            # sync sees only the bench's own changes, not the whole load.
            stamped="20200101000000Z",
        ),
        syncprov=args.incremental == "cookie",
    ).start()
    load_s = time.perf_counter() - t0
    say(
        f"slapd loaded {args.users} users, {args.groups} groups x {args.members} members "
        f"in {load_s:.1f} s"
    )
    agents = AgentFactory(work / "agents")
    flush_broker()

    def start_worker(**env: str) -> Worker:
        # The solo pool runs the sync in the worker's main process, whose peak memory is
        # read.
        return Worker(
            "bench",
            work,
            concurrency=1,
            pool="solo",
            SYNC_PAGE_SIZE=str(args.page_size),
            CONNECTOR_PROBE_TIMEOUT=str(settings.CONNECTOR_PROBE_TIMEOUT),
            **env,
        ).start()

    # First a worker that reads in full every time (the first sync and full resyncs).
    worker = start_worker(SYNC_FULL_READ_HOURS="0")
    try:
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
        expect_mode(run, ReadMode.FULL)
        say(
            f"full sync: {full_s:.2f} s ({run.users_added} users, {run.groups_added} groups, "
            f"{run.memberships_added} memberships) = {full_s / raw_limit:.2f}x raw limit"
        )
        checks = [check_store("the full sync")]
        # The first sync's peak apart from the resyncs' (which hold the store as well).
        first_mb = vm_hwm_mb(worker.process.pid)
        reset_hwm(worker.process.pid)

        noop_s, run = timed_sync(directory)
        expect_mode(run, ReadMode.FULL)
        assert run.changes.count() == 0, "a no-change resync wrote changes"
        say(f"full resync, nothing changed: {noop_s:.2f} s = {noop_s / read_s:.2f}x raw read")
        changed = change_one_percent(server, args.users, "Changed")
        pct_s, run = timed_sync(directory)
        expect_mode(run, ReadMode.FULL)
        say(f"full resync, 1% changed: {pct_s:.2f} s ({run.users_updated} users updated)")
        checks.append(check_store("the full 1% resync"))
        resync_mb = vm_hwm_mb(worker.process.pid)
        worker_mb = max(first_mb, resync_mb)

        # The same resyncs read incrementally, by a worker that reads only what changed
        # while its last full read is recent.
        worker.stop()
        worker = start_worker()
        # A new worker's first task pays for imports and connections: not the resync's.
        small = Slapd(work / "small", Dataset(users=100, groups=2, members_per_group=10)).start()
        timed_sync(make_directory("warm-up.example.com", small, connector))
        inc_noop_s, run = timed_sync(directory)
        expect_mode(run, ReadMode.INCREMENTAL)
        assert run.changes.count() == 0, "a no-change resync wrote changes"
        say(
            f"incremental resync, nothing changed: {inc_noop_s:.2f} s = "
            f"{inc_noop_s / read_s:.3f}x raw read"
        )
        change_one_percent(server, args.users, "Again")
        inc_pct_s, run = timed_sync(directory)
        expect_mode(run, ReadMode.INCREMENTAL)
        say(
            f"incremental resync, 1% changed: {inc_pct_s:.2f} s ({run.users_updated} of "
            f"{changed} users updated) = {inc_pct_s / read_s:.3f}x raw read"
        )
        checks.append(check_store("the incremental 1% resync"))
        incremental_mb = vm_hwm_mb(worker.process.pid)

        respelled_s = respelled_resolution_s(args.users, args.groups, args.members)
        say(
            f"member values all spelled unlike their entries: matched by DN key in "
            f"{respelled_s:.2f} s"
        )

        agent_mb = vm_hwm_mb(main_agent.pid)
        say(
            f"peak memory: worker {worker_mb:.0f} MB reading in full (first sync "
            f"{first_mb:.0f} MB, full resyncs {resync_mb:.0f} MB), {incremental_mb:.0f} MB "
            f"reading incrementally; agent {agent_mb:.0f} MB"
        )

        # Failover: a small directory so the delay, not the read, is what is timed.
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

        users_bad = {
            key: sum(users[key] for users, _ in checks) for key in ("missing", "extra", "differ")
        }
        members_bad = {key: sum(m[key] for _, m in checks) for key in ("missing", "extra")}
        load_after = os.getloadavg()
        figures = {
            "users": str(args.users),
            "groups": str(args.groups),
            "incremental_by": args.incremental,
            "slapd_load_s": f"{load_s:.1f}",
            "raw_read_s": f"{read_s:.2f}",
            "raw_limit_s": f"{raw_limit:.2f}",
            "full_sync_s": f"{full_s:.2f}",
            "full_sync_ratio": f"{full_s / raw_limit:.2f}",
            "users_per_s": f"{args.users / full_s:.0f}",
            "noop_resync_s": f"{noop_s:.2f}",
            "noop_resync_ratio": f"{noop_s / read_s:.2f}",
            "resync_1pct_s": f"{pct_s:.2f}",
            "incremental_noop_s": f"{inc_noop_s:.2f}",
            "incremental_1pct_s": f"{inc_pct_s:.2f}",
            "incremental_1pct_ratio": f"{inc_pct_s / read_s:.3f}",
            "worker_peak_mb": f"{worker_mb:.0f}",
            "first_sync_worker_peak_mb": f"{first_mb:.0f}",
            "full_resync_worker_peak_mb": f"{resync_mb:.0f}",
            "incremental_worker_peak_mb": f"{incremental_mb:.0f}",
            "agent_peak_mb": f"{agent_mb:.0f}",
            "failover_refused_s": f"{refused:.3f}",
            "failover_frozen_s": f"{frozen:.3f}",
            "respelled_members_s": f"{respelled_s:.2f}",
            "users_missing": str(users_bad["missing"]),
            "users_extra": str(users_bad["extra"]),
            "users_differ": str(users_bad["differ"]),
            "memberships_missing": str(members_bad["missing"]),
            "memberships_extra": str(members_bad["extra"]),
            "load_average_before": " ".join(f"{x:.2f}" for x in load_before),
            "load_average_after": " ".join(f"{x:.2f}" for x in load_after),
        }
        targets = [
            (
                "store equals the directory after every sync (users and memberships)",
                not any(users_bad.values())
                and not any(members_bad.values())
                and all(m["store"] == m["directory"] for _, m in checks),
            ),
            ("full sync within 2x raw limit", full_s <= 2 * raw_limit),
            ("full sync at 20,000 users/s or more", args.users / full_s >= 20_000),
            ("no-change full resync within 1.3x raw read", noop_s <= 1.3 * read_s),
            ("incremental 1% resync within 0.10x raw read", inc_pct_s <= 0.10 * read_s),
            ("worker peak under 400 MB", max(worker_mb, incremental_mb) < 400),
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
