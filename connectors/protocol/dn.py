"""Distinguished names compared by meaning (RFC 4514 syntax, distinguishedNameMatch).

Two spellings of one DN get the same key from :func:`key`: attribute types are
case-insensitive and their OIDs and aliases stand for the short name
(``2.5.4.3``, ``commonName`` and ``CN`` are all ``cn``); escapes are decoded
(``\\,``, ``\\2C`` and ``\\2c`` are one comma, ``\\C3\\A9`` is ``é``); a
``#``-hex value holding a BER string is that string; values of directory-string
attributes compare case-insensitively after RFC 4518 preparation (Unicode NFKC,
case folding, insignificant spaces removed); the AVAs of a multi-valued RDN
(``cn=a+uid=b``) compare as a set. Parsing is lenient where real servers are: spaces
around ``,`` ``+`` ``=``, ``;`` as a separator, and quoted values (RFC 2253/1779).

The key is itself a DN in one canonical spelling, so "lies under" is a suffix test
(:func:`within`). Keys are for comparing only; DNs are stored and shown as the
directory spelled them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = [
    "InvalidDN",
    "KeyCache",
    "attribute_key",
    "key",
    "member_dn",
    "member_key",
    "outermost",
    "parse",
    "value_key",
    "within",
]


class InvalidDN(ValueError):
    """The text is not a distinguished name."""


# Names and OIDs of the attribute types that name entries, mapped to one spelling.
_TYPE_ALIASES = {
    "2.5.4.3": "cn",
    "commonname": "cn",
    "2.5.4.4": "sn",
    "surname": "sn",
    "2.5.4.5": "serialnumber",
    "2.5.4.6": "c",
    "countryname": "c",
    "2.5.4.7": "l",
    "localityname": "l",
    "2.5.4.8": "st",
    "stateorprovincename": "st",
    "2.5.4.9": "street",
    "streetaddress": "street",
    "2.5.4.10": "o",
    "organizationname": "o",
    "2.5.4.11": "ou",
    "organizationalunitname": "ou",
    "2.5.4.12": "title",
    "2.5.4.41": "name",
    "2.5.4.42": "givenname",
    "gn": "givenname",
    "2.5.4.43": "initials",
    "2.5.4.44": "generationqualifier",
    "2.5.4.46": "dnqualifier",
    "2.5.4.65": "pseudonym",
    "0.9.2342.19200300.100.1.1": "uid",
    "userid": "uid",
    "0.9.2342.19200300.100.1.3": "mail",
    "rfc822mailbox": "mail",
    "0.9.2342.19200300.100.1.25": "dc",
    "domaincomponent": "dc",
    "1.2.840.113549.1.9.1": "emailaddress",
    "email": "emailaddress",
    "2.16.840.1.113730.3.1.241": "displayname",
    "2.16.840.1.113730.3.1.3": "employeenumber",
    "1.2.840.113556.1.4.221": "samaccountname",
    "1.3.6.1.1.1.1.0": "uidnumber",
    "1.3.6.1.1.1.1.1": "gidnumber",
}
# Types whose values compare exactly (caseExactMatch / caseExactIA5Match in the
# standard schemas). Every other type compares case-insensitively: directory
# servers name entries with directory strings, and AD compares every name that way.
_CASE_EXACT = frozenset({"memberuid", "homedirectory", "krbprincipalname", "automountkey"})
# Types compared as integers (integerMatch): "007" and "7" are one value.
_INTEGER = frozenset({"uidnumber", "gidnumber"})

_TYPE_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*")
_AVA_RE = re.compile(
    r"""
    [ ]*(?P<type>(?:[Oo][Ii][Dd]\.)?[0-9]+(?:\.[0-9]+)*|[A-Za-z][A-Za-z0-9-]*)[ ]*
    =[ ]*
    (?:
        \#(?P<hex>(?:[0-9A-Fa-f]{2})+)
      | "(?P<quoted>(?:[^"\\]|\\(?:[0-9A-Fa-f]{2}|[^0-9A-Fa-f]))*)"
      | (?P<string>(?:[^,;+\\"]|\\(?:[0-9A-Fa-f]{2}|[^0-9A-Fa-f]))*)
    )
    [ ]*(?P<sep>[,;+]|\Z)
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPE_SPLIT = re.compile(r"(\\[0-9A-Fa-f]{2}|\\.)", re.DOTALL)
# Anything that needs the full parser; a DN without these is split on "," and "=".
_NEEDS_PARSER = re.compile(r'[\\"+#;<>]')
# A value as the parser's string branch takes it (escapes included, no "+" or quotes).
_STRING_VALUE = re.compile(r'(?:[^,;+\\"]|\\(?:[0-9A-Fa-f]{2}|[^0-9A-Fa-f]))*', re.DOTALL)
# Characters a key writes as hex pairs, so that a key is itself a DN.
_KEY_SPECIAL = re.compile(r'[\\,+";<>]')
_KEY_ESCAPES = str.maketrans({c: f"\\{ord(c):02x}" for c in '\\,+";<>'})
# One RDN's text: up to the next "," or ";" that is not escaped or quoted.
_RDN_PIECE = re.compile(r'(?:[^,;\\"]|\\.|"(?:[^"\\]|\\.)*")*', re.DOTALL)
_UID_SUFFIX = re.compile(r"#'[01]*'B\Z")

# RFC 4518 section 2.2: characters mapped to nothing, and characters mapped to a space.
_MAP_TO_NOTHING = [
    0x00AD,
    0x034F,
    0x1806,
    0x180B,
    0x180C,
    0x180D,
    0x200B,
    0xFFFC,
    *range(0x0000, 0x0009),
    *range(0x000E, 0x0020),
    *range(0x007F, 0x0085),
    *range(0x0086, 0x00A0),
    *range(0xFE00, 0xFE10),
    *range(0x200C, 0x2010),
    *range(0x202A, 0x202F),
    *range(0x2060, 0x2064),
    0xFEFF,
]
_SPACES = [0x0009, 0x000A, 0x000B, 0x000C, 0x000D, 0x0085, 0x2028, 0x2029] + [
    cp
    for cp in (0x00A0, 0x1680, *range(0x2000, 0x200B), 0x202F, 0x205F, 0x3000)
    if unicodedata.category(chr(cp)) == "Zs"
]
_PREPARE = {cp: None for cp in _MAP_TO_NOTHING} | {cp: " " for cp in _SPACES}

# BER tags of the string types a "#"-hex value may hold, with their encodings.
_BER_STRINGS = {
    0x0C: "utf-8",  # UTF8String
    0x12: "ascii",  # NumericString
    0x13: "ascii",  # PrintableString
    0x14: "latin-1",  # TeletexString (as deployed: Latin-1)
    0x16: "ascii",  # IA5String
    0x1A: "ascii",  # VisibleString
    0x1C: "utf-32-be",  # UniversalString
    0x1E: "utf-16-be",  # BMPString
}


def attribute_key(name: str) -> str:
    """The one spelling of an attribute type: ``CN``, ``commonName``, ``2.5.4.3`` -> ``cn``."""
    lowered = name.strip(" ").lower()
    if lowered.startswith("oid."):
        lowered = lowered[4:]
    return _TYPE_ALIASES.get(lowered, lowered)


def _prepare(text: str, fold: bool) -> str:
    """RFC 4518 string preparation: map, fold, NFKC, insignificant spaces."""
    if not (text.isascii() and text.isprintable()):
        text = unicodedata.normalize("NFKC", text.translate(_PREPARE))
        if fold:
            # Folding can undo NFKC and NFKC can produce capitals (U+210C is "H").
            text = unicodedata.normalize("NFKC", text.casefold())
    elif fold:
        text = text.lower()
    return " ".join(text.split())


def value_key(attribute: str, value: str | bytes) -> str:
    """How a value of ``attribute`` (already a :func:`attribute_key`) is compared.

    ``bytes`` is a ``#``-hex value that holds no string. The result is escaped so that
    the key is itself a DN: the characters RFC 4514 makes special, and a leading ``#``,
    as hex pairs.
    """
    if isinstance(value, bytes):
        return "#" + value.hex()
    if attribute in _INTEGER:
        stripped = value.strip()
        if stripped.lstrip("-").isdigit():
            return str(int(stripped))
    text = _prepare(value, attribute not in _CASE_EXACT)
    if _KEY_SPECIAL.search(text) is not None:
        text = text.translate(_KEY_ESCAPES)
    if text.startswith("#"):
        text = "\\23" + text[1:]
    return text


def _unescape(raw: str) -> str:
    if "\\" not in raw:
        return raw
    out = bytearray()
    # Split keeps the escapes: text, escape, text, escape, ..., text.
    for i, part in enumerate(_ESCAPE_SPLIT.split(raw)):
        if i % 2 == 0:
            out += part.encode()
        elif len(part) == 3:
            out.append(int(part[1:], 16))
        else:
            out += part[1:].encode()
    try:
        return out.decode()
    except UnicodeDecodeError as exc:
        raise InvalidDN(f"escaped bytes are not UTF-8 text: {raw!r}") from exc


def _ber_value(data: bytes) -> str | bytes:
    """The string a BER-encoded value holds, or the bytes if it holds no string."""
    if len(data) < 2 or data[0] not in _BER_STRINGS:
        return data
    length, start = data[1], 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4 or len(data) < 2 + size:
            return data
        length, start = int.from_bytes(data[2 : 2 + size], "big"), 2 + size
    if start + length != len(data):
        return data
    try:
        return data[start:].decode(_BER_STRINGS[data[0]])
    except UnicodeError:
        return data


def _strip_value(raw: str) -> str:
    """Drop unescaped trailing spaces (an escaped one, ``\\ ``, stays)."""
    stripped = raw.rstrip(" ")
    if stripped != raw:
        backslashes = len(stripped) - len(stripped.rstrip("\\"))
        if backslashes % 2:
            stripped += " "
    return stripped


def parse(dn: str) -> list[list[tuple[str, str | bytes]]]:
    """The RDNs of ``dn``, most specific first, each a list of (type, value) AVAs.

    Types come back as :func:`attribute_key` spellings, values decoded (escapes,
    quotes and ``#``-hex BER strings); a ``#``-hex value that is not a string stays
    ``bytes``. Raises :class:`InvalidDN`.
    """
    if not isinstance(dn, str):
        raise InvalidDN(f"a DN is text, not {type(dn).__name__}")
    rdns: list[list[tuple[str, str | bytes]]] = []
    if not dn.strip(" "):
        return rdns
    current: list[tuple[str, str | bytes]] = []
    pos = 0
    while True:
        match = _AVA_RE.match(dn, pos)
        if match is None:
            raise InvalidDN(f"not a DN at position {pos}: {dn!r}")
        kind = attribute_key(match["type"])
        value: str | bytes
        if match["hex"] is not None:
            value = _ber_value(bytes.fromhex(match["hex"]))
        elif match["quoted"] is not None:
            value = _unescape(match["quoted"])
        else:
            value = _unescape(_strip_value(match["string"]))
        current.append((kind, value))
        sep = match["sep"]
        pos = match.end()
        if sep != "+":
            rdns.append(current)
            current = []
        if not sep:  # the pattern's end of text
            return rdns


TYPE_SPELLINGS_KEPT = 4096
_TYPE_SPELLINGS: dict[str, str | None] = {}
_PLAIN_TYPES = frozenset(_CASE_EXACT | _INTEGER)


def _spelled_type(name: str) -> str | None:
    """:func:`attribute_key` of a type as spelled in a DN, or None if it is no type name.

    Directories repeat a handful of spellings; each is worked out once (a bounded number
    of them, so a hostile directory cannot grow the table without end).
    """
    try:
        return _TYPE_SPELLINGS[name]
    except KeyError:
        pass
    spelled = attribute_key(name)
    kind = spelled if _TYPE_RE.fullmatch(spelled) is not None else None
    if len(_TYPE_SPELLINGS) < TYPE_SPELLINGS_KEPT:
        _TYPE_SPELLINGS[name] = kind
    return kind


def _plain_rdn_key(rdn: str, plain: bool) -> str | None:
    """The key of one RDN without escapes, quotes or "+"; None if it is not one."""
    name, eq, value = rdn.partition("=")
    kind = _spelled_type(name) if eq else None
    if kind is None:
        return None
    if plain and kind not in _PLAIN_TYPES:
        # value_key() of printable ASCII in a case-ignoring type, inlined.
        return kind + "=" + " ".join(value.lower().split())
    return kind + "=" + value_key(kind, value)


def _escaped_rdn_key(rdn: str) -> str | None:
    """The key of one single-valued RDN whose value has escapes; None for anything else."""
    name, eq, raw = rdn.partition("=")
    kind = _spelled_type(name) if eq else None
    if kind is None:
        return None
    raw = raw.lstrip(" ")
    # A leading "#" may be hex (the parser decides); quotes never match _STRING_VALUE.
    if raw.startswith("#") or _STRING_VALUE.fullmatch(raw) is None:
        return None
    try:
        value = _unescape(_strip_value(raw))
    except InvalidDN:
        return None
    return kind + "=" + value_key(kind, value)


def _piecewise_key(dn: str) -> str | None:
    """The key of a DN whose special characters sit in a few RDNs (``CN=Doe\\, John,OU=…``):
    plain RDNs take the quick path, only the others the parser. None to parse it whole."""
    parts = []
    pos, end = 0, len(dn)
    while True:
        match = _RDN_PIECE.match(dn, pos)
        assert match is not None  # the pattern matches the empty string
        piece = match.group()
        pos = match.end()
        if _NEEDS_PARSER.search(piece) is None:
            part = _plain_rdn_key(piece, piece.isascii() and piece.isprintable())
        elif (part := _escaped_rdn_key(piece)) is None:
            try:
                rdns = parse(piece)
            except InvalidDN:
                return None
            if len(rdns) != 1:
                return None
            part = _rdn_key(rdns[0])
        if part is None:
            return None
        parts.append(part)
        if pos == end:
            return ",".join(parts)
        if dn[pos] not in ",;":
            return None
        pos += 1


def _simple_key(dn: str) -> str | None:
    """The key of a DN with no escapes, quotes or multi-valued RDNs; None if it has any."""
    if _NEEDS_PARSER.search(dn) is not None:
        return None
    plain = dn.isascii() and dn.isprintable()
    parts = []
    for rdn in dn.split(","):
        part = _plain_rdn_key(rdn, plain)
        if part is None:
            return None
        parts.append(part)
    return ",".join(parts)


def _rdn_key(avas: list[tuple[str, str | bytes]]) -> str:
    return "+".join(sorted(f"{kind}={value_key(kind, value)}" for kind, value in avas))


def key(dn: str) -> str:
    """The comparison key of ``dn``: equal for every spelling of one DN.

    Raises :class:`InvalidDN` for text that is not a DN.
    """
    if not isinstance(dn, str):
        raise InvalidDN(f"a DN is text, not {type(dn).__name__}")
    # Two quicker ways to the parser's key (each gives it, or None): a speed-up only.
    found = _simple_key(dn) or _piecewise_key(dn)  # pragma: no mutate
    if found is not None:
        return found
    # Only the root DN ("") and text that is no DN (parse raises) come this far.
    return ",".join(_rdn_key(rdn) for rdn in parse(dn))  # pragma: no mutate


def member_dn(value: str) -> str:
    """The DN in a ``member`` or ``uniqueMember`` value.

    ``uniqueMember`` (nameAndOptionalUID) may end in ``#'0101'B``, a bit string that
    tells apart reuses of one name; membership follows the name.
    """
    if value.endswith("'B"):
        return _UID_SUFFIX.sub("", value)
    return value


def member_key(value: str) -> str:
    """The key of the DN in a ``member`` or ``uniqueMember`` value (see :func:`member_dn`)."""
    return key(member_dn(value))


def within(dn_key: str, base_key: str) -> bool:
    """Whether the entry with key ``dn_key`` is ``base_key`` or lies under it."""
    if not base_key:
        return True
    return dn_key == base_key or dn_key.endswith("," + base_key)


def outermost(dns: Iterable[str]) -> tuple[str, ...]:
    """``dns`` without repeats and without DNs under another listed DN (in any spelling).

    Text that is not a DN is kept as it is, so the search that uses it reports it.
    """
    entries: list[tuple[str, str | None]] = []
    for dn in dns:
        try:
            entries.append((dn, key(dn)))
        except InvalidDN:
            entries.append((dn, None))
    keys = [k for _, k in entries if k is not None]
    kept: list[str] = []
    seen: set[str] = set()
    for dn, k in entries:
        if k is None:
            if dn not in seen:
                seen.add(dn)
                kept.append(dn)
            continue
        if k in seen or any(other != k and within(k, other) for other in keys):
            continue
        seen.add(k)
        kept.append(dn)
    return tuple(kept)


class KeyCache(dict[str, str | None]):
    """Spelling -> key, computed once per spelling; ``None`` for text that is not a DN."""

    def __init__(self, *, members: bool = False) -> None:
        super().__init__()
        self._key = member_key if members else key

    def __missing__(self, spelling: str) -> str | None:
        try:
            result: str | None = self._key(spelling)
        except InvalidDN:
            result = None
        self[spelling] = result
        return result
