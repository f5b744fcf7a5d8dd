"""A directory as real ones are: escaped and non-ASCII names, mixed spellings, loose ends.

``FidelityData`` describes an OpenLDAP directory whose names carry every character
RFC 4514 makes special, non-ASCII text and multi-valued RDNs, and whose group member
values spell the same DN many legal ways (escapes as ``\\,`` or ``\\2C`` or ``\\2c``,
other case, attribute OIDs, spaces after commas, quoted values, swapped multi-valued
RDNs, ``uniqueMember`` UID suffixes). ``load()`` writes half of it with ``slapadd``
(which keeps member values as written) and the rest over LDAP (which slapd rewrites
into its own form), so one directory holds both.

Nothing here uses the product's DN code: spellings are made with plain string work
from the data's own indices, and :func:`read_directory` reads the directory back with
python-ldap, letting slapd itself decide what each member value names.
"""

from __future__ import annotations

import base64
import re
import subprocess
from dataclasses import dataclass, field

import ldap
import ldap.dn
import ldap.modlist

from testbed.slapd import GROUPS_DN, PEOPLE_DN, SLAPADD, SUFFIX, Slapd

STAFF_DN = f"ou=staff,{PEOPLE_DN}"
CONTRACTORS_DN = f"ou=contractors,{SUFFIX}"

NAMES = [
    "Smith, Jr. {n}",
    "Plus+Sign {n}",
    "Semi;colon {n}",
    'Quote"d {n}',
    "Back\\slash {n}",
    "#Hash {n}",
    "Less<Greater> {n}",
    "Equals=Sign {n}",
    "Amélie 佐藤 {n}",
    "Ünïcödé Müller {n}",
    "Ольга Ægir {n}",
    "Plain Name {n}",
]
GROUP_NAMES = ["Team {j}", "R&D, Europe {j}", "Ärzte+Pflege {j}", "Ops;Night {j}"]

# Attribute type -> its OID, for spellings that name types by number.
OIDS = {
    "cn": "2.5.4.3",
    "uid": "0.9.2342.19200300.100.1.1",
    "ou": "2.5.4.11",
    "dc": "0.9.2342.19200300.100.1.25",
}
_SPECIAL = ',+"\\<>;'


def escape(value: str, also: str = "") -> str:
    """RFC 4514 escaping with backslash-character pairs (and of the characters in ``also``:
    Active Directory wants ``=`` escaped too)."""
    out = []
    for i, char in enumerate(value):
        special = char in _SPECIAL or char in also
        if special or (i == 0 and char in "# ") or (i == len(value) - 1 and char == " "):
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def escape_hex(value: str, lower: bool = False, non_ascii: bool = False, also: str = "") -> str:
    """RFC 4514 escaping with hex pairs; optionally every non-ASCII byte as well."""
    out = []
    for i, char in enumerate(value):
        special = char in _SPECIAL or char in also or (i == 0 and char in "# ")
        special = special or (i == len(value) - 1 and char == " ")
        if special or (non_ascii and not char.isascii()):
            pairs = "".join(f"\\{b:02X}" for b in char.encode())
            out.append(pairs.lower() if lower else pairs)
        else:
            out.append(char)
    return "".join(out)


def _swap_ascii_case(text: str) -> str:
    # Only ASCII letters: every server folds those the same way.
    return "".join(c.swapcase() if c.isascii() else c for c in text)


def spell(rdns: list[list[tuple[str, str]]], style: int, also: str = "") -> str:
    """One of the legal spellings of a DN given as (type, value) RDNs (``also``: more
    characters to escape, as for :func:`escape`)."""
    style %= 9
    parts = []
    for rdn in rdns:
        avas = list(rdn)
        if style == 7:
            avas.reverse()
        texts = []
        for kind, value in avas:
            if style == 0:
                texts.append(f"{kind}={escape(value, also)}")
            elif style == 1:
                texts.append(f"{kind}={escape_hex(value, also=also)}")
            elif style == 2:
                texts.append(f"{kind}={escape_hex(value, lower=True, non_ascii=True, also=also)}")
            elif style == 3:
                texts.append(f"{kind.upper()}={escape(_swap_ascii_case(value), also)}")
            elif style == 4:
                texts.append(f"{OIDS.get(kind.lower(), kind)}={escape(value, also)}")
            elif style == 5:
                texts.append(f"{kind}={escape(value, also)}")
            elif style == 6:
                needs = any(c in _SPECIAL for c in value) or value[:1] in "# "
                if needs and '"' not in value and "\\" not in value:
                    texts.append(f'{kind}="{value}"')
                else:
                    texts.append(f"{kind}={escape(value, also)}")
            else:
                texts.append(f"{kind}={escape(value, also)}")
        parts.append("+".join(texts))
    return (", " if style == 5 else ",").join(parts)


