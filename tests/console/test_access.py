"""Who may open and change which console page."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from connectors.models import ActivationCode, Connector
from directories.models import (
    Directory,
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    IdentityProvider,
    SyncConnectorEntry,
)
from synclog.models import SyncRun
from tests.console.conftest import HTMX

pytestmark = pytest.mark.django_db


def database_state() -> dict:
    """Everything a console POST could change, for before/after comparisons."""
    return {
        "directories": list(Directory.objects.order_by("pk").values()),
        "entries": list(SyncConnectorEntry.objects.order_by("pk").values()),
        "runs": list(SyncRun.objects.order_by("pk").values()),
        "connectors": list(Connector.objects.order_by("pk").values()),
        "codes": list(ActivationCode.objects.order_by("pk").values()),
        "identity_providers": list(IdentityProvider.objects.order_by("pk").values()),
        "idp_connectors": sorted(
            IdentityProvider.connectors.through.objects.values_list(
                "identityprovider_id", "connector_id"
            )
        ),
        "users": list(DirectoryUser.objects.order_by("pk").values()),
        "groups": list(DirectoryGroup.objects.order_by("pk").values()),
        "memberships": list(GroupMembership.objects.order_by("pk").values()),
        "schedules": list(PeriodicTask.objects.order_by("pk").values()),
    }


def change_requests(directory: Directory, connectors: list[Connector]) -> list[tuple[str, dict]]:
    """A valid POST for every console form, as a Super Admin would send it."""
    d = directory.pk
    ids = [str(c.pk) for c in connectors]
    settings_url = "directories:directory_sync_settings"
    return [
        (
            reverse("directories:directory_add"),
            {
                "name": "new.example.com",
                "type": "ldap",
                "host": "ldap.example.com",
                "port": "389",
                "security": "none",
                "base_dn": "dc=example,dc=com",
                "bind_dn": "cn=admin,dc=example,dc=com",
                "bind_password": "pw",
                "sync_frequency": "manual",
                "sync_connector": ids[0],
            },
        ),
        (
            reverse("directories:directory_detail", args=[d]),
            {
                "name": "renamed",
                "host": "h",
                "port": "636",
                "security": "ssl",
                "base_dn": "dc=x",
                "bind_dn": "cn=x",
                # A new server needs the password again.
                "bind_password": "pw",
            },
        ),
        (
            reverse(settings_url, args=[d, "frequency"]),
            {"sync_frequency": "hourly", "sync_time": "03:00", "sync_weekday": "1"},
        ),
        (reverse(settings_url, args=[d, "users"]), {"user_dns": "ou=x,dc=x", "user_filter": ""}),
        (reverse(settings_url, args=[d, "groups"]), {"group_dns": "ou=y,dc=x"}),
        (reverse(settings_url, args=[d, "attributes"]), {"username": "cn"}),
        (
            reverse(settings_url, args=[d, "safeguards"]),
            {"safeguard_users_deleted_percent": "50", "safeguard_groups_deleted_percent": "50"},
        ),
        (
            reverse(settings_url, args=[d, "notifications"]),
            {"notification_emails": "ops@example.com"},
        ),
        (
            reverse("directories:directory_sync_connectors", args=[d]),
            {"connector": ids[::-1], "version": "1", "action": "save"},
        ),
        (reverse("directories:directory_sync_now", args=[d]), {}),
        (
            reverse("directories:directory_detail", args=[d]),
            {
                "name": directory.name,
                "host": directory.host,
                "port": str(directory.port),
                "security": directory.security,
                "base_dn": directory.base_dn,
                "bind_dn": directory.bind_dn,
                "bind_password": "typed",
                "action": "test",
            },
        ),
        (
            reverse("directories:identityprovider_detail", args=[directory.identity_provider_id]),
            {"connector": ids, "action": "save"},
        ),
        (reverse("connectors:connector_add"), {"name": "connector-new"}),
        (reverse("connectors:connector_activation_code", args=[connectors[0].pk]), {}),
    ]


def test_anonymous_visitor_is_sent_to_login_from_every_page(client, page_urls):
    for url in page_urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("login") + "?next="), url


def test_login_page_opens_without_an_account_and_logs_in(client, super_admin):
    from tests.conftest import PASSWORD

    login_page = client.get(reverse("login"))
    assert login_page.status_code == 200
    # The browser asks for /favicon.ico (a 404) unless the page names its icon.
    assert b'<link rel="icon" href="/static/console/favicon.svg"' in login_page.content
    response = client.post(reverse("login"), {"username": "super", "password": PASSWORD})
    assert response.status_code == 302
    assert response.url == reverse("directories:directory_list")


def test_login_form_reports_wrong_password(client, super_admin):
    response = client.post(reverse("login"), {"username": "super", "password": "wrong"})
    assert response.status_code == 200
    assert b'class="error active"' in response.content


def test_home_opens_the_directories_list(admin_client):
    response = admin_client.get("/")
    assert response.status_code == 302
    assert response.url == reverse("directories:directory_list")


def test_logout_is_a_post_form_in_the_header(admin_client):
    page = admin_client.get(reverse("directories:directory_list")).content.decode()
    assert f'action="{reverse("logout")}"' in page and 'method="post"' in page
    assert "Super Admin" in page and "super" in page
    admin_client.post(reverse("logout"))
    assert admin_client.get(reverse("directories:directory_list")).status_code == 302


def test_readonly_admin_opens_every_page_but_the_change_only_ones(
    readonly_client, page_urls, change_only_urls
):
    readable = [url for url in page_urls if url not in change_only_urls]
    # Add Directory, Add Connector, the activation code, Sync without safeguards, OAuth Clients
    assert len(readable) == len(page_urls) - 5
    for url in readable:
        response = readonly_client.get(url)
        assert response.status_code == 200, url


def test_readonly_admin_is_refused_every_change_and_nothing_is_stored(
    readonly_client, directory, connectors, finished_run
):
    before = database_state()
    for url, data in change_requests(directory, connectors):
        response = readonly_client.post(url, data)
        assert response.status_code == 403, url
    assert database_state() == before


def test_every_refused_request_changes_state_when_a_super_admin_sends_it(
    admin_client, directory, connectors, finished_run
):
    """The requests the role tests replay are real changes, not forms refused anyway."""
    for url, data in change_requests(directory, connectors):
        before = database_state()
        response = admin_client.post(url, data)
        assert response.status_code in (200, 302), (url, response.status_code)
        # (Test Connection stores no settings, but records the health of the connectors
        # it probed.)
        assert database_state() != before, url


def test_readonly_admin_sees_no_change_buttons(readonly_client, directory):
    pages = [
        reverse("directories:directory_list"),
        reverse("directories:directory_detail", args=[directory.pk]),
        reverse("directories:directory_sync_connectors", args=[directory.pk]),
        reverse("connectors:connector_list"),
        reverse("directories:identityprovider_detail", args=[directory.identity_provider_id]),
    ]
    html = "".join(readonly_client.get(url).content.decode() for url in pages)
    for control in (
        "Add Directory",
        "Sync Now",
        'id="review"',
        "Sync without safeguards",
        "Add Connector",
        'id="save-sync-connectors"',
        'id="add-sync-connector"',
        'value="up:',
        'id="save-idp-connectors"',
        "Generate new activation code",
    ):
        assert control not in html, control
    # The saved list is still shown to read.
    assert "connector-1" in html


def test_directory_admin_cannot_add_connectors_or_issue_codes(diradmin_client, connectors):
    before = database_state()
    add = diradmin_client.post(reverse("connectors:connector_add"), {"name": "sneaky"})
    code = diradmin_client.post(
        reverse("connectors:connector_activation_code", args=[connectors[0].pk])
    )
    assert add.status_code == 403
    assert code.status_code == 403
    assert database_state() == before
    page = diradmin_client.get(reverse("connectors:connector_list")).content.decode()
    assert "Add Connector" not in page


def test_directory_admin_may_change_directories(diradmin_client, directory, connectors):
    url = reverse("directories:directory_sync_connectors", args=[directory.pk])
    ids = [c.pk for c in connectors]
    response = diradmin_client.post(url, {"connector": ids, "version": "1", "action": "save"})
    assert response.status_code == 302
    assert list(directory.sync_entries.values_list("connector_id", flat=True)) == ids


def test_every_page_that_answers_htmx_with_a_fragment_varies_on_hx_request(admin_client, page_urls):
    """A browser or proxy must never show a cached fragment as the page, or the reverse."""
    fragments = 0
    for url in page_urls:
        page = admin_client.get(url)
        fragment = admin_client.get(url, **HTMX)
        assert page.status_code == fragment.status_code == 200, url
        assert b"<html" in page.content, url
        if b"<html" not in fragment.content:
            fragments += 1
            for response in (page, fragment):
                vary = [v.strip() for v in response.get("Vary", "").split(",")]
                assert "HX-Request" in vary, url
    assert fragments >= 8


def test_htmx_answers_to_list_edits_vary_on_hx_request_too(admin_client, directory, connectors):
    """The Sync Connectors tab and the WorkspaceIDP connectors answer a POST with a
    fragment for htmx and the page without it, from the same URL: both vary."""
    idp = directory.identity_provider
    edits = [
        (
            reverse("directories:directory_sync_connectors", args=[directory.pk]),
            {"connector": [connectors[0].pk], "action": "add", "add_connector": connectors[1].pk},
        ),
        (
            reverse("directories:identityprovider_detail", args=[idp.pk]),
            {"connector": [connectors[0].pk], "action": "add", "add_connector": connectors[1].pk},
        ),
    ]
    for url, data in edits:
        fragment = admin_client.post(url, data, **HTMX)
        page = admin_client.post(url, data)
        assert fragment.status_code == page.status_code == 200, url
        assert b"<html" not in fragment.content and b"<html" in page.content, url
        for response in (page, fragment):
            vary = [v.strip() for v in response.get("Vary", "").split(",")]
            assert "HX-Request" in vary, url


def test_a_refused_change_is_a_styled_page_and_one_log_line(readonly_client, directory, caplog):
    import logging

    caplog.set_level(logging.WARNING, logger="django.request")
    url = reverse("directories:directory_sync_now", args=[directory.pk])
    response = readonly_client.post(url)
    assert response.status_code == 403
    html = response.content.decode()
    assert "Your role does not allow changes." in html and "Identity Manager" in html
    refusals = [r for r in caplog.records if r.name == "django.request"]
    assert refusals and all(r.exc_info is None for r in refusals)


def test_console_pages_carry_a_content_security_policy_without_inline_script(admin_client):
    from pathlib import Path

    response = admin_client.get(reverse("directories:directory_list"))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    # Every script the console's templates load is a file from /static/, none inline.
    templates = Path(__file__).resolve().parents[2] / "templates"
    for template in templates.rglob("*.html"):
        text = template.read_text()
        for tag in text.split("<script")[1:]:
            assert " src=" in tag.split(">")[0], template
        assert " on" + "click=" not in text and "hx-on" not in text, template
