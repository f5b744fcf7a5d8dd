"""Users & Groups: searching every directory at once, accents ignored, in Chromium."""

from __future__ import annotations

import pytest
from django.utils import timezone

from directories.models import DirectoryUser
from directories.services import create_directory
from tests.browser.conftest import shoot


@pytest.mark.browser
def test_typing_zoe_in_all_directories_finds_zoe_in_each_with_its_directory(
    console_browser, super_admin, directory, connectors
):
    from playwright.sync_api import expect

    branch = create_directory(
        name="branch.example.com",
        type="ldap",
        sync_connector=connectors[0],
        host="h",
        base_dn="dc=b",
        bind_dn="cn=b",
    )
    for d in (directory, branch):
        for username, first, last in (("zlopez", "Zoë", "López"), ("amuller", "Anna", "Müller")):
            DirectoryUser.objects.create(
                directory=d,
                external_id=username,
                dn=f"uid={username},dc=x",
                username=username,
                first_name=first,
                last_name=last,
                email=f"{username}@{d.name}",
                synced_at=timezone.now(),
            )

    page = console_browser(super_admin)
    page.goto(f"{page.base_url}/users-groups/")
    page.select_option("#id_directory", "all")
    page.click(".directory-selector button:has-text('Show')")
    expect(page.locator(".page-meta")).to_have_text("Across all directories")
    expect(page.locator("#users-table tbody tr")).to_have_count(4)

    # Typed, not submitted: htmx asks for the table as the admin types.
    page.locator("#id_search").press_sequentially("zoe", delay=30)
    rows = page.locator("#users-table tbody tr")
    expect(rows).to_have_count(2)
    directories = sorted(rows.locator("td.row-directory").all_inner_texts())
    assert directories == ["branch.example.com", "corp.example.com"]
    expect(rows.first.locator("td").nth(2)).to_have_text("Zoë López")
    assert page.url.endswith("/users-groups/all/users/?search=zoe")
    shoot(page, "search-accents")
