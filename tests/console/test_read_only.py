"""What a Read-only Admin is shown: a banner on every page, read-only forms, and the
console's own 403 page for every page that exists only to change something."""

from __future__ import annotations

import pytest
from django.urls import reverse

from directories.views.sync_settings import SYNC_SETTINGS_SECTIONS
from tests.console.test_access import database_state

pytestmark = pytest.mark.django_db

BANNER = (
    "Read-only access: you can view directories, connectors and the Sync Log but not change them."
)


def test_every_page_a_readonly_admin_opens_carries_the_banner_once(
    readonly_client, page_urls, change_only_urls
):
    for url in page_urls:
        page = readonly_client.get(url).content.decode()
        assert page.count(BANNER) == 1, url
        assert page.count('id="read-only-banner"') == 1, url


def test_admins_who_may_change_see_no_banner(admin_client, diradmin_client, page_urls):
    for client in (admin_client, diradmin_client):
        page = client.get(reverse("directories:directory_list")).content.decode()
        assert "read-only-banner" not in page and "Read-only access" not in page


@pytest.mark.parametrize("method", ["get", "post"])
def test_every_change_only_page_is_the_styled_403_for_a_readonly_admin(
    readonly_client, change_only_urls, finished_run, method
):
    before = database_state()
    for url in change_only_urls:
        response = getattr(readonly_client, method)(url)
        assert response.status_code == 403, (method, url)
        page = response.content.decode()
        # The console's own page: its header, navigation, the reason and a way back.
        assert "<h2>Not allowed</h2>" in page, url
        assert "Your role does not allow changes." in page, url
        assert "Read-only Admin" in page and 'class="subnav"' in page, url
        assert BANNER in page, url
        # Not the form it refuses.
        assert '<form method="post" class="clr-form' not in page, url
        assert 'name="name"' not in page and "Generate new activation code" not in page, url
    assert database_state() == before


def test_a_directory_admin_is_refused_the_connector_pages_on_opening_them(
    diradmin_client, connectors
):
    for url in (
        reverse("connectors:connector_add"),
        reverse("connectors:connector_activation_code", args=[connectors[0].pk]),
        reverse("connectors:connector_delete", args=[connectors[2].pk]),
    ):
        response = diradmin_client.get(url)
        assert response.status_code == 403, url
        assert "Directory Admin" in response.content.decode()
    assert diradmin_client.get(reverse("directories:directory_add")).status_code == 200


def test_settings_and_sync_settings_render_read_only(readonly_client, directory):
    d = directory.pk
    pages = [reverse("directories:directory_detail", args=[d])] + [
        reverse("directories:directory_sync_settings", args=[d, section])
        for section in SYNC_SETTINGS_SECTIONS
    ]
    assert len(pages) == 7  # Settings and the six Sync Settings tabs, Notifications too
    for url in pages:
        page = readonly_client.get(url).content.decode()
        form = page[page.index('<form method="post" class="clr-form') :]
        form = form[: form.index("</form>")]
        assert "<fieldset disabled>" in form, url
        # Every field sits inside the disabled fieldset; no button can send the form.
        assert form.count("<fieldset") == 1, url
        assert "<button" not in form, url
        assert "Test Connection" not in page and "Delete" not in form, url


def test_an_unknown_address_is_the_styled_404_page(readonly_client, settings, directory):
    settings.DEBUG = False
    for url in ("/no-such-page/", reverse("directories:directory_detail", args=[9999])):
        response = readonly_client.get(url)
        assert response.status_code == 404, url
        page = response.content.decode()
        assert "<h2>Page not found</h2>" in page, url
        assert 'class="subnav"' in page and BANNER in page, url
        assert "Back to the console" in page, url
