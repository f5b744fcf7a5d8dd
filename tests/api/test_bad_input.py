"""Bad input gets a clear 4xx, never a server error, and changes nothing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from directories.failover import sync_connector_list

pytestmark = pytest.mark.django_db

HUGE = "9223372036854775808"  # 2**63: no 64-bit id


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/directories/",
        "/api/v1/sync-runs/",
        "/api/v1/connectors/",
        "/api/v1/identity-providers/",
    ],
)
def test_a_limit_or_offset_beyond_any_database_is_bounded(super_api, directory, path):
    for query in (f"limit={HUGE}", f"offset={HUGE}", f"limit={HUGE}&offset={HUGE}"):
        answer = super_api.get(f"{path}?{query}")
        assert answer.status_code == 200, (path, query, answer.content[:200])
    page = super_api.get(f"{path}?limit={HUGE}").json()
    assert page["count"] >= len(page["results"])


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/directories/{}/",
        "/api/v1/sync-runs/{}/",
        "/api/v1/connectors/{}/",
        "/api/v1/identity-providers/{}/",
        "/api/v1/directories/{}/sync-connectors/",
    ],
)
def test_ids_that_are_no_ids_are_not_found(super_api, directory, path):
    from synclog.models import SyncRun

    run = SyncRun.objects.create(directory=directory, status="completed")
    own = {
        "/api/v1/sync-runs/{}/": run.pk,
        "/api/v1/connectors/{}/": directory.sync_connector_id,
        "/api/v1/identity-providers/{}/": directory.identity_provider_id,
    }.get(path, directory.pk)
    assert super_api.get(path.format(own)).status_code == 200
    for bad in (HUGE, "１", "٣"):  # beyond 64 bits, a fullwidth 1, an Arabic-Indic 3
        assert super_api.get(path.format(bad)).status_code == 404, (path, bad)


def test_connector_ids_beyond_64_bits_are_refused_by_name(
    super_api, admin_client, directory, connectors
):
    before = [c.pk for c in sync_connector_list(directory)]
    answer = super_api.put(
        f"/api/v1/directories/{directory.pk}/sync-connectors/",
        {"connectors": [connectors[0].pk, int(HUGE)]},
        format="json",
    )
    assert answer.status_code == 400
    url = reverse("directories:directory_sync_connectors", args=[directory.pk])
    form = {"connector": [str(connectors[0].pk), HUGE], "version": "1", "action": "save"}
    assert admin_client.post(url, form).status_code in (200, 302)
    idp = directory.identity_provider
    idp_url = reverse("directories:identityprovider_detail", args=[idp.pk])
    page = admin_client.post(idp_url, {"connector": [HUGE], "action": "save"})
    assert page.status_code == 200
    assert [c.pk for c in sync_connector_list(directory)] in (before, [connectors[0].pk])


def test_a_nul_in_a_search_matches_nothing(super_api, directory):
    from django.utils import timezone

    from directories.models import DirectoryGroup, DirectoryUser

    DirectoryUser.objects.create(
        directory=directory, external_id="u1", dn="uid=ann,dc=x", username="ann",
        synced_at=timezone.now(),
    )  # fmt: skip
    DirectoryGroup.objects.create(
        directory=directory, external_id="g1", dn="cn=staff,dc=x", name="staff",
        synced_at=timezone.now(),
    )  # fmt: skip
    base = f"/api/v1/directories/{directory.pk}"
    assert super_api.get(f"{base}/users/").json()["count"] > 0
    assert super_api.get(f"{base}/users/?search=%00").json()["count"] == 0
    assert super_api.get(f"{base}/groups/?search=%00").json()["count"] == 0


def test_run_filters_take_any_offset_and_do_not_hide_a_run_from_its_own_pages(super_api, directory):
    from synclog.models import SyncRun

    run = SyncRun.objects.create(directory=directory, status="completed")
    for query in (
        "created_before=0593-12-23T12:52:47.147-20:32",
        "created_after=9999-12-31T23:59:59-23:59",
        "created_before=0001-01-01T00:00:00%2B23:59",
    ):
        answer = super_api.get(f"/api/v1/sync-runs/?{query}")
        assert answer.status_code in (200, 400), (query, answer.content[:200])
    assert (
        super_api.get("/api/v1/sync-runs/?created_before=2000-01-01T00:00:00Z").json()["count"] == 0
    )
    for page in ("", "changes/", "warnings/"):
        detail = super_api.get(
            f"/api/v1/sync-runs/{run.pk}/{page}?created_before=2000-01-01T00:00:00Z"
        )
        assert detail.status_code == 200, page
