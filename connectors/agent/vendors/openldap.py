"""OpenLDAP and other standard LDAP servers: entryUUID ids, text fields, member and
uniqueMember values in full; incremental reads by content synchronization (RFC 4533)
where the server offers it, else by modifyTimestamp."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import ldap

from connectors.agent import contentsync
from connectors.agent.contentsync import Refresh, RefreshRequired
from connectors.agent.ldapsource import (
    DirectoryError,
    DirectorySource,
    _ldap_message,
    _text,
    _values,
)
from connectors.agent.request import SyncSettings
from connectors.protocol import dn as dnlib
from connectors.protocol.changes import (
    MODIFY_TIMESTAMP,
    REFRESH_REQUIRED,
    SYNC_COOKIE,
    check_cookies,
    format_generalized_time,
    parse_server_time,
)

STAMP = "modifyTimestamp"
# Seconds the watermark is set back beyond the read's own duration. The watermark must
# not be later than the server's clock when the read started (see `watermark`); this
# margin absorbs what that argument leaves out: the agent's and the server's clocks
# running at slightly different rates, timestamps cut to whole seconds, and a write
# whose timestamp was taken just before the read began but committed during it.
# Entries changed in this window are read once more; that costs little.
OVERLAP = 60
# How many entryUUIDs one search for entries that left a base looks up at once.
UUID_BATCH = 200


class OpenLDAPSource(DirectorySource):
    id_attribute = "entryUUID"

    def __init__(self, settings: SyncSettings) -> None:
        super().__init__(settings)
        # The greatest modifyTimestamp seen so far; GeneralizedTime values of one form
        # compare as byte strings, so the hot loops keep the raw value.
        self.newest = b""
        # An entry in scope had no modifyTimestamp (a server with lastmod off).
        self.unstamped = False
        # The sync cookie of each base as the read began, when the server offers
        # content synchronization: the next read's starting point.
        self.cookies: dict[str, str] = {}
        # Reading by cookie: the ids that left the scope, by kind, and the entries under
        # which every entry is read again (containers renamed, moved in or changed).
        self.by_cookie = False
        self.departed: dict[str, set[str]] = {"user": set(), "group": set()}
        self.roots: dict[str, list[str]] = {}
        # The ids under the containers that left each base.
        self.taken: dict[str, set[str]] = {}
        # What left each base under which no entry changed since its cookie.
        self.unchanged: dict[str, list[str]] = {}
        # Whether a cookie can be followed is only known once connected.
        self.decides_when_connected = (
            self.changes_since is not None and self.changes_since["kind"] == SYNC_COOKIE
        )

    def prepare(self) -> None:
        """Take each base's sync cookie before any entry is read; with a cookie watermark,
        ask the server what left the scope since, or read in full when it cannot say."""
        super().prepare()
        s = self.settings
        bases = list(dict.fromkeys((*s.user_dns, *s.group_dns)))
        contexts = self._root_dse()
        if contexts is not None:
            try:
                self.cookies = {
                    base: contentsync.current_cookie(self.conn, base, s.timeout) for base in bases
                }
                check_cookies(self.cookies)
            except (RefreshRequired, ValueError, ldap.LDAPError):
                self.cookies = {}
            if not all(map(contentsync.names_a_state, self.cookies.values())):
                self.cookies = {}  # cookies this agent could not follow: read by timestamp
        since = self.changes_since
        if since is None or since["kind"] != SYNC_COOKIE:
            return
        missing = [base for base in bases if base not in since["cookies"]]
        if contexts is None or not self.cookies:
            self._read_in_full(
                f"{s.address} no longer offers content synchronization (RFC 4533), "
                "which the last sync's watermark reads from"
            )
        elif missing:
            self._read_in_full(f"the last sync's watermark has no sync cookie for {missing[0]}")
        elif unknown := [b for b in bases if not contentsync.names_a_state(since["cookies"][b])]:
            self._read_in_full(
                f"the last sync's sync cookie for {unknown[0]} is not one {s.address} gives "
                "(it names no change sequence number)"
            )
        else:
            try:
                self._departures(bases, since["cookies"], contexts)
            except RefreshRequired as exc:
                self._read_in_full(str(exc))
                return
            self.by_cookie = True

    def _read_in_full(self, reason: str) -> None:
        self.read = "full"
        self.reason = reason

    def _root_dse(self) -> list[str] | None:
        """The server's naming contexts when it offers content synchronization and names
        them, else None."""
        conn = self.conn
        assert conn is not None, "open() first"
        try:
            result = conn.search_ext_s(
                "",
                ldap.SCOPE_BASE,
                "(objectClass=*)",
                ["supportedControl", "namingContexts"],
                timeout=self.settings.timeout,
            )
        except (ldap.SERVER_DOWN, ldap.TIMEOUT) as exc:
            raise self._error(exc, "the read of the root DSE") from None
        except ldap.LDAPError:
            return None
        for dn, entry in result:
            if dn is not None:
                controls = _values(entry, "supportedcontrol")
                contexts = [v.decode("utf-8", "replace") for v in _values(entry, "namingcontexts")]
                # Without the naming contexts a container moved out of a base cannot be
                # looked for: such a server is read by timestamp.
                if contentsync.SYNC_REQUEST_OID.encode() in controls and contexts:
                    return contexts
        return None

    def _departures(self, bases: list[str], cookies: dict[str, str], contexts: list[str]) -> None:
        """Before any record is sent: per base, a refresh over every entry since its
        cookie (ids and hasSubordinates only) says whether the server can name what left
        the scope since (else the read is full), which containers changed (the entries
        under them are read again: a renamed container renames what is under it without
        changing those entries), and which containers left the base: one that still
        exists elsewhere took the entries under it out of scope, unnamed by the server.

        The entries that left the scope themselves are named by the refresh each kind's
        records are read with (`_pages`), or by this one when no entry under the base
        changed (that refresh would name the same and send nothing). slapd names an entry
        changed outside a base among that base's departures: one another base's refresh
        saw as a leaf took nothing along and is not looked for."""
        s = self.settings
        conn = self.conn
        assert conn is not None
        gone: dict[str, list[str]] = {}
        leaves: set[str] = set()
        for base in bases:
            done = Refresh()
            roots = self.roots[base] = []
            changed = False
            try:
                for dn, uuid, entry in contentsync.refresh(
                    conn,
                    base,
                    "(objectClass=*)",
                    ["hasSubordinates"],
                    cookies[base],
                    s.timeout,
                    into=done,
                ):
                    changed = True
                    if _may_hold_entries(entry):
                        roots.append(dn)
                    else:
                        leaves.add(uuid)
            except (ldap.SERVER_DOWN, ldap.TIMEOUT, ldap.NO_SUCH_OBJECT) as exc:
                raise self._error(exc, "search", base, "entries") from None
            except ldap.LDAPError as exc:
                # A cookie refused (a state newer than the server's), a size limit, the
                # control not allowed to this bind DN: a full read may still succeed.
                raise RefreshRequired(
                    f"{s.address} refused the refresh under {base} since the last sync's "
                    f"cookie: {_ldap_message(exc)}"
                ) from None
            if done.present:
                raise self._log_lost(base)
            gone[base] = done.deleted
            if not changed:
                self.unchanged[base] = done.deleted
        for base in bases:
            looked_for = [uuid for uuid in gone[base] if uuid not in leaves]
            self.taken[base] = self._taken_along(base, looked_for, contexts)

    def _log_lost(self, base: str) -> RefreshRequired:
        """The server answered in present mode: it lists what is there, not what left."""
        return RefreshRequired(
            f"{self.settings.address} cannot name the entries deleted under {base} since the "
            "last sync (its session log was lost in a restart or does not reach back that far)"
        )

    def _taken_along(self, base: str, gone: list[str], contexts: list[str]) -> set[str]:
        """The ids of every entry under each container among `gone` that still exists
        apart from `base` (moved out of it): they left the scope with it.

        slapd also names entries changed outside the base, among them the base's own
        ancestors: a container that holds the base (or lies in it) took nothing out."""
        conn = self.conn
        assert conn is not None
        timeout = self.settings.timeout
        base_key = dnlib.key(base)
        taken: set[str] = set()
        for start in range(0, len(gone), UUID_BATCH):
            ids = "".join(f"(entryUUID={uuid})" for uuid in gone[start : start + UUID_BATCH])
            for context in contexts:
                try:
                    found = conn.search_ext_s(
                        context,
                        ldap.SCOPE_SUBTREE,
                        f"(|{ids})",
                        ["hasSubordinates"],
                        timeout=timeout,
                    )
                except ldap.NO_SUCH_OBJECT:
                    continue
                except ldap.LDAPError as exc:
                    raise self._error(exc, "search", context, "entries") from None
                for dn, entry in found:
                    if dn is None or not _may_hold_entries(entry):
                        continue
                    where = dnlib.key(dn)
                    if dnlib.within(base_key, where) or dnlib.within(where, base_key):
                        continue
                    for page in super()._pages(dn, "(objectClass=*)", ["entryUUID"], "entries"):
                        for _, below in page:
                            uuids = _values(below, "entryuuid")
                            taken.update(v.decode("ascii", "replace") for v in uuids)
        return taken

    def presence_attributes(self) -> list[str]:
        return [self.id_attribute, STAMP]

    def note_entry(self, entry: dict[str, list[bytes]]) -> None:
        stamps = entry.get(STAMP) or self._stamps(entry)
        if stamps[0] > self.newest:
            self.newest = stamps[0]

    def _stamps(self, entry: dict[str, list[bytes]]) -> list[bytes]:
        """modifyTimestamp spelled otherwise, or [b""] (noted) when the entry has none."""
        stamps = _values(entry, "modifytimestamp")
        if not stamps:
            self.unstamped = True
            return [b""]
        return stamps

    def changed_filter(self, filterstr: str) -> str:
        assert self.changes_since is not None
        if self.by_cookie:
            return filterstr  # the cookie, not the filter, narrows the read
        return f"(&{filterstr}({STAMP}>={self.changes_since['value']}))"

    @property
    def names_departures(self) -> bool:
        return self.by_cookie

    def scope(self, kind: str) -> Iterator[dict[str, Any]]:
        """By cookie: ``deleted`` records naming the ids that left the scope (at most
        page_size per record), known once the records are read; else the presence
        listing."""
        if not self.by_cookie:
            yield from super().scope(kind)
            return
        ids = sorted(self.departed[kind])
        size = self.settings.page_size
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            self.departed_counts[kind] += len(chunk)
            yield {"type": "deleted", "kind": kind, "ids": chunk}

    def _pages(self, base: str, filterstr: str, attrs: list[str], what: str) -> Iterator[list]:
        """By cookie: the entries changed under `base` since its cookie, then every entry
        under the containers that changed; else the paged search."""
        if not self.by_cookie:
            yield from super()._pages(base, filterstr, attrs, what)
            return
        assert self.conn is not None and self.changes_since is not None
        if base in self.unchanged:
            # Nothing under the base changed since its cookie: its departures are known.
            self.departed[what[:-1]].update(self.unchanged[base], self.taken[base])
            return
        s = self.settings
        size = s.page_size
        roots = self.roots.get(base, ())
        # The ids sent, so an entry under a changed container is sent once (kept only
        # when there is such a container: it costs about 100 bytes an entry).
        sent: set[str] = set()
        page: list[tuple[str, dict]] = []
        done = Refresh()
        try:
            for dn, uuid, entry in contentsync.refresh(
                self.conn,
                base,
                filterstr,
                attrs,
                self.changes_since["cookies"][base],
                s.timeout,
                into=done,
            ):
                if roots:
                    sent.add(uuid)
                page.append((dn, entry))
                if len(page) >= size:
                    yield page
                    page = []
        except RefreshRequired as exc:
            raise _refresh_required(exc) from None
        except (ldap.SERVER_DOWN, ldap.TIMEOUT) as exc:
            raise self._error(exc, "search", base, what) from None
        except ldap.LDAPError as exc:
            # E.g. a size limit a paged full read would not meet.
            raise _refresh_required(
                f"{s.address} refused the refresh of the {what} under {base}: {_ldap_message(exc)}"
            ) from None
        if done.present:
            raise _refresh_required(self._log_lost(base))
        self.departed[what[:-1]].update(done.deleted, self.taken[base])
        for root in roots:
            for found in super()._pages(root, filterstr, attrs, what):
                for dn, entry in found:
                    if dn is None:
                        continue
                    ids = _values(entry, "entryuuid")
                    uuid = ids[0].decode("ascii", "replace") if ids else dn
                    if uuid not in sent:
                        sent.add(uuid)
                        page.append((dn, entry))
                if len(page) >= size:
                    yield page
                    page = []
        if page:
            yield page

    def watermark(self) -> dict[str, Any] | None:
        """The greatest modifyTimestamp read (W), less the read's duration (d) and OVERLAP.

        A change made after the read started carries a timestamp at or after S, the
        server's time when the read started. W is no later than the server's time when
        the read ended, which is S + d, so S >= W - d: every such change is at or after
        W - d, and the next read, asking for modifyTimestamp >= W - d - OVERLAP, sees it.
        """
        if self.cookies:
            return {"kind": SYNC_COOKIE, "cookies": dict(self.cookies)}
        if self.unstamped:
            return None  # some entry would never look changed: only full reads are safe
        if not self.newest:
            # Nothing in scope. An incremental read's starting point still holds (any
            # change since would have been listed); a full read has nothing to go by.
            return dict(self.changes_since) if self.read == "incremental" else None
        newest = parse_server_time(self.newest)
        if newest is None:
            return None  # not a UTC GeneralizedTime: the values cannot be compared
        assert self.started is not None
        took = math.ceil(time.monotonic() - self.started)
        value = newest - timedelta(seconds=took + OVERLAP)
        return {"kind": MODIFY_TIMESTAMP, "value": format_generalized_time(value)}

    def decode_id(self, raw: bytes, dn: str) -> str:
        return raw.decode("ascii", "replace")

    def group_attributes(self) -> list[str]:
        return [self.id_attribute, "cn", "member", "uniqueMember", STAMP]

    def collect_members(self, dn: str, attribute: str, values: list[bytes], into: list[str]):
        if attribute in ("member", "uniquemember"):
            into.extend(v.decode("utf-8", "replace") for v in values)
        return None

    def users(self) -> Iterator[dict[str, Any]]:
        """The users loop for directories whose every field is text (type ``ldap``).

        The hot path of a large sync: each attribute fills one field directly, and
        the rare attribute mapped to several fields is copied once per entry after.
        """
        s = self.settings
        targets, attrs, template = self.user_targets({})
        if STAMP.lower() not in targets:
            attrs.append(STAMP)
        single = {attr: fields[0] for attr, fields in targets.items()}
        copies = [(fields[0], extra) for fields in targets.values() for extra in fields[1:]]
        resolved: dict[str, str] = {}
        filterstr = self.read_filter(s.user_filter)
        for base in s.user_dns:
            for page in self._pages(base, filterstr, attrs, "users"):
                newest = self.newest
                for dn, entry in page:
                    if dn is None:
                        continue
                    stamps = entry.get(STAMP) or self._stamps(entry)
                    if stamps[0] > newest:
                        newest = stamps[0]
                    record = template.copy()
                    record["dn"] = dn
                    for key, values in entry.items():
                        name = resolved.get(key)
                        if name is None:
                            name = resolved[key] = single.get(key.lower(), "")
                        if name:
                            if len(values) == 1:
                                record[name] = values[0].decode("utf-8", "replace")
                            else:
                                record[name] = _text(dn, key, values)
                    for source, target in copies:
                        record[target] = record[source]
                    yield record
                self.newest = newest


def _refresh_required(reason: object) -> DirectoryError:
    """The server stopped following the cookie once the read had begun: the service reads
    the directory again in full (its ``refresh_required`` error)."""
    return DirectoryError(REFRESH_REQUIRED, f"{reason}; the directory is read in full instead")


def _may_hold_entries(entry: dict[str, list[bytes]]) -> bool:
    """Whether an entry has entries under it, or may (hasSubordinates not readable)."""
    return _values(entry, "hassubordinates")[:1] != [b"FALSE"]
