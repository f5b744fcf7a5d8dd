"""Chromium through Playwright, signed in as a given admin, with screenshots under test-artifacts/.

Use `console_browser` for a factory of signed-in pages:

    def test_x(console_browser, super_admin):
        page = console_browser(super_admin)                       # 1280x800, JavaScript on
        page = console_browser(readonly_admin, width=800, javascript=False)
        ...
        shoot(page, "name")                                      # test-artifacts/name.png
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from tests.support.components import missing

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def shoot(page, name: str) -> Path:
    """A full-page screenshot at test-artifacts/<name>.png; returns its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page, base_url: str, user) -> None:
    from playwright.sync_api import expect

    page.goto(f"{base_url}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Log in')")
    expect(page.locator("h2").first).to_be_visible()


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        missing("Chromium", f"Debian's chromium is not installed at {CHROMIUM}")
    return CHROMIUM


@pytest.fixture
def playwright_session(chromium, monkeypatch) -> Iterator:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM checks in tests are safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
            # Queries made inside Playwright's event loop ran on a connection of that context;
            # close it here, or it outlives the test and blocks dropping the test database.
            from django.db import connections

            connections.close_all()


@pytest.fixture
def console_browser(playwright_session, live_server, transactional_db) -> Callable:
    """A factory: console_browser(user, width=1280, height=800, javascript=True) -> a page
    signed in as `user` (or not signed in when user is None)."""

    def open_page(user=None, *, width: int = 1280, height: int = 800, javascript: bool = True):
        context = playwright_session.new_context(
            java_script_enabled=javascript, viewport={"width": width, "height": height}
        )
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.base_url = live_server.url
        if user is not None:
            sign_in(page, live_server.url, user)
        return page

    return open_page
