"""LDAP content synchronization (RFC 4533), refresh only: what changed in a search's
scope since a cookie, and which entries left it.

OpenLDAP's ``syncprov`` overlay answers a refresh with a cookie in one of two ways. With
a session log reaching back to the cookie it sends the changed entries and then the
entryUUIDs of the entries deleted from the search's scope (deleted, moved out of the
base, or changed so that the filter no longer matches): *deletes* mode. Otherwise (no
session log, one restarted since, or a cookie older than it reaches) it sends the changed
entries and the ids of every entry still in scope: *present* mode, which costs as much as
a listing; the caller reads in full instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import ldap
from ldap.controls import ResponseControl
from ldap.syncrepl import SyncDoneControl, SyncInfoMessage, SyncRequestControl, SyncStateControl

# In the root DSE's supportedControl when the server offers content synchronization.
SYNC_REQUEST_OID = SyncRequestControl.controlType
_STATE_OID = SyncStateControl.controlType
_DONE_OID = SyncDoneControl.controlType
_INFO_OID = SyncInfoMessage.responseName
# The result code of a refresh whose cookie the server cannot continue from (RFC 4533
# e-syncRefreshRequired).
REFRESH_REQUIRED = 4096
# An OpenLDAP change sequence number: time, count, server id, modification count.
_CSN = r"[0-9]{14}\.[0-9]{6}Z#[0-9a-fA-F]{6}#[0-9a-fA-F]{3}#[0-9a-fA-F]{6}"
# OpenLDAP's cookie, ``rid=NNN[,sid=NNN][,csn=CSN[;CSN...]]`` and any further fields.
_OPENLDAP_COOKIE = re.compile(
    rf"rid=[0-9]{{1,3}}(?:,sid=[0-9a-fA-F]{{1,3}})?,csn={_CSN}(?:;{_CSN})*(?:,.*)?"
)
# A filter no entry matches: a refresh with it costs nothing and ends with a cookie.
MATCH_NOTHING = "(!(objectClass=*))"


# --- the two messages a refresh sends per entry, decoded without pyasn1 ------------------
#
# python-ldap decodes them with pyasn1, at about 0.3 ms each: most of the cost of reading
# a few thousand changes. Both are small fixed structures (RFC 4533 section 2.3 and 2.5),
# read here with a minimal BER reader that refuses anything else.

_STATES = ("present", "add", "modify", "delete")


def _element(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, start, end) of the BER element at `pos`, which must end by `end`."""
    if pos + 2 > end:
        raise ValueError("BER element cut short")
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4 or pos + size > end:
            raise ValueError("BER length malformed")
        length = int.from_bytes(data[pos : pos + size], "big")
        pos += size
    if pos + length > end:
        raise ValueError("BER element longer than its container")
    return tag, pos, pos + length


def _uuid(raw: bytes) -> str:
    if len(raw) != 16:
        raise ValueError("a syncUUID is 16 octets")
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def decode_state(value: bytes) -> tuple[str, str, str | None]:
    """syncStateValue ::= SEQUENCE { state ENUMERATED, entryUUID OCTET STRING (16),
    cookie OCTET STRING OPTIONAL } -> (state, entryUUID, cookie or None)."""
    tag, pos, end = _element(value, 0, len(value))
    if tag != 0x30 or end != len(value):
        raise ValueError("syncStateValue is not a SEQUENCE")
    tag, start, stop = _element(value, pos, end)
    if tag != 0x0A or stop - start != 1 or value[start] > 3:
        raise ValueError("syncStateValue state malformed")
    state = _STATES[value[start]]
    tag, start, pos = _element(value, stop, end)
    if tag != 0x04:
        raise ValueError("syncStateValue entryUUID malformed")
    entry_uuid = _uuid(value[start:pos])
    cookie = None
    if pos < end:
        tag, start, pos = _element(value, pos, end)
        if tag != 0x04 or pos != end:
            raise ValueError("syncStateValue cookie malformed")
        cookie = value[start:pos].decode("ascii")
    return state, entry_uuid, cookie


@dataclass
class Info:
    """A Sync Info Message: a new cookie, the end of a refresh phase, or a set of ids."""

    cookie: str | None = None
    # "newcookie", "refreshDelete", "refreshPresent" or "syncIdSet".
    kind: str = ""
    refresh_deletes: bool = False
    uuids: list[str] = field(default_factory=list)


_INFO_KINDS = {0x80: "newcookie", 0xA1: "refreshDelete", 0xA2: "refreshPresent", 0xA3: "syncIdSet"}


def decode_info(value: bytes) -> Info:
    """syncInfoValue ::= CHOICE { newcookie [0] syncCookie, refreshDelete [1] SEQUENCE
    {cookie OPTIONAL, refreshDone BOOLEAN DEFAULT TRUE}, refreshPresent [2] (the same),
    syncIdSet [3] SEQUENCE {cookie OPTIONAL, refreshDeletes BOOLEAN DEFAULT FALSE,
    syncUUIDs SET OF syncUUID} }."""
    tag, pos, end = _element(value, 0, len(value))
    if tag not in _INFO_KINDS or end != len(value):
        raise ValueError("syncInfoValue malformed")
    info = Info(kind=_INFO_KINDS[tag])
    if tag == 0x80:
        info.cookie = value[pos:end].decode("ascii")
        return info
    while pos < end:
        tag, start, pos = _element(value, pos, end)
        if tag == 0x04 and info.cookie is None:
            info.cookie = value[start:pos].decode("ascii")
        elif tag == 0x01 and pos - start == 1:
            info.refresh_deletes = value[start] != 0
        elif tag == 0x31 and info.kind == "syncIdSet":
            while start < pos:
                tag, first, start = _element(value, start, pos)
                if tag != 0x04:
                    raise ValueError("syncUUIDs malformed")
                info.uuids.append(_uuid(value[first:start]))
        else:
            raise ValueError("syncInfoValue malformed")
    if info.kind != "syncIdSet":
        info.refresh_deletes = False  # refreshDone, which a refresh-only read ignores
    return info


