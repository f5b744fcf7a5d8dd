"""Deleting a directory or a connector from the console: a confirmation that says what
goes, refused with the reason where it must be."""

from __future__ import annotations

import pytest
from django.urls import reverse

from connectors.models import Connector
from directories.models import Directory, IdentityProvider
from synclog.models import SyncRun

pytestmark = pytest.mark.django_db


def test_deleting_a_directory_shows_what_goes_then_removes_it(admin_client, directory):
    SyncRun.objects.create(directory=directory, status="completed")
    url = reverse("directories:directory_delete", args=[directory.pk])
    page = admin_client.get(url).content.decode()
    assert "1 run in its Sync Log" in page
    assert f"its identity provider {directory.identity_provider.name}" in page
    assert Directory.objects.filter(pk=directory.pk).exists()  # asking deletes nothing

    answer = admin_client.post(url)
    assert answer.status_code == 302 and answer["Location"] == reverse("directories:directory_list")
    assert not Directory.objects.filter(pk=directory.pk).exists()
    assert not SyncRun.objects.exists()
    assert not IdentityProvider.objects.filter(pk=directory.identity_provider_id).exists()


def test_a_connector_in_use_is_not_deleted_and_the_page_says_why(admin_client, directory):
    used = directory.sync_connector
    url = reverse("connectors:connector_delete", args=[used.pk])
    page = admin_client.get(url).content.decode()
    assert "cannot be deleted while these directories" in page and directory.name in page
    refused = admin_client.post(url)
    assert refused.status_code == 409
    assert directory.name in refused.content.decode()
    assert Connector.objects.filter(pk=used.pk).exists()


def test_an_unused_connector_is_deleted_after_confirmation(admin_client, connectors):
    spare = Connector.objects.create(name="spare")
    url = reverse("connectors:connector_delete", args=[spare.pk])
    assert "confirm-delete" in admin_client.get(url).content.decode()
    assert admin_client.post(url).status_code == 302
    assert not Connector.objects.filter(pk=spare.pk).exists()


def test_read_only_admins_cannot_delete(readonly_client, directory):
    url = reverse("directories:directory_delete", args=[directory.pk])
    assert readonly_client.post(url).status_code == 403
    assert Directory.objects.filter(pk=directory.pk).exists()
