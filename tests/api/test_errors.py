"""Every API error answers one JSON shape with a stable code, and the schema says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.models import Connector
from console.api_errors import ERROR_CODES
from directories.models import Directory

SHAPE = {"code", "detail", "errors"}


def assert_error(answer, status: int, code: str) -> dict:
    assert answer.status_code == status, answer.content
    assert answer["Content-Type"].startswith("application/json")
    body = answer.json()
    assert SHAPE <= set(body), body
    assert body["code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"]
    assert code in ERROR_CODES
    return body


def test_a_bad_field_is_named_under_errors_and_nothing_is_saved(directory_api, directory_payload):
    payload = {**directory_payload, "port": 70000}
    body = assert_error(
        directory_api.post("/api/v1/directories/", payload, format="json"), 400, "invalid"
    )
    assert list(body["errors"]) == ["port"]
    assert body["detail"].startswith("port: ")
    assert not Directory.objects.filter(name=payload["name"]).exists()


def test_malformed_json_is_a_parse_error(directory_api):
    answer = directory_api.post(
        "/api/v1/directories/", "{not json", content_type="application/json"
    )
    assert assert_error(answer, 400, "parse_error")["errors"] == {}


def test_no_credentials_and_a_bad_token(anon_api, db):
    assert_error(anon_api.get("/api/v1/directories/"), 401, "not_authenticated")
    anon_api.credentials(HTTP_AUTHORIZATION="Token dsc_000000000000.nope")
    assert_error(anon_api.get("/api/v1/directories/"), 401, "authentication_failed")


def test_a_role_that_may_not_change_is_refused_with_the_old_words(readonly_api, directory):
    answer = readonly_api.delete(f"/api/v1/directories/{directory.pk}/")
    body = assert_error(answer, 403, "permission_denied")
    assert body["detail"] == "Your role does not allow changes."
    assert Directory.objects.filter(pk=directory.pk).exists()


def test_a_missing_object_and_an_unknown_url(readonly_api):
    assert_error(readonly_api.get("/api/v1/directories/999999/"), 404, "not_found")
    assert_error(readonly_api.get("/api/v1/no-such-thing/"), 404, "not_found")


def test_a_method_the_endpoint_does_not_take(super_api):
    assert_error(super_api.put("/api/v1/sync-runs/"), 405, "method_not_allowed")


def test_an_unsupported_body_type(directory_api):
    answer = directory_api.post("/api/v1/directories/", "x", content_type="text/csv")
    assert_error(answer, 415, "unsupported_media_type")


def test_a_conflict_keeps_its_code_and_extra_fields(super_api, directory):
    connector = directory.sync_connector
    answer = super_api.delete(f"/api/v1/connectors/{connector.pk}/")
    body = assert_error(answer, 409, "connector_in_use")
    assert body["directories"] == [directory.name]
    assert Connector.objects.filter(pk=connector.pk).exists()


@pytest.mark.parametrize("status", ["400", "401", "403", "404"])
def test_the_schema_describes_the_error_shape(readonly_api, status):
    schema = readonly_api.get("/api/v1/schema/", {"format": "json"}).json()
    assert set(schema["components"]["schemas"]["Error"]["required"]) == SHAPE
    operation = schema["paths"]["/api/v1/directories/{id}/"]["get"]
    if status == "400":
        operation = schema["paths"]["/api/v1/directories/"]["post"]
    answer = operation["responses"][status]
    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


@pytest.mark.parametrize("query", ["limit=abc", "limit=0", "offset=-1", "limit=1&limit=2"])
def test_a_paging_value_that_is_no_whole_number_is_refused_not_ignored(readonly_api, query):
    body = assert_error(readonly_api.get(f"/api/v1/sync-runs/?{query}"), 400, "invalid")
    assert list(body["errors"]) == [query.split("=")[0]]


def test_an_empty_choice_filter_is_refused_not_ignored(readonly_api, db):
    body = assert_error(readonly_api.get("/api/v1/sync-runs/?status="), 400, "invalid")
    assert list(body["errors"]) == ["status"]


def test_an_unknown_format_is_not_acceptable(readonly_api, db):
    assert_error(readonly_api.get("/api/v1/directories/?format=xml"), 406, "not_acceptable")


def test_an_export_answers_its_errors_as_json_whatever_the_accept(readonly_api, db):
    answer = readonly_api.get("/api/v1/sync-runs/999999/changes/export/", HTTP_ACCEPT="text/csv")
    assert_error(answer, 404, "not_found")


def test_every_error_code_is_documented():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    missing = [code for code in ERROR_CODES if f"| `{code}` |" not in docs]
    assert missing == []
