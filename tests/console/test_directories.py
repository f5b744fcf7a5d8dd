"""Directories list, Add Directory, the Settings tab and the Sync Settings sub-tabs."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from directories.failover import sync_connector_list
from directories.models import Directory, IdentityProvider
from directories.services import schedule_task_name
from synclog.choices import RunStatus
from tests.console.conftest import make_run

pytestmark = pytest.mark.django_db


def add_form(connector_id: int, **changes: str) -> dict:
    data = {
        "name": "branch.example.com",
        "type": "ad",
        "host": "dc1.branch.example.com",
        "port": "636",
        "security": "ssl",
        "base_dn": "dc=branch,dc=example,dc=com",
        "bind_dn": "cn=sync,cn=Users,dc=branch,dc=example,dc=com",
        "bind_password": "bind-secret-123",
        "user_dns": (
            "ou=Staff,dc=branch,dc=example,dc=com\n\nou=Contractors,dc=branch,dc=example,dc=com"
        ),
        "user_filter": "",
        "group_dns": "ou=Groups,dc=branch,dc=example,dc=com",
        "group_filter": "(objectClass=group)",
        "sync_frequency": "daily",
        "sync_connector": str(connector_id),
    }
    data.update(changes)
    return data


def error_of(html: str, field: str) -> str:
    """The error text shown right under a field ('' when none)."""
    marker = f'id="id_{field}-error"'
    if marker not in html:
        return ""
    start = html.index(">", html.index(marker)) + 1
    return html[start : html.index("</span>", start)]


def test_list_shows_counts_connector_and_latest_run(admin_client, directory, directory_data):
    make_run(directory, RunStatus.FAILED)
    latest = make_run(directory, RunStatus.COMPLETED)
    html = admin_client.get(reverse("directories:directory_list")).content.decode()
    row = html[html.index("corp.example.com") :]
    row = row[: row.index("</tr>")]
    cells = [c.split("</td>")[0] for c in row.split('<td class="left">')[1:]]
    assert cells[0] == "LDAP Directory"
    assert cells[1] == "connector-1"
    assert cells[2] == "120"
    assert cells[3] == "4"
    assert "Completed" in cells[4] and latest.get_absolute_url() in cells[4]
    assert "Ready" in cells[5]
    assert "Add Directory" in html


class _Inputs(HTMLParser):
    """name -> value of every input, select and textarea a page renders inside its form."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("input", "textarea") and a.get("name"):
            if a.get("type") not in ("checkbox", "radio", "submit") or "checked" in a:
                self.values[a["name"]] = a.get("value") or ""
        elif tag == "select":
            self._select = a.get("name")
            self.values[self._select] = ""
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None


def test_add_directory_renders_every_field_and_a_browser_post_keeps_the_default_safeguards(
    admin_client, connectors, directory
):
    from directories.forms import DirectoryAddForm

    html = admin_client.get(reverse("directories:directory_add")).content.decode()
    page = _Inputs()
    page.feed(html)
    assert set(DirectoryAddForm().fields) <= set(page.values), "a form field is not on the page"
    safeguards = [n for n in page.values if n.startswith("safeguard_")]
    assert sorted(safeguards) == sorted(
        [
            "safeguard_users_updated_percent",
            "safeguard_users_deleted_percent",
            "safeguard_groups_deleted_percent",
            "safeguard_members_removed_percent",
        ]
    )
    # Each threshold reads as it does on the Safeguards tab, with the default shown.
    tab = admin_client.get(
        reverse("directories:directory_sync_settings", args=[directory.pk, "safeguards"])
    ).content.decode()
    for name in safeguards:
        label = re.search(rf'<label for="id_{name}"[^>]*>([^<]+)</label>', html)
        assert label and label.group(1).strip().endswith("(%)"), name
        assert label.group(0) in tab, name
        assert re.search(rf'name="{name}" value="10"', html), name
    # What a browser sends: every rendered value, the typed ones filled in.
    data = {**page.values, **add_form(connectors[1].pk)}
    data.pop("csrfmiddlewaretoken", None)
    response = admin_client.post(reverse("directories:directory_add"), data)
    assert response.status_code == 302, error_of(response.content.decode(), "__all__")
    directory = Directory.objects.get(name="branch.example.com")
    assert [getattr(directory, n) for n in safeguards] == [10, 10, 10, 10]


