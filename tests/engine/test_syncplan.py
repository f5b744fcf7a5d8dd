"""The sync plan's collision analysis (rule S11) over plain data: the source's three cases,
their remedies, time zones, mixed frequencies and expected durations."""

from __future__ import annotations

import datetime as dt

from directories import syncplan
from directories.syncplan import (
    SAME_FALLBACK,
    SAME_FIRST,
    SAME_ORDER,
    ConnectorRef,
    DirectoryPlan,
    Schedule,
    find_collisions,
)
from synclog.queries import estimate_progress

C = [ConnectorRef(n, f"connector-{n}") for n in (1, 2, 3, 4)]
WINTER = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)
SUMMER = dt.datetime(2026, 7, 14, 12, 0, tzinfo=dt.UTC)
MIN = dt.timedelta(minutes=1)


def plan(
    pk: int,
    name: str,
    connectors: list[int],
    frequency: str = "daily",
    at: str = "02:00",
    zone: str = "UTC",
    minutes: float = 4,
    weekday: int = 0,
    measured: bool = True,
) -> DirectoryPlan:
    return DirectoryPlan(
        id=pk,
        name=name,
        connectors=tuple(C[n - 1] for n in connectors),
        schedule=Schedule(frequency, dt.time.fromisoformat(at), weekday, zone),
        expected=dt.timedelta(minutes=minutes),
        measured=measured,
    )


def flagged(*plans: DirectoryPlan, now: dt.datetime = WINTER) -> list[tuple[str, str, str]]:
    return [(c.kind, c.directory.name, c.other.name) for c in find_collisions(plans, now, C)]


def test_same_first_connector_at_the_same_time_is_case_a_with_three_concrete_remedies():
    corp = plan(1, "corp.example.com", [1, 3])
    branch = plan(2, "branch.example.com", [1, 4])
    (collision,) = find_collisions([corp, branch], WINTER, C, subject=2)
    assert collision.kind == SAME_FIRST and collision.letter == "A"
    assert collision.other.name == "corp.example.com"
    assert [c.name for c in collision.connectors] == ["connector-1"]
    assert collision.remedies == (
        "Move branch.example.com's daily sync from 02:00 to 02:15 "
        "(UTC; its last syncs took about 4 minutes).",
        "Put connector-4 first for branch.example.com.",
        "Use connector-2 for branch.example.com instead of connector-1.",
    )


def test_each_remedy_of_case_a_clears_the_collision():
    corp = plan(1, "corp.example.com", [1, 3])
    branch = plan(2, "branch.example.com", [1, 4])
    moved = plan(2, "branch.example.com", [1, 4], at="02:15")
    reordered = plan(2, "branch.example.com", [4, 1])
    other_connector = plan(2, "branch.example.com", [2])
    assert flagged(corp, branch)
    assert flagged(corp, moved) == []
    assert flagged(corp, reordered) == []
    assert flagged(corp, other_connector) == []


def test_same_list_in_the_same_order_is_case_b_and_suggests_the_reverse_order():
    corp = plan(1, "corp.example.com", [1, 2])
    branch = plan(2, "branch.example.com", [1, 2], frequency="hourly", at="02:00")
    (collision,) = find_collisions([corp, branch], WINTER, C, subject=2)
    assert collision.kind == SAME_ORDER and collision.letter == "B"
    assert collision.remedies == (
        "Move branch.example.com's hourly sync from :00 to :05 past the hour "
        "(UTC; its last syncs took about 4 minutes).",
        "Put connector-2 first for branch.example.com.",
        "Use connector-3 for branch.example.com instead of connector-1, connector-2.",
    )


def test_lists_that_fall_back_to_the_same_connector_are_case_c():
    corp = plan(1, "corp.example.com", [1, 3])
    branch = plan(2, "branch.example.com", [2, 3])
    (collision,) = find_collisions([corp, branch], WINTER, C, subject=2)
    assert collision.kind == SAME_FALLBACK and collision.letter == "C"
    assert [c.name for c in collision.connectors] == ["connector-3"]
    assert "Put connector-3 first for branch.example.com" in collision.remedies[1]
    assert collision.remedies[2] == (
        "Use connector-4 for branch.example.com instead of connector-3."
    )


def test_a_clean_configuration_is_silent():
    # The source's own advice: the same set in a different order, or another time.
    assert flagged(plan(1, "a", [1, 2]), plan(2, "b", [2, 1])) == []
    assert flagged(plan(1, "a", [1, 2]), plan(2, "b", [1, 2], at="03:00")) == []
    assert flagged(plan(1, "a", [1]), plan(2, "b", [2])) == []


def test_paris_two_oclock_meets_utc_one_oclock_in_winter_only():
    paris = plan(1, "paris.example.com", [1], at="02:00", zone="Europe/Paris")
    london = plan(2, "utc.example.com", [1], at="01:00", zone="UTC")
    assert flagged(paris, london, now=WINTER) == [
        (SAME_FIRST, "utc.example.com", "paris.example.com")
    ]
    # In summer Paris is UTC+2: 02:00 there is 00:00 UTC, an hour before the other.
    assert flagged(paris, london, now=SUMMER) == []


