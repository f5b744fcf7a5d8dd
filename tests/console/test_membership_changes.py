"""Membership rows on a run's page: the Kind filter, the Details column and the CSV export."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from synclog.choices import ChangeAction, ChangeKind, Trigger
from synclog.models import SyncChange, SyncRun
from tests.console.conftest import HTMX, make_run

pytestmark = pytest.mark.django_db

PEOPLE = "ou=people,dc=example,dc=com"


def membership(run, action, ext, name, group, group_id, member_type="user") -> None:
    SyncChange.objects.create(
        run=run,
        kind=ChangeKind.MEMBERSHIP,
        action=action,
        external_id=ext,
        name=name,
        dn=f"uid={name},{PEOPLE}",
        details={"group": group, "group_id": group_id, "member_type": member_type},
    )


@pytest.fixture
def review(directory) -> SyncRun:
    """A review: carol would be added, cid would join staff, bob would leave admins."""
    run = make_run(directory, trigger=Trigger.REVIEW, users_added=1)
    SyncChange.objects.create(
        run=run, kind=ChangeKind.USER, action=ChangeAction.ADDED, external_id="u3", name="carol"
    )
    membership(run, ChangeAction.ADDED, "u4", "cid", "staff", "g1")
    membership(run, ChangeAction.DELETED, "u2", "bob", "admins", "g2")
    membership(run, ChangeAction.ADDED, "g3", "devs", "staff", "g1", member_type="group")
    return run


def test_the_run_page_filters_memberships_and_says_who_joins_or_leaves_which_group(
    admin_client, review
):
    url = review.get_absolute_url()
    page = admin_client.get(url).content.decode()
    assert '<option value="membership">Memberships</option>' in page
    assert page.count('class="change-row"') == 4

    html = admin_client.get(url + "?kind=membership", **HTMX).content.decode()

    assert html.count('class="change-row"') == 3 and "carol" not in html
    assert "<div>leaves admins</div>" in html
    assert "<div>joins staff</div>" in html
    assert "<div>joins staff (nested group)</div>" in html
    assert "?kind=membership&amp;action=" in html  # the CSV link keeps the filter
    leaving = admin_client.get(url + "?kind=membership&action=deleted").content.decode()
    assert leaving.count('class="change-row"') == 1 and f"uid=bob,{PEOPLE}" in leaving


def test_the_csv_export_lists_the_memberships_with_their_group(admin_client, review):
    url = reverse("synclog:syncchange_export", args=[review.pk]) + "?kind=membership"
    text = b"".join(admin_client.get(url).streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))

    assert [(r["kind"], r["action"], r["name"], r["external_id"]) for r in rows] == [
        ("membership", "added", "cid", "u4"),
        ("membership", "deleted", "bob", "u2"),
        ("membership", "added", "devs", "g3"),
    ]
    assert '"group": "admins"' in rows[1]["details"] and '"group_id": "g2"' in rows[1]["details"]
