"""Each vIDM client's directory / connector / sync workflow, request by request, with the
method, path, headers and body its PowerShell builds; the outcome read from the database
and the Sync Log.

Sources (functions named on each step):
- vmware/power-validated-solutions-for-cloud-foundation, PowerValidatedSolutions.psm1:
  Add-WorkspaceOneDirectory -> Request-WSAToken, Get-WSADirectory, Add-WSALdapDirectory,
  Get-WSAConnector, Set-WSABindPassword, Set-WSADirectoryUser, Set-WSADirectoryGroup,
  Set-WSASyncSetting, Start-WSADirectorySync.
- AmshegaR/WS1AccessAdminAPI: Get-WS1AccessToken, Get-WS1LoginSessionToken (with its
  ConvertFrom-JWT), Test-WS1AccessToken, Get-WS1DirectoryConfigs, Start-WS1DirectorySync.
- sdewyser/PSWorkspaceOneAccess: Open-WS1AccessConnection, Get-WS1Directory,
  Get-WS1DirectoryById, Sync-WS1Directory.
"""

from __future__ import annotations

import base64
import json

import pytest
from django_celery_beat.models import PeriodicTask

from apitokens.models import ApiToken
from console.models import Role
from directories.models import Directory
from synclog.models import SyncRun
from tests.conftest import PASSWORD
from tests.support.sync_log_rows import run_rows
from tests.vidm.conftest import JSON, VND, convert_from_jwt, send
from vidm.services import add_client

pytestmark = pytest.mark.django_db

