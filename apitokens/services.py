"""Issuing, checking and revoking API tokens: the one owner of the token rules."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from apitokens.choices import TokenKind
from apitokens.models import ApiToken
from console.models import User

# "dsc_" + lookup id + "." + secret: the id finds the row, the digest of the whole key proves it.
PREFIX = "dsc_"
KEY_ID_CHARS = 12
# last_used_at is written at most this often per token, not on every request.
LAST_USED_RESOLUTION = timedelta(seconds=60)
MAX_NAME = 100


class TokenError(ValueError):
    """A token request the rules refuse; the message says why."""


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_token(
    user: User, *, name: str, kind: str = TokenKind.API, ttl: timedelta | None = None
) -> tuple[ApiToken, str]:
    """Create a token for `user`; returns the row and the plaintext key (shown once)."""
    name = (name or "").strip()
    if not name:
        raise TokenError("A token needs a name.")
    if len(name) > MAX_NAME:
        raise TokenError(f"A token name has at most {MAX_NAME} characters.")
    if kind not in TokenKind.values:
        raise TokenError(f"Unknown token kind {kind!r}.")
    if not user.is_active:
        raise TokenError("An inactive account cannot hold tokens.")
    key_id = secrets.token_hex(KEY_ID_CHARS // 2)
    key = f"{PREFIX}{key_id}.{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=user,
        name=name,
        kind=kind,
        key_id=key_id,
        digest=_digest(key),
        expires_at=timezone.now() + ttl if ttl is not None else None,
    )
    return token, key


def authenticate(key: str) -> ApiToken | None:
    """The usable token whose key this is (its user active), else None."""
    if not key.startswith(PREFIX) or "." not in key:
        return None
    key_id = key[len(PREFIX) :].split(".", 1)[0]
    if len(key_id) != KEY_ID_CHARS:
        return None
    token = ApiToken.objects.usable().select_related("user").filter(key_id=key_id).first()
    if token is None or not hmac.compare_digest(token.digest, _digest(key)):
        return None
    if not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def revoke(token: ApiToken) -> None:
    """Stop a token from working; the row stays, so the list shows when it was revoked."""
    with transaction.atomic():
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    token.refresh_from_db(fields=["revoked_at"])


def revoke_all(user: User, *, kind: str | None = None) -> int:
    tokens = ApiToken.objects.filter(user=user, revoked_at__isnull=True)
    if kind is not None:
        tokens = tokens.filter(kind=kind)
    return tokens.update(revoked_at=timezone.now())
