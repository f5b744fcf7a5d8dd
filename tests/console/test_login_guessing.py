"""Password guessing is stopped per account and per real client address, on the console
login and the API token endpoint, and a Super Admin can lift a lock."""

from __future__ import annotations

import secrets

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def login(client, username, password, address="198.51.100.7", forwarded=None):
    extra = {"REMOTE_ADDR": address}
    if forwarded:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def test_an_account_is_locked_after_ten_wrong_passwords_from_anywhere(client, super_admin):
    name = super_admin.username
    for n in range(9):
        answer = login(client, name, f"wrong-{n}", address=f"198.51.100.{n + 1}")
        assert answer.status_code == 200 and "locked" not in answer.content.decode()
    tenth = login(client, name, "wrong-9", address="198.51.100.10")
    assert tenth.status_code == 429
    locked = login(client, name, PASSWORD, address="192.0.2.99")
    assert locked.status_code == 429
    assert "Too many wrong passwords" in locked.content.decode()
    assert "_auth_user_id" not in client.session

    call_command("axes_reset_username", name)
    assert login(client, name, PASSWORD).status_code == 302


def test_an_address_is_locked_whatever_names_it_tries_and_a_forged_header_changes_nothing(
    client, super_admin
):
    for n in range(10):
        login(client, f"nobody-{n}", "guess", forwarded=f"203.0.113.{n}")
    locked = login(client, super_admin.username, PASSWORD, forwarded="203.0.113.200")
    assert locked.status_code == 429
    # Another client (a different connection address) is not affected.
    assert login(client, super_admin.username, PASSWORD, address="192.0.2.50").status_code == 302


def test_behind_a_trusted_proxy_each_forwarded_client_counts_on_its_own(
    client, super_admin, settings
):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    for n in range(10):
        login(client, f"nobody-{n}", "guess", address="10.0.0.2", forwarded="203.0.113.5")
    assert (
        login(
            client, super_admin.username, PASSWORD, address="10.0.0.2", forwarded="203.0.113.5"
        ).status_code
        == 429
    )
    assert (
        login(
            client, super_admin.username, PASSWORD, address="10.0.0.2", forwarded="203.0.113.6"
        ).status_code
        == 302
    )


def test_the_token_endpoint_cannot_be_guessed_by_rotating_x_forwarded_for(super_admin):
    # The throttle's counts live in the shared cache: an address of this run's own.
    address = f"198.51.{secrets.randbelow(200) + 1}.{secrets.randbelow(200) + 1}"
    api = APIClient()
    responses = [
        api.post(
            "/api/v1/auth/token/",
            {"username": super_admin.username, "password": f"guess-{n}"},
            REMOTE_ADDR=address,
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
        )
        for n in range(30)
    ]
    answers = [r.status_code for r in responses]
    # Ten wrong passwords are answered as such and lock the account and the address;
    # every later attempt hears so, whatever the header says.
    assert answers[:10] == [400] * 10
    assert answers[10:] == [429] * 20, answers
    assert "Too many wrong passwords" in responses[10].json()["detail"]
    right = api.post(
        "/api/v1/auth/token/",
        {"username": super_admin.username, "password": PASSWORD},
        REMOTE_ADDR=address,
    )
    assert right.status_code == 429 and "token" not in right.json()
