"""`make mutation` runs the tests inside mutmut's copy of the project: every package of the
project that Django or the tests import must be copied there, or every mutant's tests fail
to start and count as caught."""

from __future__ import annotations

import tomllib
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_installed_app_of_the_project_is_copied_for_mutation_testing():
    mutmut = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]
    copied = set(mutmut["source_paths"]) | set(mutmut.get("also_copy", []))
    packages = {app.split(".")[0] for app in settings.INSTALLED_APPS}
    project_packages = {name for name in packages if (ROOT / name / "__init__.py").exists()}
    assert "directories" in project_packages
    assert project_packages <= copied, sorted(project_packages - copied)
