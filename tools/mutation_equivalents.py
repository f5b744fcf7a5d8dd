"""Mutants that no test can tell from the original code, each with the reason.

A rule names the function (`module.Class.function`, the module without its package, glob
patterns allowed) and the exact edit: the mutant's changed lines are the original's with
`before` replaced once by `after`. So a rule keeps matching the same mutation when mutmut
numbers mutants differently, never matches another mutation of the same line, and a rule
that matches a mutant a test caught is reported as wrong (`tools/mutation_scores.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase


@dataclass(frozen=True)
class Rule:
    where: str
    before: str
    after: str
    reason: str

    def matches(self, function: str, removed: str, added: str) -> bool:
        if not fnmatchcase(function, self.where) or self.before not in removed:
            return False
        start = 0
        while (at := removed.find(self.before, start)) >= 0:
            if removed[:at] + self.after + removed[at + len(self.before) :] == added:
                return True
            start = at + 1
        return False


def each(where: str | list[str], edits: list[tuple[str, str]], reason: str) -> list[Rule]:
    places = [where] if isinstance(where, str) else where
    return [Rule(place, before, after, reason) for place in places for before, after in edits]


def handler_dropped(codec: str) -> list[tuple[str, str]]:
    """The decoding error handler "replace" as mutmut changes it: dropped, or another name."""
    return [
        (f'"{codec}", "replace"', f'"{codec}", '),
        (f'"{codec}", "replace"', f'"{codec}", "XXreplaceXX"'),
        (f'"{codec}", "replace"', f'"{codec}", "REPLACE"'),
    ]


ALWAYS_DECODES = (
    "The decoding error handler is only looked up on a byte that does not decode, and "
    "these values always decode: object class names and entryUUID are ASCII by schema, "
    "and Active Directory stores DNs (dsServiceName) in Unicode, so they are valid "
    "UTF-8."
)
CA_FILE = (
    "The CA file's name prefix and suffix, and its text encoding (None: the locale's, "
    "UTF-8 here; PEM is ASCII): libldap reads the file by the path it is given."
)
ATTRIBUTE_CASE = (
    "The case of an attribute or object class name in a request or a filter: LDAP "
    "compares them without case."
)
ASSERT_TEXT = "The text of an assertion that only a caller's mistake could trip."
FALSY_START = (
    "A falsy initial value replaced by another falsy one, where it is only read for its "
    "truth or always set before it is read."
)

PER_CALL_TIMEOUT = (
    "A per-call timeout dropped or None: the connection's OPT_TIMEOUT, the same value "
    "(pinned by the bind test), bounds every call that gives none."
)
NONE_FILTER = "A filter of None: libldap sends (objectClass=*) for it, the filter given."
BASE_READ = (
    "A base read of one entry answers with that entry and no reference, holding only "
    "the two attributes asked for, never with an attribute without values."
)
QUICK_PATH = (
    "A quick path dropped: the lookup of the attribute as spelled first (or a cache of "
    "resolved spellings); the slower lookup without case that follows gives the same."
)

RULES: list[Rule] = [
    *each(
        ["fetch._user_record", "writer._changed_fields"],
        [("strict=True", "strict=None"), ("strict=True", "strict=False"), (", strict=True", ", ")],
        "zip without strict over sequences built from the same column list, so always of "
        "the same length.",
    ),
    *each(
        "dn._ber_value",
        [("len(data) < 2 + size", "len(data) < 2 - size")],
        "A truncated long-form length then fails the next check, start + length != "
        "len(data), since start is already past the end: the same answer.",
    ),
    *each(
        "dn._ber_value",
        [('data[2 : 2 + size], "big")', "data[2 : 2 + size], )")],
        'int.from_bytes without the byte order: "big" is the default.',
    ),
    *each(
        "dn._escaped_rdn_key",
        [('raw.lstrip(" ")', "raw.lstrip(None)"), ('raw.lstrip(" ")', "raw.lstrip()")],
        "lstrip() strips every whitespace character, not only spaces: each other one is "
        "mapped to a space or to nothing by RFC 4518's preparation and leading spaces are "
        "insignificant, so the key is the same (checked for tab, line feed, U+001C-U+001F, "
        "U+00A0, U+2028, U+2029, U+3000).",
    ),
    *each(
        "dn._piecewise_key",
        [("piece.isascii() and piece.isprintable())", "None)")],
        "The plain-ASCII hint dropped: the slower path gives the same key.",
    ),
    *each(
        "dn._piecewise_key",
        [('",;"', '"XX,;XX"')],
        'After an RDN piece the next character is always ",", ";", "\\" or \'"\', never "X".',
    ),
    *each(
        "ldapsource.DirectorySource.lookup",
        [
            ("timeout = self.settings.timeout", "timeout = None"),
            ("self._lookup_result(dn, msgid, timeout)", "self._lookup_result(dn, msgid, None)"),
        ],
        PER_CALL_TIMEOUT,
    ),
    *each(
        "ldapsource.DirectorySource._lookup_result",
        [
            ("all=1, timeout=timeout", "all=1, timeout=None"),
            ("all=1, timeout=timeout", "timeout=timeout"),
            ("all=1, timeout=timeout", "all=1, "),
        ],
        PER_CALL_TIMEOUT + " all=1 is python-ldap's default.",
    ),
    *each(
        "ldapsource.DirectorySource._lookup_result",
        [("all=1", "all=2")],
        "all=2 (LDAP_MSG_RECEIVED) in a base read: its one entry arrives before or with "
        "its result, so what has arrived is the whole answer.",
    ),
    *each(
        "ldapsource.DirectorySource._lookup_result",
        [("continue", "break"), ("lowered == id_key and values", "lowered == id_key or values")],
        BASE_READ,
    ),
    *each(
        "ldapsource.DirectorySource.lookup",
        [('"(objectClass=*)"', "None")],
        NONE_FILTER,
    ),
    *each(
        "ldapsource.DirectorySource.lookup",
        [
            ('"(objectClass=*)"', '"(objectclass=*)"'),
            ('"(objectClass=*)"', '"(OBJECTCLASS=*)"'),
            ('["objectClass",', '["objectclass",'),
            ('["objectClass",', '["OBJECTCLASS",'),
        ],
        ATTRIBUTE_CASE,
    ),
    *each(
        "ldapsource.DirectorySource.lookup",
        [
            ('self._error(exc, "search")', "self._error(exc, None)"),
            ('self._error(exc, "search")', 'self._error(exc, "XXsearchXX")'),
            ('self._error(exc, "search")', 'self._error(exc, "SEARCH")'),
        ],
        "The phase named for a connection libldap knows is lost before a lookup is sent: "
        "the message for a server that is down names no phase.",
    ),
    *each(
        "openldap.OpenLDAPSource.group_attributes",
        [
            ('"cn"', '"CN"'),
            ('"member"', '"MEMBER"'),
            ('"uniqueMember"', '"uniquemember"'),
            ('"uniqueMember"', '"UNIQUEMEMBER"'),
        ],
        ATTRIBUTE_CASE,
    ),
    *each(
        "openldap.OpenLDAPSource.note_entry", [("entry.get(STAMP)", "entry.get(None)")], QUICK_PATH
    ),
    *each(
        "openldap.OpenLDAPSource.note_entry",
        [("stamps[0] > self.newest", "stamps[0] >= self.newest")],
        "An equal timestamp noted again: the newest is the same bytes either way.",
    ),
    *each(
        "ldapsource.DirectorySource._pages",
        [
            ("SimplePagedResultsControl(True, ", "SimplePagedResultsControl("),
            ("SimplePagedResultsControl(True, ", "SimplePagedResultsControl(False, "),
        ],
        "The paged-results control's criticality: OpenLDAP, Active Directory and Samba all "
        "honour the control, so it changes nothing they answer.",
    ),
    *each(
        "ldapsource.DirectorySource._pages",
        [
            ("all=1, timeout=s.timeout", "all=1, timeout=None"),
            ("all=1, timeout=s.timeout", "timeout=s.timeout"),
            ("all=1, timeout=s.timeout", "all=1, "),
        ],
        PER_CALL_TIMEOUT + " all=1 is python-ldap's default.",
    ),
    *each(
        "ldapsource.DirectorySource._pages",
        [("msgid: int | None = None", 'msgid: int | None = ""'), ('cookie = b""', "cookie = None")],
        FALSY_START + " (search_ext returns an id or raises an LDAPError, whose handler sets "
        "msgid to None before the finally clause reads it; the cookie is read for its truth.)",
    ),
    *each(
        "ldapsource._tcp_reachable",
        [("min(timeout, 5.0)", "min(timeout, 6.0)")],
        "The TCP probe's cap on its wait: only seen after 5 s against a silent server.",
    ),
    *each(
        "openldap.OpenLDAPSource.users",
        [
            ("entry.get(STAMP)", "entry.get(None)"),
            ("name = resolved.get(key)", "name = None"),
            ("name = resolved.get(key)", "name = resolved.get(None)"),
            ('single.get(key.lower(), "")', "single.get(key.lower(), None)"),
            ('single.get(key.lower(), "")', "single.get(key.lower(), )"),
        ],
        QUICK_PATH + ' (An attribute that fills no field is cached as None instead of "": '
        "read for its truth, looked up again.)",
    ),
    *each(
        "openldap.OpenLDAPSource.users",
        [("stamps[0] > newest", "stamps[0] >= newest")],
        "An equal timestamp noted again: the newest is the same bytes either way.",
    ),
    *each(
        "openldap.OpenLDAPSource.users",
        [("STAMP.lower() not in targets", "STAMP.upper() not in targets")],
        "modifyTimestamp asked for twice when it is also a mapped attribute: the server "
        "returns an attribute once however often it is asked for.",
    ),
    *each(
        "active_directory.ActiveDirectorySource.users",
        [
            ("fields = resolved.get(key)", "fields = None"),
            ("fields = resolved.get(key)", "fields = resolved.get(None)"),
        ],
        QUICK_PATH,
    ),
    *each(
        "active_directory.ActiveDirectorySource.users",
        [("_text(dn, key, values)", "_text(None, key, values)")],
        "The DN only picks among several values of the attribute the RDN names, and "
        "Active Directory's RDN attributes (cn, ou) are single-valued.",
    ),
    *each(
        "*",
        [('"utf-8"', '"UTF-8"'), ('"ascii"', '"ASCII"')],
        "Codec names are looked up without case.",
    ),
    *each(
        [
            "active_directory.ActiveDirectorySource.prepare",
            "ldapsource.DirectorySource._lookup_result",
        ],
        handler_dropped("utf-8"),
        ALWAYS_DECODES,
    ),
    *each("openldap.OpenLDAPSource.decode_id", handler_dropped("ascii"), ALWAYS_DECODES),
    *each(
        "ldapsource.DirectorySource._write_ca",
        [
            ('prefix="connector-ca-", ', ""),
            ('"connector-ca-"', "None"),
            ('"connector-ca-"', '"XXconnector-ca-XX"'),
            ('"connector-ca-"', '"CONNECTOR-CA-"'),
            ('suffix=".pem"', ""),
            ('".pem"', "None"),
            ('".pem"', '"XX.pemXX"'),
            ('".pem"', '".PEM"'),
            ('encoding="utf-8"', ""),
            ('"utf-8"', "None"),
        ],
        CA_FILE,
    ),
    *each(
        "*",
        [('"open() first"', '"XXopen() firstXX"'), ('"open() first"', '"OPEN() FIRST"')],
        ASSERT_TEXT,
    ),
    *each(
        "active_directory.ActiveDirectorySource.more_members",
        [('"(objectClass=*)"', '"(objectclass=*)"'), ('"(objectClass=*)"', '"(OBJECTCLASS=*)"')],
        ATTRIBUTE_CASE,
    ),
    *each(
        "active_directory.ActiveDirectorySource.more_members",
        [('"(objectClass=*)"', "None")],
        "A filter of None: libldap sends (objectClass=*) for it, the filter given.",
    ),
    *each(
        "active_directory.ActiveDirectorySource.more_members",
        [("timeout=s.timeout,", "timeout=None,"), ("timeout=s.timeout,\n)", ")")],
        "A per-call timeout dropped: the connection's OPT_TIMEOUT, the same value (pinned "
        "by the bind test), bounds every call that gives none.",
    ),
    *each(
        "active_directory.ActiveDirectorySource.more_members",
        [("continue", "break")],
        "`continue` -> `break` after a reference in a base read of one group: a base read "
        "answers with the one entry and no reference.",
    ),
    *each(
        "active_directory._range_end",
        [('spec.partition("-")', 'spec.rpartition("-")')],
        "`partition` -> `rpartition` on a range spec: both split at its one dash.",
    ),
    *each(
        "lifecycle.forgotten_runs",
        [('values_list("pk", flat=True)', "values_list(flat=True)")],
        "With no field named, a flat values_list is the first column, the id.",
    ),
    *each(
        "ldapsource.DirectorySource.present",
        [("entry.get(id_attr)", "entry.get(None)")],
        QUICK_PATH,
    ),
    *each(
        "active_directory.ActiveDirectorySource.__init__",
        [("self._missing: str | None = None", 'self._missing: str | None = ""')],
        FALSY_START,
    ),
    *each(
        "active_directory.ActiveDirectorySource.prepare",
        [("invocation = []", "invocation = None"), ('name = ""', "name = None")],
        FALSY_START,
    ),
    *each(
        "active_directory.ActiveDirectorySource.prepare",
        [('name = ""', 'name = "XXXX"')],
        "The DC's name before it is read: only used when the DC gave it.",
    ),
    *each(
        "ldapsource.DirectorySource.__init__",
        [
            ("self._ca_path: str | None = None", 'self._ca_path: str | None = ""'),
            ("self.started: float | None = None", 'self.started: float | None = ""'),
            ("self._paging_abandoned = False", "self._paging_abandoned = None"),
        ],
        FALSY_START + " (`_ca_path` and `_paging_abandoned` are read for their truth; "
        "`open()` sets `started`, and only a read after `open()` uses it.)",
    ),
    *each(
        "ldapsource.DirectorySource._remove_ca_file",
        [("self._ca_path = None", 'self._ca_path = ""')],
        FALSY_START,
    ),
    *each(
        "ldapsource._ldap_message",
        [("info = None", 'info = ""')],
        FALSY_START + " (`info` is then read for its truth alone.)",
    ),
    *each(
        "request.SyncSettings.from_request",
        [("strip=False", "strip=None")],
        FALSY_START + " (`_string` reads `strip` for its truth alone.)",
    ),
    *each(
        "openldap.OpenLDAPSource.__init__",
        [("self.unstamped = False", "self.unstamped = None")],
        FALSY_START,
    ),
    *each(
        "ldapsource.DirectorySource.open",
        [("ldap.OPT_REFERRALS, 0", "ldap.OPT_REFERRALS, None")],
        "`OPT_REFERRALS` set to None: python-ldap reads the option as a truth value, so "
        "None is off like 0.",
    ),
    *each(
        "ldapsource.DirectorySource._error",
        [('what: str = ""', 'what: str = "XXXX"')],
        "`_error`'s default `what`: only the bind and StartTLS leave it out, and neither "
        "answers no-such-object, a filter error or a size limit, the only messages that "
        "use it.",
    ),
    *each(
        "plan.StoreLoad.base",
        [
            ('"incremental base",', "None,"),
            ('"incremental base",', '"XXincremental baseXX",'),
            ('"incremental base",', '"INCREMENTAL BASE",'),
        ],
        "The name of a background load's thread and log line: what is loaded is the same.",
    ),
    *each(
        "plan.StoreLoad.base",
        [
            ("wanted=False)", "wanted=None)"),
            ("wanted=False)", "wanted=True)"),
            ('"incremental base", wanted=False)', '"incremental base", )'),
        ],
        "A second connector's read then loads its base at once instead of once the read "
        "needs it: the same rows (speed only; the first read's is the store load's).",
    ),
    *each(
        "incremental.values_only",
        [("directory_id=directory_id, kind=kind)", "directory_id=directory_id, )")],
        "A skipped entry of the other kind whose id is a departure then sends the read to "
        "the merge, which gives the same result (tests/engine/test_incremental.py's twins), "
        "only at a store load's cost; servers name such ids under both kinds anyway.",
    ),
    *each(
        "fetch._Changes.values_only",
        [("_take_user(taken, record, username_attribute)", "_take_user(taken, record, None)")],
        "The username attribute only words the reason a user is skipped, and a read that "
        "skips a changed user is merged, where the record is taken again with it.",
    ),
    *each(
        "incremental.Base.load",
        [
            ("chunk_size=10_000", "chunk_size=None"),
            ("chunk_size=10_000", "chunk_size=10001"),
            ("chunk_size=2_000", "chunk_size=None"),
            ("chunk_size=2_000", "chunk_size=2001"),
        ],
        "The chunk size of a read of the store: every row is read whatever the size.",
    ),
    # --- OpenLDAP content synchronization (RFC 4533) -----------------------------------------
    *each(
        "openldap.OpenLDAPSource._departures",
        [("changed = False", "changed = None")],
        "Whether a base's refresh sent an entry is read for its truth alone: None is as "
        "false as False.",
    ),
    *each(
        "openldap.OpenLDAPSource._departures",
        [("leaves.add(uuid)", "leaves.add(None)")],
        "The ids another base's refresh saw as leaves are left out of the search for "
        "containers that left only to save it: a leaf found by that search is passed over "
        "as it is (it takes nothing along).",
    ),
    *each(
        "openldap.OpenLDAPSource.__init__",
        [("self.cookies: dict[str, str] = {}", "self.cookies: dict[str, str] = None")],
        FALSY_START + " (`watermark()` and `prepare()` read the cookies for their truth; "
        "their values only once `prepare()` has set them.)",
    ),
    *each(
        "openldap.OpenLDAPSource.prepare",
        [("self.cookies = {}  #", "self.cookies = None  #")],
        FALSY_START + " (`watermark()` and `prepare()` read the cookies for their truth "
        "alone from then on.)",
    ),
    *each(
        "openldap.OpenLDAPSource.prepare",
        [("current_cookie(self.conn, base, s.timeout)", "current_cookie(self.conn, base, None)")],
        PER_CALL_TIMEOUT,
    ),
    *each(
        ["openldap.OpenLDAPSource._departures", "openldap.OpenLDAPSource._pages"],
        [("s.timeout,", "None,")],
        PER_CALL_TIMEOUT + " (A refresh waits with python-ldap's result4, which falls back "
        "to it when given None.)",
    ),
    *each(
        "openldap.OpenLDAPSource._root_dse",
        [("timeout=self.settings.timeout,\n)", ")")],
        PER_CALL_TIMEOUT,
    ),
    *each("openldap.OpenLDAPSource._taken_along", [("timeout=timeout,\n)", ")")], PER_CALL_TIMEOUT),
    *each(
        ["openldap.OpenLDAPSource._root_dse", "openldap.OpenLDAPSource._taken_along"],
        [('"(objectClass=*)"', "None")],
        NONE_FILTER,
    ),
    *each(
        ["openldap.OpenLDAPSource._root_dse", "openldap.OpenLDAPSource._taken_along"],
        [('"(objectClass=*)"', '"(objectclass=*)"'), ('"(objectClass=*)"', '"(OBJECTCLASS=*)"')],
        ATTRIBUTE_CASE,
    ),
    *each(
        "openldap.OpenLDAPSource._root_dse",
        [
            ('["supportedControl",', '["supportedcontrol",'),
            ('["supportedControl",', '["SUPPORTEDCONTROL",'),
            ('"namingContexts"]', '"namingcontexts"]'),
            ('"namingContexts"]', '"NAMINGCONTEXTS"]'),
        ],
        ATTRIBUTE_CASE,
    ),
    *each(
        ["openldap.OpenLDAPSource._departures", "openldap.OpenLDAPSource._taken_along"],
        [
            ('["hasSubordinates"]', '["hassubordinates"]'),
            ('["hasSubordinates"]', '["HASSUBORDINATES"]'),
        ],
        ATTRIBUTE_CASE,
    ),
    *each(
        "openldap.OpenLDAPSource._taken_along",
        [('["entryUUID"]', '["entryuuid"]'), ('["entryUUID"]', '["ENTRYUUID"]')],
        ATTRIBUTE_CASE,
    ),
    *each(
        "openldap.OpenLDAPSource._root_dse",
        handler_dropped("utf-8"),
        "The decoding error handler is only looked up on a byte that does not decode: "
        "naming contexts are DNs, which LDAP carries as UTF-8 (RFC 4511, 4514).",
    ),
    *each(
        ["openldap.OpenLDAPSource._taken_along", "openldap.OpenLDAPSource._pages"],
        handler_dropped("ascii"),
        ALWAYS_DECODES,
    ),
    *each(
        "openldap.OpenLDAPSource._taken_along",
        [("range(0, len(gone), UUID_BATCH)", "range(0, len(gone), )")],
        "A step of 1 instead of UUID_BATCH: the batches overlap, but together they name "
        "the same ids, so the same containers are found (in more searches).",
    ),
    *each(
        "openldap.OpenLDAPSource._taken_along",
        [
            ('["hasSubordinates"],', "None,"),
            ('["hasSubordinates"],', ""),
            ('["hasSubordinates"],', '["XXhasSubordinatesXX"],'),
        ],
        "hasSubordinates not read, so every entry found counts as a container: the read "
        "under an entry without entries under it finds only that entry, whose id the "
        "server already names among the departures of the refresh each kind is read with "
        "(slapd names each entry changed since the cookie that a search of the base does "
        "not find; the kind's filter finds no more than (objectClass=*)).",
    ),
    *each(
        "openldap.OpenLDAPSource._pages",
        [
            (
                "self.conn is not None and self.changes_since is not None",
                "self.conn is not None or self.changes_since is not None",
            )
        ],
        ASSERT_TEXT + " (A read by cookie is only chosen by `prepare()`, once connected, "
        "from a watermark.)",
    ),
    *each(
        "openldap.OpenLDAPSource._pages",
        [
            ("self.roots.get(base, ())", "self.roots.get(base, None)"),
            ("self.roots.get(base, ())", "self.roots.get(base, )"),
        ],
        "The default of a base's changed containers is never used: `prepare()` notes them "
        "for every user and group base before it chooses to read by cookie, and only "
        "those bases are read.",
    ),
    *each(
        "openldap.OpenLDAPSource._pages",
        [
            ('self._error(exc, "search", base, what)', 'self._error(exc, "search", None, what)'),
            ('self._error(exc, "search", base, what)', 'self._error(exc, "search", base, None)'),
            ('self._error(exc, "search", base, what)', 'self._error(exc, "search", what)'),
            ('self._error(exc, "search", base, what)', 'self._error(exc, "search", base, )'),
        ],
        "Only a server down or silent reaches this handler, and the messages for those "
        "name neither the base nor what was read (pinned by the tests of both).",
    ),
    *each(
        "openldap.OpenLDAPSource._pages",
        [("continue", "break")],
        "`continue` -> `break` at a continuation reference in a page of the entries under a "
        "changed container: python-ldap lists a page's references after all of its "
        "entries, so stopping at the first skips no entry.",
    ),
    *each(
        "openldap._may_hold_entries",
        [("[:1]", "[:2]")],
        "hasSubordinates is SINGLE-VALUE: its first two values are its one value.",
    ),
    *each(
        "bulk.where_in",
        [("range(0, len(values), CHUNK)", "range(0, len(values), )")],
        "A step of 1 instead of CHUNK: the conditions overlap, but together they name the "
        "same rows, and a row named twice changes nothing: a deleted one is gone for the "
        "next statement (the stage counts what DELETE ... RETURNING returns), a staged one "
        "read twice is kept by its id.",
    ),
]
