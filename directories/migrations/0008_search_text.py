"""The folded search text of users and groups, filled in for the rows already stored, and
on PostgreSQL a trigram index that serves a search inside it (LIKE '%...%') at any size."""

from __future__ import annotations

import logging

from django.db import DatabaseError, migrations, models, transaction

from directories import search

log = logging.getLogger(__name__)

CHUNK = 2000
INDEXES = (
    ("directories_directoryuser", "directories_directoryuser_search_trgm"),
    ("directories_directorygroup", "directories_directorygroup_search_trgm"),
)


def _refold(model, columns: tuple[str, ...], text) -> None:
    last = 0
    while True:
        rows = list(
            model.objects.filter(pk__gt=last).order_by("pk").values_list("pk", *columns)[:CHUNK]
        )
        if not rows:
            return
        batch = [model(pk=pk, search_text=text(*values)) for pk, *values in rows]
        model.objects.bulk_update(batch, ["search_text"])
        last = rows[-1][0]


def fill_search_text(apps, schema_editor) -> None:
    _refold(
        apps.get_model("directories", "DirectoryUser"),
        ("username", "first_name", "last_name", "email", "display_name"),
        search.user_text,
    )
    _refold(apps.get_model("directories", "DirectoryGroup"), ("name",), search.group_text)


def add_trigram_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite scans; it holds the small installations
    try:
        with transaction.atomic():
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError:
        log.warning(
            "pg_trgm is not available (CREATE EXTENSION needs a privileged role): user and "
            "group searches scan the table. Once a privileged role has run CREATE EXTENSION "
            "pg_trgm, index them with CREATE INDEX ... USING gin (search_text gin_trgm_ops) "
            "on directories_directoryuser and directories_directorygroup."
        )
        return
    for table, name in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin (search_text gin_trgm_ops)"
        )


def drop_trigram_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for _table, name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("directories", "0007_one_label_for_safeguards")]

    operations = [
        migrations.AddField(
            model_name="directorygroup",
            name="search_text",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.AddField(
            model_name="directoryuser",
            name="search_text",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.RunPython(fill_search_text, migrations.RunPython.noop, elidable=True),
        migrations.RunPython(add_trigram_indexes, drop_trigram_indexes),
    ]
