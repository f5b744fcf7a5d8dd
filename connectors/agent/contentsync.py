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
                    msgid, all=0, timeout=timeout, add_ctrls=1, add_intermediates=1
                )
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
                for control in rctrls or ():
                    if control.controlType == _DONE_OID:
                        done.cookie = control.cookie or done.cookie
                        if not control.refreshDeletes:
                            done.present = True
                return
            if rtype == ldap.RES_INTERMEDIATE:
                for name, value, _ in rdata or ():
                    if name == _INFO_OID and value is not None:
                        _info(SyncInfoMessage(value), done)
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


def _info(message: SyncInfoMessage, done: Refresh) -> None:
    if message.newcookie:
        done.cookie = message.newcookie
        return
    for phase in (message.refreshDelete, message.refreshPresent, message.syncIdSet):
        if phase and phase.get("cookie"):
            done.cookie = phase["cookie"]
    if message.refreshPresent is not None:
        done.present = True
    if message.syncIdSet is not None:
        if message.syncIdSet["refreshDeletes"]:
            done.deleted.extend(message.syncIdSet["syncUUIDs"])
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
