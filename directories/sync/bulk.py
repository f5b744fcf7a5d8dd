"""Bulk inserts, updates and deletes: COPY on PostgreSQL, executemany elsewhere.

Each operation picks its PostgreSQL or generic form once, by the connection's vendor; the
two forms are separate functions so a test run on one database reaches only its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection

CHUNK = 500
INSERT_BATCH = 5000


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


def _on_postgresql() -> bool:
    return connection.vendor == "postgresql"


def insert(table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    with connection.cursor() as cursor:
        if _on_postgresql():
            _insert_copy(cursor, table, columns, rows)
        else:
            _insert_many(cursor, table, columns, rows)


def _insert_copy(cursor, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    cols = ", ".join(_qn(c) for c in columns)
    with cursor.cursor.copy(f"COPY {_qn(table)} ({cols}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _insert_many(cursor, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    cols = ", ".join(_qn(c) for c in columns)
    marks = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {_qn(table)} ({cols}) VALUES ({marks})"
    batch: list[Sequence] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= INSERT_BATCH:
            cursor.executemany(sql, batch)
            batch.clear()
    if batch:
        cursor.executemany(sql, batch)


def update(table: str, columns: Sequence[str], rows: Sequence[Sequence]) -> None:
    """rows are (id, value, value, ...) in the order of `columns`."""
    if not rows:
        return
    with connection.cursor() as cursor:
        if _on_postgresql():
            _update_copy(cursor, table, columns, rows)
        else:
            _update_many(cursor, table, columns, rows)


def _update_copy(cursor, table: str, columns: Sequence[str], rows: Sequence[Sequence]) -> None:
    tmp = f"_upd_{table}"
    cursor.execute(
        f"CREATE TEMP TABLE {_qn(tmp)} ON COMMIT DROP AS "
        f"SELECT id, {', '.join(_qn(c) for c in columns)} FROM {_qn(table)} WITH NO DATA"
    )
    _insert_copy(cursor, tmp, ("id", *columns), rows)
    sets = ", ".join(f"{_qn(c)} = t.{_qn(c)}" for c in columns)
    cursor.execute(f"UPDATE {_qn(table)} AS d SET {sets} FROM {_qn(tmp)} AS t WHERE d.id = t.id")
    cursor.execute(f"DROP TABLE {_qn(tmp)}")


def _update_many(cursor, table: str, columns: Sequence[str], rows: Sequence[Sequence]) -> None:
    sets = ", ".join(f"{_qn(c)} = %s" for c in columns)
    cursor.executemany(
        f"UPDATE {_qn(table)} SET {sets} WHERE id = %s",
        [(*row[1:], row[0]) for row in rows],
    )


def delete(table: str, column: str, values: Sequence) -> None:
    if not values:
        return
    with connection.cursor() as cursor:
        if _on_postgresql():
            _delete_any(cursor, table, column, values)
        else:
            _delete_in_chunks(cursor, table, column, values)


def _delete_any(cursor, table: str, column: str, values: Sequence) -> None:
    cursor.execute(f"DELETE FROM {_qn(table)} WHERE {_qn(column)} = ANY(%s)", [list(values)])


def _delete_in_chunks(cursor, table: str, column: str, values: Sequence) -> None:
    for i in range(0, len(values), CHUNK):
        part = values[i : i + CHUNK]
        marks = ", ".join(["%s"] * len(part))
        cursor.execute(f"DELETE FROM {_qn(table)} WHERE {_qn(column)} IN ({marks})", part)


def delete_pairs(table: str, left: str, right: str, pairs: Sequence[tuple[int, int]]) -> None:
    if not pairs:
        return
    with connection.cursor() as cursor:
        if _on_postgresql():
            _delete_pairs_unnest(cursor, table, left, right, pairs)
        else:
            cursor.executemany(
                f"DELETE FROM {_qn(table)} WHERE {_qn(left)} = %s AND {_qn(right)} = %s", pairs
            )


def _delete_pairs_unnest(cursor, table: str, left: str, right: str, pairs) -> None:
    cursor.execute(
        f"DELETE FROM {_qn(table)} AS t USING unnest(%s::bigint[], %s::bigint[]) "
        f"AS p(a, b) WHERE t.{_qn(left)} = p.a AND t.{_qn(right)} = p.b",
        [[a for a, _ in pairs], [b for _, b in pairs]],
    )
