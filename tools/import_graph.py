"""The project's import graph between its apps, read from the source with `ast`.

Every import counts, including those inside functions (they hide a circle, they do not
remove it). Prints one `a -> b` line per dependency between layers and exits 1 when an
import goes against the allowed direction or the modules import each other in a circle.

    python tools/import_graph.py          # the layer graph, then any violation
    python tools/import_graph.py --modules  # every module-to-module edge too
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Layers from the bottom up: a layer may import only layers listed before it. The agent and
# the protocol are Django-free and import nothing of the service.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("protocol", ("connectors.protocol",)),
    ("agent", ("connectors.agent",)),
    (
        "console.core",
        (
            "console.models",
            "console.fields",
            "console.permissions",
            "console.forms",
            "console.context_processors",
            "console.templatetags",
            "console.celery",
            "console.apps",
            "console.settings",
            "console",
        ),
    ),
    ("apitokens", ("apitokens",)),
    ("connectors", ("connectors",)),
    ("synclog", ("synclog",)),
    ("directories", ("directories",)),
    ("ops", ("ops",)),
    ("vidm", ("vidm",)),
    (
        "composition",
        (
            "console.urls",
            "console.api_urls",
            "console.views",
            "console.management",
            "console.wsgi",
            "testbed",
        ),
    ),
]
ALLOWED: dict[str, set[str]] = {
    "protocol": set(),
    "agent": {"protocol"},
    "console.core": set(),
    "apitokens": {"console.core"},
    "connectors": {"protocol", "console.core"},
    "synclog": {"protocol", "console.core", "connectors"},
    "directories": {"protocol", "console.core", "connectors", "synclog"},
    "ops": {"console.core", "connectors", "synclog", "directories"},
    "vidm": {"console.core", "apitokens", "connectors", "synclog", "directories"},
    "composition": {
        "protocol",
        "agent",
        "console.core",
        "apitokens",
        "connectors",
        "directories",
        "synclog",
        "ops",
        "vidm",
    },
}
PACKAGES = (
    "apitokens",
    "connectors",
    "directories",
    "synclog",
    "ops",
    "vidm",
    "console",
    "testbed",
)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def layer_of(module: str) -> str | None:
    best, length = None, -1
    for name, prefixes in LAYERS:
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > length:
                best, length = name, len(prefix)
    return best


def imports_of(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            # The longest known module the name starts with (a `from x import func` names x).
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
    return targets


def graph() -> dict[str, set[str]]:
    known = modules()
    return {module: imports_of(module, path, known) for module, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def violations(edges: dict[str, set[str]]) -> list[str]:
    problems = []
    for source, targets in sorted(edges.items()):
        for target in sorted(targets):
            a, b = layer_of(source), layer_of(target)
            if a != b and b not in ALLOWED[a]:
                problems.append(f"backward import: {source} ({a}) imports {target} ({b})")
    for component in cycles(edges):
        problems.append("import circle: " + " <-> ".join(component))
    return problems


def main() -> int:
    edges = graph()
    layered: dict[str, set[str]] = defaultdict(set)
    for source, targets in edges.items():
        for target in targets:
            if layer_of(source) != layer_of(target):
                layered[layer_of(source)].add(layer_of(target))
    order = [name for name, _ in LAYERS]
    for name in order:
        for target in sorted(layered.get(name, ()), key=order.index):
            print(f"{name} -> {target}")
    if "--modules" in sys.argv:
        for source in sorted(edges):
            for target in sorted(edges[source]):
                print(f"  {source} -> {target}")
    problems = violations(edges)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
