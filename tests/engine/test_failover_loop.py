"""The failover loop in one process: each connector tried in order through HTTP, every
outcome recorded, the run ended once; scripted agents stand in for real ones."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.choices import ActivationState, HealthState
from connectors.models import Connector
from directories.failover import sync_connector_list
from directories.models import Directory, DirectoryUser
from directories.services import create_directory, save_sync_connectors
from directories.sync import fetch, runner
from directories.tasks import scheduled_sync, sync_directory
from synclog import lifecycle as leases
from synclog.choices import RunStatus, Trigger
from synclog.models import SyncRun
from tests.support.claims import claim_of, set_claim
from tests.support.scripted_agent import ScriptedAgent, record

from .conftest import GROUPS, PEOPLE

pytestmark = pytest.mark.django_db(transaction=True)


GOOD = [
    record(type="begin", connector="x"),
    record(type="user", id="u1", dn=f"uid=ann,{PEOPLE}", username="ann"),
    record(type="user", id="u2", dn=f"uid=bob,{PEOPLE}", username="bob"),
    record(
        type="group",
        id="g1",
        dn=f"cn=staff,{GROUPS}",
        name="staff",
        members=[f"UID=Ann,{PEOPLE}", f"uid=bob,{PEOPLE}", f"uid=ghost,{PEOPLE}"],
    ),
    record(type="end", users=2, groups=1),
]


@pytest.fixture(autouse=True)
def quick(settings):
    settings.CONNECTOR_PROBE_TIMEOUT = 1.0
    settings.CONNECTOR_STREAM_TIMEOUT = 3.0
    settings.CONNECTOR_BUSY_WAIT = 0.6
    settings.SYNC_LEASE_SECONDS = 8


@pytest.fixture
def sent(monkeypatch):
    """Sync tasks published to the broker, as (run id, countdown)."""
    from directories.tasks import sync_directory

    published = []

    def publish(args=None, kwargs=None, countdown=None, **options):
        published.append((args[0], countdown))

    monkeypatch.setattr(sync_directory, "apply_async", publish)
    return published


@pytest.fixture
def agents():
    started = []

    def start(name, lines=GOOD, **kwargs):
        agent = ScriptedAgent(name, lines, **kwargs)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.close()


def connector(name: str, url: str = "http://127.0.0.1:9", secret: str = "s") -> Connector:
    return Connector.objects.create(
        name=name,
        host=f"{name}.example.com",
        url=url,
        version="19.03.0.0",
        activation_state=ActivationState.ACTIVE,
        health=HealthState.OK,
        secret=secret,
    )


def for_agent(agent: ScriptedAgent) -> Connector:
    return connector(agent.name, agent.url, agent.secret)


def make(*connectors: Connector, listed: bool = True):
    directory = create_directory(
        name="corp.example.com",
        type="ldap",
        sync_connector=connectors[0],
        host="127.0.0.1",
        base_dn="dc=example,dc=com",
        bind_dn="cn=admin,dc=example,dc=com",
        bind_password="pw",
        user_dns=[PEOPLE],
        group_dns=[GROUPS],
    )
    save_sync_connectors(directory, [c.pk for c in connectors] if listed else [])
    return directory


def run(directory) -> SyncRun:
    queued = SyncRun.objects.create(directory=directory)
    sync_directory(queued.pk)
    queued.refresh_from_db()
    return queued


def tried(run: SyncRun) -> list[tuple[str, str]]:
    return [(a.connector_name, a.outcome) for a in run.attempts.order_by("position")]


def test_a_connector_that_refuses_is_passed_over_for_the_next(agents, sent):
    good = agents("c2", lookup={f"uid=ghost,{PEOPLE}": {"exists": False, "detail": "gone"}})
    c1, c2 = connector("c1"), for_agent(good)
    directory = make(c1, c2)

    done = run(directory)

    assert done.status == RunStatus.COMPLETED, done.message
    assert tried(done) == [("c1", "unavailable"), ("c2", "succeeded")]
    first = done.attempts.get(position=1)
    assert first.message == "connection refused at http://127.0.0.1:9"
    assert first.finished_at is not None and first.entries_received == 0
    assert done.attempts.get(position=2).entries_received == 3
    assert (done.connector_used_name, done.connector_used.name) == ("c2", "c2")
    assert done.snapshot_names == ["c1", "c2"] and done.used_fallback_list is True
    assert done.connector_snapshot == [
        {"id": c1.pk, "name": "c1", "position": 1},
        {"id": c2.pk, "name": "c2", "position": 2},
    ]
    assert [a.connector_id for a in done.attempts.order_by("position")] == [c1.pk, c2.pk]
    assert done.attempts.get(position=2).message == ""
    assert done.warnings.count() == 1
    assert Connector.objects.get(pk=c2.pk).health == HealthState.OK
    assert done.first_sync is True and done.entries_received == 3
    assert (done.users_added, done.groups_added, done.memberships_added) == (2, 1, 2)
    assert (done.unresolved_references, done.warning_counts) == (1, {"no_entry": 1})
    assert done.message.startswith("Completed with warnings: 1 group member value")
    assert (done.worker, done.lease_until, done.phase, done.current_connector_name) == (
        done.worker,
        None,
        "",
        "",
    )
    assert done.finished_at >= done.started_at
    assert good.lookups == [[f"uid=ghost,{PEOPLE}"]]
    assert set(DirectoryUser.objects.values_list("username", flat=True)) == {"ann", "bob"}
    assert Connector.objects.get(name="c1").health == HealthState.UNREACHABLE
    assert sent == []
    again = run(directory)
    assert again.first_sync is False and again.changes.count() == 0


def test_a_wrong_secret_is_unauthorized_and_recorded_as_the_connectors_health(agents, sent):
    good = agents("c2")
    stranger = agents("c1")
    directory = make(connector("c1", stranger.url, secret="not-its-secret"), for_agent(good))

    done = run(directory)

    assert tried(done) == [("c1", "unauthorized"), ("c2", "succeeded")]
    assert "refused the connector secret (401)" in done.attempts.get(position=1).message
    assert Connector.objects.get(name="c1").health == HealthState.UNAUTHORIZED
    assert stranger.sync_requests == 0


def test_when_no_connector_can_sync_the_run_fails_naming_each_and_changes_nothing(agents, sent):
    broken = agents("c2", [record(type="begin"), record(type="error", message="bind refused")])
    directory = make(connector("c1"), for_agent(broken))

    done = run(directory)

    assert done.status == RunStatus.FAILED
    assert tried(done) == [("c1", "unavailable"), ("c2", "directory_error")]
    assert done.message == (
        "No connector could sync corp.example.com. Tried 2 connector(s) in order: "
        "c1 (unavailable): connection refused at http://127.0.0.1:9; "
        "c2 (directory_error): c2 could not read the directory: bind refused."
    )
    assert done.connector_used is None and done.lease_until is None
    assert not DirectoryUser.objects.exists()


def test_an_empty_list_means_the_sync_connector_alone_without_fallback(agents, sent):
    directory = make(connector("c1"), for_agent(agents("c2")), listed=False)

    done = run(directory)

    assert done.status == RunStatus.FAILED
    assert tried(done) == [("c1", "unavailable")]
    assert done.used_fallback_list is False and done.snapshot_names == ["c1"]
    assert "its sync connector (the Sync Connectors list is empty, so no fallback)" in done.message


def test_a_connector_another_run_holds_is_busy_and_the_next_one_is_used(agents, sent):
    first, second = agents("c1"), agents("c2")
    c1 = for_agent(first)
    directory = make(c1, for_agent(second))
    other = create_directory(
        name="other.example.com", type="ldap", sync_connector=c1, host="h", base_dn="dc=o",
        bind_dn="cn=o", bind_password="pw",
    )  # fmt: skip
    holder = SyncRun.objects.create(directory=other, status=RunStatus.RUNNING, worker="w:1:1")
    set_claim(c1, holder, timezone.now() + timedelta(minutes=5))

    done = run(directory)

    assert tried(done) == [("c1", "busy"), ("c2", "succeeded")]
    busy = done.attempts.get(position=1)
    assert busy.message == "c1 was syncing another directory for the whole 0.6 s wait"
    assert busy.duration.total_seconds() >= 0.6
    assert first.sync_requests == 0
    assert claim_of(c1)[0] == holder.pk
    # The winner's claim is released when its read is over.
    assert claim_of(Connector.objects.get(name="c2")) == (None, None)


def test_a_safeguard_stops_the_run_after_the_read_and_the_run_says_what_it_left_out(agents, sent):
    good = agents("c1")
    directory = make(for_agent(good))
    assert run(directory).status == RunStatus.COMPLETED
    directory.safeguard_users_deleted_percent = 10
    directory.save()
    good.lines = [record(type="begin"), record(type="end", users=0, groups=0)]

    done = run(directory)

    assert done.status == RunStatus.SAFEGUARD
    assert done.safeguard_violations == [
        "Users deleted: 2 of 2 (100%), limit 10%",
        "Users deleted (zero-result guard): 2 of 2 (100%), more than half",
        "Groups deleted: 1 of 1 (100%), limit 10%",
    ]
    assert done.message.startswith(
        "Stopped by safeguard: Users deleted: 2 of 2 (100%), limit 10%; Users deleted "
        "(zero-result guard): 2 of 2 (100%), more than half; Groups deleted: 1 of 1 (100%), "
        "limit 10%. Nothing was changed."
    )
    assert done.first_sync is False
    assert (done.connector_used_name, done.entries_received) == ("c1", 0)
    assert done.users_deleted == 0 and DirectoryUser.objects.count() == 2
    assert done.changes.count() == 0
    assert done.lease_until is None


def test_an_internal_error_fails_the_run_and_closes_its_attempt(agents, sent, monkeypatch):
    good = agents("c1")
    directory = make(for_agent(good))

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(runner, "write", broken)
    done = run(directory)

    assert done.status == RunStatus.FAILED
    assert done.message == "The sync stopped on an internal error: disk full"
    assert [a.outcome for a in done.attempts.all()] == ["succeeded"]
    assert not DirectoryUser.objects.exists()


def test_a_run_taken_over_during_its_read_writes_nothing(agents, sent, monkeypatch):
    good = agents("c1")
    directory = make(for_agent(good))
    settle = fetch.settle

    def reaped_meanwhile(received, directory):
        settle(received, directory)
        stolen = SyncRun.objects.get(directory=directory, status=RunStatus.RUNNING)
        leases.reap(stolen, "its lease expired")

    monkeypatch.setattr(fetch, "settle", reaped_meanwhile)
    done = run(directory)

    assert done.status == RunStatus.FAILED and "its lease expired" in done.message
    assert not DirectoryUser.objects.exists()
    assert done.changes.count() == 0


def test_the_follow_up_queued_during_a_run_is_started_when_it_ends(agents, sent, monkeypatch):
    good = agents("c1")
    directory = make(for_agent(good))
    settle = fetch.settle
    follow_up = []

    def trigger_meanwhile(received, directory):
        settle(received, directory)
        follow_up.append(SyncRun.objects.create(directory=directory))

    monkeypatch.setattr(fetch, "settle", trigger_meanwhile)
    done = run(directory)

    assert done.status == RunStatus.COMPLETED
    assert sent == [(follow_up[0].pk, None)]


def test_a_scheduled_run_that_comes_due_during_a_sync_runs_right_after_it_not_beside_it(
    agents, sent, monkeypatch
):
    directory = make(for_agent(agents("c1")))
    settle = fetch.settle
    during = {}

    def schedule_fires_meanwhile(received, directory):
        settle(received, directory)
        if during:
            # The scheduled run started inside the first sync (the bug this test is
            # about): note it and let both end, rather than nesting syncs without end.
            during["nested"] = True
            return
        during["fired"] = True
        scheduled_sync(directory.pk)
        # The next due time comes before the sync is over: it joins the waiting run.
        scheduled_sync(directory.pk)
        waiting = SyncRun.objects.get(directory=directory, status=RunStatus.QUEUED)
        # A second worker takes the scheduled run's message at once: it may not start.
        sync_directory(waiting.pk)
        during["waiting"] = SyncRun.objects.get(pk=waiting.pk)
        during["running"] = list(
            SyncRun.objects.filter(directory=directory, status=RunStatus.RUNNING)
        )

    monkeypatch.setattr(fetch, "settle", schedule_fires_meanwhile)
    first = run(directory)
    monkeypatch.setattr(fetch, "settle", settle)

    assert "nested" not in during, "the scheduled run started while the first one ran"
    waiting = during["waiting"]
    assert first.status == RunStatus.COMPLETED
    assert (waiting.trigger, waiting.status, waiting.started_at) == (
        Trigger.SCHEDULED,
        RunStatus.QUEUED,
        None,
    )
    assert [r.pk for r in during["running"]] == [first.pk]
    assert SyncRun.objects.filter(directory=directory).count() == 2
    # Sent when queued, sent back with a short countdown while the sync ran, and sent
    # again the moment that sync ended.
    assert [run_id for run_id, _ in sent] == [waiting.pk, waiting.pk, waiting.pk]
    assert sent[1][1] is not None and sent[2][1] is None

    sync_directory(waiting.pk)

    waiting.refresh_from_db()
    assert waiting.status == RunStatus.COMPLETED
    assert waiting.started_at >= first.finished_at


def test_a_run_whose_directory_is_busy_is_retried_shortly(agents, sent):
    directory = make(for_agent(agents("c1")))
    going = SyncRun.objects.create(
        directory=directory,
        status=RunStatus.RUNNING,
        worker=leases.worker_id(),
        lease_until=timezone.now() + timedelta(seconds=3),
    )
    waiting = SyncRun.objects.create(directory=directory)

    sync_directory(waiting.pk)

    waiting.refresh_from_db()
    assert waiting.status == RunStatus.QUEUED
    [(run_id, countdown)] = sent
    assert run_id == waiting.pk and 2.5 < countdown <= 3.5
    going.refresh_from_db()
    assert going.status == RunStatus.RUNNING


def test_a_redelivered_run_is_reaped_only_when_its_worker_is_gone(agents, sent):
    directory = make(for_agent(agents("c1")))
    alive = SyncRun.objects.create(
        directory=directory,
        status=RunStatus.RUNNING,
        worker=leases.worker_id(),
        lease_until=timezone.now() + timedelta(minutes=5),
    )
    sync_directory(alive.pk)
    alive.refresh_from_db()
    assert alive.status == RunStatus.RUNNING and sent == []

    import socket

    SyncRun.objects.filter(pk=alive.pk).update(worker=f"{socket.gethostname()}:{2**22 + 3}:1")
    waiting = SyncRun.objects.create(directory=directory)
    sync_directory(alive.pk)

    alive.refresh_from_db()
    assert alive.status == RunStatus.FAILED and "its process is gone" in alive.message
    assert sent == [(waiting.pk, None)]


def test_a_run_that_already_ended_is_left_alone(agents, sent):
    directory = make(for_agent(agents("c1")))
    ended = SyncRun.objects.create(directory=directory, status=RunStatus.COMPLETED)
    sync_directory(ended.pk)
    sync_directory(10**9)  # gone
    assert SyncRun.objects.get(pk=ended.pk).status == RunStatus.COMPLETED
    assert not ended.attempts.exists()


def test_a_lookup_that_fails_leaves_the_values_counted_as_not_looked_up(agents, sent):
    good = agents("c1")
    good.lookup_error = "cannot reach LDAP server"
    directory = make(for_agent(good))

    done = run(directory)

    assert done.status == RunStatus.COMPLETED, done.message
    assert done.warning_counts == {"not_checked": 1}
    [warning] = done.warnings.all()
    assert warning.value == f"uid=ghost,{PEOPLE}"


def test_values_the_directory_resolves_itself_become_memberships(agents, sent):
    good = agents(
        "c1",
        [
            record(type="begin"),
            record(type="user", id="u1", dn=f"uid=ann,{PEOPLE}", username="ann"),
            record(
                type="group", id="g1", dn=f"cn=a,{GROUPS}", name="a", members=[f"cn=x,{PEOPLE}"]
            ),
            record(type="end", users=1, groups=1),
        ],
        lookup={f"cn=x,{PEOPLE}": {"exists": True, "id": "u1", "entry_dn": f"uid=ann,{PEOPLE}"}},
    )
    directory = make(for_agent(good))

    done = run(directory)

    assert done.memberships_added == 1 and done.unresolved_references == 0
    assert good.lookups == [[f"cn=x,{PEOPLE}"]]


def test_the_run_shows_which_connector_it_reads_through_while_it_reads(agents, sent, monkeypatch):
    good = agents("c1")
    directory = make(for_agent(good))
    seen = []
    consume = fetch._consume

    def watching(stream, connector, beat, attribute, *rest):
        beat.beat()
        seen.append(SyncRun.objects.filter(directory=directory).values_list(
            "current_connector_name", "phase", "status"
        ).get())  # fmt: skip
        going = SyncRun.objects.get(directory=directory)
        assert beat.connector_id == connector.pk
        assert claim_of(connector)[0] == going.pk
        assert attribute == "uid"
        return consume(stream, connector, beat, attribute, *rest)

    monkeypatch.setattr(fetch, "_consume", watching)
    done = run(directory)

    assert seen == [("c1", "reading", "running")]
    assert done.status == RunStatus.COMPLETED


# --- Test Connection and what the agent is asked ------------------------------------------


def test_test_connection_binds_through_the_first_connector_that_answers(agents, sent):
    from directories.sync.fetch import test_connection

    directory = make(connector("c1"), for_agent(agents("c2")))

    result = test_connection(directory)

    assert result.ok is True
    assert result.message == (
        "c2 bound to 127.0.0.1:389 as cn=admin,dc=example,dc=com and found entries."
    )
    assert not SyncRun.objects.exists() and not DirectoryUser.objects.exists()


def test_test_connection_reports_an_empty_directory_and_an_anonymous_bind(agents, sent):
    from directories.sync.fetch import test_connection

    empty = agents("c1", [record(type="begin"), record(type="end", users=0, groups=0)])
    directory = make(for_agent(empty))
    directory.bind_dn = ""
    directory.save()

    result = test_connection(directory)

    assert result.ok is True
    assert result.message == "c1 bound to 127.0.0.1:389 as anonymous and found no users or groups."


def test_test_connection_passes_on_the_directorys_own_error(agents, sent):
    from directories.sync.fetch import test_connection

    refusing = agents("c1", [record(type="begin"), record(type="error", message="bad password")])
    result = test_connection(make(for_agent(refusing)))
    assert (result.ok, result.message) == (False, "c1 reached the agent, but: bad password")
    assert result.problem == "The directory refused"  # no code: no plainer words to give


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("invalid_credentials", "Invalid credentials"),
        ("unreachable", "Host unreachable"),
        ("no_such_object", "Bad base DN"),
        ("tls", "TLS failed"),
        ("ldap_error", "LDAP error"),
        ("something_new", "The directory refused"),
    ],
)
def test_test_connection_leads_with_the_directorys_error_in_plain_words(
    agents, sent, code, problem
):
    from directories.sync.fetch import test_connection

    lines = [record(type="begin"), record(type="error", code=code, message="x")]
    result = test_connection(make(for_agent(agents("c1", lines))))
    assert (result.ok, result.problem) == (False, problem)


def test_test_connection_of_an_unsaved_directory_goes_through_its_sync_connector(agents, sent):
    """Add Directory: nothing is stored yet, so there is no list; the chosen connector tests."""
    from directories.services import new_directory
    from directories.sync.fetch import test_connection

    agent = agents("c2")
    chosen = for_agent(agent)
    typed = new_directory(
        name="new.example.com", type="ldap", sync_connector=chosen, host="127.0.0.1",
        base_dn="dc=example,dc=com", bind_dn="cn=admin,dc=example,dc=com", bind_password="pw",
    )  # fmt: skip
    result = test_connection(typed)
    assert result.ok is True, result.message
    assert result.message.startswith("c2 bound to 127.0.0.1:389")
    # The agent binds with what was typed: the request carries it.
    (asked,) = agent.bodies
    assert asked["connection"]["host"] == "127.0.0.1"
    assert asked["connection"]["bind_dn"] == "cn=admin,dc=example,dc=com"
    assert asked["connection"]["bind_password"] == "pw"
    assert asked["directory"]["name"] == "new.example.com"
    assert typed.pk is None and not Directory.objects.filter(name="new.example.com").exists()


def test_test_connection_with_no_connector_answering_says_none_was_available(agents, sent):
    from directories.sync.fetch import test_connection

    result = test_connection(make(connector("c1")))
    assert (result.ok, result.problem) == (False, "No connector available")


def test_test_connection_names_every_connector_that_could_not_be_used(agents, sent):
    from directories.sync.fetch import test_connection

    cut = agents("c2", [record(type="begin"), b'{"type": "us'])
    broken = agents("c3", [record(type="begin"), b"not json\n"])
    directory = make(connector("c1"), for_agent(cut), for_agent(broken))

    result = test_connection(directory)

    assert result.ok is False
    assert result.message == (
        "No connector could test the connection: "
        "c1: connection refused at http://127.0.0.1:9; "
        "c2: the agent's answer ended before it said anything; "
        f"c3: the stream from {broken.url} held a broken record"
    )


def test_the_agent_is_asked_with_the_directorys_settings(settings):
    from directories.sync.fetch import request_body

    settings.CONNECTOR_STREAM_TIMEOUT = 30
    settings.SYNC_PAGE_SIZE = 250
    c1 = connector("c1")
    directory = make(c1)
    directory.port = 636
    directory.security = "ssl"
    directory.mapped_attributes = {"username": "mail"}
    directory.save()

    body = request_body(directory)

    assert body == {
        "directory": {"id": directory.pk, "name": "corp.example.com", "type": "ldap"},
        "connection": {
            "host": "127.0.0.1",
            "port": 636,
            "security": "ssl",
            "base_dn": "dc=example,dc=com",
            "bind_dn": "cn=admin,dc=example,dc=com",
            "bind_password": "pw",
            "timeout": 10.0,
        },
        "users": {"dns": [PEOPLE], "filter": "(objectClass=inetOrgPerson)"},
        "groups": {
            "dns": [GROUPS],
            "filter": "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))",
        },
        "mapped_attributes": {"username": "mail"},
        "page_size": 250,
    }
    settings.CONNECTOR_STREAM_TIMEOUT = 6
    directory.ca_cert = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----"
    directory.bind_password = ""
    body = request_body(directory)
    assert body["connection"]["timeout"] == 3.0
    assert body["connection"]["ca_cert"] == directory.ca_cert
    assert body["connection"]["bind_password"] == ""


def test_a_probe_records_an_outdated_agent_and_a_pending_connector_is_not_probed(agents, sent):
    from connectors.client import AgentError
    from directories.sync.fetch import probe

    old = agents("old", version="18.11.0.0")
    c = for_agent(old)
    health = probe(c)
    assert health.version == "18.11.0.0"
    c.refresh_from_db()
    assert (c.health, c.version) == (HealthState.OUTDATED, "18.11.0.0")
    assert c.last_seen is not None

    pending = Connector.objects.create(name="pending", host="h")
    with pytest.raises(AgentError) as refused:
        probe(pending)
    assert (refused.value.outcome, refused.value.message) == (
        "unavailable",
        "pending has not been activated by its agent",
    )


def test_the_collector_runs_again_after_a_sync(agents, sent):
    import gc

    assert gc.isenabled()
    run(make(for_agent(agents("c1"))))
    assert gc.isenabled()


def test_another_directorys_completed_run_does_not_make_this_one_a_resync(agents, sent):
    good = for_agent(agents("c1"))
    other = create_directory(
        name="other.example.com", type="ldap", sync_connector=good, host="h", base_dn="dc=o",
        bind_dn="cn=o", bind_password="pw",
    )  # fmt: skip
    SyncRun.objects.create(directory=other, status=RunStatus.COMPLETED)
    assert run(make(good)).first_sync is True


def test_ending_a_run_leaves_other_runs_of_the_same_worker_alone(agents, sent):
    good = for_agent(agents("c1"))
    other = create_directory(
        name="other.example.com", type="ldap", sync_connector=good, host="h", base_dn="dc=o",
        bind_dn="cn=o", bind_password="pw",
    )  # fmt: skip
    elsewhere = SyncRun.objects.create(
        directory=other,
        status=RunStatus.RUNNING,
        worker=leases.worker_id(),
        lease_until=timezone.now() + timedelta(minutes=1),
    )
    assert run(make(good)).status == RunStatus.COMPLETED
    elsewhere.refresh_from_db()
    assert (elsewhere.status, elsewhere.finished_at) == (RunStatus.RUNNING, None)


def test_a_connector_without_an_address_or_secret_is_not_probed(agents, sent):
    from connectors.client import AgentError
    from directories.sync.fetch import probe

    for fields in ({"url": ""}, {"secret": ""}):
        c = connector(
            f"c-{len(fields)}-{list(fields)[0]}", **({"url": "http://127.0.0.1:9"} | fields)
        )
        with pytest.raises(AgentError, match="has not been activated by its agent"):
            probe(c)


def test_a_connector_that_accepts_but_never_answers_is_passed_over_after_the_probe_timeout(
    agents, sent
):
    import socket
    import time

    silent = socket.create_server(("127.0.0.1", 0))  # listens, never answers
    try:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        directory = make(connector("c1", url), for_agent(agents("c2")))
        started = time.monotonic()
        done = run(directory)
    finally:
        silent.close()
    assert tried(done) == [("c1", "unavailable"), ("c2", "succeeded")]
    assert done.attempts.get(position=1).message == f"no answer from {url} within 1 s"
    assert time.monotonic() - started < 5


def test_a_skipped_entry_names_the_mapped_username_attribute(agents, sent):
    nameless = agents(
        "c1",
        [
            record(type="begin"),
            record(type="user", id="u1", dn=f"cn=x,{PEOPLE}", username=None),
            record(type="end", users=1, groups=0),
        ],
    )
    directory = make(for_agent(nameless))
    directory.mapped_attributes = {**directory.mapped_attributes, "username": "mail"}
    directory.save()
    done = run(directory)
    [warning] = done.warnings.all()
    assert warning.detail == "the entry has no mail, which holds the username"


def test_a_malformed_record_makes_the_attempt_incomplete_and_says_so(agents, sent):
    liar = agents(
        "c1",
        [record(type="begin"), record(type="user", id=7, dn="uid=a,dc=x"), record(type="end")],
    )
    done = run(make(for_agent(liar), for_agent(agents("c2"))))
    assert tried(done) == [("c1", "incomplete"), ("c2", "succeeded")]
    message = done.attempts.get(position=1).message
    assert message.startswith("c1 sent a malformed record (ValueError(")
    assert message.endswith("); discarded")


def test_a_second_begin_record_makes_the_attempt_incomplete_and_the_next_connector_syncs(
    agents, sent
):
    twice = [*GOOD[:2], GOOD[0], *GOOD[2:]]
    done = run(make(for_agent(agents("c1", twice)), for_agent(agents("c2"))))
    assert tried(done) == [("c1", "incomplete"), ("c2", "succeeded")]
    message = done.attempts.get(position=1).message
    assert message == "c1 sent a malformed record (ValueError('a second begin record')); discarded"
    users = DirectoryUser.objects.filter(directory=done.directory)
    assert sorted(users.values_list("external_id", flat=True)) == ["u1", "u2"]


def test_an_agent_that_hangs_on_a_lookup_leaves_the_values_counted(agents, sent, settings, caplog):
    settings.CONNECTOR_STREAM_TIMEOUT = 1.0
    slow = agents("c1")
    slow.lookup_delay = 4
    done = run(make(for_agent(slow)))
    assert done.status == RunStatus.COMPLETED
    assert done.warning_counts == {"not_checked": 1}
    # The log names the connector and why the lookup failed.
    [logged] = [r.getMessage() for r in caplog.records if "looking up" in r.getMessage()]
    assert logged.startswith("looking up unresolved member values through c1 failed: ")
    assert logged.endswith(f"failed: no answer from {slow.url} within 1 s")


def test_a_run_stopped_by_a_safeguard_still_records_what_it_could_not_sync(agents, sent):
    from synclog.models import SyncWarning

    directory = make(for_agent(agents("c1")))
    assert run(directory).status == RunStatus.COMPLETED
    # The next read has no users: deleting both trips the users safeguard.
    emptied = [GOOD[0], GOOD[3], record(type="end", users=0, groups=1)]
    emptying = agents("c1b", emptied)
    Connector.objects.filter(pk=directory.sync_connector_id).update(
        url=emptying.url, secret=emptying.secret
    )
    stopped = run(directory)
    assert stopped.status == RunStatus.SAFEGUARD, stopped.message
    assert DirectoryUser.objects.filter(directory=directory).count() == 2
    recorded = SyncWarning.objects.filter(run=stopped)
    assert stopped.unresolved_references == recorded.count() > 0
    assert {w.value for w in recorded} >= {f"uid=ghost,{PEOPLE}"}


def test_answers_about_dns_not_asked_are_left_aside(agents, sent):
    odd = agents("c1", lookup={f"uid=ghost,{PEOPLE}": {"dn": "cn=unasked", "exists": True}})
    done = run(make(for_agent(odd)))
    assert done.status == RunStatus.COMPLETED
    assert done.warning_counts == {"not_checked": 1}


def test_an_agent_busy_for_a_moment_is_waited_for(agents, sent):
    busy = agents("c1")
    busy.busy_times = 1
    done = run(make(for_agent(busy)))
    assert tried(done) == [("c1", "succeeded")]
    assert busy.sync_requests == 2


def test_an_agent_busy_past_the_wait_is_passed_over_as_busy(agents, sent):
    busy = agents("c1")
    busy.busy_times = 100
    done = run(make(for_agent(busy), for_agent(agents("c2"))))
    assert tried(done) == [("c1", "busy"), ("c2", "succeeded")]
    assert done.attempts.get(position=1).message == f"{busy.url} is already running a sync"
    assert 2 <= busy.sync_requests <= 3


@pytest.mark.parametrize("kind", ["user", "group"])
def test_test_connection_is_satisfied_by_the_first_user_or_group(agents, sent, kind):
    from directories.sync.fetch import test_connection

    lines = [record(type="begin"), record(type=kind, id="x", dn="cn=x,dc=y"), record(type="end")]
    result = test_connection(make(for_agent(agents("c1", lines))))
    assert result.message.endswith("and found entries.")


def test_a_connector_outdated_after_it_was_listed_keeps_the_run_to_the_sync_connector(agents, sent):
    """An agent in the list that turns out outdated later (reinstalled from an old build):
    the run does not fail over to it, nor to anything else, and says why."""
    c1 = connector("c1")  # nothing listens there
    c2 = for_agent(agents("c2"))
    directory = make(c1, c2)
    Connector.objects.filter(pk=c2.pk).update(version="3.3.0.0")
    done = run(directory)

    assert done.status == RunStatus.FAILED
    assert "c2 (3.3.0.0)" in done.message
    assert "its saved list of 2 connector(s) is kept for later" in done.message
    assert [a.connector_name for a in done.attempts.all()] == ["c1"]
    assert [c.name for c in sync_connector_list(directory)] == ["c1", "c2"]


def test_a_run_kept_to_its_sync_connector_by_the_version_gate_says_so(agents, sent):
    """A saved list is not silently dropped: the run names the gate and the kept list."""
    c1 = connector("c1")  # nothing listens there
    c2 = for_agent(agents("c2"))
    directory = make(c1, c2)
    Connector.objects.create(
        name="legacy", version="3.3.0.0", activation_state=ActivationState.ACTIVE
    )
    done = run(directory)

    assert done.status == RunStatus.FAILED
    assert "Sync Connectors lists are switched off" in done.message
    assert "legacy (3.3.0.0)" in done.message
    assert "its saved list of 2 connector(s) is kept for later" in done.message
    assert [a.connector_name for a in done.attempts.all()] == ["c1"]


def test_a_full_resync_through_a_second_connector_keeps_less_of_unchanged_users_and_writes_all(
    agents, sent, monkeypatch, stored_given
):
    from directories.sync.plan import StoreLoad

    def person(n: int, mail: str = "x") -> bytes:
        dn = f"uid=user{n},{PEOPLE}"
        return record(type="user", id=f"u{n}", dn=dn, username=f"user{n}", email=f"{n}@{mail}")

    def lines(users: list[bytes], members: list[str]) -> list[bytes]:
        staff = record(
            type="group", id="g1", dn=f"cn=staff,{GROUPS}", name="staff", members=members
        )
        return [record(type="begin", connector="x"), *users, staff,
                record(type="end", users=len(users), groups=1)]  # fmt: skip

    first = agents(
        "c1",
        lines([person(n) for n in range(700)], [f"uid=user{n},{PEOPLE}" for n in range(0, 700, 7)]),
    )
    second = agents("c2", [])
    directory = make(for_agent(first), for_agent(second))
    assert run(directory).status == RunStatus.COMPLETED

    # Unchanged, a new mail, a rename, gone (600-699 but for the rest), newcomers.
    now = [
        *(person(n) for n in range(500)),
        *(person(n, "y") for n in range(500, 550)),
        *(
            record(
                type="user",
                id=f"u{n}",
                dn=f"uid=renamed{n},{PEOPLE}",
                username=f"user{n}",
                email=f"{n}@x",
            )
            for n in range(550, 600)
        ),  # fmt: skip
        *(person(n) for n in range(700, 760)),
    ]
    members = [f"uid=user{n},{PEOPLE}" for n in range(0, 550, 5)] + [f"uid=renamed555,{PEOPLE}"]
    second.lines = lines(now, members)
    # The first connector breaks off after 300 users, once the store is loaded.
    first.lines = lines(now, members)[:300] + [b'{"type": "user", "id"']
    # Each read is given the stored users from its first record: the store loaded first.
    reader = StoreLoad.users_reader

    def loaded_first(self):
        users = reader(self)
        self.loading.result()
        return users

    monkeypatch.setattr(StoreLoad, "users_reader", loaded_first)
    directory.safeguard_users_deleted_percent = None
    directory.safeguard_users_updated_percent = None
    directory.safeguard_members_removed_percent = None
    directory.save()
    stored_given.clear()
    done = run(directory)

    assert done.status == RunStatus.COMPLETED, done.message
    assert done.connector_used_name == "c2"
    assert all(stored_given) and len(stored_given) > len(now)
    assert (done.users_added, done.users_updated, done.users_deleted) == (60, 100, 100)
    import json

    wanted = {}
    for line in now:
        r = json.loads(line)
        wanted[r["id"]] = (r["dn"], r["username"], r["email"])
    held = DirectoryUser.objects.filter(directory=directory)
    assert {u.external_id: (u.dn, u.username, u.email) for u in held} == wanted
    by_dn = {dn: ext for ext, (dn, _, _) in wanted.items()}
    got = set(directory.groups.get().members.values_list("external_id", flat=True))
    assert got == {by_dn[dn] for dn in members}