def test_add_directory_creates_it_with_its_sync_connector_as_first_list_entry(
    admin_client, connectors
):
    response = admin_client.post(reverse("directories:directory_add"), add_form(connectors[1].pk))
    directory = Directory.objects.get(name="branch.example.com")
    assert response.status_code == 302 and response.url == directory.get_absolute_url()
    assert [c.name for c in sync_connector_list(directory)] == ["connector-2"]
    assert directory.user_dns == [
        "ou=Staff,dc=branch,dc=example,dc=com",
        "ou=Contractors,dc=branch,dc=example,dc=com",
    ]
    assert directory.user_filter == "(&(objectCategory=person)(objectClass=user))"
    assert directory.group_filter == "(objectClass=group)"
    assert directory.bind_password == "bind-secret-123"
    assert connectors[1] in directory.identity_provider.connectors.all()
    assert PeriodicTask.objects.filter(name=schedule_task_name(directory)).exists()


def test_add_directory_shows_each_error_next_to_its_field_and_saves_nothing(
    admin_client, connectors, directory
):
    before = (Directory.objects.count(), IdentityProvider.objects.count())
    data = add_form(
        connectors[0].pk,
        name="corp.example.com",
        port="70000",
        user_dns="not a dn",
        bind_password="",
        sync_connector="999999",
    )
    response = admin_client.post(reverse("directories:directory_add"), data)
    html = response.content.decode()
    assert response.status_code == 200
    assert "already exists" in error_of(html, "name")
    assert "65535" in error_of(html, "port")
    assert "is not a distinguished name" in error_of(html, "user_dns")
    assert "required" in error_of(html, "bind_password")
    assert "valid choice" in error_of(html, "sync_connector")
    assert error_of(html, "host") == ""
    assert 'id="form-errors"' in html
    assert (Directory.objects.count(), IdentityProvider.objects.count()) == before


def test_add_directory_never_renders_the_bind_password_back(admin_client, connectors):
    data = add_form(connectors[0].pk, port="bad")
    html = admin_client.post(reverse("directories:directory_add"), data).content.decode()
    assert "bind-secret-123" not in html
    assert 'type="password"' in html


def test_settings_tab_links_to_the_workspace_idp(admin_client, directory):
    html = admin_client.get(reverse("directories:directory_detail", args=[directory.pk]))
    html = html.content.decode()
    section = html[html.index("Directory Sync and Authentication") :]
    assert f'href="{directory.identity_provider.get_absolute_url()}"' in section
    assert ">WorkspaceIDP__corp.example.com</a>" in section
    assert "s3cret-bind" not in html


def test_settings_with_blank_bind_password_keep_the_stored_one(admin_client, directory):
    url = reverse("directories:directory_detail", args=[directory.pk])
    data = {
        "name": "corp.example.com",
        "host": "127.0.0.1",
        "port": "389",
        "security": "none",
        "base_dn": "dc=corp,dc=example,dc=com",
        "bind_dn": "cn=admin,dc=example,dc=com",
        "bind_password": "",
    }
    assert admin_client.post(url, data).status_code == 302
    directory.refresh_from_db()
    assert (directory.base_dn, directory.bind_password) == (
        "dc=corp,dc=example,dc=com",
        "s3cret-bind",
    )
    admin_client.post(url, {**data, "bind_password": "rotated"})
    directory.refresh_from_db()
    assert directory.bind_password == "rotated"


def test_moving_the_connection_needs_the_bind_password_again(admin_client, directory):
    """Otherwise an admin could send the stored password to a server of their own."""
    url = reverse("directories:directory_detail", args=[directory.pk])
    data = {
        "name": "corp.example.com",
        "host": "evil.example.net",
        "port": "389",
        "security": "none",
        "base_dn": "dc=example,dc=com",
        "bind_dn": "cn=admin,dc=example,dc=com",
        "bind_password": "",
    }
    refused = admin_client.post(url, data)
    assert refused.status_code == 200
    assert "Enter the bind password again" in refused.content.decode()
    directory.refresh_from_db()
    assert directory.host == "127.0.0.1"

    assert admin_client.post(url, {**data, "bind_password": "new-secret"}).status_code == 302
    directory.refresh_from_db()
    assert (directory.host, directory.bind_password) == ("evil.example.net", "new-secret")


