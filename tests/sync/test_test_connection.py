"""Test Connection on Add Directory and Settings: the values on the form, through a real
agent to a real slapd, and nothing stored."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from directories.models import Directory, DirectoryUser, IdentityProvider, SyncConnectorEntry
from synclog.models import SyncRun
from testbed.slapd import free_port
from testbed.wiring import make_directory

pytestmark = [pytest.mark.ldap]


@pytest.fixture
def small_server(slapd_factory):
    return slapd_factory(users=5, groups=1, members_per_group=3)


def stored(directory: Directory) -> dict:
    """Every column of the directory's row (the password decrypted), its list and the
    rows a test could create."""
    row = Directory.objects.filter(pk=directory.pk).values().get()
    row["bind_password"] = Directory.objects.get(pk=directory.pk).bind_password
    return {
        "row": row,
        "list": list(SyncConnectorEntry.objects.values_list("directory_id", "connector_id")),
        "directories": Directory.objects.count(),
        "identity_providers": IdentityProvider.objects.count(),
        "runs": SyncRun.objects.count(),
        "users": DirectoryUser.objects.count(),
    }


def result(page: str) -> str:
    """The text of the Test Connection answer on the page, as the admin reads it."""
    found = re.search(r'<div id="connection-test-result".*?</div></div>\s*</div>', page, re.S)
    if not found:
        return ""
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(0)).split())


def settings_form(directory: Directory, **typed) -> dict:
    values = {
        "name": directory.name,
        "host": directory.host,
        "port": str(directory.port),
        "security": directory.security,
        "ca_cert": directory.ca_cert,
        "base_dn": directory.base_dn,
        "bind_dn": directory.bind_dn,
        "bind_password": "",
        "action": "test",
    }
    return {**values, **typed}


def test_settings_tests_a_typed_correct_password_and_keeps_the_stored_wrong_one(
    admin_client, small_server, agents
):
    directory = make_directory("corp.example.com", small_server, agents[0].connector)
    directory.bind_password = "wrong"
    directory.save()
    before = stored(directory)
    url = reverse("directories:directory_detail", args=[directory.pk])

    response = admin_client.post(
        url, settings_form(directory, bind_password=small_server.root_password)
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert result(page).startswith("Connection works: connector-1 bound to 127.0.0.1")
    assert result(page).endswith("(Test only: nothing was saved.)")
    # The typed password is not sent back; the admin is told to type it again to save it.
    assert small_server.root_password not in page
    assert "Type the bind password again to save it" in page
    assert stored(directory) == before
    assert Directory.objects.get(pk=directory.pk).bind_password == "wrong"

    # The stored wrong password, tested as stored (blank field), fails in plain words.
    page = admin_client.post(url, settings_form(directory)).content.decode()
    assert result(page).startswith("Invalid credentials: connector-1 reached the agent, but:")
    assert stored(directory) == before


def test_settings_tests_a_typed_wrong_port_and_keeps_the_stored_port(
    admin_client, small_server, agents
):
    directory = make_directory("corp.example.com", small_server, agents[0].connector)
    before = stored(directory)
    closed = free_port()
    url = reverse("directories:directory_detail", args=[directory.pk])

    page = admin_client.post(
        url,
        settings_form(directory, port=str(closed), bind_password=small_server.root_password),
    ).content.decode()

    assert result(page).startswith(
        "Host unreachable: connector-1 reached the agent, but: cannot reach LDAP server "
        f"127.0.0.1:{closed}"
    )
    # The form keeps the typed port.
    assert f'name="port" value="{closed}"' in page
    assert stored(directory) == before
    assert Directory.objects.get(pk=directory.pk).port == small_server.port


def test_settings_never_sends_the_stored_password_to_a_typed_host(
    admin_client, small_server, agents
):
    """The rule Save applies: the stored password goes only where it went."""
    directory = make_directory("corp.example.com", small_server, agents[0].connector)
    before = stored(directory)
    url = reverse("directories:directory_detail", args=[directory.pk])

    page = admin_client.post(url, settings_form(directory, host="localhost")).content.decode()

    assert "Enter the bind password again" in page
    assert result(page) == "" and "reached the agent" not in page
    assert stored(directory) == before


def add_form(server, connector, **typed) -> dict:
    values = {
        "name": "new.example.com",
        "type": "ldap",
        "host": server.host,
        "port": str(server.port),
        "security": "none",
        "base_dn": server.suffix,
        "bind_dn": server.root_dn,
        "bind_password": server.root_password,
        "user_dns": server.people_dn,
        "group_dns": server.groups_dn,
        "sync_frequency": "manual",
        "sync_connector": str(connector.pk),
        "action": "test",
    }
    return {**values, **typed}


def test_add_directory_tests_a_wrong_bind_password_and_creates_nothing(
    admin_client, small_server, agents
):
    url = reverse("directories:directory_add")

    response = admin_client.post(
        url, add_form(small_server, agents[0].connector, bind_password="not-the-password")
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert result(page).startswith("Invalid credentials: connector-1 reached the agent, but:")
    assert f"refused the bind as {small_server.root_dn}" in page
    assert "not-the-password" not in page
    assert "Type the bind password again" in page
    # The typed values stay on the form.
    assert 'value="new.example.com"' in page
    assert not Directory.objects.exists() and not IdentityProvider.objects.exists()
    assert not SyncRun.objects.exists() and not SyncConnectorEntry.objects.exists()

    page = admin_client.post(url, add_form(small_server, agents[0].connector)).content.decode()
    assert result(page).startswith("Connection works: connector-1 bound to")
    assert "found entries" in result(page)
    assert not Directory.objects.exists()


def test_add_directory_names_a_bad_base_dn(admin_client, small_server, agents):
    page = admin_client.post(
        reverse("directories:directory_add"),
        add_form(
            small_server,
            agents[0].connector,
            base_dn="dc=nowhere,dc=test",
            user_dns="",
            group_dns="",
        ),
    ).content.decode()
    assert result(page).startswith(
        "Bad base DN: connector-1 reached the agent, but: base DN dc=nowhere,dc=test"
    )
    assert not Directory.objects.exists()
