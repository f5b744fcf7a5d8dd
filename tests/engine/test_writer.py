"""The writer: a complete read turned into rows, change records and counts; the safeguards
that stop it before it writes; what a run records of what it could not sync."""

from __future__ import annotations

import pytest
from django.db import connection

from directories.models import (
    SAFEGUARD_FIELDS,
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    GroupNesting,
)
from directories.sync.fetch import KEPT, PACKED, USER_COLUMNS, _consume, fingerprint, settle
from directories.sync.plan import GROUP_COLUMNS, Stored, StoreLoad, make_plan
from directories.sync.report import record_warnings, warning_message
from directories.sync.stage import UserStage
from directories.sync.writer import change_rows, write
from synclog.models import WARNINGS_LISTED, SyncChange, SyncRun

from .conftest import GROUPS, PEOPLE, FakeBeat, FakeConnector, group, read, stream, user


def _staged_rows() -> dict[str, tuple]:
    """Every row of the stage, read with SQL of its own: stable id -> values, new."""
    from directories.sync.stage import TABLE

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT external_id, dn, username, first_name, last_name, email, display_name, "
            f'upn, disabled, is_new FROM "{TABLE}"'
        )
        return {
            ext: (*rest[:-2], bool(rest[-2]), bool(rest[-1])) for ext, *rest in cursor.fetchall()
        }


pytestmark = pytest.mark.django_db


class SafeguardTripped(Exception):
    """The plan's safeguard verdict said stop (the runner then writes nothing)."""


def apply(run_id, directory, received, safeguards, stored=None, first_sync=False):
    plan = make_plan(
        directory, received, safeguards=safeguards, stored=stored, first_sync=first_sync
    )
    if plan.safeguard:
        raise SafeguardTripped(plan.safeguard)
    return write(plan, run_id)


def new_run(directory) -> SyncRun:
    return SyncRun.objects.create(directory=directory, status="completed")


def sync(directory, records, safeguards=True, stored=None):
    """Apply a read the way the runner does; returns (counts, run)."""
    # As the runner decides it: no run of the directory before this one.
    first_sync = not SyncRun.objects.filter(directory=directory).exists()
    run = new_run(directory)
    counts = apply(run.pk, directory, read(directory, records), safeguards, stored, first_sync)
    # What the commit would check: every membership names rows that exist.
    connection.check_constraints()
    return counts, run


def store(directory) -> dict:
    return {
        "users": {
            ext: rest
            for ext, *rest in DirectoryUser.objects.filter(directory=directory).values_list(
                "external_id", "dn", "username", "first_name", "last_name", "email",
                "display_name", "upn", "disabled",
            )
        },
        "groups": dict(
            (ext, (dn, name))
            for ext, dn, name in DirectoryGroup.objects.filter(directory=directory).values_list(
                "external_id", "dn", "name"
            )
        ),
        "members": set(
            GroupMembership.objects.values_list("group__external_id", "user__external_id")
        ),
        "nesting": set(
            GroupNesting.objects.values_list("parent__external_id", "child__external_id")
        ),
    }  # fmt: skip


def changes(run) -> dict:
    """The run's user and group rows (membership rows: `memberships`)."""
    return {
        (c.kind, c.action, c.external_id): (c.name, c.dn, c.details)
        for c in SyncChange.objects.filter(run_id=run.pk).exclude(kind="membership")
    }


DETAILS = ("group", "group_id", "member_type")


def memberships(run) -> list[tuple]:
    """The run's membership rows in the order recorded: (action, member id, name, DN,
    group, group id, member type)."""
    return [
        (c.action, c.external_id, c.name, c.dn, *(c.details[k] for k in DETAILS))
        for c in SyncChange.objects.filter(run_id=run.pk, kind="membership").order_by("id")
    ]


FIRST = [
    user("u1", "ann", first_name="Ann", email="ann@x"),
    user("u2", "bob", disabled=True),
    user("u3", "cid"),
    user("u4", "dee"),
    group("g1", "staff", [f"uid=ann,{PEOPLE}", f"UID=Bob,{PEOPLE}", f"cn=devs,{GROUPS}"]),
    group("g2", "devs", [f"uid=cid,{PEOPLE}", f"uid=dee,{PEOPLE}"]),
    group("g3", "empty", [f"cn=empty,{GROUPS}"]),
]


