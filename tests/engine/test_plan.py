"""The plan's inputs: records consumed into a complete read, members resolved by DN meaning,
and every value that resolves to nothing kept with its reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.client import AgentError, RequestRefused
from directories.models import DirectoryUser
from directories.sync.fetch import (
    FIELD_LIMIT,
    MAX_LISTED,
    _consume,
    _refused_watermark,
    fingerprint,
    settle,
    user_values,
)
from directories.sync.incremental import Base, NeedFullRead
from directories.sync.members import Resolution, Unsynced, resolve, scope_keys
from synclog.choices import WarningReason
from synclog.lifecycle import LeaseLost
from tests.conftest import make_directory

from .conftest import (
    GROUPS,
    PEOPLE,
    FakeBeat,
    FakeConnector,
    FakeStream,
    consume,
    group,
    read,
    stream,
    user,
)
from .test_writer import sync

pytestmark = pytest.mark.django_db


def reasons(received) -> dict[str, str]:
    return {u.value: u.reason for u in received.resolution.unresolved}


# --- resolving member values -------------------------------------------------------


def test_member_values_match_entries_spelled_the_same_or_otherwise(ldap_directory):
    received = read(
        ldap_directory,
        [
            user("u1", "jdoe", dn=f"cn=Doe\\, John,{PEOPLE}"),
            user("u2", "amelie", dn=f"cn=Amélie 佐藤,{PEOPLE}"),
            user("u3", "plain"),
            group(
                "g1",
                "staff",
                [
                    f"cn=Doe\\, John,{PEOPLE}",  # as spelled
                    "CN=doe\\2c john,OU=People,DC=Example,DC=com",  # another spelling
                    f"cn=Am\\C3\\A9lie \\E4\\BD\\90\\E8\\97\\A4,{PEOPLE}#'0101'B",
                    f"UID=PLAIN,{PEOPLE}",
                ],
            ),
        ],
    )

    assert received.resolution.members == {("g1", "u1"), ("g1", "u2"), ("g1", "u3")}
    assert received.resolution.unresolved == []


def test_groups_nest_by_dn_meaning_and_a_group_naming_itself_is_no_membership(ldap_directory):
    received = read(
        ldap_directory,
        [
            user("u1", "a"),
            group("g1", "parent", [f"CN=Child,{GROUPS}", f"cn=parent,{GROUPS}", f"uid=a,{PEOPLE}"]),
            group("g2", "child", [f"cn=child,{GROUPS}"]),
        ],
    )

    assert received.resolution.nesting == {("g1", "g2")}
    assert received.resolution.members == {("g1", "u1")}
    assert received.resolution.unresolved == []


def test_unresolved_member_values_keep_their_group_and_reason(ldap_directory):
    received = read(
        ldap_directory,
        [
            user("u1", "a"),
            user(None, "noid", dn=f"uid=noid,{PEOPLE}"),
            group(
                "g1",
                "team",
                [
                    "not a dn",
                    f"uid=noid,{PEOPLE}",
                    "uid=x,ou=contractors,dc=example,dc=com",
                    f"uid=ghost,{PEOPLE}",
                ],
            ),
        ],
    )

    assert reasons(received) == {
        "not a dn": WarningReason.INVALID_DN,
        f"uid=noid,{PEOPLE}": WarningReason.SKIPPED_ENTRY,
        "uid=x,ou=contractors,dc=example,dc=com": WarningReason.OUTSIDE_SCOPE,
        f"uid=ghost,{PEOPLE}": WarningReason.NOT_CHECKED,
    }
    [skipped] = [u for u in received.resolution.unresolved if u.value.startswith("uid=noid")]
    assert "no entryuuid / objectguid" in skipped.detail
    for item in received.resolution.unresolved:
        assert (item.entry_type, item.external_id, item.name) == ("group", "g1", "team")
        assert item.dn == f"cn=team,{GROUPS}"
    assert received.resolution.to_confirm() == [f"uid=ghost,{PEOPLE}"]


def test_an_empty_user_scope_means_the_base_dn(directory):
    directory.user_dns, directory.group_dns = [], []
    directory.base_dn = "dc=example,dc=com"
    directory.save()
    received = read(
        directory,
        [group("g1", "team", ["uid=x,ou=anywhere,dc=example,dc=com", "uid=y,dc=other,dc=org"])],
    )

    assert reasons(received) == {
        "uid=x,ou=anywhere,dc=example,dc=com": WarningReason.NOT_CHECKED,
        "uid=y,dc=other,dc=org": WarningReason.OUTSIDE_SCOPE,
    }


def test_the_same_unresolved_value_in_two_groups_is_two_references_one_lookup(ldap_directory):
    ghost = f"uid=ghost,{PEOPLE}"
    received = read(ldap_directory, [group("g1", "a", [ghost]), group("g2", "b", [ghost])])

    assert len(received.resolution.unresolved) == 2
    assert received.resolution.to_confirm() == [ghost]


def test_scope_keys_leave_out_text_that_is_no_dn():
    assert scope_keys(["OU=People,DC=x", "junk", ""]) == ["ou=people,dc=x", ""]


# --- the directory's own answer about unresolved values ------------------------------


def unresolved(value: str, reason: str = WarningReason.NOT_CHECKED) -> Unsynced:
    return Unsynced(reason, "group", "g1", "team", f"cn=team,{GROUPS}", value)


def test_confirm_matches_by_the_stable_id_the_directory_gives_and_explains_the_rest():
    resolution = Resolution(
        unresolved=[
            unresolved("v-user"),
            unresolved("v-group"),
            unresolved("v-self"),
            unresolved("v-role"),
            unresolved("v-none"),
            unresolved("v-unknown"),
            unresolved("v-unasked"),
            unresolved("v-outside", WarningReason.OUTSIDE_SCOPE),
        ]
    )
    answers = {
        "v-user": {"exists": True, "id": "u1"},
        "v-group": {"exists": True, "id": "g2"},
        "v-self": {"exists": True, "id": "g1"},
        "v-role": {"exists": True, "id": "r1", "object_classes": ["organizationalRole", "top"]},
        "v-none": {"exists": False, "detail": "No such object"},
        "v-unknown": {"exists": None, "detail": "Referral"},
        "v-outside": {"exists": True, "id": "u1"},
    }

    resolution.confirm(answers, users=["u1"], groups=["g1", "g2"])

    assert resolution.members == {("g1", "u1")}
    assert resolution.nesting == {("g1", "g2")}
    left = {u.value: (u.reason, u.detail) for u in resolution.unresolved}
    assert left == {
        "v-role": (
            WarningReason.NOT_SYNCED,
            "the entry exists (objectClass: organizationalRole, top) but is not synced",
        ),
        "v-none": (WarningReason.NO_ENTRY, "No such object"),
        "v-unknown": (WarningReason.NOT_CHECKED, "the directory did not say: Referral"),
        "v-unasked": (WarningReason.NOT_CHECKED, ""),
        "v-outside": (WarningReason.OUTSIDE_SCOPE, ""),
    }


def test_confirm_without_details_says_so():
    resolution = Resolution(unresolved=[unresolved("a"), unresolved("b"), unresolved("c")])
    resolution.confirm(
        {"a": {"exists": True, "id": "x"}, "b": {"exists": False}, "c": {}}, users=[], groups=[]
    )
    left = {u.value: u.detail for u in resolution.unresolved}
    assert left == {
        "a": "the entry exists (objectClass: unknown) but is not synced",
        "b": "no such entry",
        "c": "the directory did not say: no answer",
    }


# --- entries that cannot be stored -----------------------------------------------------


def test_a_username_held_twice_stays_with_the_stored_entry(ldap_directory):
    from django.utils import timezone

    DirectoryUser.objects.create(
        directory=ldap_directory,
        external_id="late",
        dn=f"uid=JDoe,{PEOPLE}",
        username="JDoe",
        fingerprint="x",
        synced_at=timezone.now(),
    )
    received = read(
        ldap_directory,
        [
            user("early", "jdoe", dn=f"uid=jdoe,ou=staff,{PEOPLE}"),
            user("late", "JDoe"),
            user("third", "JDOE", dn=f"cn=Third,{PEOPLE}"),
            user("other", "someone"),
        ],
    )

    assert set(received.users) == {"late", "other"}
    # The losers left the stage; the others' values are still there.
    assert set(received.user_fps) <= {"late", "other"}
    assert received.values_of(["late"])["late"][:2] == (f"uid=JDoe,{PEOPLE}", "JDoe")
    assert received.stage is not None
    with pytest.raises(LookupError):
        received.stage.values(["early"])
    with pytest.raises(LookupError):
        received.stage.values(["third"])
    skipped = {s.external_id: s for s in received.skipped}
    assert set(skipped) == {"early", "third"}
    assert skipped["early"].reason == WarningReason.DUPLICATE_USERNAME
    assert skipped["early"].detail == f"uid 'jdoe' is also the username of uid=JDoe,{PEOPLE}"
    assert (skipped["third"].name, skipped["third"].dn) == ("JDOE", f"cn=Third,{PEOPLE}")


def test_without_a_stored_holder_the_first_entry_read_keeps_the_username(ldap_directory):
    received = read(ldap_directory, [user("a", "Same"), user("b", "same"), user("c", "SAME")])

    assert set(received.users) == {"a"}
    assert [s.external_id for s in received.skipped] == ["b", "c"]


def test_the_username_attribute_named_in_a_skip_is_the_mapped_one(ldap_directory):
    received = _consume(stream([user("a", "")]), FakeConnector(), FakeBeat(), "sAMAccountName")
    assert received.skipped[0].detail == "the entry has no sAMAccountName, which holds the username"


# --- consuming the stream ------------------------------------------------------------------


def test_records_become_values_and_fingerprints():
    received = consume(
        [
            user(
                "u1",
                "jdoe",
                first_name="J",
                last_name="D",
                email="j@x",
                display_name="JD",
                upn="j@x.test",
                disabled=1,
            ),
            user("u2", "bare", first_name=None),
            group("g1", "", [], dn=f"cn=unnamed,{GROUPS}"),
        ]
    )

    values = (f"uid=jdoe,{PEOPLE}", "jdoe", "J", "D", "j@x", "JD", "j@x.test", True)
    assert user_values(received.users["u1"]) == values
    assert received.user_fp("u1") == fingerprint(values)
    assert user_values(received.users["u2"]) == (
        f"uid=bare,{PEOPLE}",
        "bare",
        "",
        "",
        "",
        "",
        "",
        False,
    )
    # A group without a cn is named by its DN.
    assert received.groups["g1"] == (f"cn=unnamed,{GROUPS}", f"cn=unnamed,{GROUPS}", [])
    assert received.group_fps["g1"] == fingerprint((f"cn=unnamed,{GROUPS}",) * 2)
    assert received.entries == 3


@given(
    st.lists(st.text(max_size=FIELD_LIMIT), min_size=5, max_size=5),
    st.booleans(),
)
def test_a_user_is_held_with_every_value_it_was_sent_with(values, disabled):
    # Whatever a value holds (separators, NUL, any script), the values written are the
    # values sent.
    first, last, email, display, upn = values
    sent = user(
        "u1",
        "name",
        first_name=first,
        last_name=last,
        email=email,
        display_name=display,
        upn=upn,
        disabled=disabled,
    )
    received = consume([sent])
    dn = f"uid=name,{PEOPLE}"
    assert user_values(received.users["u1"]) == (dn, "name", *values, disabled)
    assert received.user_fp("u1") == fingerprint((dn, "name", *values, disabled))


def test_values_longer_than_their_column_are_cut():
    received = consume([user("u1", "x" * 300, display_name="é" * 400), group("g1", "n" * 300, [])])
    values = user_values(received.users["u1"])
    assert (len(values[1]), len(values[5])) == (FIELD_LIMIT, FIELD_LIMIT)
    assert received.groups["g1"][1] == "n" * FIELD_LIMIT


def test_fingerprints_follow_every_value():
    base = consume([user("u1", "a", email="a@x")]).user_fp("u1")
    assert consume([user("u1", "a", email="b@x")]).user_fp("u1") != base
    assert consume([user("u1", "a", email="a@x", disabled=True)]).user_fp("u1") != base
    assert consume([user("u1", "a", email="a@x", dn="uid=A,dc=x")]).user_fp("u1") != base


@pytest.mark.parametrize(
    "records, words",
    [
        (
            [
                {"type": "user", "id": "u1", "dn": "uid=a,dc=x", "username": "a"},
                {"type": "end", "users": 1, "groups": 0},
            ],
            "no begin record",
        ),
        (
            [{"type": "begin"}, {"type": "end", "users": 1, "groups": 0}],
            "announced 1 users and 0 groups but sent 0 and 0",
        ),
        (
            [{"type": "begin"}, {"type": "end", "users": 0, "groups": 2}],
            "announced 0 users and 2 groups",
        ),
        ([{"type": "begin"}, {"type": "end"}], "announced -1 users"),
        (
            [{"type": "begin"}, {"type": "user", "id": "u1", "dn": "uid=a,dc=x", "username": "a"}],
            "ended after 1 entries without its end record",
        ),
    ],
)
def test_an_incomplete_or_inconsistent_stream_is_refused(records, words):
    with pytest.raises(AgentError) as caught:
        _consume(FakeStream(records), FakeConnector(), FakeBeat(), "uid")
    assert caught.value.outcome == "incomplete"
    assert words in caught.value.message


def test_an_error_record_is_the_directorys_error():
    records = [{"type": "begin"}, {"type": "error", "code": "tls", "message": "bad certificate"}]
    with pytest.raises(AgentError) as caught:
        _consume(FakeStream(records), FakeConnector(), FakeBeat(), "uid")
    assert caught.value.outcome == "directory_error"
    assert caught.value.message == "connector-1 could not read the directory: bad certificate"
    with pytest.raises(AgentError, match="could not read the directory: tls"):
        _consume(FakeStream([{"type": "error", "code": "tls"}]), FakeConnector(), FakeBeat(), "uid")


@pytest.mark.parametrize(
    "record",
    [
        {"type": "user", "id": 5, "dn": "uid=a,dc=x", "username": "a"},
        {"type": "user", "id": "x" * 65, "dn": "uid=a,dc=x", "username": "a"},
        {"type": "user", "id": "", "dn": "uid=a,dc=x", "username": "a"},
        {"type": "user", "id": "u1", "dn": "", "username": "a"},
        {"type": "user", "id": "u1", "dn": None, "username": "a"},
        {"type": "user", "id": "u1", "username": "a"},
        {"type": "group", "id": "g1", "dn": "cn=g,dc=x", "members": "uid=a,dc=x"},
    ],
)
def test_a_malformed_record_is_refused(record):
    with pytest.raises((KeyError, TypeError, ValueError)):
        consume([record])


def test_unknown_record_types_are_passed_over_and_not_counted():
    received = consume(
        [{"type": "progress", "note": "later versions may send this"}, user("u1", "a")]
    )
    assert set(received.users) == {"u1"} and received.entries == 1


def test_progress_is_published_and_a_lost_lease_stops_the_read():
    records = [user(f"u{n}", f"user{n}") for n in range(600)]
    beat = FakeBeat()
    received = _consume(stream(records), FakeConnector(), beat, "uid")
    assert beat.entries_received == 600 == received.entries

    lost = FakeBeat()
    lost.lost = True
    with pytest.raises(LeaseLost):
        _consume(stream(records), FakeConnector(), lost, "uid")
    assert lost.entries_received == 256


def test_resolve_works_on_what_it_is_given():
    users = {"u1": (f"uid=a,{PEOPLE}",)}
    groups = {"g1": (f"cn=g,{GROUPS}", "g", [f"uid=A,{PEOPLE}", f"uid=b,{PEOPLE}"])}
    resolution = resolve(users, groups, [], scope_keys([PEOPLE]))
    assert resolution.members == {("g1", "u1")}
    assert [u.reason for u in resolution.unresolved] == [WarningReason.NOT_CHECKED]


# --- each skipped entry, to the field ----------------------------------------------------------


def test_groups_without_an_id_or_with_a_repeated_one_are_skipped_and_named():
    received = consume(
        [
            group("g1", "first", [], dn=f"cn=first,{GROUPS}"),
            group("g1", "again", [], dn=f"cn=again,{GROUPS}"),
            group(None, "noid", [], dn=f"cn=noid,{GROUPS}"),
        ]
    )
    assert set(received.groups) == {"g1"}
    rows = [
        (s.reason, s.entry_type, s.external_id, s.name, s.dn, s.detail) for s in received.skipped
    ]
    assert rows == [
        (WarningReason.DUPLICATE_ID, "group", "g1", "again", f"cn=again,{GROUPS}",
         f"cn=first,{GROUPS} has the same id"),
        (WarningReason.NO_STABLE_ID, "group", "", "noid", f"cn=noid,{GROUPS}", ""),
    ]  # fmt: skip


def test_skipped_users_keep_what_the_record_said():
    received = consume(
        [
            user("u1", "ann"),
            user("u1", "ann2", dn=f"uid=ann2,{PEOPLE}"),
            user(None, "nobody", dn=f"uid=nobody,{PEOPLE}"),
            user("u3", None, dn=f"cn=nameless,{PEOPLE}"),
        ]
    )
    rows = [
        (s.reason, s.entry_type, s.external_id, s.name, s.dn, s.detail) for s in received.skipped
    ]
    assert rows == [
        (WarningReason.DUPLICATE_ID, "user", "u1", "ann2", f"uid=ann2,{PEOPLE}",
         f"uid=ann,{PEOPLE} has the same id"),
        (WarningReason.NO_STABLE_ID, "user", "", "nobody", f"uid=nobody,{PEOPLE}", ""),
        (WarningReason.NO_USERNAME, "user", "u3", "", f"cn=nameless,{PEOPLE}",
         "the entry has no uid, which holds the username"),
    ]  # fmt: skip
    # A username that is not text is a malformed record (the whole stream is refused).
    with pytest.raises(TypeError):
        consume([user("u4", 12345)])


def test_values_at_the_column_limit_are_kept_whole():
    exact = "x" * FIELD_LIMIT
    received = consume(
        [
            user("u1", exact, email="e" * FIELD_LIMIT, disabled=True),
            user("u2", "short", upn="u" * (FIELD_LIMIT + 1), dn="uid=" + "d" * 300 + ",dc=x"),
        ]
    )
    whole = user_values(received.users["u1"])
    assert whole[1] == exact and whole[4] == "e" * FIELD_LIMIT
    cut = user_values(received.users["u2"])
    assert cut[0] == "uid=" + "d" * 300 + ",dc=x"  # DNs are never cut
    assert cut[6] == "u" * FIELD_LIMIT and cut[7] is False and cut[1] == "short"


def test_an_end_record_without_counts_and_an_error_without_words_say_so():
    with pytest.raises(AgentError) as missing:
        _consume(
            FakeStream([{"type": "begin"}, {"type": "end", "users": 0}]),
            FakeConnector(),
            FakeBeat(),
            "uid",
        )
    assert missing.value.message == (
        "connector-1 announced 0 users and -1 groups but sent 0 and 0; the stream was discarded"
    )
    with pytest.raises(AgentError) as wordless:
        _consume(
            FakeStream([{"type": "begin"}, {"type": "error"}]), FakeConnector(), FakeBeat(), "uid"
        )
    assert wordless.value.message == "connector-1 could not read the directory: unknown error"


def test_a_stream_cut_short_says_how_far_it_came():
    beat = FakeBeat()
    with pytest.raises(AgentError) as cut:
        _consume(
            FakeStream([{"type": "begin"}, user("u1", "a"), user("u2", "b")]),
            FakeConnector(),
            beat,
            "uid",
        )
    assert cut.value.message == (
        "the stream from connector-1 ended after 2 entries without its end record; "
        "the partial data was discarded"
    )
    assert beat.entries_received == 2


def test_malformed_records_say_what_is_wrong():
    with pytest.raises(ValueError, match="stable id 5 is not an entryUUID/objectGUID"):
        consume([{"type": "user", "id": 5, "dn": "uid=a,dc=x", "username": "a"}])
    with pytest.raises(ValueError, match="DN '' is not text"):
        consume([{"type": "user", "id": "u1", "dn": "", "username": "a"}])
    with pytest.raises(ValueError, match="members of cn=g,dc=x are not a list"):
        consume([{"type": "group", "id": "g", "dn": "cn=g,dc=x", "members": "x"}])


def test_the_username_attribute_is_the_mapped_one_or_the_types_default(directory):
    from directories.sync.fetch import _username_attribute

    directory.mapped_attributes = {}
    assert _username_attribute(directory) == "uid"
    directory.type = "ad"
    assert _username_attribute(directory) == "sAMAccountName"
    directory.mapped_attributes = {"username": "mail", "email": "mail"}
    assert _username_attribute(directory) == "mail"
    directory.mapped_attributes = None
    assert _username_attribute(directory) == "sAMAccountName"


def test_a_username_held_by_many_entries_is_settled_in_batches(ldap_directory):
    from django.utils import timezone

    DirectoryUser.objects.create(
        directory=ldap_directory,
        external_id="u550",
        dn=f"uid=same550,{PEOPLE}",
        username="same",
        fingerprint="x",
        synced_at=timezone.now(),
    )
    received = read(
        ldap_directory, [user(f"u{n}", "same", dn=f"uid=same{n},{PEOPLE}") for n in range(700)]
    )
    assert set(received.users) == {"u550"}
    assert len(received.skipped) == 699


def test_a_username_stored_in_another_directory_does_not_decide(ldap_directory, connectors):
    from django.utils import timezone

    from directories.services import create_directory

    other = create_directory(
        name="other.example.com", type="ldap", sync_connector=connectors[0], host="h",
        base_dn="dc=x", bind_dn="cn=x", bind_password="pw",
    )  # fmt: skip
    DirectoryUser.objects.create(
        directory=other, external_id="late", dn="uid=jdoe,dc=x", username="jdoe",
        fingerprint="x", synced_at=timezone.now(),
    )  # fmt: skip
    received = read(
        ldap_directory, [user("early", "jdoe"), user("late", "jdoe", dn=f"cn=late,{PEOPLE}")]
    )
    assert set(received.users) == {"early"}


def test_a_user_kept_as_stored_that_loses_its_username_is_skipped_with_its_stored_values(
    ldap_directory,
):
    # A store with two users whose usernames differ only in case (as one written before
    # that rule could), both read unchanged: the one read first keeps the username, and the
    # other is skipped with every value, as a read that kept every value skips it.
    from directories.sync.plan import Stored

    records = [user("ann", "ann", email="a@x"), user("bob", "ANN", email="b@x")]
    sync(ldap_directory, [records[0], user("bob", "bob", email="b@x")], False)
    bob = DirectoryUser.objects.get(directory=ldap_directory, external_id="bob")
    bob.dn, bob.username = records[1]["dn"], "ANN"
    bob.fingerprint = fingerprint((bob.dn, "ANN", "", "", "b@x", "", "", False))
    bob.save()

    # Another directory holding a user of the same id: only this directory's is read.
    other = make_directory("other.example.com", ldap_directory.sync_connector)
    sync(other, [user("bob", "elsewhere", email="other@x")], False)

    told = _consume(
        stream(records),
        FakeConnector(),
        FakeBeat(),
        "uid",
        stored_users=lambda: Stored.load(ldap_directory.pk).users,
    )
    assert [len(v) for v in told.users.values()] == [2, 2]
    settle(told, ldap_directory)
    plain = read(ldap_directory, records)
    assert set(told.users) == set(plain.users) == {"ann"}
    assert (told.skipped, told.skipped_records) == (plain.skipped, plain.skipped_records)
    assert told.skipped_records[0][3]["email"] == "b@x"


# --- the records of an incremental read that names departures ------------------------------


def _incremental(records: list[dict], scope: str = "deleted", **end) -> FakeStream:
    counts = {"users": 0, "groups": 0, "deleted_users": 0, "deleted_groups": 0, **end}
    return FakeStream(
        [
            {"type": "begin", "read": "incremental", "scope": scope},
            *records,
            {"type": "end", **counts},
        ]
    )


def _base(*exts: str) -> Base:
    base = Base()
    for ext in exts:
        base.users[ext] = (f"uid={ext},{PEOPLE}", ext)
        base.user_fps[ext] = fingerprint((ext,))
    return base


def _read_changes(stream: FakeStream, base: Base):
    return _consume(stream, FakeConnector(), FakeBeat(), "uid", base)


def test_departures_named_in_several_records_add_up():
    deleted = [{"type": "deleted", "kind": "user", "ids": [ext]} for ext in ("u1", "u2")]
    received = _read_changes(_incremental(deleted, deleted_users=2), _base("u1", "u2", "u3"))
    assert set(received.users) == {"u3"}
    assert received.touched == {"user": {"u1", "u2"}, "group": set()}


def test_a_record_of_departures_holds_at_most_a_page_of_ids():
    ids = [f"x{n}" for n in range(MAX_LISTED)]
    page = [{"type": "deleted", "kind": "user", "ids": ids}]
    received = _read_changes(_incremental(page, deleted_users=MAX_LISTED), _base("u1"))
    assert set(received.users) == {"u1"}

    more = [{"type": "deleted", "kind": "user", "ids": [*ids, "x"]}]
    with pytest.raises(ValueError) as refused:
        _read_changes(_incremental(more, deleted_users=MAX_LISTED + 1), _base("u1"))
    assert str(refused.value) == "a deleted record's ids are not a list of at most a page"


@pytest.mark.parametrize(
    "scope, record, message",
    [
        (
            "deleted",
            {"type": "deleted", "kind": "printer", "ids": []},
            "deleted record of kind 'printer'",
        ),
        (
            "listed",
            {"type": "deleted", "kind": "user", "ids": ["u1"]},
            "a deleted record in a read that lists every entry",
        ),
        (
            "deleted",
            {"type": "present", "kind": "user", "entries": [["u1", f"uid=u1,{PEOPLE}"]]},
            "a presence listing in a read that names departures",
        ),
    ],
)
def test_a_departure_or_listing_record_out_of_place_is_refused_by_name(scope, record, message):
    with pytest.raises(ValueError) as refused:
        _read_changes(_incremental([record], scope=scope), _base("u1"))
    assert str(refused.value) == message


@pytest.mark.parametrize(
    "asked, detail, read_in_full",
    [
        (True, "changes_since: this agent reads no sync cookies", True),
        (True, "user filter: bad filter", False),
        (False, "changes_since: this agent reads no sync cookies", False),
    ],
)
def test_only_a_refusal_of_the_watermark_asked_for_makes_a_connector_read_in_full(
    asked, detail, read_in_full
):
    body = {"changes_since": {"cookie": "x"}} if asked else {}
    refused = RequestRefused("the agent refused the request", detail)
    assert _refused_watermark(refused, body) is read_in_full


def test_a_read_that_names_departures_takes_skipped_groups_again_and_needs_kept_members():
    base = _base("u1")
    dn = f"cn=g1,{GROUPS}"
    base.skipped[("group", "g1")] = {"type": "group", "id": "g1", "dn": dn, "name": "g1"}
    received = _read_changes(_incremental([]), base)
    assert received.groups == {"g1": (dn, "g1", [])}
    assert received.touched == {"user": set(), "group": {"g1"}}

    base = _base("u1")
    base.groups["g2"] = (f"cn=g2,{GROUPS}", "g2", None)
    with pytest.raises(NeedFullRead, match="the member values of cn=g2,"):
        _read_changes(_incremental([]), base)


def test_an_entry_the_last_sync_skipped_for_want_of_an_id_makes_the_read_full():
    base = _base("u1")
    dn = f"uid=anonymous,{PEOPLE}"
    base.skipped[("user", ("dn", dn))] = {"type": "user", "id": None, "dn": dn, "username": "x"}
    with pytest.raises(NeedFullRead) as full:
        _read_changes(_incremental([]), base)
    assert str(full.value) == f"{dn} has no id to follow it by"
