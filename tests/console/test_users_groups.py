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
    assert usernames(admin_client.get(url + "?search=lovelace").content.decode()) == ["user007"]
    assert usernames(admin_client.get(url + "?search=USER011").content.decode()) == ["user011"]
    by_mail = admin_client.get(url + "?search=user119@example").content.decode()
    assert usernames(by_mail) == ["user119"]
    none = admin_client.get(url + "?search=nobody").content.decode()
    assert "No user matches" in none


def test_users_table_shows_groups_count_and_disabled(admin_client, directory, directory_data):
    url = reverse("directories:directory_users", args=[directory.pk])
    html = admin_client.get(url + "?search=user009").content.decode()
    row = html[html.index("user009</a>") :]
    row = row[: row.index("</tr>")]
    assert "Disabled" in row and row.rstrip().endswith('<td class="left">1</td>')


def test_groups_search_and_member_counts(admin_client, directory, directory_data):
    url = reverse("directories:directory_groups", args=[directory.pk])
    html = admin_client.get(url + "?search=eng").content.decode()
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


@pytest.fixture
def two_directories(directory, connectors) -> dict:
    """A Zoë, a Müller, a JOSÉ and a Straße group in each of two directories."""
    from django.utils import timezone

    from directories.models import DirectoryGroup, DirectoryUser
    from directories.services import create_directory

    branch = create_directory(
        name="branch.example.com",
        type="ldap",
        sync_connector=connectors[0],
        host="h",
        base_dn="dc=b",
        bind_dn="cn=b",
    )
    now = timezone.now()
    rows = {}
    for d in (directory, branch):
        for ext, username, first, last in (
            # Usernames share no letters with the names: only the folded names can match.
            ("z", "zl1", "Zoë", "López"),
            ("m", "hm2", "Hans", "Müller"),
            ("j", "jd3", "", ""),
            ("p", "pct", "50%", "off_sale"),
        ):
            rows[(d.name, ext)] = DirectoryUser.objects.create(
                directory=d,
                external_id=ext,
                dn=f"uid={username},dc=x",
                username=username,
                first_name=first,
                last_name=last,
                display_name="JOSÉ Díaz" if ext == "j" else "",
                email=f"{username}@example.com" if ext != "m" else "hm2@müller.example",
                synced_at=now,
            )
        DirectoryGroup.objects.create(
            directory=d, external_id="g", dn="cn=g1,dc=x", name="Hauptstraße", synced_at=now
        )
    return {"corp": directory, "branch": branch}


def user_rows(html: str) -> list[tuple[str, str]]:
    """(username, directory name) of each row of the all-directories table."""
    return re.findall(
        r'/users/\d+/">([^<]+)</a></td>\s*<td class="left row-directory"><a [^>]+>([^<]+)</a>',
        html,
    )


def test_search_across_all_directories_finds_zoe_in_both_with_their_directory(
    admin_client, two_directories
):
    url = reverse("directories:all_users")
    html = admin_client.get(url + "?search=zoe").content.decode()
    assert sorted(user_rows(html)) == [
        ("zl1", "branch.example.com"),
        ("zl1", "corp.example.com"),
    ]
    assert "Across all directories" in html and '<th class="left">Directory</th>' in html
    for typed, username in (
        ("zoe lopez", "zl1"),
        ("muller", "hm2"),
        ("@MULLER.", "hm2"),
        ("jose diaz", "jd3"),
        ("jose", "jd3"),
        ("LÓPEZ", "zl1"),
    ):
        found = user_rows(admin_client.get(url, {"search": typed}).content.decode())
        assert {u for u, _ in found} == {username} and len(found) == 2, typed
    groups = admin_client.get(reverse("directories:all_groups") + "?search=STRASSE")
    assert groups.content.decode().count("Hauptstraße</a>") == 2


def test_the_directory_selector_opens_the_search_across_all_directories(
    admin_client, two_directories
):
    response = admin_client.get(
        reverse("directories:users_groups"), {"directory": "all", "search": "zoë"}
    )
    assert response.url == reverse("directories:all_users") + "?search=zo%C3%AB"
    html = admin_client.get(response.url).content.decode()
    assert len(user_rows(html)) == 2 and '<option value="all" selected>' in html


def test_a_directory_search_stays_inside_its_directory(admin_client, two_directories):
    branch = two_directories["branch"]
    url = reverse("directories:directory_users", args=[branch.pk])
    html = admin_client.get(url + "?search=zoe").content.decode()
    links = re.findall(r'/directories/(\d+)/users/\d+/">(\w+)</a>', html)
    assert links == [(str(branch.pk), "zl1")]
    assert "In branch.example.com; case and accents ignored" in html


def test_percent_and_underscore_typed_are_plain_characters(admin_client, two_directories):
    url = reverse("directories:all_users")
    assert {u for u, _ in user_rows(admin_client.get(url, {"search": "%"}).content.decode())} == {
        "pct"
    }
    assert {u for u, _ in user_rows(admin_client.get(url, {"search": "f_s"}).content.decode())} == {
        "pct"
    }
    assert user_rows(admin_client.get(url, {"search": "5_%"}).content.decode()) == []
    none = admin_client.get(url, {"search": "zo_"}).content.decode()
    assert "No user matches “zo_” in any directory." in none


def test_the_api_searches_users_and_groups_with_the_same_fold(admin_client, two_directories):
    corp = two_directories["corp"]
    users = admin_client.get(
        f"/api/v1/directories/{corp.pk}/users/", {"search": "Zoe Lopez"}
    ).json()
    assert [u["username"] for u in users["results"]] == ["zl1"]
    groups = admin_client.get(
        f"/api/v1/directories/{corp.pk}/groups/", {"search": "strasse"}
    ).json()
    assert [g["name"] for g in groups["results"]] == ["Hauptstraße"]
