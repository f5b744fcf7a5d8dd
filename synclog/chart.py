"""The Sync Log chart of a directory's last runs: geometry for a server-drawn SVG, no DB."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from console.templatetags.console_tags import duration as duration_text
from synclog.choices import ACTIVE_STATUSES, RunStatus

MAX_RUNS = 30

# The drawing's own coordinates (viewBox); CSS scales it to the page.
WIDTH, HEIGHT = 640, 230
LEFT, RIGHT, TOP, BOTTOM = 60, 60, 16, 176
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, BOTTOM - TOP
SLOT = PLOT_WIDTH / MAX_RUNS
BAR_WIDTH = SLOT * 0.6
# A run that took no measurable time still gets a sliver one can see and point at.
MIN_BAR_HEIGHT = 2.0

# Failures are told apart by a letter under the bar as well as by colour.
MARKS = {RunStatus.FAILED: "F", RunStatus.SAFEGUARD: "S"}

_UNITS = (("s", 1, 120), ("min", 60, 7_200), ("h", 3_600, math.inf))


class _Run(Protocol):
    pk: int
    status: str

    def get_absolute_url(self) -> str: ...


@dataclass(frozen=True)
class ChartRun:
    """What the chart needs of one finished run."""

    number: int
    status: str
    seconds: float
    changes: int
    url: str

    @classmethod
    def from_run(cls, run: _Run) -> ChartRun:
        started, finished = getattr(run, "started_at", None), getattr(run, "finished_at", None)
        seconds = (finished - started).total_seconds() if started and finished else 0.0
        changes = sum(
            getattr(run, f"{kind}_{action}")
            for kind in ("users", "groups")
            for action in ("added", "updated", "deleted")
        )
        return cls(run.pk, run.status, max(seconds, 0.0), changes, run.get_absolute_url())


@dataclass(frozen=True)
class Bar:
    run: ChartRun
    x: float
    y: float
    width: float
    height: float
    centre: float
    change_y: float
    slot_x: float
    mark: str
    title: str

    @property
    def css(self) -> str:
        return f"run-chart-bar bar-{self.run.status}"


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class RunChart:
    bars: list[Bar]
    duration_ticks: list[Tick]
    duration_unit: str
    change_ticks: list[Tick]
    summary: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: float = WIDTH - RIGHT
    top: int = TOP
    bottom: int = BOTTOM
    slot: float = SLOT
    plot_height: int = PLOT_HEIGHT

    @property
    def change_line(self) -> str:
        """The `points` of the polyline through the change dots, oldest first."""
        return " ".join(f"{b.centre},{b.change_y}" for b in self.bars)

    @property
    def first_number(self) -> int:
        return self.bars[0].run.number

    @property
    def last_number(self) -> int:
        return self.bars[-1].run.number

    @property
    def middle(self) -> float:
        return (self.left + self.right) / 2

    @property
    def last_centre(self) -> float:
        return self.bars[-1].centre


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10ⁿ at least `value` (1 for nothing), an axis's top."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value * (1 - 1e-9):
            return float(step * power)
    return 10.0 * power  # pragma: no cover - the loop ends at 10


def _label(value: float) -> str:
    return f"{value:g}"


def _ticks(top: float, integers: bool = False) -> list[Tick]:
    values = [0.0, top / 2, top]
    if integers:
        values = [v for v in values if v == int(v)]
    return [Tick(round(BOTTOM - v / top * PLOT_HEIGHT, 2), _label(v)) for v in values]


def run_chart(runs: Iterable[ChartRun], subject: str = "") -> RunChart | None:
    """The chart of the newest `MAX_RUNS` finished runs in `runs` (given newest first, as
    the Sync Log lists them), drawn oldest on the left and newest at the right edge; None
    when there is none.

    Queued and running runs are left out: their duration is not known yet.
    """
    finished = [r for r in runs if r.status not in ACTIVE_STATUSES][:MAX_RUNS]
    if not finished:
        return None
    finished.reverse()
    # The newest run sits at the right edge whatever the count, like the end of a timeline.
    first_slot = MAX_RUNS - len(finished)
    longest = max(r.seconds for r in finished)
    unit, factor, _ = next(u for u in _UNITS if longest < u[2])
    duration_top = nice_ceiling(longest / factor)
    change_top = nice_ceiling(max(r.changes for r in finished))

    bars = []
    for i, run in enumerate(finished):
        height = max(run.seconds / factor / duration_top * PLOT_HEIGHT, MIN_BAR_HEIGHT)
        slot_x = LEFT + (first_slot + i) * SLOT
        centre = slot_x + SLOT / 2
        status = RunStatus(run.status).label
        took = duration_text(timedelta(seconds=run.seconds))
        changes = f"{run.changes} change{'' if run.changes == 1 else 's'}"
        bars.append(
            Bar(
                run=run,
                x=round(centre - BAR_WIDTH / 2, 2),
                y=round(BOTTOM - height, 2),
                width=round(BAR_WIDTH, 2),
                height=round(height, 2),
                centre=round(centre, 2),
                change_y=round(BOTTOM - run.changes / change_top * PLOT_HEIGHT, 2),
                slot_x=round(slot_x, 2),
                mark=MARKS.get(RunStatus(run.status), ""),
                title=f"Run #{run.number} · {status} · {took} · {changes}",
            )
        )
    return RunChart(
        bars=bars,
        duration_ticks=_ticks(duration_top),
        duration_unit=unit,
        change_ticks=_ticks(change_top, integers=True),
        summary=_summary(finished, subject),
    )


def _summary(runs: list[ChartRun], subject: str) -> str:
    counts = Counter(r.status for r in runs)
    parts = [
        f"{counts[status]} {label.lower()}" for status, label in RunStatus.choices if counts[status]
    ]
    longest = max(runs, key=lambda r: r.seconds)
    busiest = max(runs, key=lambda r: r.changes)
    whose = f" of {subject}" if subject else ""
    return (
        f"Duration and changes of the last {len(runs)} finished sync{'s' if len(runs) != 1 else ''}"
        f"{whose}, oldest first: {', '.join(parts)}. "
        f"Longest {duration_text(timedelta(seconds=longest.seconds))} (run #{longest.number}); "
        f"most changes {busiest.changes} (run #{busiest.number})."
    )
