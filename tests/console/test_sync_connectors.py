"""The Sync Connectors tab: a working list edited in the form, stored only on Save."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from connectors.models import Connector
from directories.failover import sync_connector_list
from directories.models import Directory
from directories.services import save_sync_connectors
from tests.conftest import make_connector
from tests.console.conftest import HTMX

pytestmark = pytest.mark.django_db


def url_of(directory: Directory) -> str:
    return reverse("directories:directory_sync_connectors", args=[directory.pk])


def post(
    client: Client,
    directory: Directory,
    ids: list[Connector],
    action: str,
    version: int = 1,
    htmx: bool = False,
    **extra: object,
) -> HttpResponse:
    data = {"connector": [c.pk for c in ids], "version": str(version), "action": action, **extra}
    return client.post(url_of(directory), data, **(HTMX if htmx else {}))


def listed(response: HttpResponse) -> list[str]:
    """Connector names in the rendered list, in order."""
    import re

    html = response.content.decode()
    table = html[html.index('id="sync-connectors-list"') :]
    table = table[: table.index("</table>")]
    return re.findall(r'class="left connector-name"><strong[^>]*>([^<]+)</strong>', table)


def saved_names(directory: Directory) -> list[str]:
    return [c.name for c in sync_connector_list(directory)]


def test_tab_lists_the_saved_order_and_every_connector_not_yet_listed_to_select(
    admin_client, directory
):
    extra = make_connector("connector-far-away")
    response = admin_client.get(url_of(directory))
    html = response.content.decode()
    assert response.status_code == 200
    assert listed(response) == ["connector-1"]
    assert 'id="sync-connectors-tab"' in html
    select = html[html.index('name="add_connector"') : html.index("</select>")]
    for name in ("connector-2", "connector-3", extra.name):
        assert name in select
    assert "connector-1" not in select  # already in the list
    assert "The order applies from the next sync; a sync already running keeps the list" in html
    assert 'name="version" value="1"' in html


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("add", ["connector-1", "connector-2", "connector-3"]),
        ("up:2", ["connector-1", "connector-3", "connector-2"]),
        ("down:0", ["connector-2", "connector-1", "connector-3"]),
        ("remove:1", ["connector-1", "connector-3"]),
    ],
)
def test_htmx_edit_returns_only_the_list_fragment_and_stores_nothing(
    admin_client, directory, connectors, action, expected
):
    working = connectors if action != "add" else connectors[:2]
    response = post(
        admin_client, directory, working, action, htmx=True, add_connector=connectors[2].pk
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<form id="sync-connectors-panel"')
    assert "<html" not in html and "Sync Settings" not in html
    assert listed(response) == expected
    assert 'id="unsaved-note"' in html
    assert saved_names(directory) == ["connector-1"]


def test_edit_without_javascript_re_renders_the_whole_page(admin_client, directory, connectors):
    response = post(admin_client, directory, connectors[:1], "add", add_connector=connectors[1].pk)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and "Sync Settings" in html
    assert listed(response) == ["connector-1", "connector-2"]
    assert saved_names(directory) == ["connector-1"]


def test_adding_a_connector_already_listed_is_refused(admin_client, directory, connectors):
    response = post(
        admin_client, directory, connectors[:2], "add", htmx=True, add_connector=connectors[1].pk
    )
    # Refusals answer 200 with htmx: htmx swaps no 4xx body, so the message would be lost.
    assert response.status_code == 200
    html = response.content.decode()
    assert "connector-2 is already in the Sync Connectors list" in html
    assert listed(response) == ["connector-1", "connector-2"]


def test_save_stores_the_order_and_bumps_the_version(admin_client, directory, connectors):
    order = [connectors[2], connectors[0], connectors[1]]
    response = post(admin_client, directory, order, "save")
    assert response.status_code == 302
    assert saved_names(directory) == ["connector-3", "connector-1", "connector-2"]
    page = admin_client.get(response.url)
    assert listed(page) == ["connector-3", "connector-1", "connector-2"]
    assert "Sync Connectors list saved" in page.content.decode()
    directory.refresh_from_db()
    assert directory.sync_connectors_version == 2


def test_htmx_save_answers_with_the_saved_list_and_new_version(admin_client, directory, connectors):
    response = post(admin_client, directory, connectors[::-1], "save", htmx=True)
    html = response.content.decode()
    assert listed(response) == ["connector-3", "connector-2", "connector-1"]
    assert 'name="version" value="2"' in html
    assert "It applies from the next sync" in html
    assert 'id="unsaved-note"' not in html


def test_stale_save_is_refused_and_keeps_the_other_admins_list(admin_client, directory, connectors):
    # Another admin saves after this form was loaded at version 1.
    save_sync_connectors(directory, [connectors[1].pk], expected_version=1)
    response = post(admin_client, directory, connectors, "save", version=1, htmx=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Someone else saved this directory" in html
    assert "Your unsaved order was: connector-1, connector-2, connector-3" in html
    assert saved_names(directory) == ["connector-2"]
    assert listed(response) == ["connector-2"]
    assert 'name="version" value="2"' in html


def test_stale_save_without_javascript_answers_conflict(admin_client, directory, connectors):
    save_sync_connectors(directory, [connectors[1].pk], expected_version=1)
    response = post(admin_client, directory, connectors, "save", version=1)
    assert response.status_code == 409
    assert "Someone else saved this directory" in response.content.decode()
    assert saved_names(directory) == ["connector-2"]


@pytest.mark.parametrize("htmx", [False, True])
def test_saving_an_empty_list_over_a_saved_one_asks_first_and_stores_nothing(
    admin_client, directory, htmx
):
    response = post(admin_client, directory, [], "save", htmx=htmx)
    html = response.content.decode()
    assert response.status_code == 200
    assert saved_names(directory) == ["connector-1"]
    warning = (
        "Saving an empty list switches failover off: only connector-1 will sync "
        f"{directory.name}, with no fallback."
    )
    confirm = html[html.index('id="confirm-empty-list"') :]
    assert warning in confirm
    assert 'value="confirm-save"' in confirm and 'value="cancel-save"' in confirm
    assert 'id="save-sync-connectors"' not in html
    assert listed(response) == []


def test_cancelling_the_empty_list_keeps_the_working_list_and_the_saved_one(
    admin_client, directory
):
    response = post(admin_client, directory, [], "cancel-save", htmx=True)
    html = response.content.decode()
    assert saved_names(directory) == ["connector-1"]
    assert listed(response) == []
    assert 'id="confirm-empty-list"' not in html
    assert 'id="unsaved-note"' in html


def test_saving_an_empty_list_explains_the_fallback_to_the_sync_connector(admin_client, directory):
    post(admin_client, directory, [], "confirm-save")
    assert saved_names(directory) == []
    html = admin_client.get(url_of(directory)).content.decode()
    assert 'id="empty-list-note"' in html
    assert "connector-1, the directory's sync connector, syncs it with no fallback" in html


def test_an_outdated_connector_hides_the_tab_and_refuses_saving(
    admin_client, directory, connectors
):
    make_connector("legacy-connector", version="18.11.0.0")
    response = admin_client.get(url_of(directory))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="sync-connectors-tab"' not in html
    assert 'id="sync-connectors-panel"' not in html
    assert "legacy-connector (18.11.0.0)" in html
    other_tab = admin_client.get(
        reverse("directories:directory_sync_settings", args=[directory.pk, "frequency"])
    )
    assert "Sync Connectors" not in other_tab.content.decode()

    refused = post(admin_client, directory, connectors[::-1], "save")
    assert refused.status_code == 409
    assert "legacy-connector (18.11.0.0)" in refused.content.decode()
    assert saved_names(directory) == ["connector-1"]


def test_cloud_mode_hides_the_tab_and_refuses_saving(admin_client, directory, connectors, settings):
    settings.DEPLOYMENT_MODE = "cloud"
    html = admin_client.get(url_of(directory)).content.decode()
    assert 'id="sync-connectors-tab"' not in html
    assert "not available in cloud mode" in html
    refused = post(admin_client, directory, connectors[::-1], "save", htmx=True)
    assert refused.status_code == 200
    assert "not available in cloud mode" in refused.content.decode()
    assert saved_names(directory) == ["connector-1"]


def test_schedule_collision_warning_is_shown_on_the_tab(admin_client, directory, connectors):
    from directories.services import create_directory

    create_directory(
        name="branch.example.com",
        type="ldap",
        sync_connector=connectors[0],
        host="10.0.0.2",
        base_dn="dc=branch",
        bind_dn="cn=admin,dc=branch",
        sync_frequency="hourly",
    )
    directory.sync_frequency = "hourly"
    directory.save()
    html = admin_client.get(url_of(directory)).content.decode()
    assert 'id="schedule-collisions"' in html
    assert "branch.example.com" in html


def test_stale_edit_index_is_reported_not_applied(admin_client, directory, connectors):
    response = post(admin_client, directory, connectors[:1], "up:5", htmx=True)
    assert response.status_code == 200
    assert "no longer in the list" in response.content.decode()
    assert listed(response) == ["connector-1"]


def test_saving_an_empty_list_when_none_is_saved_needs_no_confirmation(admin_client, directory):
    save_sync_connectors(directory, [])
    version = Directory.objects.get(pk=directory.pk).sync_connectors_version
    response = post(admin_client, directory, [], "save", version=version, htmx=True)
    html = response.content.decode()
    assert 'id="confirm-empty-list"' not in html
    assert "Sync Connectors list saved" in html


@pytest.mark.parametrize(
    ("action", "expected_focus", "words"),
    [
        ("up:2", "up:{c3}", "connector-3 moved to position 2 of 3."),
        ("up:1", "down:{c2}", "connector-2 moved to position 1 of 3."),
        ("down:1", "up:{c2}", "connector-2 moved to position 3 of 3."),
        ("remove:1", "remove:{c3}", "connector-2 removed; 2 connectors in the list."),
        ("remove:2", "picker", "connector-3 removed; 2 connectors in the list."),
    ],
)
def test_an_edit_names_the_control_that_keeps_focus_and_announces_itself(
    admin_client, directory, connectors, action, expected_focus, words
):
    c1, c2, c3 = connectors
    response = post(admin_client, directory, [c1, c2, c3], action, htmx=True)
    html = response.content.decode()
    focus = expected_focus.format(c2=c2.pk, c3=c3.pk)
    assert f'data-focus="{focus}"' in html
    assert f'data-control="{focus}"' in html
    status = html[html.index('id="sync-connectors-status"') :]
    assert 'aria-live="polite"' in status
    assert status[status.index(">") + 1 : status.index("</p>")] == words


def test_adding_announces_the_position_and_focuses_the_added_row(
    admin_client, directory, connectors
):
    c1, c2, c3 = connectors
    response = post(admin_client, directory, [c1, c2], "add", add_connector=str(c3.pk))
    html = response.content.decode()
    assert f'data-focus="up:{c3.pk}"' in html
    assert "connector-3 added at position 3." in html
