"""The same roles, rules and tokens as /api/: refusals are vIDM-shaped JSON 4xx answers and
change nothing."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apitokens.models import ApiToken
from apitokens.services import issue_token, jwt_signing_key, revoke
from console.models import Role
from directories.models import Directory, IdentityProvider
from synclog.models import SyncRun
from tests.conftest import PASSWORD
from tests.vidm.conftest import JSON, VND, convert_from_jwt, send
from vidm.models import DirectoryConfig
from vidm.services import add_client, delete_client, directory_id

pytestmark = pytest.mark.django_db

SAAS = "/SAAS/jersey/manager/api/connectormanagement"
AD_BODY = (
    '{"useSRV":true,"directoryType":"ACTIVE_DIRECTORY_LDAP",'
    '"directorySearchAttribute":"sAMAccountName","directoryConfigId":null,'
    '"useGlobalCatalog":false,"syncConfigurationEnabled":false,"useStartTls":false,'
    '"userAttributeMappings":[],"name":"lax.rainpole.io",'
    '"baseDN":"ou=VVD,dc=lax,dc=rainpole,dc=io","bindDN":"cn=svc-wsa-ad,ou=VVD,dc=lax,dc=rainpole,dc=io"}'
)


def hzn(user) -> dict:
    _, key = issue_token(user, name="tests")
    return {"Authorization": f"HZN {key}"}


def errors_of(response) -> list[str]:
    body = response.json()
    assert set(body) == {"errors"}, body
    return [e["message"] for e in body["errors"]]


def test_read_only_admin_reads_but_every_write_is_403_and_changes_nothing(
    client, readonly_admin, directory, connectors, published
):
    auth = hzn(readonly_admin)
    ident = directory_id(directory)
    assert send(client, "GET", f"{SAAS}/directoryconfigs", auth).status_code == 200
    assert (
        send(client, "GET", f"{SAAS}/directoryconfigs/{ident}/syncexecutions", auth).status_code
        == 200
    )
    writes = [
        ("POST", f"{SAAS}/directoryconfigs", VND + "directory.ad.over.ldap+json", AD_BODY),
        (
            "POST",
            f"{SAAS}/directoryconfigs/{ident}/syncprofile/sync",
            VND + "directory.sync.profile.sync+json",
            '{"ignoreSafeguards":true}',
        ),
        (
            "POST",
            f"{SAAS}/directoryconfigurations/{ident}/sync/v2",
            VND + "directory.sync.trigger.v2+json",
            '{"ignoreSafeguards":false}',
        ),
        ("POST", f"{SAAS}/directoryconfigs/{ident}/syncprofile/dryrun", JSON, "{}"),
        (
            "PUT",
            f"{SAAS}/directoryconfigs/{ident}/syncprofile",
            VND + "directory.sync.profile.syncschedule+json",
            '{"frequency":"fifteenMinutes"}',
        ),
        (
            "POST",
            f"{SAAS}/connectorinstances/{connectors[1].pk}/associatedirectory",
            VND + "directory.details+json",
            f'{{"directoryId":"{ident}"}}',
        ),
        ("DELETE", f"{SAAS}/directoryconfigs/{ident}", None, None),
        (
            "PUT",
            f"/SAAS/jersey/manager/api/identityProviders/{directory.identity_provider_id}",
            JSON,
            '{"connectors":[]}',
        ),
    ]
    for method, path, media, body in writes:
        headers = {**auth, **({"Content-Type": media} if media else {})}
        answer = send(client, method, path, headers, body)
        assert answer.status_code == 403, (method, path, answer.content)
        assert errors_of(answer)
    directory.refresh_from_db()
    assert directory.sync_frequency == "manual"
    assert not SyncRun.objects.exists() and not DirectoryConfig.objects.exists()
    assert list(directory.identity_provider.connectors.all()) == [connectors[0]]
    assert published == []


def test_directory_admin_may_sync_and_review(
    client, directory_admin, directory, published, django_capture_on_commit_callbacks
):
    auth = hzn(directory_admin)
    with django_capture_on_commit_callbacks(execute=True):
        review = send(
            client,
            "POST",
            f"{SAAS}/directoryconfigs/{directory_id(directory)}/syncprofile/dryrun",
            {**auth, "Content-Type": JSON},
        )
    assert review.status_code == 202, review.content
    run = SyncRun.objects.get()
    assert (run.trigger, run.status, run.requested_by) == ("review", "queued", directory_admin)
    history = send(
        client, "GET", f"{SAAS}/directoryconfigs/{directory_id(directory)}/syncexecutions", auth
    )
    assert [(r["id"], r["trigger"]) for r in history.json()["items"]] == [(run.pk, "review")]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("not json", "JSON"),
        ("[1, 2]", "object"),
        (AD_BODY.replace('"baseDN":"ou=VVD,dc=lax,dc=rainpole,dc=io",', ""), "baseDN"),
        (AD_BODY.replace("ACTIVE_DIRECTORY_LDAP", "ACTIVE_DIRECTORY_IWA"), "ACTIVE_DIRECTORY_IWA"),
        (AD_BODY.replace('"useSRV":true', '"useSRV":"perhaps"'), "useSRV"),
        (AD_BODY.replace('"useSRV":true', '"useSRV":false'), "domainControllerHost"),
        (AD_BODY.replace("ou=VVD,dc=lax", "ou=VVD,,dc=lax"), "base_dn"),
        (AD_BODY.replace('"useStartTls":false', '"useStartTls":true,"useSSL":true'), "choose one"),
        ('{"name": 5}', "name"),
    ],
)
def test_a_bad_directory_config_is_a_400_and_stores_nothing(client, super_admin, body, fragment):
    answer = send(
        client,
        "POST",
        f"{SAAS}/directoryconfigs",
        {**hzn(super_admin), "Content-Type": VND + "directory.ad.over.ldap+json"},
        body,
    )
    assert answer.status_code == 400, answer.content
    assert any(fragment in m for m in errors_of(answer)), answer.json()
    assert not DirectoryConfig.objects.exists() and not Directory.objects.exists()


def test_a_directory_name_already_taken_is_refused(client, super_admin, directory):
    body = AD_BODY.replace("lax.rainpole.io", directory.name)
    answer = send(
        client, "POST", f"{SAAS}/directoryconfigs", {**hzn(super_admin), "Content-Type": JSON}, body
    )
    assert answer.status_code == 400 and any("name" in m for m in errors_of(answer))
    assert Directory.objects.count() == 1 and not DirectoryConfig.objects.exists()


def test_bad_sync_profile_and_sync_bodies_are_400s(client, super_admin, directory, published):
    auth = hzn(super_admin)
    base = f"{SAAS}/directoryconfigs/{directory_id(directory)}"
    cases = [
        (
            "PUT",
            "/syncprofile",
            VND + "directory.sync.profile.syncschedule+json",
            '{"frequency":"sometimes"}',
            "frequency",
        ),
        (
            "PUT",
            "/syncprofile",
            VND + "directory.sync.profile.users+json",
            '{"identityUserInfo": ["a"]}',
            "identityUserInfo",
        ),
        (
            "PUT",
            "/syncprofile",
            VND + "directory.sync.profile.users+json",
            '{"identityUserInfo": {"not a dn": {"selected": true}}}',
            "user_dns",
        ),
        (
            "PUT",
            "/syncprofile",
            VND + "directory.sync.profile.groups+json",
            '{"identityGroupInfo": {"ou=g,dc=x": {"mappedGroupData": [{"selected": true}]}}}',
            "mappedGroup.dn",
        ),
        ("PUT", "/syncprofile", JSON, '{"something": 1}', "identityUserInfo"),
        (
            "POST",
            "/syncprofile/sync",
            VND + "directory.sync.profile.sync+json",
            '{"ignoreSafeguards":"maybe"}',
            "ignore_safeguards",
        ),
        ("POST", "/syncprofile/dryrun", JSON, '{"ignoreSafeguards":true}', "review"),
        ("POST", "/syncprofile/sync", "text/plain", "hello", "media type"),
        ("POST", "/syncprofile/sync", JSON, '{"ignoreSafeguards": tru', "JSON"),
    ]
    for method, suffix, media, body, fragment in cases:
        answer = send(client, method, base + suffix, {**auth, "Content-Type": media}, body)
        assert 400 <= answer.status_code < 500 and answer.status_code != 404, (body, answer.content)
        assert any(fragment in m for m in errors_of(answer)), (body, answer.json())
    directory.refresh_from_db()
    assert (directory.user_dns, directory.sync_frequency) == (
        ["ou=people,dc=example,dc=com"],
        "manual",
    )
    assert not SyncRun.objects.exists() and published == []


def test_unknown_ids_are_404s(client, super_admin, directory):
    auth = hzn(super_admin)
    for path in (
        f"{SAAS}/directoryconfigs/no-such-id",
        f"{SAAS}/directoryconfigs/6f1d0c1e-3f55-4bd7-9a4c-5d1e8a7b2c90/syncexecutions",
        "/SAAS/jersey/manager/api/identityProviders/999999",
    ):
        answer = send(client, "GET", path, auth)
        assert answer.status_code == 404 and errors_of(answer), path
    missing = send(
        client,
        "POST",
        f"{SAAS}/connectorinstances/999/associatedirectory",
        {**auth, "Content-Type": JSON},
        '{"directoryId":"x"}',
    )
    assert missing.status_code == 404


def test_a_pending_directory_cannot_be_synced_before_a_connector_is_associated(client, super_admin):
    auth = {**hzn(super_admin), "Content-Type": VND + "directory.ad.over.ldap+json"}
    created = send(client, "POST", f"{SAAS}/directoryconfigs", auth, AD_BODY).json()
    sync = send(
        client,
        "POST",
        f"{SAAS}/directoryconfigs/{created['directoryId']}/syncprofile/sync",
        auth,
        '{"ignoreSafeguards":true}',
    )
    assert sync.status_code == 400 and any("associate" in m for m in errors_of(sync))
    assert not SyncRun.objects.exists()
    # Deleting it before association leaves nothing behind.
    assert (
        send(
            client, "DELETE", f"{SAAS}/directoryconfigs/{created['directoryId']}", hzn(super_admin)
        ).status_code
        == 204
    )
    assert not DirectoryConfig.objects.exists()


def test_hzn_and_bearer_work_and_expired_revoked_or_missing_tokens_are_401(client, super_admin):
    path = f"{SAAS}/directoryconfigs"
    token, key = issue_token(super_admin, name="t")
    assert send(client, "GET", path, {"Authorization": f"HZN {key}"}).status_code == 200
    assert send(client, "GET", path, {"Authorization": f"Bearer {key}"}).status_code == 200
    assert send(client, "GET", path).status_code == 401
    assert send(client, "GET", path, {"Authorization": "HZN dsc_nothing.here"}).status_code == 401
    revoke(token)
    revoked = send(client, "GET", path, {"Authorization": f"HZN {key}"})
    assert revoked.status_code == 401 and errors_of(revoked)
    expired, expired_key = issue_token(super_admin, name="old", ttl=timedelta(hours=1))
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert send(client, "GET", path, {"Authorization": f"Bearer {expired_key}"}).status_code == 401


def test_login_refuses_a_wrong_password_and_locks_like_the_api(client, super_admin, settings):
    path = "/SAAS/API/1.0/REST/auth/system/login"

    def attempt(password):
        return client.generic(
            "POST",
            path,
            json.dumps(
                {"username": super_admin.username, "password": password, "issueToken": True}
            ),
            JSON,
            REMOTE_ADDR="198.51.100.9",
        )

    answers = [attempt(f"wrong-{n}").status_code for n in range(settings.AXES_FAILURE_LIMIT)]
    assert answers == [401] * settings.AXES_FAILURE_LIMIT
    locked = attempt(PASSWORD)
    assert locked.status_code == 429 and "Too many wrong passwords" in errors_of(locked)[0]
    assert "sessionToken" not in locked.json()
    assert not ApiToken.objects.filter(user=super_admin).exists()
    missing = client.generic("POST", path, '{"issueToken": "true"}', JSON)
    assert missing.status_code == 400 and errors_of(missing)


def test_login_token_is_a_session_token_that_expires(client, super_admin, settings):
    answer = client.generic(
        "POST",
        "/SAAS/API/1.0/REST/auth/system/login",
        f'{{"username": "{super_admin.username}", "password": "{PASSWORD}", "issueToken": "true"}}',
        JSON,
    )
    token = ApiToken.objects.get(user=super_admin)
    assert token.kind == "session"
    assert token.expires_at is not None
    assert abs((token.expires_at - timezone.now()) - settings.API_LOGIN_TOKEN_TTL) < timedelta(
        minutes=1
    )
    # A JWT as vIDM's, HS256: the signature verifies and exp is the stored expiry.
    key = answer.json()["sessionToken"]
    claims = jwt.decode(
        key,
        jwt_signing_key(),
        algorithms=["HS256"],
        audience="http://testserver/SAAS/auth/oauthtoken",
        issuer="http://testserver/SAAS/auth",
    )
    assert abs(claims["exp"] - token.expires_at.timestamp()) < 1
    assert claims["jti"] == token.key_id
    assert claims["prn"] == claims["sub"] == f"{super_admin.username}@testserver"
    assert claims["iss"] == "http://testserver/SAAS/auth"
    assert claims["prn_type"] == "USER" and claims["user_id"] == str(super_admin.pk)
    assert convert_from_jwt(key) == claims


def login_jwt(client, user) -> str:
    answer = client.generic(
        "POST",
        "/SAAS/API/1.0/REST/auth/system/login",
        json.dumps({"username": user.username, "password": PASSWORD, "issueToken": True}),
        JSON,
    )
    assert answer.status_code == 200, answer.content
    return answer.json()["sessionToken"]


def with_payload(key: str, **changes) -> str:
    header, payload, signature = key.split(".")
    claims = convert_from_jwt(key) | changes
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


def test_the_login_jwt_works_on_saas_and_api_until_tampered_revoked_or_expired(
    client, super_admin, directory
):
    saas = f"{SAAS}/directoryconfigs"
    key = login_jwt(client, super_admin)
    for scheme in ("HZN", "Bearer"):
        assert send(client, "GET", saas, {"Authorization": f"{scheme} {key}"}).status_code == 200
        api = send(client, "GET", "/api/directories/", {"Authorization": f"{scheme} {key}"})
        assert api.status_code == 200
        assert [d["name"] for d in api.json()["results"]] == [directory.name]

    claims = convert_from_jwt(key)
    other_key = login_jwt(client, super_admin)
    other = convert_from_jwt(other_key)
    for forged in (
        with_payload(key, exp=claims["exp"] + 86400),
        with_payload(key, jti=other["jti"]),
    ):
        refused = send(client, "GET", saas, {"Authorization": f"HZN {forged}"})
        assert refused.status_code == 401 and errors_of(refused)
        assert (
            send(client, "GET", "/api/directories/", {"Authorization": f"Bearer {forged}"})
        ).status_code == 401
    assert send(client, "GET", saas, {"Authorization": f"HZN {key}"}).status_code == 200

    revoke(ApiToken.objects.get(key_id=claims["jti"]))
    assert send(client, "GET", saas, {"Authorization": f"HZN {key}"}).status_code == 401
    assert (
        send(client, "GET", "/api/directories/", {"Authorization": f"Bearer {key}"}).status_code
        == 401
    )

    assert send(client, "GET", saas, {"Authorization": f"HZN {other_key}"}).status_code == 200
    ApiToken.objects.filter(key_id=other["jti"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    for scheme, path in (("HZN", saas), ("Bearer", "/api/directories/")):
        expired = send(client, "GET", path, {"Authorization": f"{scheme} {other_key}"})
        assert expired.status_code == 401


def test_token_attribute_is_valid_answers_true_for_a_usable_token_only(client, super_admin):
    path = "/SAAS/API/1.0/REST/auth/token"
    key = login_jwt(client, super_admin)
    bearer = {"Authorization": f"Bearer {key}"}
    for suffix in ("?attribute=isValid", "/?attribute=isValid"):
        valid = send(client, "GET", path + suffix, bearer)
        assert valid.status_code == 200 and valid.json() is True
    # Any token works, the opaque ones too, under HZN as well.
    _, opaque = issue_token(super_admin, name="opaque")
    answer = send(client, "GET", path + "?attribute=isValid", {"Authorization": f"HZN {opaque}"})
    assert answer.status_code == 200 and answer.content == b"true"
    for query in ("", "?attribute=publicKey", "?attribute=isRevoked"):
        refused = send(client, "GET", path + query, bearer)
        assert refused.status_code == 400 and errors_of(refused)
    assert send(client, "GET", path + "?attribute=isValid").status_code == 401
    revoke(ApiToken.objects.get(key_id=convert_from_jwt(key)["jti"]))
    revoked = send(client, "GET", path + "?attribute=isValid", bearer)
    assert revoked.status_code == 401 and errors_of(revoked)


def test_oauth_client_credentials_are_checked_and_a_deleted_client_loses_its_tokens(
    client, settings
):
    oauth, secret = add_client("automation", Role.READ_ONLY_ADMIN)

    def token(client_id, password, query="?grant_type=client_credentials"):
        basic = base64.b64encode(f"{client_id}:{password}".encode()).decode()
        return send(
            client, "POST", "/SAAS/auth/oauthtoken" + query, {"Authorization": f"Basic {basic}"}
        )

    assert token("automation", "wrong").status_code == 401
    assert token("nobody", secret).status_code == 401
    unsupported = token("automation", secret, "?grant_type=password")
    assert (
        unsupported.status_code == 400 and unsupported.json()["error"] == "unsupported_grant_type"
    )
    good = token("automation", secret)
    assert good.status_code == 200
    assert good.json()["expires_in"] == int(settings.VIDM_OAUTH_TOKEN_TTL.total_seconds())
    key = good.json()["access_token"]
    assert ApiToken.objects.get(user=oauth.user).kind == "oauth"
    listed = send(client, "GET", f"{SAAS}/connectorinstances", {"Authorization": f"Bearer {key}"})
    assert listed.status_code == 200
    # Its role is Read-only Admin: it reads, it does not write.
    refused = send(
        client,
        "POST",
        f"{SAAS}/directoryconfigs",
        {"Authorization": f"Bearer {key}", "Content-Type": JSON},
        AD_BODY,
    )
    assert refused.status_code == 403
    delete_client(oauth)
    assert (
        send(
            client, "GET", f"{SAAS}/connectorinstances", {"Authorization": f"Bearer {key}"}
        ).status_code
        == 401
    )
    assert token("automation", secret).status_code == 401


def test_identity_providers_list_their_directories_and_take_their_connectors_back(
    client, super_admin, directory, connectors
):
    auth = hzn(super_admin)
    listed = send(
        client, "GET", "/SAAS/jersey/manager/api/identityProviders", {**auth, "Accept": ""}
    )
    assert listed.status_code == 200
    (idp,) = listed.json()["items"]
    assert idp["directoryConfigurations"] == [
        {"directoryId": directory_id(directory), "name": directory.name, "type": "LDAP_DIRECTORY"}
    ]
    idp["connectors"].append({"instanceId": str(connectors[2].pk)})
    put = send(
        client,
        "PUT",
        f"/SAAS/jersey/manager/api/identityProviders/{idp['id']}",
        {**auth, "Content-Type": JSON},
        json.dumps(idp),
    )
    assert put.status_code == 200, put.content
    stored = IdentityProvider.objects.get(pk=int(idp["id"]))
    assert set(stored.connectors.all()) == {connectors[0], connectors[2]}
    # Rule S7: the sync connector cannot leave its directory's identity provider.
    refused = send(
        client,
        "PUT",
        f"/SAAS/jersey/manager/api/identityProviders/{idp['id']}",
        {**auth, "Content-Type": JSON},
        '{"connectors": []}',
    )
    assert refused.status_code == 400 and errors_of(refused)
    assert set(stored.connectors.all()) == {connectors[0], connectors[2]}


def test_associating_another_connector_adds_it_to_the_failover_list(
    client, super_admin, directory, connectors
):
    answer = send(
        client,
        "POST",
        f"{SAAS}/connectorinstances/{connectors[1].pk}/associatedirectory?idp={directory.identity_provider_id}",
        {**hzn(super_admin), "Content-Type": VND + "directory.bindDetails+json"},
        f'{{"directoryId":"{directory_id(directory)}","directoryBindPassword":"new-pass","usedForAuthentication":true}}',
    )
    assert answer.status_code == 200, answer.content
    directory.refresh_from_db()
    assert [e.connector for e in directory.sync_entries.order_by("position")] == [
        connectors[0],
        connectors[1],
    ]
    assert directory.identity_provider.connectors.filter(pk=connectors[1].pk).exists()
    assert directory.bind_password == "new-pass"
    connectors_answer = send(
        client,
        "GET",
        f"{SAAS}/directoryconfigs/{directory_id(directory)}/connectors",
        hzn(super_admin),
    )
    assert [c["instanceId"] for c in connectors_answer.json()["items"]] == [
        str(connectors[0].pk),
        str(connectors[1].pk),
    ]


def test_deleting_a_directory_config_deletes_the_directory(client, super_admin, directory):
    answer = send(
        client, "DELETE", f"{SAAS}/directoryconfigs/{directory_id(directory)}", hzn(super_admin)
    )
    assert answer.status_code == 204
    assert not Directory.objects.exists()


def test_health_answers_without_a_token(client):
    answer = client.get("/SAAS/jersey/manager/api/system/health", HTTP_ACCEPT="*/*")
    assert answer.status_code == 200 and answer.json()["AllOk"] is True


def test_domains_name_the_directory_domain(client, super_admin):
    auth = {**hzn(super_admin), "Content-Type": JSON}
    created = send(client, "POST", f"{SAAS}/directoryconfigs", auth, AD_BODY).json()
    domains = send(
        client,
        "GET",
        f"{SAAS}/directoryconfigs/{created['directoryId']}/domains",
        {**hzn(super_admin), "Accept": VND + "directory.domain.list+json"},
    )
    (domain,) = domains.json()["items"]
    assert domain["name"] == "lax.rainpole.io"
    assert domain["_links"]["self"]["href"].split("/domains/")[1] == "lax.rainpole.io"


def test_a_path_not_served_is_a_json_404_not_a_login_page(client):
    answer = send(client, "GET", "/SAAS/jersey/manager/api/scim/Users")
    assert answer.status_code == 404
    assert "not served here" in errors_of(answer)[0]
    wrong_method = send(client, "GET", f"{SAAS}/directoryconfigs/x/syncprofile/sync", {})
    assert wrong_method.status_code in (401, 405)


def test_scripts_need_no_csrf_token_and_no_console_login(super_admin, directory, published):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    login = strict.generic(
        "POST",
        "/SAAS/API/1.0/REST/auth/system/login",
        json.dumps({"username": super_admin.username, "password": PASSWORD, "issueToken": "true"}),
        JSON,
    )
    assert login.status_code == 200, login.content
    sync = send(
        strict,
        "POST",
        f"{SAAS}/directoryconfigs/{directory_id(directory)}/syncprofile/sync",
        {
            "Authorization": "HZN " + login.json()["sessionToken"],
            "Content-Type": VND + "directory.sync.profile.sync+json",
        },
        '{"ignoreSafeguards":true}',
    )
    assert sync.status_code == 202, sync.content


def test_listing_directories_costs_the_same_queries_for_one_or_many(
    client, super_admin, connectors
):
    from directories.services import create_directory
    from synclog.models import SyncRun

    auth = hzn(super_admin)

    def add(n):
        made = create_directory(
            name=f"d{n}.example.com",
            type="ad",
            sync_connector=connectors[0],
            host="dc.example.com",
            base_dn="dc=example,dc=com",
            bind_dn="cn=r,dc=example,dc=com",
        )
        SyncRun.objects.create(directory=made, status="completed")

    add(0)
    path = f"{SAAS}/directoryconfigs"
    send(client, "GET", path, auth)  # the token's last use is written once
    with CaptureQueriesContext(connection) as one:
        first = send(client, "GET", path, auth)
    for n in range(1, 8):
        add(n)
    with CaptureQueriesContext(connection) as many:
        listed = send(client, "GET", path, auth)
    assert len(many.captured_queries) == len(one.captured_queries)
    items = listed.json()["items"]
    assert len(items) == 8 and len(first.json()["items"]) == 1
    assert all(i["lastSyncStatus"] == "completed" and i["userCount"] == 0 for i in items)
