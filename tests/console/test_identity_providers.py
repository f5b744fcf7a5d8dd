"""The WorkspaceIDP page and its Connector(s) section (rule S7)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from directories.models import Directory
from tests.console.conftest import HTMX

pytestmark = pytest.mark.django_db


def idp_url(directory: Directory) -> str:
    return reverse("directories:identityprovider_detail", args=[directory.identity_provider_id])


def associated(html: str) -> list[str]:
    table = html[html.index('id="idp-connectors-list"') :]
    table = table[: table.index("</table>")]
    return re.findall(r"<strong[^>]*>([^<]+)</strong>", table)


def associated_in_db(directory: Directory) -> list[str]:
    return sorted(directory.identity_provider.connectors.values_list("name", flat=True))


def test_identity_provider_list_and_page_show_directories_and_connectors(admin_client, directory):
    listing = admin_client.get(reverse("directories:identityprovider_list")).content.decode()
    assert "WorkspaceIDP" in listing and "corp.example.com" in listing
    html = admin_client.get(idp_url(directory)).content.decode()
    assert "Connector(s)" in html
    assert associated(html) == ["connector-1"]
    picker = html[html.index('id="id_idp_add_connector"') : html.index("</select>")]
    assert "connector-2" in picker and "connector-3" in picker and "connector-1" not in picker


def test_add_connector_changes_only_the_working_list_until_save(
    admin_client, directory, connectors
):
    working = {"connector": [connectors[0].pk], "action": "add"}
    step = admin_client.post(
        idp_url(directory), {**working, "add_connector": connectors[1].pk}, **HTMX
    )
    html = step.content.decode()
    assert html.lstrip().startswith('<form id="idp-connectors-panel"')
    assert associated(html) == ["connector-1", "connector-2"]
    assert associated_in_db(directory) == ["connector-1"]

    ids = [connectors[0].pk, connectors[1].pk, connectors[2].pk]
    saved = admin_client.post(idp_url(directory), {"connector": ids, "action": "save"})
    assert saved.status_code == 302
    assert associated_in_db(directory) == ["connector-1", "connector-2", "connector-3"]


def test_add_without_javascript_re_renders_the_page(admin_client, directory, connectors):
    response = admin_client.post(
        idp_url(directory),
        {"connector": [connectors[0].pk], "action": "add", "add_connector": connectors[2].pk},
    )
    html = response.content.decode()
    assert "<html" in html and "Directories" in html
    assert associated(html) == ["connector-1", "connector-3"]
    assert associated_in_db(directory) == ["connector-1"]


def test_remove_then_save_dissociates_a_connector(admin_client, directory, connectors):
    directory.identity_provider.connectors.add(connectors[1])
    ids = [connectors[0].pk, connectors[1].pk]
    step = admin_client.post(idp_url(directory), {"connector": ids, "action": "remove:1"}, **HTMX)
    assert associated(step.content.decode()) == ["connector-1"]
    assert associated_in_db(directory) == ["connector-1", "connector-2"]
    saved = admin_client.post(
        idp_url(directory), {"connector": [connectors[0].pk], "action": "save"}, **HTMX
    )
    assert "Connectors of WorkspaceIDP__corp.example.com saved" in saved.content.decode()
    assert associated_in_db(directory) == ["connector-1"]


def test_removing_the_sync_connector_is_refused_on_save(admin_client, directory, connectors):
    response = admin_client.post(
        idp_url(directory), {"connector": [connectors[1].pk], "action": "save"}, **HTMX
    )
    # Refused with 200 so that htmx swaps the message in (it swaps no 4xx body).
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        "connector-1 syncs a directory of WorkspaceIDP__corp.example.com and cannot be removed"
        in html
    )
    assert associated_in_db(directory) == ["connector-1"]


def test_adding_an_associated_connector_twice_is_refused(admin_client, directory, connectors):
    response = admin_client.post(
        idp_url(directory),
        {"connector": [connectors[0].pk], "action": "add", "add_connector": connectors[0].pk},
        **HTMX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "connector-1 is already associated with WorkspaceIDP__corp.example.com" in html
    assert associated(html) == ["connector-1"]
