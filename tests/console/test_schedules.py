"""Schedules: every 15 minutes to weekly, in the directory's time zone, one PeriodicTask each."""

from __future__ import annotations

import html as htmllib

import pytest
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from directories.choices import DirectoryType
from directories.models import Directory
from directories.services import create_directory, schedule_task_name, update_directory
from tests.api.conftest import client_for

from .test_directories import error_of


@pytest.fixture
def directory_api(directory_admin):
    return client_for(directory_admin)


def frequency_url(directory: Directory) -> str:
    return reverse("directories:directory_sync_settings", args=[directory.pk, "frequency"])


def task_of(directory: Directory) -> PeriodicTask:
    return PeriodicTask.objects.get(name=schedule_task_name(directory))


def crontab_of(directory: Directory) -> tuple[str, str, str, str]:
    c = task_of(directory).crontab
    return (c.minute, c.hour, c.day_of_week, str(c.timezone))


def test_every_15_minutes_asks_for_no_time_and_fires_each_quarter_hour_in_its_time_zone(
    admin_client, directory
):
    response = admin_client.post(
        frequency_url(directory),
        {
            "sync_frequency": "15m",
            "sync_time": "",
            "sync_weekday": "",
            "sync_time_zone": "Europe/Paris",
        },
    )

    assert response.status_code == 302
    directory.refresh_from_db()
    assert (directory.sync_frequency, directory.sync_time_zone) == ("15m", "Europe/Paris")
    assert crontab_of(directory) == ("0-59/15", "*", "*", "Europe/Paris")
    assert task_of(directory).task == "directories.tasks.scheduled_sync"
    assert task_of(directory).interval is None


@pytest.mark.parametrize("frequency", ["15m", "hourly", "3h", "6h", "12h"])
def test_frequencies_that_repeat_within_a_day_need_no_time_or_weekday(
    admin_client, directory, frequency
):
    response = admin_client.post(frequency_url(directory), {"sync_frequency": frequency})

    assert response.status_code == 302
    directory.refresh_from_db()
    assert directory.sync_frequency == frequency
    assert task_of(directory).crontab.day_of_week == "*"


def test_daily_and_weekly_runs_at_the_time_read_in_the_chosen_time_zone(directory_api, directory):
    url = f"/api/v1/directories/{directory.pk}/"
    response = directory_api.patch(
        url,
        {"sync_frequency": "daily", "sync_time": "04:30", "sync_time_zone": "Asia/Tokyo"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["sync_time_zone"] == "Asia/Tokyo"
    assert crontab_of(directory) == ("30", "4", "*", "Asia/Tokyo")

    directory_api.patch(
        url,
        {"sync_frequency": "weekly", "sync_weekday": 3, "sync_time_zone": "America/Chicago"},
        format="json",
    )
    assert crontab_of(directory) == ("30", "4", "3", "America/Chicago")
    assert directory_api.get(url).json()["sync_time_zone"] == "America/Chicago"
    # One task per directory, rewritten in place (the running beat notices the save).
    assert PeriodicTask.objects.filter(task="directories.tasks.scheduled_sync").count() == 1


def test_an_unknown_time_zone_is_refused_by_the_form_and_the_api(
    admin_client, directory_api, directory
):
    response = admin_client.post(
        frequency_url(directory),
        {"sync_frequency": "daily", "sync_time": "02:00", "sync_time_zone": "Mars/Olympus"},
    )
    assert response.status_code == 200
    assert "Mars/Olympus" in htmllib.unescape(error_of(response.content.decode(), "sync_time_zone"))

    answer = directory_api.patch(
        f"/api/v1/directories/{directory.pk}/",
        {"sync_time_zone": "../../etc/passwd"},
        format="json",
    )
    assert answer.status_code == 400
    assert "not a time zone name" in answer.json()["errors"]["sync_time_zone"][0]
    directory.refresh_from_db()
    assert directory.sync_time_zone == "UTC"


def test_a_new_directory_takes_the_servers_time_zone(settings, connectors):
    settings.TIME_ZONE = "America/New_York"
    directory = create_directory(
        name="east.example.com",
        type=DirectoryType.LDAP,
        sync_connector=connectors[0],
        sync_frequency="daily",
        host="ldap.example.com",
        base_dn="dc=example,dc=com",
        bind_dn="cn=admin,dc=example,dc=com",
        bind_password="pw",
    )
    assert directory.sync_time_zone == "America/New_York"
    assert crontab_of(directory) == ("0", "2", "*", "America/New_York")


def test_the_frequency_tab_offers_15_minutes_to_weekly_and_shows_the_time_zone_by_the_time(
    admin_client, directory
):
    update_directory(
        directory,
        {"sync_frequency": "daily", "sync_time": "04:30", "sync_time_zone": "Asia/Tokyo"},
    )

    page = admin_client.get(frequency_url(directory)).content.decode()

    assert '<option value="15m">Every 15 minutes</option>' in page
    assert '<option value="weekly">Once a week</option>' in page
    assert '<option value="Asia/Tokyo" selected>Asia/Tokyo</option>' in page
    assert page.index('name="sync_time"') < page.index('name="sync_time_zone"')
    assert page.index('name="sync_time_zone"') < page.index('name="sync_weekday"')
    assert "Now: Once a day at 04:30 (Asia/Tokyo)" in page
    detail = admin_client.get(reverse("directories:directory_detail", args=[directory.pk]))
    assert "Once a day at 04:30 (Asia/Tokyo)" in detail.content.decode()


def test_manual_removes_the_schedule(directory):
    update_directory(directory, {"sync_frequency": "15m"})
    assert task_of(directory)
    update_directory(directory, {"sync_frequency": "manual"})
    assert not PeriodicTask.objects.filter(name=schedule_task_name(directory)).exists()
