"""In Chromium: the Swagger UI page renders the v1 API under the console's CSP with nothing
fetched from another host, and the API tokens page shows a new key once."""

from __future__ import annotations

from urllib.parse import urlparse

from playwright.sync_api import expect

from apitokens.models import ApiToken
from tests.browser.conftest import shoot


def test_swagger_ui_renders_every_group_with_no_csp_violation_or_outside_request(
    console_browser, super_admin, directory
):
    page = console_browser(super_admin)
    violations, hosts, errors = [], set(), []
    page.on(
        "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: hosts.add(urlparse(r.url).netloc))
    page.goto(f"{page.base_url}/api/v1/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Directory sync console API")
    for tag in ("directories", "sync-runs", "tokens", "users", "groups"):
        expect(page.locator(f"#operations-tag-{tag}")).to_be_visible()
    shoot(page, "api-docs")
    assert violations == [] and errors == []
    assert hosts == {urlparse(page.base_url).netloc}


def test_a_read_only_admin_creates_a_token_and_sees_its_key_once(console_browser, readonly_admin):
    page = console_browser(readonly_admin)
    page.click(f"summary:has-text('{readonly_admin.username}')")
    page.click("#user-menu-api-tokens")
    page.fill("#id_name", "nightly report")
    page.click("button:has-text('Create token')")
    key = page.locator("#new-token-key").inner_text().strip()
    token = ApiToken.objects.get(name="nightly report")
    assert key.startswith(f"dsc_{token.key_id}.")
    shoot(page, "api-tokens")
    page.goto(f"{page.base_url}/api-tokens/")
    expect(page.locator(f"#token-{token.pk}")).to_contain_text("nightly report")
    assert key not in page.content()
    page.click(f"#revoke-{token.pk}")
    expect(page.locator(f"#token-{token.pk}")).to_contain_text("Revoked")
