"""Every console page checked by axe-core in Chromium: no serious or critical finding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.urls import reverse

from tests.browser.conftest import sign_in

# The console tests' fixtures of every page a GET opens, with the data those pages show.
from tests.console.conftest import directory_data, finished_run, page_urls  # noqa: F401
from tests.support.components import missing

# Fetched by `make deps` (npm pack into var/npm); never served by the console.
AXE_JS = sorted(Path(__file__).resolve().parents[2].glob("var/npm/axe-core-*/axe.min.js"))

pytestmark = pytest.mark.browser


def axe_findings(page) -> list[dict]:
    """Violations of impact serious or critical on the page as it is now."""
    if not AXE_JS:
        missing("axe-core", "run `make deps` to fetch it into var/npm")
    page.add_script_tag(path=str(AXE_JS[-1]))
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        {
            "rule": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


def check_pages(
    page, base_url: str, urls: list[str], statuses: dict[str, int] | None = None
) -> dict[str, list[dict]]:
    """axe's findings per URL; a page that answers another status than expected (200 unless
    `statuses` says otherwise) is a finding too, so an error page is never checked instead."""
    found = {}
    for url in urls:
        response = page.goto(base_url + url)
        status = response.status if response is not None else None
        expected = (statuses or {}).get(url, 200)
        findings = axe_findings(page)
        if status != expected:
            findings.insert(0, {"rule": "status", "expected": expected, "got": status})
        if findings:
            found[url] = findings
    return found


@pytest.fixture
def axe_page(playwright_session, live_server, transactional_db):
    """A signed-in page whose context lets Playwright add axe despite the console's CSP."""

    def open_page(user=None):
        context = playwright_session.new_context(
            bypass_csp=True, viewport={"width": 1280, "height": 800}
        )
        page = context.new_page()
        page.set_default_timeout(10_000)
        if user is not None:
            sign_in(page, live_server.url, user)
        return page

    return open_page


def test_every_console_page_has_no_serious_or_critical_axe_finding(
    axe_page, live_server, super_admin, readonly_admin, directory, connectors, request
):
    every_page = request.getfixturevalue("page_urls")
    anonymous = axe_page()
    found = check_pages(anonymous, live_server.url, [reverse("login")])

    missing_directory = reverse("directories:directory_detail", args=[999_999])
    admin = axe_page(super_admin)
    urls = every_page + [
        reverse("directories:users_groups"),
        reverse("directories:all_users"),
        reverse("directories:all_groups"),
        reverse("directories:directory_delete", args=[directory.pk]),
        reverse("connectors:connector_delete", args=[connectors[2].pk]),
        reverse("profile"),
        # The styled 404: an address that names no directory.
        missing_directory,
    ]
    found |= check_pages(admin, live_server.url, urls, {missing_directory: 404})

    readonly = axe_page(readonly_admin)
    readonly_urls = [
        reverse("directories:directory_list"),
        reverse("directories:directory_detail", args=[directory.pk]),
        # The styled 403: a page that only changes things, opened by its address.
        reverse("directories:directory_add"),
        missing_directory,
        reverse("profile"),
    ]
    statuses = {reverse("directories:directory_add"): 403, missing_directory: 404}
    found |= {
        f"{url} (read-only)": f
        for url, f in check_pages(readonly, live_server.url, readonly_urls, statuses).items()
    }
    assert not found, json.dumps(found, indent=1)


def test_the_sync_connectors_panel_after_edits_and_on_confirmation_has_no_axe_finding(
    axe_page, live_server, super_admin, directory, connectors
):
    page = axe_page(super_admin)
    page.goto(
        live_server.url + reverse("directories:directory_sync_connectors", args=[directory.pk])
    )
    page.select_option("#id_add_connector", label="connector-2 (connector-2.example.com)")
    page.click("#add-sync-connector")
    page.locator("#sync-connectors-status").get_by_text("added at position 2").wait_for()
    found = {"after an edit": axe_findings(page)}
    for name in ("connector-1", "connector-2"):
        page.click(f"button[aria-label='Remove {name}']")
        page.locator("#sync-connectors-status").get_by_text(f"{name} removed").wait_for()
    page.click("#save-sync-connectors")
    page.locator("#confirm-empty-list").wait_for()
    found["confirming an empty list"] = axe_findings(page)
    assert not any(found.values()), json.dumps(found, indent=1)
