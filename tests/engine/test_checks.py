"""The system check that names an SQLite too old for the sync engine."""

from __future__ import annotations

from django.core import checks

from directories.checks import SQLITE_MINIMUM, sqlite_errors

SQLITE = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "x"}}
POSTGRESQL = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "x"}}


def test_an_sqlite_older_than_the_engine_needs_is_an_error():
    (error,) = sqlite_errors(SQLITE, (3, 34, 1))
    assert error.id == "directories.E001"
    assert "SQLite 3.34.1 is older than 3.35" in error.msg
    assert sqlite_errors(SQLITE, SQLITE_MINIMUM) == []
    assert sqlite_errors(SQLITE, (*SQLITE_MINIMUM, 0)) == []
    assert sqlite_errors({**POSTGRESQL, "other": SQLITE["default"]}, (3, 20, 0)) != []


def test_postgresql_alone_is_not_asked_about_sqlite():
    assert sqlite_errors(POSTGRESQL, (3, 20, 0)) == []


def test_this_machine_passes_the_check():
    assert [m.id for m in checks.run_checks() if (m.id or "").startswith("directories.")] == []
