"""The agent's own decoders of the RFC 4533 messages a refresh sends per entry give what
python-ldap's pyasn1 decoders give, for every value the structures allow, and refuse
anything else."""

from __future__ import annotations

import ldap
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ldap.syncrepl import (
    SyncDoneControl,
    SyncInfoMessage,
    SyncInfoValue,
    SyncStateControl,
    SyncStateValue,
)
from pyasn1.codec.ber import encoder

from connectors.agent.contentsync import (
    Refresh,
    _State,
    decode_info,
    decode_state,
    names_a_state,
    refresh,
)

cookies = st.one_of(st.none(), st.text(st.characters(min_codepoint=32, max_codepoint=126)))
uuids = st.binary(min_size=16, max_size=16)


def state_value(state: int, entry_uuid: bytes, cookie: str | None) -> bytes:
    value = SyncStateValue()
    value.setComponentByName("state", state)
    value.setComponentByName("entryUUID", entry_uuid)
    if cookie is not None:
        value.setComponentByName("cookie", cookie)
    return encoder.encode(value)


@given(state=st.integers(0, 3), entry_uuid=uuids, cookie=cookies)
def test_a_sync_state_decodes_as_python_ldap_decodes_it(state, entry_uuid, cookie):
    encoded = state_value(state, entry_uuid, cookie)
    theirs = SyncStateControl()
    theirs.decodeControlValue(encoded)
    assert decode_state(encoded) == (theirs.state, theirs.entryUUID, theirs.cookie)


def info_value(kind: str, cookie: str | None, flag: bool | None, ids: list[bytes]) -> bytes:
    value = SyncInfoValue()
    if kind == "newcookie":
        value.setComponentByName("newcookie", cookie or "")
        return encoder.encode(value)
    part = value.getComponentByName(kind)
    if cookie is not None:
        part.setComponentByName("cookie", cookie)
    if kind == "syncIdSet":
        if flag is not None:
            part.setComponentByName("refreshDeletes", flag)
        members = part.getComponentByName("syncUUIDs")
        for n, raw in enumerate(ids):
            members.setComponentByPosition(n, raw)
    elif flag is not None:
        part.setComponentByName("refreshDone", flag)
    return encoder.encode(value)


@given(
    kind=st.sampled_from(["newcookie", "refreshDelete", "refreshPresent", "syncIdSet"]),
    cookie=cookies,
    flag=st.one_of(st.none(), st.booleans()),
    ids=st.lists(uuids, max_size=40),
)
def test_a_sync_info_message_decodes_as_python_ldap_decodes_it(kind, cookie, flag, ids):
    encoded = info_value(kind, cookie, flag, ids)
    theirs = SyncInfoMessage(encoded)
    ours = decode_info(encoded)
    assert ours.kind == kind
    if kind == "newcookie":
        assert ours.cookie == theirs.newcookie
        return
    part = getattr(theirs, kind)
    assert ours.cookie == part.get("cookie")
    if kind == "syncIdSet":
        assert (ours.refresh_deletes, ours.uuids) == (part["refreshDeletes"], part["syncUUIDs"])


@given(state=st.integers(0, 3), entry_uuid=uuids, cookie=cookies, data=st.data())
def test_a_cut_or_altered_message_is_refused(state, entry_uuid, cookie, data):
    encoded = state_value(state, entry_uuid, cookie)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(ValueError):
        decode_state(encoded[:cut])
    with pytest.raises(ValueError):
        decode_state(encoded + b"\x00")
    ids = info_value("syncIdSet", cookie, True, [entry_uuid])
    with pytest.raises(ValueError):
        decode_info(ids[: data.draw(st.integers(0, len(ids) - 1))])


@pytest.mark.parametrize(
    "value",
    [
        bytes.fromhex("30150a01040410") + bytes(16),  # state 4: no such state
        bytes.fromhex("30140a010104") + bytes.fromhex("0f") + bytes(15),  # a 15-octet id
        bytes.fromhex("31140a01010410") + bytes(16),  # a SET, not a SEQUENCE
    ],
)
def test_a_sync_state_outside_the_structure_is_refused(value):
    with pytest.raises(ValueError):
        decode_state(value)


