"""/api/v1/profile/: any admin reads and sets their own time zone, as on the Profile page."""

from __future__ import annotations


def test_a_read_only_admin_sets_their_time_zone(readonly_api, readonly_admin):
    assert readonly_api.get("/api/v1/profile/").json()["username"] == readonly_admin.username
    answer = readonly_api.patch("/api/v1/profile/", {"time_zone": "Asia/Tokyo"}, format="json")
    assert answer.status_code == 200 and answer.json()["time_zone"] == "Asia/Tokyo"
    readonly_admin.refresh_from_db()
    assert readonly_admin.time_zone == "Asia/Tokyo"


def test_an_unknown_zone_is_refused_and_nothing_changes(readonly_api, readonly_admin):
    before = readonly_admin.time_zone
    answer = readonly_api.patch("/api/v1/profile/", {"time_zone": "Mars/Olympus"}, format="json")
    assert answer.status_code == 400
    assert list(answer.json()["errors"]) == ["time_zone"]
    readonly_admin.refresh_from_db()
    assert readonly_admin.time_zone == before
