"""Re-encrypt every stored secret with the newest key (after FIELD_ENCRYPTION_KEY or
SECRET_KEY changed, with the old one kept as a fallback until this has run)."""

from __future__ import annotations

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from console.fields import EncryptedTextField, reencrypt


class Command(BaseCommand):
    help = "Re-encrypt bind passwords and connector secrets with the newest key."

    def handle(self, *args, **options) -> None:
        rotated, unreadable = 0, []
        qn = connection.ops.quote_name
        for model in apps.get_models():
            fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
            for field in fields:
                table, column, pk = model._meta.db_table, field.column, model._meta.pk.column
                with transaction.atomic(), connection.cursor() as cursor:
                    cursor.execute(
                        f"SELECT {qn(pk)}, {qn(column)} FROM {qn(table)} "
                        f"WHERE {qn(column)} IS NOT NULL AND {qn(column)} <> ''"
                    )
                    for row_id, token in cursor.fetchall():
                        try:
                            fresh = reencrypt(token)
                        except InvalidToken:
                            unreadable.append(f"{model._meta.label} {row_id} {field.name}")
                            continue
                        cursor.execute(
                            f"UPDATE {qn(table)} SET {qn(column)} = %s WHERE {qn(pk)} = %s",
                            [fresh, row_id],
                        )
                        rotated += 1
        self.stdout.write(f"{rotated} secret(s) re-encrypted with the newest key.")
        if unreadable:
            raise CommandError(
                f"{len(unreadable)} secret(s) no configured key can read; enter them again "
                "(bind passwords on the directory's Settings; connectors need a new activation "
                "code): " + "; ".join(unreadable)
            )
