"""Times in each admin's zone: the moment tag, the Profile page, the middleware and the schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from console.forms import ProfileForm
from console.templatetags.console_tags import relative_time
from tests.console.conftest import make_run

pytestmark = pytest.mark.django_db

# 17:03 UTC on 10 March 2026: 13:03 EDT in New York (DST began on 8 March), 02:03 JST on
# 11 March in Tokyo.
MOMENT = datetime(2026, 3, 10, 17, 3, 0, tzinfo=UTC)


def render_moment(value: datetime | None, zone: str, args: str = "") -> str:
    template = Template("{% load console_tags %}{% moment value " + args + " %}")
    with timezone.override(zone):
        return template.render(Context({"value": value}))


def test_moment_renders_in_new_york_with_utc_datetime_and_zone_in_title():
    html = render_moment(MOMENT, "America/New_York")
    assert html.startswith('<time datetime="2026-03-10T17:03:00Z"')
    assert ">2026-03-10 13:03:00 EDT</time>" in html
    assert 'title="Tuesday 10 March 2026, 13:03:00 EDT (America/New_York, UTC−04:00)"' in html


def test_moment_renders_in_tokyo_on_the_next_day():
    html = render_moment(MOMENT, "Asia/Tokyo")
    assert 'datetime="2026-03-10T17:03:00Z"' in html
    assert ">2026-03-11 02:03:00 JST</time>" in html
    assert "(Asia/Tokyo, UTC+09:00)" in html


def test_moment_in_winter_uses_standard_time_and_can_drop_seconds():
    winter = datetime(2026, 1, 15, 17, 3, 42, tzinfo=UTC)
    html = render_moment(winter, "America/New_York", "seconds=False")
    assert ">2026-01-15 12:03 EST</time>" in html
    assert 'datetime="2026-01-15T17:03:42Z"' in html


def test_moment_without_a_value_shows_the_empty_text():
    assert render_moment(None, "UTC") == "—"
    assert render_moment(None, "UTC", 'empty="Never"') == "Never"


def test_moment_with_relative_adds_a_hint_beside_the_time():
    five_minutes_ago = timezone.now() - timedelta(minutes=5, seconds=3)
    html = render_moment(five_minutes_ago, "Asia/Tokyo", "relative=True")
    assert html.endswith('</time> <span class="time-relative">(5 minutes ago)</span>')


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (timedelta(minutes=-5), "5 minutes ago"),
        (timedelta(minutes=-1, seconds=-59), "1 minute ago"),
        (timedelta(hours=3, seconds=5), "in 3 hours"),
        (timedelta(days=-2, hours=-23), "2 days ago"),
        (timedelta(seconds=-45), "45 seconds ago"),
        (timedelta(seconds=-4), "just now"),
        (timedelta(seconds=6), "just now"),
    ],
)
def test_relative_time_names_the_largest_whole_unit(offset, expected):
    assert relative_time(MOMENT + offset, MOMENT) == expected


def test_profile_form_refuses_an_unknown_zone_and_saves_nothing(directory_admin):
    before = directory_admin.time_zone
    form = ProfileForm({"time_zone": "Mars/Olympus_Mons"}, instance=directory_admin)
    assert not form.is_valid()
    assert "time_zone" in form.errors
    directory_admin.refresh_from_db()
    assert directory_admin.time_zone == before == "UTC"


def test_profile_page_refuses_an_unknown_zone_with_a_field_error(diradmin_client, directory_admin):
    response = diradmin_client.post(reverse("profile"), {"time_zone": "Mars/Olympus_Mons"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "nothing was saved" in html and 'id="id_time_zone-error"' in html
    directory_admin.refresh_from_db()
    assert directory_admin.time_zone == "UTC"


def test_new_admin_defaults_to_the_server_time_zone(settings, django_user_model):
    settings.TIME_ZONE = "Europe/Paris"
    assert django_user_model.objects.create_user("newcomer", password="x").time_zone == (
        "Europe/Paris"
    )


def test_profile_page_lists_zones_by_area_and_saves_the_choice(diradmin_client, directory_admin):
    html = diradmin_client.get(reverse("profile")).content.decode()
    assert '<optgroup label="America">' in html and '<optgroup label="Asia">' in html
    assert html.index('value="America/Chicago"') < html.index('value="America/New_York"')
    response = diradmin_client.post(reverse("profile"), {"time_zone": "America/New_York"})
    assert response.status_code == 302
    directory_admin.refresh_from_db()
    assert directory_admin.time_zone == "America/New_York"


def test_the_user_menu_links_to_the_profile(diradmin_client):
    html = diradmin_client.get(reverse("directories:directory_list")).content.decode()
    assert f'href="{reverse("profile")}" id="user-menu-profile"' in html


def test_sync_log_and_run_page_show_times_in_the_admins_zone(
    diradmin_client, directory_admin, directory
):
    directory_admin.time_zone = "America/New_York"
    directory_admin.save()
    run = make_run(
        directory,
        created=MOMENT - timedelta(minutes=1),
        started_at=MOMENT - timedelta(seconds=42),
        finished_at=MOMENT,
    )
    log = diradmin_client.get(reverse("directories:directory_sync_log", args=[directory.pk]))
    assert ">2026-03-10 13:02:18 EDT</time>" in log.content.decode()
    page = diradmin_client.get(run.get_absolute_url()).content.decode()
    assert ">2026-03-10 13:03:00 EDT</time>" in page  # finished
    assert 'datetime="2026-03-10T17:03:00Z"' in page


def test_connectors_tried_started_shows_a_date(diradmin_client, finished_run):
    page = diradmin_client.get(finished_run.get_absolute_url()).content.decode()
    attempts = page[page.index('id="attempts"') :]
    started = timezone.localtime(finished_run.attempts.first().started_at, UTC)
    assert f">{started:%Y-%m-%d %H:%M:%S} UTC</time>" in attempts


def test_the_api_answers_in_utc_whatever_the_admins_zone(
    diradmin_client, directory_admin, directory
):
    directory_admin.time_zone = "Asia/Tokyo"
    directory_admin.save()
    make_run(directory, started_at=MOMENT - timedelta(seconds=42), finished_at=MOMENT)
    body = diradmin_client.get("/api/v1/sync-runs/").json()
    assert body["results"][0]["finished_at"] in (
        "2026-03-10T17:03:00Z",
        "2026-03-10T17:03:00+00:00",
    )


def test_the_sync_time_is_labelled_with_the_zone_the_schedule_runs_in(
    settings, diradmin_client, directory
):
    from directories.services import update_directory

    update_directory(directory, {"sync_time_zone": "Europe/Paris"})
    settings.TIME_ZONE = "Asia/Tokyo"  # the server's zone is not the schedule's
    url = reverse("directories:directory_sync_settings", args=[directory.pk, "frequency"])
    html = diradmin_client.get(url).content.decode()
    assert "Sync time (Europe/Paris)</label>" in html
    assert "start at this time in the time zone below" in html


def test_directory_list_and_connectors_show_recency_with_a_hint(
    admin_client, super_admin, directory, connectors
):
    super_admin.time_zone = "Asia/Tokyo"
    super_admin.save()
    make_run(directory, finished_at=timezone.now() - timedelta(hours=3, minutes=1))
    connectors[0].last_seen = timezone.now() - timedelta(minutes=5, seconds=2)
    connectors[0].save()
    listing = admin_client.get(reverse("directories:directory_list")).content.decode()
    assert " JST</time>" in listing and "(3 hours ago)" in listing
    table = admin_client.get(reverse("connectors:connector_list")).content.decode()
    assert " JST</time>" in table and "(5 minutes ago)" in table
    assert "Never" in table  # connector-2 and -3 were never seen
