"""Issue 13's points that had no browser test or screenshot yet: Test Connection on a
directory's Settings tab (point 1), the WorkspaceIDP rule's wording (4), recency hints (5),
the styled 403 page (7), the Sync Log's Trigger filter and a run's filtered changes (8), and
the Sync Connectors tab on the JavaScript-off path the issue's Tests ask for."""

from __future__ import annotations

import socket
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse
from django.utils import timezone

from connectors.models import Connector
from directories import failover
from directories.models import Directory
from directories.services import create_directory, save_sync_connectors
from synclog.choices import RunStatus, Trigger
from testbed.wiring import register
from tests.browser.conftest import shoot
from tests.console.conftest import finished_run, make_run  # noqa: F401

# The wording of rule S7 on the WorkspaceIDP page, as the template states it.
IDP_RULE = (
    "Connectors associated here authenticate users of these directories. Any connector can be "
    "placed in a directory's Sync Connectors list and sync it, but one not associated here "
    "cannot authenticate its users: the Sync Connectors tab marks it, and this page warns when "
    "a list holds it."
)

# The Sync Log table's Trigger column, counted from 0 with the Directory column shown.
TRIGGER_COLUMN = 4


def closed_port() -> int:
    """A local TCP port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ldap_directory(name: str, connector: Connector, **fields) -> Directory:
    return create_directory(
        name=name,
        type="ldap",
        sync_connector=connector,
        **{
            "host": "127.0.0.1",
            "port": 389,
            "base_dn": "dc=example,dc=com",
            "bind_dn": "cn=admin,dc=example,dc=com",
            "bind_password": "secret",
            **fields,
        },
    )


def shown_run_ids(page) -> list[int]:
    return [
        int(row.get_attribute("id").removeprefix("run-")) for row in page.locator(".run-row").all()
    ]


def shown_triggers(page) -> set[str]:
    """The Trigger column of every row shown."""
    return set(
        page.locator(".run-row").evaluate_all(
            f"rows => rows.map(r => r.cells[{TRIGGER_COLUMN}].innerText.trim())"
        )
    )


# Point 1: Test Connection on the Settings tab tests what is typed, and stores nothing.


@pytest.mark.browser
@pytest.mark.ldap
def test_settings_test_connection_tests_the_typed_values_and_saves_nothing(
    console_browser, directory_admin, slapd_factory, agent_factory
):
    from playwright.sync_api import expect

    server = slapd_factory(users=5, groups=1, members_per_group=3)
    connector = register(agent_factory("connector-1"))
    # Stored: a port nothing answers on and a wrong bind password.
    wrong_port = closed_port()
    directory = ldap_directory(
        "corp.example.com",
        connector,
        host=server.host,
        port=wrong_port,
        base_dn=server.suffix,
        bind_dn=server.root_dn,
        bind_password="not-the-password",
        user_dns=[server.people_dn],
        group_dns=[server.groups_dn],
    )
    page = console_browser(directory_admin, height=1000)
    page.goto(page.base_url + directory.get_absolute_url())
    result = page.locator("#connection-test-result")
    expect(result).to_have_count(0)

    # As stored: the agent cannot reach the directory, in plain words.
    page.click("#test-connection")
    expect(result).to_contain_text("Host unreachable:")
    expect(result).to_contain_text("connector-1 reached the agent, but:")
    expect(result).to_contain_text("(Test only: nothing was saved.)")

    # The right port typed: the stored password is not sent to a changed port.
    page.fill("#id_port", str(server.port))
    page.click("#test-connection")
    expect(page.locator("#directory-settings-form")).to_contain_text(
        "Enter the bind password again: it is only sent to a changed port when you type it."
    )
    expect(result).to_have_count(0)
    expect(page.locator("#id_port")).to_have_value(str(server.port))

    # With a wrong password typed, the typed port answers and refuses the bind.
    page.fill("#id_bind_password", "still-not-the-password")
    page.click("#test-connection")
    expect(result).to_contain_text("Invalid credentials: connector-1 reached the agent")
    expect(result).to_contain_text(f"refused the bind as {server.root_dn}")
    expect(page.locator("#id_port")).to_have_value(str(server.port))

    # The right password typed too: it works, with what it bound to.
    page.fill("#id_bind_password", server.root_password)
    page.click("#test-connection")
    expect(result).to_have_class("alert alert-success connection-test-result")
    expect(result).to_contain_text(
        f"Connection works: connector-1 bound to {server.host}:{server.port} as "
        f"{server.root_dn} and found entries. (Test only: nothing was saved.)"
    )
    # The typed port stays on the form; the password is asked for again to save it.
    expect(page.locator("#id_port")).to_have_value(str(server.port))
    expect(page.locator("#id_bind_password")).to_have_value("")
    expect(page.locator("#directory-settings-form")).to_contain_text(
        "Type the bind password again to save it"
    )
    shoot(page, "test-connection-settings")

    directory.refresh_from_db()
    assert directory.port == wrong_port
    assert directory.bind_password == "not-the-password"


# Point 4: the WorkspaceIDP page states rule S7 where the seed procedure sends the admin.


@pytest.mark.browser
def test_the_workspace_idp_page_states_the_rule_in_its_connectors_section(
    console_browser, super_admin, readonly_admin, directory, connectors
):
    from playwright.sync_api import expect

    c1, c2, _ = connectors
    # connector-2 syncs corp.example.com without being associated with its WorkspaceIDP.
    save_sync_connectors(directory, [c1.pk, c2.pk])
    page = console_browser(super_admin, height=1000)

    # The seed's step 1: the directory, its Directory Sync and Authentication section, the
    # WorkspaceIDP link, then the Connector(s) section.
    page.click(f"a:has-text('{directory.name}')")
    page.locator("#sync-and-authentication").get_by_role(
        "link", name="WorkspaceIDP__corp.example.com"
    ).click()
    expect(page.locator("h2")).to_have_text("WorkspaceIDP__corp.example.com")
    section = page.locator("#connectors-section")
    rule = section.locator("#idp-connectors-rule")
    expect(rule).to_be_visible()
    expect(rule).to_have_text(IDP_RULE)
    expect(section.locator("h3")).to_have_text("Connector(s)")
    # Read before the list and the picker it is about: under the heading, above the table.
    heading = section.locator("h3").bounding_box()
    said = rule.bounding_box()
    table = section.locator("#idp-connectors-list").bounding_box()
    picker = section.locator("#add-idp-connector").bounding_box()
    assert heading["y"] < said["y"] < table["y"] < picker["y"]

    # What the rule promises: this page warns about connector-2 ...
    expect(page.locator("#idp-list-warnings")).to_have_text(
        "connector-2 is in the Sync Connectors list of corp.example.com but not associated "
        "with WorkspaceIDP__corp.example.com: it can sync the directory but not authenticate "
        "its users until it is associated."
    )
    # ... and the Sync Connectors tab marks it.
    page.goto(page.base_url + reverse("directories:directory_sync_connectors", args=[directory.pk]))
    expect(page.locator("#not-associated-warning")).to_contain_text(
        "connector-2 is in the Sync Connectors list of corp.example.com but not associated"
    )
    assert [c.name for c in failover.sync_connector_list(directory)] == [
        "connector-1",
        "connector-2",
    ]

    # A Read-only Admin reads the same rule, though the page offers no picker.
    reader = console_browser(readonly_admin)
    reader.goto(
        reader.base_url
        + reverse("directories:identityprovider_detail", args=[directory.identity_provider_id])
    )
    expect(reader.locator("#idp-connectors-rule")).to_have_text(IDP_RULE)
    expect(reader.locator("#add-idp-connector")).to_have_count(0)


# Point 8: the global Sync Log's Trigger filter.


@pytest.mark.browser
def test_the_sync_log_trigger_filter_shows_only_that_trigger_and_keeps_it(
    console_browser, super_admin, directory, connectors
):
    from playwright.sync_api import expect

    branch = ldap_directory("branch.example.com", connectors[1])
    now = timezone.now()
    count = iter(range(1, 100))

    def run(target: Directory, trigger: str, **fields) -> int:
        n = next(count)
        started = now - timedelta(minutes=17 * n)
        times = {
            "created": started,
            "started_at": started,
            "finished_at": started + timedelta(seconds=30 + n),
        }
        return make_run(target, trigger=trigger, users_added=n, **times, **fields).pk

    manual = [run(directory, Trigger.MANUAL), run(branch, Trigger.MANUAL)]
    review = [run(directory, Trigger.REVIEW)]
    api = [run(directory, Trigger.API, status=RunStatus.FAILED)]
    # 21 scheduled runs of both directories: a page of 20 and one more on page 2.
    scheduled = [run((directory, branch)[n % 2], Trigger.SCHEDULED) for n in range(21)]
    page = console_browser(super_admin, height=900)
    page.goto(page.base_url + reverse("synclog:syncrun_list"))
    expect(page.locator("#f-trigger")).to_have_value("")
    assert shown_triggers(page) == {"Sync Now", "Review", "API", "Scheduled"}

    page.select_option("#f-trigger", label="Scheduled")
    page.click("#sync-log-filters button[type=submit]")
    expect(page.locator(".pagination-description")).to_have_text("Page 1 of 2 · 1–20 of 21")
    assert shown_run_ids(page) == scheduled[:20]
    assert shown_triggers(page) == {"Scheduled"}
    assert parse_qs(urlparse(page.url).query) == {"trigger": ["scheduled"]}
    expect(page.locator("#f-trigger")).to_have_value("scheduled")
    # The CSV link exports what the table shows.
    export = urlparse(page.locator("#sync-log-export").get_attribute("href"))
    assert export.path == reverse("synclog:syncrun_export")
    assert parse_qs(export.query) == {"trigger": ["scheduled"]}
    shoot(page, "sync-log-trigger-filter")

    # The next page keeps the filter, in the table and in the address.
    page.click(".console-pagination a[rel=next]")
    expect(page.locator(".pagination-description")).to_have_text("Page 2 of 2 · 21–21 of 21")
    page.wait_for_url(lambda url: "page=2" in url)
    assert shown_run_ids(page) == scheduled[20:]
    query = parse_qs(urlparse(page.url).query)
    assert query == {"trigger": ["scheduled"], "page": ["2"]}
    # That address, opened again, shows the same page with the filter chosen.
    page.goto(page.url)
    assert shown_run_ids(page) == scheduled[20:]
    expect(page.locator("#f-trigger")).to_have_value("scheduled")

    # Another trigger, with a directory too: both kept.
    page.select_option("#f-trigger", label="Sync Now")
    page.select_option("#f-directory", label="branch.example.com")
    page.click("#sync-log-filters button[type=submit]")
    expect(page.locator(".run-row")).to_have_count(1)
    assert shown_run_ids(page) == manual[1:]
    assert shown_triggers(page) == {"Sync Now"}
    expect(page.locator("#f-trigger")).to_have_value("manual")
    expect(page.locator("#f-directory")).to_have_value(str(branch.pk))

    page.select_option("#f-directory", label="All")
    page.select_option("#f-trigger", label="Review")
    page.click("#sync-log-filters button[type=submit]")
    expect(page.locator(".run-row")).to_have_count(1)
    assert shown_run_ids(page) == review
    assert shown_triggers(page) == {"Review"}

    page.select_option("#f-trigger", label="API")
    page.click("#sync-log-filters button[type=submit]")
    expect(page.locator(".run-row")).to_have_count(1)
    assert shown_run_ids(page) == api

    # All again: every run, newest first.
    page.select_option("#f-trigger", label="All")
    page.click("#sync-log-filters button[type=submit]")
    expect(page.locator(".pagination-description")).to_have_text("Page 1 of 2 · 1–20 of 25")
    assert shown_run_ids(page) == (manual + review + api + scheduled)[:20]


# Point 5: hints of how long ago, on the lists about recency.


@pytest.mark.browser
def test_directory_and_connector_lists_say_how_long_ago(
    console_browser, directory_admin, directory, connectors
):
    from playwright.sync_api import expect

    now = timezone.now()
    make_run(
        directory,
        created=now - timedelta(minutes=6),
        started_at=now - timedelta(minutes=6),
        finished_at=now - timedelta(minutes=5, seconds=2),
    )
    branch = ldap_directory("branch.example.com", connectors[1])
    make_run(
        branch,
        status=RunStatus.FAILED,
        created=now - timedelta(days=3, minutes=1),
        started_at=now - timedelta(days=3, minutes=1),
        finished_at=now - timedelta(days=3),
    )
    ldap_directory("partners.example.com", connectors[2])
    Connector.objects.filter(pk=connectors[0].pk).update(last_seen=now - timedelta(hours=2))
    Connector.objects.filter(pk=connectors[1].pk).update(last_seen=None)

    page = console_browser(directory_admin)
    page.goto(page.base_url + reverse("directories:directory_list"))

    def last_sync(name: str):
        return page.locator("#directory-table tr", has_text=name).locator("td").nth(5)

    expect(last_sync("corp.example.com").locator(".time-relative")).to_have_text("(5 minutes ago)")
    expect(last_sync("corp.example.com")).to_contain_text("Completed")
    expect(last_sync("branch.example.com").locator(".time-relative")).to_have_text("(3 days ago)")
    expect(last_sync("branch.example.com")).to_contain_text("Failed")
    expect(last_sync("partners.example.com")).to_have_text("Never")
    # The hint sits beside the exact moment, whose UTC instant the <time> carries.
    moment = last_sync("branch.example.com").locator("time")
    expect(moment).to_have_attribute("datetime", f"{now - timedelta(days=3):%Y-%m-%dT%H:%M:%SZ}")
    shoot(page, "recency-hints")

    page.goto(page.base_url + reverse("connectors:connector_list"))

    def last_seen(connector: Connector):
        return page.locator(f"#connector-{connector.pk} td").nth(5)

    expect(last_seen(connectors[0]).locator(".time-relative")).to_have_text("(2 hours ago)")
    expect(last_seen(connectors[1])).to_have_text("Never")


# Point 8: a run's changes, filtered on its page.


@pytest.mark.browser
def test_a_runs_changes_filtered_by_kind_and_action(console_browser, directory_admin, request):
    from playwright.sync_api import expect

    run = request.getfixturevalue("finished_run")  # 40/15/5 users, 15 groups added
    page = console_browser(directory_admin, height=900)
    page.goto(page.base_url + run.get_absolute_url())
    rows = page.locator("#change-table .change-row")
    expect(page.locator("#change-table .pagination-description")).to_contain_text("of 75")

    page.select_option("#id_kind", label="Users")
    page.select_option("#id_action", label="Deleted")
    expect(rows).to_have_count(5)
    expect(rows.locator("td:nth-child(1)")).to_have_text(["User"] * 5)
    expect(rows.locator("td:nth-child(2)")).to_have_text(["Deleted"] * 5)
    expect(rows.locator("td:nth-child(3)")).to_have_text(
        [f"user-deleted-{n:03d}" for n in range(5)]
    )
    expect(page).to_have_url(f"{page.base_url}{run.get_absolute_url()}?kind=user&action=deleted")
    expect(page.locator("#changes-export")).to_have_attribute(
        "href", reverse("synclog:syncchange_export", args=[run.pk]) + "?kind=user&action=deleted"
    )
    shoot(page, "run-changes-filtered")

    # The address reopens the same filter.
    page.reload()
    expect(page.locator("#id_kind")).to_have_value("user")
    expect(page.locator("#id_action")).to_have_value("deleted")
    expect(rows).to_have_count(5)

    page.select_option("#id_kind", label="Groups")
    expect(page.locator("#change-table")).to_have_text("No change matches the filter.")
    page.select_option("#id_action", label="Added")
    expect(rows).to_have_count(15)
    expect(rows.locator("td:nth-child(1)")).to_have_text(["Group"] * 15)


# The JavaScript-off path: the Sync Connectors tab is plain forms.


@pytest.mark.browser
def test_the_sync_connectors_tab_without_javascript(
    console_browser, directory_admin, directory, connectors
):
    from playwright.sync_api import expect

    page = console_browser(directory_admin, javascript=False, height=900)
    page.goto(page.base_url + reverse("directories:directory_sync_connectors", args=[directory.pk]))
    names = page.locator("#sync-connectors-list .connector-name")
    expect(names).to_have_text(["connector-1"])

    for name in ("connector-3", "connector-2"):
        page.select_option("#id_add_connector", label=f"{name} ({name}.example.com)")
        with page.expect_navigation():
            page.click("#add-sync-connector")
    expect(names).to_have_text(["connector-1", "connector-3", "connector-2"])
    with page.expect_navigation():
        page.click("button[aria-label='Move connector-2 up']")
    expect(names).to_have_text(["connector-1", "connector-2", "connector-3"])
    expect(page.locator("#sync-connectors-list .order-col")).to_have_text(["Order", "1", "2", "3"])
    expect(page.locator("#unsaved-note")).to_have_text(
        "Unsaved changes: nothing is stored until you click Save."
    )
    # Neither is associated with the WorkspaceIDP: the tab says so before Save.
    expect(page.locator("#not-associated-warning")).to_contain_text(
        "connector-2, connector-3 are in the Sync Connectors list of corp.example.com but not "
        "associated with WorkspaceIDP__corp.example.com"
    )
    assert [c.name for c in failover.sync_connector_list(directory)] == ["connector-1"]
    shoot(page, "sync-connectors-no-js")

    with page.expect_navigation():
        page.click("#save-sync-connectors")
    expect(page.get_by_role("status").filter(has_text="Sync Connectors list saved")).to_be_visible()
    expect(page.locator("#unsaved-note")).to_have_count(0)
    assert [c.name for c in failover.sync_connector_list(directory)] == [
        "connector-1",
        "connector-2",
        "connector-3",
    ]


# Point 7: the console's own 403 page.


@pytest.mark.browser
def test_a_page_the_role_may_not_use_answers_the_styled_403(
    console_browser, readonly_admin, directory_admin, directory
):
    from playwright.sync_api import expect

    page = console_browser(readonly_admin)
    response = page.goto(page.base_url + reverse("directories:directory_add"))
    assert response is not None and response.status == 403
    expect(page).to_have_title("Not allowed · Identity Manager")
    expect(page.locator("h2")).to_have_text("Not allowed")
    expect(page.locator("main .alert-warning")).to_have_text(
        "Your role does not allow changes. You are signed in as reader (Read-only Admin); ask "
        "a Super Admin if you need to make this change."
    )
    back = page.get_by_role("link", name="Back to the console")
    expect(back).to_be_visible()
    # The console around it: navigation and the read-only banner, no form.
    expect(page.locator("nav.subnav")).to_be_visible()
    expect(page.locator("#read-only-banner")).to_be_visible()
    expect(page.locator("#id_name")).to_have_count(0)
    shoot(page, "forbidden")
    back.click()
    expect(page.locator("h2")).to_have_text("Directories")

    # A Directory Admin may not add connectors (Super Admin only): the same page.
    page = console_browser(directory_admin)
    response = page.goto(page.base_url + reverse("connectors:connector_add"))
    assert response is not None and response.status == 403
    expect(page.locator("h2")).to_have_text("Not allowed")
    expect(page.locator("main .alert-warning")).to_contain_text(
        "You are signed in as diradmin (Directory Admin)"
    )
