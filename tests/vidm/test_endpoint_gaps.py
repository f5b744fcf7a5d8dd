"""/SAAS/ answers no other test pins down: one directory config, the sync profile read back,
one identity provider, the health check with the database down, the run history's
requester, times and messages, and a sync profile PUT in plain `application/json`.

Each asserts what a client script reads (field names, value types, status, media type),
as docs/vidm-compatibility.md documents them.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from apitokens.services import issue_token
from console.models import Role
from directories.choices import SyncFrequency
from directories.models import Directory, DirectoryGroup, DirectoryUser
from synclog import lifecycle
from synclog.models import SyncRun
from tests.conftest import make_directory
from tests.support.database import database_unreachable
from tests.vidm.conftest import JSON, VND, send
from vidm.services import add_client, directory_id

pytestmark = pytest.mark.django_db

API = "/SAAS/jersey/manager/api"
SAAS = f"{API}/connectormanagement"
USERS_DN = "ou=people,dc=example,dc=com"
GROUPS_DN = "ou=groups,dc=example,dc=com"


def hzn(user) -> dict:
    _, key = issue_token(user, name="tests")
    return {"Authorization": f"HZN {key}"}


def json_of(response, status: int = 200):
    """The body of a JSON answer with this status (every /SAAS/ answer is application/json)."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json", response["Content-Type"]
    return response.json()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# ---- 1. GET directoryconfigs/{id} ---------------------------------------------------


def test_one_directory_config_has_the_fields_and_types_scripts_read(client, super_admin, directory):
    for n in (1, 2):
        DirectoryUser.objects.create(
            directory=directory,
            external_id=f"u{n}",
            dn=f"uid=u{n},{USERS_DN}",
            username=f"u{n}",
            synced_at=timezone.now(),
        )
    DirectoryGroup.objects.create(
        directory=directory,
        external_id="g1",
        dn=f"cn=g1,{GROUPS_DN}",
        name="g1",
        synced_at=timezone.now(),
    )
    SyncRun.objects.create(
        directory=directory,
        status="completed",
        trigger="api",
        created=at("2024-03-01T10:00:00.250"),
    )
    # A later review writes nothing: it is not the last sync.
    SyncRun.objects.create(
        directory=directory, status="completed", trigger="review", created=at("2024-03-05T09:00")
    )
    ident = directory_id(directory)
    auth = hzn(super_admin)

    # Get-WSADirectory's headers: a vnd Content-Type on the GET, a vnd Accept.
    item = json_of(
        send(
            client,
            "GET",
            f"{SAAS}/directoryconfigs/{ident}",
            {
                **auth,
                "Content-Type": VND + "directory.ad.over.ldap+json",
                "Accept": VND + "directory.ad.over.ldap+json",
            },
        )
    )
    expected = {
        "directoryId": ident,
        "directoryConfigId": ident,
        "name": "corp.example.com",
        "type": "LDAP_DIRECTORY",
        "directoryType": "LDAP_DIRECTORY",
        "baseDN": "dc=example,dc=com",
        "bindDN": "cn=admin,dc=example,dc=com",
        "host": "127.0.0.1",
        "port": 389,
        "useStartTls": False,
        "useSSL": False,
        "syncConfigurationEnabled": True,
        "identityProviderId": str(directory.identity_provider_id),
        "countDomains": 1,
        "userCount": 2,
        "groupCount": 1,
        "lastSyncTime": 1709287200250,
        "lastSyncStatus": "completed",
        "syncFrequency": "manual",
    }
    assert {key: item.get(key) for key in expected} == expected
    # Types as a script compares them: ids are strings, counts, port and times integers.
    for key in ("port", "userCount", "groupCount", "lastSyncTime", "countDomains"):
        assert type(item[key]) is int, key
    for key in ("directoryId", "identityProviderId"):
        assert type(item[key]) is str, key
    assert item["_links"]["self"]["href"] == f"{SAAS}/directoryconfigs/{ident}"
    # The bind password is write-only.
    assert "s3cret-bind" not in json.dumps(item)
    # Get-WS1DirectoryById filters the list on directoryId: one GET answers the same item.
    listed = json_of(send(client, "GET", f"{SAAS}/directoryconfigs", auth))["items"]
    assert [i for i in listed if i["directoryId"] == ident] == [item]
    # With a trailing slash too.
    assert json_of(send(client, "GET", f"{SAAS}/directoryconfigs/{ident}/", auth)) == item


