"""Looking rows up by many ids at once (`incremental.matching`): the rows found are those
whose id is among them, however many ids there are, on either database."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from directories.models import DirectoryUser
from directories.sync.incremental import LOOKUP_CHUNK, matching

pytestmark = pytest.mark.django_db


def test_rows_are_found_by_more_ids_than_one_lookup_takes(ldap_directory):
    now = timezone.now()
    DirectoryUser.objects.bulk_create(
        DirectoryUser(
            directory=ldap_directory,
            external_id=f"id-{n}",
            dn=f"uid=u{n},dc=example,dc=com",
            username=f"u{n}",
            fingerprint="fp",
            synced_at=now,
        )
        for n in range(3 * LOOKUP_CHUNK)
    )
    # Every other stored id, ids no row has, and one id twice.
    wanted = [f"id-{n}" for n in range(0, 3 * LOOKUP_CHUNK, 2)]
    asked = [*wanted, *(f"none-{n}" for n in range(LOOKUP_CHUNK)), wanted[0]]
    rows = DirectoryUser.objects.filter(directory=ldap_directory)

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM directories_directoryuser")
        assert cursor.fetchone()[0] == 3 * LOOKUP_CHUNK
    found = [
        ext
        for part in matching(rows, "external_id", asked)
        for ext in part.values_list("external_id", flat=True)
    ]
    assert sorted(found) == sorted(wanted)

    pks = list(rows.filter(external_id__in=wanted[:5]).values_list("pk", flat=True))
    by_pk = [
        pk for part in matching(rows, "pk", iter(pks)) for pk in part.values_list("pk", flat=True)
    ]
    assert sorted(by_pk) == sorted(pks)


def test_no_ids_look_nothing_up(ldap_directory, django_assert_num_queries):
    rows = DirectoryUser.objects.filter(directory=ldap_directory)
    with django_assert_num_queries(0):
        assert list(matching(rows, "external_id", [])) == []
