"""Mutation scores per area from mutmut's results: one `mutation_score_<area>=<percent>` line each.

`-v` lists the missed mutants; `--survivors AREA...` prints only their names.

An area is a set of functions whose mistakes cost data. A mutant counts as caught when a
test failed on it (or it hung past the timeout); it is missed when every test passed or
no fast test reaches its function.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

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


def main() -> int:
    out = subprocess.run(
        [str(ROOT / ".venv/bin/mutmut"), "results", "--all", "true"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    counts: dict[str, Counter] = defaultdict(Counter)
    missed: dict[str, list[str]] = defaultdict(list)
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        area = area_of(name)
        if area is None or (status not in CAUGHT and status not in MISSED):
            continue
        counts[area]["caught" if status in CAUGHT else "missed"] += 1
        if status in MISSED:
            missed[area].append(f"{name} ({status})")
    if "--survivors" in sys.argv:
        # Names only, for a second `mutmut run` of those mutants (e.g. on PostgreSQL).
        wanted = sys.argv[sys.argv.index("--survivors") + 1 :] or ORDER
        for area in wanted:
            for name in missed[area]:
                print(name.split(" ")[0])
        return 0
    if "-v" in sys.argv:
        for area in ORDER:
            for name in missed[area]:
                print(f"# missed in {area}: {name}")
    for area in ORDER:
        total = counts[area]["caught"] + counts[area]["missed"]
        score = 100.0 * counts[area]["caught"] / total if total else 0.0
        print(f"# {area}: {counts[area]['caught']} of {total} mutants caught")
        print(f"mutation_score_{area}={score:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
