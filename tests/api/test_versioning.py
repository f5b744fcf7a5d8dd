"""The API lives under /api/v1/; /api/ answers the same for one release, marked deprecated."""

from __future__ import annotations


def test_v1_answers_without_deprecation_headers(readonly_api, directory):
    answer = readonly_api.get("/api/v1/directories/")
    assert answer.status_code == 200
    assert [row["id"] for row in answer.json()["results"]] == [directory.pk]
    assert "Deprecation" not in answer.headers
    assert "Link" not in answer.headers


def test_old_prefix_answers_the_same_and_points_to_its_successor(readonly_api, directory):
    old = readonly_api.get(f"/api/directories/{directory.pk}/", {"x": "1"})
    new = readonly_api.get(f"/api/v1/directories/{directory.pk}/")
    assert old.status_code == 200
    assert old.json() == new.json()
    assert old.headers["Deprecation"] == "true"
    assert old.headers["Link"] == f'</api/v1/directories/{directory.pk}/>; rel="successor-version"'


def test_old_prefix_errors_are_marked_deprecated_too(anon_api):
    answer = anon_api.get("/api/directories/")
    assert answer.status_code == 401
    assert answer.headers["Deprecation"] == "true"


def test_old_prefix_writes_through_the_same_endpoint(super_api, directory):
    answer = super_api.patch(
        f"/api/directories/{directory.pk}/", {"name": "renamed.example.com"}, format="json"
    )
    assert answer.status_code == 200, answer.content
    directory.refresh_from_db()
    assert directory.name == "renamed.example.com"
    assert answer.headers["Deprecation"] == "true"


def test_schema_lists_only_the_versioned_paths(readonly_api):
    paths = readonly_api.get("/api/v1/schema/", {"format": "json"}).json()["paths"]
    assert paths
    assert all(path.startswith("/api/v1/") for path in paths), sorted(paths)
