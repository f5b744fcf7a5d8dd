"""What the DN module returns, exactly: canonical keys, decoded values, BER strings, and the
quick paths that must give the parser's answer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.protocol import dn

from .test_dn import dn_parts, examples, parsed_key, spell


@pytest.mark.parametrize(
    "text, expected",
    [
        ("CN=Smith\\, Jr.,OU=People,DC=Example", "cn=smith\\2c jr.,ou=people,dc=example"),
        ("cn=a\\+b", "cn=a\\2bb"),
        ("cn=a\\\\b", "cn=a\\5cb"),
        ('cn=Q\\"d', "cn=q\\22d"),
        ("cn=Semi\\;colon", "cn=semi\\3bcolon"),
        ("cn=L\\<G\\>", "cn=l\\3cg\\3e"),
        ("cn=\\#Hash", "cn=\\23hash"),
        ("cn=Equals=Sign", "cn=equals=sign"),
        ("cn=#0401ff", "cn=#0401ff"),
        ("cn=#0C0548656C6C6F", "cn=hello"),
        ("uidNumber=-007", "uidnumber=-7"),
        ("uidNumber= 12 ", "uidnumber=12"),
        ("uidNumber=12a", "uidnumber=12a"),
        ("uidNumber=X7", "uidnumber=x7"),
        ("gidNumber=0", "gidnumber=0"),
        ("UID=Cd+CN=Ab", "cn=ab+uid=cd"),
        ("memberUid=JDoe", "memberuid=JDoe"),
        ("2.5.4.3=x,0.9.2342.19200300.100.1.25=y", "cn=x,dc=y"),
        ("1.2.3.4=x", "1.2.3.4=x"),
        ("commonName=x+userid=y", "cn=x+uid=y"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_a_key_is_the_dn_in_one_canonical_spelling(text, expected):
    assert dn.key(text) == expected
    assert dn.key(expected) == expected


@settings(max_examples=examples(300), deadline=None)
@given(dn_parts, st.integers(0, 6))
def test_a_key_is_a_dn_whose_key_is_itself(parts, style):
    key = dn.key(spell(parts, style, str))
    assert dn.key(key) == key
    assert dn.parse(key)


@settings(max_examples=examples(300), deadline=None)
@given(dn_parts)
def test_plain_dns_take_the_quick_path_and_get_the_parsers_key(parts):
    plain = [
        [(k, "".join(c for c in v if c.isalnum() or c in " .-_'&()")) or "x" for k, v in rdn]
        for rdn in parts
    ]
    text = ",".join("+".join(f"{k}={v.strip() or 'x'}" for k, v in rdn[:1]) for rdn in plain)
    found = dn._simple_key(text)
    assert found is not None
    assert found == parsed_key(text)


@settings(max_examples=examples(300), deadline=None)
@given(dn_parts)
def test_escaped_single_valued_rdns_take_the_middle_path_and_get_the_parsers_key(parts):
    single = [[rdn[0]] for rdn in parts]
    text = spell(single, 0, str)
    found = dn._piecewise_key(text)
    assert found is not None
    assert found == parsed_key(text)


@pytest.mark.parametrize(
    "text",
    ["cn=a=b,dc=x", "cn=a,dc=x", "CN = a , DC = x", "cn=Straße ﬁle,dc=x", "cn=a\tb,dc=x"],
)
def test_the_quick_path_takes_plain_dns(text):
    assert dn._simple_key(text) == parsed_key(text)


@pytest.mark.parametrize(
    "text",
    [
        "cn=Doe\\, John,ou=People,dc=x",
        "cn=a\\2Bb,ou=p",
        "cn= \\ lead,ou=p",
        "cn=\\E4\\BD\\90,ou=p;dc=x",
        'cn="quoted, value",ou=p',
        "cn=a+uid=b,ou=p",
        "cn=#0C0161,ou=p",
        "memberUid=A\\,b,ou=p",
        "cn=Straße\\, ﬁle,ou=p",
        "cn=a\\,b,ou=Straße ﬁle",
    ],
)
def test_the_middle_path_takes_dns_with_special_rdns(text):
    assert dn._piecewise_key(text) == parsed_key(text)


@pytest.mark.parametrize("text", ["cn=a,,dc=x", 'cn="open,dc=x', "cn=a\\4,dc=x", "=x", "cn"])
def test_the_quick_paths_leave_text_that_is_no_dn_to_the_parser(text):
    assert dn._piecewise_key(text) is None
    with pytest.raises(dn.InvalidDN):
        dn.key(text)


def test_a_case_exact_value_keeps_its_case_on_every_path():
    assert dn.key("memberUid=A\\,b,ou=p") != dn.key("memberUid=a\\,b,ou=p")
    assert dn.key("memberUid=A,ou=p") != dn.key("memberUid=a,ou=p")
    assert dn.key('memberUid="A,b",ou=p') != dn.key('memberUid="a,b",ou=p')


@pytest.mark.parametrize(
    "text, rdns",
    [
        ("cn=a\\ ,ou=p", [[("cn", "a ")], [("ou", "p")]]),
        ("cn=a\\\\  ,ou=p", [[("cn", "a\\")], [("ou", "p")]]),
        ("cn=a\\\\\\ ,ou=p", [[("cn", "a\\ ")], [("ou", "p")]]),
        ("cn=a   ,ou=p", [[("cn", "a")], [("ou", "p")]]),
        ("cn=a\t,ou=\tp", [[("cn", "a\t")], [("ou", "\tp")]]),
        ("CN = x + UID = y ; OU = p", [[("cn", "x"), ("uid", "y")], [("ou", "p")]]),
        ('cn="a, b"', [[("cn", "a, b")]]),
        ("cn=\\C3\\A9", [[("cn", "é")]]),
        ("cn=", [[("cn", "")]]),
        ("cn=#0401FF", [[("cn", b"\x04\x01\xff")]]),
        ("cn=#0C00", [[("cn", "")]]),
        ("cn=#0C8100", [[("cn", "")]]),
        ("", []),
    ],
)
def test_parse_returns_each_value_decoded(text, rdns):
    assert dn.parse(text) == rdns


@pytest.mark.parametrize(
    "text, message",
    [
        (5, "a DN is text, not int"),
        ("\t", "not a DN at position 0: '\\t'"),
        ("X", "not a DN at position 0: 'X'"),
        ("cn=a,", "not a DN at position 5: 'cn=a,'"),
        ("=a", "not a DN at position 0: '=a'"),
        ("cn=\\ff", "escaped bytes are not UTF-8 text: '\\\\ff'"),
    ],
)
def test_text_that_is_no_dn_is_refused_saying_where(text, message):
    with pytest.raises(dn.InvalidDN) as refused:
        dn.parse(text)
    assert str(refused.value) == message


def test_parse_refuses_text_after_the_last_rdn():
    # The pattern stops at an unbalanced quote: what follows cannot be read.
    with pytest.raises(dn.InvalidDN, match="not a DN at position"):
        dn.parse('cn=a,ou="b')


@pytest.mark.parametrize(
    "hexvalue, value",
    [
        ("0C0548656C6C6F", "Hello"),  # UTF8String
        ("0C02C3A9", "é"),
        ("1303414243", "ABC"),  # PrintableString
        ("1603616263", "abc"),  # IA5String
        ("1203313233", "123"),  # NumericString
        ("1A03787978", "xyx"),  # VisibleString
        ("1401E9", "é"),  # TeletexString as Latin-1
        ("1E0400E90041", "éA"),  # BMPString
        ("1C08000000E900000041", "éA"),  # UniversalString
        ("0C8105" + "61" * 5, "aaaaa"),  # long form, one length byte
        ("0C820005" + "62" * 5, "bbbbb"),  # long form, two length bytes
        ("0C84" + "00000003" + "636363", "ccc"),  # four length bytes
    ],
)
def test_ber_strings_in_hex_values_are_their_text(hexvalue, value):
    assert dn.parse(f"cn=#{hexvalue}") == [[("cn", value)]]
    assert dn.key(f"cn=#{hexvalue}") == dn.key(f"cn={value}".replace(",", "\\,"))


@pytest.mark.parametrize(
    "hexvalue",
    [
        "04024869",  # OCTET STRING: not a string type
        "0C",  # no length
        "0C0348",  # shorter than its length
        "0C014849",  # longer than its length
        "0C80",  # indefinite length
        "0C8501000000000061",  # five length bytes
        "0C85000000000161",  # five length bytes, even when they add up
        "0C8200",  # length bytes missing
        "0C01FF",  # not UTF-8
        "1302C3A9",  # PrintableString with non-ASCII bytes
        "1E0100",  # odd BMPString
    ],
)
def test_hex_values_that_hold_no_string_stay_bytes(hexvalue):
    assert dn.parse(f"cn=#{hexvalue}") == [[("cn", bytes.fromhex(hexvalue))]]
    assert dn.key(f"cn=#{hexvalue}") == f"cn=#{hexvalue.lower()}"


def test_key_refuses_what_is_not_text():
    with pytest.raises(dn.InvalidDN) as refused:
        dn.key(None)
    assert str(refused.value) == "a DN is text, not NoneType"


@pytest.mark.parametrize(
    "rdn, expected",
    [
        ("cn=Doe\\, John", "cn=doe\\2c john"),
        ("CN = \\#x\\+y", "cn=\\23x\\2by"),
        ("cn=a=b\\;c", "cn=a=b\\3bc"),
        ("memberUid=A\\2C", "memberuid=A\\2c"),
    ],
)
def test_a_single_valued_escaped_rdn_is_keyed_without_the_parser(rdn, expected):
    assert dn._escaped_rdn_key(rdn) == expected


@pytest.mark.parametrize("rdn", ["cn=#0C0161", 'cn="q"', "cn=a+uid=b", "cn", "c n=x", "cn=a\\4"])
def test_other_rdns_are_left_to_the_parser(rdn):
    assert dn._escaped_rdn_key(rdn) is None


def test_the_table_of_type_spellings_is_bounded():
    for n in range(dn.TYPE_SPELLINGS_KEPT + 100):
        assert dn.key(f"x{n}=v") == f"x{n}=v"
    assert len(dn._TYPE_SPELLINGS) == dn.TYPE_SPELLINGS_KEPT
    # Spellings beyond the table still work, each time.
    assert dn.key(f"X{dn.TYPE_SPELLINGS_KEPT + 500}=V") == f"x{dn.TYPE_SPELLINGS_KEPT + 500}=v"


def test_a_type_spelled_with_a_tab_or_newline_is_no_type():
    for text in ("\tcn=x,dc=y", "cn\n=x", "c n=x"):
        with pytest.raises(dn.InvalidDN):
            dn.key(text)
    assert dn.attribute_key(" CN ") == "cn"
    assert dn.attribute_key("OID.2.5.4.3") == "cn"


def test_a_key_cache_for_entries_keeps_uid_suffixes_as_part_of_the_name():
    entries, members = dn.KeyCache(), dn.KeyCache(members=True)
    text = "ou=p,cn=a#'01'B"
    assert entries[text] == "ou=p,cn=a#'01'b"
    assert members[text] == "ou=p,cn=a"
    assert entries["cn=a,ou=p"] == members["cn=A,OU=P"]
    assert members["cn=A,OU=P"] == "cn=a,ou=p"  # asked again: the same answer
    assert entries["no dn"] is None and entries["no dn"] is None


def test_within_the_root_dn_is_everything():
    assert dn.within("cn=a,dc=x", "")
    assert dn.within("", "")
    assert not dn.within("", "dc=x")


def test_outermost_keeps_text_that_is_no_dn_once_and_goes_on():
    assert dn.outermost(["junk", "junk", "ou=a,dc=x", "junk2", "OU=A,DC=X"]) == (
        "junk",
        "ou=a,dc=x",
        "junk2",
    )
