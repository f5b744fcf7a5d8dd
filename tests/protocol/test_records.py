"""The one rule for attributes with several values, shared by the agent and the service."""

from __future__ import annotations

import pytest

from connectors.protocol.records import pick_value


@pytest.mark.parametrize(
    "dn, attribute, values, expected",
    [
        ("uid=jdoe,ou=p", "uid", ["jdoe"], "jdoe"),
        # The RDN names the second value: that one, as the directory spells it.
        ("uid=jdoe,ou=p", "uid", ["john.doe", "JDoe"], "JDoe"),
        ("UID=JDOE,ou=p", "userid", ["john.doe", "jdoe"], "jdoe"),
        ("0.9.2342.19200300.100.1.1=jdoe,ou=p", "UID", ["a", "jdoe"], "jdoe"),
        ("cn=Doe\\, John,ou=p", "cn", ["Johnny", "doe,  john"], "doe,  john"),
        ("cn=x+uid=jdoe,ou=p", "uid", ["a", "jdoe"], "jdoe"),
        # The RDN names another attribute, or no value matches it: the first value.
        ("cn=John,ou=p", "mail", ["first@x", "second@x"], "first@x"),
        ("uid=gone,ou=p", "uid", ["a", "b"], "a"),
        # Only the first RDN names the entry.
        ("cn=x,uid=b,ou=p", "uid", ["a", "b"], "a"),
        ("not a dn", "uid", ["a", "b"], "a"),
        ("", "uid", ["a", "b"], "a"),
    ],
)
def test_several_values_give_the_one_the_rdn_names_else_the_first(dn, attribute, values, expected):
    assert pick_value(dn, attribute, values) == expected


def test_a_case_exact_attribute_matches_its_rdn_exactly():
    assert pick_value("memberUid=JDoe,ou=p", "memberUid", ["jdoe", "JDoe"]) == "JDoe"
