"""Bodies built to crash a parser get a 400 (or the usual refusal), never a 500."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

NESTED = b"[" * 50_000


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/token/", "/api/v1/connectors/activate/", "/api/v1/directories/"]
)
def test_deeply_nested_json_is_a_400(super_api, path):
    answer = super_api.generic("POST", path, NESTED, content_type="application/json")
    assert answer.status_code == 400, answer.content[:200]
    assert "nested too deeply" in answer.json()["detail"]
    anonymous = Client().generic("POST", path, NESTED, content_type="application/json")
    assert anonymous.status_code in (400, 401), anonymous.content[:200]


def test_a_latin_1_login_form_is_refused_cleanly(db):
    client = Client(enforce_csrf_checks=True)
    token = "a" * 32
    client.cookies["csrftoken"] = token
    for body in (
        "username=caf\xe9&password=x",
        f"csrfmiddlewaretoken={token}&username=caf\xe9&password=\xff",
    ):
        answer = client.generic(
            "POST", "/login/", body.encode("latin-1"),
            content_type="application/x-www-form-urlencoded",
        )  # fmt: skip
        assert answer.status_code in (200, 403), answer.status_code


def test_an_activation_cannot_plant_a_line_break_in_a_url_or_host(connectors):
    from connectors.services import add_connector

    _, code = add_connector("fresh-one")
    for body in (
        {"code": code, "url": "http://h:8443\nINFO forged", "host": "h", "version": "19.03.0.0"},
        {"code": code, "url": "http://h:8443", "host": "h\r\nx", "version": "19.03.0.0"},
    ):
        answer = Client().post(
            "/api/v1/connectors/activate/", body, content_type="application/json"
        )
        assert answer.status_code == 400, answer.content