def test_a_first_sync_writes_every_row_and_one_change_per_entry(ldap_directory):
    counts, run = sync(ldap_directory, FIRST, safeguards=False)

    assert counts.as_dict() == {
        "users_added": 4,
        "users_updated": 0,
        "users_deleted": 0,
        "groups_added": 3,
        "groups_updated": 0,
        "groups_deleted": 0,
        "memberships_added": 5,
        "memberships_removed": 0,
    }
    have = store(ldap_directory)
    assert have["users"]["u1"] == [f"uid=ann,{PEOPLE}", "ann", "Ann", "", "ann@x", "", "", False]
    assert have["users"]["u2"][-1] is True
    assert have["groups"] == {
        "g1": (f"cn=staff,{GROUPS}", "staff"),
        "g2": (f"cn=devs,{GROUPS}", "devs"),
        "g3": (f"cn=empty,{GROUPS}", "empty"),
    }
    assert have["members"] == {("g1", "u1"), ("g1", "u2"), ("g2", "u3"), ("g2", "u4")}
    assert have["nesting"] == {("g1", "g2")}
    # Every membership is new: the group rows count them, none is listed on its own.
    assert memberships(run) == []
    rows = changes(run)
    assert rows[("user", "added", "u1")] == ("ann", f"uid=ann,{PEOPLE}", {})
    assert rows[("group", "added", "g1")] == ("staff", f"cn=staff,{GROUPS}", {"members": 3})
    assert rows[("group", "added", "g3")][2] == {"members": 0}
    assert len(rows) == 7


def test_a_resync_writes_updates_deletions_and_membership_changes_with_details(ldap_directory):
    sync(ldap_directory, FIRST, safeguards=False)
    stamps = dict(DirectoryUser.objects.values_list("external_id", "synced_at"))
    second = [
        user("u1", "ann", first_name="Anne", email="ann@x", dn=f"uid=ann,ou=staff,{PEOPLE}"),
        user("u2", "bob", disabled=True),
        user("u3", "cid"),
        user("u5", "eve"),
        group("g1", "staff", [f"uid=ann,ou=staff,{PEOPLE}", f"uid=eve,{PEOPLE}"]),
        group(
            "g2", "developers", [f"uid=cid,{PEOPLE}", f"uid=bob,{PEOPLE}"], dn=f"cn=devs,{GROUPS}"
        ),
        group("g4", "new", [f"cn=staff,{GROUPS}"]),
    ]  # fmt: skip

    counts, run = sync(ldap_directory, second, safeguards=False)

    assert counts.as_dict() == {
        "users_added": 1,
        "users_updated": 1,
        "users_deleted": 1,
        "groups_added": 1,
        "groups_updated": 2,
        "groups_deleted": 1,
        # g1: +eve -bob -devs (nested); g2: +bob -dee (deleted); g4: +staff (nested)
        "memberships_added": 3,
        "memberships_removed": 3,
    }
    have = store(ldap_directory)
    assert set(have["users"]) == {"u1", "u2", "u3", "u5"}
    assert have["users"]["u1"][:3] == [f"uid=ann,ou=staff,{PEOPLE}", "ann", "Anne"]
    assert have["members"] == {("g1", "u1"), ("g1", "u5"), ("g2", "u3"), ("g2", "u2")}
    assert have["nesting"] == {("g4", "g1")}
    rows = changes(run)
    assert rows[("user", "updated", "u1")][2] == {
        "dn": [f"uid=ann,{PEOPLE}", f"uid=ann,ou=staff,{PEOPLE}"],
        "first_name": ["Ann", "Anne"],
    }
    assert rows[("user", "deleted", "u4")] == ("dee", f"uid=dee,{PEOPLE}", {})
    assert rows[("group", "deleted", "g3")] == ("empty", f"cn=empty,{GROUPS}", {})
    assert rows[("group", "updated", "g1")] == (
        "staff",
        f"cn=staff,{GROUPS}",
        {"members_added": 1, "members_removed": 2},
    )
    assert rows[("group", "updated", "g2")][2] == {
        "name": ["devs", "developers"],
        "members_added": 1,
        "members_removed": 1,
    }
    assert rows[("group", "added", "g4")][2] == {"members": 1}
    assert rows[("user", "added", "u5")] == ("eve", f"uid=eve,{PEOPLE}", {})
    assert len(rows) == 7
    # Untouched users keep their row and its time stamp.
    after = dict(DirectoryUser.objects.values_list("external_id", "synced_at"))
    assert after["u2"] == stamps["u2"] and after["u3"] == stamps["u3"]


