"""Connectors list with live health, Add Connector and activation codes."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from connectors.choices import HealthState
from connectors.models import ActivationCode, Connector
from connectors.services import activate, record_health
from directories.services import save_sync_connectors
from tests.console.conftest import HTMX

pytestmark = pytest.mark.django_db


def shown_code(html: str) -> str:
    return re.search(r'<pre class="activation-code" id="activation-code">([^<]+)</pre>', html)[1]


def test_list_shows_health_version_and_where_each_connector_is_used(
    admin_client, directory, connectors
):
    record_health(connectors[2], HealthState.UNREACHABLE, "connection refused by 10.0.0.3")
    save_sync_connectors(directory, [connectors[0].pk, connectors[2].pk])
    html = admin_client.get(reverse("connectors:connector_list")).content.decode()
    row = html[html.index(f'id="connector-{connectors[2].pk}"') :]
    row = row[: row.index("</tr>")]
    assert "label-danger" in row and "Unreachable" in row
    assert "connection refused by 10.0.0.3" in row
    assert "19.03.0.0" in row
    assert "corp.example.com</a> (#2)" in row
    assert "connector-3.example.com" in row


def test_list_polls_its_table_every_five_seconds(admin_client, connectors):
    url = reverse("connectors:connector_list")
    page = admin_client.get(url).content.decode()
    assert f'hx-get="{url}" hx-trigger="every 5s"' in page
    fragment = admin_client.get(url, **HTMX)
    html = fragment.content.decode()
    assert html.lstrip().startswith('<div id="connector-table"')
    assert "<html" not in html and "connector-2" in html
    assert "HX-Request" in fragment["Vary"]


def test_outdated_connector_is_flagged(admin_client, make_outdated):
    html = admin_client.get(reverse("connectors:connector_list")).content.decode()
    assert "older than 19.03.0.0" in html


@pytest.fixture
def make_outdated(db) -> Connector:
    from tests.conftest import make_connector

    return make_connector("old-connector", version="18.8.0.0")


def test_add_connector_shows_the_activation_code_once_with_the_agent_command(admin_client, db):
    response = admin_client.post(reverse("connectors:connector_add"), {"name": "connector-dc2"})
    html = response.content.decode()
    connector = Connector.objects.get(name="connector-dc2")
    code = shown_code(html)
    assert response["Cache-Control"] == "no-store"
    assert (
        f"python -m connectors.agent activate --service http://testserver --code={code} "
        "--listen HOST:PORT" in html
    )
    assert ActivationCode.objects.get(connector=connector).is_usable
    list_page = admin_client.get(reverse("connectors:connector_list")).content.decode()
    assert code not in list_page
    activated, _ = activate(code, "http://127.0.0.1:8443", "dc2", "19.03.0.0")
    assert activated == connector


def test_add_connector_error_is_shown_under_the_name(admin_client, connectors):
    response = admin_client.post(reverse("connectors:connector_add"), {"name": "CONNECTOR-1"})
    html = response.content.decode()
    assert 'id="id_name-error"' in html and "already exists" in html
    assert Connector.objects.count() == 3


def test_new_activation_code_replaces_the_unused_one(admin_client, connectors):
    url = reverse("connectors:connector_activation_code", args=[connectors[0].pk])
    assert "Generate new activation code" in admin_client.get(url).content.decode()
    first = shown_code(admin_client.post(url).content.decode())
    second = shown_code(admin_client.post(url).content.decode())
    assert first != second
    usable = [c for c in ActivationCode.objects.filter(connector=connectors[0]) if c.is_usable]
    assert len(usable) == 1
    # An agent given the first code is refused; the second one activates.
    agent = {"url": "http://10.0.0.5:8443", "host": "dc2", "version": "19.03.0.0"}
    old = APIClient().post("/api/v1/connectors/activate/", {"code": first, **agent}, format="json")
    assert old.status_code == 400
    new = APIClient().post("/api/v1/connectors/activate/", {"code": second, **agent}, format="json")
    assert new.status_code == 201 and new.json()["name"] == "connector-1"
