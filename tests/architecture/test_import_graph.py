"""The apps import one way (protocol <- connectors <- synclog <- directories) and in no circle."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_tool():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "tools/import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_apps_import_one_way_and_in_no_circle():
    tool = load_tool()
    edges = tool.graph()
    # The graph was read: the engine's own modules and their imports are in it.
    assert "synclog.lifecycle" in edges["directories.sync.runner"]
    assert tool.violations(edges) == []


def test_a_backward_import_or_a_circle_is_reported():
    tool = load_tool()
    edges = tool.graph()
    edges["connectors.models"] = edges["connectors.models"] | {"directories.models"}
    edges["directories.tasks"] = edges["directories.tasks"] | {"directories.services"}
    edges["directories.services"] = edges["directories.services"] | {"directories.tasks"}
    problems = tool.violations(edges)
    assert (
        "backward import: connectors.models (connectors) imports directories.models (directories)"
        in problems
    )
    assert "import circle: directories.services <-> directories.tasks" in problems


def test_imports_inside_functions_count():
    tool = load_tool()
    edges = tool.graph()
    # directories.tasks imports the runner inside its task body.
    assert "directories.sync.runner" in edges["directories.tasks"]


def test_the_agent_and_the_protocol_import_nothing_of_the_service():
    tool = load_tool()
    for module, targets in tool.graph().items():
        if module.startswith(("connectors.agent", "connectors.protocol")):
            outside = {
                t for t in targets if not t.startswith(("connectors.agent", "connectors.protocol"))
            }
            assert outside == set(), module