def test_a_resync_lists_each_member_that_joins_or_leaves_a_group(ldap_directory):
    sync(ldap_directory, FIRST, safeguards=False)
    # cid joins staff, bob leaves it, empty is nested into devs, and dee (in devs) is deleted.
    second = [
        *FIRST[:3],
        group("g1", "staff", [f"uid=ann,{PEOPLE}", f"uid=cid,{PEOPLE}", f"cn=devs,{GROUPS}"]),
        group("g2", "devs", [f"uid=cid,{PEOPLE}", f"cn=empty,{GROUPS}"]),
        FIRST[6],
    ]

    counts, run = sync(ldap_directory, second, safeguards=False)

    assert memberships(run) == [
        ("added", "g3", "empty", f"cn=empty,{GROUPS}", "devs", "g2", "group"),
        ("added", "u3", "cid", f"uid=cid,{PEOPLE}", "staff", "g1", "user"),
        ("deleted", "u4", "dee", f"uid=dee,{PEOPLE}", "devs", "g2", "user"),
        ("deleted", "u2", "bob", f"uid=bob,{PEOPLE}", "staff", "g1", "user"),
    ]
    assert (counts.memberships_added, counts.memberships_removed) == (2, 2)
    # The group and user rows are as before: counts on the groups, the deleted user.
    assert changes(run) == {
        ("user", "deleted", "u4"): ("dee", f"uid=dee,{PEOPLE}", {}),
        ("group", "updated", "g1"): (
            "staff",
            f"cn=staff,{GROUPS}",
            {"members_added": 1, "members_removed": 1},
        ),
        ("group", "updated", "g2"): (
            "devs",
            f"cn=devs,{GROUPS}",
            {"members_added": 1, "members_removed": 1},
        ),
    }
    rows = SyncChange.objects.filter(run_id=run.pk, kind="membership").order_by("id")
    assert [r.detail_lines for r in rows] == [
        ["joins devs (nested group)"],
        ["joins staff"],
        ["leaves devs"],
        ["leaves staff"],
    ]


def test_a_resync_of_an_unchanged_directory_writes_nothing(ldap_directory):
    sync(ldap_directory, FIRST, safeguards=False)
    before = store(ldap_directory), list(DirectoryUser.objects.values("pk", "synced_at"))

    counts, run = sync(ldap_directory, FIRST)

    assert set(counts.as_dict().values()) == {0}
    assert changes(run) == {}
    assert (store(ldap_directory), list(DirectoryUser.objects.values("pk", "synced_at"))) == before


def test_a_preloaded_store_gives_the_same_result_as_one_loaded_on_the_spot(ldap_directory):
    sync(ldap_directory, FIRST, safeguards=False)
    stored = Stored.load(ldap_directory.pk)
    assert set(stored.users) == {"u1", "u2", "u3", "u4"}
    assert stored.members == set()
    assert stored.read_members(["g1", "g2"]) == {
        ("g1", "u1"),
        ("g1", "u2"),
        ("g2", "u3"),
        ("g2", "u4"),
    }
    assert stored.nesting == {("g1", "g2")}
    changed = [*FIRST[:3], *FIRST[4:]]

    counts, _ = sync(ldap_directory, changed, safeguards=False, stored=stored)

    assert (counts.users_deleted, counts.memberships_removed) == (1, 1)
    assert "u4" not in store(ldap_directory)["users"]


def test_a_member_added_to_a_new_group_and_a_new_user_at_once(ldap_directory):
    sync(ldap_directory, FIRST, safeguards=False)
    counts, _ = sync(
        ldap_directory,
        [
            *FIRST,
            user("u9", "new"),
            group("g9", "fresh", [f"uid=new,{PEOPLE}", f"uid=ann,{PEOPLE}"]),
        ],
        safeguards=False,
    )
    assert (counts.users_added, counts.groups_added, counts.memberships_added) == (1, 1, 2)
    assert {("g9", "u9"), ("g9", "u1")} <= store(ldap_directory)["members"]


# --- safeguards ------------------------------------------------------------------------


def ten_users() -> list[dict]:
    return [user(f"u{n}", f"user{n}") for n in range(10)]


