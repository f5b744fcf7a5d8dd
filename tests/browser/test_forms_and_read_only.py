"""Add Directory's Test Connection and what a Read-only Admin sees, in Chromium."""

from __future__ import annotations

import pytest
from django.urls import reverse

from directories.models import Directory, IdentityProvider
from synclog.models import SyncRun
from testbed.wiring import register
from tests.browser.conftest import shoot


@pytest.mark.browser
@pytest.mark.ldap
def test_add_directory_test_connection_names_a_wrong_password_and_adds_nothing(
    console_browser, super_admin, slapd_factory, agent_factory
):
    from playwright.sync_api import expect

    server = slapd_factory(users=5, groups=1, members_per_group=3)
    connector = register(agent_factory("connector-1"))
    page = console_browser(super_admin)
    page.goto(page.base_url + reverse("directories:directory_add"))

    page.fill("#id_name", "new.example.com")
    page.select_option("#id_type", "ldap")
    page.fill("#id_host", server.host)
    page.fill("#id_port", str(server.port))
    page.fill("#id_base_dn", server.suffix)
    page.fill("#id_bind_dn", server.root_dn)
    page.fill("#id_bind_password", "not-the-password")
    page.select_option("#id_sync_connector", str(connector.pk))
    page.click("#test-connection")

    result = page.locator("#connection-test-result")
    expect(result).to_contain_text("Invalid credentials: connector-1 reached the agent")
    expect(result).to_contain_text(f"refused the bind as {server.root_dn}")
    expect(result).to_contain_text("(Test only: nothing was saved.)")
    # The typed values stay; the password is asked for again, never echoed.
    expect(page.locator("#id_name")).to_have_value("new.example.com")
    expect(page.locator("#id_port")).to_have_value(str(server.port))
    expect(page.locator("#id_bind_password")).to_have_value("")
    expect(page.locator("#directory-add-form")).to_contain_text("Type the bind password again")
    assert not Directory.objects.exists() and not IdentityProvider.objects.exists()
    assert not SyncRun.objects.exists()
    shoot(page, "test-connection-add")

    page.fill("#id_bind_password", server.root_password)
    page.click("#test-connection")
    expect(result).to_contain_text("Connection works: connector-1 bound to")
    expect(result).to_contain_text("found entries")
    assert not Directory.objects.exists()


@pytest.mark.browser
def test_readonly_admin_sees_the_banner_a_read_only_settings_tab_and_the_styled_pages(
    console_browser, readonly_admin, directory
):
    from playwright.sync_api import expect

    page = console_browser(readonly_admin)
    banner = page.locator("#read-only-banner")
    expect(banner).to_have_text(
        "Read-only access: you can view directories, connectors and the Sync Log but not "
        "change them."
    )

    page.click(f"a:has-text('{directory.name}')")
    expect(banner).to_be_visible()
    form = page.locator("#directory-settings-form")
    expect(form.locator("fieldset")).to_have_attribute("disabled", "")
    expect(page.locator("#id_host")).to_be_disabled()
    expect(page.locator("#id_host")).to_have_value(directory.host)
    expect(form.locator("button")).to_have_count(0)
    expect(page.locator("#test-connection")).to_have_count(0)
    shoot(page, "read-only")

    # Typing the address of a page that only changes things: the console's own 403.
    page.goto(page.base_url + reverse("directories:directory_add"))
    expect(page.locator("h2")).to_have_text("Not allowed")
    expect(page.locator("main")).to_contain_text("Your role does not allow changes.")
    expect(page.locator("#id_name")).to_have_count(0)
    expect(page.locator("nav.subnav")).to_be_visible()

    response = page.goto(page.base_url + "/directories/9999/")
    assert response is not None and response.status == 404
    expect(page.locator("h2")).to_have_text("Page not found")
    expect(page.locator("nav.subnav")).to_be_visible()
    expect(banner).to_be_visible()
    shoot(page, "not-found")
