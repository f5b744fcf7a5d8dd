"""/api/v1/users/ and /api/v1/groups/: every directory's synced users and groups, read-only,
filterable, paged; a user's groups (direct and nested) and a group's members."""

from __future__ import annotations

import pytest
from django.utils import timezone

from directories.models import (
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    GroupNesting,
)
from directories.services import create_directory


@pytest.fixture
def people(directory, connectors):
    other = create_directory(
        name="hr.example.com",
        type=directory.type,
        sync_connector=connectors[0],
        host="127.0.0.1",
        port=389,
        base_dn="dc=hr,dc=example,dc=com",
        bind_dn="cn=admin,dc=hr,dc=example,dc=com",
        bind_password="s3cret-bind",
    )
    now = timezone.now()

    def user(d, name):
        return DirectoryUser.objects.bulk_create(
            [DirectoryUser(directory=d, external_id=name, dn=f"uid={name}", username=name,
                           display_name=name.title(), fingerprint="x", synced_at=now)]
        )[0]  # fmt: skip

    def group(d, name):
        return DirectoryGroup.objects.bulk_create(
            [DirectoryGroup(directory=d, external_id=name, dn=f"cn={name}", name=name,
                            fingerprint="x", synced_at=now)]
        )[0]  # fmt: skip

    zoe, ann, hr_bob = user(directory, "zoe"), user(directory, "ann"), user(other, "bob")
    staff, admins = group(directory, "staff"), group(directory, "admins")
    GroupMembership.objects.create(group=admins, user=zoe)
    GroupMembership.objects.create(group=staff, user=ann)
    GroupNesting.objects.create(parent=staff, child=admins)  # admins are staff too
    return {"other": other, "zoe": zoe, "ann": ann, "bob": hr_bob, "staff": staff, "admins": admins}


def test_users_of_every_directory_filtered_by_directory_and_paged(readonly_api, directory, people):
    everyone = readonly_api.get("/api/v1/users/").json()
    assert everyone["count"] == 3
    assert {(u["username"], u["directory_name"]) for u in everyone["results"]} == {
        ("ann", directory.name), ("zoe", directory.name), ("bob", "hr.example.com")
    }  # fmt: skip
    hr = readonly_api.get("/api/v1/users/", {"directory": people["other"].pk}).json()
    assert [u["username"] for u in hr["results"]] == ["bob"]
    # Search (accent folding, across directories): test_filters_paging_and_idp_removal.py.
    found = readonly_api.get("/api/v1/users/", {"search": "BOB"}).json()
    assert [u["username"] for u in found["results"]] == ["bob"]
    paged = readonly_api.get("/api/v1/users/", {"limit": 1, "offset": 1}).json()
    assert paged["count"] == 3 and len(paged["results"]) == 1 and paged["next"]
    bad = readonly_api.get("/api/v1/users/", {"directory": "abc"})
    assert bad.status_code == 400 and list(bad.json()["errors"]) == ["directory"]


def test_a_users_groups_direct_then_through_nesting(readonly_api, people):
    rows = readonly_api.get(f"/api/v1/users/{people['zoe'].pk}/groups/").json()["results"]
    assert [(g["name"], g["direct"], g["via_name"]) for g in rows] == [
        ("admins", True, None),
        ("staff", False, "admins"),
    ]


def test_groups_with_counts_and_a_groups_members(readonly_api, people):
    groups = readonly_api.get("/api/v1/groups/").json()["results"]
    counts = {g["name"]: (g["user_members_count"], g["group_members_count"]) for g in groups}
    assert counts == {"admins": (1, 0), "staff": (1, 1)}
    members = readonly_api.get(f"/api/v1/groups/{people['staff'].pk}/members/").json()["results"]
    assert [(m["type"], m["name"]) for m in members] == [("group", "admins"), ("user", "ann")]


def test_users_and_groups_are_read_only(super_api, people):
    assert super_api.delete(f"/api/v1/users/{people['zoe'].pk}/").status_code == 405
    assert super_api.post("/api/v1/groups/", {"name": "x"}, format="json").status_code == 405
    assert DirectoryUser.objects.filter(pk=people["zoe"].pk).exists()
