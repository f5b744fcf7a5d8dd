"""The /sync and /lookup request bodies the agent accepts, checked before any LDAP."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.protocol import dn as dnlib
from connectors.protocol.changes import check_changes_since
from connectors.protocol.settings import (
    ATTRIBUTE,
    DEFAULT_FILTERS,
    DEFAULT_MAPPINGS,
    MAX_SCOPE_DNS,
    SECURITY,
    TYPES,
    check_dn,
)
from connectors.protocol.settings import MAPPED_FIELDS as FIELDS

DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 100_000
DEFAULT_TIMEOUT = 10.0
# Most DNs one /lookup request may ask about.
MAX_LOOKUP = 1000


class RequestError(ValueError):
    """The /sync request body is malformed; the message says what is wrong."""


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
    # What an incremental read starts from (connectors.protocol.changes); None: read all.
    changes_since: Mapping[str, Any] | None = None

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
        if any(ch.isspace() or not ch.isprintable() for ch in host):
            raise RequestError("connection.host must be a host name or address, without spaces")
        security = conn.get("security") or "none"
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
        timeout = conn.get("timeout")
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

        try:
            changes_since = check_changes_since(body.get("changes_since"), dtype)
        except ValueError as exc:
            raise RequestError(str(exc)) from None

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
            changes_since=changes_since,
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
    if len(dns) > MAX_SCOPE_DNS:
        raise RequestError(f"{where}.dns may hold at most {MAX_SCOPE_DNS} DNs")
    checked = (_checked(check_dn, dn, f"{where}.dns") for dn in dns if dn.strip())
    return tuple(checked), filterstr


def _checked(check: Callable[[str], str], value: str, where: str) -> str:
    """`value` passed through one of the shared setting checks, as a RequestError."""
    try:
        return check(value)
    except ValueError as exc:
        raise RequestError(f"{where}: {exc}") from exc
