"""Who is told about failing syncs: the directory's addresses, else the Super Admins'."""

from __future__ import annotations

import html as htmllib

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from console.models import Role, User
from directories.models import MAX_NOTIFICATION_ADDRESSES, validate_email_list
from directories.notifications import recipients
from directories.services import update_directory
from tests.api.conftest import client_for
from tests.console.test_directories import error_of


def test_without_addresses_the_active_super_admins_with_an_address_are_told(directory):
    User.objects.create_user("ann", email="ann@example.com", role=Role.SUPER_ADMIN)
    User.objects.create_user(
        "root", email="root@example.com", role=Role.READ_ONLY_ADMIN, is_superuser=True
    )
    User.objects.create_user("dir", email="dir@example.com", role=Role.DIRECTORY_ADMIN)
    User.objects.create_user("old", email="old@example.com", role=Role.SUPER_ADMIN, is_active=False)
    User.objects.create_user("quiet", email="", role=Role.SUPER_ADMIN)
    User.objects.create_user("twin", email="ann@example.com", role=Role.SUPER_ADMIN)

    assert recipients(directory) == ["ann@example.com", "root@example.com"]

    update_directory(directory, {"notification_emails": ["ops@example.com"]})
    assert recipients(directory) == ["ops@example.com"]


def test_with_no_address_and_no_super_admin_address_nobody_is_told(directory):
    User.objects.create_user("quiet", email="", role=Role.SUPER_ADMIN)
    assert recipients(directory) == []


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (["not-an-address"], "invalid_email"),
        (["ops@example.com", "ops@"], "invalid_email"),
        (["a@example.com\nBcc: x@evil.example"], "invalid_email"),
        ("ops@example.com", "invalid_email"),
        ([42], "invalid_email"),
        (["Ops@Example.com", "ops@example.com"], "duplicate_email"),
        (
            [f"u{n}@example.com" for n in range(MAX_NOTIFICATION_ADDRESSES + 1)],
            "too_many_addresses",
        ),
    ],
)
def test_notification_addresses_are_refused_by_the_model_rule(value, code):
    with pytest.raises(ValidationError) as refused:
        validate_email_list(value)
    assert refused.value.code == code


def test_valid_addresses_and_none_at_all_pass():
    validate_email_list([])
    validate_email_list(["ops@example.com", "first.last+sync@sub.example.org"])


def test_the_notifications_tab_saves_one_address_per_line_and_refuses_a_bad_one(
    admin_client, directory
):
    url = reverse("directories:directory_sync_settings", args=[directory.pk, "notifications"])
    page = admin_client.get(url).content.decode()
    assert "No address to send to" in page  # the signed-in Super Admin has none

    response = admin_client.post(
        url, {"notification_emails": " ops@example.com\n\ndba@example.com, ops@example.com"}
    )
    assert response.status_code == 302
    directory.refresh_from_db()
    assert directory.notification_emails == ["ops@example.com", "dba@example.com"]
    page = admin_client.get(url).content.decode()
    assert "E-mails now go to ops@example.com, dba@example.com." in page

    response = admin_client.post(url, {"notification_emails": "ops@example.com\nnot-an-address"})
    assert response.status_code == 200
    error = htmllib.unescape(error_of(response.content.decode(), "notification_emails"))
    assert error == "Not an e-mail address: 'not-an-address'."
    directory.refresh_from_db()
    assert directory.notification_emails == ["ops@example.com", "dba@example.com"]


def test_the_api_reads_and_writes_the_addresses_with_the_same_rule(directory_admin, directory):
    api = client_for(directory_admin)
    url = f"/api/v1/directories/{directory.pk}/"
    assert api.get(url).json()["notification_emails"] == []

    answer = api.patch(url, {"notification_emails": ["ops@example.com", "nope"]}, format="json")
    assert answer.status_code == 400
    assert answer.json()["errors"]["notification_emails"] == ["Not an e-mail address: 'nope'."]

    answer = api.patch(url, {"notification_emails": ["ops@example.com"]}, format="json")
    assert answer.status_code == 200 and answer.json()["notification_emails"] == ["ops@example.com"]
    # The streak is the e-mail's own state, not a setting.
    api.patch(url, {"failure_notified_at": "2026-01-01T00:00:00Z"}, format="json")
    directory.refresh_from_db()
    assert directory.failure_notified_at is None
