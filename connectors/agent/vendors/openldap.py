"""OpenLDAP and other standard LDAP servers: entryUUID ids, text fields, member and
uniqueMember values in full; incremental reads by modifyTimestamp."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from connectors.agent.ldapsource import DirectorySource, _text, _values
from connectors.agent.request import SyncSettings
from connectors.protocol.changes import (
    MODIFY_TIMESTAMP,
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


class OpenLDAPSource(DirectorySource):
    id_attribute = "entryUUID"

    def __init__(self, settings: SyncSettings) -> None:
        super().__init__(settings)
        # The greatest modifyTimestamp seen so far; GeneralizedTime values of one form
        # compare as byte strings, so the hot loops keep the raw value.
        self.newest = b""
        # An entry in scope had no modifyTimestamp (a server with lastmod off).
        self.unstamped = False

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
        return f"(&{filterstr}({STAMP}>={self.changes_since['value']}))"

    def watermark(self) -> dict[str, Any] | None:
        """The greatest modifyTimestamp read (W), less the read's duration (d) and OVERLAP.

        A change made after the read started carries a timestamp at or after S, the
        server's time when the read started. W is no later than the server's time when
        the read ended, which is S + d, so S >= W - d: every such change is at or after
        W - d, and the next read, asking for modifyTimestamp >= W - d - OVERLAP, sees it.
        """
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
