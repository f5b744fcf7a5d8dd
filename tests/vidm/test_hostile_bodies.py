"""No body, however odd, gets a server error from a vIDM path: every refusal is a 4xx
vIDM-shaped answer. Bodies are built from the keys each endpoint reads, with any JSON
value under them (and odd JSON or text instead of an object)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apitokens.services import issue_token
from tests.vidm.conftest import VND, send
from vidm.services import directory_id

pytestmark = pytest.mark.django_db

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
NAMES = st.sampled_from(["dn", "selected", "mappedGroup", "mappedGroupData", "instanceId", "id"])
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(NAMES | st.sampled_from(["ou=x,dc=y", "cn=a,dc=b"]), inner, max_size=3)
    ),
    max_leaves=10,
)


def bodies(*keys: str):
    objects = st.fixed_dictionaries({}, optional={key: VALUES for key in keys})
    return objects.map(json.dumps) | VALUES.map(json.dumps) | st.text(max_size=20)


DIRECTORY_KEYS = (
    "name",
    "baseDN",
    "bindDN",
    "useSRV",
    "directoryType",
    "domainControllerHost",
    "domainControllerPort",
    "useStartTls",
    "useSSL",
    "useGlobalCatalog",
    "sslCertificate",
    "directorySearchAttribute",
    "bindPassword",
)


def test_random_bodies_get_4xx_not_5xx(client, super_admin, directory, connectors, published):
    _, key = issue_token(super_admin, name="fuzz")
    ident = directory_id(directory)
    cm = "/SAAS/jersey/manager/api/connectormanagement"
    profile = f"{cm}/directoryconfigs/{ident}/syncprofile"
    targets = [
        ("POST", "/SAAS/API/1.0/REST/auth/system/login", "application/json",
         bodies("username", "password", "issueToken")),
        ("POST", f"{cm}/directoryconfigs", VND + "directory.ad.over.ldap+json",
         bodies(*DIRECTORY_KEYS)),
        ("PUT", profile, VND + "directory.sync.profile.users+json", bodies("identityUserInfo")),
        ("PUT", profile, VND + "directory.sync.profile.groups+json",
         bodies("identityGroupInfo", "excludeNestedGroupMembers")),
        ("PUT", profile, VND + "directory.sync.profile.syncschedule+json", bodies("frequency")),
        ("PUT", profile, "application/json",
         bodies("identityUserInfo", "identityGroupInfo", "frequency")),
        ("POST", f"{profile}/dryrun", "application/json", bodies("ignoreSafeguards")),
        ("POST", f"{cm}/connectorinstances/{connectors[1].pk}/associatedirectory",
         VND + "directory.details+json",
         bodies("directoryId", "directoryBindPassword", "usedForAuthentication")),
        ("PUT", f"/SAAS/jersey/manager/api/identityProviders/{directory.identity_provider_id}",
         "application/json", bodies("connectors", "connectorInstances")),
    ]  # fmt: skip
    for target in targets:
        survives_any_body(client, key, *target)


def survives_any_body(client, key: str, method: str, path: str, media: str, strategy) -> None:
    @given(body=strategy)
    @settings(
        max_examples=40,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(body):
        headers = {"Authorization": f"HZN {key}", "Content-Type": media}
        answer = send(client, method, path, headers, body)
        assert answer.status_code < 500, (method, path, body, answer.content)
        if answer.status_code >= 400:
            assert "errors" in answer.json(), answer.content

    check()