def _suffix_rdns(dn: str) -> list[list[tuple[str, str]]]:
    return [[(a, v) for a, v, _ in rdn] for rdn in ldap.dn.str2dn(dn)]


@dataclass
class User:
    n: int
    rdns: list[list[tuple[str, str]]]
    attrs: dict[str, list[str]]

    @property
    def dn(self) -> str:
        return spell(self.rdns, 0)


@dataclass
class Group:
    j: int
    cls: str
    rdns: list[list[tuple[str, str]]]
    name: str
    # Member values written with slapadd (as spelled) and over LDAP (rewritten by slapd).
    loaded: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    over_ldap: bool = False

    @property
    def dn(self) -> str:
        return spell(self.rdns, 0)

    @property
    def member_attribute(self) -> str:
        return "uniqueMember" if self.cls == "groupOfUniqueNames" else "member"


@dataclass
class FidelityData:
    """``users`` users and ``groups`` groups with every kind of name and loose end."""

    users: int = 240
    groups: int = 24
    members_per_group: int = 30

    def __post_init__(self) -> None:
        self.user_list = [self._user(n) for n in range(self.users)]
        self.group_list = [self._group(j) for j in range(self.groups)]
        self.extras = self._extras()

    # --- users -------------------------------------------------------------------

    def _user(self, n: int) -> User:
        cn = NAMES[n % len(NAMES)].format(n=n)
        uid = f"u{n}"
        style = n % 4
        parent = _suffix_rdns(STAFF_DN if style == 3 else PEOPLE_DN)
        uids = [uid]
        if n % 10 == 5:
            # Several uid values, the RDN naming the second: the RDN's value is the username.
            uids = [f"{uid}-alias", uid]
            style = 1
        if style == 0 or style == 3:
            rdn = [("cn", cn)]
        elif style == 1:
            rdn = [("uid", uid)]
        else:
            rdn = [("cn", cn), ("uid", uid)]
        mails = [f"{uid}@example.com"]
        if n % 10 == 7:
            mails = [f"{uid}@example.com", f"{uid}.second@example.org"]
        attrs = {
            "objectClass": ["inetOrgPerson"],
            "cn": [cn],
            "sn": [cn.split(" ")[-2] if " " in cn else cn],
            "givenName": [cn.split(" ")[0]],
            "displayName": [f"{cn} (display)"],
            "uid": uids,
            "mail": mails,
        }
        return User(n, [rdn, *parent], attrs)

    # --- groups ------------------------------------------------------------------

    def _group(self, j: int) -> Group:
        name = GROUP_NAMES[j % len(GROUP_NAMES)].format(j=j)
        cls = "groupOfUniqueNames" if j % 3 == 2 else "groupOfNames"
        group = Group(j, cls, [[("cn", name)], *_suffix_rdns(GROUPS_DN)], name)
        group.over_ldap = j >= self.groups // 2
        count = min(self.members_per_group, self.users)
        values = []
        for k in range(count):
            user = self.user_list[(j * self.members_per_group + k) % self.users]
            value = spell(user.rdns, j + k)
            if cls == "groupOfUniqueNames" and k % 3 == 0:
                value += "#'0101'B"
            values.append(value)
        # Every fourth group holds the next one, spelled another way each time.
        if j % 4 == 0 and j + 1 < self.groups:
            child = [[("cn", GROUP_NAMES[(j + 1) % len(GROUP_NAMES)].format(j=j + 1))]]
            values.append(spell([*child, *_suffix_rdns(GROUPS_DN)], j))
        if j % 5 == 0:
            values += [
                # Names no entry at all (a user deleted without cleaning up).
                f"uid=ghost{j},{PEOPLE_DN}",
                # Outside the synced DNs.
                f"uid=c{j},{CONTRACTORS_DN}",
                # Inside them, but not a user or group the sync reads.
                f"cn=Printer {j},{PEOPLE_DN}",
            ]
        if j % 6 == 1:
            # The same member twice, in two spellings (slapadd allows it, LDAP does not);
            # and entries the sync skips.
            if not group.over_ldap:
                first = self.user_list[(j * self.members_per_group) % self.users]
                values.append(spell(first.rdns, j + 2))
            values += [f"cn=No Username,{PEOPLE_DN}", f"cn=Duplicate of u1,{STAFF_DN}"]
        if j == self.groups - 1:
            values = []  # an empty group: it names itself, as groupOfNames requires
        group.loaded = values
        if not group.over_ldap and j % 3 == 0:
            # Members added later over LDAP to a group loaded with slapadd.
            extra = self.user_list[(j * self.members_per_group + count + 1 + j) % self.users]
            group.added = [spell(extra.rdns, j + 5)]
        return group

    # --- entries the sync must skip or leave out -----------------------------------

    def _extras(self) -> list[tuple[str, dict[str, list[str]]]]:
        out: list[tuple[str, dict[str, list[str]]]] = []
        for j in range(0, self.groups, 5):
            out.append(
                (
                    f"uid=c{j},{CONTRACTORS_DN}",
                    {
                        "objectClass": ["inetOrgPerson"],
                        "uid": [f"c{j}"],
                        "cn": [f"C {j}"],
                        "sn": ["C"],
                    },
                )
            )
            out.append(
                (
                    f"cn=Printer {j},{PEOPLE_DN}",
                    {"objectClass": ["organizationalRole"], "cn": [f"Printer {j}"]},
                )
            )
        # A person without a uid: no username to sync.
        out.append(
            (
                f"cn=No Username,{PEOPLE_DN}",
                {"objectClass": ["inetOrgPerson"], "cn": ["No Username"], "sn": ["Nobody"]},
            )
        )
        # A second entry with user 1's uid: user 1 (read first) keeps it.
        out.append(
            (
                f"cn=Duplicate of u1,{STAFF_DN}",
                {
                    "objectClass": ["inetOrgPerson"],
                    "cn": ["Duplicate of u1"],
                    "sn": ["Duplicate"],
                    "uid": ["u1"],
                },
            )
        )
        return out

    # --- loading -----------------------------------------------------------------

    def ldif(self) -> str:
        """Base entries, users, extras and the first half of the groups, as written."""
        chunks = [
            f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\n"
            "o: Example\n",
            f"dn: {PEOPLE_DN}\nobjectClass: organizationalUnit\nou: people\n",
            f"dn: {STAFF_DN}\nobjectClass: organizationalUnit\nou: staff\n",
            f"dn: {GROUPS_DN}\nobjectClass: organizationalUnit\nou: groups\n",
            f"dn: {CONTRACTORS_DN}\nobjectClass: organizationalUnit\nou: contractors\n",
        ]
        for user in self.user_list:
            chunks.append(_entry(user.dn, user.attrs))
        for dn, attrs in self.extras:
            chunks.append(_entry(dn, attrs))
        for group in self.group_list:
            if not group.over_ldap:
                chunks.append(_entry(group.dn, self._group_attrs(group)))
        return "\n".join(chunks) + "\n"

    def _group_attrs(self, group: Group) -> dict[str, list[str]]:
        values = group.loaded or [group.dn]
        return {
            "objectClass": [group.cls],
            "cn": [group.name],
            group.member_attribute: values,
        }

    def load(self, server: Slapd) -> None:
        """slapadd the LDIF part into a stopped server, start it, write the rest over LDAP."""
        server.write_config()
        path = server.workdir / "fidelity.ldif"
        path.write_text(self.ldif(), encoding="utf-8")
        result = subprocess.run(
            [SLAPADD, "-q", "-f", str(server.conf_path), "-l", str(path)],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"slapadd failed: {result.stderr}")
        server._loaded = True
        server.start()
        conn = server.connect()
        for group in self.group_list:
            if group.over_ldap:
                attrs = self._group_attrs(group)
                conn.add_s(group.dn, ldap.modlist.addModlist(_encode(attrs)))
            elif group.added:
                conn.modify_s(
                    group.dn,
                    [(ldap.MOD_ADD, group.member_attribute, [v.encode() for v in group.added])],
                )


