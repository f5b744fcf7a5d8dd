"""Changing SECRET_KEY or FIELD_ENCRYPTION_KEY: old secrets still read while the old key is
a fallback, `rotate_secrets` moves them to the new key, and a secret no key reads leaves
every page working and asks for it again."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from connectors.models import Connector
from directories.models import Directory
from directories.services import delete_directory

pytestmark = pytest.mark.django_db


def raw_password(directory) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT bind_password FROM directories_directory WHERE id = %s", [directory.pk]
        )
        return cursor.fetchone()[0]


def test_a_fallback_key_reads_old_secrets_and_rotation_moves_them(settings, directory):
    old = settings.SECRET_KEY
    token = raw_password(directory)
    settings.SECRET_KEY = "a-brand-new-secret-key-" + "x" * 40
    settings.SECRET_KEY_FALLBACKS = [old]
    assert Directory.objects.get(pk=directory.pk).bind_password == "s3cret-bind"

    call_command("rotate_secrets")
    assert raw_password(directory) != token
    settings.SECRET_KEY_FALLBACKS = []
    assert Directory.objects.get(pk=directory.pk).bind_password == "s3cret-bind"


def test_several_field_keys_newest_first(settings, directory):
    first = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = first
    directory.bind_password = "under-the-first-key"
    directory.save(update_fields=["bind_password"])
    second = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = f"{second},{first}"
    assert Directory.objects.get(pk=directory.pk).bind_password == "under-the-first-key"
    call_command("rotate_secrets")
    settings.FIELD_ENCRYPTION_KEY = second
    assert Directory.objects.get(pk=directory.pk).bind_password == "under-the-first-key"


def test_a_secret_no_key_reads_breaks_nothing_and_is_asked_for_again(
    settings, admin_client, super_admin, super_api, directory, connectors
):
    settings.SECRET_KEY = "another-key-entirely-" + "y" * 40
    settings.SECRET_KEY_FALLBACKS = []
    admin_client.force_login(super_admin)  # sessions signed with the old key are gone too
    # Every page and query that loads the directory still works ...
    listing = admin_client.get(reverse("directories:directory_list")).content.decode()
    assert "bind password must be entered again" in listing
    page = admin_client.get(reverse("directories:directory_detail", args=[directory.pk]))
    assert page.status_code == 200 and "must be entered again" in page.content.decode()
    body = super_api.get(f"/api/v1/directories/{directory.pk}/").json()
    assert body["password_unreadable"] is True
    with pytest.raises(CommandError, match="no configured key can read"):
        call_command("rotate_secrets")
    # ... the password can be entered again ...
    answer = super_api.patch(
        f"/api/v1/directories/{directory.pk}/", {"bind_password": "typed-again"}, format="json"
    )
    assert answer.status_code == 200, answer.content
    assert Directory.objects.get(pk=directory.pk).bind_password == "typed-again"
    assert (
        super_api.get(f"/api/v1/directories/{directory.pk}/").json()["password_unreadable"] is False
    )
    # ... and a connector whose secret is lost says so, and everything can be deleted.
    connector = Connector.objects.get(pk=connectors[1].pk)
    assert connector.secret == "" and connector.secret.lost
    from connectors.client import AgentError
    from connectors.services import probe

    with pytest.raises(AgentError, match="cannot be decrypted"):
        probe(connector)
    delete_directory(Directory.objects.get(pk=directory.pk))
    Directory.objects.all().delete()
    assert not Directory.objects.exists()
