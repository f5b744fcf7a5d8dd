"""The test database made unreachable for a while, for checks that must report it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection

from testbed.slapd import free_port


@contextmanager
def database_unreachable() -> Iterator[None]:
    """The default database's address replaced by one nothing answers at, on a fresh
    connection; the test database itself is untouched and reconnected afterwards."""
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-folder/console.sqlite3"
    else:
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
