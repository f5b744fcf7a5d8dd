"""Directories through the API: create, read, change, delete, and their synced entries."""

from __future__ import annotations

from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from directories.models import (
    SAFEGUARD_FIELDS,
    Directory,
    DirectoryGroup,
    DirectoryUser,
    GroupMembership,
    GroupNesting,
    IdentityProvider,
)
from directories.services import schedule_task_name
from synclog.models import SyncRun


def test_creating_a_directory_starts_its_list_with_the_sync_connector(
    directory_api, directory_payload, connectors
):
    answer = directory_api.post("/api/v1/directories/", directory_payload, format="json")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["sync_connector"] == connectors[1].pk
    assert body["sync_connectors"] == [
        {"id": connectors[1].pk, "name": "connector-2", "position": 1}
    ]
    assert (
        body["identity_provider"]
        == IdentityProvider.objects.get(name="WorkspaceIDP__" + body["name"]).pk
    )
    assert body["mapped_attributes"]["username"] == "uid"
    assert body["user_filter"] == "(objectClass=inetOrgPerson)"
    assert body["users_count"] == 0 and body["groups_count"] == 0
    assert body["last_run"] is None
    directory = Directory.objects.get(pk=body["id"])
    assert [e.connector_id for e in directory.sync_entries.all()] == [connectors[1].pk]
    # Safeguards left out of the request keep their defaults: a script never gets a
    # directory without them unless it says so.
    assert "safeguard_users_deleted_percent" not in directory_payload
    assert [body[f] for f in SAFEGUARD_FIELDS] == [10, 10, 10, 10]


def test_bind_password_is_never_returned_and_is_stored_encrypted(
    super_api, directory_payload, directory
):
    secret = directory_payload["bind_password"]
    created = super_api.post("/api/v1/directories/", directory_payload, format="json")
    pk = created.json()["id"]
    responses = [
        created,
        super_api.get("/api/v1/directories/"),
        super_api.get(f"/api/v1/directories/{pk}/"),
        super_api.patch(
            f"/api/v1/directories/{pk}/", {"bind_password": "rotated-1"}, format="json"
        ),
    ]
    for answer in responses:
        assert answer.status_code in (200, 201)
        text = answer.content.decode()
        assert "bind_password" not in text
        assert secret not in text and "rotated-1" not in text and "s3cret-bind" not in text
    assert Directory.objects.get(pk=pk).bind_password == "rotated-1"
    with connection.cursor() as cursor:
        cursor.execute("SELECT bind_password FROM directories_directory WHERE id = %s", [pk])
        assert "rotated-1" not in cursor.fetchone()[0]


def test_invalid_directory_fields_are_named_and_nothing_is_saved(directory_api, directory_payload):
    payload = {
        **directory_payload,
        "port": 70000,
        "base_dn": "not a dn",
        "user_dns": ["ou=people,dc=hr", "people"],
        "user_filter": "(objectClass=person",
        "mapped_attributes": {"username": "uid", "shoe_size": "shoe"},
        "safeguard_users_deleted_percent": 0,
        "safeguard_members_removed_percent": 101,
    }
    answer = directory_api.post("/api/v1/directories/", payload, format="json")
    assert answer.status_code == 400
    errors = answer.json()["errors"]
    assert set(errors) == {
        "port",
        "base_dn",
        "user_dns",
        "user_filter",
        "mapped_attributes",
        "safeguard_users_deleted_percent",
        "safeguard_members_removed_percent",
    }
    assert "not a valid DN" in errors["base_dn"][0]
    assert "'people' is not a valid DN" in str(errors["user_dns"])
    assert "shoe_size" in errors["mapped_attributes"][0]
    assert not Directory.objects.filter(name="hr.example.com").exists()


def test_directory_name_must_be_unique(directory_api, directory_payload, directory):
    answer = directory_api.post(
        "/api/v1/directories/", {**directory_payload, "name": directory.name}, format="json"
    )
    assert answer.status_code == 400
    assert "name" in answer.json()["errors"]
    assert Directory.objects.count() == 1


