"""Issuing, checking and revoking API tokens: the one owner of the token rules."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import unicodedata
from collections.abc import Mapping
from datetime import datetime, timedelta

from django.conf import settings
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

# A key can also be a JWT (vIDM clients decode their tokens): header.payload.signature,
# HS256 with a key derived from SECRET_KEY. The whole string is still the secret whose
# digest is stored; its `jti` claim is the lookup id.
JWT_HEADER = {"alg": "HS256", "typ": "JWT"}
JWT_KEY_SALT = "apitokens.services.jwt"
# Claims the service sets itself; a caller's claims cannot replace them.
JWT_OWN_CLAIMS = frozenset({"jti", "iat", "exp", "sid"})
# Longer than any JWT issued here; bounds the work spent on a header someone made up.
MAX_JWT_CHARS = 4096


class TokenError(ValueError):
    """A token request the rules refuse; the message says why, `field` which value is at fault."""

    def __init__(self, message: str, field: str = "name") -> None:
        super().__init__(message)
        self.field = field


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json(value: Mapping[str, object]) -> bytes:
    # ASCII only: one vIDM client decodes the payload with an ASCII decoder.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def jwt_signing_key() -> bytes:
    """The HS256 key: derived from SECRET_KEY (never SECRET_KEY itself)."""
    return hashlib.sha256((JWT_KEY_SALT + settings.SECRET_KEY).encode()).digest()


def _jwt(claims: Mapping[str, object]) -> str:
    signing_input = f"{_b64url(_json(JWT_HEADER))}.{_b64url(_json(claims))}"
    signature = hmac.new(jwt_signing_key(), signing_input.encode("ascii"), hashlib.sha256)
    return f"{signing_input}.{_b64url(signature.digest())}"


def _jwt_key_id(key: str) -> object:
    """The `jti` claim of a JWT-shaped key, unverified (the digest check follows), or None."""
    if len(key) > MAX_JWT_CHARS:
        return None
    parts = key.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(_b64url_decode(parts[1]))
    except (ValueError, RecursionError):
        return None
    return claims.get("jti") if isinstance(claims, dict) else None


def issue_token(
    user: User,
    *,
    name: str,
    kind: str = TokenKind.API,
    ttl: timedelta | None = None,
    expires_at: datetime | None = None,
    jwt_claims: Mapping[str, object] | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for `user`, expiring after `ttl` or at `expires_at` (neither: never);
    returns the row and the plaintext key (shown once).

    With `jwt_claims` the key is a JWT carrying those claims plus `jti` (the lookup id),
    `iat`, `exp` (the token's expiry, to the second) and `sid` (256 random bits, so that
    neither the database nor SECRET_KEY alone can rebuild a key)."""
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
    now = timezone.now()
    if ttl is not None:
        expires_at = now + ttl
    if expires_at is not None and expires_at <= now:
        raise TokenError("A token's expiry must be in the future.", field="expires_at")
    key_id = secrets.token_hex(KEY_ID_CHARS // 2)
    if jwt_claims is None:
        key = f"{PREFIX}{key_id}.{secrets.token_urlsafe(32)}"
    else:
        taken = JWT_OWN_CLAIMS.intersection(jwt_claims)
        if taken:
            raise TokenError(f"The token service sets {', '.join(sorted(taken))} itself.")
        claims: dict[str, object] = {**jwt_claims, "jti": key_id, "iat": int(now.timestamp())}
        if expires_at is not None:
            # Whole seconds, so the expiry in the key is exactly the one stored.
            expires_at = expires_at.replace(microsecond=0)
            claims["exp"] = int(expires_at.timestamp())
        claims["sid"] = secrets.token_urlsafe(32)
        key = _jwt(claims)
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
    """The usable token whose key this is (its user active), else None. The key is either
    shape: `dsc_<id>.<secret>` or a JWT whose `jti` is the id."""
    if key.startswith(PREFIX) and "." in key:
        key_id: object = key[len(PREFIX) :].split(".", 1)[0]
    else:
        key_id = _jwt_key_id(key)
    if not isinstance(key_id, str) or len(key_id) != KEY_ID_CHARS:
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
