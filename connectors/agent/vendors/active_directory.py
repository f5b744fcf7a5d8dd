"""Active Directory (and Samba AD): objectGUID ids, userPrincipalName and the disabled
flag, group members read in ranges; incremental reads by uSNChanged."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import ldap

from connectors.agent.ldapsource import (
    DirectoryError,
    DirectorySource,
    _ldap_message,
    _text,
    _values,
)
from connectors.agent.request import SyncSettings
from connectors.protocol.changes import USN

# What Windows AD hands out per range by default; asking for it explicitly also makes
# Samba (which otherwise returns every value) page through large groups the same way.
AD_RANGE_STEP = 1500
_RANGE_PREFIX = "member;range="


class ActiveDirectorySource(DirectorySource):
    id_attribute = "objectGUID"

    def __init__(self, settings: SyncSettings) -> None:
        super().__init__(settings)
        # Where this read leaves off, read before any entry: what the next read starts from.
        self._watermark: dict[str, Any] | None = None
        # Why there is none, when the DC refused to say.
        self._missing: str | None = None
        # Update sequence numbers count one DC's database: only a watermark from the DC
        # serving this read can be compared, so the read is decided once connected.
        self.decides_when_connected = self.changes_since is not None

    def prepare(self) -> None:
        """Read the DC's highestCommittedUSN and its database's invocationId before any
        entry, so every change made during the read has a greater USN; turn an
        incremental read into a full one when the watermark is from another database."""
        super().prepare()
        root = self._base_entry("", ["highestCommittedUSN", "dsServiceName"], "the root DSE")
        usn = _values(root, "highestcommittedusn")
        service = _values(root, "dsservicename")
        invocation = []
        name = ""
        if service:
            name = service[0].decode("utf-8", "replace")
            invocation = _values(self._base_entry(name, ["invocationId"], name), "invocationid")
        if usn and usn[0].isdigit() and invocation and len(invocation[0]) == 16:
            self._watermark = {
                "kind": USN,
                "usn": int(usn[0]),
                "invocation_id": str(uuid.UUID(bytes_le=invocation[0])),
            }
        since = self.changes_since
        if since is None:
            return
        if self._watermark is None:
            self.read = "full"
            self.reason = self._missing or (
                f"{self.settings.address} did not give its highestCommittedUSN and the "
                "invocationId of its database, which an incremental read starts from"
            )
        elif self._watermark["invocation_id"] != since["invocation_id"]:
            self.read = "full"
            self.reason = (
                f"the domain controller's invocationId changed (the watermark is from "
                f"{since['invocation_id']}, {name} has {self._watermark['invocation_id']}): "
                "this is another domain controller or a restored database, whose update "
                "sequence numbers cannot be compared with the watermark's"
            )

    def _base_entry(self, dn: str, attrs: list[str], what: str) -> dict[str, list[bytes]]:
        conn = self.conn
        assert conn is not None, "open() first"
        try:
            result = conn.search_ext_s(
                dn, ldap.SCOPE_BASE, "(objectClass=*)", attrs, timeout=self.settings.timeout
            )
        except (ldap.SERVER_DOWN, ldap.TIMEOUT) as exc:
            raise self._error(exc, f"the read of {what}") from None
        except ldap.LDAPError as exc:
            # Refused (e.g. no read access to the configuration partition): the read goes
            # on without a watermark rather than fail a sync that needs none.
            self._missing = f"{self.settings.address} refused the read of {what}: " + (
                _ldap_message(exc)
            )
            return {}
        for entry_dn, entry in result:
            if entry_dn is not None:
                return entry
        return {}

    def watermark(self) -> dict[str, Any] | None:
        return self._watermark

    def changed_filter(self, filterstr: str) -> str:
        assert self.changes_since is not None
        return f"(&{filterstr}(uSNChanged>={self.changes_since['usn'] + 1}))"

    def group_read_filter(self) -> str:
        """Every group in scope, whole, in incremental reads too.

        AD keeps `member` as links to the entries it names: renaming, moving or deleting a
        member changes the DNs a group's `member` returns without changing the group's
        uSNChanged, so a group's member values cannot be taken from an earlier read.
        """
        return self.settings.group_filter

    def decode_id(self, raw: bytes, dn: str) -> str:
        return _guid(raw, dn)

    def group_attributes(self) -> list[str]:
        return [self.id_attribute, "cn", f"member;range=0-{AD_RANGE_STEP - 1}"]

    def collect_members(self, dn: str, attribute: str, values: list[bytes], into: list[str]):
        if attribute == "member":
            into.extend(v.decode("utf-8", "replace") for v in values)
        elif attribute.startswith(_RANGE_PREFIX):
            into.extend(v.decode("utf-8", "replace") for v in values)
            _, high = _range_end(attribute, dn)
            return None if high == "*" else high
        return None

    def users(self) -> Iterator[dict[str, Any]]:
        s = self.settings
        targets, attrs, template = self.user_targets(
            {"userPrincipalName": "upn", "userAccountControl": "disabled"}
        )
        # Servers answer with their own spelling of attribute names; resolve each
        # spelling once instead of case-folding every attribute of every entry.
        resolved: dict[str, tuple[str, ...]] = {}
        filterstr = self.read_filter(s.user_filter)
        for base in s.user_dns:
            for page in self._pages(base, filterstr, attrs, "users"):
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

    def more_members(self, dn: str, high: str) -> Iterator[str]:
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
