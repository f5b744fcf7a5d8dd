"""Active Directory (and Samba AD): objectGUID ids, userPrincipalName and the disabled
flag, group members read in ranges."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import ldap

from connectors.agent.ldapsource import DirectoryError, DirectorySource, _text

# What Windows AD hands out per range by default; asking for it explicitly also makes
# Samba (which otherwise returns every value) page through large groups the same way.
AD_RANGE_STEP = 1500
_RANGE_PREFIX = "member;range="


class ActiveDirectorySource(DirectorySource):
    id_attribute = "objectGUID"

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
