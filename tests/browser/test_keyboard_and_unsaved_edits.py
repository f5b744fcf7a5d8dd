"""Working lists with the keyboard alone, a screen reader's announcements, the confirmation
before an empty list switches failover off, and the prompt before unsaved edits are lost."""

from __future__ import annotations

import pytest
from django.urls import reverse

from directories.failover import sync_connector_list
from directories.services import save_sync_connectors
from tests.browser.conftest import shoot

pytestmark = pytest.mark.browser

FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return 'the page body';
  return el.getAttribute('aria-label') || el.id || el.textContent.trim();
}"""


def focused(page) -> str:
    return page.evaluate(FOCUSED)


def expect_focus(page, name: str) -> None:
    """Wait (htmx settles after the swap) until the control named `name` has the focus."""
    try:
        page.wait_for_function(f"name => ({FOCUSED})() === name", arg=name, timeout=3000)
    except Exception as exc:
        raise AssertionError(f"focus is on {focused(page)!r}, not {name!r}") from exc


def tab_to(page, name: str, limit: int = 60) -> None:
    """Press Tab until the control named `name` has the focus."""
    for _ in range(limit):
        if focused(page) == name:
            return
        page.keyboard.press("Tab")
    if focused(page) == name:
        return
    raise AssertionError(f"Tab never reached {name!r}; focus is on {focused(page)!r}")


def test_keyboard_edits_keep_focus_on_the_row_and_are_announced(
    console_browser, super_admin, directory, connectors
):
    from playwright.sync_api import expect

    save_sync_connectors(directory, [c.pk for c in connectors])
    page = console_browser(super_admin)
    page.goto(page.base_url + reverse("directories:directory_sync_connectors", args=[directory.pk]))
    names = page.locator("#sync-connectors-list .connector-name")
    status = page.locator("#sync-connectors-status")
    expect(status).to_have_attribute("aria-live", "polite")
    page.keyboard.press("Tab")  # into the page; everything after this is Tab and Enter

    tab_to(page, "Move connector-3 up")
    page.keyboard.press("Enter")
    expect(names).to_have_text(["connector-1", "connector-3", "connector-2"])
    expect(status).to_have_text("connector-3 moved to position 2 of 3.")
    expect_focus(page, "Move connector-3 up")

    page.keyboard.press("Enter")
    expect(names).to_have_text(["connector-3", "connector-1", "connector-2"])
    expect(status).to_have_text("connector-3 moved to position 1 of 3.")
    # ▲ is disabled on the first row: the row's other arrow keeps the focus.
    expect_focus(page, "Move connector-3 down")

    tab_to(page, "Remove connector-1")
    page.keyboard.press("Enter")
    expect(names).to_have_text(["connector-3", "connector-2"])
    expect(status).to_have_text("connector-1 removed; 2 connectors in the list.")
    expect_focus(page, "Remove connector-2")

    page.keyboard.press("Enter")
    expect(names).to_have_text(["connector-3"])
    expect(status).to_have_text("connector-2 removed; 1 connector in the list.")
    expect_focus(page, "id_add_connector")

    # The picker offers connector-1 and connector-2: pick the second with the arrow keys.
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert page.eval_on_selector("#id_add_connector", "s => s.selectedOptions[0].text").startswith(
        "connector-2"
    )
    page.keyboard.press("Tab")
    expect_focus(page, "Add the selected connector to the Sync Connectors list")
    page.keyboard.press("Enter")
    expect(names).to_have_text(["connector-3", "connector-2"])
    expect(status).to_have_text("connector-2 added at position 2.")
    expect_focus(page, "Move connector-2 up")
    shoot(page, "keyboard-sync-connectors")
    assert [c.name for c in sync_connector_list(directory)] == [
        "connector-1",
        "connector-2",
        "connector-3",
    ]


def test_keyboard_edits_of_the_workspace_idp_connectors_keep_focus(
    console_browser, super_admin, directory, connectors
):
    from playwright.sync_api import expect

    page = console_browser(super_admin)
    page.goto(page.base_url + directory.identity_provider.get_absolute_url())
    status = page.locator("#idp-connectors-status")
    page.keyboard.press("Tab")
    tab_to(page, "id_idp_add_connector")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # adds the first connector offered, connector-2
    expect(status).to_have_text("connector-2 added at position 2.")
    expect_focus(page, "connector-2")

    tab_to(page, "Remove connector-2")
    page.keyboard.press("Enter")
    expect(status).to_have_text("connector-2 removed; 1 connector associated.")
    expect_focus(page, "id_idp_add_connector")


def leave_by_link(page) -> list[str]:
    """Click the Connectors link of the menu; the dialogs the browser raised, dismissed."""
    dialogs: list[str] = []

    def dismiss(dialog) -> None:
        dialogs.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.click("nav.subnav >> text=Connectors")
    page.wait_for_timeout(500)
    page.remove_listener("dialog", dismiss)
    return dialogs


def test_leaving_with_staged_list_edits_asks_first_and_without_edits_does_not(
    console_browser, super_admin, directory, connectors
):
    from playwright.sync_api import expect

    url = reverse("directories:directory_sync_connectors", args=[directory.pk])
    page = console_browser(super_admin)
    page.goto(page.base_url + url)
    page.select_option("#id_add_connector", label="connector-2 (connector-2.example.com)")
    page.click("#add-sync-connector")
    expect(page.locator("#unsaved-note")).to_be_visible()
    assert leave_by_link(page) == ["beforeunload"]
    assert page.url.endswith(url)

    page.click("#save-sync-connectors")
    expect(page.locator("#sync-connectors-notice")).to_be_visible()
    assert leave_by_link(page) == []
    expect(page.locator("h2")).to_have_text("Connectors")

    # The WorkspaceIDP's connectors: the same for a staged association.
    idp_url = directory.identity_provider.get_absolute_url()
    page.goto(page.base_url + idp_url)
    assert leave_by_link(page) == []
    page.goto(page.base_url + idp_url)
    page.click("#add-idp-connector")
    expect(page.locator("#idp-connectors-list strong")).to_have_count(2)
    assert leave_by_link(page) == ["beforeunload"]
    assert page.url.endswith(idp_url)


def test_leaving_an_edited_form_asks_first_but_submitting_it_does_not(
    console_browser, super_admin, directory, connectors
):
    from playwright.sync_api import expect

    page = console_browser(super_admin)
    detail = directory.get_absolute_url()
    page.goto(page.base_url + detail)
    assert leave_by_link(page) == []

    page.goto(page.base_url + detail)
    page.fill("#id_port", "636")
    assert leave_by_link(page) == ["beforeunload"]
    assert page.url.endswith(detail)

    page.goto(page.base_url + detail)  # reloading after a dismissed prompt asks again
    page.fill("#id_port", "1389")
    with page.expect_navigation():
        page.click("#directory-settings-form button[type=submit] >> nth=0")
    expect(page.locator("#id_port")).to_have_value("1389")

    # A form sent back with an error holds typed values that nothing has stored.
    page.fill("#id_port", "70000")
    with page.expect_navigation():
        page.click("#directory-settings-form button[type=submit] >> nth=0")
    expect(page.locator("#id_port")).to_have_value("70000")
    assert leave_by_link(page) == ["beforeunload"]

    for url, field in (
        (
            reverse("directories:directory_sync_settings", args=[directory.pk, "users"]),
            "#id_user_filter",
        ),
        (reverse("directories:directory_add"), "#id_name"),
    ):
        page.goto(page.base_url + url)
        page.fill(field, "(objectClass=person)")
        assert leave_by_link(page) == ["beforeunload"], url


def test_an_emptied_list_is_saved_only_after_confirmation_with_javascript(
    console_browser, super_admin, directory, connectors
):
    from playwright.sync_api import expect

    page = console_browser(super_admin)
    page.goto(page.base_url + reverse("directories:directory_sync_connectors", args=[directory.pk]))
    page.click("button[aria-label='Remove connector-1']")
    # Save only once the swap of the removal has settled (it replaces the Save button).
    expect(page.locator("#sync-connectors-status")).to_contain_text("connector-1 removed")
    page.click("#save-sync-connectors")
    warning = page.locator("#confirm-empty-list")
    expect(warning).to_contain_text(
        "Saving an empty list switches failover off: only connector-1 will sync "
        "corp.example.com, with no fallback."
    )
    expect(page.locator("#sync-connectors-status")).to_contain_text("switches failover off")
    shoot(page, "confirm-empty-sync-connectors")
    assert [c.name for c in sync_connector_list(directory)] == ["connector-1"]

    page.click("#cancel-empty-save")
    expect(warning).to_have_count(0)
    expect(page.locator("#unsaved-note")).to_be_visible()
    assert [c.name for c in sync_connector_list(directory)] == ["connector-1"]

    page.click("#save-sync-connectors")
    page.click("#confirm-empty-save")
    expect(page.locator("#sync-connectors-notice")).to_contain_text("saved")
    assert sync_connector_list(directory) == []


def test_an_emptied_list_is_saved_only_after_confirmation_with_javascript_off(
    console_browser, super_admin, directory, connectors
):
    from playwright.sync_api import expect

    page = console_browser(super_admin, javascript=False)
    page.goto(page.base_url + reverse("directories:directory_sync_connectors", args=[directory.pk]))
    with page.expect_navigation():
        page.click("button[aria-label='Remove connector-1']")
    expect(page.get_by_role("status").filter(has_text="removed")).to_have_text(
        "connector-1 removed; 0 connectors in the list."
    )
    with page.expect_navigation():
        page.click("#save-sync-connectors")
    expect(page.locator("#confirm-empty-list")).to_contain_text("only connector-1 will sync")
    assert [c.name for c in sync_connector_list(directory)] == ["connector-1"]
    with page.expect_navigation():
        page.click("#cancel-empty-save")
    expect(page.locator("#sync-connectors-list .connector-name")).to_have_count(0)
    assert [c.name for c in sync_connector_list(directory)] == ["connector-1"]
    with page.expect_navigation():
        page.click("#save-sync-connectors")
    with page.expect_navigation():
        page.click("#confirm-empty-save")
    expect(page.get_by_role("status").first).to_contain_text("Sync Connectors list saved")
    assert sync_connector_list(directory) == []
