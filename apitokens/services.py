"""Issuing, checking and revoking API tokens: the one owner of the token rules."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from datetime import datetime, timedelta

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
    """A token request the rules refuse; the message says why, `field` which value is at fault."""

    def __init__(self, message: str, field: str = "name") -> None:
        super().__init__(message)
        self.field = field


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_token(
    user: User,
    *,
    name: str,
    kind: str = TokenKind.API,
    ttl: timedelta | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for `user`, expiring after `ttl` or at `expires_at` (neither: never);
    returns the row and the plaintext key (shown once)."""
    name = (name or "").strip()
    if not name:
        raise TokenError("A token needs a name.")
    if len(name) > MAX_NAME:
        raise TokenError(f"A token name has at most {MAX_NAME} characters.")
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise TokenError("A token name cannot hold control characters such as a line break.")
    if kind not in TokenKind.values:
        raise TokenError(f"Unknown token kind {kind!r}.", field="kind")
    if not user.is_active:
        raise TokenError("An inactive account cannot hold tokens.", field="non_field_errors")
    if ttl is not None:
        expires_at = timezone.now() + ttl
    if expires_at is not None and expires_at <= timezone.now():
        raise TokenError("A token's expiry must be in the future.", field="expires_at")
    key_id = secrets.token_hex(KEY_ID_CHARS // 2)
    key = f"{PREFIX}{key_id}.{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=user,
        name=name,
        kind=kind,
        key_id=key_id,
        digest=_digest(key),
        expires_at=expires_at,
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


def tokens_visible_to(actor: User):
    """The tokens `actor` may list and revoke: a Super Admin's are everyone's, others' their own."""
    tokens = ApiToken.objects.select_related("user")
    return tokens if actor.can_manage_connectors else tokens.filter(user=actor)


def may_manage(actor: User, token: ApiToken) -> bool:
    return actor.can_manage_connectors or token.user_id == actor.pk


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