def _encode(attrs: dict[str, list[str]]) -> dict[str, list[bytes]]:
    return {k: [v.encode() for v in values] for k, values in attrs.items()}


def _ldif_value(attr: str, value: str) -> str:
    if (
        value.isascii()
        and value.isprintable()
        and value[:1] not in (" ", ":", "<")
        and value[-1:] != " "
    ):
        return f"{attr}: {value}"
    return f"{attr}:: {base64.b64encode(value.encode()).decode()}"


def _entry(dn: str, attrs: dict[str, list[str]]) -> str:
    lines = [_ldif_value("dn", dn)]
    for attr, values in attrs.items():
        lines.extend(_ldif_value(attr, v) for v in values)
    return "\n".join(lines) + "\n"


# --- the independent read --------------------------------------------------------

_UID_BITS = re.compile(r"#'[01]*'B$")


_NAMES_OF_OIDS = {oid: name for name, oid in OIDS.items()}


def oracle_key(dn: str) -> tuple:
    """python-ldap's (libldap's) parse of a DN, case folded: the oracle's own DN compare."""
    return tuple(
        tuple(sorted((_NAMES_OF_OIDS.get(a, a.lower()), v.casefold()) for a, v, _ in rdn))
        for rdn in ldap.dn.str2dn(dn)
    )


