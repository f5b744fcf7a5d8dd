"""Reading users and groups from LDAP / Active Directory with paged searches."""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import ldap
from ldap.controls import SimplePagedResultsControl

from connectors.protocol import dn as dnlib
from connectors.protocol.records import pick_value
from connectors.protocol.settings import (
    ATTRIBUTE,
    DEFAULT_FILTERS,
    DEFAULT_MAPPINGS,
    SECURITY,
    TYPES,
    check_dn,
)
from connectors.protocol.settings import MAPPED_FIELDS as FIELDS

DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 100_000
DEFAULT_TIMEOUT = 10.0
# What Windows AD hands out per range by default; asking for it explicitly also makes
# Samba (which otherwise returns every value) page through large groups the same way.
AD_RANGE_STEP = 1500

ID_ATTRIBUTE = {"ldap": "entryUUID", "ad": "objectGUID"}

_RANGE_PREFIX = "member;range="
# Most DNs one /lookup request may ask about, and how many searches are in flight at once.
MAX_LOOKUP = 1000
LOOKUP_WINDOW = 64
_PAGED_OID = SimplePagedResultsControl.controlType


class RequestError(ValueError):
    """The /sync request body is malformed; the message says what is wrong."""


class DirectoryError(Exception):
    """A failure the agent can name; becomes an ``error`` record."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SyncSettings:
    """A validated /sync request."""

    directory_id: Any
    directory_type: str
    host: str
    port: int
    security: str
    base_dn: str
    bind_dn: str
    bind_password: str = field(repr=False)
    timeout: float
    ca_cert: str | None
    user_dns: tuple[str, ...]
    user_filter: str
    group_dns: tuple[str, ...]
    group_filter: str
    mapped_attributes: Mapping[str, str]
    page_size: int

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def uri(self) -> str:
        scheme = "ldaps" if self.security == "ssl" else "ldap"
        return f"{scheme}://{self.address}"

    @classmethod
    def from_request(cls, body: Any, default_page_size: int = DEFAULT_PAGE_SIZE) -> SyncSettings:
        """Validate a decoded request body; raise :class:`RequestError` when it is malformed."""
        body = _object(body, "request body")
        directory = _object(body.get("directory"), "directory")
        dtype = directory.get("type")
        if dtype not in TYPES:
            raise RequestError(f"directory.type must be one of {', '.join(TYPES)}")
        directory_id = directory.get("id")
        if directory_id is not None and (
            isinstance(directory_id, bool) or not isinstance(directory_id, (int, str))
        ):
            raise RequestError("directory.id must be an integer or a string")

        conn = _object(body.get("connection"), "connection")
        host = _string(conn.get("host"), "connection.host", required=True)
        security = conn.get("security", "none") or "none"
        if security not in SECURITY:
            raise RequestError(f"connection.security must be one of {', '.join(SECURITY)}")
        port = conn.get("port")
        if port is None:
            port = 636 if security == "ssl" else 389
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise RequestError("connection.port must be an integer between 1 and 65535")
        base_dn = _checked(
            check_dn, _string(conn.get("base_dn"), "connection.base_dn", required=True),
            "connection.base_dn",
        )  # fmt: skip
        bind_dn = _checked(
            lambda v: check_dn(v, allow_empty=True),
            _string(conn.get("bind_dn"), "connection.bind_dn"),
            "connection.bind_dn",
        )
        bind_password = _string(conn.get("bind_password"), "connection.bind_password", strip=False)
        timeout = conn.get("timeout", DEFAULT_TIMEOUT)
        if timeout is None:
            timeout = DEFAULT_TIMEOUT
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise RequestError("connection.timeout must be a positive number of seconds")
        ca_cert = conn.get("ca_cert")
        if ca_cert is not None and (not isinstance(ca_cert, str) or "-----BEGIN" not in ca_cert):
            raise RequestError("connection.ca_cert must be PEM text")

        user_dns, user_filter = _scope(body.get("users"), "users", DEFAULT_FILTERS[dtype])
        group_dns, group_filter = _scope(body.get("groups"), "groups", DEFAULT_FILTERS[dtype])

        mapping = dict(DEFAULT_MAPPINGS[dtype])
        mapped = body.get("mapped_attributes")
        if mapped is not None:
            mapped = _object(mapped, "mapped_attributes")
            for key, value in mapped.items():
                if key not in FIELDS:
                    raise RequestError(
                        f"mapped_attributes.{key} is not a known field (known: {', '.join(FIELDS)})"
                    )
                if value in (None, ""):
                    continue
                if not isinstance(value, str) or not ATTRIBUTE.match(value):
                    raise RequestError(f"mapped_attributes.{key} must be an LDAP attribute name")
                mapping[key] = value

        page_size = body.get("page_size")
        if page_size is None:
            page_size = default_page_size
        if (
            isinstance(page_size, bool)
            or not isinstance(page_size, int)
            or not 0 < page_size <= MAX_PAGE_SIZE
        ):
            raise RequestError(f"page_size must be an integer between 1 and {MAX_PAGE_SIZE}")

        return cls(
            directory_id=directory_id,
            directory_type=dtype,
            host=host,
            port=port,
            security=security,
            base_dn=base_dn,
            bind_dn=bind_dn,
            bind_password=bind_password,
            timeout=float(timeout),
            ca_cert=ca_cert,
            user_dns=dnlib.outermost(user_dns or (base_dn,)),
            user_filter=user_filter,
            group_dns=dnlib.outermost(group_dns or (base_dn,)),
            group_filter=group_filter,
            mapped_attributes=mapping,
            page_size=page_size,
        )


def lookup_dns(body: Any) -> list[str]:
    """The ``dns`` of a /lookup request body; raise :class:`RequestError` when malformed."""
    dns = _object(body, "request body").get("dns")
    if not isinstance(dns, list) or not all(isinstance(dn, str) for dn in dns):
        raise RequestError("dns must be a list of strings")
    if len(dns) > MAX_LOOKUP:
        raise RequestError(f"dns may hold at most {MAX_LOOKUP} DNs")
    return dns


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RequestError(f"{where} must be a JSON object")
    return value


def _string(value: Any, where: str, *, required: bool = False, strip: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise RequestError(f"{where} must be a string")
    if strip:
        value = value.strip()
    if required and not value:
        raise RequestError(f"{where} is required")
    return value


def _scope(value: Any, where: str, defaults: Mapping[str, str]) -> tuple[tuple[str, ...], str]:
    if value is None:
        return (), defaults[where]
    value = _object(value, where)
    dns = value.get("dns") or []
    if not isinstance(dns, list) or not all(isinstance(dn, str) for dn in dns):
        raise RequestError(f"{where}.dns must be a list of strings")
    # The filter's syntax is the server's to judge: its own error names the filter.
    filterstr = _string(value.get("filter"), f"{where}.filter") or defaults[where]
    checked = (_checked(check_dn, dn, f"{where}.dns") for dn in dns if dn.strip())
    return tuple(checked), filterstr


def _checked(check: Callable[[str], str], value: str, where: str) -> str:
    """`value` passed through one of the shared setting checks, as a RequestError."""
    try:
        return check(value)
    except ValueError as exc:
        raise RequestError(f"{where}: {exc}") from exc


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


class DirectorySource:
    """One connection to the directory for one sync; yields user and group records."""

    def __init__(self, settings: SyncSettings) -> None:
        self.settings = settings
        self.conn: ldap.ldapobject.SimpleLDAPObject | None = None
        self._ca_path: str | None = None
        dtype = settings.directory_type
        self._is_ad = dtype == "ad"
        self._id_attr = ID_ATTRIBUTE[dtype]

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
            raise DirectoryError(
                "tls" if s.security != "none" else "ldap_error",
                f"cannot set up the connection to {s.address}: {_ldap_message(exc)}",
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
                f"{s.address} cut the {what or 'search'} under {dn} at its size limit; "
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
                except ldap.LDAPError:
                    msgid = None  # refused before it was sent: not a DN libldap accepts
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
            raise self._error(exc, "search", dn, "entry") from None
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
                    found["id"] = (
                        _guid(raw, entry_dn) if self._is_ad else raw.decode("ascii", "replace")
                    )
            return found
        return {"dn": dn, "exists": None, "detail": "the server returned no entry"}

    def users(self) -> Iterator[dict[str, Any]]:
        """Yield one ``user`` record per user entry, in directory order, page by page."""
        s = self.settings
        id_attr = self._id_attr
        is_ad = self._is_ad
        # Attribute (lowercased) -> the record fields it fills. One attribute may fill
        # several fields (e.g. mail as username and email).
        targets: dict[str, list[str]] = {id_attr.lower(): ["id"]}
        for name, attr in s.mapped_attributes.items():
            targets.setdefault(attr.lower(), []).append(name)
        if is_ad:
            targets.setdefault("userprincipalname", []).append("upn")
            targets.setdefault("useraccountcontrol", []).append("disabled")
        attrs = [id_attr, *dict.fromkeys(s.mapped_attributes.values())]
        if is_ad:
            attrs += ["userPrincipalName", "userAccountControl"]
        # Servers answer with their own spelling of attribute names; resolve each
        # spelling once instead of case-folding every attribute of every entry.
        resolved: dict[str, tuple[str, ...]] = {}
        template = dict.fromkeys(("type", "id", "dn", *FIELDS, "upn"))
        template["type"] = "user"
        template["disabled"] = False

        if not is_ad:
            yield from self._text_users(targets, attrs, template)
            return
        for base in s.user_dns:
            for page in self._pages(base, s.user_filter, attrs, "users"):
                for dn, entry in page:
                    if dn is None:
                        continue  # a search continuation reference
                    record = template.copy()
                    record["dn"] = dn
                    for key, values in entry.items():
                        fields = resolved.get(key)
                        if fields is None:
                            fields = resolved[key] = tuple(targets.get(key.lower(), ()))
                        for name in fields:
                            if name == "id":
                                record["id"] = _guid(values[0], dn)
                            elif name == "disabled":
                                record["disabled"] = bool(_int(values[0]) & 2)
                            else:
                                record[name] = _text(dn, key, values)
                    yield record

    def _text_users(
        self, targets: dict[str, list[str]], attrs: list[str], template: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        """The users loop for directories whose every field is text (type ``ldap``).

        The hot path of a large sync: each attribute fills one field directly, and
        the rare attribute mapped to several fields is copied once per entry after.
        """
        s = self.settings
        single = {attr: fields[0] for attr, fields in targets.items()}
        copies = [(fields[0], extra) for fields in targets.values() for extra in fields[1:]]
        resolved: dict[str, str] = {}
        for base in s.user_dns:
            for page in self._pages(base, s.user_filter, attrs, "users"):
                for dn, entry in page:
                    if dn is None:
                        continue
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

    def groups(self) -> Iterator[dict[str, Any]]:
        """Yield one ``group`` record per group entry with its complete direct member list."""
        s = self.settings
        id_attr = self._id_attr
        is_ad = self._is_ad
        if is_ad:
            attrs = [id_attr, "cn", f"member;range=0-{AD_RANGE_STEP - 1}"]
        else:
            attrs = [id_attr, "cn", "member", "uniqueMember"]
        id_key = id_attr.lower()
        for base in s.group_dns:
            for page in self._pages(base, s.group_filter, attrs, "groups"):
                for dn, entry in page:
                    if dn is None:
                        continue
                    group_id = name = None
                    members: list[str] = []
                    ranged: tuple[int, str] | None = None
                    for key, values in entry.items():
                        lowered = key.lower()
                        if lowered == id_key:
                            raw = values[0]
                            group_id = _guid(raw, dn) if is_ad else raw.decode("ascii", "replace")
                        elif lowered == "cn":
                            name = _text(dn, key, values)
                        elif lowered in ("member", "uniquemember"):
                            members.extend(v.decode("utf-8", "replace") for v in values)
                        elif lowered.startswith(_RANGE_PREFIX):
                            members.extend(v.decode("utf-8", "replace") for v in values)
                            ranged = _range_end(lowered, dn)
                    if ranged is not None and ranged[1] != "*":
                        members.extend(self._more_members(dn, ranged[1]))
                    yield {
                        "type": "group",
                        "id": group_id,
                        "dn": dn,
                        "name": name,
                        "members": members,
                    }

    def _more_members(self, dn: str, high: str) -> Iterator[str]:
        """Fetch the remaining ``member`` ranges of one group after ``member;range=0-high``."""
        conn = self.conn
        assert conn is not None
        s = self.settings
        nxt = int(high) + 1
        while True:
            try:
                result = conn.search_ext_s(
                    dn,
                    ldap.SCOPE_BASE,
                    "(objectClass=*)",
                    [f"member;range={nxt}-*"],
                    timeout=s.timeout,
                )
            except ldap.NO_SUCH_OBJECT:
                return  # the group was deleted while we read it; the next sync sees that
            except ldap.LDAPError as exc:
                raise self._error(exc, "search", dn, "members of group") from None
            end: str | None = None
            for entry_dn, entry in result:
                if entry_dn is None:
                    continue
                for key, values in entry.items():
                    lowered = key.lower()
                    if lowered.startswith(_RANGE_PREFIX):
                        low, end = _range_end(lowered, dn)
                        if low != nxt:
                            raise DirectoryError(
                                "ldap_error",
                                f"{s.address} answered range {lowered} for {dn} "
                                f"when asked from {nxt}",
                            )
                        for value in values:
                            yield value.decode("utf-8", "replace")
                    elif lowered == "member":
                        # Whole attribute despite the range: nothing more to ask.
                        raise DirectoryError(
                            "ldap_error",
                            f"{s.address} ignored the member range request for {dn}",
                        )
            if end is None or end == "*":
                # No range in the answer: the members beyond this point went away.
                return
            nxt = int(end) + 1


def _guid(raw: bytes, dn: str) -> str:
    """objectGUID's 16 bytes (little-endian fields, as AD stores them) as a UUID string."""
    if len(raw) != 16:
        raise DirectoryError("ldap_error", f"objectGUID of {dn} is {len(raw)} bytes, not 16")
    return str(uuid.UUID(bytes_le=raw))


def _text(dn: str, attribute: str, values: list[bytes]) -> str:
    """The value a record keeps of an attribute (one rule for several values: pick_value)."""
    if len(values) == 1:
        return values[0].decode("utf-8", "replace")
    return pick_value(dn, attribute, [v.decode("utf-8", "replace") for v in values])


def _int(raw: bytes) -> int:
    try:
        return int(raw)
    except ValueError:
        return 0


def _range_end(attribute: str, dn: str) -> tuple[int, str]:
    """``member;range=1500-2999`` -> ``(1500, "2999")``; the end may be ``*``."""
    spec = attribute[len(_RANGE_PREFIX) :]
    low, _, high = spec.partition("-")
    if not low.isdigit() or not (high == "*" or high.isdigit()):
        raise DirectoryError("ldap_error", f"unexpected attribute {attribute} on {dn}")
    return int(low), high


def _tcp_reachable(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=min(timeout, 5.0)):
            return True
    except OSError:
        return False


def _looks_like_tls(detail: str) -> bool:
    text = detail.lower()
    return any(word in text for word in ("tls", "ssl", "certificate", "handshake"))