def test_settings_error_is_shown_under_the_field_and_nothing_is_saved(admin_client, directory):
    url = reverse("directories:directory_detail", args=[directory.pk])
    response = admin_client.post(url, {"name": "", "host": "h", "port": "0", "security": "none"})
    html = response.content.decode()
    assert "required" in error_of(html, "name")
    assert error_of(html, "port")
    directory.refresh_from_db()
    assert directory.name == "corp.example.com" and directory.host == "127.0.0.1"


def test_settings_save_does_not_undo_a_list_saved_meanwhile(
    admin_client, directory, connectors, monkeypatch
):
    from directories.failover import sync_connector_list
    from directories.forms import DirectorySettingsForm
    from directories.services import save_sync_connectors

    url = reverse("directories:directory_detail", args=[directory.pk])
    validate = DirectorySettingsForm.is_valid

    def list_saved_while_the_form_is_checked(form):
        # The view has loaded the row (list version 1); another admin saves the list now.
        assert form.instance.sync_connectors_version == 1
        save_sync_connectors(directory, [connectors[2].pk], expected_version=1)
        return validate(form)

    monkeypatch.setattr(DirectorySettingsForm, "is_valid", list_saved_while_the_form_is_checked)
    response = admin_client.post(
        url,
        {
            "name": "corp.example.com",
            "host": directory.host,
            "port": directory.port,
            "security": directory.security,
            "base_dn": "dc=example,dc=org",
            "bind_dn": directory.bind_dn,
        },
    )

    assert response.status_code == 302, response.content.decode()
    directory.refresh_from_db()
    assert directory.base_dn == "dc=example,dc=org"
    assert directory.sync_connectors_version == 2
    assert [c.name for c in sync_connector_list(directory)] == ["connector-3"]


def sync_settings_url(directory: Directory, section: str) -> str:
    return reverse("directories:directory_sync_settings", args=[directory.pk, section])


def test_sync_frequency_saves_schedule_and_warns_about_collisions(
    admin_client, directory, connectors
):
    from directories.services import create_directory

    create_directory(
        name="branch.example.com",
        type="ldap",
        sync_connector=connectors[0],
        host="10.0.0.2",
        base_dn="dc=branch",
        bind_dn="cn=admin,dc=branch",
        sync_frequency="daily",
    )
    url = sync_settings_url(directory, "frequency")
    response = admin_client.post(
        url, {"sync_frequency": "daily", "sync_time": "02:00", "sync_weekday": "0"}
    )
    assert response.status_code == 302
    directory.refresh_from_db()
    assert directory.sync_frequency == "daily"
    task = PeriodicTask.objects.get(name=schedule_task_name(directory))
    assert (task.crontab.hour, task.crontab.minute) == ("2", "0")
    html = admin_client.get(url).content.decode()
    assert 'id="schedule-collisions"' in html and "branch.example.com" in html

    admin_client.post(url, {"sync_frequency": "daily", "sync_time": "04:30", "sync_weekday": "0"})
    html = admin_client.get(url).content.decode()
    assert 'id="schedule-collisions"' not in html


def test_each_sync_settings_tab_saves_only_its_own_fields(admin_client, directory):
    admin_client.post(
        sync_settings_url(directory, "users"),
        {"user_dns": "ou=a,dc=example,dc=com\nou=b,dc=example,dc=com", "user_filter": "(uid=*)"},
    )
    admin_client.post(sync_settings_url(directory, "groups"), {"group_dns": "", "group_filter": ""})
    admin_client.post(
        sync_settings_url(directory, "safeguards"),
        {
            "safeguard_users_updated_percent": "25",
            "safeguard_users_deleted_percent": "5",
            "safeguard_groups_deleted_percent": "30",
            "safeguard_members_removed_percent": "",
        },
    )
    admin_client.post(
        sync_settings_url(directory, "attributes"),
        {"username": "cn", "first_name": "givenName", "last_name": "sn", "email": "mail"},
    )
    directory.refresh_from_db()
    assert directory.user_dns == ["ou=a,dc=example,dc=com", "ou=b,dc=example,dc=com"]
    assert directory.user_filter == "(uid=*)"
    assert directory.group_dns == []
    assert (
        directory.safeguard_users_updated_percent,
        directory.safeguard_users_deleted_percent,
        directory.safeguard_groups_deleted_percent,
        directory.safeguard_members_removed_percent,
    ) == (25, 5, 30, None)
    assert directory.mapped_attributes["username"] == "cn"
    assert "display_name" not in directory.mapped_attributes
    assert directory.host == "127.0.0.1" and directory.bind_password == "s3cret-bind"