def _under(dn: str, base: str) -> bool:
    try:
        key, base_key = oracle_key(dn), oracle_key(base)
    except ldap.DECODING_ERROR:
        return False
    return len(key) >= len(base_key) and key[len(key) - len(base_key) :] == base_key


@dataclass
class DirectoryView:
    """What the directory holds, in the shape the store should have it."""

    users: dict[str, dict]
    groups: dict[str, dict]
    members: set[tuple[str, str]]
    nesting: set[tuple[str, str]]
    # (group entryUUID, member value, reason)
    unresolved: set[tuple[str, str, str]]
    # (entry DN, reason)
    skipped: set[tuple[str, str]]


def _first(attrs: dict, name: str) -> str:
    values = attrs.get(name) or []
    return values[0].decode() if values else ""


def _username(dn: str, attrs: dict) -> str:
    values = [v.decode() for v in attrs.get("uid", [])]
    if len(values) > 1:
        rdn = ldap.dn.str2dn(dn)[0]
        named = [v for a, v, _ in rdn if a.lower() == "uid"]
        for value in values:
            if named and value.casefold() == named[0].casefold():
                return value
    return values[0] if values else ""


def read_directory(
    server: Slapd,
    user_bases: tuple[str, ...] = (PEOPLE_DN,),
    group_bases: tuple[str, ...] = (GROUPS_DN,),
    user_filter: str = "(objectClass=inetOrgPerson)",
) -> DirectoryView:
    """Read users and groups with python-ldap; resolve every member value by asking slapd."""
    conn = server.connect()
    users: dict[str, dict] = {}
    skipped: set[tuple[str, str]] = set()
    skipped_ids: set[str] = set()
    taken: dict[str, str] = {}
    for base in user_bases:
        for dn, attrs in conn.search_s(
            base,
            ldap.SCOPE_SUBTREE,
            user_filter,
            ["entryUUID", "uid", "givenName", "sn", "mail", "displayName"],
        ):
            ext = _first(attrs, "entryUUID")
            username = _username(dn, attrs)
            if not username:
                skipped.add((dn, "no_username"))
                skipped_ids.add(ext)
                continue
            if username.casefold() in taken:
                skipped.add((dn, "duplicate_username"))
                skipped_ids.add(ext)
                continue
            taken[username.casefold()] = ext
            users[ext] = {
                "dn": dn,
                "username": username,
                "first_name": _first(attrs, "givenName"),
                "last_name": _first(attrs, "sn"),
                "email": _first(attrs, "mail"),
                "display_name": _first(attrs, "displayName"),
                "upn": "",
                "disabled": False,
            }
    raw_groups = []
    for base in group_bases:
        raw_groups += conn.search_s(
            base,
            ldap.SCOPE_SUBTREE,
            "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))",
            ["entryUUID", "cn", "member", "uniqueMember"],
        )
    groups = {
        _first(attrs, "entryUUID"): {"dn": dn, "name": _first(attrs, "cn")}
        for dn, attrs in raw_groups
    }
    members, nesting, unresolved = set(), set(), set()
    named: dict[str, str | None] = {}
    for _dn, attrs in raw_groups:
        gid = _first(attrs, "entryUUID")
        for value in [v.decode() for v in attrs.get("member", []) + attrs.get("uniqueMember", [])]:
            target = _UID_BITS.sub("", value)
            if target not in named:
                try:
                    [(found_dn, found)] = conn.search_s(
                        target, ldap.SCOPE_BASE, attrlist=["entryUUID"]
                    )
                    named[target] = found["entryUUID"][0].decode()
                except ldap.NO_SUCH_OBJECT:
                    named[target] = None
            mid = named[target]
            if mid in users:
                members.add((gid, mid))
            elif mid in groups:
                if mid != gid:
                    nesting.add((gid, mid))
            elif not any(_under(target, b) for b in (*user_bases, *group_bases)):
                unresolved.add((gid, value, "outside_scope"))
            elif mid is None:
                unresolved.add((gid, value, "no_entry"))
            elif mid in skipped_ids:
                unresolved.add((gid, value, "skipped_entry"))
            else:
                unresolved.add((gid, value, "not_synced"))
    return DirectoryView(users, groups, members, nesting, unresolved, skipped)


