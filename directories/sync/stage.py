"""The users a read may write, streamed into a temporary table as they arrive.

A full read of a million users used to hold every user it might write with all its
values until the write; staged, the worker holds such a user as its DN and username alone
(what matching members and the username check read), and the store takes the rows from
the stage set-based: `UPDATE ... FROM` the stage for the users it holds, `INSERT ...
SELECT` for the others. A run makes one stage (`runner.execute`), each read it makes
starts it empty (`reset`), and the run drops it at its end whatever happened (`close`).
The table is temporary: it is the worker's database session's alone, and a worker killed
mid-run takes it with its connection, so no run ever leaves staged rows behind.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection

from directories import search
from directories.models import DirectoryUser
from directories.sync import bulk
from directories.sync.columns import USER_COLUMNS

COLUMNS = ("external_id", *USER_COLUMNS, "search_text", "fingerprint")
# With each staged user: whether the store holds it (an update) or not (an addition).
NEW = "is_new"
TABLE = "_sync_stage_users"
# Rows sent to the table at once: a few megabytes held while the read goes on.
BATCH = 5000


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


class UserStage:
    """A temporary table of users (`COLUMNS`) on the worker's database connection."""

    def __init__(self) -> None:
        self._rows: list[tuple] = []
        self._made = False
        self._indexed = False
        # Users staged, by whether they are new to the store.
        self.staged = {True: 0, False: 0}

    def add(self, ext: str, values: Sequence, fp: str, new: bool) -> None:
        """Stage a user: its values in `USER_COLUMNS` order, its fingerprint, and whether
        it is new to the store."""
        self._rows.append((ext, *values, search.user_text_of_values(values), fp, new))
        self.staged[new] += 1
        if len(self._rows) >= BATCH:
            self._flush()

    def reset(self) -> None:
        """Start the stage empty for a new read (a connector tried after another, a read in
        full after an incremental one could not stand). The table is made here, before the
        first user arrives, so a read's staged rows are never anywhere else."""
        self._rows.clear()
        self.staged = {True: 0, False: 0}
        if self._made:
            with connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {_qn(TABLE)}")
        else:
            self._make()

    def values(self, exts: Iterable[str]) -> dict[str, tuple]:
        """The staged values (`USER_COLUMNS` order) of `exts`, each of which is staged."""
        exts = list(exts)
        if not exts:
            return {}
        self._flush()
        self._index()
        cols = ", ".join(_qn(c) for c in ("external_id", *USER_COLUMNS))
        out: dict[str, tuple] = {}
        with connection.cursor() as cursor:
            for where, params in bulk.where_in("external_id", exts):
                cursor.execute(f"SELECT {cols} FROM {_qn(TABLE)} WHERE {where}", params)
                for ext, *values in cursor.fetchall():
                    values[-1] = bool(values[-1])
                    out[ext] = tuple(values)
        missing = len(set(exts)) - len(out)
        if missing:
            raise LookupError(f"{missing} of {len(exts)} users are not staged")
        return out

    def discard(self, exts: Iterable[str]) -> None:
        """Unstage `exts` (users the read skipped after staging them)."""
        exts = list(exts)
        if not exts:
            return
        self._flush()
        self._index()
        with connection.cursor() as cursor:
            for where, params in bulk.where_in("external_id", exts):
                cursor.execute(f"DELETE FROM {_qn(TABLE)} WHERE {where} RETURNING {NEW}", params)
                for (new,) in cursor.fetchall():
                    self.staged[bool(new)] -= 1

    def write(self, directory_id: int, now: Any, updated_ids: list[int], added: int) -> None:
        """Write every staged user to `directory_id`'s store, stamped `now`: the stored
        ones (the rows `updated_ids`) updated, the new ones added. The ids and `added`
        are the plan's: a stage that disagrees is an error (the caller's transaction then
        writes nothing; a new user the store holds breaks its unique stable id)."""
        planned = {True: added, False: len(updated_ids)}
        if self.staged != planned:
            raise LookupError(f"staged (new: count) {self.staged}, planned {planned}")
        self._flush()
        if not self._made:
            return
        users = _qn(DirectoryUser._meta.db_table)
        stage = _qn(TABLE)
        written = COLUMNS[1:]
        sets = ", ".join(f"{_qn(c)} = s.{_qn(c)}" for c in written)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # The rows by primary key: joined on the stable id alone, PostgreSQL would
                # read every stored user of the directory to update a few.
                cursor.execute(
                    f"UPDATE {users} SET {sets}, synced_at = %s FROM {stage} AS s "
                    f"WHERE {users}.id = ANY(%s) AND {users}.directory_id = %s "
                    f"AND {users}.external_id = s.external_id AND NOT s.{NEW}",
                    [now, updated_ids, directory_id],
                )
            else:
                cursor.execute(
                    f"UPDATE {users} SET {sets}, synced_at = %s FROM {stage} AS s "
                    f"WHERE {users}.directory_id = %s AND {users}.external_id = s.external_id "
                    f"AND NOT s.{NEW}",
                    [now, directory_id],
                )
            if cursor.rowcount != len(updated_ids):
                raise LookupError(
                    f"{cursor.rowcount} staged users updated, {len(updated_ids)} planned"
                )
            cursor.execute(
                f"INSERT INTO {users} (directory_id, external_id, "
                f"{', '.join(_qn(c) for c in written)}, synced_at) "
                f"SELECT %s, s.external_id, {', '.join(f's.{_qn(c)}' for c in written)}, %s "
                f"FROM {stage} AS s WHERE s.{NEW}",
                [directory_id, now],
            )
            if cursor.rowcount != added:
                raise LookupError(f"{cursor.rowcount} staged users added, {added} planned")

    def close(self) -> None:
        """Drop the table (the run is over); safe to call more than once."""
        self._rows.clear()
        self.staged = {True: 0, False: 0}
        if self._made:
            self._made = self._indexed = False
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {_qn(TABLE)}")

    def _flush(self) -> None:
        if not self._rows:
            return
        if not self._made:
            self._make()
        bulk.insert(TABLE, (*COLUMNS, NEW), self._rows)
        self._rows.clear()

    def _make(self) -> None:
        cols = ", ".join(_qn(c) for c in COLUMNS)
        with connection.cursor() as cursor:
            # One a failed close left in this session would be this run's otherwise.
            cursor.execute(f"DROP TABLE IF EXISTS {_qn(TABLE)}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {_qn(TABLE)} AS SELECT {cols}, disabled AS {NEW} "
                f"FROM {_qn(DirectoryUser._meta.db_table)} WHERE 1 = 0"
            )
        self._made, self._indexed = True, False

    def _index(self) -> None:
        """Index the stage by stable id before the first lookup by it (a first sync,
        which looks nothing up, never pays for it)."""
        if not self._indexed:
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE INDEX {_qn(TABLE + '_ext')} ON {_qn(TABLE)} (external_id)")
            self._indexed = True
