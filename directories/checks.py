"""System checks of what the sync engine needs of its database."""

from __future__ import annotations

import sqlite3

from django.conf import settings
from django.core.checks import Error, register

# SQLite that writes a sync's staged users (`UPDATE ... FROM`, 3.33) and takes back the
# users a read skipped (`DELETE ... RETURNING`, 3.35).
SQLITE_MINIMUM = (3, 35)


@register()
def sqlite_version(app_configs, **kwargs) -> list[Error]:
    return sqlite_errors(settings.DATABASES, sqlite3.sqlite_version_info)


def sqlite_errors(databases: dict, version: tuple) -> list[Error]:
    """An error when one of `databases` is SQLite and its `version` is older than the
    sync engine needs."""
    uses_sqlite = any(db["ENGINE"] == "django.db.backends.sqlite3" for db in databases.values())
    if not uses_sqlite or tuple(version) >= SQLITE_MINIMUM:
        return []
    return [
        Error(
            f"SQLite {'.'.join(map(str, version))} is older than "
            f"{'.'.join(map(str, SQLITE_MINIMUM))}, "
            "which syncs need (UPDATE ... FROM, DELETE ... RETURNING).",
            hint="Install a newer SQLite (Debian 12 has 3.40) or use PostgreSQL (DATABASE_URL).",
            id="directories.E001",
        )
    ]
