"""Reading a directory over LDAP: the connection, paged searches, lookups and errors.

The vendor's own reading (ids, user fields, group members, what an incremental read
starts from) is in a subclass: `openldap.OpenLDAPSource`,
`active_directory.ActiveDirectorySource`; `source_for` picks one.

A read is full (every user and group) or, when the request carries ``changes_since``,
incremental: a presence listing of every entry in scope (ids and DNs only), or where the
server can name them the ids of the entries that left the scope, then the user and
group records of the entries changed since then. Either ends with a watermark
the service sends back as the next ``changes_since``.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import ldap
from ldap.controls import SimplePagedResultsControl

from connectors.agent.request import SyncSettings
from connectors.protocol.records import pick_value
from connectors.protocol.settings import MAPPED_FIELDS as FIELDS

# How many lookup searches are in flight at once.
LOOKUP_WINDOW = 64
_PAGED_OID = SimplePagedResultsControl.controlType


class DirectoryError(Exception):
    """A failure the agent can name; becomes an ``error`` record."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class DirectorySource:
    """One connection to the directory for one sync; yields user and group records."""

    # The attribute holding each entry's stable id; set by each vendor.
    id_attribute = ""
    # Whether the read (full or incremental) is only known once connected: AD checks
    # that the domain controller is the one the watermark came from.
    decides_when_connected = False

    def __init__(self, settings: SyncSettings) -> None:
        self.settings = settings
        self.conn: ldap.ldapobject.SimpleLDAPObject | None = None
        self._ca_path: str | None = None
        self._id_attr = self.id_attribute
        self.changes_since = settings.changes_since
        # "full" or "incremental"; `reason` says why a read asked to be incremental is full.
        self.read = "incremental" if self.changes_since is not None else "full"
        self.reason: str | None = None
        # Entries each presence listing named, by kind ("user", "group").
        self.present_counts = {"user": 0, "group": 0}
        # Ids each list of departures named, by kind (reads that name departures only).
        self.departed_counts = {"user": 0, "group": 0}
        # When the first search was sent (the agent's monotonic clock).
        self.started: float | None = None
        # A paged search was abandoned on this connection (see `_pages`).
        self._paging_abandoned = False

    # --- connection -------------------------------------------------------------

    def open(self) -> None:
        """Connect, secure the connection as configured, and bind."""
        s = self.settings
        try:
            conn = ldap.initialize(s.uri)
            conn.protocol_version = ldap.VERSION3
            # Referrals would make libldap chase other servers with our credentials.
            conn.set_option(ldap.OPT_REFERRALS, 0)
            conn.set_option(ldap.OPT_NETWORK_TIMEOUT, s.timeout)
            conn.set_option(ldap.OPT_TIMEOUT, s.timeout)
            if s.security != "none":
                conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
                if s.ca_cert:
                    self._ca_path = self._write_ca(s.ca_cert)
                    conn.set_option(ldap.OPT_X_TLS_CACERTFILE, self._ca_path)
                # Builds this connection's own TLS context from the options above; the
                # CA file is read now and is not needed afterwards.
                conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
                self._remove_ca_file()
        except ldap.LDAPError as exc:
            # libldap refuses the URI (e.g. a host it cannot parse); a TLS context that
            # cannot be built comes as ValueError below.
            raise DirectoryError(
                "ldap_error", f"cannot set up the connection to {s.address}: {_ldap_message(exc)}"
            ) from None
        except ValueError:
            # libldap refuses the TLS context ("option error"): the CA file is unusable.
            self._remove_ca_file()
            raise DirectoryError(
                "tls",
                f"cannot set up TLS to {s.address}: the CA certificate given is not a "
                "readable PEM certificate",
            ) from None
        self.conn = conn
        if s.security == "starttls":
            try:
                conn.start_tls_s()
            except ldap.LDAPError as exc:
                raise self._error(exc, "starttls") from None
        if s.bind_dn and not s.bind_password:
            # An empty password turns a simple bind into an unauthenticated (anonymous)
            # one on many servers; refuse rather than silently read as nobody.
            raise DirectoryError("invalid_credentials", f"no bind password given for {s.bind_dn}")
        try:
            conn.simple_bind_s(s.bind_dn, s.bind_password)
        except ldap.LDAPError as exc:
            raise self._error(exc, "bind") from None

    def close(self) -> None:
        """Unbind and forget the connection; safe to call more than once."""
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.unbind_ext_s()
            except ldap.LDAPError:
                pass
        self._remove_ca_file()

    def _remove_ca_file(self) -> None:
        if self._ca_path:
            try:
                os.unlink(self._ca_path)
            except OSError:
                pass
            self._ca_path = None

    def __enter__(self) -> DirectorySource:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _write_ca(pem: str) -> str:
        fd, path = tempfile.mkstemp(prefix="connector-ca-", suffix=".pem")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(pem)
        return path

    # --- errors -----------------------------------------------------------------

    def _tls_error(self, detail: str) -> DirectoryError:
        s = self.settings
        how = "StartTLS" if s.security == "starttls" else "TLS (ldaps)"
        trust = "the CA certificate given" if s.ca_cert else "the system's trusted CAs"
        return DirectoryError(
            "tls",
            f"{how} with {s.address} failed: {detail}; check that the server speaks "
            f"{'StartTLS' if s.security == 'starttls' else 'LDAPS'} on this port and that its "
            f"certificate is signed by {trust} and names {s.host}",
        )

    def _error(
        self, exc: ldap.LDAPError, phase: str, dn: str = "", what: str = ""
    ) -> DirectoryError:
        s = self.settings
        detail = _ldap_message(exc)
        if isinstance(exc, ldap.TIMEOUT):
            return DirectoryError(
                "unreachable",
                f"LDAP server {s.address} did not answer within {s.timeout:g} s ({phase})",
            )
        if isinstance(exc, ldap.SERVER_DOWN):
            # libldap reports a failed TLS handshake on ldaps:// as "can't contact";
            # a server that accepts TCP connections is up, so TLS is what failed.
            if s.security != "none" and (
                _looks_like_tls(detail) or _tcp_reachable(s.host, s.port, s.timeout)
            ):
                return self._tls_error(detail)
            return DirectoryError("unreachable", f"cannot reach LDAP server {s.address}: {detail}")
        if isinstance(exc, ldap.CONNECT_ERROR) or phase == "starttls":
            return self._tls_error(detail)
        if isinstance(exc, ldap.INVALID_CREDENTIALS):
            who = s.bind_dn or "anonymous"
            return DirectoryError(
                "invalid_credentials", f"{s.address} refused the bind as {who}: {detail}"
            )
        if phase == "bind" and isinstance(
            exc, (ldap.INAPPROPRIATE_AUTH, ldap.UNWILLING_TO_PERFORM)
        ):
            who = s.bind_dn or "anonymous"
            return DirectoryError(
                "invalid_credentials", f"{s.address} refused the bind as {who}: {detail}"
            )
        if isinstance(exc, ldap.NO_SUCH_OBJECT):
            label = "base" if not what or dn == s.base_dn else what
            return DirectoryError(
                "no_such_object", f"{label} DN {dn} does not exist on {s.address}"
            )
        if isinstance(exc, ldap.FILTER_ERROR):
            filterstr = s.user_filter if what == "users" else s.group_filter
            return DirectoryError("ldap_error", f"{what} filter {filterstr} is not valid: {detail}")
        if isinstance(exc, ldap.SIZELIMIT_EXCEEDED):
            return DirectoryError(
                "ldap_error",
                f"{s.address} cut the {what} under {dn} at its size limit; "
                f"raise the limit for {s.bind_dn or 'anonymous'}: {detail}",
            )
        where = f" reading {what} under {dn}" if dn else f" during {phase}"
        return DirectoryError("ldap_error", f"LDAP error from {s.address}{where}: {detail}")

    # --- searching --------------------------------------------------------------

    def _pages(self, base: str, filterstr: str, attrs: list[str], what: str) -> Iterator[list]:
        """Yield the entries of a paged subtree search one page at a time.

        The next page is requested before the current one is handed out, so the
        server prepares it while the caller encodes and sends this one.
        """
        if self._paging_abandoned:
            # The server keeps one paged search per connection, and an abandon is not
            # answered: the abandoned search may still be running, and its state be taken
            # for a new one's ("paged results cookie is invalid or old"), now and then.
            # The agent reads through a new source per request, so this never happens;
            # if it did, it fails here every time instead of now and then on the server.
            raise RuntimeError(
                "a paged search was abandoned on this connection: read through a new one"
            )
        conn = self.conn
        assert conn is not None, "open() first"
        s = self.settings
        ctrl = SimplePagedResultsControl(True, size=s.page_size, cookie=b"")
        msgid: int | None = None
        try:
            msgid = conn.search_ext(base, ldap.SCOPE_SUBTREE, filterstr, attrs, serverctrls=[ctrl])
            while True:
                _, entries, _, controls = conn.result3(msgid, all=1, timeout=s.timeout)
                cookie = b""
                for control in controls or ():
                    if control.controlType == _PAGED_OID:
                        cookie = control.cookie
                        break
                if cookie:
                    ctrl.cookie = cookie
                    msgid = conn.search_ext(
                        base, ldap.SCOPE_SUBTREE, filterstr, attrs, serverctrls=[ctrl]
                    )
                else:
                    msgid = None
                yield entries
                if msgid is None:
                    return
        except ldap.LDAPError as exc:
            msgid = None
            raise self._error(exc, "search", base, what) from None
        finally:
            if msgid is not None and self.conn is not None:
                # The caller stopped early; tell the server to drop the pending page.
                self._paging_abandoned = True
                try:
                    conn.abandon_ext(msgid)
                except ldap.LDAPError:
                    pass

    def lookup(self, dns: list[str]) -> list[dict[str, Any]]:
        """Whether each DN names an entry, and its object classes if it does.

        Base-scope reads, a window of them in flight at once. ``exists`` is None when
        the server gave another answer than the entry or "no such object".
        """
        conn = self.conn
        assert conn is not None, "open() first"
        timeout = self.settings.timeout
        out: list[dict[str, Any]] = []
        for start in range(0, len(dns), LOOKUP_WINDOW):
            pending: list[tuple[str, int | None]] = []
            for dn in dns[start : start + LOOKUP_WINDOW]:
                try:
                    msgid = conn.search_ext(
                        dn, ldap.SCOPE_BASE, "(objectClass=*)", ["objectClass", self._id_attr]
                    )
                except ldap.SERVER_DOWN as exc:
                    # A connection libldap knows is lost: no answer about this DN.
                    raise self._error(exc, "search") from None
                except (ldap.LDAPError, ValueError):
                    # Refused before it was sent: not a DN libldap accepts (a NUL
                    # character, a lone surrogate that has no UTF-8 form).
                    msgid = None
                pending.append((dn, msgid))
            for dn, msgid in pending:
                out.append(self._lookup_result(dn, msgid, timeout))
        return out

    def _lookup_result(self, dn: str, msgid: int | None, timeout: float) -> dict[str, Any]:
        conn = self.conn
        assert conn is not None
        if msgid is None:
            return {"dn": dn, "exists": False, "detail": "not a valid DN"}
        try:
            _, entries = conn.result(msgid, all=1, timeout=timeout)
        except (ldap.NO_SUCH_OBJECT, ldap.INVALID_DN_SYNTAX) as exc:
            return {"dn": dn, "exists": False, "detail": _ldap_message(exc)}
        except (ldap.TIMEOUT, ldap.SERVER_DOWN) as exc:
            raise self._error(exc, "search") from None
        except ldap.LDAPError as exc:
            return {"dn": dn, "exists": None, "detail": _ldap_message(exc)}
        id_key = self._id_attr.lower()
        for entry_dn, attrs in entries:
            if entry_dn is None:
                continue
            found: dict[str, Any] = {"dn": dn, "exists": True, "entry_dn": entry_dn, "id": None}
            found["object_classes"] = []
            for name, values in attrs.items():
                lowered = name.lower()
                if lowered == "objectclass":
                    found["object_classes"] = [v.decode("utf-8", "replace") for v in values]
                elif lowered == id_key and values:
                    raw = values[0]
                    found["id"] = self.decode_id(raw, entry_dn)
            return found
        return {"dn": dn, "exists": None, "detail": "the server returned no entry"}

    # --- incremental reads ------------------------------------------------------------

    def prepare(self) -> None:
        """Once connected, before any entry is read: note the time and read what the
        watermark needs; a vendor may turn an incremental read into a full one here."""
        self.started = time.monotonic()

    def watermark(self) -> dict[str, Any] | None:
        """What the next read may start from (its ``changes_since``), or None; asked once
        every entry has been read."""
        raise NotImplementedError

    def changed_filter(self, filterstr: str) -> str:
        """`filterstr` narrowed to the entries changed since ``changes_since``."""
        raise NotImplementedError

    def read_filter(self, filterstr: str) -> str:
        """The filter user or group records are read with: the configured one, narrowed
        to changed entries in an incremental read."""
        if self.read == "incremental":
            return self.changed_filter(_parenthesized(filterstr))
        return filterstr

    def group_read_filter(self) -> str:
        """The filter group records are read with (a vendor may read every group whole)."""
        return self.read_filter(self.settings.group_filter)

    @property
    def names_departures(self) -> bool:
        """Whether this incremental read names the entries that left the scope
        (``deleted`` records) instead of listing every entry in it."""
        return False

    def scope(self, kind: str) -> Iterator[dict[str, Any]]:
        """What tells the service which entries of `kind` are in scope in an incremental
        read: the presence listing, unless the vendor names the departures."""
        return self.present(kind)

    def presence_attributes(self) -> list[str]:
        """What a presence listing asks for: the stable id and nothing else."""
        return [self._id_attr]

    def note_entry(self, entry: dict[str, list[bytes]]) -> None:
        """See one entry of a presence listing (OpenLDAP: its modifyTimestamp)."""

    def present(self, kind: str) -> Iterator[dict[str, Any]]:
        """``present`` records naming every user (``kind="user"``) or group in scope:
        the same bases and filter as a full read, ``[id, dn]`` pairs, at most page_size
        of them per record."""
        s = self.settings
        if kind == "user":
            bases, filterstr, what = s.user_dns, s.user_filter, "users"
        else:
            bases, filterstr, what = s.group_dns, s.group_filter, "groups"
        attrs = self.presence_attributes()
        id_attr = self._id_attr
        id_key = id_attr.lower()
        size = s.page_size
        note = self.note_entry
        for base in bases:
            for page in self._pages(base, filterstr, attrs, what):
                listed: list[list[str | None]] = []
                for dn, entry in page:
                    if dn is None:
                        continue  # a search continuation reference
                    note(entry)
                    values = entry.get(id_attr) or _values(entry, id_key)
                    listed.append([self.decode_id(values[0], dn) if values else None, dn])
                for start in range(0, len(listed), size):
                    chunk = listed[start : start + size]
                    self.present_counts[kind] += len(chunk)
                    yield {"type": "present", "kind": kind, "entries": chunk}

    # --- reading, per vendor --------------------------------------------------------

    def decode_id(self, raw: bytes, dn: str) -> str:
        """The stable id's value as the record carries it."""
        raise NotImplementedError

    def users(self) -> Iterator[dict[str, Any]]:
        """Yield one ``user`` record per user entry, in directory order, page by page."""
        raise NotImplementedError

    def user_targets(
        self, extra: dict[str, str]
    ) -> tuple[dict[str, list[str]], list[str], dict[str, Any]]:
        """(attribute lowercased -> record fields it fills, attributes to ask for, an empty
        record). One attribute may fill several fields (e.g. mail as username and email);
        `extra` maps a vendor's own attributes to their fields."""
        s = self.settings
        targets: dict[str, list[str]] = {self._id_attr.lower(): ["id"]}
        for name, attr in s.mapped_attributes.items():
            targets.setdefault(attr.lower(), []).append(name)
        for attr, name in extra.items():
            targets.setdefault(attr.lower(), []).append(name)
        attrs = [self._id_attr, *dict.fromkeys(s.mapped_attributes.values()), *extra]
        template = dict.fromkeys(("type", "id", "dn", *FIELDS, "upn"))
        template["type"] = "user"
        template["disabled"] = False
        return targets, attrs, template

    def group_attributes(self) -> list[str]:
        raise NotImplementedError

    def collect_members(self, dn: str, attribute: str, values: list[bytes], into: list[str]):
        """Add the member values of one attribute of a group entry to `into`; return
        where a ranged read must go on (AD), or None."""
        raise NotImplementedError

    def more_members(self, dn: str, high: str) -> Iterator[str]:
        """Members beyond a ranged read that ended at `high` (AD only)."""
        raise NotImplementedError

    def groups(self) -> Iterator[dict[str, Any]]:
        """Yield one ``group`` record per group entry with its complete direct member list."""
        s = self.settings
        attrs = self.group_attributes()
        id_key = self._id_attr.lower()
        filterstr = self.group_read_filter()
        note = self.note_entry
        for base in s.group_dns:
            for page in self._pages(base, filterstr, attrs, "groups"):
                for dn, entry in page:
                    if dn is None:
                        continue
                    note(entry)
                    group_id = name = None
                    members: list[str] = []
                    more: str | None = None
                    for key, values in entry.items():
                        lowered = key.lower()
                        if lowered == id_key:
                            group_id = self.decode_id(values[0], dn)
                        elif lowered == "cn":
                            name = _text(dn, key, values)
                        else:
                            more = self.collect_members(dn, lowered, values, members) or more
                    if more is not None:
                        members.extend(self.more_members(dn, more))
                    yield {
                        "type": "group",
                        "id": group_id,
                        "dn": dn,
                        "name": name,
                        "members": members,
                    }


