"""`make mutation` only: which of a mutant's tests run first, and a stop for a hung test.

mutmut runs a mutant's tests with `-x`, so a caught mutant costs what runs before the
first failing test, and a missed one costs all of them. Two things decide that cost:

* **Order.** The tests that already caught another mutant of the same function run
  first (mutmut runs a function's mutants one after another, and most of them are caught
  by the same test), then the rest cheapest first. A test's cost is what the first,
  unmutated run (mutmut's "stats" run) measured for it whole: setup, call and teardown,
  so a test that starts a server or flushes the database is not taken for a quick one.
  This order replaces pytest-django's grouping by kind of test, which only Django's
  data migrations need (the mutation run has none: `--nomigrations`).
* **A hung test.** mutmut stops a mutant after six times the measured time of all its
  tests; each phase of a test here gets ten times its own measured time plus a few
  seconds, and a test that runs past that fails, which catches the mutant (a mutant that
  makes a test ten times slower is caught, as by mutmut's own timeout).
"""

from __future__ import annotations

import json
import os
import signal
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from mutmut.utils.format_utils import mangled_name_from_mutant_name

# All written in mutmut's working directory (`mutants/`), which `make mutation` clears.
COSTS = Path("mutation-test-costs.json")
KILLERS = Path("mutation-killers")
HUNG = Path("mutation-hung")

HANG_FACTOR = 10
HANG_GRACE_S = {"setup": 10.0, "call": 4.0, "teardown": 4.0}


class TestHung(Exception):
    """A test ran far past its measured time under a mutant."""


def _mutant() -> str:
    return os.environ.get("MUTANT_UNDER_TEST", "")


def _running_a_mutant() -> bool:
    return "__mutmut_" in _mutant()


_measured: dict[str, dict[str, float]] = defaultdict(dict)
_costs: dict[str, dict[str, float]] = {}


def _load_costs() -> dict[str, dict[str, float]]:
    if not _costs:
        try:
            _costs.update(json.loads(COSTS.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            pass
    return _costs


def _total(phases: dict[str, float] | None) -> float:
    return sum(phases.values()) if phases else float("inf")


def _killers(function: str) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    try:
        lines = (KILLERS / function).read_text(encoding="utf-8").splitlines()
    except OSError:
        return counts
    for line in lines:
        counts[line.partition("\t")[0]] += 1
    return counts


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not _running_a_mutant():
        return
    costs = _load_costs()
    killers = _killers(mangled_name_from_mutant_name(_mutant()))

    def key(item: pytest.Item) -> tuple[bool, float]:
        cost = _total(costs.get(item.nodeid))
        if item.nodeid in killers:
            return (False, cost / killers[item.nodeid])
        return (True, cost)

    items.sort(key=key)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    mutant = _mutant()
    if mutant == "stats":
        _measured[report.nodeid][report.when] = report.duration
    elif _running_a_mutant() and report.failed:
        KILLERS.mkdir(exist_ok=True)
        # The mutant too: a mutant a rule calls equivalent yet caught can be traced to
        # the test that failed on it.
        _append(KILLERS / mangled_name_from_mutant_name(mutant), f"{report.nodeid}\t{mutant}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _mutant() != "stats" or not _measured:
        return
    # A later stats run (the PostgreSQL pass) measures some tests again: merge.
    costs = dict(_load_costs())
    costs.update(_measured)
    partial = COSTS.with_suffix(f".{os.getpid()}.partial")
    partial.write_text(json.dumps(costs), encoding="utf-8")
    os.replace(partial, COSTS)


def _raise_hung(signum: int, frame: Any) -> None:
    _append(HUNG, _mutant())
    raise TestHung("ran more than ten times its measured time under this mutant")


def _append(path: Path, line: str) -> None:
    # One short line with O_APPEND: the mutants running at once never interleave.
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(descriptor, f"{line}\n".encode())
    finally:
        os.close(descriptor)


def _limited(when: str):
    @pytest.hookimpl(hookwrapper=True)
    def hook(item: pytest.Item) -> Any:
        measured = _load_costs().get(item.nodeid, {}) if _running_a_mutant() else None
        if measured is None or when not in measured:
            yield
            return
        previous = signal.signal(signal.SIGALRM, _raise_hung)
        signal.setitimer(signal.ITIMER_REAL, HANG_FACTOR * measured[when] + HANG_GRACE_S[when])
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    return hook


pytest_runtest_setup = _limited("setup")
pytest_runtest_call = _limited("call")
pytest_runtest_teardown = _limited("teardown")