def test_a_directory_config_keeps_its_id_from_creation_through_association(
    client, super_admin, connectors
):
    auth = hzn(super_admin)
    created = json_of(
        send(
            client,
            "POST",
            f"{SAAS}/directoryconfigs",
            {**auth, "Content-Type": VND + "directory.ad.over.ldap+json"},
            json.dumps(
                {
                    "useSRV": True,
                    "directoryType": "ACTIVE_DIRECTORY_LDAP",
                    "directorySearchAttribute": "sAMAccountName",
                    "name": "sfo.rainpole.io",
                    "baseDN": "ou=VVD,dc=sfo,dc=rainpole,dc=io",
                    "bindDN": "cn=svc-wsa-ad,ou=VVD,dc=sfo,dc=rainpole,dc=io",
                }
            ),
        ),
        201,
    )
    ident = created["directoryConfigId"]
    path = f"{SAAS}/directoryconfigs/{ident}"
    pending = json_of(send(client, "GET", path, auth))
    assert pending == created
    assert (pending["directoryId"], pending["type"], pending["host"], pending["port"]) == (
        ident,
        "ACTIVE_DIRECTORY_LDAP",
        "sfo.rainpole.io",
        389,
    )
    assert pending["syncConfigurationEnabled"] is False
    assert (pending["userCount"], pending["groupCount"], pending["lastSyncTime"]) == (0, 0, None)

    json_of(
        send(
            client,
            "POST",
            f"{SAAS}/connectorinstances/{connectors[0].pk}/associatedirectory",
            {**auth, "Content-Type": VND + "directory.details+json"},
            json.dumps(
                {"directoryId": ident, "directoryBindPassword": "pw", "usedForAuthentication": True}
            ),
        )
    )
    synced = json_of(send(client, "GET", path, auth))
    assert (synced["directoryId"], synced["directoryConfigId"]) == (ident, ident)
    assert synced["syncConfigurationEnabled"] is True
    assert synced["identityProviderId"] == str(Directory.objects.get().identity_provider_id)
    assert (synced["userCount"], synced["groupCount"], synced["lastSyncTime"]) == (0, 0, None)


# ---- 2. GET directoryconfigs/{id}/syncprofile -----------------------------------------