def _ldap_message(exc: ldap.LDAPError) -> str:
    """``desc (info)`` from a python-ldap exception, without anything it did not say."""
    details = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    desc = details.get("desc") or type(exc).__name__
    info = details.get("info")
    if isinstance(info, bytes):
        info = info.decode("utf-8", "replace")
    if info == "(unknown error code)":
        info = None  # libldap's placeholder when it has nothing to add
    return f"{desc} ({info})" if info else str(desc)


def _values(entry: dict[str, list[bytes]], lowered: str) -> list[bytes]:
    """An attribute's values whatever the server's spelling of its name; [] if absent."""
    for key, values in entry.items():
        if key.lower() == lowered:
            return values
    return []


def _parenthesized(filterstr: str) -> str:
    """A configured filter as one parenthesized filter, to nest in ``(&...)``."""
    text = filterstr.strip()
    return text if text.startswith("(") else f"({text})"


def _text(dn: str, attribute: str, values: list[bytes]) -> str:
    """The value a record keeps of an attribute (one rule for several values: pick_value)."""
    if len(values) == 1:
        return values[0].decode("utf-8", "replace")
    return pick_value(dn, attribute, [v.decode("utf-8", "replace") for v in values])


def _tcp_reachable(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=min(timeout, 5.0)):
            return True
    except OSError:
        return False


def _looks_like_tls(detail: str) -> bool:
    text = detail.lower()
    return any(word in text for word in ("tls", "ssl", "certificate", "handshake"))
