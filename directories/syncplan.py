"""The sync plan (rule S11): which directories each connector syncs, when, and which of them
would meet on one connector at the same time, with the source's three remedies.

Pure functions over plain data (`DirectoryPlan`, `Schedule`) do the analysis; `load_plans`
is the one place that reads the database. The console tabs, the Sync plan page and the API
all ask `collisions_for` or `sync_plan`.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from celery.schedules import crontab_parser

from directories.choices import SyncFrequency

UTC = dt.UTC
# How long a directory's sync is assumed to take before it has finished one.
DEFAULT_EXPECTED = dt.timedelta(minutes=5)
# How many of a directory's last completed syncs give its expected duration (their median).
DURATION_SAMPLE = 5
DAY = dt.timedelta(days=1)
WEEK = dt.timedelta(days=7)

SAME_FIRST = "same-first"
SAME_ORDER = "same-order"
SAME_FALLBACK = "same-fallback"
KIND_LETTERS = {SAME_FIRST: "A", SAME_ORDER: "B", SAME_FALLBACK: "C"}


def crontab_spec(frequency: str, time: dt.time, weekday: int) -> dict[str, str] | None:
    """The cron fields of a schedule (read in the directory's time zone); None: manual.

    The one answer to "when does this schedule fire": beat's `CrontabSchedule` is built
    from it (`services.update_schedule`) and the plan expands it (`fire_times`).
    """
    minute, hour = str(time.minute), str(time.hour)
    specs: dict[str, dict[str, str] | None] = {
        SyncFrequency.MANUAL: None,
        SyncFrequency.EVERY_15_MINUTES: {"minute": f"{time.minute % 15}-59/15", "hour": "*"},
        SyncFrequency.HOURLY: {"minute": minute, "hour": "*"},
        SyncFrequency.EVERY_3_HOURS: {"minute": minute, "hour": f"{time.hour % 3}-23/3"},
        SyncFrequency.EVERY_6_HOURS: {"minute": minute, "hour": f"{time.hour % 6}-23/6"},
        SyncFrequency.EVERY_12_HOURS: {"minute": minute, "hour": f"{time.hour % 12}-23/12"},
        SyncFrequency.DAILY: {"minute": minute, "hour": hour},
        SyncFrequency.WEEKLY: {"minute": minute, "hour": hour, "day_of_week": str(weekday)},
    }
    return specs[frequency]


@dataclass(frozen=True)
class ConnectorRef:
    id: int
    name: str


@dataclass(frozen=True)
class Schedule:
    frequency: str
    time: dt.time = dt.time(2, 0)
    weekday: int = 0  # cron's numbering: 0 is Sunday
    time_zone: str = "UTC"

    @property
    def scheduled(self) -> bool:
        return self.frequency != SyncFrequency.MANUAL

    def moved_to(self, time: dt.time) -> Schedule:
        return Schedule(self.frequency, time, self.weekday, self.time_zone)


@dataclass(frozen=True)
class DirectoryPlan:
    """What the plan knows of one directory: its connectors in failover order (the list a
    sync would try), its schedule, and how long its sync is expected to take."""

    id: int
    name: str
    connectors: tuple[ConnectorRef, ...]
    schedule: Schedule
    expected: dt.timedelta = DEFAULT_EXPECTED
    # Whether the expected duration comes from finished syncs (else the default).
    measured: bool = False
    summary: str = ""
    url: str = ""

    @property
    def first(self) -> ConnectorRef | None:
        return self.connectors[0] if self.connectors else None

    def position(self, connector: ConnectorRef) -> int | None:
        """1-based place of `connector` in the list, None when not in it."""
        for n, c in enumerate(self.connectors, 1):
            if c.id == connector.id:
                return n
        return None


def fire_times(schedule: Schedule, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """Every time (UTC) in [start, end) the schedule fires, read in its own time zone."""
    spec = crontab_spec(schedule.frequency, schedule.time, schedule.weekday)
    if spec is None:
        return []
    minutes = sorted(crontab_parser(60).parse(spec["minute"]))
    hours = sorted(crontab_parser(24).parse(spec["hour"]))
    weekdays = crontab_parser(7).parse(spec.get("day_of_week", "*"))
    zone = ZoneInfo(schedule.time_zone)
    day = start.astimezone(zone).date() - dt.timedelta(days=1)
    last = end.astimezone(zone).date() + dt.timedelta(days=1)
    found: list[dt.datetime] = []
    while day <= last:
        # Python's Monday is 0, cron's Sunday is 0.
        if (day.weekday() + 1) % 7 in weekdays:
            for h in hours:
                for m in minutes:
                    local = dt.datetime.combine(day, dt.time(h, m), tzinfo=zone)
                    at = local.astimezone(UTC)
                    if start <= at < end:
                        found.append(at)
        day += dt.timedelta(days=1)
    return sorted(set(found))


def runs(plan: DirectoryPlan, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """Start times (UTC) of the plan's runs that are under way at some moment in [start, end)."""
    return fire_times(plan.schedule, start - plan.expected, end)


def horizon(*plans: DirectoryPlan) -> dt.timedelta:
    """How far ahead two schedules are compared: a day, or a week when one is weekly."""
    weekly = any(p.schedule.frequency == SyncFrequency.WEEKLY for p in plans)
    return WEEK if weekly else DAY


def overlaps(
    a: DirectoryPlan, b: DirectoryPlan, now: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    """(a's start, b's start) of each pair of runs that would be under way together."""
    if not (a.schedule.scheduled and b.schedule.scheduled):
        return []
    end = now + horizon(a, b)
    theirs = runs(b, now, end)
    found = []
    for a_start in runs(a, now, end):
        a_end = a_start + a.expected
        for b_start in theirs:
            if a_start < b_start + b.expected and b_start < a_end:
                found.append((a_start, b_start))
    return found


def shared_connectors(a: DirectoryPlan, b: DirectoryPlan) -> list[tuple[str, tuple]]:
    """The source's three cases between two lists, as (kind, connectors both would use).

    Same list in the same order (with fallback) is case B and says all; otherwise the same
    first connector is case A and each connector both fall back to is case C.
    """
    if not (a.connectors and b.connectors):
        return []
    if len(a.connectors) > 1 and a.connectors == b.connectors:
        return [(SAME_ORDER, a.connectors)]
    found: list[tuple[str, tuple]] = []
    if a.first == b.first:
        found.append((SAME_FIRST, (a.first,)))
    theirs = {c.id for c in b.connectors[1:]}
    both = tuple(c for c in a.connectors[1:] if c.id in theirs)
    if both:
        found.append((SAME_FALLBACK, both))
    return found


@dataclass(frozen=True)
class Collision:
    """Two directories that would meet on `connectors` at the same time. The remedies change
    `directory`; `other` stays as it is."""

    kind: str
    directory: DirectoryPlan
    other: DirectoryPlan
    connectors: tuple[ConnectorRef, ...]
    overlaps: tuple[tuple[dt.datetime, dt.datetime], ...]
    remedies: tuple[str, ...] = ()

    @property
    def letter(self) -> str:
        return KIND_LETTERS[self.kind]

    @property
    def first_overlap(self) -> dt.datetime:
        return min(min(pair) for pair in self.overlaps)

    @property
    def connector_names(self) -> str:
        return ", ".join(c.name for c in self.connectors)

    @property
    def reason(self) -> str:
        names = self.connector_names
        if self.kind == SAME_ORDER:
            return f"the same connectors in the same failover order ({names})"
        if self.kind == SAME_FIRST:
            return f"the same first connector ({names})"
        return f"lists that both fall back to {names}"


def _minutes(delta: dt.timedelta) -> int:
    return max(1, round(delta.total_seconds() / 60))


def _hhmm(time: dt.time) -> str:
    return time.strftime("%H:%M")


def _took(plan: DirectoryPlan) -> str:
    n = _minutes(plan.expected)
    if plan.measured:
        return f"its last syncs took about {n} minute{'s' if n != 1 else ''}"
    return f"no finished sync yet, so about {n} minutes is assumed"


def _move_words(schedule: Schedule, new: dt.time) -> str:
    """ "daily sync from 02:00 to 03:00", in the schedule's own terms."""
    freq, old = schedule.frequency, schedule.time
    if freq == SyncFrequency.DAILY:
        return f"daily sync from {_hhmm(old)} to {_hhmm(new)}"
    if freq == SyncFrequency.WEEKLY:
        from directories.choices import Weekday

        return f"{Weekday(schedule.weekday).label} sync from {_hhmm(old)} to {_hhmm(new)}"
    if freq == SyncFrequency.HOURLY:
        return f"hourly sync from :{old.minute:02d} to :{new.minute:02d} past the hour"
    if freq == SyncFrequency.EVERY_15_MINUTES:
        return (
            f"every-15-minutes sync from :{old.minute % 15:02d} to :{new.minute % 15:02d} "
            "(and every 15 minutes after)"
        )
    hours = {"3h": 3, "6h": 6, "12h": 12}[freq]
    a, b = dt.time(old.hour % hours, old.minute), dt.time(new.hour % hours, new.minute)
    return f"every-{hours}-hours sync from {_hhmm(a)} to {_hhmm(b)} (and every {hours} hours after)"


def _candidate_times(schedule: Schedule) -> Iterable[dt.time]:
    """Later sync times for the same frequency, nearest first (one period round)."""
    freq = schedule.frequency
    if freq == SyncFrequency.EVERY_15_MINUTES:
        step, period = 5, 15
    elif freq == SyncFrequency.HOURLY:
        step, period = 5, 60
    else:
        hours = {"3h": 3, "6h": 6, "12h": 12}.get(freq, 24)
        step, period = 15, hours * 60
    base = schedule.time.hour * 60 + schedule.time.minute
    for k in range(1, period // step):
        total = (base + k * step) % (24 * 60)
        yield dt.time(total // 60, total % 60)


def free_time(
    plan: DirectoryPlan, plans: Sequence[DirectoryPlan], now: dt.datetime
) -> dt.time | None:
    """The nearest later sync time at which `plan` meets no directory on a shared connector."""
    neighbours = [p for p in plans if p.id != plan.id and shared_connectors(plan, p)]
    for time in _candidate_times(plan.schedule):
        moved = DirectoryPlan(
            plan.id, plan.name, plan.connectors, plan.schedule.moved_to(time), plan.expected
        )
        if not any(overlaps(moved, p, now) for p in neighbours):
            return time
    return None


def remedies(
    kind: str,
    directory: DirectoryPlan,
    other: DirectoryPlan,
    shared: Sequence[ConnectorRef],
    plans: Sequence[DirectoryPlan],
    connectors: Sequence[ConnectorRef],
    now: dt.datetime,
) -> tuple[str, ...]:
    """The source's three remedies, made concrete for `directory` against `other`:
    a different time, a different failover order, a different set of connectors."""
    found = []
    name = directory.name
    time = free_time(directory, plans, now)
    schedule = directory.schedule
    if time is not None:
        found.append(
            f"Move {name}'s {_move_words(schedule, time)} "
            f"({schedule.time_zone}; {_took(directory)})."
        )
    else:
        found.append(
            f"No other time of this frequency keeps {name} apart from the directories it "
            f"shares connectors with ({_took(directory)}): change the order or the connectors."
        )
    avoid = {c.id for c in other.connectors}
    if kind == SAME_FALLBACK:
        target = shared[0]
        found.append(
            f"Put {target.name} first for {name}, so that {name} and {other.name} do not "
            f"fall back to the same connector."
        )
    else:
        mine = [c for c in directory.connectors if c.id != other.first.id] if other.first else []
        if mine:
            found.append(f"Put {mine[0].name} first for {name}.")
        else:
            spare = [c for c in connectors if c.id not in avoid]
            if spare:
                found.append(
                    f"Add {spare[0].name} to {name}'s Sync Connectors list and put it first."
                )
    mine_ids = {c.id for c in directory.connectors}
    unused = [c for c in connectors if c.id not in avoid and c.id not in mine_ids]
    spare = unused or [c for c in connectors if c.id not in avoid]
    if spare:
        found.append(
            f"Use {spare[0].name} for {name} instead of {', '.join(c.name for c in shared)}."
        )
    else:
        found.append(
            f"Every connector is in {other.name}'s list: add a connector for {name} to use."
        )
    return tuple(found)


def find_collisions(
    plans: Sequence[DirectoryPlan],
    now: dt.datetime,
    connectors: Sequence[ConnectorRef] = (),
    subject: int | None = None,
) -> list[Collision]:
    """Every flagged pair; with `subject`, only its pairs, each turned so its remedies change
    the subject. Without, the pair's second directory by name is the one to change."""
    found = []
    ordered = sorted(plans, key=lambda p: p.name)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if subject is not None and subject not in (a.id, b.id):
                continue
            directory, other = (a, b) if subject == a.id else (b, a)
            kinds = shared_connectors(directory, other)
            if not kinds:
                continue
            pairs = overlaps(directory, other, now)
            if not pairs:
                continue
            for kind, shared in kinds:
                found.append(
                    Collision(
                        kind=kind,
                        directory=directory,
                        other=other,
                        connectors=shared,
                        overlaps=tuple(pairs),
                        remedies=remedies(kind, directory, other, shared, plans, connectors, now),
                    )
                )
    return found


def expected_duration(durations: Iterable[dt.timedelta]) -> tuple[dt.timedelta, bool]:
    """The median of a directory's last sync durations, and whether there were any."""
    values = [d for d in durations if d is not None]
    if not values:
        return DEFAULT_EXPECTED, False
    return dt.timedelta(seconds=statistics.median(d.total_seconds() for d in values)), True


# The timeline of the Sync plan page -------------------------------------------------------


@dataclass
class Bar:
    x: float
    y: float
    width: float
    title: str
    fallback: bool
    colliding: bool
    letters: str = ""

    height: float = 12

    @property
    def letter_x(self) -> float:
        """Where the case letter goes: just right of the bar."""
        return round(self.x + self.width + 2, 1)

    @property
    def letter_y(self) -> float:
        return self.y + self.height - 2


@dataclass
class TimelineRow:
    connector: ConnectorRef
    y: float
    height: float
    bars: list[Bar] = field(default_factory=list)

    @property
    def label_y(self) -> float:
        return self.y + self.height / 2 + 4

    @property
    def bottom(self) -> float:
        return self.y + self.height


@dataclass
class Timeline:
    width: int
    height: int
    left: int
    rows: list[TimelineRow]
    ticks: list[tuple[float, str]]
    summary: str
    time_zone: str


TOP = 24
LANE = 16  # each directory on a connector has its own lane, so runs at one time stay apart
ROW_PADDING = 6


def timeline(
    plans: Sequence[DirectoryPlan],
    collisions: Sequence[Collision],
    connectors: Sequence[ConnectorRef],
    start: dt.datetime,
    zone: dt.tzinfo,
    hours: int = 24,
    width: int = 960,
    left: int = 170,
) -> Timeline:
    """One row per connector, one bar per expected run from `start` (a whole hour in the
    admin's zone) for `hours`; bars that are part of a flagged collision are marked."""
    end = start + dt.timedelta(hours=hours)
    span = (end - start).total_seconds()
    scale = (width - left - 24) / span  # room on the right for the last hour's label
    marked: dict[tuple[int, int, dt.datetime], set[str]] = {}
    for c in collisions:
        for d_start, o_start in c.overlaps:
            for connector in c.connectors:
                marked.setdefault((c.directory.id, connector.id, d_start), set()).add(c.letter)
                marked.setdefault((c.other.id, connector.id, o_start), set()).add(c.letter)
    rows = []
    y = float(TOP)
    for connector in connectors:
        users = [p for p in plans if p.position(connector) is not None]
        row = TimelineRow(connector, y, max(1, len(users)) * LANE + 2 * ROW_PADDING)
        y = row.bottom
        for lane, plan in enumerate(users):
            position = plan.position(connector) or 0
            role = "first choice" if position == 1 else f"fallback (position {position})"
            for at in runs(plan, start, end):
                begin = max(at, start)
                finish = min(at + plan.expected, end)
                letters = "".join(sorted(marked.get((plan.id, connector.id, at), ())))
                local = at.astimezone(zone)
                title = (
                    f"{plan.name}: {local:%H:%M}–{(at + plan.expected).astimezone(zone):%H:%M}, "
                    f"{connector.name} is its {role}"
                )
                if letters:
                    title += f"; collides (case {', '.join(letters)})"
                row.bars.append(
                    Bar(
                        x=round(left + (begin - start).total_seconds() * scale, 1),
                        y=row.y + ROW_PADDING + lane * LANE + 2,
                        width=round(max(3.0, (finish - begin).total_seconds() * scale), 1),
                        title=title,
                        fallback=position != 1,
                        colliding=bool(letters),
                        letters=letters,
                    )
                )
        rows.append(row)
    ticks = []
    for h in range(0, hours + 1, 3):
        at = start + dt.timedelta(hours=h)
        ticks.append((round(left + h * 3600 * scale, 1), f"{at.astimezone(zone):%H:%M}"))
    bars = sum(len(r.bars) for r in rows)
    colliding = sum(1 for r in rows for b in r.bars if b.colliding)
    zone_name = str(zone)
    summary = (
        f"Sync timeline of the next {hours} hours from {start.astimezone(zone):%H:%M} "
        f"({zone_name}): {len(rows)} connector{'s' if len(rows) != 1 else ''}, {bars} expected "
        f"run{'s' if bars != 1 else ''}, {colliding} of them in a collision."
    )
    return Timeline(
        width=width,
        height=int(y) + 4,
        left=left,
        rows=rows,
        ticks=ticks,
        summary=summary,
        time_zone=zone_name,
    )


# Reading the database ----------------------------------------------------------------------


def load_plans(staged: dict[int, list] | None = None) -> list[DirectoryPlan]:
    """Every directory as plain data. `staged` maps a directory id to an unsaved Sync
    Connectors list (connector rows) that the plan uses instead of the saved one."""
    from directories import failover
    from directories.models import Directory
    from synclog.choices import RunStatus
    from synclog.queries import syncs

    feature = failover.sync_connectors_feature()
    plans = []
    for directory in Directory.objects.select_related("sync_connector").order_by("name"):
        if staged is not None and directory.pk in staged:
            listed = staged[directory.pk] if feature.available else []
            chosen = listed or [failover.connector_without_list(directory)]
        else:
            chosen, _ = failover.effective_sync_connectors(directory)
        durations = [
            finished - started
            for started, finished in syncs()
            .filter(directory=directory, status=RunStatus.COMPLETED)
            .exclude(started_at=None)
            .exclude(finished_at=None)
            .order_by("-created", "-id")
            .values_list("started_at", "finished_at")[:DURATION_SAMPLE]
            if started is not None and finished is not None
        ]
        expected, measured = expected_duration(durations)
        plans.append(
            DirectoryPlan(
                id=directory.pk,
                name=directory.name,
                connectors=tuple(ConnectorRef(c.pk, c.name) for c in chosen),
                schedule=Schedule(
                    directory.sync_frequency,
                    as_time(directory.sync_time),
                    int(directory.sync_weekday),
                    directory.sync_time_zone or "UTC",
                ),
                expected=expected,
                measured=measured,
                summary=directory.schedule_summary,
                url=directory.get_absolute_url(),
            )
        )
    return plans


def as_time(value: dt.time | str) -> dt.time:
    return value if isinstance(value, dt.time) else dt.time.fromisoformat(str(value))


def all_connectors() -> list[ConnectorRef]:
    from connectors.models import Connector

    return [ConnectorRef(pk, name) for pk, name in Connector.objects.values_list("pk", "name")]


def collisions_for(
    directory, staged: list | None = None, now: dt.datetime | None = None
) -> list[Collision]:
    """The flagged pairs of one directory, its remedies changing it; `staged` is its unsaved
    Sync Connectors list (the tab's working list), if any."""
    from django.utils import timezone

    plans = load_plans({directory.pk: staged} if staged is not None else None)
    return find_collisions(plans, now or timezone.now(), all_connectors(), subject=directory.pk)


@dataclass
class ConnectorUse:
    """One row of the Sync plan table: a directory that can use a connector."""

    plan: DirectoryPlan
    position: int
    collisions: list[Collision]


@dataclass
class SyncPlan:
    plans: list[DirectoryPlan]
    collisions: list[Collision]
    uses: list[tuple[ConnectorRef, list[ConnectorUse]]]
    timeline: Timeline


def sync_plan(now: dt.datetime | None = None, zone: dt.tzinfo | None = None) -> SyncPlan:
    """Everything the Sync plan page shows, for the next 24 hours in `zone`."""
    from django.utils import timezone

    now = now or timezone.now()
    zone = zone or timezone.get_current_timezone()
    plans = load_plans()
    connectors = sorted(all_connectors(), key=lambda c: c.name)
    # The timeline starts at the top of the hour; collisions are looked for from there
    # too, so a run drawn in the hour already begun is marked as the collision it is
    # part of (looked for from now, only its next day's run was, past the timeline).
    start = now.astimezone(zone).replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    collisions = find_collisions(plans, start, connectors)
    uses = []
    for connector in connectors:
        rows = []
        for plan in plans:
            position = plan.position(connector)
            if position is None:
                continue
            mine = [
                c
                for c in collisions
                if plan.id in (c.directory.id, c.other.id)
                and any(x.id == connector.id for x in c.connectors)
            ]
            rows.append(ConnectorUse(plan, position, mine))
        uses.append((connector, sorted(rows, key=lambda u: (u.position, u.plan.name))))
    return SyncPlan(
        plans=plans,
        collisions=collisions,
        uses=uses,
        timeline=timeline(plans, collisions, connectors, start, zone),
    )