@pytest.fixture
def ten(ldap_directory):
    ldap_directory.safeguard_users_updated_percent = 20
    ldap_directory.safeguard_users_deleted_percent = 20
    ldap_directory.safeguard_groups_deleted_percent = 50
    ldap_directory.safeguard_members_removed_percent = 50
    ldap_directory.save()
    sync(
        ldap_directory, [*ten_users(), group("g1", "a", []), group("g2", "b", [])], safeguards=False
    )
    return ldap_directory


def test_changes_up_to_the_threshold_pass(ten):
    records = ten_users()
    records[0]["email"] = "changed@x"
    records[1]["email"] = "changed@x"
    del records[9]
    counts, _ = sync(ten, [*records, group("g1", "a", []), group("g2", "b", [])])
    assert (counts.users_updated, counts.users_deleted) == (2, 1)


def test_updates_past_the_threshold_stop_the_sync_before_any_write(ten):
    records = ten_users()
    for n in range(3):
        records[n]["email"] = "changed@x"
    del records[9]
    before, changes_before = store(ten), SyncChange.objects.count()

    with pytest.raises(SafeguardTripped) as tripped:
        sync(ten, [*records, user("u99", "newcomer"), group("g1", "a", []), group("g2", "b", [])])

    # Only the threshold that was passed is named; 1 deletion of 10 is within its 20%.
    assert str(tripped.value) == "Users updated: 3 of 10 (30%), limit 20%"
    assert store(ten) == before
    assert SyncChange.objects.count() == changes_before


def test_the_group_safeguard_counts_deleted_groups(ten):
    with pytest.raises(SafeguardTripped, match="^Groups deleted: 2 of 2 \\(100%\\), limit 50%$"):
        sync(ten, ten_users())


def test_a_first_sync_or_an_empty_store_is_not_held_back(ldap_directory):
    for name in SAFEGUARD_FIELDS:
        setattr(ldap_directory, name, 1)
    ldap_directory.save()
    sync(ldap_directory, ten_users(), safeguards=True)
    assert DirectoryUser.objects.count() == 10


def respell_stored_dns(model, columns) -> None:
    """What an earlier version stored: the same DNs in other case, fingerprinted so."""
    for row in model.objects.all():
        row.dn = row.dn.upper()
        row.fingerprint = fingerprint(tuple(getattr(row, c) for c in columns))
        row.save()


def test_a_dn_that_changed_only_its_spelling_does_not_count_towards_a_safeguard(ten):
    respell_stored_dns(DirectoryUser, USER_COLUMNS)
    counts, run = sync(ten, [*ten_users(), group("g1", "a", []), group("g2", "b", [])])
    assert counts.users_updated == 10
    assert DirectoryUser.objects.get(external_id="u3").dn == f"uid=user3,{PEOPLE}"

    # A real change beside it still counts.
    records = ten_users()
    for n in range(3):
        records[n]["email"] = "new@x"
    with pytest.raises(SafeguardTripped, match="Users updated: 3 of 10"):
        sync(ten, [*records, group("g1", "a", []), group("g2", "b", [])])


def test_a_stored_dn_that_does_not_parse_counts_as_a_real_change(ten):
    """A DN the store holds but no parser reads (written by hand, or by an older version)
    cannot be proven to name the same entry: replacing it counts towards the safeguard."""
    for row in DirectoryUser.objects.filter(external_id__in=["u0", "u1", "u2"]):
        row.dn = f"uid={row.username},,broken"
        row.fingerprint = fingerprint(tuple(getattr(row, c) for c in USER_COLUMNS))
        row.save()
    with pytest.raises(SafeguardTripped, match="Users updated: 3 of 10"):
        sync(ten, [*ten_users(), group("g1", "a", []), group("g2", "b", [])])


def test_a_respelled_group_dn_does_not_count_either(ten):
    respell_stored_dns(DirectoryGroup, GROUP_COLUMNS)
    counts, _ = sync(ten, [*ten_users(), group("g1", "a", []), group("g2", "b", [])])
    assert counts.groups_updated == 2


# --- what a run could not sync -----------------------------------------------------------


