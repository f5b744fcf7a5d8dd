"""Records the service cannot store are skipped and named, never dropped silently."""

from __future__ import annotations

import pytest

from directories.sync.fetch import settle
from synclog.choices import WarningReason

from .conftest import consume, user

pytestmark = pytest.mark.django_db


def test_entries_without_id_or_username_or_with_a_repeated_id_are_skipped_with_reasons(directory):
    received = consume(
        [
            user("a", "a", dn="uid=a,ou=people,dc=example,dc=com"),
            user(None, "b", dn="uid=b,ou=people,dc=example,dc=com"),
            user("c", None, dn="cn=C,ou=people,dc=example,dc=com"),
            user("c2", "   ", dn="cn=C2,ou=people,dc=example,dc=com"),
            user("a", "a2", dn="uid=a2,ou=people,dc=example,dc=com"),
            {
                "type": "group",
                "id": None,
                "dn": "cn=g,ou=groups,dc=example,dc=com",
                "name": "g",
                "members": ["uid=a,ou=people,dc=example,dc=com"],
            },
        ]
    )

    assert set(received.users) == {"a"}
    reasons = [(s.dn, s.reason) for s in received.skipped]
    assert reasons == [
        ("uid=b,ou=people,dc=example,dc=com", WarningReason.NO_STABLE_ID),
        ("cn=C,ou=people,dc=example,dc=com", WarningReason.NO_USERNAME),
        ("cn=C2,ou=people,dc=example,dc=com", WarningReason.NO_USERNAME),
        ("uid=a2,ou=people,dc=example,dc=com", WarningReason.DUPLICATE_ID),
        ("cn=g,ou=groups,dc=example,dc=com", WarningReason.NO_STABLE_ID),
    ]
    assert "no uid" in received.skipped[1].detail
    assert received.entries == 6


def test_a_member_naming_a_skipped_entry_is_unresolved_with_that_reason(directory):
    received = consume(
        [
            user("a", "a", dn="uid=a,ou=people,dc=example,dc=com"),
            user("b", "A", dn="uid=b,ou=people,dc=example,dc=com"),
            {
                "type": "group",
                "id": "g",
                "dn": "cn=g,ou=groups,dc=example,dc=com",
                "name": "g",
                "members": [
                    "UID=A,ou=people,dc=example,dc=com",
                    "uid=b,ou=people,dc=example,dc=com",
                ],
            },
        ]
    )
    settle(received, directory)

    assert received.resolution.members == {("g", "a")}
    [dup] = received.skipped
    assert (dup.dn, dup.reason) == ("uid=b,ou=people,dc=example,dc=com", "duplicate_username")
    [unresolved] = received.resolution.unresolved
    assert unresolved.reason == WarningReason.SKIPPED_ENTRY
    assert unresolved.value == "uid=b,ou=people,dc=example,dc=com"
    assert "username held by another entry" in unresolved.detail


def test_member_values_spelled_as_a_user_dn_share_its_string_and_a_later_user_still_counts(
    directory,
):
    """A full read holds a member value spelled as a user's DN as that DN's own string
    (a million member values cost no string of their own); a user sent after the groups
    is matched all the same."""
    a_dn, b_dn = "uid=a,ou=people,dc=example,dc=com", "uid=b,ou=people,dc=example,dc=com"
    received = consume(
        [
            user("a", "a", dn=a_dn),
            {
                "type": "group",
                "id": "g",
                "dn": "cn=g,ou=groups,dc=example,dc=com",
                "name": "g",
                # Copies, as a decoder gives them: equal to the DNs, not the same objects.
                "members": ["".join(a_dn), "".join(b_dn)],
            },
            user("b", "b", dn=b_dn),
        ]
    )
    held = received.groups["g"][2]
    assert held[0] is received.users["a"][0]
    assert held[1] == b_dn
    settle(received, directory)

    assert received.resolution.members == {("g", "a"), ("g", "b")}
    assert received.resolution.unresolved == []
