"""Bulk inserts, updates and deletes: COPY on PostgreSQL, executemany elsewhere."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection

CHUNK = 500


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


def insert(table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    cols = ", ".join(_qn(c) for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {_qn(table)} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            batch: list[Sequence] = []
            sql = f"INSERT INTO {_qn(table)} ({cols}) VALUES ({marks})"
            for row in rows:
                batch.append(row)
                if len(batch) >= 5000:
                    cursor.executemany(sql, batch)
                    batch.clear()
            if batch:
                cursor.executemany(sql, batch)


def update(table: str, columns: Sequence[str], rows: Sequence[Sequence]) -> None:
    """rows are (id, value, value, ...) in the order of `columns`."""
    if not rows:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            tmp = f"_upd_{table}"
            cursor.execute(
                f"CREATE TEMP TABLE {_qn(tmp)} ON COMMIT DROP AS "
                f"SELECT id, {', '.join(_qn(c) for c in columns)} FROM {_qn(table)} WITH NO DATA"
            )
            cols = ", ".join(_qn(c) for c in ("id", *columns))
            with cursor.cursor.copy(f"COPY {_qn(tmp)} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            sets = ", ".join(f"{_qn(c)} = t.{_qn(c)}" for c in columns)
            cursor.execute(
                f"UPDATE {_qn(table)} AS d SET {sets} FROM {_qn(tmp)} AS t WHERE d.id = t.id"
            )
            cursor.execute(f"DROP TABLE {_qn(tmp)}")
        else:
            sets = ", ".join(f"{_qn(c)} = %s" for c in columns)
            cursor.executemany(
                f"UPDATE {_qn(table)} SET {sets} WHERE id = %s",
                [(*row[1:], row[0]) for row in rows],
            )


def delete(table: str, column: str, values: Sequence) -> None:
    if not values:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"DELETE FROM {_qn(table)} WHERE {_qn(column)} = ANY(%s)", [list(values)]
            )
        else:
            for i in range(0, len(values), CHUNK):
                part = values[i : i + CHUNK]
                marks = ", ".join(["%s"] * len(part))
                cursor.execute(f"DELETE FROM {_qn(table)} WHERE {_qn(column)} IN ({marks})", part)


def delete_pairs(table: str, left: str, right: str, pairs: Sequence[tuple[int, int]]) -> None:
    if not pairs:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"DELETE FROM {_qn(table)} AS t USING unnest(%s::bigint[], %s::bigint[]) "
                f"AS p(a, b) WHERE t.{_qn(left)} = p.a AND t.{_qn(right)} = p.b",
                [[a for a, _ in pairs], [b for _, b in pairs]],
            )
        else:
            cursor.executemany(
                f"DELETE FROM {_qn(table)} WHERE {_qn(left)} = %s AND {_qn(right)} = %s", pairs
            )