def test_warnings_are_counted_in_full_and_listed_up_to_the_cap(ldap_directory):
    ghosts = [f"uid=ghost{n},ou=elsewhere,dc=x" for n in range(WARNINGS_LISTED + 5)]
    received = read(
        ldap_directory,
        [user(None, "noid"), user("u1", ""), group("g1", "team", ghosts)],
    )
    run = new_run(ldap_directory)

    fields = record_warnings(run.pk, received)

    assert fields == {
        "unresolved_references": WARNINGS_LISTED + 5,
        "skipped_entries": 2,
        "warning_counts": {
            "no_stable_id": 1,
            "no_username": 1,
            "outside_scope": WARNINGS_LISTED + 5,
        },
    }
    listed = list(run.warnings.order_by("id"))
    assert len(listed) == WARNINGS_LISTED
    assert [w.reason for w in listed[:2]] == ["no_stable_id", "no_username"]
    assert (listed[2].kind, listed[2].value, listed[2].name) == (
        "unresolved_member",
        ghosts[0],
        "team",
    )
    assert listed[0].kind == "skipped_entry" and listed[0].entry_type == "user"


def test_the_run_message_says_what_was_left_out():
    assert warning_message({"unresolved_references": 0, "skipped_entries": 0}) == ""
    assert warning_message({"unresolved_references": 1, "skipped_entries": 0}) == (
        "Completed with warnings: 1 group member value matched no synced user or group. "
        "The run lists each one and why."
    )
    assert warning_message({"unresolved_references": 2, "skipped_entries": 1}) == (
        "Completed with warnings: 2 group member values matched no synced user or group; "
        "1 entry was skipped. The run lists each one and why."
    )
    assert "3 entries were skipped" in warning_message(
        {"unresolved_references": 0, "skipped_entries": 3}
    )


def test_group_deletions_take_their_memberships_and_nesting_with_them(ldap_directory):
    sync(ldap_directory, FIRST, safeguards=False)
    # g1 (a parent) and g2 (its child, with members) both go.
    counts, run = sync(ldap_directory, [*FIRST[:4], FIRST[6]], safeguards=False)
    assert (counts.groups_deleted, counts.memberships_removed) == (2, 5)
    have = store(ldap_directory)
    assert set(have["groups"]) == {"g3"} and have["members"] == set() == have["nesting"]
    rows = changes(run)
    assert rows[("group", "deleted", "g1")] == ("staff", f"cn=staff,{GROUPS}", {})
    assert rows[("group", "deleted", "g2")] == ("devs", f"cn=devs,{GROUPS}", {})
    # Deleted groups are named as the store held them; every member leaves.
    assert memberships(run) == [
        ("deleted", "u3", "cid", f"uid=cid,{PEOPLE}", "devs", "g2", "user"),
        ("deleted", "u4", "dee", f"uid=dee,{PEOPLE}", "devs", "g2", "user"),
        ("deleted", "u1", "ann", f"uid=ann,{PEOPLE}", "staff", "g1", "user"),
        ("deleted", "u2", "bob", f"uid=bob,{PEOPLE}", "staff", "g1", "user"),
        ("deleted", "g2", "devs", f"cn=devs,{GROUPS}", "staff", "g1", "group"),
    ]


def test_members_gained_by_existing_groups_from_existing_users(ldap_directory):
    sync(ldap_directory, FIRST, safeguards=False)
    grown = [*FIRST[:6], group("g3", "empty", [f"uid=ann,{PEOPLE}", f"cn=devs,{GROUPS}"])]

    counts, run = sync(ldap_directory, grown, safeguards=False)

    assert (counts.groups_updated, counts.memberships_added) == (1, 2)
    assert {("g3", "u1")} <= store(ldap_directory)["members"]
    assert ("g3", "g2") in store(ldap_directory)["nesting"]
    assert changes(run) == {
        ("group", "updated", "g3"): ("empty", f"cn=empty,{GROUPS}", {"members_added": 2})
    }


