"""Issue 13's deletes (point 2), WorkspaceIDP rule (4), Sync Log filters and export (8) and
one vocabulary (10), as an admin meets them in Chromium."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse
from django.utils import timezone

from connectors.models import Connector
from directories import failover
from directories.models import Directory, DirectoryGroup, DirectoryUser, IdentityProvider
from directories.services import create_directory, update_directory
from synclog.choices import AttemptOutcome, RunStatus, Trigger
from synclog.models import SyncAttempt, SyncChange, SyncRun
from tests.browser.conftest import shoot, sign_in
from tests.conftest import make_connector
from tests.console.conftest import directory_data, finished_run, make_run  # noqa: F401

NOT_ASSOCIATED = (
    "Not associated with WorkspaceIDP__corp.example.com: can sync but not authenticate users"
)


def second_directory(name: str, sync_connector: Connector) -> Directory:
    return create_directory(
        name=name,
        type="ldap",
        sync_connector=sync_connector,
        host="127.0.0.1",
        port=389,
        base_dn="dc=example,dc=com",
        bind_dn="cn=admin,dc=example,dc=com",
        bind_password="secret",
    )


def read_download(download) -> list[dict]:
    return list(csv.DictReader(Path(download.path()).read_text(encoding="utf-8").splitlines()))


def shown_run_ids(page) -> list[str]:
    return [row.get_attribute("id").removeprefix("run-") for row in page.locator(".run-row").all()]


def assert_favicon_answers(page) -> None:
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert icon and page.request.get(page.base_url + icon).status == 200


# Point 2: deletes with a confirmation that says what goes, refused where they must be.


@pytest.mark.browser
def test_deleting_a_directory_lists_what_goes_cancel_keeps_it_and_confirm_removes_it(
    console_browser, super_admin, directory, request
):
    from django_celery_beat.models import PeriodicTask
    from playwright.sync_api import expect

    request.getfixturevalue("directory_data")  # 120 users, 4 groups
    request.getfixturevalue("finished_run")  # a run with 75 changes

    update_directory(directory, {"sync_frequency": "daily"})
    make_run(directory, status=RunStatus.FAILED)
    idp_pk = directory.identity_provider_id
    page = console_browser(super_admin, height=900)
    detail = page.base_url + directory.get_absolute_url()
    page.goto(detail)

    page.click("#delete-directory")
    expect(page.locator("h2")).to_have_text("Delete corp.example.com?")
    summary = page.locator("#delete-summary li")
    expect(summary).to_have_text(
        [
            "120 synced users and 4 groups, with their memberships",
            "2 runs in its Sync Log",
            "its sync schedule (Once a day)",
            "its identity provider WorkspaceIDP__corp.example.com",
        ]
    )
    shoot(page, "delete-directory-confirm")

    # Asking deletes nothing; Cancel goes back to the directory.
    page.click("a.btn:has-text('Cancel')")
    assert page.url == detail
    expect(page.locator("#delete-directory")).to_be_visible()
    assert Directory.objects.filter(pk=directory.pk).exists()
    assert SyncRun.objects.filter(directory=directory).count() == 2

    page.click("#delete-directory")
    page.click("#confirm-delete")
    assert page.url == page.base_url + reverse("directories:directory_list")
    expect(page.get_by_role("status").filter(has_text="deleted")).to_have_text(
        "Directory corp.example.com deleted."
    )
    expect(page.locator("#directory-table")).to_have_count(0)
    expect(page.locator(".empty-state")).to_contain_text("No directories yet.")
    assert not Directory.objects.exists()
    assert not DirectoryUser.objects.exists() and not DirectoryGroup.objects.exists()
    assert not SyncRun.objects.exists() and not SyncChange.objects.exists()
    assert not PeriodicTask.objects.filter(name=f"sync-directory-{directory.pk}").exists()
    assert not IdentityProvider.objects.filter(pk=idp_pk).exists()


@pytest.mark.browser
def test_a_connector_a_directory_uses_is_refused_by_name_and_an_unused_one_is_deleted(
    console_browser, super_admin, directory, connectors
):
    from playwright.sync_api import expect

    used, spare, unused = connectors[0], make_connector("spare"), connectors[2]
    page = console_browser(super_admin)
    connector_list = page.base_url + reverse("connectors:connector_list")

    # The sync connector of corp.example.com: the page says why, and offers no Delete.
    page.goto(connector_list)
    page.click(f"#delete-{used.pk}")
    expect(page.locator("#connector-in-use")).to_contain_text(
        "connector-1 cannot be deleted while these directories sync through it or list it: "
        "corp.example.com."
    )
    expect(page.locator("#confirm-delete")).to_have_count(0)

    # A connector that became a sync connector while its confirmation was open: refused.
    page.goto(connector_list)
    page.click(f"#delete-{spare.pk}")
    expect(page.locator("#confirm-delete")).to_be_visible()
    second_directory("branch.example.com", spare)
    page.click("#confirm-delete")
    expect(page.locator("#delete-refused")).to_contain_text(
        "spare cannot be deleted while these directories use it: branch.example.com."
    )
    expect(page.locator("#connector-in-use")).to_contain_text("branch.example.com")
    shoot(page, "delete-connector-refused")
    assert set(Connector.objects.values_list("name", flat=True)) == {
        "connector-1",
        "connector-2",
        "connector-3",
        "spare",
    }

    # A connector no directory uses: confirmed, then gone from the list and the database.
    page.goto(connector_list)
    page.click(f"#delete-{unused.pk}")
    page.click("#confirm-delete")
    assert page.url == connector_list
    expect(page.get_by_role("status").filter(has_text="deleted")).to_have_text(
        "Connector connector-3 deleted."
    )
    expect(page.locator(f"#connector-{unused.pk}")).to_have_count(0)
    expect(page.locator(f"#connector-{used.pk}")).to_be_visible()
    assert not Connector.objects.filter(pk=unused.pk).exists()


# Point 4: the WorkspaceIDP rule, said the same by the picker, the list's Save and the IdP page.


@pytest.mark.browser
def test_the_picker_save_and_workspace_idp_page_state_one_rule(
    console_browser, super_admin, directory, connectors
):
    from playwright.sync_api import expect

    c1, c2, c3 = connectors
    idp = directory.identity_provider
    idp.connectors.add(c3)
    page = console_browser(super_admin, height=900)
    page.goto(page.base_url + reverse("directories:directory_sync_connectors", args=[directory.pk]))

    groups = page.locator("#id_add_connector optgroup")
    assert groups.evaluate_all("gs => gs.map(g => g.label)") == [
        "Associated with WorkspaceIDP__corp.example.com",
        NOT_ASSOCIATED,
    ]
    expect(groups.nth(0).locator("option")).to_have_text(["connector-3 (connector-3.example.com)"])
    expect(groups.nth(1).locator("option")).to_have_text(["connector-2 (connector-2.example.com)"])
    expect(page.locator("#not-associated-warning")).to_have_count(0)

    page.select_option("#id_add_connector", str(c2.pk))
    page.click("#add-sync-connector")
    expect(page.locator("#not-associated-warning")).to_have_text(
        "connector-2 is in the Sync Connectors list of corp.example.com but not associated "
        "with WorkspaceIDP__corp.example.com: it can sync the directory but not authenticate "
        "its users until it is associated."
    )
    page.select_option("#id_add_connector", str(c3.pk))
    page.click("#add-sync-connector")
    # Save only once the swap that adds connector-3 has settled (it replaces the button).
    expect(page.locator("#sync-connectors-list .connector-name")).to_have_count(3)
    page.click("#save-sync-connectors")
    expect(page.locator("#sync-connectors-notice")).to_contain_text(
        "Sync Connectors list saved, with the warning below."
    )
    expect(page.locator("#not-associated-warning")).to_contain_text("connector-2 is in the")
    expect(page.locator("#not-associated-warning")).not_to_contain_text("connector-3")
    assert [c.name for c in failover.sync_connector_list(directory)] == [
        "connector-1",
        "connector-2",
        "connector-3",
    ]
    shoot(page, "workspace-idp-rule")

    # Taking connector-3 off the WorkspaceIDP warns, naming the directory that lists it.
    page.goto(page.base_url + reverse("directories:identityprovider_detail", args=[idp.pk]))
    expect(page.locator("#idp-connectors-panel")).to_contain_text("connector-3")
    expect(page.locator("#idp-list-warnings")).not_to_contain_text("connector-3")
    page.click("button[aria-label='Remove connector-3']")
    expect(page.locator("#idp-list-warnings")).to_have_text(
        "connector-2, connector-3 are in the Sync Connectors list of corp.example.com but not "
        "associated with WorkspaceIDP__corp.example.com: they can sync the directory but not "
        "authenticate its users until they are associated."
    )
    page.click("#save-idp-connectors")
    expect(page.locator("#idp-connectors-notice")).to_have_text(
        "Connectors of WorkspaceIDP__corp.example.com saved, with the warning below."
    )
    warnings = page.locator("#idp-list-warnings")
    expect(warnings).to_contain_text("connector-2, connector-3 are in the")
    assert set(idp.connectors.all()) == {c1}
    # The rule leaves the list alone: connector-3 still syncs the directory.
    assert [c.name for c in failover.sync_connector_list(directory)][-1] == "connector-3"


# Point 8: the global Sync Log filtered in the browser, and its CSV exports.


@pytest.mark.browser
def test_the_sync_log_filters_in_the_url_and_exports_what_the_table_shows(
    console_browser, super_admin, directory, connectors
):
    from playwright.sync_api import expect

    branch = second_directory("branch.example.com", connectors[1])
    now = timezone.now()
    failed = make_run(directory, status=RunStatus.FAILED, trigger=Trigger.SCHEDULED)
    via_2 = make_run(directory, connector_used_name="connector-2", users_added=7)
    make_run(directory, connector_used_name="connector-2", created=now - timedelta(days=10))
    make_run(branch, connector_used_name="connector-2")
    make_run(directory, connector_used_name="connector-1")
    page = console_browser(super_admin, height=900)
    sync_log = page.base_url + reverse("synclog:syncrun_list")
    page.goto(sync_log)
    assert len(shown_run_ids(page)) == 5

    page.select_option("#f-directory", label="corp.example.com")
    page.fill("#f-after", f"{now - timedelta(days=3):%Y-%m-%d}")
    page.click("#sync-log-filters button[type=submit]")
    expect(page.locator(".run-row")).to_have_count(3)
    page.select_option("#f-status", "completed")
    page.fill("#f-connector", "connector-2")
    page.click("#sync-log-filters button[type=submit]")
    expect(page.locator(".run-row")).to_have_count(1)
    assert shown_run_ids(page) == [str(via_2.pk)]
    query = parse_qs(urlparse(page.url).query)
    assert query["directory"] == [str(directory.pk)]
    assert query["status"] == ["completed"] and query["connector"] == ["connector-2"]
    assert query["created_after"] == [f"{now - timedelta(days=3):%Y-%m-%d}"]
    # The URL reopens the same filtered table, with the form filled in.
    page.goto(page.url)
    assert shown_run_ids(page) == [str(via_2.pk)]
    expect(page.locator("#f-status")).to_have_value("completed")
    expect(page.locator("#f-connector")).to_have_value("connector-2")
    expect(page.locator("#f-directory")).to_have_value(str(directory.pk))
    shoot(page, "sync-log-filters")

    with page.expect_download() as download:
        page.click("#sync-log-export")
    rows = read_download(download.value)
    assert [r["id"] for r in rows] == [str(via_2.pk)]
    assert (rows[0]["directory"], rows[0]["connector_used"], rows[0]["users_added"]) == (
        "corp.example.com",
        "connector-2",
        "7",
    )

    # Failed runs of every directory, exported the same.
    page.goto(sync_log)
    page.select_option("#f-status", label="Failed")
    page.click("#sync-log-filters button[type=submit]")
    assert shown_run_ids(page) == [str(failed.pk)]
    with page.expect_download() as download:
        page.click("#sync-log-export")
    assert [(r["id"], r["trigger"]) for r in read_download(download.value)] == [
        (str(failed.pk), "scheduled")
    ]

    # A value the filter refuses: the message above the table, and no run.
    page.goto(sync_log + "?status=exploded")
    error = page.locator(".alert-danger").filter(has_text="is not a run status")
    expect(error).to_contain_text("'exploded' is not a run status; use one of: queued,")
    expect(page.locator(".run-row")).to_have_count(0)
    table = page.locator("#sync-log-table").bounding_box()
    assert table and error.bounding_box()["y"] < table["y"]


@pytest.mark.browser
def test_a_runs_changes_export_as_filtered_on_its_page(console_browser, super_admin, request):
    from playwright.sync_api import expect

    run = request.getfixturevalue("finished_run")  # 60 user and 15 group changes

    page = console_browser(super_admin, height=900)
    page.goto(page.base_url + run.get_absolute_url())

    with page.expect_download() as download:
        page.click("#changes-export")
    assert download.value.suggested_filename == f"sync-{run.pk}-changes.csv"
    everything = read_download(download.value)
    assert len(everything) == 75
    assert {r["kind"] for r in everything} == {"user", "group"}

    page.select_option("#id_kind", "group")
    expect(page.locator(".change-row")).to_have_count(15)
    with page.expect_download() as download:
        page.click("#changes-export")
    groups = read_download(download.value)
    assert [r["name"] for r in groups] == [f"group-{n:03d}" for n in range(15)]


# Point 10: one vocabulary, and nothing asked for that does not apply.


@pytest.mark.browser
def test_words_agree_between_the_lists_pages_and_forms(
    console_browser, super_admin, directory, connectors
):
    from playwright.sync_api import expect

    failed = make_run(directory, status=RunStatus.FAILED, message="Every connector failed.")
    SyncAttempt.objects.create(
        run=failed,
        position=1,
        connector=connectors[0],
        connector_name="connector-1",
        outcome=AttemptOutcome.UNAVAILABLE,
        finished_at=timezone.now(),
    )
    other = second_directory("branch.example.com", connectors[1])
    queued = make_run(other, status=RunStatus.QUEUED)
    page = console_browser(None, height=900)

    # The sign-in page and the console name a favicon that answers (none asks for /favicon.ico).
    page.goto(page.base_url + reverse("login"))
    assert_favicon_answers(page)
    sign_in(page, page.base_url, super_admin)

    # A failed run: the same "—" as connector used, in the list and on its page.
    page.goto(page.base_url + reverse("synclog:syncrun_list"))
    used_cell = page.locator(f"#run-{failed.pk} td").nth(5)
    expect(used_cell).to_contain_text("Tried: connector-1 (unavailable)")
    assert used_cell.inner_text().splitlines()[0].strip() == "—"
    expect(page.locator(".sync-log")).not_to_contain_text("None")

    # A queued run waits for a worker: no start time, no entries received.
    queued_row = page.locator(f"#run-{queued.pk}")
    expect(queued_row.locator(".run-progress")).to_contain_text("Waiting for a worker (queued")
    expect(queued_row).not_to_contain_text("entries received")
    expect(queued_row.locator("td").nth(1)).to_have_text("Not started")
    shoot(page, "words")
    queued_row.locator("td").nth(1).locator("a").click()
    expect(page.locator("#run-summary tr:has(th:text-is('Started')) td")).to_have_text("—")
    expect(page.locator("#run-summary")).not_to_contain_text("entries received")
    expect(page.locator("#run-summary tr:has(th:text-is('Status')) td")).to_contain_text(
        "Queued Waiting for a worker"
    )

    page.goto(page.base_url + failed.get_absolute_url())
    expect(page.locator("#run-summary tr:has(th:text-is('Connector used')) td")).to_have_text("—")
    assert f"#{failed.pk}" in page.title()

    assert_favicon_answers(page)

    # Hourly asks for no time or weekday; weekly does.
    page.goto(
        page.base_url
        + reverse("directories:directory_sync_settings", args=[directory.pk, "frequency"])
    )
    expect(page.locator("label[for=id_sync_time].clr-required-mark")).to_have_count(0)
    page.select_option("#id_sync_frequency", "hourly")
    page.fill("#id_sync_time", "")
    page.click("#sync-settings-form button[type=submit]")
    expect(page.locator("#schedule-summary")).to_contain_text("Now: Every hour")
    expect(page.locator(".clr-subtext[role=alert]")).to_have_count(0)
    assert Directory.objects.get(pk=directory.pk).sync_frequency == "hourly"
    page.select_option("#id_sync_frequency", "weekly")
    page.fill("#id_sync_time", "")
    page.click("#sync-settings-form button[type=submit]")
    expect(page.locator("#id_sync_time-error")).to_have_text(
        "Give the time of day the sync starts."
    )
    assert Directory.objects.get(pk=directory.pk).sync_frequency == "hourly"
    page.fill("#id_sync_time", "04:15")
    page.select_option("#id_sync_weekday", label="Friday")
    page.click("#sync-settings-form button[type=submit]")
    expect(page.locator("#schedule-summary")).to_contain_text("Once a week, Friday at 04:15")

    # Add Directory: the type is asked for in words, never "---------".
    page.goto(page.base_url + reverse("directories:directory_add"))
    expect(page.locator("#id_type option").first).to_have_text("Select a directory type")
    options = page.locator("select option").all_inner_texts()
    assert not [text for text in options if text.strip("- ") == ""]
    # Its safeguards are the four thresholds at their default, as on the Sync Settings tab.
    for name in ("users_updated", "users_deleted", "groups_deleted", "members_removed"):
        expect(page.locator(f"#id_safeguard_{name}_percent")).to_have_value("10")

    # The picker offers only connectors not in the list, and drops one once added.
    page.goto(page.base_url + reverse("directories:directory_sync_connectors", args=[directory.pk]))
    picker = page.locator("#id_add_connector option")
    offered = picker.evaluate_all("os => os.map(o => o.value).filter(Boolean)")
    assert offered == [str(connectors[1].pk), str(connectors[2].pk)]
    page.select_option("#id_add_connector", str(connectors[2].pk))
    page.click("#add-sync-connector")
    expect(page.locator("#sync-connectors-list tr.sync-connector-row")).to_have_count(2)
    offered = picker.evaluate_all("os => os.map(o => o.value).filter(Boolean)")
    assert offered == [str(connectors[1].pk)]
