"""Mutation scores per area from mutmut's results: one `mutation_score_<area>=<percent>` line each.

`-v` lists the missed mutants, each with the reason it is equivalent to the original
(`tools/mutation_equivalents.py`) or as not explained; `--markdown` writes that list as
Markdown; `--survivors AREA...` prints only the missed mutants' names.

An area is a set of functions whose mistakes cost data. A mutant counts as caught when a
test failed on it (or it hung past the timeout); it is missed when every test passed or
no fast test reaches its function.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from fnmatch import fnmatchcase
from pathlib import Path

from mutation_equivalents import RULES, Rule

ROOT = Path(__file__).resolve().parents[1]

FETCHING = {"fetch", "_open_stream", "probe", "_confirm_unresolved", "request_body"}
FETCHING |= {"test_connection"}
# (area, module, functions or None for the whole module); the first match wins.
AREAS = [
    ("dn", "connectors.protocol.dn", None),
    ("agent_ldap", "connectors.agent.ldapsource", None),
    ("agent_ldap", "connectors.agent.request", None),
    ("agent_ldap", "connectors.agent.vendors.openldap", None),
    ("agent_ldap", "connectors.agent.vendors.active_directory", None),
    ("agent_ldap", "connectors.protocol.records", None),
    ("agent_ldap", "connectors.protocol.changes", None),
    (
        "safeguards",
        "directories.sync.plan",
        {
            "_check_safeguard",
            "_check_zero_result",
            "safeguard_violations",
            "group_member_counts",
            "_counted",
            "_respelled",
        },
    ),
    ("plan", "directories.sync.plan", None),
    ("writer", "directories.sync.writer", None),
    ("writer", "directories.sync.bulk", None),
    ("writer", "directories.sync.report", None),
    ("plan", "directories.sync.members", None),
    ("plan", "directories.sync.incremental", None),
    ("failover", "directories.sync.fetch", FETCHING),
    ("plan", "directories.sync.fetch", None),
    ("failover", "directories.sync.runner", None),
    ("leases", "synclog.lifecycle", None),
]
ORDER = ["dn", "plan", "writer", "failover", "leases", "safeguards", "agent_ldap"]
CAUGHT = {"killed", "timeout", "caught by type check", "segfault"}
MISSED = {"survived", "no tests", "suspicious"}
NAME = re.compile(r"^(?P<module>[\w.]+?)\.x(?:ǁ(?P<cls>\w+)ǁ|_)(?P<func>\w+?)__mutmut_\d+$")


def area_of(mutant: str) -> str | None:
    match = NAME.match(mutant)
    if match is None:
        return None
    module, func = match["module"], match["func"]
    for area, area_module, functions in AREAS:
        if module == area_module and (functions is None or func in functions):
            return area
    return None


def function_of(mutant: str) -> str:
    """`module.Class.function` (the module without its package), as the rules name it."""
    match = NAME.match(mutant)
    assert match is not None, mutant
    parts = [match["module"].rpartition(".")[2], match["cls"], match["func"]]
    return ".".join(part for part in parts if part)


def edit_of(mutant: str) -> tuple[str, str]:
    """The original's changed lines and the mutant's, each joined and stripped."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    match = NAME.match(mutant)
    assert match is not None, mutant
    path = match["module"].replace(".", "/") + ".py"
    removed, added = [], []
    for line in get_diff_for_mutant(mutant, path=path).splitlines():
        if line.startswith("-") and not line.startswith("---"):
            removed.append(line[1:].strip())
        elif line.startswith("+") and not line.startswith("+++"):
            added.append(line[1:].strip())
    return "\n".join(removed), "\n".join(added)


def rule_for(mutant: str) -> Rule | None:
    function = function_of(mutant)
    candidates = [rule for rule in RULES if fnmatchcase(function, rule.where)]
    if not candidates:
        return None
    removed, added = edit_of(mutant)
    return next((rule for rule in candidates if rule.matches(function, removed, added)), None)


def markdown(missed: dict[str, list[str]]) -> str:
    lines = [
        "# Mutants left alive",
        "",
        "Written by `tools/mutation_scores.py --markdown` after `make mutation`: every mutant",
        "the fast tests leave alive, by area, under the reason no test can tell it from the",
        "original (the rules are `tools/mutation_equivalents.py`). Names as mutmut gives them.",
    ]
    for area in ORDER:
        if not missed[area]:
            continue
        lines += ["", f"## `{area}`", ""]
        grouped: dict[str, list[str]] = defaultdict(list)
        for entry in missed[area]:
            name = entry.split(" ")[0]
            rule = rule_for(name)
            grouped[rule.reason if rule else "**Not explained.**"].append(name)
        for reason, names in grouped.items():
            lines.append(f"- {reason}")
            lines += [f"  - `{name}`" for name in names]
    return "\n".join(lines) + "\n"


def wrong_rules(caught: list[str]) -> list[str]:
    """Caught mutants that a rule calls equivalent: that rule's reason is wrong."""
    return [f"{name}: {rule.reason}" for name in caught if (rule := rule_for(name))]


def main() -> int:
    os.chdir(ROOT)  # mutmut reads its mutants relative to the working directory
    out = subprocess.run(
        [str(ROOT / ".venv/bin/mutmut"), "results", "--all", "true"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    counts: dict[str, Counter] = defaultdict(Counter)
    missed: dict[str, list[str]] = defaultdict(list)
    caught: list[str] = []
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        area = area_of(name)
        if area is None or (status not in CAUGHT and status not in MISSED):
            continue
        counts[area]["caught" if status in CAUGHT else "missed"] += 1
        if status in MISSED:
            missed[area].append(f"{name} ({status})")
        else:
            caught.append(name)
    if "--survivors" in sys.argv:
        # Names only, for a second `mutmut run` of those mutants (e.g. on PostgreSQL).
        wanted = sys.argv[sys.argv.index("--survivors") + 1 :] or ORDER
        for area in wanted:
            for name in missed[area]:
                print(name.split(" ")[0])
        return 0
    if "--markdown" in sys.argv:
        print(markdown(missed), end="")
        return 0
    unexplained: Counter = Counter()
    for area in ORDER:
        for entry in missed[area]:
            rule = rule_for(entry.split(" ")[0])
            unexplained[area] += rule is None
            if "-v" in sys.argv:
                why = f"equivalent: {rule.reason}" if rule else "not explained"
                print(f"# missed in {area}: {entry} {why}")
    for wrong in wrong_rules(caught):
        print(f"# a test caught a mutant a rule calls equivalent: {wrong}")
    for area in ORDER:
        total = counts[area]["caught"] + counts[area]["missed"]
        score = 100.0 * counts[area]["caught"] / total if total else 0.0
        print(
            f"# {area}: {counts[area]['caught']} of {total} mutants caught, "
            f"{len(missed[area]) - unexplained[area]} missed as equivalent, "
            f"{unexplained[area]} missed and not explained"
        )
        print(f"mutation_score_{area}={score:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
