"""The Sync Log chart: geometry from synclog/chart.py and the SVG on the directory's tab."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from synclog.chart import BOTTOM, MAX_RUNS, MIN_BAR_HEIGHT, PLOT_HEIGHT, TOP, ChartRun, run_chart
from synclog.choices import RunStatus
from tests.console.conftest import make_run


def run(number: int, seconds: float, changes: int = 0, status: str = "completed") -> ChartRun:
    return ChartRun(number, status, seconds, changes, f"/sync-log/{number}/")


def newest_first(*runs: ChartRun) -> list[ChartRun]:
    return sorted(runs, key=lambda r: -r.number)


def test_no_finished_run_draws_no_chart():
    assert run_chart([]) is None
    assert run_chart([run(1, 0, status="queued"), run(2, 0, status="running")]) is None


def test_bars_are_oldest_left_and_heights_scale_from_real_durations():
    chart = run_chart(newest_first(run(1, 30), run(2, 95), run(3, 47.5)))
    assert [b.run.number for b in chart.bars] == [1, 2, 3]
    assert [b.x for b in chart.bars] == sorted(b.x for b in chart.bars)
    # 95 s puts the top of the axis at 100 s: heights are 30, 95 and 47.5 hundredths of it.
    assert chart.duration_unit == "s"
    assert [t.label for t in chart.duration_ticks] == ["0", "50", "100"]
    assert [b.height for b in chart.bars] == [
        round(PLOT_HEIGHT * share, 2) for share in (0.30, 0.95, 0.475)
    ]
    assert all(b.y + b.height == pytest.approx(BOTTOM) for b in chart.bars)


def test_long_runs_are_scaled_in_minutes_or_hours():
    assert run_chart([run(1, 25 * 60)]).duration_unit == "min"
    chart = run_chart([run(1, 3 * 3600)])
    assert chart.duration_unit == "h"
    assert [t.label for t in chart.duration_ticks] == ["0", "2.5", "5"]


def test_changes_get_their_own_scale_and_mark():
    chart = run_chart(newest_first(run(1, 10, changes=0), run(2, 10, changes=180)))
    assert [t.label for t in chart.change_ticks] == ["0", "100", "200"]
    zero, many = chart.bars
    assert zero.change_y == BOTTOM
    assert many.change_y == pytest.approx(BOTTOM - 0.9 * PLOT_HEIGHT)
    assert chart.change_line == f"{zero.centre},{zero.change_y} {many.centre},{many.change_y}"


def test_failed_and_safeguard_runs_are_marked_with_a_letter_and_a_class():
    chart = run_chart(
        newest_first(run(1, 5), run(2, 5, status="failed"), run(3, 5, status="safeguard"))
    )
    assert [(b.mark, b.css) for b in chart.bars] == [
        ("", "run-chart-bar bar-completed"),
        ("F", "run-chart-bar bar-failed"),
        ("S", "run-chart-bar bar-safeguard"),
    ]
    assert chart.bars[1].title == "Run #2 · Failed · 5.0 s · 0 changes"
    assert "1 completed, 1 failed, 1 stopped by safeguard" in chart.summary


def test_at_most_the_newest_thirty_runs_are_drawn():
    chart = run_chart(newest_first(*(run(n, n) for n in range(1, 41))))
    assert len(chart.bars) == MAX_RUNS
    assert (chart.first_number, chart.last_number) == (11, 40)


def test_zero_duration_runs_keep_a_visible_sliver_and_all_zero_does_not_divide_by_zero():
    chart = run_chart(newest_first(run(1, 0), run(2, 0, status="failed")))
    assert [b.height for b in chart.bars] == [MIN_BAR_HEIGHT, MIN_BAR_HEIGHT]
    assert [t.label for t in chart.duration_ticks] == ["0", "0.5", "1"]
    assert [t.label for t in chart.change_ticks] == ["0", "1"]


def test_queued_and_running_runs_are_left_out():
    chart = run_chart([run(4, 0, status="queued"), run(3, 0, status="running"), run(2, 9)])
    assert [b.run.number for b in chart.bars] == [2]


def test_the_newest_run_sits_at_the_right_edge():
    few = run_chart([run(1, 5)])
    full = run_chart(newest_first(*(run(n, 5) for n in range(1, 31))))
    assert few.bars[-1].x == full.bars[-1].x
    assert full.bars[0].slot_x == full.left
    assert full.bars[-1].y >= TOP


@pytest.mark.django_db
def test_sync_log_tab_draws_the_chart_with_links_titles_and_a_summary(admin_client, directory):
    now = timezone.now()
    ok = make_run(directory, users_added=12, started_at=now - timedelta(seconds=80))
    failed = make_run(directory, RunStatus.FAILED, started_at=now - timedelta(seconds=3))
    make_run(directory, RunStatus.QUEUED)
    url = reverse("directories:directory_sync_log", args=[directory.pk])
    html = admin_client.get(url).content.decode()
    svg = html[html.index('<svg class="run-chart"') : html.index("</svg>")]
    assert 'role="img"' in svg
    assert re.search(
        r'aria-label="Duration and changes of the last 2 finished syncs of '
        r"corp.example.com, oldest first: 1 completed, 1 failed\.",
        svg,
    )
    assert "Duration (s)" in svg and "Changes (users + groups)" in svg
    assert svg.count('class="run-chart-bar') == 2
    assert f"<title>Run #{ok.pk} · Completed · 1 min 20 s · 12 changes</title>" in svg
    assert ">F</text>" in svg
    assert "style=" not in html[html.index('id="run-chart"') : html.index("</figure>")]
    links = html[html.index('<svg class="run-chart-links"') :]
    assert f'href="{failed.get_absolute_url()}"' in links
    assert f'href="{ok.get_absolute_url()}"' in links


@pytest.mark.django_db
def test_sync_log_tab_without_finished_runs_shows_the_chart_empty_state(admin_client, directory):
    make_run(directory, RunStatus.RUNNING)
    html = admin_client.get(reverse("directories:directory_sync_log", args=[directory.pk]))
    assert 'id="run-chart-empty"' in html.content.decode()
    assert 'class="run-chart"' not in html.content.decode()
