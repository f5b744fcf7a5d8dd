"""The OpenAPI description of the API."""

from __future__ import annotations


def test_schema_describes_every_endpoint(readonly_api):
    answer = readonly_api.get("/api/v1/schema/", {"format": "json"})
    assert answer.status_code == 200
    schema = answer.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path, method in [
        ("/api/v1/auth/token/", "post"),
        ("/api/v1/connectors/", "post"),
        ("/api/v1/connectors/activate/", "post"),
        ("/api/v1/connectors/{id}/activation-code/", "post"),
        ("/api/v1/identity-providers/{id}/connectors/", "put"),
        ("/api/v1/directories/", "post"),
        ("/api/v1/directories/{id}/", "patch"),
        ("/api/v1/directories/{id}/sync-connectors/", "put"),
        ("/api/v1/directories/{id}/sync-runs/", "post"),
        ("/api/v1/directories/{id}/users/", "get"),
        ("/api/v1/directories/{id}/groups/", "get"),
        ("/api/v1/sync-runs/{id}/", "get"),
        ("/api/v1/sync-runs/{id}/changes/", "get"),
    ]:
        assert method in paths.get(path, {}), f"{method.upper()} {path}"
    assert "put" not in paths["/api/v1/directories/{id}/"]
    directory = schema["components"]["schemas"]["Directory"]["properties"]
    assert directory["bind_password"]["writeOnly"] is True
    assert "secret" not in schema["components"]["schemas"]["Connector"]["properties"]
