"""DNs compared by meaning: every legal spelling of a DN gets one key, different DNs differ."""

from __future__ import annotations

import os
import unicodedata

import ldap.dn
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from connectors.protocol import dn


def examples(n: int) -> int:
    """`make mutation` runs these once per mutant: fewer examples there (derandomized)."""
    return max(40, n // 6) if os.environ.get("HYPOTHESIS_PROFILE") == "mutation" else n


# Attribute types with their aliases and OIDs, as a client may write them.
TYPES = {
    "cn": ["cn", "CN", "commonName", "2.5.4.3", "OID.2.5.4.3"],
    "ou": ["ou", "OU", "organizationalUnitName", "2.5.4.11"],
    "uid": ["uid", "UID", "userid", "0.9.2342.19200300.100.1.1"],
    "dc": ["dc", "DC", "domainComponent", "0.9.2342.19200300.100.1.25"],
    "o": ["o", "O", "organizationName", "2.5.4.10"],
    "l": ["l", "L", "localityName", "2.5.4.7"],
}
SPECIAL = ',+"\\<>;='
ALPHABET = st.sampled_from(
    list("abcXYZ019 -_.'&()") + list(SPECIAL) + ["#", "é", "Ü", "佐", "藤", "Ж", "ø", "Å"]
)
value_text = st.text(ALPHABET, min_size=1, max_size=12).filter(lambda v: v.strip(" "))
ava = st.tuples(st.sampled_from(sorted(TYPES)), value_text)
rdn = st.lists(ava, min_size=1, max_size=3, unique_by=lambda a: a[0])
dn_parts = st.lists(rdn, min_size=1, max_size=4)


def escape(value: str, style: int) -> str:
    """RFC 4514 escapes: backslash pairs (0), hex pairs (1), hex for all non-ASCII too (2)."""
    out = []
    for i, char in enumerate(value):
        edge = (i == 0 and char in "# ") or (i == len(value) - 1 and char == " ")
        special = char in SPECIAL.replace("=", "") or edge
        if style == 0 and special:
            out.append("\\" + char)
        elif (style >= 1 and special) or (style == 2 and not char.isascii()):
            out.append("".join(f"\\{b:02x}" if i % 2 else f"\\{b:02X}" for b in char.encode()))
        else:
            out.append(char)
    return "".join(out)


def ber_utf8(value: str) -> str:
    data = value.encode()
    assert len(data) < 128
    return "#0C" + f"{len(data):02X}" + data.hex().upper()


def spell(parts, style: int, draw_type) -> str:
    """One legal spelling of the DN ``parts`` (lists of (type, value) RDNs)."""
    rdns = []
    for avas in parts:
        avas = list(reversed(avas)) if style % 2 else list(avas)
        texts = []
        for kind, value in avas:
            name = draw_type(kind)
            if style == 3:
                value = "".join(c.swapcase() if c.isascii() else c for c in value)
            if style == 4 and '"' not in value and "\\" not in value:
                texts.append(f'{name}="{value}"')
            elif style == 5:
                texts.append(f"{name}={ber_utf8(value)}")
            else:
                texts.append(f"{name}={escape(value, style % 3)}")
        rdns.append((" + " if style == 6 else "+").join(texts))
    return (", " if style in (2, 6) else ",").join(rdns)


def meaning(parts) -> tuple:
    """What a DN means under distinguishedNameMatch for these (case-ignoring) types."""

    def prep(value: str) -> str:
        folded = unicodedata.normalize("NFKC", value).casefold()
        return " ".join(folded.split())

    return tuple(frozenset((kind, prep(value)) for kind, value in avas) for avas in parts)


@settings(max_examples=examples(400), deadline=None)
@given(dn_parts, st.lists(st.integers(0, 6), min_size=2, max_size=4), st.data())
@example([[("cn", "Smith, Jr.")], [("ou", "people")], [("dc", "example")]], [0, 1], st.just(None))
def test_every_spelling_of_a_dn_has_one_key(parts, styles, data):
    def draw_type(kind: str) -> str:
        if data is None or isinstance(data, type(st.just(None))):
            return kind
        return data.draw(st.sampled_from(TYPES[kind]))

    spellings = [spell(parts, style, draw_type) for style in styles]
    keys = {dn.key(s) for s in spellings}
    assert len(keys) == 1, spellings


@settings(max_examples=examples(300), deadline=None)
@given(dn_parts)
def test_parse_decodes_what_libldap_decodes(parts):
    text = spell(parts, 1, lambda kind: kind)
    expected = [
        sorted((kind.lower(), value) for kind, value, _ in rdn) for rdn in ldap.dn.str2dn(text)
    ]
    got = [sorted((kind, value) for kind, value in rdn) for rdn in dn.parse(text)]

    def stripped(rdns):
        return [[(k, v.strip(" ")) for k, v in rdn] for rdn in rdns]

    assert stripped(got) == stripped(expected)


@settings(max_examples=examples(400), deadline=None)
@given(dn_parts, dn_parts)
def test_dns_that_mean_different_entries_have_different_keys(a, b):
    same = meaning(a) == meaning(b)
    assert (dn.key(spell(a, 0, str)) == dn.key(spell(b, 1, str))) == same


@pytest.mark.parametrize(
    "left, right",
    [
        (
            "cn=Smith\\, Jr.,ou=People,dc=Example,dc=com",
            "CN=smith\\2C jr., ou=people,DC=EXAMPLE,dc=COM",
        ),
        ("cn=Semi\\;colon,ou=p", "cn=Semi\\3Bcolon,ou=p"),
        ("cn=Semi\\;colon,ou=p", "cn=semi\\3bcolon,ou=p"),
        ("cn=Amélie 佐藤,ou=p", "cn=Am\\C3\\A9lie \\E4\\BD\\90\\E8\\97\\A4,ou=p"),
        ("cn=a+uid=b,ou=p", "uid=B + cn=A,ou=p"),
        ("cn=Multiple   inner  spaces,ou=p", "cn=multiple inner spaces ,ou=p"),
        ("cn=x,ou=p;dc=a", "cn=x,ou=p,dc=a"),
        ('cn="Smith, Jr.",ou=p', "cn=Smith\\, Jr.,ou=p"),
        ("cn=#0C0548656C6C6F,ou=p", "cn=hello,ou=p"),
        ("cn=straße,ou=p", "cn=STRASSE,ou=p"),
        ("cn=ﬁle,ou=p", "cn=file,ou=p"),  # NFKC: the ligature is "fi"
        ("cn=non\u00a0breaking,ou=p", "cn=non breaking,ou=p"),
        ("cn=soft\u00adhyphen,ou=p", "cn=softhyphen,ou=p"),
        ("uidNumber=007,ou=p", "uidnumber=7,ou=p"),
    ],
)
def test_known_equal_spellings(left, right):
    assert dn.key(left) == dn.key(right)


@pytest.mark.parametrize(
    "left, right",
    [
        ("cn=a,ou=p", "cn=b,ou=p"),
        ("cn=a\\,b,ou=p", "cn=a,cn=b,ou=p"),  # an escaped comma is not a separator
        ("cn=a\\+uid=b,ou=p", "cn=a+uid=b,ou=p"),  # nor is an escaped plus
        ("cn=\\#78,ou=p", "cn=#78,ou=p"),  # a leading "#" is not hex unless unescaped
        ("memberUid=Jdoe,ou=p", "memberUid=jdoe,ou=p"),  # caseExactIA5 attributes
        ("cn=a,ou=p", "cn=a,ou=p,dc=x"),
    ],
)
def test_known_different_dns(left, right):
    assert dn.key(left) != dn.key(right)


@pytest.mark.parametrize("text", ["cn", "cn=a,", "=a", "cn=a\\4", "cn=\\ff\\fe", 'cn=a"b', "1a=x"])
def test_text_that_is_not_a_dn_is_refused(text):
    with pytest.raises(dn.InvalidDN):
        dn.key(text)


def test_unique_member_uid_suffix_is_left_out():
    assert dn.member_key("cn=Smith\\, Jr.,ou=p#'0101'B") == dn.key("cn=smith\\2c jr.,ou=p")
    # A "#" inside a name is part of the name.
    assert dn.member_key("cn=a#b,ou=p") == dn.key("cn=a\\23b,ou=p")


def test_within_follows_meaning_not_spelling():
    base = dn.key("OU=People,DC=Example,DC=com")
    assert dn.within(dn.key("uid=x,ou=people,dc=example,dc=com"), base)
    assert dn.within(base, base)
    assert not dn.within(dn.key("uid=x,ou=peoplex,dc=example,dc=com"), base)
    # One RDN whose value holds an escaped comma does not lie under "dc=com".
    assert not dn.within(dn.key("ou=x\\,dc=com"), dn.key("dc=com"))


def test_outermost_drops_repeats_and_nested_dns_in_any_spelling():
    dns = ["ou=People,dc=x", "OU=people,DC=X", "ou=a,ou=people,dc=x", "dc=y", "not a dn"]
    assert dn.outermost(dns) == ("ou=People,dc=x", "dc=y", "not a dn")


def test_key_cache_computes_each_spelling_once_and_marks_invalid_text():
    cache = dn.KeyCache(members=True)
    assert cache["cn=A,ou=p#'1'B"] == dn.key("cn=a,ou=p")
    assert cache["no dn"] is None
    assert set(cache) == {"cn=A,ou=p#'1'B", "no dn"}


def parsed_key(text: str) -> str:
    """The key by definition: the parser's RDNs, each AVA's value_key, AVAs sorted."""
    return ",".join(
        "+".join(sorted(f"{kind}={dn.value_key(kind, value)}" for kind, value in rdn))
        for rdn in dn.parse(text)
    )


@settings(max_examples=examples(600), deadline=None)
@given(dn_parts, st.integers(0, 6), st.data())
def test_the_quick_paths_give_the_parsers_key(parts, style, data):
    text = spell(parts, style, lambda kind: data.draw(st.sampled_from(TYPES[kind])))
    assert dn.key(text) == parsed_key(text)


TOKENS = ["cn", "OU", "=", ",", "+", ";", "\\", "\\2C", "\\,", '"', "#", "#0C0161", "#2C"]
TOKENS += [" ", "a", "é", "<", ">", "\\C3\\A9", "2.5.4.3"]


@settings(max_examples=examples(1500), deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=14).map("".join))
@example("cn= #2C")
@example("cn= #0C0161\\,")
@example('cn= "a,b"')
@example("cn=a\\,b, ou=x + cn=y")
def test_any_text_is_either_refused_or_keyed_as_the_parser_keys_it(text):
    try:
        expected = parsed_key(text)
    except dn.InvalidDN:
        with pytest.raises(dn.InvalidDN):
            dn.key(text)
        return
    assert dn.key(text) == expected
