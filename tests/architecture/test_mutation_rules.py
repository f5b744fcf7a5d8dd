"""Each rule that calls a kind of mutant equivalent still names code that exists, and a rule
matches only the exact edit it names."""

from __future__ import annotations

import ast
import importlib.util
import sys
import tomllib
from fnmatch import fnmatchcase
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Loaded by path, as tests/architecture/test_import_graph.py loads its tool, so the tools
# folder is not put on sys.path for the whole session.
_spec = importlib.util.spec_from_file_location(
    "mutation_equivalents", ROOT / "tools/mutation_equivalents.py"
)
assert _spec is not None and _spec.loader is not None
equivalents = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = equivalents  # its dataclass looks its module up there
_spec.loader.exec_module(equivalents)
RULES, Rule = equivalents.RULES, equivalents.Rule


def mutated_functions() -> dict[str, str]:
    """`module.Class.function` -> its source lines, stripped, for every mutated module."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    functions: dict[str, str] = {}
    for path in config["tool"]["mutmut"]["only_mutate"]:
        source = (ROOT / path).read_text(encoding="utf-8")
        _collect(ast.parse(source), source.splitlines(), f"{Path(path).stem}.", functions)
    return functions


def _collect(node: ast.AST, lines: list[str], prefix: str, into: dict[str, str]) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef):
            _collect(child, lines, f"{prefix}{child.name}.", into)
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = lines[child.lineno - 1 : child.end_lineno]
            into[f"{prefix}{child.name}"] = "\n".join(line.strip() for line in body)


def test_every_rule_names_a_function_that_holds_the_text_it_replaces():
    functions = mutated_functions()
    assert "ldapsource.DirectorySource.open" in functions  # the code was read
    stale = [
        f"{rule.where}: {rule.before!r}"
        for rule in RULES
        if not any(
            fnmatchcase(name, rule.where) and rule.before in body
            for name, body in functions.items()
        )
    ]
    assert stale == []


def test_a_rule_matches_its_own_edit_and_no_other():
    rule = Rule("ldapsource.DirectorySource.open", "OPT_REFERRALS, 0", "OPT_REFERRALS, None", "")
    original = "conn.set_option(ldap.OPT_REFERRALS, 0)"
    where = "ldapsource.DirectorySource.open"
    assert rule.matches(where, original, "conn.set_option(ldap.OPT_REFERRALS, None)")
    assert not rule.matches(where, original, "conn.set_option(ldap.OPT_REFERRALS, 1)")
    assert not rule.matches(where, original, "conn.set_option(None, 0)")
    elsewhere = "ldapsource.DirectorySource.close"
    assert not rule.matches(elsewhere, original, "conn.set_option(ldap.OPT_REFERRALS, None)")
    # The text replaced once, wherever it stands, and nothing else changed.
    twice = Rule("m.f", "0", "1", "")
    assert twice.matches("m.f", "f(0, 0)", "f(0, 1)")
    assert twice.matches("m.f", "f(0, 0)", "f(1, 0)")
    assert not twice.matches("m.f", "f(0, 0)", "f(1, 1)")
