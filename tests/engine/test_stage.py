"""The stage writes exactly what the plan says, or nothing: a stage that disagrees with the
plan's counts stops the write inside its transaction."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from directories.models import DirectoryUser
from directories.sync.stage import UserStage

from .conftest import PEOPLE

pytestmark = pytest.mark.django_db


def values(name: str, **fields) -> tuple:
    row = {"first_name": "", "last_name": "", "email": "", "display_name": "", "upn": ""}
    row.update(fields)
    return (
        f"uid={name},{PEOPLE}",
        name,
        *(row[c] for c in ("first_name", "last_name", "email", "display_name", "upn")),
        False,
    )


def stored(directory, ext: str, name: str) -> DirectoryUser:
    return DirectoryUser.objects.create(
        directory=directory,
        external_id=ext,
        dn=f"uid={name},{PEOPLE}",
        username=name,
        fingerprint="old",
        synced_at=timezone.now(),
    )


def rows(directory) -> dict[str, tuple]:
    return {
        ext: rest
        for ext, *rest in DirectoryUser.objects.filter(directory=directory).values_list(
            "external_id", "username", "email", "fingerprint", "search_text"
        )
    }


def test_staged_users_are_updated_and_added_as_planned(ldap_directory):
    kept = stored(ldap_directory, "a", "alice")
    stage = UserStage()
    stage.reset()
    stage.add("a", values("alice", email="Alice@Example.COM"), "fp-a", new=False)
    stage.add("b", values("bob", first_name="Bób"), "fp-b", new=True)

    assert stage.values(["b"])["b"] == values("bob", first_name="Bób")
    stage.write(ldap_directory.pk, timezone.now(), [kept.pk], 1)

    held = rows(ldap_directory)
    assert held["a"][:3] == ["alice", "Alice@Example.COM", "fp-a"]
    assert held["b"][:3] == ["bob", "", "fp-b"]
    # Searchable as the console folds what is typed.
    assert "alice@example.com" in held["a"][3] and "bob" in held["b"][3]
    assert DirectoryUser.objects.get(external_id="a").pk == kept.pk
    stage.close()
    stage.close()


@pytest.mark.parametrize(
    "updated, added",
    [(True, 0), (False, 1), (True, 2)],
    ids=["an-update-too-few", "an-addition-unplanned", "additions-too-many"],
)
def test_a_stage_that_disagrees_with_the_plan_writes_nothing(ldap_directory, updated, added):
    kept = stored(ldap_directory, "a", "alice")
    before = rows(ldap_directory)
    stage = UserStage()
    stage.reset()
    stage.add("a", values("alice", email="new@example.com"), "fp-a", new=False)
    stage.add("b", values("bob"), "fp-b", new=True)

    ids = [kept.pk] if updated else []
    with pytest.raises(LookupError), transaction.atomic():
        stage.write(ldap_directory.pk, timezone.now(), ids, added)
    assert rows(ldap_directory) == before
    stage.close()


def test_a_user_staged_as_new_that_the_store_holds_breaks_the_write(ldap_directory):
    stored(ldap_directory, "a", "alice")
    before = rows(ldap_directory)
    stage = UserStage()
    stage.reset()
    stage.add("a", values("alice"), "fp-a", new=True)

    with pytest.raises(IntegrityError), transaction.atomic():
        stage.write(ldap_directory.pk, timezone.now(), [], 1)
    assert rows(ldap_directory) == before
    stage.close()


def test_values_of_a_user_never_staged_or_discarded_are_an_error(ldap_directory):
    stage = UserStage()
    stage.reset()
    stage.add("a", values("alice"), "fp-a", new=True)
    stage.add("b", values("bob"), "fp-b", new=True)
    stage.discard(["b"])

    assert set(stage.values(["a"])) == {"a"}
    with pytest.raises(LookupError):
        stage.values(["b"])
    with pytest.raises(LookupError):
        stage.values(["a", "never"])
    # A new read starts from nothing.
    stage.reset()
    with pytest.raises(LookupError):
        stage.values(["a"])
    stage.close()
