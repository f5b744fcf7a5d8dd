"""The Sync Connectors procedure of the source document, clicked through in Chromium."""

from __future__ import annotations

import pytest

from directories.failover import sync_connector_list
from directories.models import Directory
from tests.browser.conftest import ARTIFACTS, CHROMIUM_ARGS
from tests.conftest import PASSWORD


@pytest.mark.browser
def test_admin_sets_failover_order_through_the_workspace_idp_and_sync_connectors_tab(
    chromium,
    live_server,
    transactional_db,
    super_admin,
    directory: Directory,
    connectors,
    monkeypatch,
):
    from playwright.sync_api import expect, sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM checks below are safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.set_default_timeout(10_000)
        try:
            page.goto(f"{live_server.url}/login/")
            page.fill("#id_username", super_admin.username)
            page.fill("#id_password", PASSWORD)
            page.click("button:has-text('Log in')")
            expect(page.locator("h2")).to_have_text("Directories")

            # Step 1: associate the new connectors with the directory's WorkspaceIDP.
            page.click("text=Identity & Access Management")
            page.click(f"a:has-text('{directory.name}')")
            page.click("#sync-and-authentication >> text=WorkspaceIDP")
            expect(page.locator("h3", has_text="Connector(s)")).to_be_visible()
            associated = page.locator("#idp-connectors-list strong")
            for name, count in (("connector-2", 2), ("connector-3", 3)):
                page.select_option("#id_idp_add_connector", label=f"{name} ({name}.example.com)")
                page.click("#add-idp-connector")
                expect(associated).to_have_count(count)
            page.click("#save-idp-connectors")
            expect(page.locator("#idp-connectors-notice")).to_be_visible()
            idp_connectors = directory.identity_provider.connectors.values_list("name", flat=True)
            assert sorted(idp_connectors) == ["connector-1", "connector-2", "connector-3"]

            # Steps 2-4: the directory's Sync Settings > Sync Connectors tab.
            page.click("nav.subnav >> text=Directories")
            page.click(f"a:has-text('{directory.name}')")
            page.click("ul.directory-tabs >> text=Sync Settings")
            page.click("#sync-connectors-tab")
            names = page.locator("#sync-connectors-list .connector-name")
            expect(names).to_have_text(["connector-1"])
            # Edits must not reload the page: the marker survives htmx swaps only.
            page.evaluate("window.__sameDocument = true")

            # Step 5: add with "Select a Connector" and "+", then move the last one to the top.
            for name, count in (("connector-2", 2), ("connector-3", 3)):
                page.select_option("#id_add_connector", label=f"{name} ({name}.example.com)")
                page.click("#add-sync-connector")
                expect(names).to_have_count(count)
            expect(names).to_have_text(["connector-1", "connector-2", "connector-3"])
            page.click("button[aria-label='Move connector-3 up']")
            expect(names).to_have_text(["connector-1", "connector-3", "connector-2"])
            page.click("button[aria-label='Move connector-3 up']")
            expect(names).to_have_text(["connector-3", "connector-1", "connector-2"])
            assert page.evaluate("window.__sameDocument") is True
            assert [c.name for c in sync_connector_list(directory)] == ["connector-1"]

            # Step 6: Save; the order is stored and survives a reload.
            page.click("#save-sync-connectors")
            expect(page.locator("#sync-connectors-notice")).to_contain_text("saved")
            page.reload()
            expect(names).to_have_text(["connector-3", "connector-1", "connector-2"])
            expect(page.locator(".list-note").first).to_contain_text("from the next sync")
            saved = [c.name for c in sync_connector_list(directory)]
            assert saved == ["connector-3", "connector-1", "connector-2"]

            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "sync-connectors-tab.png"), full_page=True)
        finally:
            browser.close()
            # Queries made inside Playwright's event loop ran on a connection of that context;
            # close it here, or it outlives the test and blocks dropping the test database.
            from django.db import connections

            connections.close_all()


@pytest.mark.browser
def test_the_sync_connectors_tab_works_with_javascript_off(
    chromium,
    live_server,
    transactional_db,
    super_admin,
    directory: Directory,
    connectors,
    monkeypatch,
):
    """Every edit is a plain form submission that reloads the page with the working list in
    hidden inputs; nothing is stored until Save."""
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from django.urls import reverse

    url = live_server.url + reverse("directories:directory_sync_connectors", args=[directory.pk])
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        context = browser.new_context(
            java_script_enabled=False, viewport={"width": 1280, "height": 860}
        )
        page = context.new_page()
        page.set_default_timeout(10_000)
        try:
            page.goto(f"{live_server.url}/login/")
            page.fill("#id_username", super_admin.username)
            page.fill("#id_password", PASSWORD)
            page.click("button:has-text('Log in')")
            page.goto(url)
            names = page.locator("#sync-connectors-list .connector-name")
            expect(names).to_have_text(["connector-1"])

            for name in ("connector-2", "connector-3"):
                page.select_option("#id_add_connector", label=f"{name} ({name}.example.com)")
                with page.expect_navigation():
                    page.click("#add-sync-connector")
            expect(names).to_have_text(["connector-1", "connector-2", "connector-3"])
            hidden = page.locator("#sync-connectors-list input[name='connector']")
            expect(hidden).to_have_count(3)
            with page.expect_navigation():
                page.click("button[aria-label='Move connector-1 down']")
            expect(names).to_have_text(["connector-2", "connector-1", "connector-3"])
            with page.expect_navigation():
                page.click("button[aria-label='Move connector-3 up']")
            expect(names).to_have_text(["connector-2", "connector-3", "connector-1"])
            with page.expect_navigation():
                page.click("button[aria-label='Remove connector-1']")
            expect(names).to_have_text(["connector-2", "connector-3"])
            expect(page.locator("#unsaved-note")).to_be_visible()
            assert [c.name for c in sync_connector_list(directory)] == ["connector-1"]

            with page.expect_navigation():
                page.click("#save-sync-connectors")
            saved_note = page.get_by_role("status").filter(has_text="Sync Connectors list saved")
            expect(saved_note).to_be_visible()
            expect(names).to_have_text(["connector-2", "connector-3"])
            expect(page.locator("#unsaved-note")).to_have_count(0)
            assert [c.name for c in sync_connector_list(directory)] == [
                "connector-2",
                "connector-3",
            ]
        finally:
            browser.close()
            from django.db import connections

            connections.close_all()