class _State(ResponseControl):
    controlType = _STATE_OID

    def decodeControlValue(self, encodedControlValue: bytes) -> None:
        self.state, self.entryUUID, self.cookie = decode_state(encodedControlValue)


# The response controls a refresh reads, with the fast decoder for the per-entry one.
_CONTROLS = {_STATE_OID: _State, _DONE_OID: SyncDoneControl}


def names_a_state(cookie: str) -> bool:
    """Whether `cookie` is an OpenLDAP cookie naming the state it was taken at. slapd
    answers a cookie without one (malformed, or from another kind of server) as if none
    were given: every entry as new and none deleted, which must not pass for the
    changes since the last sync."""
    return _OPENLDAP_COOKIE.fullmatch(cookie) is not None


class RefreshRequired(Exception):
    """The server cannot say what changed since the cookie; the message says why."""


@dataclass
class Refresh:
    """What one refresh said besides the changed entries it yielded."""

    # entryUUIDs of entries that left the search's scope since the cookie.
    deleted: list[str] = field(default_factory=list)
    # The cookie the server ended with (None: it gave none, nothing changed).
    cookie: str | None = None
    # The server answered in present mode: `deleted` is not the whole story.
    present: bool = False


def refresh(
    conn: ldap.ldapobject.SimpleLDAPObject,
    base: str,
    filterstr: str,
    attrs: list[str],
    cookie: str | None,
    timeout: float,
    scope: int = ldap.SCOPE_SUBTREE,
    into: Refresh | None = None,
) -> Iterator[tuple[str, str, dict[str, list[bytes]]]]:
    """Yield ``(dn, entryUUID, attributes)`` of each entry added or changed in scope since
    `cookie` (every entry in scope when it is None); `into` gets the deleted ids, the new
    cookie and the mode. Raises RefreshRequired when the server refuses the cookie and
    ldap.LDAPError for any other failure."""
    done = into if into is not None else Refresh()
    request = SyncRequestControl(criticality=True, cookie=cookie, mode="refreshOnly")
    msgid: int | None = conn.search_ext(base, scope, filterstr, attrs, serverctrls=[request])
    try:
        while True:
            try:
                rtype, rdata, _, rctrls, _, _ = conn.result4(
                    msgid,
                    all=0,
                    timeout=timeout,
                    add_ctrls=1,
                    add_intermediates=1,
                    resp_ctrl_classes=_CONTROLS,
                )
            except ValueError as exc:  # a sync state control this module cannot read
                raise _malformed(exc) from None
            except ldap.LDAPError as exc:
                msgid = None
                details = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
                if details.get("result") == REFRESH_REQUIRED:
                    raise RefreshRequired(
                        f"the server cannot continue from the cookie under {base}"
                    ) from None
                raise
            if rtype == ldap.RES_SEARCH_RESULT:
                msgid = None
                ended = next((c for c in rctrls or () if c.controlType == _DONE_OID), None)
                # Without the Sync Done control nothing says the deletions were named.
                if ended is None or not ended.refreshDeletes:
                    done.present = True
                if ended is not None and ended.cookie:
                    done.cookie = ended.cookie
                return
            if rtype == ldap.RES_INTERMEDIATE:
                for name, value, _ in rdata or ():
                    if name == _INFO_OID and value is not None:
                        try:
                            message = decode_info(value)
                        except ValueError as exc:
                            raise _malformed(exc) from None
                        _info(message, done)
                continue
            if rtype != ldap.RES_SEARCH_ENTRY:
                continue  # a search continuation reference
            for dn, entry, controls in rdata:
                state = next((c for c in controls if c.controlType == _STATE_OID), None)
                if state is None:
                    raise ldap.PROTOCOL_ERROR(
                        {"desc": "Protocol error", "info": f"no sync state for {dn}"}
                    )
                if state.cookie:
                    done.cookie = state.cookie
                if state.state in ("add", "modify"):
                    yield dn, state.entryUUID, entry
                elif state.state == "delete":
                    done.deleted.append(state.entryUUID)
                else:
                    done.present = True
    finally:
        if msgid is not None:
            try:
                conn.abandon_ext(msgid)
            except ldap.LDAPError:
                pass


def _malformed(exc: ValueError) -> ldap.LDAPError:
    return ldap.PROTOCOL_ERROR({"desc": "Protocol error", "info": f"malformed sync message: {exc}"})


def _info(message: Info, done: Refresh) -> None:
    if message.cookie:
        done.cookie = message.cookie
    if message.kind == "refreshPresent":
        done.present = True
    elif message.kind == "syncIdSet":
        if message.refresh_deletes:
            done.deleted.extend(message.uuids)
        else:
            done.present = True


def current_cookie(conn: ldap.ldapobject.SimpleLDAPObject, base: str, timeout: float) -> str:
    """The cookie of the database holding `base` as it is now, read without reading an
    entry; RefreshRequired when the server gives none."""
    done = Refresh()
    for _ in refresh(conn, base, MATCH_NOTHING, ["1.1"], None, timeout, ldap.SCOPE_BASE, done):
        pass
    if not done.cookie:
        raise RefreshRequired(f"the server gave no sync cookie for {base}")
    return done.cookie
