"""Bulk inserts, updates and deletes: COPY on PostgreSQL, executemany elsewhere.

Each operation picks its PostgreSQL or generic form once, by the connection's vendor; the
two forms are separate functions so a test run on one database reaches only its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from django.db import connection, transaction

CHUNK = 500
INSERT_BATCH = 5000


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


def _on_postgresql() -> bool:
    return connection.vendor == "postgresql"


def analyze_reshaped(changed: dict[str, int]) -> None:
    """Have PostgreSQL take again the statistics of each table (its planner picks indexes
    by them) to which more rows were added or from which more were removed (`changed`,
    by table) than its own threshold: 50 and a tenth of the rows the planner believes the
    table holds, autovacuum's default, which may be off or a minute away. Until then a
    table just filled is planned as if empty: each lookup by stable id reads every row.
    SQLite plans by its indexes without statistics: nothing is done there."""
    if _on_postgresql():
        _analyze_reshaped(changed)


def _analyze_reshaped(changed: dict[str, int]) -> None:
    # A table can pass its threshold only if it would pass it empty: a sync that changed
    # fewer rows everywhere (most incremental ones) asks the catalog nothing.
    changed = {table: rows for table, rows in changed.items() if _past_threshold(rows, 0)}
    if not changed:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class WHERE relname = ANY(%s) AND relkind = 'r'",
            [list(changed)],
        )
        planned = dict(cursor.fetchall())
        tables = [t for t, rows in changed.items() if _past_threshold(rows, planned.get(t, 0))]
        if tables:
            cursor.execute(f"ANALYZE {', '.join(map(_qn, tables))}")


def _past_threshold(rows: int, planned: float) -> bool:
    """Whether `rows` changed pass 50 and a tenth of the `planned` rows (-1 for a table
    never analyzed)."""
    return rows > 50 + max(planned, 0) / 10


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


def insert_by_external_id(
    table: str,
    columns: tuple[str, str],
    lookup: str,
    directory_id: int,
    rows: Iterable[tuple[int, str]],
) -> None:
    """Insert (a, b) rows into `table` from (a, external id) rows: b is the id of
    `lookup`'s row of `directory_id` with that external id, found by the database (the
    rows pass through a temporary table instead of the worker holding every id), and the
    rows go in in b's order. A row whose external id names no row is an error (nothing is
    inserted)."""
    staged = _Counted(iter(rows))
    tmp = _qn(f"_ins_{table}")
    left, right = (_qn(c) for c in columns)
    # In a transaction of its own when called outside one: the temporary table lives in it.
    with transaction.atomic(), connection.cursor() as cursor:
        on_postgresql = _on_postgresql()
        cursor.execute(
            f"CREATE TEMP TABLE {tmp} (a bigint NOT NULL, ext varchar(64) NOT NULL)"
            + (" ON COMMIT DROP" if on_postgresql else "")
        )
        (_insert_copy if on_postgresql else _insert_many)(cursor, tmp, ("a", "ext"), staged)
        cursor.execute(
            f"INSERT INTO {_qn(table)} ({left}, {right}) SELECT t.a, l.id FROM {tmp} AS t "
            f"JOIN {_qn(lookup)} AS l ON l.directory_id = %s AND l.external_id = t.ext "
            "ORDER BY l.id",
            [directory_id],
        )
        found = cursor.rowcount
        cursor.execute(f"DROP TABLE {tmp}")
        if found != staged.count:
            raise LookupError(
                f"{staged.count - found} of {staged.count} rows for {table} name no row of {lookup}"
            )


class _Counted:
    """An iterator that counts what it gave."""

    def __init__(self, items: Iterator) -> None:
        self.items, self.count = items, 0

    def __iter__(self) -> Iterator:
        for item in self.items:
            self.count += 1
            yield item


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
    with connection.cursor() as cursor:
        for where, params in where_in(column, values):
            cursor.execute(f"DELETE FROM {_qn(table)} WHERE {where}", params)


def where_in(column: str, values: Sequence) -> Iterator[tuple[str, list]]:
    """A condition that `column` is one of `values`, with its parameters, for each
    statement they take: one array on PostgreSQL, CHUNK values at a time elsewhere (SQLite
    takes at most 999 variables a statement). Nothing for no values."""
    if not values:
        return
    if _on_postgresql():
        yield f"{_qn(column)} = ANY(%s)", [list(values)]
        return
    for i in range(0, len(values), CHUNK):
        part = list(values[i : i + CHUNK])
        yield f"{_qn(column)} IN ({', '.join(['%s'] * len(part))})", part


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
