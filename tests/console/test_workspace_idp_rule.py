"""Rule S7 as the console states it: any connector may be in a Sync Connectors list; one not
associated with the directory's WorkspaceIDP syncs it but does not authenticate its users,
and the picker, the list's Save and the WorkspaceIDP page all say so."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from directories import failover
from directories.failover import not_associated, not_associated_warning
from directories.services import create_directory, save_sync_connectors
from tests.console.conftest import HTMX

pytestmark = pytest.mark.django_db


def test_not_associated_keeps_the_listed_order_and_reads_the_stored_association(
    directory, connectors
):
    c1, c2, c3 = connectors
    # A new directory's WorkspaceIDP has its sync connector only.
    assert not_associated(directory, [c3, c1, c2]) == [c3, c2]
    directory.identity_provider.connectors.add(c3)
    assert not_associated(directory, [c3, c1, c2]) == [c2]
    assert not_associated(directory, []) == []


def test_not_associated_judges_an_unsaved_association_when_given_one(directory, connectors):
    c1, c2, c3 = connectors
    directory.identity_provider.connectors.add(c2, c3)
    assert not_associated(directory, [c1, c2, c3], associated={c1.pk}) == [c2, c3]
    assert not_associated(directory, [c1, c2, c3], associated=set()) == [c1, c2, c3]


def test_the_warning_names_the_connectors_the_directory_and_its_identity_provider(
    directory, connectors
):
    assert not_associated_warning(directory, []) == ""
    one = not_associated_warning(directory, [connectors[1]])
    assert one == (
        "connector-2 is in the Sync Connectors list of corp.example.com but not associated "
        "with WorkspaceIDP__corp.example.com: it can sync the directory but not authenticate "
        "its users until it is associated."
    )
    two = not_associated_warning(directory, connectors[1:])
    assert two.startswith("connector-2, connector-3 are in the Sync Connectors list")
    assert "they can sync the directory" in two and "until they are associated." in two


def picker_groups(html: str) -> dict[str, list[str]]:
    """The picker's <optgroup> labels and the connector names under each."""
    select = html[html.index('id="id_add_connector"') :]
    select = select[: select.index("</select>")]
    return {
        label: re.findall(r'<option value="\d+">([\w-]+)', body)
        for label, body in re.findall(r'<optgroup label="([^"]+)">(.*?)</optgroup>', select, re.S)
    }


def test_the_picker_marks_connectors_the_workspace_idp_lacks(admin_client, directory, connectors):
    directory.identity_provider.connectors.add(connectors[2])
    url = reverse("directories:directory_sync_connectors", args=[directory.pk])

    html = admin_client.get(url).content.decode()

    # connector-1 is in the list already, so not offered.
    assert picker_groups(html) == {
        "Associated with WorkspaceIDP__corp.example.com": ["connector-3"],
        "Not associated with WorkspaceIDP__corp.example.com: can sync but not authenticate users": [
            "connector-2"
        ],
    }
    assert 'id="not-associated-warning"' not in html


def test_adding_an_unassociated_connector_warns_before_save_and_saving_keeps_the_warning(
    admin_client, directory, connectors
):
    url = reverse("directories:directory_sync_connectors", args=[directory.pk])
    c1, c2 = connectors[0].pk, connectors[1].pk

    staged = admin_client.post(
        url, {"connector": [c1], "add_connector": c2, "action": "add", "version": "1"}, **HTMX
    ).content.decode()
    assert 'id="not-associated-warning"' in staged
    assert "connector-2 is in the Sync Connectors list of corp.example.com but not" in staged

    saved = admin_client.post(
        url, {"connector": [c1, c2], "action": "save", "version": "1"}, **HTMX
    ).content.decode()
    # Saved, with the warning.
    assert [c.pk for c in failover.sync_connector_list(directory)] == [c1, c2]
    assert "Sync Connectors list saved, with the warning below." in saved
    assert 'id="not-associated-warning"' in saved

    # Without JavaScript: the redirect's page says the same.
    page = admin_client.post(
        url, {"connector": [c2, c1], "action": "save", "version": "2"}, follow=True
    ).content.decode()
    assert "Sync Connectors list saved, with the warning below." in page
    assert 'id="not-associated-warning"' in page


def test_a_list_of_associated_connectors_saves_without_a_warning(
    admin_client, directory, connectors
):
    directory.identity_provider.connectors.add(*connectors)
    url = reverse("directories:directory_sync_connectors", args=[directory.pk])
    ids = [c.pk for c in connectors]

    saved = admin_client.post(
        url, {"connector": ids, "action": "save", "version": "1"}, **HTMX
    ).content.decode()

    assert "Sync Connectors list saved. It applies from the next sync." in saved
    assert "not-associated-warning" not in saved and "Not associated with" not in saved


def test_removing_a_listed_connector_from_the_workspace_idp_warns_naming_the_directories(
    admin_client, directory, connectors
):
    c1, c2, c3 = connectors
    idp = directory.identity_provider
    idp.connectors.add(c2, c3)
    # A second directory of the same identity provider lists connector-2 too.
    other = create_directory(
        name="branch.example.com",
        type="ldap",
        sync_connector=c1,
        host="127.0.0.1",
        port=389,
        base_dn="dc=example,dc=com",
        bind_dn="cn=admin,dc=example,dc=com",
        bind_password="secret",
        identity_provider=idp,
    )
    save_sync_connectors(directory, [c1.pk, c2.pk])
    save_sync_connectors(other, [c2.pk])
    url = reverse("directories:identityprovider_detail", args=[idp.pk])

    page = admin_client.get(url).content.decode()
    assert "idp-list-warnings" not in page
    assert "Any connector can be placed in a directory's Sync Connectors list" in page
    assert "can be placed in their Sync Connectors lists" not in page

    # Staging the removal of connector-2 warns at once, naming both directories.
    staged = admin_client.post(
        url, {"connector": [c1.pk, c2.pk, c3.pk], "action": "remove:1"}, **HTMX
    ).content.decode()
    warnings = staged[staged.index('id="idp-list-warnings"') :]
    assert "connector-2 is in the Sync Connectors list of branch.example.com" in warnings
    assert "connector-2 is in the Sync Connectors list of corp.example.com" in warnings
    # connector-1 and -3 stay associated: no warning about them.
    assert "connector-1 is in" not in staged and "connector-3 is in" not in staged

    saved = admin_client.post(
        url, {"connector": [c1.pk, c3.pk], "action": "save"}, follow=True
    ).content.decode()
    assert set(idp.connectors.all()) == {c1, c3}
    assert f"Connectors of {idp.name} saved, with the warning below." in saved
    assert saved.count("connector-2 is in the Sync Connectors list of") == 2
    # The lists themselves are left as they are: connector-2 still syncs both.
    assert [c.name for c in failover.sync_connector_list(other)] == ["connector-2"]
