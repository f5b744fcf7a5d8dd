"""Users & Groups: search, paging, group membership through nesting."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.console.conftest import HTMX

pytestmark = pytest.mark.django_db


def usernames(html: str) -> list[str]:
    return re.findall(r'/users/\d+/">(user\d+)</a>', html)


def test_sub_navigation_opens_the_first_directory_and_the_selector_switches(
    admin_client, directory, connectors
):
    from directories.services import create_directory

    other = create_directory(
        name="a-branch.example.com",
        type="ldap",
        sync_connector=connectors[0],
        host="h",
        base_dn="dc=b",
        bind_dn="cn=b",
    )
    response = admin_client.get(reverse("directories:users_groups"))
    assert response.url == reverse("directories:directory_users", args=[other.pk])
    chosen = admin_client.get(
        reverse("directories:users_groups") + f"?directory={directory.pk}&show=groups"
    )
    assert chosen.url == reverse("directories:directory_groups", args=[directory.pk])


def test_users_are_paged_by_fifty(admin_client, directory, directory_data):
    url = reverse("directories:directory_users", args=[directory.pk])
    first = admin_client.get(url).content.decode()
    assert len(usernames(first)) == 50 and "Page 1 of 3" in first
    third = admin_client.get(url + "?page=3", **HTMX).content.decode()
    assert third.lstrip().startswith('<div id="users-table">')
    assert usernames(third) == [f"user{n:03d}" for n in range(100, 120)]


def test_user_search_matches_name_username_and_email(admin_client, directory, directory_data):
    url = reverse("directories:directory_users", args=[directory.pk])
    assert usernames(admin_client.get(url + "?q=lovelace").content.decode()) == ["user007"]
    assert usernames(admin_client.get(url + "?q=USER011").content.decode()) == ["user011"]
    by_mail = admin_client.get(url + "?q=user119@example").content.decode()
    assert usernames(by_mail) == ["user119"]
    none = admin_client.get(url + "?q=nobody").content.decode()
    assert "No user matches" in none


def test_users_table_shows_groups_count_and_disabled(admin_client, directory, directory_data):
    url = reverse("directories:directory_users", args=[directory.pk])
    html = admin_client.get(url + "?q=user009").content.decode()
    row = html[html.index("user009</a>") :]
    row = row[: row.index("</tr>")]
    assert "Disabled" in row and row.rstrip().endswith('<td class="left">1</td>')


def test_groups_search_and_member_counts(admin_client, directory, directory_data):
    url = reverse("directories:directory_groups", args=[directory.pk])
    html = admin_client.get(url + "?q=eng").content.decode()
    assert "engineering" in html and "sales" not in html
    row = html[html.index("engineering</a>") :]
    assert '<td class="left">3</td>' in row[: row.index("</tr>")]


def test_user_page_lists_direct_and_inherited_groups_despite_a_cycle(
    admin_client, directory, directory_data
):
    user = directory_data["users"][0]
    url = reverse("directories:directoryuser_detail", args=[directory.pk, user.pk])
    html = admin_client.get(url).content.decode()
    direct = html[html.index('id="direct-groups"') : html.index('id="inherited-groups"')]
    inherited = html[html.index('id="inherited-groups"') :]
    assert "all-staff" in direct and "engineering" not in direct
    assert re.findall(r'/groups/\d+/">([a-z-]+)</a>', inherited) == ["backend", "engineering"]


def test_group_page_lists_direct_members_subgroups_and_nested_members(
    admin_client, directory, directory_data
):
    group = directory_data["groups"]["engineering"]
    url = reverse("directories:directorygroup_detail", args=[directory.pk, group.pk])
    html = admin_client.get(url).content.decode()
    direct = html[html.index('id="direct-members"') : html.index('id="subgroups"')]
    subgroups = html[html.index('id="subgroups"') : html.index('id="nested-members"')]
    nested = html[html.index('id="nested-members"') :]
    assert usernames(direct) == ["user001", "user002", "user003"]
    assert "backend" in subgroups and "all-staff" not in subgroups
    assert usernames(nested) == ["user000", "user004", "user005", "user006"]
    assert "through 2 nested groups" in nested


def test_user_of_another_directory_is_not_found(
    admin_client, directory, directory_data, connectors
):
    from directories.services import create_directory

    other = create_directory(
        name="other",
        type="ldap",
        sync_connector=connectors[0],
        host="h",
        base_dn="dc=o",
        bind_dn="cn=o",
    )
    user = directory_data["users"][0]
    url = reverse("directories:directoryuser_detail", args=[other.pk, user.pk])
    assert admin_client.get(url).status_code == 404