def test_the_sync_profile_reads_back_what_the_users_groups_and_schedule_puts_set(
    client, super_admin, directory
):
    auth = hzn(super_admin)
    path = f"{SAAS}/directoryconfigs/{directory_id(directory)}/syncprofile"
    before = json_of(send(client, "GET", path, {**auth, "Accept": ""}))
    assert before == {
        "identityUserInfo": {USERS_DN: {"selected": True}},
        "identityGroupInfo": {GROUPS_DN: {"selected": True}},
        "syncSchedule": {"frequency": "manual"},
    }

    admins = "cn=wsa-admins,ou=groups,dc=example,dc=com"
    readers = "cn=wsa-readers,ou=groups,dc=example,dc=com"
    puts = [
        (
            "users",
            {
                "identityUserInfo": {
                    "cn=svc,ou=people,dc=example,dc=com": {"selected": True},
                    "ou=staff,dc=example,dc=com": {"selected": True},
                    "ou=former,dc=example,dc=com": {"selected": False},
                }
            },
        ),
        (
            "groups",
            {
                "identityGroupInfo": {
                    GROUPS_DN: {
                        "mappedGroupData": [
                            {"mappedGroup": {"dn": admins}, "selected": True},
                            {"mappedGroup": {"dn": readers}, "selected": True},
                            {"mappedGroup": {"dn": "cn=x," + GROUPS_DN}, "selected": False},
                        ],
                        "selected": False,
                    }
                },
                "excludeNestedGroupMembers": False,
            },
        ),
        ("syncschedule", {"frequency": "oneHour"}),
    ]
    for kind, body in puts:
        media = f"{VND}directory.sync.profile.{kind}+json"
        put = send(
            client, "PUT", path, {**auth, "Content-Type": media, "Accept": media}, json.dumps(body)
        )
        assert put.status_code == 200, (kind, put.content)

    profile = json_of(send(client, "GET", path, {**auth, "Content-Type": JSON}))
    assert set(profile) == {"identityUserInfo", "identityGroupInfo", "syncSchedule"}
    # Keys in the order they were selected; the deselected ones are left out.
    assert list(profile["identityUserInfo"].items()) == [
        ("cn=svc,ou=people,dc=example,dc=com", {"selected": True}),
        ("ou=staff,dc=example,dc=com", {"selected": True}),
    ]
    assert list(profile["identityGroupInfo"].items()) == [
        (admins, {"selected": True}),
        (readers, {"selected": True}),
    ]
    # "oneHour" and "hourly" are one schedule: a read names it "hourly".
    assert profile["syncSchedule"] == {"frequency": "hourly"}
    # Each PUT answered the profile as it then stood; the last one is the same as the GET.
    assert put.json() == profile

    # A script that reads the groups and puts them back changes nothing.
    again = send(
        client,
        "PUT",
        path,
        {**auth, "Content-Type": VND + "directory.sync.profile.groups+json"},
        json.dumps({"identityGroupInfo": profile["identityGroupInfo"]}),
    )
    assert json_of(again) == profile
    directory.refresh_from_db()
    assert directory.group_dns == [admins, readers]
    assert directory.sync_frequency == SyncFrequency.HOURLY


# ---- 3. GET identityProviders/{id} -----------------------------------------------------


def test_one_identity_provider_has_its_directories_and_connectors(
    client, super_admin, directory, connectors
):
    idp = directory.identity_provider
    auth = hzn(super_admin)
    answer = json_of(send(client, "GET", f"{API}/identityProviders/{idp.pk}", auth))
    assert {k: answer[k] for k in ("id", "name", "type", "enabled")} == {
        "id": str(idp.pk),
        "name": idp.name,
        "type": "EMBEDDED",
        "enabled": True,
    }
    assert answer["directoryConfigurations"] == [
        {"directoryId": directory_id(directory), "name": directory.name, "type": "LDAP_DIRECTORY"}
    ]
    (connector,) = answer["connectors"]
    assert {k: connector[k] for k in ("instanceId", "name", "host", "activated")} == {
        "instanceId": str(connectors[0].pk),
        "name": connectors[0].name,
        "host": connectors[0].host,
        "activated": True,
    }
    assert answer["_links"]["self"]["href"] == f"{API}/identityProviders/{idp.pk}"
    # The same object as its item in the list Get-WSAIdentityProvider reads.
    (listed,) = json_of(send(client, "GET", f"{API}/identityProviders", auth))["items"]
    assert listed == answer
    # With a trailing slash and an empty Accept, as the scripts send it.
    assert (
        json_of(send(client, "GET", f"{API}/identityProviders/{idp.pk}/", {**auth, "Accept": ""}))
        == answer
    )
    # An id that is no number is an unknown id.
    assert json_of(send(client, "GET", f"{API}/identityProviders/abc", auth), 404)["errors"]


# ---- 4. system/health -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_health_is_503_with_its_json_when_the_database_is_down_and_200_when_up(client):
    path = f"{API}/system/health"
    up = json_of(send(client, "GET", path, {"Accept": VND + "health+json"}))
    assert up == {"AllOk": True, "DatabaseStatus": "OK"}
    with database_unreachable():
        down = send(client, "GET", path, {"Accept": "*/*"})
        down_with_slash = send(client, "GET", path + "/")
    # No token needed, no login page: the monitoring gets vIDM's JSON with a 503.
    assert json_of(down, 503) == {"AllOk": False, "DatabaseStatus": "FAILED"}
    assert json_of(down_with_slash, 503) == {"AllOk": False, "DatabaseStatus": "FAILED"}
    # Once the database is back, so is the health.
    assert json_of(send(client, "GET", path)) == {"AllOk": True, "DatabaseStatus": "OK"}