@pytest.mark.parametrize(
    ("cookie", "names"),
    [
        ("rid=000,csn=20261206201122.917056Z#000000#000#000000", True),
        ("rid=001,sid=002,csn=20261206201122.917056Z#000000#002#000000", True),
        (
            "rid=000,csn=20261206201122.917056Z#000000#000#000000;"
            "20261206201123.000001Z#000001#001#000000",
            True,
        ),
        ("rid=000,csn=20261206201122.917056Z#000000#000#000000,delcsn=x", True),
        ("rid=000", False),
        ("rid=000,csn=garbage", False),
        ("csn=20261206201122.917056Z#000000#000#000000", False),
        ("rid=000,csn=20261206201122Z#000000#000#000000", False),
    ],
)
def test_only_a_cookie_naming_a_change_sequence_number_is_followed(cookie, names):
    assert names_a_state(cookie) is names


class ScriptedConnection:
    """Answers one refresh with the given result4 tuples, and notes abandons."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.abandoned = []

    def search_ext(self, base, scope, filterstr, attrs, serverctrls):
        return 7

    def result4(self, msgid, **_):
        return self.answers.pop(0)

    def abandon_ext(self, msgid):
        self.abandoned.append(msgid)


def entry(dn, state="add", entry_uuid=bytes(range(16))):
    control = _State()
    control.controlType = _State.controlType
    control.decodeControlValue(state_value(["present", "add", "modify", "delete"].index(state),
                                           entry_uuid, None))  # fmt: skip
    return (ldap.RES_SEARCH_ENTRY, [(dn, {"uid": [b"x"]}, [control])], 7, [], None, None)


def result(refresh_deletes=None, cookie="rid=000,csn=c"):
    controls = []
    if refresh_deletes is not None:
        done = SyncDoneControl()
        done.controlType, done.cookie, done.refreshDeletes = (
            SyncDoneControl.controlType, cookie, refresh_deletes
        )  # fmt: skip
        controls.append(done)
    return (ldap.RES_SEARCH_RESULT, [], 7, controls, None, None)


def ids_message(*ids):
    value = info_value("syncIdSet", None, True, list(ids))
    return (ldap.RES_INTERMEDIATE, [(SyncInfoMessage.responseName, value, [])], 7, [], None, None)


def run(answers):
    conn = ScriptedConnection(answers)
    done = Refresh()
    got = list(refresh(conn, "ou=people,dc=x", "(uid=*)", ["uid"], "c", 5.0, into=done))
    return got, done, conn


def test_a_refresh_yields_changes_and_collects_departures_until_sync_done():
    gone = bytes(range(16, 32))
    got, done, conn = run([entry("uid=a,dc=x"), ids_message(gone), result(True)])
    assert got == [("uid=a,dc=x", "00010203-0405-0607-0809-0a0b0c0d0e0f", {"uid": [b"x"]})]
    assert done.deleted == ["10111213-1415-1617-1819-1a1b1c1d1e1f"]
    assert (done.present, done.cookie, conn.abandoned) == (False, "rid=000,csn=c", [])
    _, done, _ = run([entry("uid=a,dc=x", state="delete"), result(True)])
    assert done.deleted == ["00010203-0405-0607-0809-0a0b0c0d0e0f"] and not done.present


@pytest.mark.parametrize(
    "answers",
    [
        [result(None)],  # no Sync Done control: nothing says the deletions were named
        [result(False)],  # present mode
        [entry("uid=a,dc=x", state="present"), result(True)],
    ],
)
def test_a_refresh_that_does_not_name_its_departures_says_so(answers):
    assert run(answers)[1].present


def test_a_refresh_without_sync_states_or_with_a_malformed_message_fails():
    bare = (ldap.RES_SEARCH_ENTRY, [("uid=a,dc=x", {}, [])], 7, [], None, None)
    with pytest.raises(ldap.PROTOCOL_ERROR):
        run([bare, result(True)])
    bad = (ldap.RES_INTERMEDIATE, [(SyncInfoMessage.responseName, b"\xa3\x05", [])], 7, [],
           None, None)  # fmt: skip
    with pytest.raises(ldap.PROTOCOL_ERROR):
        run([bad, result(True)])
    conn = ScriptedConnection([entry("uid=a,dc=x"), entry("uid=b,dc=x"), result(True)])
    pages = refresh(conn, "ou=people,dc=x", "(uid=*)", ["uid"], "c", 5.0)
    next(pages)
    pages.close()  # the caller stopped early: the server is told to drop the search
    assert conn.abandoned == [7]


def test_an_entry_whose_subordinates_cannot_be_read_counts_as_a_container():
    """Rereading a leaf's subtree costs one entry; missing a renamed container would
    leave its entries under their old DNs."""
    from connectors.agent.vendors.openldap import _may_hold_entries

    assert _may_hold_entries({"hasSubordinates": [b"TRUE"]})
    assert _may_hold_entries({})
    assert not _may_hold_entries({"hassubordinates": [b"FALSE"]})
