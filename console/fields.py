"""A model field that keeps secrets encrypted at rest with Fernet, across key changes.

Several keys may be in use at once (MultiFernet): the newest encrypts, all decrypt. A
stored secret no key can read is not an error that breaks every page: it loads as a
`LostSecret` (empty, falsy) that the pages show as "must be entered again".
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


def validate_printable(value: str) -> None:
    """Names shown in pages and written to logs hold no control characters."""
    if not value.isprintable():
        raise ValidationError(
            "Use letters, digits, spaces and punctuation only: no line breaks, tabs or "
            "other control characters.",
            code="control_characters",
        )


class LostSecret(str):
    """A stored secret that none of the current keys can decrypt; reads as ""."""

    lost = True

    def __new__(cls) -> LostSecret:
        return super().__new__(cls, "")


def is_lost(value: object) -> bool:
    return getattr(value, "lost", False)


def _derived(secret_key: str) -> Fernet:
    digest = hashlib.sha256(b"field-encryption:" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


@lru_cache(maxsize=4)
def _fernet(keys: str, secret_keys: tuple[str, ...]) -> MultiFernet:
    given = [Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()]
    # Keys derived from SECRET_KEY (and its fallbacks) still decrypt after a move to
    # FIELD_ENCRYPTION_KEY, so `rotate_secrets` can carry those secrets over.
    return MultiFernet([*given, *(_derived(k) for k in secret_keys)])


def fernet() -> MultiFernet:
    secret_keys = (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ()))
    return _fernet(settings.FIELD_ENCRYPTION_KEY, tuple(secret_keys))


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError(
            "a stored secret cannot be decrypted: FIELD_ENCRYPTION_KEY or SECRET_KEY changed"
        ) from exc


def reencrypt(token: str) -> str:
    """The same secret under the newest key (InvalidToken when no key reads it)."""
    return fernet().rotate(token.encode()).decode()


class EncryptedTextField(models.TextField):
    """Stores the Fernet token; Python code only ever sees the plain value."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        try:
            return decrypt(value)
        except ValueError:
            return LostSecret()

    def get_prep_value(self, value):
        if is_lost(value):
            raise ValueError(
                "a secret that could not be decrypted cannot be written back; enter it again"
            )
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)