# ---- 5. syncexecutions ------------------------------------------------------------------


def run_to_the_end(run_id: int, ending: str, message: str, started: str, finished: str) -> None:
    """A worker claims the run and ends it as the runner does; then its times are pinned."""
    run = SyncRun.objects.get(pk=run_id)
    assert lifecycle.claim(run)
    if ending == "failed":
        assert lifecycle.fail(run, message)
    else:
        assert lifecycle.finish(run, ending, message)
    SyncRun.objects.filter(pk=run_id).update(
        started_at=at(started), finished_at=at(finished), created=at(started) - timedelta(seconds=1)
    )


def test_sync_executions_name_who_asked_when_it_ran_and_why_it_failed(
    client, directory_admin, directory, connectors, published
):
    ident = directory_id(directory)
    sync = f"{SAAS}/directoryconfigs/{ident}/syncprofile/sync"
    history = f"{SAAS}/directoryconfigs/{ident}/syncexecutions"

    # Start-WSADirectorySync with an admin's session, then the run completes.
    first = send(
        client,
        "POST",
        sync,
        {**hzn(directory_admin), "Content-Type": VND + "directory.sync.profile.sync+json"},
        '{"ignoreSafeguards":false}',
    )
    completed_id = json_of(first, 202)["id"]
    run_to_the_end(
        completed_id, "completed", "", "2024-03-01T10:00:00.250", "2024-03-01T10:02:30.750"
    )

    # Start-WS1DirectorySync with an OAuth client's token, then the run fails.
    _, secret = add_client("nightly", Role.DIRECTORY_ADMIN)
    basic = base64.b64encode(f"nightly:{secret}".encode()).decode()
    token = send(
        client,
        "POST",
        "/SAAS/auth/oauthtoken",
        {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        "grant_type=client_credentials",
    )
    key = json_of(token)["access_token"]
    second = send(
        client, "POST", sync, {"Authorization": f"Bearer {key}", "Content-Type": JSON}, "{}"
    )
    failed_id = json_of(second, 202)["id"]
    why = "Every sync connector failed: connector-1 did not answer."
    run_to_the_end(failed_id, "failed", why, "2024-03-02T08:15:00.001", "2024-03-02T08:15:42.999")

    # A third one waits in the queue: it has not started nor ended.
    third = send(client, "POST", sync, {**hzn(directory_admin), "Content-Type": JSON}, "")
    queued_id = json_of(third, 202)["id"]

    items = json_of(send(client, "GET", history, hzn(directory_admin)))["items"]
    # Newest first.
    assert [i["id"] for i in items] == [queued_id, failed_id, completed_id]
    queued, failed, completed = items
    fields = ("status", "trigger", "requestedBy", "startTime", "endTime", "message")
    assert {k: completed[k] for k in fields} == {
        "status": "completed",
        "trigger": "api",
        "requestedBy": directory_admin.username,
        "startTime": 1709287200250,
        "endTime": 1709287350750,
        "message": "",
    }
    assert {k: failed[k] for k in fields} == {
        "status": "failed",
        "trigger": "api",
        "requestedBy": "oauth-nightly",
        "startTime": 1709367300001,
        "endTime": 1709367342999,
        "message": why,
    }
    assert {k: queued[k] for k in fields} == {
        "status": "queued",
        "trigger": "api",
        "requestedBy": directory_admin.username,
        "startTime": None,
        "endTime": None,
        "message": "",
    }
    for item in (completed, failed):
        # Milliseconds since the epoch as JSON integers, not strings or floats.
        assert type(item["startTime"]) is int and type(item["endTime"]) is int
        assert type(item["id"]) is int and item["syncExecutionId"] == str(item["id"])
    # The history is the directory's own: another directory's runs are not in it.
    other = make_directory("branch.example.com", connectors[1])
    SyncRun.objects.create(directory=other, status="completed", trigger="api")
    again = json_of(send(client, "GET", history, hzn(directory_admin)))["items"]
    assert [i["id"] for i in again] == [queued_id, failed_id, completed_id]


# ---- 6. PUT syncprofile as application/json ---------------------------------------------


@pytest.mark.parametrize(
    ("body", "changed"),
    [
        (
            {"identityUserInfo": {"ou=staff,dc=example,dc=com": {"selected": "true"}}},
            {"user_dns": ["ou=staff,dc=example,dc=com"]},
        ),
        (
            {
                "identityGroupInfo": {
                    GROUPS_DN: {
                        # ConvertTo-Json writes a one-item array as the item itself.
                        "mappedGroupData": {
                            "mappedGroup": {"dn": "cn=ops," + GROUPS_DN},
                            "selected": True,
                        },
                        "selected": False,
                    },
                    "ou=teams,dc=example,dc=com": {"selected": True},
                }
            },
            {"group_dns": ["cn=ops," + GROUPS_DN, "ou=teams,dc=example,dc=com"]},
        ),
        ({"frequency": "daily"}, {"sync_frequency": SyncFrequency.DAILY}),
    ],
    ids=["users", "groups", "schedule"],
)
@pytest.mark.parametrize("media", [JSON, JSON + "; charset=utf-8"])
def test_a_plain_json_sync_profile_put_sets_what_its_key_names_and_nothing_else(
    client, super_admin, directory, body, changed, media
):
    unchanged = {
        "user_dns": [USERS_DN],
        "group_dns": [GROUPS_DN],
        "sync_frequency": "manual",
    }
    answer = send(
        client,
        "PUT",
        f"{SAAS}/directoryconfigs/{directory_id(directory)}/syncprofile",
        {**hzn(super_admin), "Content-Type": media},
        json.dumps(body),
    )
    profile = json_of(answer)
    directory.refresh_from_db()
    stored = {key: getattr(directory, key) for key in unchanged}
    assert stored == unchanged | changed
    assert profile == {
        "identityUserInfo": {dn: {"selected": True} for dn in stored["user_dns"]},
        "identityGroupInfo": {dn: {"selected": True} for dn in stored["group_dns"]},
        "syncSchedule": {"frequency": "daily" if "sync_frequency" in changed else "manual"},
    }
    # The beat schedule follows the frequency (manual has none).
    scheduled = PeriodicTask.objects.filter(name=f"sync-directory-{directory.pk}").exists()
    assert scheduled is ("sync_frequency" in changed)


def test_a_plain_json_sync_profile_put_sets_every_part_its_keys_name_or_none(
    client, super_admin, directory
):
    path = f"{SAAS}/directoryconfigs/{directory_id(directory)}/syncprofile"
    auth = hzn(super_admin)
    staff = {"identityUserInfo": {"ou=staff,dc=example,dc=com": {"selected": True}}}

    # One part is wrong: 400 naming it, and the other part is not set either.
    refused = send(
        client,
        "PUT",
        path,
        {**auth, "Content-Type": JSON},
        json.dumps(staff | {"frequency": "sometimes"}),
    )
    assert "frequency" in json_of(refused, 400)["errors"][0]["message"]
    directory.refresh_from_db()
    assert (directory.user_dns, directory.sync_frequency) == ([USERS_DN], "manual")

    # Both parts right: both are set, neither is dropped.
    both = send(
        client,
        "PUT",
        path,
        {**auth, "Content-Type": JSON},
        json.dumps(staff | {"frequency": "weekly"}),
    )
    assert json_of(both)["syncSchedule"] == {"frequency": "weekly"}
    directory.refresh_from_db()
    assert directory.user_dns == ["ou=staff,dc=example,dc=com"]
    assert directory.sync_frequency == SyncFrequency.WEEKLY

    # A vnd media type names the one part it sets; other keys are not read.
    users_only = send(
        client,
        "PUT",
        path,
        {**auth, "Content-Type": VND + "directory.sync.profile.users+json"},
        json.dumps({"identityUserInfo": {USERS_DN: {"selected": True}}, "frequency": "daily"}),
    )
    assert json_of(users_only)["syncSchedule"] == {"frequency": "weekly"}
    directory.refresh_from_db()
    assert (directory.user_dns, directory.sync_frequency) == ([USERS_DN], SyncFrequency.WEEKLY)
