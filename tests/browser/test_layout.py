"""Tables at 1280 and 800 px: nothing runs off the page, nothing is hidden, names stay whole."""

from __future__ import annotations

import pytest
from django.urls import reverse

from directories.services import save_sync_connectors, set_identity_provider_connectors
from tests.browser.conftest import shoot
from tests.conftest import make_connector

# The console tests' fixtures of synced users and groups and a finished run.
from tests.console.conftest import directory_data, finished_run  # noqa: F401

pytestmark = pytest.mark.browser

# Scrolls the element into view (its scrolling table too) and answers whether a user sees it:
# inside the window, and the topmost thing at its centre.
SEEN = """el => {
  el.scrollIntoView({block: 'center', inline: 'center'});
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) return 'has no size';
  if (r.left < 0 || r.right > window.innerWidth + 0.5) {
    return `runs off the window (${r.left}..${r.right})`;
  }
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return hit && (el === hit || el.contains(hit)) ? '' : 'is covered or clipped';
}"""

SCROLL_BACK = """() => {
  window.scrollTo(0, 0);
  document.querySelectorAll('.table-scroll').forEach(el => { el.scrollLeft = 0; });
}"""

# Clarity's content area is a scroller of its own: it must not scroll sideways either.
NO_SIDEWAYS_SCROLL = """() => document.documentElement.scrollWidth <= window.innerWidth
  && [...document.querySelectorAll('.main-container, .content-container, .content-area')]
    .every(el => el.scrollWidth <= el.clientWidth)"""


def assert_seen(page, selector: str) -> None:
    cells = page.locator(selector)
    assert cells.count() > 0, selector
    for i in range(cells.count()):
        problem = cells.nth(i).evaluate(SEEN)
        assert not problem, f"{selector} #{i} ({cells.nth(i).inner_text()!r}) {problem}"


@pytest.mark.parametrize("width", [800, 1280])
def test_tables_fit_the_window_and_every_column_can_be_scrolled_into_view(
    console_browser, super_admin, directory, connectors, request, width
):
    from playwright.sync_api import expect

    run = request.getfixturevalue("finished_run")
    request.getfixturevalue("directory_data")
    # A site's real names are longer than connector-1: they widen every column.
    far = make_connector("connector-frankfurt-datacenter-04")
    listed = [*connectors, far]
    save_sync_connectors(directory, [c.pk for c in listed])
    set_identity_provider_connectors(directory.identity_provider, [c.pk for c in listed])
    page = console_browser(super_admin, width=width, height=800)

    page.goto(page.base_url + reverse("connectors:connector_list"))
    expect(page.locator("#connector-table table")).to_be_visible()
    assert page.evaluate(NO_SIDEWAYS_SCROLL), "the Connectors page scrolls sideways"
    assert_seen(page, "#connector-table th")
    assert_seen(page, "#connector-table a:has-text('Generate new activation code')")
    # A connector's name is one line box, not broken over two.
    names = page.locator("#connector-table tbody td:first-child strong")
    for i in range(names.count()):
        lines = names.nth(i).evaluate("el => el.getClientRects().length")
        assert lines == 1, f"{names.nth(i).inner_text()} wraps over {lines} lines"
    page.evaluate(SCROLL_BACK)
    shoot(page, f"layout-{width}-connectors")

    page.goto(page.base_url + reverse("directories:directory_list"))
    assert page.evaluate(NO_SIDEWAYS_SCROLL), "the Directories page scrolls sideways"
    assert_seen(page, "#directory-table th")
    assert_seen(page, "#directory-table tbody td:last-child .label")
    page.evaluate(SCROLL_BACK)
    if width == 800:
        shoot(page, "layout-800-directories")

    for url, table in (
        (reverse("synclog:syncrun_list"), "#sync-log-table table"),
        (reverse("directories:directory_sync_log", args=[directory.pk]), "#sync-log-table table"),
        (reverse("synclog:syncrun_detail", args=[run.pk]), "#change-table table"),
        (reverse("directories:directory_users", args=[directory.pk]), "#users-table table"),
        (reverse("directories:directory_groups", args=[directory.pk]), "#groups-table table"),
    ):
        page.goto(page.base_url + url)
        assert page.evaluate(NO_SIDEWAYS_SCROLL), f"{url} scrolls sideways"
        assert_seen(page, f"{table} th")


def test_the_refreshing_connectors_table_keeps_its_sideways_scroll_and_focus(
    console_browser, super_admin, directory, connectors
):
    page = console_browser(super_admin, width=800, height=800)
    page.goto(page.base_url + reverse("connectors:connector_list"))
    region = page.locator("#connector-table-scroll")
    region.focus()
    for _ in range(5):  # the keyboard scrolls the focused region sideways
        page.keyboard.press("ArrowRight")
    page.wait_for_timeout(300)
    scrolled = region.evaluate("el => el.scrollLeft")
    assert scrolled > 0
    # The table refreshes every 5 s: mark the old one and wait until it is replaced.
    page.evaluate("document.querySelector('#connector-table').dataset.old = 'yes'")
    page.wait_for_function("() => !document.querySelector('#connector-table').dataset.old")
    assert region.evaluate("el => el.scrollLeft") == scrolled
    assert page.evaluate("document.activeElement.id") == "connector-table-scroll"
