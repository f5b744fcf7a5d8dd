"""The console, the API and the agent give the same answer to the same bad setting."""

from __future__ import annotations

import pytest
from django.urls import reverse

from connectors.agent.request import RequestError, SyncSettings
from directories.models import Directory
from tests.console.test_directories import add_form, error_of

pytestmark = pytest.mark.django_db

GARBAGE_PEM = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----"
MANY_DNS = [f"ou=unit{n},dc=x" for n in range(101)]

# (form field, API field, bad value as typed in the console, as sent to the API, message)
BAD = [
    ("base_dn", "base_dn", "not a dn", "not a dn", "is not a valid DN"),
    ("bind_dn", "bind_dn", "cn=a,,dc=b", "cn=a,,dc=b", "is not a valid DN"),
    ("user_dns", "user_dns", "ou=ok,dc=x\nnot a dn", ["ou=ok,dc=x", "not a dn"], "not a valid DN"),
    ("user_dns", "user_dns", "ou=a\x00b,dc=x", ["ou=a\x00b,dc=x"], "control characters"),
    ("user_filter", "user_filter", "(uid=*", "(uid=*", "balanced parentheses"),
    ("user_filter", "user_filter", "*)(uid=*", "*)(uid=*", "balanced parentheses"),
    ("group_filter", "group_filter", "(cn=a)(cn=b)", "(cn=a)(cn=b)", "one LDAP filter"),
    ("host", "host", "evil\nINFO forged", "evil\nINFO forged", "control characters"),
    ("ca_cert", "ca_cert", GARBAGE_PEM, GARBAGE_PEM, "not a readable certificate"),
    ("bind_password", "bind_password", "x" * 1_000_000, "x" * 1_000_000, "at most 1024"),
    ("user_dns", "user_dns", "\n".join(MANY_DNS), MANY_DNS, "at most 100 DNs"),
]


@pytest.mark.parametrize(("field", "api_field", "typed", "sent", "message"), BAD)
def test_console_and_api_refuse_the_same_values_with_the_same_words(
    admin_client, super_api, connectors, directory_payload, field, api_field, typed, sent, message
):
    html = admin_client.post(
        reverse("directories:directory_add"), add_form(connectors[0].pk, **{field: typed})
    ).content.decode()
    console_error = error_of(html, field)
    assert message in console_error

    answer = super_api.post(
        "/api/v1/directories/", {**directory_payload, api_field: sent}, format="json"
    )
    assert answer.status_code == 400
    api_error = str(answer.json()["errors"][api_field])
    assert message in api_error
    assert not Directory.objects.exists()


def test_a_mapped_attribute_with_options_is_refused_everywhere(
    admin_client, super_api, connectors, directory_payload, directory
):
    # The agent refuses it in a /sync request ...
    body = {
        "directory": {"id": 1, "type": "ldap"},
        "connection": {"host": "h", "base_dn": "dc=x"},
        "mapped_attributes": {"first_name": "givenName;lang-de"},
    }
    with pytest.raises(RequestError, match="must be an LDAP attribute name"):
        SyncSettings.from_request(body)
    # ... so neither the console's tab nor the API stores it.
    url = reverse("directories:directory_sync_settings", args=[directory.pk, "attributes"])
    form = {"username": "uid", "first_name": "givenName;lang-de"}
    html = admin_client.post(url, form).content.decode()
    assert "is not an LDAP attribute name" in html
    answer = super_api.patch(
        f"/api/v1/directories/{directory.pk}/",
        {"mapped_attributes": {"first_name": "givenName;lang-de"}},
        format="json",
    )
    assert answer.status_code == 400
    assert "is not an LDAP attribute name" in str(answer.json())
    directory.refresh_from_db()
    assert directory.mapped_attributes.get("first_name") != "givenName;lang-de"


def test_the_agent_applies_the_same_dn_rule(directory):
    body = {
        "directory": {"id": 1, "type": "ldap"},
        "connection": {"host": "h", "base_dn": "not a dn"},
    }
    with pytest.raises(RequestError, match="is not a valid DN"):
        SyncSettings.from_request(body)


def test_defaults_are_the_agents_own(directory):
    from connectors.protocol import settings as ldapsource
    from directories.choices import DEFAULT_FILTERS, DEFAULT_MAPPED_ATTRIBUTES

    for kind in ("ldap", "ad"):
        assert DEFAULT_FILTERS[kind] == (
            ldapsource.DEFAULT_FILTERS[kind]["users"],
            ldapsource.DEFAULT_FILTERS[kind]["groups"],
        )
        assert DEFAULT_MAPPED_ATTRIBUTES[kind] == ldapsource.DEFAULT_MAPPINGS[kind]


def test_a_bad_change_filter_is_an_error_in_the_console_and_the_api(
    admin_client, super_api, directory
):
    from synclog.models import SyncChange, SyncRun

    run = SyncRun.objects.create(directory=directory, status="completed")
    SyncChange.objects.create(run=run, kind="user", action="added", external_id="1", name="ann")
    page = admin_client.get(reverse("synclog:syncrun_detail", args=[run.pk]) + "?kind=printer")
    html = page.content.decode()
    assert (
        "&#x27;printer&#x27; is not a kind of change; use one of: user, group, membership." in html
    )
    assert "ann" not in html.split('id="changes"')[1]
    answer = super_api.get(f"/api/v1/sync-runs/{run.pk}/changes/?kind=printer")
    assert answer.status_code == 400
    assert answer.json()["errors"]["kind"] == [
        "'printer' is not a kind of change; use one of: user, group, membership."
    ]
    # A good value filters the same rows in both.
    assert (
        "ann"
        in admin_client.get(reverse("synclog:syncrun_detail", args=[run.pk]) + "?kind=user")
        .content.decode()
        .split('id="changes"')[1]
    )
    assert [c["name"] for c in super_api.get(
        f"/api/v1/sync-runs/{run.pk}/changes/?kind=user"
    ).json()["results"]] == ["ann"]  # fmt: skip


def test_names_with_control_characters_are_refused(admin_client, super_api, directory_payload):
    from connectors.models import Connector

    answer = super_api.post("/api/v1/connectors/", {"name": "edge\nINFO forged"}, format="json")
    assert answer.status_code == 400 and "control characters" in str(answer.json())
    page = admin_client.post(reverse("connectors:connector_add"), {"name": "edge\tone"})
    assert "control characters" in page.content.decode()
    assert not Connector.objects.filter(name__startswith="edge").exists()
    answer = super_api.post(
        "/api/v1/directories/", {**directory_payload, "name": "hr\r\nINFO x"}, format="json"
    )
    assert answer.status_code == 400 and "control characters" in str(
        answer.json()["errors"]["name"]
    )