def test_an_updated_users_change_row_names_it_as_it_is_now(ldap_directory):
    sync(ldap_directory, FIRST, safeguards=False)
    renamed = [
        user("u1", "anne", dn=f"uid=anne,{PEOPLE}", first_name="Ann", email="ann@x"),
        *FIRST[1:],
    ]
    _, run = sync(ldap_directory, renamed, safeguards=False)
    assert changes(run)[("user", "updated", "u1")] == (
        "anne",
        f"uid=anne,{PEOPLE}",
        {"dn": [f"uid=ann,{PEOPLE}", f"uid=anne,{PEOPLE}"], "username": ["ann", "anne"]},
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("with_base", [True, False])
def test_a_store_loaded_with_an_incremental_base_is_the_store_loaded_alone(
    ldap_directory, with_base
):
    sync(ldap_directory, FIRST, safeguards=False)
    alone = Stored.load(ldap_directory.pk)
    load = StoreLoad(ldap_directory.pk, with_base=with_base)

    first = load.base().result()
    again = load.base().result()
    stored = load.stored()

    assert vars(stored) == vars(alone)
    assert first is not again
    assert (first.users, first.user_fps, first.groups, first.group_fps) == (
        again.users,
        again.user_fps,
        again.groups,
        again.group_fps,
    )
    assert set(first.users) == {"u1", "u2", "u3", "u4"}
    # A read takes its base's dicts over; neither the plan's store nor a later read's
    # base loses what that read took out.
    first.adopt("user", {"u1"}, {})
    assert "u1" not in first.users
    assert "u1" in stored.users and "u1" in again.users


def _read_told(directory, records, stored_users, loaded_after: int = 0, stage=None):
    """A read as the runner makes it: told which users the store holds once it is loaded
    (after the read has asked `loaded_after` times), staging in `stage` if given."""
    asked = []

    def told():
        asked.append(1)
        return stored_users if len(asked) > loaded_after else None

    received = _consume(
        stream(records), FakeConnector(), FakeBeat(), "uid", stored_users=told, stage=stage
    )
    settle(received, directory)
    return received


@pytest.mark.parametrize(
    "loaded_after",
    # Loaded before the read, or once it has taken 256 records (the unchanged users too).
    [0, 1],
)
@pytest.mark.parametrize("staged", [False, True], ids=["in-memory", "staged"])
def test_a_full_read_told_the_stored_users_plans_and_writes_what_a_read_of_every_value_does(
    ldap_directory, loaded_after, staged
):
    first = [user(f"u{n}", f"user{n}", email=f"user{n}@x") for n in range(300)]
    sync(ldap_directory, [*first, group("g1", "all", [r["dn"] for r in first[:100]])], False)

    again = [
        # Unchanged, a changed mail, a rename (a new DN), and newcomers.
        *first[:200],
        *(user(f"u{n}", f"user{n}", email=f"user{n}@y") for n in range(200, 250)),
        *(user(f"u{n}", f"user{n}", dn=f"uid=user{n},ou=moved,{PEOPLE}") for n in range(250, 300)),
        *(user(f"new{n}", f"newcomer{n}") for n in range(50)),
        # A newcomer claiming the username of an unchanged stored user: the stored one keeps it.
        user("claimer", "USER7"),
    ]
    members = [r["dn"] for r in again[150:260]] + [f"uid=newcomer0,{PEOPLE}"]
    records = [*again, group("g1", "all", members)]

    stage = UserStage() if staged else None
    stored_users = Stored.load(ldap_directory.pk).users
    told = _read_told(ldap_directory, records, stored_users, loaded_after, stage)
    plain = _consume(stream(records), FakeConnector(), FakeBeat(), "uid")
    settle(plain, ldap_directory)
    # Each unchanged user is held as its DN and username only; every other user whole
    # (its other values packed), or staged: its DN, its username and None.
    assert sorted(len(v) for v in told.users.values()) == [KEPT] * 200 + [PACKED] * 150
    assert all(len(v) == PACKED and v[KEPT] is not None for v in plain.users.values())
    others = [ext for ext, v in told.users.items() if len(v) == PACKED]
    assert all((told.users[ext][KEPT] is None) == staged for ext in others)
    if staged:
        # The stage holds what the plain read holds of them, and nothing else.
        assert told.values_of(others) == plain.values_of(others)
        assert told.values_of(others) == {
            ext: values[:-1] for ext, values in _staged_rows().items()
        }

    told_plan = make_plan(ldap_directory, told, safeguards=False)
    plain_plan = make_plan(ldap_directory, plain, safeguards=False)
    assert told_plan.counts == plain_plan.counts
    assert list(change_rows(told_plan, 1)) == list(change_rows(plain_plan, 1))
    assert (told.skipped, told.skipped_records) == (plain.skipped, plain.skipped_records)

    run = new_run(ldap_directory)
    write(told_plan, run.pk)
    connection.check_constraints()
    held = store(ldap_directory)
    wanted = {r["id"]: r for r in again if r["id"] != "claimer"}
    assert set(held["users"]) == set(wanted)
    for ext, r in wanted.items():
        assert held["users"][ext][:2] == [r["dn"], r["username"]]
        assert held["users"][ext][4] == r.get("email", "")
    by_dn = {r["dn"]: r["id"] for r in again}
    assert held["members"] == {("g1", by_dn[dn]) for dn in members}