def test_equal_times_in_different_zones_do_not_collide():
    assert flagged(plan(1, "a", [1], zone="Europe/Paris"), plan(2, "b", [1], zone="UTC")) == []


def test_an_hourly_sync_meets_a_daily_one_at_its_hour_but_not_off_it():
    hourly = plan(1, "hourly.example.com", [1], frequency="hourly", at="00:00")
    daily = plan(2, "daily.example.com", [1], at="14:00")
    assert flagged(hourly, daily) == [(SAME_FIRST, "hourly.example.com", "daily.example.com")]
    off = plan(1, "hourly.example.com", [1], frequency="hourly", at="00:30")
    assert flagged(off, daily) == []


def test_a_weekly_sync_is_compared_over_a_week():
    weekly = plan(1, "weekly.example.com", [1], frequency="weekly", at="02:00", weekday=3)
    daily = plan(2, "daily.example.com", [1], at="02:00")
    (collision,) = find_collisions([weekly, daily], WINTER, C)
    # 2026-01-14 is a Wednesday (cron day 3): the first meeting is the next Wednesday.
    assert collision.first_overlap == dt.datetime(2026, 1, 21, 2, 0, tzinfo=dt.UTC)


def test_a_directory_with_no_schedule_never_collides():
    manual = plan(1, "manual.example.com", [1, 2], frequency="manual")
    daily = plan(2, "daily.example.com", [1, 2])
    every = plan(3, "often.example.com", [1, 2], frequency="15m")
    assert syncplan.fire_times(manual.schedule, WINTER, WINTER + syncplan.WEEK) == []
    assert [k for k, a, b in flagged(manual, daily, every) if "manual" in a + b] == []


def test_the_expected_duration_is_the_median_of_the_last_runs():
    expected, measured = syncplan.expected_duration([2 * MIN, 30 * MIN, 4 * MIN])
    assert (expected, measured) == (4 * MIN, True)
    assert syncplan.expected_duration([]) == (syncplan.DEFAULT_EXPECTED, False)


def test_a_long_sync_reaches_into_a_later_one():
    slow = plan(1, "slow.example.com", [1], at="02:00", minutes=20)
    later = plan(2, "later.example.com", [1], at="02:15")
    assert flagged(slow, later) == [(SAME_FIRST, "slow.example.com", "later.example.com")]
    quick = plan(1, "slow.example.com", [1], at="02:00", minutes=10)
    assert flagged(quick, later) == []


def test_the_moved_time_skips_every_neighbour_on_a_shared_connector():
    corp = plan(1, "corp.example.com", [1])
    hr = plan(3, "hr.example.com", [1], at="02:15")
    branch = plan(2, "branch.example.com", [1], minutes=10)
    (first,) = find_collisions([corp, hr, branch], WINTER, C, subject=2)
    assert first.remedies[0].startswith("Move branch.example.com's daily sync from 02:00 to 02:30")
    assert (
        "no finished sync yet"
        in syncplan.remedies(
            SAME_FIRST,
            plan(2, "new.example.com", [1], measured=False),
            corp,
            (C[0],),
            [corp],
            C,
            WINTER,
        )[0]
    )


def test_the_timeline_draws_a_bar_per_run_and_marks_the_colliding_ones():
    corp = plan(1, "corp.example.com", [1, 2])
    branch = plan(2, "branch.example.com", [1, 3])
    start = dt.datetime(2026, 1, 14, 0, 0, tzinfo=dt.UTC)
    collisions = find_collisions([corp, branch], start, C)
    line = syncplan.timeline([corp, branch], collisions, C, start, dt.UTC)
    rows = {r.connector.name: r for r in line.rows}
    assert [b.colliding for b in rows["connector-1"].bars] == [True, True]
    assert [b.fallback for b in rows["connector-2"].bars] == [True]
    assert not rows["connector-2"].bars[0].colliding
    assert "corp.example.com: 02:00–02:04, connector-1 is its first choice" in (
        rows["connector-1"].bars[0].title
    )
    assert rows["connector-4"].bars == []
    assert line.ticks[0][1] == "00:00" and line.ticks[-1][1] == "00:00"
    assert "2 of them in a collision" in line.summary


def test_progress_is_the_share_of_the_last_total_capped_until_finished():
    started = dt.datetime(2026, 1, 14, 12, 0, tzinfo=dt.UTC)
    now = started + dt.timedelta(minutes=2)
    half = estimate_progress(100, 200, started, now)
    assert (half.percent, half.estimated_end) == (50, started + dt.timedelta(minutes=4))
    assert estimate_progress(250, 200, started, now).percent == 99
    none = estimate_progress(100, None, started, now)
    assert (none.percent, none.estimated_end, none.entries) == (None, None, 100)
