"""The OpenAPI description of the API."""

from __future__ import annotations


def test_schema_describes_every_endpoint(readonly_api):
    answer = readonly_api.get("/api/schema/", {"format": "json"})
    assert answer.status_code == 200
    schema = answer.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path, method in [
        ("/api/auth/token/", "post"),
        ("/api/connectors/", "post"),
        ("/api/connectors/activate/", "post"),
        ("/api/connectors/{id}/activation-code/", "post"),
        ("/api/identity-providers/{id}/connectors/", "put"),
        ("/api/directories/", "post"),
        ("/api/directories/{id}/", "patch"),
        ("/api/directories/{id}/sync-connectors/", "put"),
        ("/api/directories/{id}/sync-runs/", "post"),
        ("/api/directories/{id}/users/", "get"),
        ("/api/directories/{id}/groups/", "get"),
        ("/api/sync-runs/{id}/", "get"),
        ("/api/sync-runs/{id}/changes/", "get"),
    ]:
        assert method in paths.get(path, {}), f"{method.upper()} {path}"
    assert "put" not in paths["/api/directories/{id}/"]
    directory = schema["components"]["schemas"]["Directory"]["properties"]
    assert directory["bind_password"]["writeOnly"] is True
    assert "secret" not in schema["components"]["schemas"]["Connector"]["properties"]
