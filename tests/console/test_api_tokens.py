"""The API tokens page: any admin creates (key shown once), sees last use, and revokes their
own tokens; a Super Admin sees and revokes everyone's."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from apitokens.models import ApiToken
from apitokens.services import issue_token

URL = "/api-tokens/"


def works(key: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/directories/").status_code == 200


def test_user_menu_links_to_the_page(readonly_client):
    page = readonly_client.get("/profile/").content.decode()
    assert f'href="{URL}"' in page


def test_a_read_only_admin_creates_a_token_and_sees_its_key_once(readonly_client, readonly_admin):
    answer = readonly_client.post(URL, {"name": "report script", "expires_at": ""})
    assert answer.status_code == 200
    assert answer["Cache-Control"] == "no-store"
    [key] = re.findall(r'id="new-token-key">([^<]+)<', answer.content.decode())
    token = ApiToken.objects.get(user=readonly_admin, name="report script")
    assert token.expires_at is None and token.kind == "api"
    assert works(key)
    again = readonly_client.get(URL).content.decode()
    assert "report script" in again and key not in again


def test_an_expiry_is_read_in_the_admins_time_zone(readonly_client, readonly_admin):
    readonly_admin.time_zone = "Asia/Tokyo"
    readonly_admin.save()
    later = timezone.now() + timedelta(days=3)
    local = timezone.localtime(later, timezone=ZoneInfo("Asia/Tokyo"))
    readonly_client.post(URL, {"name": "tokyo", "expires_at": local.strftime("%Y-%m-%dT%H:%M")})
    token = ApiToken.objects.get(name="tokyo")
    assert abs(token.expires_at - later) < timedelta(minutes=1)


def test_bad_input_is_shown_on_the_form_and_makes_no_token(readonly_client):
    past = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    for data, words in [
        ({"name": ""}, "A token needs a name."),
        ({"name": "old", "expires_at": past}, "expiry must be in the future"),
        ({"name": "x" * 101}, "at most 100 characters"),
    ]:
        answer = readonly_client.post(URL, data)
        assert answer.status_code == 400
        assert words in answer.content.decode()
    assert ApiToken.objects.count() == 0


def last_used_cell(client: Client, token: ApiToken) -> str:
    page = client.get(URL).content.decode()
    row = re.search(rf'<tr id="token-{token.pk}">(.*?)</tr>', page, re.S)
    assert row
    # Name, Kind, Created, Last used, ... for an admin who sees only their own tokens.
    return re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)[3]


def test_last_use_is_shown(readonly_client, readonly_admin):
    token, key = issue_token(readonly_admin, name="used")
    assert last_used_cell(readonly_client, token) == "Never"
    assert works(key)
    cell = last_used_cell(readonly_client, token)
    assert "<time" in cell and "time-relative" in cell


def test_each_admin_sees_only_their_own_tokens_and_revokes_only_those(
    readonly_client, diradmin_client, directory_admin, readonly_admin
):
    other, other_key = issue_token(directory_admin, name="dir-admin job")
    mine, mine_key = issue_token(readonly_admin, name="mine")
    assert "dir-admin job" not in readonly_client.get(URL).content.decode()
    assert readonly_client.post(f"{URL}{other.pk}/revoke/").status_code == 404
    assert works(other_key)
    answer = readonly_client.post(f"{URL}{mine.pk}/revoke/", follow=True)
    assert "revoked" in answer.content.decode()
    assert not works(mine_key)


def test_a_super_admin_sees_and_revokes_everyones_tokens(admin_client, directory_admin):
    other, key = issue_token(directory_admin, name="dir-admin job")
    page = admin_client.get(URL).content.decode()
    assert "dir-admin job" in page and directory_admin.username in page
    assert admin_client.post(f"{URL}{other.pk}/revoke/").status_code == 302
    other.refresh_from_db()
    assert other.revoked_at is not None and not works(key)


def test_the_page_needs_a_login(client: Client, db):
    answer = client.get(URL)
    assert answer.status_code == 302 and "/login/" in answer["Location"]
