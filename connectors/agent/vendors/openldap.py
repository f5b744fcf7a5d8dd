"""OpenLDAP and other standard LDAP servers: entryUUID ids, text fields, member and
uniqueMember values in full."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from connectors.agent.ldapsource import DirectorySource, _text


class OpenLDAPSource(DirectorySource):
    id_attribute = "entryUUID"

    def decode_id(self, raw: bytes, dn: str) -> str:
        return raw.decode("ascii", "replace")

    def group_attributes(self) -> list[str]:
        return [self.id_attribute, "cn", "member", "uniqueMember"]

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