def test_sync_settings_errors_are_shown_and_nothing_is_saved(admin_client, directory):
    response = admin_client.post(
        sync_settings_url(directory, "safeguards"),
        {
            "safeguard_users_updated_percent": "0",
            "safeguard_users_deleted_percent": "101",
            "safeguard_groups_deleted_percent": "ten",
            "safeguard_members_removed_percent": "50",
        },
    )
    html = response.content.decode()
    assert "greater than or equal to 1" in error_of(html, "safeguard_users_updated_percent")
    assert "less than or equal to 100" in error_of(html, "safeguard_users_deleted_percent")
    assert error_of(html, "safeguard_groups_deleted_percent")
    assert not error_of(html, "safeguard_members_removed_percent")
    bad_attr = admin_client.post(
        sync_settings_url(directory, "attributes"), {"username": "not an attribute!"}
    )
    assert "LDAP attribute name" in error_of(bad_attr.content.decode(), "username")
    directory.refresh_from_db()
    assert directory.safeguard_users_updated_percent == 10
    assert directory.safeguard_members_removed_percent == 10
    assert directory.mapped_attributes["username"] == "uid"


def test_unknown_sync_settings_tab_is_not_found(admin_client, directory):
    assert admin_client.get(sync_settings_url(directory, "nonsense")).status_code == 404


def test_add_directory_refuses_a_ca_certificate_that_is_not_pem(admin_client, connectors):
    data = add_form(connectors[0].pk, security="ssl", ca_cert="not a certificate")
    response = admin_client.post(reverse("directories:directory_add"), data)
    html = response.content.decode()
    assert "Paste the CA certificate in PEM form" in html
    assert not Directory.objects.filter(name=data["name"]).exists()


def test_add_directory_takes_mapped_attributes_and_safeguards(admin_client, connectors):
    data = add_form(
        connectors[0].pk,
        map_username="userPrincipalName",
        map_email="proxyAddresses",
        safeguard_users_updated_percent="25",
        safeguard_users_deleted_percent="10",
        safeguard_groups_deleted_percent="10",
        safeguard_members_removed_percent="",
    )
    response = admin_client.post(reverse("directories:directory_add"), data)
    assert response.status_code == 302
    directory = Directory.objects.get(name=data["name"])
    assert directory.mapped_attributes["username"] == "userPrincipalName"
    assert directory.mapped_attributes["email"] == "proxyAddresses"
    assert directory.mapped_attributes["first_name"] == "givenName"  # the AD default
    assert (
        directory.safeguard_users_updated_percent,
        directory.safeguard_members_removed_percent,
    ) == (
        25,
        None,
    )


def test_add_directory_refuses_a_bad_attribute_name_next_to_its_field(admin_client, connectors):
    data = add_form(connectors[0].pk, map_username="not an attribute!")
    html = admin_client.post(reverse("directories:directory_add"), data).content.decode()
    field = html[html.index('id="id_map_username"') :]
    assert "Enter an LDAP attribute name" in field[:2000]
    assert not Directory.objects.filter(name=data["name"]).exists()


def test_an_hourly_schedule_asks_for_no_time_or_day(admin_client, directory):
    url = reverse("directories:directory_sync_settings", args=[directory.pk, "frequency"])
    answer = admin_client.post(
        url, {"sync_frequency": "hourly", "sync_time": "", "sync_weekday": ""}
    )
    assert answer.status_code == 302
    directory.refresh_from_db()
    assert directory.sync_frequency == "hourly"
    weekly = admin_client.post(
        url, {"sync_frequency": "weekly", "sync_time": "", "sync_weekday": ""}
    )
    html = weekly.content.decode()
    assert "Give the time of day the sync starts." in html
    assert "Give the day of the week the sync runs." in html


def test_after_a_form_error_the_empty_password_field_says_why(admin_client, connectors):
    data = add_form(connectors[0].pk, port="bad")
    html = admin_client.post(reverse("directories:directory_add"), data).content.decode()
    assert "Type the bind password again: it is not sent back to the browser." in html
