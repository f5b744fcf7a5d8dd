"""Directory objects for a test AD domain and the python-ldap helpers that add them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

REALM = "EXAMPLE.TEST"
DOMAIN = "EXAMPLE"
BASE_DN = "DC=example,DC=test"
ADMIN_PASSWORD = "Dirsync-Test-Passw0rd"
HOST = "127.0.0.1"
PORT = 389
LDAPS_PORT = 636
NETBIOS_NAME = "DC1"

# Accounts every provisioned domain has in CN=Users (dns-DC1 exists even without
# a DNS backend); they match the AD default user filter under the base DN.
BUILTIN_USER_SAMS = ("Administrator", "Guest", "krbtgt", f"dns-{NETBIOS_NAME}")

UAC_NORMAL_ACCOUNT = 0x200
UAC_ACCOUNTDISABLE = 0x2


@dataclass(frozen=True)
class Entry:
    """One directory object to create: a DN and its attributes as text values."""

    dn: str
    attrs: dict[str, list[str]]


# -- entry builders (shared by the offline loader and the LDAP helpers) --------


def ou_entry(dn: str) -> Entry:
    name = dn.split(",", 1)[0].split("=", 1)[1]
    return Entry(dn, {"objectClass": ["top", "organizationalUnit"], "ou": [name]})


def user_entry(
    dn: str,
    *,
    sam: str,
    given_name: str | None = None,
    sn: str | None = None,
    display_name: str | None = None,
    mail: str | None = None,
    upn: str | None = None,
    disabled: bool = False,
) -> Entry:
    uac = UAC_NORMAL_ACCOUNT | (UAC_ACCOUNTDISABLE if disabled else 0)
    attrs = {
        "objectClass": ["top", "person", "organizationalPerson", "user"],
        "sAMAccountName": [sam],
        "userAccountControl": [str(uac)],
    }
    optional = {
        "givenName": given_name,
        "sn": sn,
        "displayName": display_name,
        "mail": mail,
        "userPrincipalName": upn,
    }
    attrs.update({k: [v] for k, v in optional.items() if v is not None})
    return Entry(dn, attrs)


def group_entry(dn: str, *, sam: str | None = None, members: Sequence[str] = ()) -> Entry:
    name = dn.split(",", 1)[0].split("=", 1)[1]
    attrs = {"objectClass": ["top", "group"], "sAMAccountName": [sam or name]}
    if members:
        attrs["member"] = list(members)
    return Entry(dn, attrs)


# -- LDAP helpers (python-ldap, for a running DC) ------------------------------


def connect(
    uri: str = f"ldap://{HOST}:{PORT}",
    bind_dn: str = f"CN=Administrator,CN=Users,{BASE_DN}",
    password: str = ADMIN_PASSWORD,
    timeout: float = 10.0,
) -> Any:
    """Open a simple-bound python-ldap connection (timeout: for connecting only)."""
    import ldap

    conn = ldap.initialize(uri)
    conn.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
    # AD hands out referrals to other partitions; chasing them would re-bind
    # anonymously against names that do not resolve.
    conn.set_option(ldap.OPT_REFERRALS, 0)
    conn.set_option(ldap.OPT_NETWORK_TIMEOUT, timeout)
    conn.simple_bind_s(bind_dn, password)
    return conn


def _modlist(entry: Entry) -> list[tuple[str, list[bytes]]]:
    return [(k, [v.encode("utf-8") for v in vs]) for k, vs in entry.attrs.items()]


def add_entries(conn: Any, entries: Iterable[Entry]) -> int:
    """Add entries over LDAP, pipelining requests on one connection; returns the count."""
    pending = []
    count = 0
    for entry in entries:
        pending.append(conn.add(entry.dn, _modlist(entry)))
        count += 1
        # Bound the number of requests in flight so errors surface near their cause.
        if len(pending) >= 100:
            for msgid in pending:
                conn.result(msgid)
            pending.clear()
    for msgid in pending:
        conn.result(msgid)
    return count


def add_ou(conn: Any, dn: str) -> None:
    add_entries(conn, [ou_entry(dn)])


def add_user(conn: Any, dn: str, **kwargs: Any) -> None:
    """Add one user; keyword arguments are those of user_entry."""
    add_entries(conn, [user_entry(dn, **kwargs)])


def add_group(conn: Any, dn: str, *, sam: str | None = None, members: Sequence[str] = ()) -> None:
    add_entries(conn, [group_entry(dn, sam=sam)])
    if members:
        add_members(conn, dn, members)


def add_members(conn: Any, group_dn: str, member_dns: Sequence[str], batch: int = 5000) -> None:
    """Add members with as few modify operations as possible."""
    import ldap

    for start in range(0, len(member_dns), batch):
        values = [dn.encode("utf-8") for dn in member_dns[start : start + batch]]
        conn.modify_s(group_dn, [(ldap.MOD_ADD, "member", values)])


def object_guid(conn: Any, dn: str) -> str:
    """The objectGUID of dn as a UUID string (little-endian byte order, as AD stores it)."""
    import ldap

    result = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", ["objectGUID"])
    raw = result[0][1]["objectGUID"][0]
    return str(uuid.UUID(bytes_le=raw))