# --- Active Directory ------------------------------------------------------------


def _guid(raw: bytes) -> str:
    import uuid

    return str(uuid.UUID(bytes_le=raw))


def read_ad_directory(conn, people_dn: str, groups_dn: str) -> DirectoryView:
    """An AD read with python-ldap, shaped like the store; the DC resolves member values."""
    users: dict[str, dict] = {}
    for dn, attrs in conn.search_s(
        people_dn,
        ldap.SCOPE_SUBTREE,
        "(&(objectCategory=person)(objectClass=user))",
        [
            "objectGUID",
            "sAMAccountName",
            "givenName",
            "sn",
            "mail",
            "displayName",
            "userPrincipalName",
            "userAccountControl",
        ],
    ):
        if dn is None:
            continue
        users[_guid(attrs["objectGUID"][0])] = {
            "dn": dn,
            "username": _first(attrs, "sAMAccountName"),
            "first_name": _first(attrs, "givenName"),
            "last_name": _first(attrs, "sn"),
            "email": _first(attrs, "mail"),
            "display_name": _first(attrs, "displayName"),
            "upn": _first(attrs, "userPrincipalName"),
            "disabled": bool(int(_first(attrs, "userAccountControl") or 0) & 2),
        }
    raw_groups = [
        (dn, attrs)
        for dn, attrs in conn.search_s(
            groups_dn, ldap.SCOPE_SUBTREE, "(objectClass=group)", ["objectGUID", "cn", "member"]
        )
        if dn is not None
    ]
    groups = {
        _guid(attrs["objectGUID"][0]): {"dn": dn, "name": _first(attrs, "cn")}
        for dn, attrs in raw_groups
    }
    members, nesting, unresolved = set(), set(), set()
    for _dn, attrs in raw_groups:
        gid = _guid(attrs["objectGUID"][0])
        for value in [v.decode() for v in attrs.get("member", [])]:
            try:
                [(_found, found)] = [
                    r
                    for r in conn.search_s(value, ldap.SCOPE_BASE, attrlist=["objectGUID"])
                    if r[0] is not None
                ]
                mid: str | None = _guid(found["objectGUID"][0])
            except ldap.NO_SUCH_OBJECT:
                mid = None
            if mid in users:
                members.add((gid, mid))
            elif mid in groups:
                if mid != gid:
                    nesting.add((gid, mid))
            elif not any(_under(value, b) for b in (people_dn, groups_dn)):
                unresolved.add((gid, value, "outside_scope"))
            elif mid is None:
                unresolved.add((gid, value, "no_entry"))
            else:
                unresolved.add((gid, value, "not_synced"))
    return DirectoryView(users, groups, members, nesting, unresolved, set())