def test_patching_mapped_attributes_keeps_fields_not_sent(directory_api, directory):
    answer = directory_api.patch(
        f"/api/v1/directories/{directory.pk}/",
        {"mapped_attributes": {"email": "userPrincipalName"}},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    mapped = answer.json()["mapped_attributes"]
    assert mapped["email"] == "userPrincipalName"
    assert mapped["username"] == "uid"


def test_patching_the_frequency_schedules_the_sync_and_manual_removes_it(directory_api, directory):
    url = f"/api/v1/directories/{directory.pk}/"
    answer = directory_api.patch(
        url, {"sync_frequency": "weekly", "sync_time": "03:30", "sync_weekday": 2}, format="json"
    )
    assert answer.status_code == 200, answer.content
    task = PeriodicTask.objects.get(name=schedule_task_name(directory))
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("30", "3", "2")
    assert directory_api.patch(url, {"sync_frequency": "manual"}, format="json").status_code == 200
    assert not PeriodicTask.objects.filter(name=schedule_task_name(directory)).exists()


def test_a_bad_patch_changes_nothing(directory_api, directory):
    answer = directory_api.patch(
        f"/api/v1/directories/{directory.pk}/",
        {"host": "new-host.example.com", "sync_frequency": "daily", "port": 0},
        format="json",
    )
    assert answer.status_code == 400
    assert set(answer.json()["errors"]) == {"port"}
    directory.refresh_from_db()
    assert directory.host == "127.0.0.1" and directory.sync_frequency == "manual"
    assert not PeriodicTask.objects.filter(name=schedule_task_name(directory)).exists()


def test_type_and_sync_connector_cannot_change_after_creation(directory_api, directory, connectors):
    answer = directory_api.patch(
        f"/api/v1/directories/{directory.pk}/",
        {"type": "ad", "sync_connector": connectors[2].pk},
        format="json",
    )
    assert answer.status_code == 400
    assert set(answer.json()["errors"]) == {"type", "sync_connector"}
    directory.refresh_from_db()
    assert directory.type == "ldap" and directory.sync_connector_id == connectors[0].pk


def test_put_on_a_directory_is_not_offered(directory_api, directory):
    answer = directory_api.put(f"/api/v1/directories/{directory.pk}/", {}, format="json")
    assert answer.status_code == 405


def test_schedule_warnings_name_directories_that_would_collide(
    directory_api, directory, directory_payload, connectors
):
    url = f"/api/v1/directories/{directory.pk}/"
    directory_api.patch(url, {"sync_frequency": "daily", "sync_time": "01:00"}, format="json")
    other = directory_api.post(
        "/api/v1/directories/",
        {
            **directory_payload,
            "sync_connector": connectors[0].pk,
            "sync_frequency": "daily",
            "sync_time": "01:00",
        },
        format="json",
    )
    assert other.status_code == 201, other.content
    assert other.json()["schedule_warnings"] == ["corp.example.com"]
    assert directory_api.get(url).json()["schedule_warnings"] == ["hr.example.com"]
    directory_api.patch(url, {"sync_time": "04:00"}, format="json")
    assert directory_api.get(url).json()["schedule_warnings"] == []


def test_directory_shows_counts_and_last_run(directory_api, directory):
    now = timezone.now()
    DirectoryUser.objects.create(
        directory=directory, external_id="u1", dn="uid=a,dc=x", username="a", synced_at=now
    )
    DirectoryGroup.objects.create(
        directory=directory, external_id="g1", dn="cn=g,dc=x", name="g", synced_at=now
    )
    SyncRun.objects.create(directory=directory, status="completed", connector_used_name="c-1")
    latest = SyncRun.objects.create(directory=directory, status="queued")
    body = directory_api.get(f"/api/v1/directories/{directory.pk}/").json()
    assert (body["users_count"], body["groups_count"]) == (1, 1)
    assert body["last_run"]["id"] == latest.pk and body["last_run"]["status"] == "queued"
    listed = directory_api.get("/api/v1/directories/").json()["results"][0]
    assert listed["last_run"]["id"] == latest.pk


def test_deleting_a_directory_removes_it_and_its_schedule(directory_api, directory):
    url = f"/api/v1/directories/{directory.pk}/"
    directory_api.patch(url, {"sync_frequency": "hourly"}, format="json")
    assert PeriodicTask.objects.filter(name=schedule_task_name(directory)).exists()
    assert directory_api.delete(url).status_code == 204
    assert not Directory.objects.filter(pk=directory.pk).exists()
    assert not PeriodicTask.objects.filter(name=schedule_task_name(directory)).exists()


def test_synced_users_are_listed_and_searched(directory_api, directory):
    now = timezone.now()
    for n, (username, display) in enumerate([("jdoe", "John Doe"), ("asmith", "Ann Smith")]):
        DirectoryUser.objects.create(
            directory=directory,
            external_id=f"u{n}",
            dn=f"uid={username},ou=people,dc=example,dc=com",
            username=username,
            display_name=display,
            synced_at=now,
        )
    url = f"/api/v1/directories/{directory.pk}/users/"
    everyone = directory_api.get(url).json()
    assert everyone["count"] == 2
    assert [u["username"] for u in everyone["results"]] == ["asmith", "jdoe"]
    found = directory_api.get(url, {"search": "smi"}).json()
    assert [u["username"] for u in found["results"]] == ["asmith"]


def test_synced_groups_show_member_counts(directory_api, directory):
    now = timezone.now()
    users = [
        DirectoryUser.objects.create(
            directory=directory,
            external_id=f"u{n}",
            dn=f"uid=u{n}",
            username=f"u{n}",
            synced_at=now,
        )
        for n in range(3)
    ]
    staff, admins = (
        DirectoryGroup.objects.create(
            directory=directory, external_id=name, dn=f"cn={name}", name=name, synced_at=now
        )
        for name in ("staff", "admins")
    )
    GroupMembership.objects.bulk_create(GroupMembership(group=staff, user=u) for u in users)
    GroupMembership.objects.create(group=admins, user=users[0])
    GroupNesting.objects.create(parent=staff, child=admins)
    url = f"/api/v1/directories/{directory.pk}/groups/"
    rows = {g["name"]: g for g in directory_api.get(url).json()["results"]}
    assert (rows["staff"]["user_members_count"], rows["staff"]["group_members_count"]) == (3, 1)
    assert (rows["admins"]["user_members_count"], rows["admins"]["group_members_count"]) == (1, 0)
    found = directory_api.get(url, {"search": "ADM"}).json()["results"]
    assert [g["name"] for g in found] == ["admins"]


def test_patch_refuses_a_ca_certificate_that_is_not_pem(directory_api, directory):
    answer = directory_api.patch(
        f"/api/v1/directories/{directory.pk}/", {"ca_cert": "garbage"}, format="json"
    )
    assert answer.status_code == 400
    assert "PEM" in str(answer.json()["errors"]["ca_cert"])
    directory.refresh_from_db()
    assert directory.ca_cert == ""


def test_patch_of_the_host_needs_the_bind_password_again(directory_api, directory):
    url = f"/api/v1/directories/{directory.pk}/"
    refused = directory_api.patch(url, {"host": "evil.example.net"}, format="json")
    assert refused.status_code == 400
    assert "Enter the bind password again" in str(refused.json()["errors"]["bind_password"])
    directory.refresh_from_db()
    assert directory.host == "127.0.0.1"

    accepted = directory_api.patch(
        url, {"host": "ldap2.example.com", "bind_password": "typed-again"}, format="json"
    )
    assert accepted.status_code == 200
    directory.refresh_from_db()
    assert (directory.host, directory.bind_password) == ("ldap2.example.com", "typed-again")


def test_deleting_directories_leaves_no_identity_provider_or_association_behind(
    super_api, directory_payload, connectors
):
    from directories.models import IdentityProvider

    before = set(IdentityProvider.objects.values_list("name", flat=True))
    own = super_api.post("/api/v1/directories/", directory_payload, format="json").json()
    shared_idp = own["identity_provider"]
    # A second directory in the first one's identity provider, synced by another connector.
    guest = super_api.post(
        "/api/v1/directories/",
        {
            **directory_payload,
            "name": "guest.example.com",
            "identity_provider": shared_idp,
            "sync_connector": connectors[2].pk,
        },
        format="json",
    ).json()
    idp = IdentityProvider.objects.get(pk=shared_idp)
    assert set(idp.connectors.values_list("pk", flat=True)) == {connectors[1].pk, connectors[2].pk}

    assert super_api.delete(f"/api/v1/directories/{guest['id']}/").status_code == 204
    # The guest's sync connector leaves the provider it was added to; the owner's stays.
    assert set(idp.connectors.values_list("pk", flat=True)) == {connectors[1].pk}

    assert super_api.delete(f"/api/v1/directories/{own['id']}/").status_code == 204
    assert set(IdentityProvider.objects.values_list("name", flat=True)) == before
