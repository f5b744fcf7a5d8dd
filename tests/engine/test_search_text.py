"""The folded search text: the fold itself, and the writer keeping it with the names it
is made of (rewritten when they change, left alone by a sync that changes nothing)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from directories import search
from directories.models import DirectoryGroup, DirectoryUser

from .conftest import GROUPS, PEOPLE, group, user
from .test_writer import sync


@pytest.mark.parametrize(
    ("typed", "folded"),
    [
        ("Zoë", "zoe"),
        ("Müller", "muller"),
        ("Straße", "strasse"),
        ("STRASSE", "strasse"),
        ("ẞ", "ss"),  # capital sharp s
        ("JOSÉ", "jose"),
        ("Jose\u0301", "jose"),  # e + combining acute, as some systems store it
        ("ﬁnance", "finance"),  # the fi ligature
        ("Ǆemal", "dzemal"),  # a compatibility digraph with a caron
        ("ℌilbert", "hilbert"),  # compatibility letters are folded after NFKD
        ("Ångström", "angstrom"),
        ("François Ærø", "francois aero"),  # letters NFKD keeps whole: æ, ø
        ("Łódź", "lodz"),
        ("İstanbul", "istanbul"),  # dotted capital I: the dot is dropped
        ("Kılıç", "kilic"),  # dotless i folds to i, whatever the language
        ("ＺＯＥ", "zoe"),  # full-width letters
        ("50%_off", "50%_off"),  # LIKE's wildcards are plain characters to the fold
        ("", ""),
    ],
)
def test_fold_drops_case_accents_and_compatibility_forms(typed, folded):
    assert search.fold(typed) == folded


@pytest.mark.parametrize("text", ["Zoë", "İ", "ǰ", "Straße", "ﬃ", "Ǆ", "ℌ", "Kılıç", "½"])
def test_fold_is_stable_when_applied_twice(text):
    # A stored text folded again must not change, or a search would miss it.
    assert search.fold(search.fold(text)) == search.fold(text)


def test_a_search_never_spans_two_fields_and_refuses_control_characters():
    text = search.user_text("zmuller", "Zoë", "Müller", "zoe@example.com", "")
    assert text.split(search.SEPARATOR) == ["zmuller", "zoe muller", "zoe@example.com"]
    assert search.query("  ZOË ") == "zoe"
    assert search.query("zoe\nmuller") is None


def folded(ext: str) -> str:
    return DirectoryUser.objects.get(external_id=ext).search_text


@pytest.mark.django_db
def test_a_sync_that_renames_a_user_or_group_rewrites_its_search_text(ldap_directory):
    first = [
        user("u1", "zoe", first_name="Zoë", last_name="Lopez", email="zoe@x"),
        user("u2", "bob", display_name="Bob"),
        group("g1", "Équipe", [f"uid=zoe,{PEOPLE}"]),
    ]
    sync(ldap_directory, first, safeguards=False)
    assert folded("u1") == "zoe\nzoe lopez\nzoe@x"
    assert DirectoryGroup.objects.get(external_id="g1").search_text == "equipe"
    assert list(DirectoryUser.objects.search("LÓPEZ").values_list("username", flat=True)) == ["zoe"]

    renamed = [
        user("u1", "zoe", first_name="Zoë", last_name="Müller", email="zoe@x"),
        user("u2", "bob", display_name="Bob"),
        group("g1", "Straße", [f"uid=zoe,{PEOPLE}"], dn=f"cn=Équipe,{GROUPS}"),
    ]
    counts, _run = sync(ldap_directory, renamed, safeguards=False)
    assert (counts.users_updated, counts.groups_updated) == (1, 1)
    assert folded("u1") == "zoe\nzoe muller\nzoe@x"
    assert DirectoryGroup.objects.get(external_id="g1").search_text == "strasse"
    assert not DirectoryUser.objects.search("lopez").exists()
    assert list(DirectoryUser.objects.search("muller").values_list("username", flat=True)) == [
        "zoe"
    ]
    assert list(DirectoryGroup.objects.search("STRASSE").values_list("name", flat=True)) == [
        "Straße"
    ]


@pytest.mark.django_db
def test_a_sync_that_changes_nothing_does_not_rewrite_the_search_text(ldap_directory):
    records = [
        user("u1", "zoe", first_name="Zoë", email="zoe@x"),
        user("u2", "bob"),
        group("g1", "Équipe", [f"uid=zoe,{PEOPLE}"]),
    ]
    sync(ldap_directory, records, safeguards=False)
    # A marker no fold produces: only a rewrite could replace it.
    DirectoryUser.objects.update(search_text="MARKER")
    DirectoryGroup.objects.update(search_text="MARKER")

    counts, _run = sync(ldap_directory, records)
    assert (counts.users_updated, counts.groups_updated) == (0, 0)
    assert set(DirectoryUser.objects.values_list("search_text", flat=True)) == {"MARKER"}
    assert set(DirectoryGroup.objects.values_list("search_text", flat=True)) == {"MARKER"}

    # One user changes: only that row is folded again.
    records[1] = user("u2", "bob", display_name="Bøb")
    sync(ldap_directory, records, safeguards=False)
    assert (folded("u1"), folded("u2")) == ("MARKER", "bob\nbob")


def _fold_by_the_book(text: str) -> str:
    """The fold as its docstring states it, step by step, without shortcuts."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.translate(search._LETTERS)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_the_fold_of_any_text_is_the_stated_fold(text):
    assert search.fold(text) == _fold_by_the_book(text)
    assert search.fold(text.encode("ascii", "ignore").decode()) == _fold_by_the_book(
        text.encode("ascii", "ignore").decode()
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\n")), min_size=5, max_size=5))
def test_a_users_fields_folded_together_are_each_field_folded(fields):
    username, first, last, email, display = fields
    name = f"{first} {last}".strip()
    expected = search.SEPARATOR.join(
        _fold_by_the_book(part) for part in (username, display, name, email) if part
    )
    assert search.user_text(username, first, last, email, display) == expected