SAAS = "/SAAS/jersey/manager/api/connectormanagement"
BASE_DN_USER = "OU=Security Users,DC=sfo,DC=rainpole,DC=io"
BASE_DN_GROUP = "OU=Security Groups,DC=sfo,DC=rainpole,DC=io"
BIND_DN = "CN=svc-wsa-ad,OU=Security Users,DC=sfo,DC=rainpole,DC=io"
BIND_PASS = "VMw@re1!"


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_power_validated_solutions_adds_a_directory_and_starts_its_sync(
    client, super_admin, wsa_connector, connectors, published, django_capture_on_commit_callbacks
):
    # Request-WSAToken
    login = send(
        client,
        "POST",
        "/SAAS/API/1.0/REST/auth/system/login",
        {"Content-Type": JSON, "Accept": "application/json; charset=utf-8"},
        '{"username": "' + super_admin.username + '", "password": "' + PASSWORD + '", '
        '"issueToken": "true"}',
    )
    assert login.status_code == 200, login.content
    session_token = "HZN " + login.json()["sessionToken"]

    # Get-WSADirectory: Where-Object name -eq $domain finds nothing yet.
    listed = send(
        client,
        "GET",
        f"{SAAS}/directoryconfigs",
        {"Content-Type": VND + "directory.ad.over.ldap+json", "Authorization": session_token},
    )
    assert listed.status_code == 200
    assert [d for d in listed.json()["items"] if d["name"] == "sfo.rainpole.io"] == []

    # Add-WSALdapDirectory (no certificate: ldap)
    created = send(
        client,
        "POST",
        f"{SAAS}/directoryconfigs",
        {
            "Content-Type": VND + "directory.ad.over.ldap+json",
            "Accept": VND + "directory.ad.over.ldap+json",
            "Authorization": session_token,
        },
        """{
                "useSRV":true,
                "directoryType":"ACTIVE_DIRECTORY_LDAP",
                "directorySearchAttribute":"sAMAccountName",
                "directoryConfigId":null,
                "useGlobalCatalog":false,
                "syncConfigurationEnabled":false,
                "useStartTls":false,
                "userAttributeMappings":[],
                "name":"sfo.rainpole.io",
                "baseDN":"BASE_DN",
                "bindDN":"BIND_DN"
            }""".replace("BASE_DN", BASE_DN_USER).replace("BIND_DN", BIND_DN),
    )
    assert created.status_code == 201, created.content
    directory_id = created.json()["directoryConfigId"]
    # No connector yet: nothing is there to sync, so no directory exists yet.
    assert not Directory.objects.exists()

    # Get-WSAConnector | Where-Object host -eq $wsaFqdn
    instances = send(
        client,
        "GET",
        f"{SAAS}/connectorinstances",
        {"Content-Type": VND + "connector+json", "Authorization": session_token},
    )
    assert instances.status_code == 200
    (connector,) = [c for c in instances.json()["items"] if c["host"] == wsa_connector.host]

    # Set-WSABindPassword
    bound = send(
        client,
        "POST",
        f"{SAAS}/connectorinstances/{connector['instanceId']}/associatedirectory",
        {
            "Content-Type": VND + "directory.details+json",
            "Accept": VND + "connector+json",
            "Authorization": session_token,
        },
        '{"directoryId":"' + directory_id + '","directoryBindPassword":"' + BIND_PASS + '",'
        '"usedForAuthentication":true}',
    )
    assert bound.status_code == 200, bound.content

    # Set-WSADirectoryUser
    users = send(
        client,
        "PUT",
        f"{SAAS}/directoryconfigs/{directory_id}/syncprofile",
        {
            "Content-Type": VND + "directory.sync.profile.users+json",
            "Accept": VND + "directory.sync.profile.users+json",
            "Authorization": session_token,
        },
        '{ "identityUserInfo": { "'
        + BIND_DN
        + '": { "selected": true }, "'
        + BASE_DN_USER
        + '": { "selected": true }}}',
    )
    assert users.status_code == 200, users.content

    # Set-WSADirectoryGroup: ConvertTo-Json -Depth 10 of the objects the function builds.
    groups_json = json.dumps(
        {
            "identityGroupInfo": {
                BASE_DN_GROUP: {
                    "mappedGroupData": [
                        {
                            "mappedGroup": {
                                "horizonName": name,
                                "dn": f"CN={name},{BASE_DN_GROUP}",
                                "objectGuid": guid,
                                "groupBaseDN": BASE_DN_GROUP,
                                "source": "DIRECTORY",
                            },
                            "selected": True,
                        }
                        for name, guid in (
                            ("gg-wsa-admins", "c5bb7d42-7eb6-4160-84d1-a723fbaedf06"),
                            ("gg-wsa-read-only", "f96545f6-472f-47a5-89e4-9273f97e4617"),
                        )
                    ],
                    "selected": False,
                }
            },
            "excludeNestedGroupMembers": False,
        },
        indent=4,
    )
    groups = send(
        client,
        "PUT",
        f"{SAAS}/directoryconfigs/{directory_id}/syncprofile",
        {
            "Content-Type": VND + "directory.sync.profile.groups+json",
            "Accept": VND + "directory.sync.profile.groups+json",
            "Authorization": session_token,
        },
        groups_json,
    )
    assert groups.status_code == 200, groups.content

    # Set-WSASyncSetting
    schedule = send(
        client,
        "PUT",
        f"{SAAS}/directoryconfigs/{directory_id}/syncprofile",
        {
            "Content-Type": VND + "directory.sync.profile.syncschedule+json",
            "Accept": VND + "directory.sync.profile.syncschedule+json",
            "Authorization": session_token,
        },
        '{"frequency":"fifteenMinutes"}',
    )
    assert schedule.status_code == 200, schedule.content

    # Start-WSADirectorySync
    with django_capture_on_commit_callbacks(execute=True):
        sync = send(
            client,
            "POST",
            f"{SAAS}/directoryconfigs/{directory_id}/syncprofile/sync",
            {
                "Content-Type": VND + "directory.sync.profile.sync+json",
                "Accept": "application/vnd.vmware.horizon.v1.0+json",
                "Authorization": session_token,
            },
            '{"ignoreSafeguards":true}',
        )
    assert sync.status_code == 202, sync.content

    directory = Directory.objects.get()
    assert (directory.name, directory.type, directory.host, directory.port) == (
        "sfo.rainpole.io",
        "ad",
        "sfo.rainpole.io",
        389,
    )
    assert (directory.base_dn, directory.bind_dn, directory.bind_password) == (
        BASE_DN_USER,
        BIND_DN,
        BIND_PASS,
    )
    assert directory.sync_connector == wsa_connector
    assert directory.identity_provider.connectors.filter(pk=wsa_connector.pk).exists()
    assert directory.mapped_attributes["username"] == "sAMAccountName"
    assert directory.user_dns == [BIND_DN, BASE_DN_USER]
    assert directory.group_dns == [
        f"CN=gg-wsa-admins,{BASE_DN_GROUP}",
        f"CN=gg-wsa-read-only,{BASE_DN_GROUP}",
    ]
    assert directory.sync_frequency == "15m"
    assert PeriodicTask.objects.filter(name=f"sync-directory-{directory.pk}").exists()

    run = SyncRun.objects.get()
    assert (run.directory, run.status, run.trigger, run.requested_by) == (
        directory,
        "queued",
        "api",
        super_admin,
    )
    assert run.get_trigger_display() == "API" and run.ignore_safeguards is True
    assert published == [run.pk]
    # The Sync Log lists it as an API sync.
    client.force_login(super_admin)
    log = client.get("/sync-log/")
    assert log.status_code == 200
    row = log.content.decode().split(f'id="run-{run.pk}"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="left">API</td>' in row


def assert_sync_log_lists(client, user, run: SyncRun) -> None:
    """The console's Sync Log, as an admin reads it: the run's row says API and Queued."""
    client.force_login(user)
    rows = run_rows(client.get("/sync-log/").content.decode())
    assert list(rows) == [run.pk]
    assert rows[run.pk]["Trigger"] == "API"
    assert rows[run.pk]["Status"].endswith("Queued")  # after a spinner
    assert rows[run.pk]["Directory"] == run.directory.name


@pytest.fixture
def ad_directory(db, connectors):
    from directories.services import create_directory

    return create_directory(
        name="corp.example.com",
        type="ad",
        sync_connector=connectors[0],
        host="dc1.corp.example.com",
        base_dn="dc=corp,dc=example,dc=com",
        bind_dn="cn=reader,dc=corp,dc=example,dc=com",
        bind_password="bind-secret",
    )


def test_ws1_access_admin_api_syncs_a_directory_with_an_oauth_client(
    client, ad_directory, published, django_capture_on_commit_callbacks
):
    oauth, secret = add_client("API-Admin", Role.DIRECTORY_ADMIN)

    # Get-WS1AccessToken: the hashtable body is form-encoded by Invoke-RestMethod.
    token = send(
        client,
        "POST",
        "/SAAS/auth/oauthtoken",
        {
            "authorization": basic("API-Admin", secret),
            "Content-Type": "application/x-www-form-urlencoded",
        },
        "grant_type=client_credentials",
    )
    assert token.status_code == 200, token.content
    answer = token.json()
    assert answer["token_type"] == "Bearer" and answer["expires_in"] > 0
    access_token = answer["access_token"]
    # The access token decodes as vIDM's does: its exp is when it stops working here.
    claims = convert_from_jwt(access_token)
    stored = ApiToken.objects.get(key_id=claims["jti"])
    assert stored.expires_at is not None
    assert claims["exp"] == int(stored.expires_at.timestamp())
    assert claims["exp"] - claims["iat"] == answer["expires_in"]
    assert claims["prn"] == "API-Admin@testserver" and claims["cid"] == "API-Admin"

    # Get-WS1DirectoryConfigs: a Content-Type on a GET, no Accept.
    configs = send(
        client,
        "GET",
        f"{SAAS}/directoryconfigs",
        {
            "Authorization": f"Bearer {access_token}",
            "Content-Type": VND + "directory.sync.profile.sync+json",
        },
    )
    assert configs.status_code == 200, configs.content
    (item,) = configs.json()["items"]
    assert item["type"] == "ACTIVE_DIRECTORY_LDAP" and item["name"] == ad_directory.name

    # Start-WS1DirectorySync -IgnoreSafeguards $true: the string "true".
    with django_capture_on_commit_callbacks(execute=True):
        started = send(
            client,
            "POST",
            f"{SAAS}/directoryconfigs/{item['directoryId']}/syncprofile/sync",
            {
                "Authorization": f"Bearer {access_token}",
                "Content-Type": VND + "directory.sync.profile.sync+json",
            },
            '{ "ignoreSafeguards":"true" }',
        )
    assert started.status_code == 202, started.content
    run = SyncRun.objects.get()
    assert (run.directory, run.status, run.trigger) == (ad_directory, "queued", "api")
    assert run.ignore_safeguards is True and run.requested_by == oauth.user
    assert published == [run.pk]

    # Start-WS1DirectorySync -IgnoreSafeguards $false sends no body: it joins the waiting run.
    again = send(
        client,
        "POST",
        f"{SAAS}/directoryconfigs/{item['directoryId']}/syncprofile/sync",
        {
            "Authorization": f"Bearer {access_token}",
            "Content-Type": VND + "directory.sync.profile.sync+json",
        },
    )
    assert again.status_code == 409, again.content
    assert again.json()["errors"][0]["message"]
    assert SyncRun.objects.count() == 1
    # The Sync Log lists the one run as an API sync, waiting.
    assert_sync_log_lists(client, oauth.user, run)


def test_ws1_access_admin_api_session_login_decodes_its_token_and_tests_it(
    client, super_admin, ad_directory
):
    # Get-WS1LoginSessionToken: "Bearer $($Token)" with $Token unset yet.
    login = send(
        client,
        "POST",
        "/SAAS/API/1.0/REST/auth/system/login",
        {"Authorization": "Bearer ", "Content-Type": JSON, "Accept": JSON},
        json.dumps(
            {"username": super_admin.username, "password": PASSWORD, "issueToken": "true"},
            indent=4,
        ),
    )
    assert login.status_code == 200, login.content
    session_token = login.json()["sessionToken"]
    # $Token = @{ ...; "expires_in" = "$((ConvertFrom-JWT -Token $sessionToken).exp)"; ... }
    expires_in = f"{convert_from_jwt(session_token)['exp']}"
    stored = ApiToken.objects.get(user=super_admin)
    assert stored.expires_at is not None
    assert expires_in == str(int(stored.expires_at.timestamp()))
    assert convert_from_jwt(session_token, include_header=True) == {"alg": "HS256", "typ": "JWT"}
    token = {
        "scope": "admin",
        "access_token": session_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "refresh_token": "None",
        "Tenant": "testserver",
    }

    # Test-WS1AccessToken: a GET's hashtable body goes into the query string.
    valid = send(
        client,
        "GET",
        "/SAAS/API/1.0/REST/auth/token?attribute=isValid",
        {"Authorization": f"Bearer {token['access_token']}"},
    )
    assert valid.status_code == 200, valid.content
    assert valid.content == b"true"
    assert convert_from_jwt(token["access_token"])["prn"] == f"{super_admin.username}@testserver"

    session = token["access_token"]
    listed = send(
        client,
        "GET",
        f"{SAAS}/directoryconfigs",
        {
            "Authorization": f"Bearer {session}",
            "Content-Type": VND + "directory.sync.profile.sync+json",
        },
    )
    assert listed.status_code == 200
    assert [i["name"] for i in listed.json()["items"]] == [ad_directory.name]


def test_ps_workspace_one_access_finds_the_directory_and_syncs_it_with_v2(
    client, ad_directory, published, django_capture_on_commit_callbacks
):
    oauth, secret = add_client("ps-ws1", Role.SUPER_ADMIN)

    # Open-WS1AccessConnection: grant_type in the query, no body.
    token = send(
        client,
        "POST",
        "/SAAS/auth/oauthtoken?grant_type=client_credentials",
        {
            "Authorization": basic("ps-ws1", secret),
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert token.status_code == 200, token.content
    access_token = token.json()["access_token"]

    # Get-WS1Directory: trailing slash, no Content-Type, no Accept.
    listed = send(
        client, "GET", f"{SAAS}/directoryconfigs/", {"Authorization": f"Bearer {access_token}"}
    )
    assert listed.status_code == 200, listed.content
    directory_id = listed.json()["items"][0]["directoryId"]
    # Get-WS1DirectoryById: the same list, filtered on directoryId.
    again = send(
        client, "GET", f"{SAAS}/directoryconfigs/", {"Authorization": f"Bearer {access_token}"}
    )
    (found,) = [d for d in again.json()["items"] if d["directoryId"] == directory_id]
    assert found["name"] == ad_directory.name

    # Sync-WS1Directory: @{ignoreSafeguards = $false} | ConvertTo-Json
    with django_capture_on_commit_callbacks(execute=True):
        synced = send(
            client,
            "POST",
            f"{SAAS}/directoryconfigurations/{directory_id}/sync/v2",
            {
                "Authorization": f"Bearer {access_token}",
                "Content-Type": VND + "directory.sync.trigger.v2+json",
            },
            '{\r\n    "ignoreSafeguards":  false\r\n}',
        )
    assert synced.status_code == 202, synced.content
    run = SyncRun.objects.get()
    assert (run.directory, run.status, run.trigger, run.ignore_safeguards) == (
        ad_directory,
        "queued",
        "api",
        False,
    )
    assert run.requested_by == oauth.user and published == [run.pk]
    assert_sync_log_lists(client, oauth.user, run)


def test_power_validated_solutions_adds_a_second_connector_to_the_directory(
    client, super_admin, connectors
):
    """Add-WSAConnector (called by Add-WorkspaceOneDirectoryConnector for a clustered
    appliance): find the identity provider, the directory and the node's connector, then
    associate the connector with ?idp= and a directory.bindDetails+json body."""
    from directories.services import create_directory
    from tests.conftest import make_connector

    directory = create_directory(
        name="sfo.rainpole.io",
        type="ad",
        sync_connector=connectors[0],
        host="sfo.rainpole.io",
        base_dn=BASE_DN_USER,
        bind_dn=BIND_DN,
        bind_password="old-pass",
    )
    node = make_connector("xint-wsa01b")
    login = send(
        client,
        "POST",
        "/SAAS/API/1.0/REST/auth/system/login",
        {"Content-Type": JSON, "Accept": "application/json; charset=utf-8"},
        '{"username": "' + super_admin.username + '", "password": "' + PASSWORD + '", '
        '"issueToken": "true"}',
    )
    session_token = "HZN " + login.json()["sessionToken"]

    # Get-WSAIdentityProvider | Where-Object directoryConfigurations.name -eq $domain
    idps = send(
        client,
        "GET",
        "/SAAS/jersey/manager/api/identityProviders?onlyEnabledAdapters=true",
        {
            "Accept": "application/vnd.vmware.horizon.manager.identityprovider.summary.list+json",
            "Authorization": session_token,
        },
    )
    assert idps.status_code == 200, idps.content
    (idp_id,) = [
        i["id"]
        for i in idps.json()["items"]
        if "sfo.rainpole.io" in [d["name"] for d in i["directoryConfigurations"]]
    ]
    # Get-WSADirectory | Where-Object name -eq $domain
    dirs = send(
        client,
        "GET",
        f"{SAAS}/directoryconfigs",
        {"Content-Type": VND + "directory.ad.over.ldap+json", "Authorization": session_token},
    )
    (directory_id,) = [
        d["directoryId"] for d in dirs.json()["items"] if d["name"] == "sfo.rainpole.io"
    ]
    # Get-WSAConnector | Where-Object host -eq $wsaNode
    instances = send(
        client,
        "GET",
        f"{SAAS}/connectorinstances",
        {"Content-Type": VND + "connector+json", "Authorization": session_token},
    )
    (connector_id,) = [c["instanceId"] for c in instances.json()["items"] if c["host"] == node.host]

    # Add-WSAConnector
    associated = send(
        client,
        "POST",
        f"{SAAS}/connectorinstances/{connector_id}/associatedirectory?idp={idp_id}",
        {
            "Accept": VND + "connector+json",
            "Content-Type": VND + "directory.bindDetails+json",
            "Authorization": session_token,
        },
        '{"directoryId": "' + directory_id + '", "directoryBindPassword":"' + BIND_PASS + '", '
        '"usedForAuthentication":true, "bindToAD":true}',
    )
    assert associated.status_code == 200, associated.content

    # Get-WSADirectory -connector: an empty Accept header.
    listed = send(
        client,
        "GET",
        f"{SAAS}/directoryconfigs/{directory_id}/connectors",
        {"Accept": "", "Authorization": session_token},
    )
    assert listed.status_code == 200, listed.content
    assert [c["host"] for c in listed.json()["items"]] == [connectors[0].host, node.host]

    directory.refresh_from_db()
    assert [e.connector for e in directory.sync_entries.order_by("position")] == [
        connectors[0],
        node,
    ]
    assert set(directory.identity_provider.connectors.all()) == {connectors[0], node}
    assert directory.bind_password == BIND_PASS
    assert Directory.objects.count() == 1
